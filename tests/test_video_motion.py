"""Issue 8: the video as a motion sensor, judged against the simulator's truth.

* per frame pair angular velocity from the tracks (:func:`estimate_video_motion`) against the
  true mean angular velocity between the two frames' centre-row times;
* ``motion='video'`` end to end (no gyro at all) against the gyro path on the same clip;
* the video gyro (:meth:`VideoMotion.as_imu`) and :func:`splice_imu` on synthetic numbers;
* the focal length from the video alone (:func:`estimate_focal_from_video`);
* the rolling-shutter readout from the video alone (:func:`estimate_readout_from_video`);
* a clip without any gyro under ``motion='auto'``.

Bounds were measured on these clips (seeds fixed; numbers in the comments) with a margin
for encoder / platform differences.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from fusedstab.analysis.integrate import integrate_gyro
from fusedstab.analysis.tracking import track_frame_pairs
from fusedstab.analysis.video_motion import (
    VideoMotion,
    estimate_focal_from_video,
    estimate_readout_from_video,
    estimate_video_motion,
    splice_imu,
)
from fusedstab.measure.metrics import evaluate
from fusedstab.measure.simulate import SimConfig, load_truth, simulate
from fusedstab.pipeline import (
    SHAKE_LEFT_MAX,
    STEADY_FOV_KEEP_CHOICES,
    StabilizeOptions,
    plan_stabilization,
    stabilize,
)
from fusedstab.rotation import exp_so3, log_so3
from fusedstab.types import ImuSamples


def truth_pair_omega(truth, t_a, t_b, readout_s):
    """(M, 3) true mean angular velocity between the centre-row times of frames a and b."""
    ca, cb = t_a + 0.5 * readout_s, t_b + 0.5 * readout_s
    Ra, Rb = truth.track.matrices_at(ca), truth.track.matrices_at(cb)
    return log_so3(np.swapaxes(Ra, 1, 2) @ Rb) / (cb - ca)[:, None]


def _no_gyro_copy(prefix, tmp_dir):
    """The clip's mp4 alone in another folder: no .gcsv / .lens.csv sidecar can be found."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    dst = tmp_dir / "clip.mp4"
    shutil.copy(f"{prefix}.mp4", dst)
    return dst


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def run_clip(tmp_path_factory):
    """640x360 run, 20 ms rolling-shutter readout, pinhole 70 deg; its tracks and truth."""
    prefix = tmp_path_factory.mktemp("vm_run") / "run"
    res = simulate(prefix, SimConfig(scenario="run", width_px=640, height_px=360, duration_s=3.0, readout_s=0.02,
                                     seed=4))
    truth = load_truth(res.truth)
    pairs = track_frame_pairs(res.video)
    return prefix, truth, pairs


@pytest.fixture(scope="module")
def walk_clip(tmp_path_factory):
    """480x270 walk, 20 ms readout."""
    prefix = tmp_path_factory.mktemp("vm_walk") / "walk"
    simulate(prefix, SimConfig(scenario="walk", width_px=480, height_px=270, duration_s=3.0, readout_s=0.02, seed=3))
    return prefix


def _gyro_vs_video(prefix, tmp_dir):
    """Stabilize with the gyro (offset from the truth, no sync) and with the video alone; evaluate both.

    x264 preset ultrafast for both: the motion paths are judged, not the encoder (against ffmpeg
    vid.stab's medium encode that only makes ours the harder case). ``--fov-keep steady`` for
    both: the bounds judge how well each path's motion is removed where the crop leaves room
    (the default policy keeps more picture and half the shake: ``test_pipeline``). The crop
    corridor off for both (``corridor=False``): it is a second planner on top of either path
    (judged against the truth in ``test_corridor``), and where the crop binds it gains more on
    the exact gyro path (the run, measured: gyro 2.09 -> 0.48 px, video 2.20 -> 0.78), which
    would judge the planner here, not the video's motion.
    """
    truth = load_truth(f"{prefix}.truth.npz")
    lens = f"{prefix}.lens.json"
    out_g = tmp_dir / "gyro.mp4"
    rep_g = stabilize(f"{prefix}.mp4", out_g, StabilizeOptions(
        gyro=f"{prefix}.gcsv", lens=lens, gyro_offset_ms=truth.gyro_offset_s * 1000.0, motion="gyro",
        preset="ultrafast", fov_keep="steady", corridor=False))
    src = _no_gyro_copy(prefix, tmp_dir / "nogyro")
    out_v = tmp_dir / "video.mp4"
    rep_v = stabilize(src, out_v, StabilizeOptions(lens=lens, motion="video", preset="ultrafast", fov_keep="steady",
                                                   corridor=False))
    m_g = evaluate(f"{prefix}.mp4", out_g, truth=f"{prefix}.truth.npz")
    m_v = evaluate(src, out_v, truth=f"{prefix}.truth.npz")
    return rep_g, rep_v, m_g, m_v


