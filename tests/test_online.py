"""Online (bounded lookahead) against offline, and the lookahead bound itself."""

from __future__ import annotations

import numpy as np
import pytest

from fusedstab.filtering.gaussian import gaussian_smooth_orientations
from fusedstab.filtering.online import OnlineFilter
from fusedstab.pipeline import StabilizeOptions, plan_stabilization
from fusedstab.rotation import log_so3
from fusedstab.measure.simulate import SimConfig, load_truth, simulate
from fusedstab.synthesis.plan import WarpPlanner

from conftest import adaptive_corridor_against_plain, assert_maps_inside, truth_output_jitter_deg


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("online") / "run"
    simulate(prefix, SimConfig(scenario="run", width_px=320, height_px=180, duration_s=3.0, readout_s=0.02,
                               lead_s=0.2, seed=9))
    return prefix


#: these tests measure the gyro path's filter and warp themselves: the true offset as is, and
#: no switch to the video's motion or to the input (pipeline's never-worse check, issue 8); the
#: Gaussian stage's pull-back, without the crop corridor (on by default, tested on its own below)
_MECHANISM = dict(auto_sync=False, motion="gyro", force=True, corridor=False)


def _opts(prefix, **kw):
    truth = load_truth(f"{prefix}.truth.npz")
    return StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json",
                            gyro_offset_ms=truth.gyro_offset_s * 1000.0,
                            **{**_MECHANISM, **kw})


@pytest.fixture(scope="module")
def offline(clip):
    """The offline plan two tests compare with (a zoom limit that never binds: only the Gaussian
    stage acts), made once; its planner (camera, gyro track, readout: independent of the
    smoothing options) also drives the lookahead-bound test."""
    return plan_stabilization(f"{clip}.mp4", _opts(clip, smoothness_s=0.3, max_zoom=3.0, fov_keep=0.34))


def _angle_deg(A, B):
    return np.degrees(np.linalg.norm(log_so3(np.swapaxes(A, -1, -2) @ B), axis=-1))


def test_online_equals_offline_when_lookahead_covers_kernel(clip, offline):
    # a zoom limit that never binds: only the Gaussian stage acts
    off = offline
    on = plan_stabilization(f"{clip}.mp4", _opts(clip, smoothness_s=0.3, max_zoom=3.0, fov_keep=0.34, lookahead_s=1.0))
    assert off.crop.pullback.max() == 0.0 and on.crop.pullback.max() == 0.0
    assert np.max(_angle_deg(on.R_virt, off.R_virt)) < 1e-6


def test_short_lookahead_differs_but_stays_smooth(clip, offline):
    off = offline
    on = plan_stabilization(f"{clip}.mp4", _opts(clip, smoothness_s=0.3, max_zoom=3.0, fov_keep=0.34, lookahead_s=0.1))
    diff = _angle_deg(on.R_virt, off.R_virt)
    assert diff.max() > 1e-3  # a short queue cannot see the whole kernel: the test can tell
    t = off.planner.centre_time_s(off.frame_times_s)
    shake = _angle_deg(gaussian_smooth_orientations(off.R_real, t, 0.3), off.R_real).mean()
    assert diff.mean() < 0.5 * shake