@pytest.fixture(scope="module")
def run_e2e(run_clip, tmp_path_factory):
    return _gyro_vs_video(run_clip[0], tmp_path_factory.mktemp("vm_run_out"))


@pytest.fixture(scope="module")
def walk_e2e(walk_clip, tmp_path_factory):
    return _gyro_vs_video(walk_clip, tmp_path_factory.mktemp("vm_walk_out"))


# ---------------------------------------------------------------------------- per pair rotation
def test_pair_rotation_against_truth(run_clip):
    """Error of ω per pair, as image motion at the centre: |ω_video - ω_true| dt f [px].

    Measured (run, seed 4, 89 pairs; inter-frame motion median 3.9 px, max 13 px):
    median 0.22 px, p90 1.16 px over all pairs; over the pairs with confidence >= 0.8
    (74 of 89) median 0.19, p90 0.41, max 0.81 px. The large errors are where the run's
    footstep jolts (30 ms pulses) change ω within the pair: the constant-ω model cannot
    follow them (the error correlates 0.95 with the change of the true ω between the two
    centre-row times), and those pairs get a low confidence (0.28-0.55).
    """
    _, truth, pairs = run_clip
    vm = estimate_video_motion(pairs, truth.camera, readout_s=truth.readout_s)
    assert vm.n_pairs == pairs.n_pairs >= 85  # 89 pairs of 90 frames
    w_true = truth_pair_omega(truth, vm.t_a, vm.t_b, truth.readout_s)
    dt = vm.t_b - vm.t_a
    assert np.all(np.isfinite(vm.omega_rad_s))
    err_px = np.linalg.norm(vm.omega_rad_s - w_true, axis=1) * dt * vm.focal_px
    motion_px = np.linalg.norm(w_true, axis=1) * dt * vm.focal_px
    hi = vm.confidence >= 0.8
    print(f"pair rotation error: median {np.median(err_px):.3f} px, p90 {np.percentile(err_px, 90):.3f} px; "
          f"confident ({hi.sum()}/{len(hi)}): median {np.median(err_px[hi]):.3f}, p90 {np.percentile(err_px[hi], 90):.3f}, "
          f"max {err_px[hi].max():.3f} px; motion median {np.median(motion_px):.2f} px")
    assert np.median(err_px) < 0.35
    assert np.percentile(err_px, 90) < 1.6
    # confidence is high on this textured, static scene, and it means something
    assert np.median(vm.confidence) >= 0.9
    assert hi.mean() >= 0.7
    assert np.median(err_px[hi]) < 0.3 and np.percentile(err_px[hi], 90) < 0.7 and err_px[hi].max() < 1.3
    # the rotation, not the error, dominates: the median relative error is small
    assert np.median(err_px / np.maximum(motion_px, 1e-9)) < 0.1
    # what no rotation explains is small in a pure-rotation scene
    assert np.nanmedian(vm.residual_px) < 0.5
    assert np.nanmedian(np.linalg.norm(vm.shift_px, axis=1)) < 0.3


# ---------------------------------------------------------------------------- video gyro
def _synthetic_vm(n=12, fps=30.0, readout_s=0.02, seed=0):
    rng = np.random.default_rng(seed)
    t_a = np.arange(n) / fps
    t_b = t_a + 1.0 / fps
    omega = rng.normal(0.0, 0.8, (n, 3))
    return VideoMotion(
        frame_a=np.arange(n), t_a=t_a, t_b=t_b, omega_rad_s=omega, confidence=np.ones(n),
        residual_px=np.full(n, 0.1), shift_px=np.zeros((n, 2)), inliers=np.full(n, 100), points=np.full(n, 110),
        readout_s=readout_s, focal_px=500.0,
    )


def test_as_imu_integrates_to_pair_rotations():
    """Integrated, the video gyro turns by Exp(ω (t_b - t_a)) between the frames' centre-row times."""
    vm = _synthetic_vm()
    imu = vm.as_imu()
    assert np.all(np.diff(imu.times_s) > 0)
    assert imu.meta.get("video_motion") is True
    track = integrate_gyro(imu)
    ca, cb = vm.t_a + 0.5 * vm.readout_s, vm.t_b + 0.5 * vm.readout_s
    rel = np.swapaxes(track.matrices_at(ca), 1, 2) @ track.matrices_at(cb)
    want = exp_so3(vm.omega_rad_s * (cb - ca)[:, None])
    err = np.degrees(np.linalg.norm(log_so3(np.swapaxes(want, 1, 2) @ rel), axis=1))
    step = np.degrees(np.linalg.norm(vm.omega_rad_s, axis=1) / 30.0)
    print(f"as_imu: max error {err.max():.2e} deg for steps of {step.min():.2f}..{step.max():.2f} deg")
    assert err.max() < 2e-3  # the 10 us ramps between pairs; the steps are ~1-3 deg
    # the whole clip: the product of the pair rotations
    total = np.eye(3)
    for w, d in zip(vm.omega_rad_s, cb - ca):
        total = total @ exp_so3(w * d)
    got = track.matrices_at(np.array([ca[0]]))[0].T @ track.matrices_at(np.array([cb[-1]]))[0]
    assert np.degrees(np.linalg.norm(log_so3(total.T @ got))) < 5e-3


def test_as_imu_bridges_low_confidence_pairs():
    """A pair below ``min_confidence`` is left out: its neighbours' samples bridge it linearly."""
    vm = _synthetic_vm()
    vm.confidence[5] = 0.05
    vm.omega_rad_s[5] = [50.0, -50.0, 50.0]  # garbage that must not be used
    imu = vm.as_imu(min_confidence=0.2)
    assert np.abs(imu.gyro_rad_s).max() < 10.0
    track = integrate_gyro(imu)
    ca, cb = vm.t_a + 0.5 * vm.readout_s, vm.t_b + 0.5 * vm.readout_s
    rel = track.matrices_at(np.array([ca[5]]))[0].T @ track.matrices_at(np.array([cb[5]]))[0]
    bridge = 0.5 * (vm.omega_rad_s[4] + vm.omega_rad_s[6]) * (cb[5] - ca[5])  # linear ramp from ω4 to ω6
    assert np.degrees(np.linalg.norm(log_so3(exp_so3(bridge).T @ rel))) < 0.05
    # every other pair is still exact
    for j in (3, 7):
        relj = track.matrices_at(np.array([ca[j]]))[0].T @ track.matrices_at(np.array([cb[j]]))[0]
        assert np.degrees(np.linalg.norm(log_so3(exp_so3(vm.omega_rad_s[j] * (cb[j] - ca[j])).T @ relj))) < 2e-3
    vm.confidence[:] = 0.0
    vm.confidence[0] = 1.0
    with pytest.raises(ValueError, match="fewer than two"):
        vm.as_imu()