def test_online_never_uses_motion_beyond_lookahead(offline):
    base = offline  # for its planner (camera, gyro track, readout) and frame times; the zoom is given below
    planner = base.planner
    L = 6
    period = base.info.frame_period_s
    times = base.frame_times_s

    def run(track, zoom=1.15, **kw):
        p = WarpPlanner(planner.camera, track, readout_s=planner.readout_s)
        f = OnlineFilter(p, sigma_s=0.3, lookahead_frames=L, zoom=zoom, frame_period_s=period, **kw)
        out = {}
        for t in times:
            for j, V, _ in f.push(t):
                out[j] = V
        for j, V, _ in f.flush():
            out[j] = V
        V = np.array([out[j] for j in range(len(times))])
        return (V, np.array([f.zooms.get(j, zoom) for j in range(len(times))])) if kw else V

    from fusedstab.types import OrientationTrack

    tr = planner.track
    cut = times[40] + planner.readout_s + (L + 0.5) * period  # frame 40 may see up to frame 40 + L
    q = tr.quat_wxyz.copy()
    late = tr.times_s > cut + 0.02
    q[late] = q[late][:, [0, 2, 1, 3]] * [1, -1, 1, 1]  # scramble the motion far ahead
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    V_a = run(tr)
    V_b = run(OrientationTrack(tr.times_s, q))
    assert np.max(_angle_deg(V_a[:35], V_b[:35])) < 1e-9  # the past does not know the scrambled future
    assert np.max(_angle_deg(V_a[60:], V_b[60:])) > 0.1
    # nor through the crop corridor's window (and its warm start from the previous frame's solution)
    V_a, V_b = (run(tr_, zoom=1.06, corridor=True)[0] for tr_ in (tr, OrientationTrack(tr.times_s, q)))
    assert np.max(_angle_deg(V_a[:35], V_b[:35])) < 1e-9
    assert np.max(_angle_deg(V_a[60:], V_b[60:])) > 0.1
    # the adaptive zoom (a tight budget, so it rises) is bound by the same queue
    z0 = 1.02
    (V_a, z_a), (V_b, z_b) = (run(tr_, zoom=z0, zoom_rate_per_s=1.0, max_zoom=1.4)
                              for tr_ in (tr, OrientationTrack(tr.times_s, q)))
    assert z_a.max() > z0 + 0.02  # it rose: the test can tell
    assert np.max(np.abs(z_a[:35] - z_b[:35])) < 1e-12 and np.max(_angle_deg(V_a[:35], V_b[:35])) < 1e-9
    assert np.max(np.abs(z_a[60:] - z_b[60:])) > 1e-3 or np.max(_angle_deg(V_a[60:], V_b[60:])) > 0.1
    # and with the corridor, whose solution also sets the zoom the frames ahead need
    (V_a, z_a), (V_b, z_b) = (run(tr_, zoom=z0, zoom_rate_per_s=1.0, max_zoom=1.4, corridor=True)
                              for tr_ in (tr, OrientationTrack(tr.times_s, q)))
    assert z_a.max() > z0 + 0.02
    assert np.max(np.abs(z_a[:35] - z_b[:35])) < 1e-12 and np.max(_angle_deg(V_a[:35], V_b[:35])) < 1e-9
    assert np.max(np.abs(z_a[60:] - z_b[60:])) > 1e-3 or np.max(_angle_deg(V_a[60:], V_b[60:])) > 0.1


def test_online_binding_zoom_has_no_undefined_pixels(clip):
    on = plan_stabilization(f"{clip}.mp4", _opts(clip, smoothness_s=1.0, max_zoom=1.08, lookahead_s=0.3))
    assert on.crop.pullback.max() > 0.05  # the limit binds
    assert on.zoom == pytest.approx(1.08)
    assert_maps_inside(on)


def test_online_corridor_is_steadier_and_never_undefined(clip):
    """The crop corridor online (the default with a fixed zoom): each frame leaves on the
    steadiest path inside the room of the frames held. On the run at a 0.5 s lookahead it is
    steadier by the truth than the Gaussian with its pull-back (0.339 -> 0.211 deg at 0.92,
    0.872 -> 0.797 at 0.97), pulls back less, and no output pixel is undefined."""
    kw = dict(smoothness_s=0.5, lookahead_s=0.5, intent=False)
    for budget, gain in ((0.92, 0.75), (0.97, 0.95)):
        off = plan_stabilization(f"{clip}.mp4", _opts(clip, fov_keep=budget, **kw))
        on = plan_stabilization(f"{clip}.mp4", _opts(clip, fov_keep=budget, **kw, corridor=True))
        jit = [truth_output_jitter_deg(p, f"{clip}.truth.npz") for p in (on, off)]
        print(f"online truth jitter at {budget}, corridor / pull-back: {jit[0]:.4f} / {jit[1]:.4f} deg")
        assert jit[0] < gain * jit[1], (budget, jit)
        assert on.crop.pullback.mean() < 0.5 * off.crop.pullback.mean()
        assert on.corridor and not off.corridor  # and the plan says so (--json "corridor")
        assert_maps_inside(on)