def test_splice_imu_takes_video_inside_intervals():
    tg = np.arange(0.0, 3.0, 1 / 200.0)
    gyro = ImuSamples(tg, np.tile([1.0, 2.0, 3.0], (len(tg), 1)), None, "gyro.gcsv", {"readout_s": 0.01})
    tv = np.arange(0.003, 3.0, 1 / 60.0)
    video = ImuSamples(tv, np.tile([-0.7, -0.8, -0.9], (len(tv), 1)), None, "video motion")
    intervals = [(0.5, 1.0), (2.0, 2.25)]
    out = splice_imu(gyro, video, intervals)
    assert np.all(np.diff(out.times_s) > 0)
    inside = np.zeros(len(out.times_s), bool)
    for a, b in intervals:
        inside |= (out.times_s >= a) & (out.times_s < b)
    assert inside.any() and (~inside).any()
    assert np.all(out.gyro_rad_s[inside] == [-0.7, -0.8, -0.9])
    assert np.all(out.gyro_rad_s[~inside] == [1.0, 2.0, 3.0])
    # every gyro sample outside and every video sample inside is kept, nothing else
    n_g = int(np.sum(~np.any([(tg >= a) & (tg < b) for a, b in intervals], axis=0)))
    n_v = int(np.sum(np.any([(tv >= a) & (tv < b) for a, b in intervals], axis=0)))
    assert (~inside).sum() == n_g and inside.sum() == n_v
    assert "video motion" in out.source and out.meta == {"readout_s": 0.01}
    # integrated: one continuous orientation; inside an interval it turns at the video's rate
    track = integrate_gyro(out)
    rel = track.matrices_at(np.array([0.6]))[0].T @ track.matrices_at(np.array([0.9]))[0]
    assert np.allclose(log_so3(rel), np.array([-0.7, -0.8, -0.9]) * 0.3, atol=1e-6)


# ---------------------------------------------------------------------------- focal length
def test_focal_from_run_clip(run_clip):
    """Measured on the run clip (true hfov 70 deg): 72.2 deg (+3 %); seeds 1 and 7 gave 73.6 / 74.4.

    The run's big, fast rotations make the estimate possible (contrast 0.44) but the jolts
    that change ω within a pair bias it a little wide.
    """
    _, truth, pairs = run_clip
    hfov, diag = estimate_focal_from_video(pairs, truth.camera, readout_s=truth.readout_s)
    print(f"run: hfov {hfov} deg (truth {truth.params['hfov_deg']}), diagnostics contrast {diag.get('contrast')}, "
          f"pairs {diag['pairs']}")
    assert hfov is not None, diag
    assert abs(hfov / truth.params["hfov_deg"] - 1.0) < 0.10


def test_focal_from_pan_clip(tmp_path):
    """A steady pan is the best case: measured 69.9 deg for 70 (640x360)."""
    prefix = tmp_path / "pan"
    res = simulate(prefix, SimConfig(scenario="pan", width_px=480, height_px=270, duration_s=2.0, seed=5))
    truth = load_truth(res.truth)
    pairs = track_frame_pairs(res.video)
    hfov, diag = estimate_focal_from_video(pairs, truth.camera, readout_s=0.0)
    print(f"pan: hfov {hfov} deg (truth 70), contrast {diag.get('contrast')}, pairs {diag['pairs']}")
    assert hfov is not None, diag
    assert abs(hfov - 70.0) < 2.1  # 3 %


# ---------------------------------------------------------------------------- readout
def _turned_half(pairs):
    """The tracks of the clip turned 180 degrees (as if the camera were held upside down): its
    rows are then read bottom to top, a readout of minus the clip's."""
    from dataclasses import replace

    def turn(x):
        return np.stack([pairs.width_px - 1.0 - x[:, 0], pairs.height_px - 1.0 - x[:, 1]], -1)

    return replace(pairs, xa=turn(pairs.xa), xb=turn(pairs.xb))


def test_readout_from_run_clip(run_clip):
    """The run (20 ms readout, 30 fps): measured 21.4 ms (t 8 on 89 pairs); the same tracks turned
    180 degrees (read bottom to top): -21.4 ms. Other clips measured while it was built (640x360,
    4 s): a walk read in 30 ms 30.8 (the walk turned: -30.7), a run in 10 ms 8.2, a 60 fps walk in
    15 ms 14.9, a tripod's tremor in 30 ms 31.0, a pan in 20 ms 21.1; global shutter: None
    (docs/BENCHMARKS.md, "The readout from the video alone")."""
    _, truth, pairs = run_clip
    est, diag = estimate_readout_from_video(pairs, truth.camera, 1 / 30)
    print(f"run: readout {est} s (truth {truth.readout_s}), {diag['t_stat']:.1f} t, {diag['pairs']} pairs")
    assert est is not None and abs(est - truth.readout_s) < 0.003, diag
    turned, diag = estimate_readout_from_video(_turned_half(pairs), truth.camera, 1 / 30)
    assert turned is not None and abs(turned + truth.readout_s) < 0.003, diag