def test_online_blur_masking_matches_offline(tmp_path):
    prefix = tmp_path / "blur"
    simulate(prefix, SimConfig(scenario="run", width_px=320, height_px=180, duration_s=2.0, motion_blur=True,
                               exposure_s=1 / 60, seed=12))
    kw = dict(smoothness_s=0.3, max_zoom=3.0, fov_keep=0.34, exposure_ms=1000 / 60, intent=False)
    off = plan_stabilization(f"{prefix}.mp4", _opts(prefix, **kw))
    on = plan_stabilization(f"{prefix}.mp4", _opts(prefix, **kw, lookahead_s=1.0))
    assert off.blur_beta.max() > 0.03
    inner = slice(12, len(off.R_virt) - 12)  # the beta average (radius 12 frames) differs only at the clip ends
    assert np.max(_angle_deg(on.R_virt[inner], off.R_virt[inner])) < 1e-6


def test_online_pull_eases_at_a_bounded_rate(offline):
    """The online pull-back: released at most ``pull_rate_per_s`` per second (exactly, by
    construction), and at a tight zoom steadier than a slow rate (0.5/s) that holds each pull
    for ~2 s."""
    from fusedstab.filtering.blur_mask import hf_jitter_deg
    from fusedstab.filtering.crop import DEFAULT_PULL_RATE_PER_S

    planner = offline.planner
    period = offline.info.frame_period_s
    times = offline.frame_times_s
    tc = planner.centre_time_s(times)
    jit = {}
    for rate in (DEFAULT_PULL_RATE_PER_S, 0.5):
        f = OnlineFilter(planner, sigma_s=0.5, lookahead_frames=10, zoom=1.04, frame_period_s=period,
                         pull_rate_per_s=rate)
        V, lam = {}, {}
        for t in times:
            for j, Vj, lj in f.push(t):
                V[j], lam[j] = Vj, lj
        for j, Vj, lj in f.flush():
            V[j], lam[j] = Vj, lj
        lam_a = np.array([lam[j] for j in range(len(times))])
        assert lam_a.max() > 0.3  # the zoom binds
        assert np.all(np.diff(lam_a) >= -rate * np.diff(times) - 1e-12)  # released gradually
        jit[rate] = hf_jitter_deg(np.array([V[j] for j in range(len(times))]), tc)
    print(f"online output jitter at zoom 1.04, by pull rate: {jit}")
    assert jit[DEFAULT_PULL_RATE_PER_S] < 0.93 * jit[0.5], jit


def test_online_adaptive_zoom_rises_only_where_needed_at_a_bounded_rate(clip):
    """``--zoom adaptive`` online: the per-frame zoom stays within [the budget's zoom,
    ``--max-zoom``], changes by at most its rate per second (the real camera fits at the budget
    here, so nothing forces a faster rise), rises where the run needs it and falls back where it
    does not; it pulls the camera back less than the fixed zoom of the same budget, the output is
    steadier by the truth, and no output pixel is undefined."""
    from fusedstab.filtering.crop import DEFAULT_ZOOM_RATE_PER_S

    kw = dict(smoothness_s=0.5, fov_keep=0.97, max_zoom=1.3, lookahead_s=0.5, intent=False)
    fixed = plan_stabilization(f"{clip}.mp4", _opts(clip, **kw))
    adaptive = plan_stabilization(f"{clip}.mp4", _opts(clip, **kw, zoom_mode="adaptive"))
    assert fixed.crop.zoom_per_frame is None
    z, t = adaptive.crop.zoom_per_frame, adaptive.frame_times_s
    base = 1 / 0.97
    assert z.min() >= base - 1e-12 and z.max() <= 1.3 + 1e-12
    assert np.max(np.abs(np.diff(z)) / np.diff(t)) <= DEFAULT_ZOOM_RATE_PER_S * (1 + 1e-9)
    assert z.max() > base + 0.02  # it rose
    assert adaptive.crop.fov_kept > 1 / z.max() + 0.005  # not one worst-case zoom for the clip
    assert adaptive.crop.pullback.mean() < 0.8 * fixed.crop.pullback.mean()
    jit = tuple(truth_output_jitter_deg(p, f"{clip}.truth.npz") for p in (adaptive, fixed))
    print(f"online truth jitter adaptive / fixed: {jit[0]:.3f} / {jit[1]:.3f} deg; zoom up to {z.max():.3f}, "
          f"mean fov kept {adaptive.crop.fov_kept:.3f}")
    assert jit[0] < 0.9 * jit[1], jit
    assert_maps_inside(adaptive)


def test_online_adaptive_zoom_with_the_corridor(clip):
    """``--zoom adaptive`` online with the crop corridor (the default): each frame's room is made
    at the most zoom it can reach by the time it leaves, the path leaves on the steadiest inside
    the rooms of the frames held, and the zoom of the frames ahead is what that path needs. Against
    the adaptive zoom without the corridor (the Gaussian pulled back where the zoom's rate cannot
    keep up): steadier by the truth, pulled back less; the zoom within its bounds and rate; no
    output pixel undefined."""
    kw = dict(smoothness_s=0.5, fov_keep=0.97, max_zoom=1.3, lookahead_s=0.5, intent=False, zoom_mode="adaptive")
    plain = plan_stabilization(f"{clip}.mp4", _opts(clip, **kw))
    on = plan_stabilization(f"{clip}.mp4", _opts(clip, **kw, corridor=True))
    jit = adaptive_corridor_against_plain(on, plain, f"{clip}.truth.npz", 1 / 0.97, 1.3, "online adaptive")
    assert jit[0] < 0.8 * jit[1], jit
    assert on.crop.pullback.mean() < 0.5 * plain.crop.pullback.mean()
    assert_maps_inside(on)


def test_online_on_a_real_clip_is_steadied_by_the_corridor(shared_data, lens_profiles):
    """The HERO5 on the Karma gimbal, online at a 0.5 s lookahead: the Gaussian of the 0.5 s
    smoothness cut at one sigma, pulled back where the crop runs out, is shakier than the input
    (5.33 px against 4.84), so without the crop corridor (``--no-corridor``) the input is
    written as it is and the warning names the fixes; with the corridor (the default) the clip
    is steadied (1.97 px; docs/BENCHMARKS.md)."""
    video = shared_data / "gopro_hero5_karma.mp4"
    lens = lens_profiles / "GoPro_HERO5 Black_Wide_NO-EIS_16by9.json"
    short = plan_stabilization(video, StabilizeOptions(lens=str(lens), lookahead_s=0.5, corridor=False))
    assert short.passthrough
    (msg,) = [w for w in short.warnings if "written as they are" in w]
    assert "--lookahead 1" in msg and "offline mode (no --lookahead)" in msg, msg
    steadied = plan_stabilization(video, StabilizeOptions(lens=str(lens), lookahead_s=0.5))
    assert not steadied.passthrough and steadied.motion_source == "gyro"
    assert steadied.predicted["ratio"] < 0.6, steadied.predicted
    assert_maps_inside(steadied)


def test_online_residual_equals_offline_when_lookahead_covers_it(tmp_path):
    """The hybrid residual online: with a lookahead that covers both the Gaussian (3 x 0.3 s) and
    the residual's radius (4 x 0.5 s), the online virtual camera is the offline one with the
    residual, and the residual moved it (the residual of a gyro given 20 ms late, which the video
    sees: the picture's motion the gyro's rotation does not explain)."""
    prefix = tmp_path / "late"
    simulate(prefix, SimConfig(scenario="walk", width_px=320, height_px=180, duration_s=3.0, seed=4))
    truth = load_truth(f"{prefix}.truth.npz")
    kw = dict(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json", gyro_offset_ms=truth.gyro_offset_s * 1000.0 + 20.0,
              auto_sync=False, motion="auto", force=True, smoothness_s=0.3, max_zoom=3.0, fov_keep=0.34,
              intent=False, corridor=False)
    off = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(**kw, residual="on"))
    off_plain = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(**kw, residual="off"))
    on = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(**kw, residual="on", lookahead_s=2.1))
    assert off.motion_source == on.motion_source == "gyro" and off.residual and on.residual
    assert off.crop.pullback.max() == 0.0 and on.crop.pullback.max() == 0.0
    assert np.max(_angle_deg(off.R_virt, off_plain.R_virt)) > 0.01  # the residual turned the camera
    assert np.max(_angle_deg(on.R_virt, off.R_virt)) < 1e-6