def test_readout_from_a_global_shutter_clip(tmp_path):
    """A global-shutter run: no readout explains its tracks better than none (the cost's least is
    at 0 exactly: measured on a walk and a run, and on a 120 deg fisheye walk seen as a 75 deg
    pinhole), so None: the pipeline keeps the global shutter."""
    prefix = tmp_path / "gs"
    res = simulate(prefix, SimConfig(scenario="run", width_px=480, height_px=270, duration_s=2.0, readout_s=0.0,
                                     seed=6))
    truth = load_truth(res.truth)
    est, diag = estimate_readout_from_video(track_frame_pairs(res.video), truth.camera, 1 / 30)
    assert est is None, diag


def test_no_gyro_plan_estimates_the_readout_and_corrects_it(walk_clip, tmp_path):
    """No gyro and no readout given (a pinhole of the right field of view, no profile): the plan
    takes the readout from the tracks (measured 20.5 ms for 20) and says so; the output camera is
    steadier by the truth than with the global shutter assumed (measured 0.034 against 0.045 deg;
    the simulated run 0.200 against 0.280)."""
    from conftest import truth_output_jitter_deg

    src = _no_gyro_copy(walk_clip, tmp_path)
    truth = load_truth(f"{walk_clip}.truth.npz")

    def truth_jitter(plan):
        return truth_output_jitter_deg(plan, f"{walk_clip}.truth.npz")

    est = plan_stabilization(src, StabilizeOptions(fov_deg=70.0, fov_keep=0.92))
    gs = plan_stabilization(src, StabilizeOptions(fov_deg=70.0, fov_keep=0.92, readout_ms=0.0))
    print(f"walk: {est.readout_source}, {est.planner.readout_s * 1e3:.2f} ms; truth jitter {truth_jitter(est):.4f} "
          f"against {truth_jitter(gs):.4f} deg (global shutter)")
    assert est.motion_source == "video" and est.readout_source.startswith("estimated from the video")
    assert abs(est.planner.readout_s - truth.readout_s) < 0.003
    assert truth_jitter(est) < 0.85 * truth_jitter(gs)


# ---------------------------------------------------------------------------- end to end
def _check_video_path(rep_g, rep_v, m_g, m_v, name, *, vidstab=True):
    print(f"{name}: input jitter {m_v['original_jitter_px']:.3f} px; gyro {m_g['jitter_px']:.3f} px, video "
          f"{m_v['jitter_px']:.3f} px (ratio {m_v['jitter_px'] / m_g['jitter_px']:.3f}); truth output jitter gyro "
          f"{m_g['truth_output_jitter_deg']:.4f} deg, video {m_v['truth_output_jitter_deg']:.4f} deg (input "
          f"{m_v['truth_input_jitter_deg']:.4f}); residual to the smoothed truth (offset removed) gyro "
          f"{m_g['truth_residual_offset_removed_deg']:.4f}, video {m_v['truth_residual_offset_removed_deg']:.4f} deg; "
          f"zoom gyro {rep_g.zoom}, video {rep_v.zoom}; predicted {rep_v.predicted_jitter}")
    assert rep_v.motion_source == "video" and rep_v.gyro_rate_hz == 0.0  # no gyro read at all
    assert rep_g.motion_source == "gyro"
    # black-looking pixels: codec noise on the dark scene only (the project's bound, cf. test_pipeline)
    assert m_v["undefined_share_max"] < 1e-4 and m_g["undefined_share_max"] < 1e-4
    assert m_v["jitter_px"] <= 1.3 * m_g["jitter_px"]
    # since the crop budget keeps 92 % of the width (issue 10; it was ~85 %), the run keeps less of
    # its shake out: measured 0.44 of the input (0.23 before); ffmpeg vid.stab is the bar below
    assert m_v["jitter_px"] <= 0.5 * m_v["original_jitter_px"]
    assert m_v["truth_output_jitter_deg"] <= 1.3 * m_g["truth_output_jitter_deg"] + 0.02  # + a floor: walk ~0.01-0.02
    assert m_v["truth_output_jitter_deg"] <= 0.45 * m_v["truth_input_jitter_deg"]
    assert m_v["truth_residual_offset_removed_deg"] <= 1.3 * m_g["truth_residual_offset_removed_deg"]
    # the crop budget is chosen per clip (the run's jolts take the tightest, 0.88): never more crop than that
    assert rep_v.fov_kept >= min(STEADY_FOV_KEEP_CHOICES) - 1e-6
    vs = _vidstab_jitter_px(m_v["original"], name) if vidstab else None
    if vs is not None:  # the bar: below ffmpeg vid.stab (two passes, as bench/quality.py) on the same clip
        print(f"{name}: ffmpeg vid.stab {vs:.3f} px")
        assert m_v["jitter_px"] < vs


def _vidstab_jitter_px(video, name):
    """Jitter of ffmpeg vid.stab's two-pass result (bench/quality.py settings), or None without it."""
    import shutil
    import subprocess
    from pathlib import Path

    from fusedstab.measure.metrics import evaluate

    ff = shutil.which("ffmpeg")
    if ff is None or "vidstabdetect" not in subprocess.run([ff, "-hide_banner", "-filters"], capture_output=True,
                                                            text=True).stdout:
        return None
    out = Path(video).with_name(f"{name}.vidstab.mp4")
    trf = out.with_suffix(".trf")
    subprocess.run([ff, "-y", "-loglevel", "error", "-i", str(video), "-vf",
                    f"vidstabdetect=shakiness=5:accuracy=15:result={trf}", "-f", "null", "-"], check=True)
    subprocess.run([ff, "-y", "-loglevel", "error", "-i", str(video), "-vf",
                    f"vidstabtransform=input={trf}:smoothing=15:zoom=0:optzoom=1,unsharp=5:5:0.8:3:3:0.4",
                    "-an", "-c:v", "libx264", "-crf", "18", "-preset", "medium", "-pix_fmt", "yuv420p", str(out)],
                   check=True)
    return evaluate(video, out)["jitter_px"]


@pytest.mark.slow
def test_video_motion_end_to_end_run(run_e2e):
    """Run (640x360, 20 ms readout). Measured: input 9.46 px; gyro 2.09 px, video 2.20 px (x1.05);
    truth output jitter gyro 0.211 deg, video 0.233 deg (input 1.196); residual to the smoothed
    truth (offset removed) 0.638 / 0.656 deg (the run's steps are slower than sigma 0.5 s, so
    both paths differ from a 0.5 s smooth alike); zoom 1.18 both."""
    _check_video_path(*run_e2e, "run", vidstab=False)


@pytest.mark.slow
def test_video_motion_run_below_vidstab(run_e2e):
    rep_g, rep_v, m_g, m_v = run_e2e
    vs = _vidstab_jitter_px(m_v["original"], "run")
    if vs is None:
        pytest.skip("ffmpeg with vid.stab filters is not installed")
    assert m_v["jitter_px"] < vs


@pytest.mark.slow
def test_video_motion_end_to_end_walk(walk_e2e):
    """Walk (480x270, 20 ms readout). Measured: input 3.42 px; gyro 0.638 px, video 0.643 px
    (x1.006); truth output jitter 0.0945 / 0.0968 deg (input 0.650); residual (offset removed)
    0.267 / 0.265 deg; zoom 1.063 / 1.062."""
    _check_video_path(*walk_e2e, "walk")


def test_auto_without_gyro_uses_the_video(walk_clip, tmp_path):
    """No gyro anywhere and ``motion='auto'``: a warning says the video alone is used; it works
    (the default crop's promise, half the shake removed, is met by the video's motion alone)."""
    src = _no_gyro_copy(walk_clip, tmp_path)
    plan = plan_stabilization(src, StabilizeOptions(lens=f"{walk_clip}.lens.json"))
    print(plan.warnings, plan.motion_source, plan.predicted)
    assert plan.motion_source == "video" and not plan.passthrough
    assert any("no gyro" in w and "video alone" in w for w in plan.warnings), plan.warnings
    assert plan.predicted is not None and plan.predicted["ratio"] <= SHAKE_LEFT_MAX
    assert plan.zoom <= 1.25 + 1e-6
