"""Issue 8: ``motion='auto'`` is never worse than the input, and its warning names the cause.

Each broken-input case is stabilized end to end and judged from the pixels
(:func:`fusedstab.measure.metrics.evaluate`): the output's jitter is at most the input's (x1.02 for
the re-encode) and no output pixel is undefined; the warning names the cause and the fix.
The predicted jitter of the plan (:func:`fusedstab.analysis.verify.predicted_jitter`) is
checked against the measured one, and the phone capture (real data) is judged too.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from fusedstab.analysis.sync import parse_imu_orientation
from fusedstab.errors import InputError
from fusedstab.io.telemetry import read_imu
from fusedstab.measure.metrics import evaluate
from fusedstab.pipeline import SHAKE_LEFT_MAX, StabilizeOptions, plan_stabilization, render, stabilize
from fusedstab.measure.simulate import SimConfig, load_truth, simulate

from conftest import assert_maps_inside

#: re-encoding the frames (x264 CRF 18) adds a little tracked jitter of its own
REENCODE_TOLERANCE = 1.02


def _not_worse(m: dict) -> None:
    """Not shakier than the input (tracked), and no undefined pixel: checked exactly on the
    plan's maps (``m["plan"]``), not by counting dark pixels at the edge, which also counts the
    simulated scene's own dark shapes there (one pixel of a run flickered in and out of that
    count with the simulator's encode, which is not repeatable run to run: simulate.py)."""
    assert m["jitter_px"] <= REENCODE_TOLERANCE * m["original_jitter_px"], {k: v for k, v in m.items() if k != "plan"}
    plan = m["plan"]
    if not plan.passthrough:  # a clip kept as it is is copied, not warped
        assert_maps_inside(plan)


def _warning(report, *words) -> str:
    """The one warning that contains every word (case-insensitive); fails with all warnings shown."""
    for w in report.warnings:
        if all(x.lower() in w.lower() for x in words):
            return w
    raise AssertionError(f"no warning with {words!r} in {report.warnings!r}")


def _summary(name, report, m) -> str:
    return (f"{name}: motion {report.motion_source!r}, orientation {report.imu_orientation}, agreement "
            f"{report.gyro_agreement}; jitter {m['jitter_px']:.3f} px (input {m['original_jitter_px']:.3f}, ratio "
            f"{m['jitter_px'] / m['original_jitter_px']:.3f}); predicted {report.predicted_jitter}; undefined "
            f"{m['undefined_share_max']}; warnings {report.warnings}")


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Simulated clips (480x270, 2.5 s, 20 ms readout), made on first use."""
    root = tmp_path_factory.mktemp("verify")
    cache: dict = {}
    configs = {
        # the run's big jolts exceed the OIS range / go far beyond what the EIS leaves
        "run_ois": dict(scenario="run", seed=5, ois=True),
        "run_eis": dict(scenario="run", seed=5, in_camera_eis=True),
        "walk": dict(scenario="walk", seed=6),
    }

    def get(name):
        if name not in cache:
            prefix = root / name
            simulate(prefix, SimConfig(width_px=480, height_px=270, duration_s=2.5, readout_s=0.02, **configs[name]))
            cache[name] = prefix
        return cache[name]

    return get


@pytest.fixture(scope="module")
def text_logs(clips):
    """The walk's gyro as plain-text logs t,x,y,z: in deg/s, and in rad/s with x/y swapped (and a sign)."""
    prefix = clips("walk")
    imu = read_imu(f"{prefix}.gcsv")
    t, g = imu.times_s, imu.gyro_rad_s
    deg = prefix.with_name("walk.degs.txt")
    np.savetxt(deg, np.column_stack([t, np.degrees(g)]), delimiter=",", fmt="%.6f", header="t,x,y,z", comments="")
    swapped = prefix.with_name("walk.swapped.txt")
    # log x = camera y, log y = -camera x, log z = camera z: the camera is (-log y, log x, log z) = 'yXZ'
    np.savetxt(swapped, np.column_stack([t, g[:, 1], -g[:, 0], g[:, 2]]), delimiter=",", fmt="%.8f")
    return prefix, deg, swapped


@pytest.fixture(scope="module")
def results(clips, text_logs, tmp_path_factory):
    """``results(name)`` -> (report, evaluate dict), stabilized on first use."""
    out_dir = tmp_path_factory.mktemp("verify_out")
    cache: dict = {}

    def options(name):
        """The options of each case; the degraded-log cases plan with ``--fov-keep steady``: what
        they judge is the motion source found, and the steadiest crop shows it best."""
        if name == "ois_auto":
            p = clips("run_ois")
            return p, StabilizeOptions(gyro=f"{p}.gcsv", lens=f"{p}.lens.json", use_lens_motion=False)
        if name == "eis_auto":
            p = clips("run_eis")
            return p, StabilizeOptions(gyro=f"{p}.gcsv", lens=f"{p}.lens.json")
        p, deg, swapped = text_logs
        if name == "degs_as_rads":
            return p, StabilizeOptions(gyro=deg, gyro_columns="t,x,y,z", gyro_units="rad/s", lens=f"{p}.lens.json",
                                       fov_keep="steady")
        if name == "swapped_xyz":
            return p, StabilizeOptions(gyro=swapped, gyro_columns="t,x,y,z", imu_orientation="XYZ",
                                       lens=f"{p}.lens.json", fov_keep="steady")
        if name == "swapped_auto":
            return p, StabilizeOptions(gyro=swapped, gyro_columns="t,x,y,z", imu_orientation="auto",
                                       lens=f"{p}.lens.json", fov_keep="steady")
        raise KeyError(name)

    def get(name):
        if name not in cache:
            p, opts = options(name)
            out = out_dir / f"{name}.mp4"
            plans: list = []
            report = stabilize(f"{p}.mp4", out, opts, on_plan=plans.append)
            cache[name] = (report, {**evaluate(f"{p}.mp4", out), "plan": plans[0]})
            print(_summary(name, *cache[name]))
        return cache[name]

    return get


# ---------------------------------------------------------------------------- OIS without its log
@pytest.mark.slow
def test_ois_without_lens_log(results):
    """Measured (run, OIS, no .lens.csv): agreement 0.10, "the picture moves 0.44x as much as the
    gyro says: ... OIS/IBIS lens that moved without its log"; the video is used; jitter 2.12 ->
    0.59 px predicted."""
    report, m = results("ois_auto")
    w = _warning(report, "does not explain the picture", "OIS")
    assert "as much as the gyro" in w and "--lens-motion" in w
    assert report.motion_source == "video"
    assert report.gyro_agreement < 0.6
    _not_worse(m)
    assert m["jitter_px"] <= 0.5 * m["original_jitter_px"]


def test_ois_without_lens_log_gyro_mode(clips):
    """``motion='gyro'`` refuses a plan predicted shakier than the input, naming the likely
    cause (the unlogged OIS) and ``--force``; ``force=True`` plans it anyway (no passthrough).
    With the budget chosen per clip it is refused too: every budget is shakier than the input
    (the gyro cancels shake the lens already cancelled; 2.63 px against 2.13 at the widest, 0.96;
    until the bounded-rate pull-back of 2026-12 the 0.96 budget held the pull toward the real
    camera long enough to predict 1.94 px and was planned)."""
    p = clips("run_ois")
    with pytest.raises(InputError, match="shakier than the input") as exc:
        plan_stabilization(f"{p}.mp4", StabilizeOptions(gyro=f"{p}.gcsv", lens=f"{p}.lens.json",
                                                        use_lens_motion=False, motion="gyro"))
    assert "OIS" in str(exc.value) and "--force" in exc.value.hint
    opts = StabilizeOptions(gyro=f"{p}.gcsv", lens=f"{p}.lens.json", use_lens_motion=False, motion="gyro",
                            fov_keep=0.92)
    with pytest.raises(InputError, match="shakier than the input") as exc:
        plan_stabilization(f"{p}.mp4", opts)
    assert "--force" in exc.value.hint
    opts.force = True
    plan = plan_stabilization(f"{p}.mp4", opts)
    print(f"forced gyro plan: {plan.predicted}; warnings {plan.warnings}")
    assert plan.motion_source == "gyro" and not plan.passthrough
    assert plan.predicted["ratio"] > 1.0


# ---------------------------------------------------------------------------- gyro log format
@pytest.mark.slow
def test_deg_per_s_log_read_as_rad_per_s(results):
    """Measured: "the gyro predicts about 58x the motion the picture shows: a log in deg/s read
    as rad/s" (fix --gyro-units deg/s); agreement 0.00; the video is used (2.96 -> 0.45 px)."""
    report, m = results("degs_as_rads")
    w = _warning(report, "deg/s")
    assert "--gyro-units deg/s" in w
    assert report.motion_source == "video"
    _not_worse(m)
    assert m["jitter_px"] <= 0.3 * m["original_jitter_px"]


def test_deg_per_s_log_with_auto_units_is_read_again_as_deg_per_s(text_logs):
    """The same deg/s text log with the default units (auto): the picture shows it is deg/s, the
    plan is made again with it read so, and the gyro steadies the clip as the .gcsv does (the
    same predicted jitter within 2 %); one warning says what was done and names --gyro-units."""
    p, deg, _ = text_logs
    common = dict(lens=f"{p}.lens.json", fov_keep=0.92, smoothness_s=0.5)
    plan = plan_stabilization(f"{p}.mp4", StabilizeOptions(gyro=deg, gyro_columns="t,x,y,z", **common))
    ref = plan_stabilization(f"{p}.mp4", StabilizeOptions(gyro=f"{p}.gcsv", **common))
    (w,) = [w for w in plan.warnings if "deg/s" in w]
    assert "read again as deg/s" in w and "--gyro-units" in w
    assert plan.motion_source == "gyro" and abs(plan.offset_s - ref.offset_s) < 1e-3
    assert plan.predicted["output_px"] == pytest.approx(ref.predicted["output_px"], rel=0.02)


def test_auto_units_read_values_no_camera_reaches_in_rad_per_s_as_deg_per_s(tmp_path):
    """auto: a text log whose values pass 60 (3400 deg/s, beyond any camera gyro in rad/s) is
    deg/s; below, rad/s."""
    from fusedstab.io.gyro_text import read_gyro_text

    t = np.arange(0, 2, 0.005)
    w = np.column_stack([100 * np.sin(3 * t), 20 * np.cos(2 * t), 5 * t])  # up to 100
    np.savetxt(tmp_path / "fast.txt", np.column_stack([t, w]), delimiter=",")
    fast = read_gyro_text(tmp_path / "fast.txt", gyro_units="auto")
    np.testing.assert_allclose(fast.gyro_rad_s, np.radians(w), rtol=1e-9)
    assert fast.meta["gyro_units"].startswith("deg/s")
    np.savetxt(tmp_path / "slow.txt", np.column_stack([t, w / 50]), delimiter=",")
    slow = read_gyro_text(tmp_path / "slow.txt", gyro_units="auto")
    np.testing.assert_allclose(slow.gyro_rad_s, w / 50, rtol=1e-9)
    assert slow.meta["gyro_units"].startswith("rad/s")


@pytest.mark.slow
def test_swapped_axes_given_as_xyz(results):
    """Measured: "the gyro's axes do not match the camera's: the picture follows the gyro re-mapped
    as yXZ (correlation 1.00 against 0.25 as given)"; fix --imu-orientation auto."""
    report, m = results("swapped_xyz")
    w = _warning(report, "axes do not match")
    assert "--imu-orientation" in w and "yXZ" in w
    assert report.imu_orientation == "XYZ" and report.motion_source == "video"
    _not_worse(m)
    assert m["jitter_px"] <= 0.3 * m["original_jitter_px"]


@pytest.mark.slow
def test_swapped_axes_found_by_auto(results):
    """``imu_orientation='auto'`` finds the mapping; the gyro then explains the picture everywhere."""
    report, m = results("swapped_auto")
    M = parse_imu_orientation(report.imu_orientation)
    # camera x = -log y, camera y = log x, camera z = log z
    assert np.allclose(M, [[0, -1, 0], [1, 0, 0], [0, 0, 1]]), report.imu_orientation
    assert report.motion_source == "gyro"
    assert report.gyro_agreement >= 0.9
    assert not any("does not explain" in w or "video's motion" in w or "shakier" in w for w in report.warnings), \
        report.warnings
    _not_worse(m)
    assert m["jitter_px"] <= 0.3 * m["original_jitter_px"]


# ---------------------------------------------------------------------------- in-camera stabilization
@pytest.mark.slow
def test_in_camera_eis_detected_from_the_video(clips, results):
    """Nothing in the files says EIS was on; the video shows it. Measured: agreement 0.12, "the
    picture moves 0.08x as much as the gyro says: in-camera stabilization (EIS) ..."."""
    p = clips("run_eis")
    assert not read_imu(f"{p}.gcsv").meta.get("in_camera_stabilization")
    assert load_truth(f"{p}.truth.npz").eis_track is not None
    report, m = results("eis_auto")
    w = _warning(report, "does not explain the picture", "in-camera stabilization")
    assert "as much as the gyro" in w
    assert report.motion_source == "video"
    _not_worse(m)


def test_simulate_cli_in_camera_eis():
    """``fusedstab simulate --in-camera-eis`` sets the option; off by default; not with --ois."""
    import argparse

    from fusedstab.cli.simulate import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args(["p", "--in-camera-eis"])).in_camera_eis is True
    assert config_from_args(parser.parse_args(["p"])).in_camera_eis is False
    with pytest.raises(InputError, match="OIS together with in-camera EIS"):
        config_from_args(parser.parse_args(["p", "--in-camera-eis", "--ois"]))


def test_simulated_eis_frames_show_the_smoothed_orientation(clips):
    """The EIS clip's own rotation per frame pair follows the truth's ``eis_track`` (global
    shutter), not the body the gyro measures."""
    from fusedstab.analysis.tracking import track_frame_pairs
    from fusedstab.analysis.video_motion import estimate_video_motion
    from fusedstab.rotation import log_so3

    p = clips("run_eis")
    truth = load_truth(f"{p}.truth.npz")
    vm = estimate_video_motion(track_frame_pairs(f"{p}.mp4"), truth.camera, readout_s=0.0)

    def pair_rate(track):
        Ra, Rb = track.matrices_at(vm.t_a), track.matrices_at(vm.t_b)
        return log_so3(np.swapaxes(Ra, 1, 2) @ Rb) / (vm.t_b - vm.t_a)[:, None]

    px = (vm.t_b - vm.t_a)[:, None] * vm.focal_px
    ok = vm.confidence > 0.5
    err_eis = np.linalg.norm((vm.omega_rad_s - pair_rate(truth.eis_track)) * px, axis=1)[ok]
    body = np.linalg.norm(pair_rate(truth.track) * px, axis=1)[ok]
    print(f"EIS clip: video vs eis truth median {np.median(err_eis):.3f} px, p90 {np.percentile(err_eis, 90):.3f}; "
          f"body motion median {np.median(body):.2f} px")
    assert np.median(err_eis) < 0.1 and np.percentile(err_eis, 90) < 0.25
    assert np.median(body) > 5 * np.median(err_eis) + 0.5


# ---------------------------------------------------------------------------- predicted jitter
@pytest.mark.slow
@pytest.mark.parametrize("name", ["swapped_auto", "degs_as_rads", "ois_auto", "eis_auto"])
def test_predicted_jitter_matches_measured(results, name):
    """The plan's predicted output jitter agrees with what evaluate measures on the rendered file."""
    report, m = results(name)
    pred = report.predicted_jitter
    rel_out = (pred["output_px"] - m["jitter_px"]) / m["jitter_px"]
    rel_in = (pred["input_px"] - m["original_jitter_px"]) / m["original_jitter_px"]
    print(f"{name}: predicted {pred['output_px']:.4f} px, measured {m['jitter_px']:.4f} px ({rel_out:+.1%}); input "
          f"predicted {pred['input_px']:.4f}, measured {m['original_jitter_px']:.4f} ({rel_in:+.1%})")
    # measured: output -6.1 / -5.6 / +5.4 / -2.9 %, input -5.6 / -5.6 / -2.6 / -1.6 %
    assert abs(rel_in) < 0.15
    # outputs of 0.04-0.26 px (smoothness chosen per clip) are at the trackers' precision: 15 % + 0.05 px
    assert abs(pred["output_px"] - m["jitter_px"]) < 0.15 * m["jitter_px"] + 0.05


# ---------------------------------------------------------------------------- the phone capture
@pytest.mark.slow
def test_phone_capture_auto(shared_data, tmp_path):
    """Xiaomi CC9 Pro (OIS off), external gyro.txt on the boot clock, offset from framestamp.txt
    line 99, axes found by ``auto``, intrinsics from the MANIFEST.

    Measured: orientation 'yxz', agreement 0.85 (every segment 'gyro'), the gyro path kept
    (predicted 1.89 px, input 7.96 px, crop budget 0.88 chosen: 0.92 would leave 3.50 px);
    evaluate: 1.50 / 7.44 px = 0.20 (the issue asks <= 0.4; 0.38-0.40 with the fixed 0.92
    budget, depending on the x264 build; 0.48 before the smoothness was chosen per clip). The
    geometric border check passes; ``undefined_share_max`` is 1.4 % (dark car interior
    touching the border; the original scores 0.85 %).

    Rendered with ``--fov-keep steady``: issue 8's bar (ratio <= 0.4) judges the motion found on
    this phone. The default crop (issue 10: the most picture that halves the jitter) plans 0.95
    here and measures 0.51-0.53 of the input's jitter at vid.stab's field of view; its
    promise is checked on the plan below (predicted ratio <= ``SHAKE_LEFT_MAX``, more picture).
    """
    from fusedstab.camera import CameraModel
    from fusedstab.io.lens import write_lens_profile

    d = shared_data / "phone_cc9pro_ois_off"
    if not d.is_dir():
        pytest.skip(f"phone capture not available: {d} is absent")
    stamps = (d / "framestamp.txt").read_text().split()
    offset_ms = -1000.0 * float(stamps[98])
    lens = write_lens_profile(tmp_path / "phone_cc9pro.lens.json",
                              CameraModel(800, 600, 573.85, 575.04, 406.01, 309.01, model="pinhole",
                                          name="Xiaomi CC9 Pro 800x600"))
    video = d / "frames_099-150.mp4"
    opts = StabilizeOptions(gyro=d / "gyro.txt", gyro_columns="x,y,z,t", gyro_offset_ms=offset_ms,
                            imu_orientation="auto", lens=lens, fov_keep="steady")
    plan = plan_stabilization(video, opts)
    out = tmp_path / "phone.stab.mp4"
    render(plan, out, opts)
    m = evaluate(video, out)
    print(f"phone: motion {plan.motion_source!r}, orientation {plan.imu_orientation}, agreement "
          f"{plan.gyro_check.agreement if plan.gyro_check else None}, predicted {plan.predicted}; jitter "
          f"{m['jitter_px']:.3f} / {m['original_jitter_px']:.3f} px = {m['jitter_ratio_px']:.3f}; black-border share "
          f"{m['undefined_share_max']}; warnings {plan.warnings}")
    M = parse_imu_orientation(plan.imu_orientation)
    assert np.allclose(np.abs(M), [[0, 1, 0], [1, 0, 0], [0, 0, 1]]), plan.imu_orientation  # gyro x ~ camera y
    # the scene has dark areas touching the border (the original itself scores up to 0.85 %
    # "undefined"), so the exact geometric check replaces undefined_share_max == 0 here
    assert_maps_inside(plan)
    assert m["jitter_px"] <= REENCODE_TOLERANCE * m["original_jitter_px"]
    assert m["jitter_ratio_px"] <= 0.4
    # the default crop: more picture, at most half of the jitter predicted, the gyro still used
    auto = plan_stabilization(video, replace(opts, fov_keep=None))
    print(f"default crop: {auto.fov_keep} ({auto.crop.fov_kept:.3f} kept), motion {auto.motion_source!r}, "
          f"predicted {auto.predicted}")
    assert auto.motion_source == "gyro" and auto.crop.fov_kept > plan.crop.fov_kept
    assert auto.predicted["ratio"] <= SHAKE_LEFT_MAX + 1e-9


# ---------------------------------------------------------------------------- in-camera EIS record (CORI/IORI)
def _eis_record(truth, *, as_in_file: bool = False) -> dict:
    """A GoPro-style per-frame record of the simulated EIS clip: body (CORI) and image-vs-body (IORI).

    In fusedstab's convention (as :func:`fusedstab.io.telemetry.read_camera_metadata` returns
    it); ``as_in_file`` gives the file's convention (the inverse rotations) instead: a reader
    that forgot to convert."""
    from fusedstab.rotation import quat_conjugate, quat_multiply

    q_body = truth.track.quats_at(truth.frame_times_s)
    q_cam_image = quat_multiply(quat_conjugate(q_body), truth.eis_track.quats_at(truth.frame_times_s))
    if as_in_file:
        q_body, q_cam_image = quat_conjugate(q_body), quat_conjugate(q_cam_image)
    return {"in_camera_stabilization": True, "frame_q_world_cam": q_body, "frame_q_cam_image": q_cam_image}


@pytest.mark.parametrize("as_in_file", [False, True])
def test_in_camera_eis_undone_with_the_cameras_record(clips, as_in_file):
    """With the camera's CORI/IORI record, ``auto`` undoes the in-camera stabilization and checks
    the record against the picture: the right convention is accepted (the written frames'
    orientation is the truth's EIS orientation, misfit small), the file's raw convention is
    refused and the video's own motion used; either way the plan is steadier than the input."""
    import re

    from fusedstab.pipeline import written_image_track

    p = clips("run_eis")
    truth = load_truth(f"{p}.truth.npz")
    imu = read_imu(f"{p}.gcsv")
    imu.meta.update(_eis_record(truth, as_in_file=as_in_file))
    plan = plan_stabilization(f"{p}.mp4", StabilizeOptions(lens=f"{p}.lens.json"), imu=imu)
    print(plan.motion_source, plan.predicted, plan.warnings)
    assert plan.predicted["ratio"] < 0.8
    if as_in_file:
        _warning(plan, "orientation record does not match the picture")
        assert plan.motion_source == "video"
        return
    note = _warning(plan, "undone with the camera's own orientation record")
    assert float(re.search(r"misfit ([0-9.]+)", note).group(1)) < 0.3
    track, cam, _ = written_image_track(plan.info, imu.meta, plan.camera, None)
    R = track.matrices_at(truth.frame_times_s)
    R_true = truth.eis_track.matrices_at(truth.frame_times_s)
    ang = np.degrees(np.arccos(np.clip((np.trace(np.swapaxes(R, 1, 2) @ R_true, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert ang.max() < 1e-3 and cam is plan.camera  # the lens is known: no focal fit


def test_gopro_max_record_matches_its_gyro(shared_data):
    """The real file's CORI, as read, turns like its gyro (camera axes, same direction): the
    conversion of :func:`~fusedstab.io.telemetry.read_camera_metadata` is measured, not assumed."""
    from fusedstab.analysis.integrate import integrate_gyro
    from fusedstab.io.video import probe_video
    from fusedstab.rotation import log_so3
    from fusedstab.types import OrientationTrack

    path = shared_data / "gopro_max_heromode.mp4"
    imu, info = read_imu(path), probe_video(path)
    q = imu.meta["frame_q_world_cam"]
    assert q.shape == (316, 4) and imu.meta["frame_q_cam_image"].shape == (316, 4)
    t = info.frame_times_s[: info.frame_count]
    rec = OrientationTrack(t, q[: len(t)])
    gyro = integrate_gyro(imu)

    def steps(track, times):
        R = track.matrices_at(times)
        return log_so3(np.swapaxes(R[:-1], 1, 2) @ R[1:])

    best = max(np.diag(np.corrcoef(steps(gyro, t + lag).T, steps(rec, t).T)[:3, 3:]).min()
               for lag in np.arange(-0.05, 0.05, 0.005))  # the gyro's clock is a little off the frames'
    assert best > 0.9, best


def test_nearly_black_clip_without_gyro_is_kept_as_it_is(shared_data, tmp_path):
    """The Insta360 sample (nearly black, no readable gyro) tracks in 5 of 29 frame pairs: a
    path bridged over the rest would be a guess, so ``auto`` writes the frames as they are and
    says why (measured before this rule: output jitter 0.64 px against the input's 0.50). "As
    they are" means the video packets copied: the same frames bit for bit, timestamps, audio."""
    import av

    from fusedstab.io.video import probe_video

    src = shared_data / "insta360_oner_sample_1s.insv"
    plan = plan_stabilization(src, StabilizeOptions())
    assert plan.passthrough and plan.motion_source.startswith("none")
    w = _warning(plan, "too little texture", "--gyro")
    assert "of 29 frame pairs" in w
    out = tmp_path / "insta.mp4"
    timings: dict = {}
    render(plan, out, StabilizeOptions(), timings=timings)
    assert timings.get("copied") is True
    a, b = probe_video(src), probe_video(out)
    assert np.array_equal(a.pts, b.pts) and a.time_base == b.time_base and b.has_audio == a.has_audio

    def frames(path):
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]

    fa, fb = frames(src), frames(out)
    assert len(fa) == len(fb) == 30 and all(np.array_equal(x, y) for x, y in zip(fa, fb))


@pytest.mark.parametrize("fov_keep", [0.98, 0.99])
def test_tight_crop_budget_keeps_a_sound_gyro(clips, fov_keep):
    """At a crop budget too tight for either path, a gyro the check found no fault in is kept:
    the video's own motion predicted 1-2 % steadier (1.73 against 1.76 px at 0.98 before) is
    no reason to switch, and no warning blames the gyro for what the crop budget limits."""
    prefix = clips("walk")
    plan = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json",
                                                                fov_keep=fov_keep))
    assert plan.motion_source == "gyro", plan.warnings
    assert not [w for w in plan.warnings if "video's own motion" in w or "likely cause" in w], plan.warnings


def test_gopro_max_defaults_leave_no_undefined_pixel(shared_data):
    """The MAX clip given its profile (as in bench/quality.py; the lens its file states is planned
    against the profile and used, test_lens_folder): every output pixel of every frame
    samples the source (exact check on the warp maps). The quality table's undefined-pixel
    metric reads 0.9 % on one of its frames: that is the building's black window at the frame's
    edge (the input itself reads up to 0.25 % by the same metric), enlarged by the crop."""
    from fusedstab.io.video import iter_frames
    from fusedstab.measure.metrics import undefined_share

    lens = shared_data.parent / "lens_profiles" / "GoPro_Max_Wide_HS EIS_1080p_16by9_1920x1080-50.00fps.json"
    src = shared_data / "gopro_max_heromode.mp4"
    plan = plan_stabilization(src, StabilizeOptions(lens=str(lens)))
    assert not plan.passthrough
    assert_maps_inside(plan)
    assert not [w for w in plan.warnings if "no lens profile" in w]  # the profile given: no hint
    # the input's own frames already have black content touching the edge
    shares = [undefined_share(f) for k, (_, f) in enumerate(iter_frames(src)) if k % 10 == 2]
    assert max(shares) > 0.0


def _pair_steps_loop(xa, xb, pair_index, n_pairs):
    """pair_steps' definition, one pair at a time (the reference the vectorized one must match)."""
    out = np.full((n_pairs, 3), np.nan)
    ok = np.all(np.isfinite(xa), axis=1) & np.all(np.isfinite(xb), axis=1)
    for j in range(n_pairs):
        idx = np.flatnonzero((pair_index == j) & ok)
        if len(idx) < 6:
            continue
        d = xb[idx] - xa[idx]
        med = np.median(d, axis=0)
        r = np.linalg.norm(d - med, axis=1)
        keep = r <= 3.0 * np.median(r) + 0.5
        a, b = xa[idx][keep], xb[idx][keep]
        if len(a) < 6:
            continue
        ac, bc = a - a.mean(0), b - b.mean(0)
        out[j] = (*med, np.degrees(np.arctan2(np.sum(ac[:, 0] * bc[:, 1] - ac[:, 1] * bc[:, 0]), np.sum(ac * bc))))
    return out


def test_pair_steps_matches_the_per_pair_definition():
    """The similarity steps the never-worse check compares (all pairs at once, NaN-padded rows)
    equal the per-pair median / 3-MAD / least-squares-angle definition on random pairs with
    moving outliers, NaN points, empty and too-small pairs, even and odd point counts."""
    from fusedstab.analysis.verify import pair_steps

    rng = np.random.default_rng(7)
    for _ in range(60):
        n = int(rng.integers(1, 40))
        counts = rng.integers(0, 30, n)
        pi = rng.permutation(np.repeat(np.arange(n), counts))
        xa = rng.uniform(0, 640, (len(pi), 2))
        th, t = rng.normal(0, 0.02, n), rng.normal(0, 4, (n, 2))
        c, s = np.cos(th[pi]), np.sin(th[pi])
        xb = np.stack([c * xa[:, 0] - s * xa[:, 1], s * xa[:, 0] + c * xa[:, 1]], -1) + t[pi]
        xb += rng.normal(0, 0.3, xb.shape)
        moving = rng.random(len(pi)) < 0.15
        xb[moving] += rng.normal(0, 40, (int(moving.sum()), 2))
        xa[rng.random(len(pi)) < 0.05, 0] = np.nan
        ref, got = _pair_steps_loop(xa, xb, pi, n), pair_steps(xa, xb, pi, n)
        assert np.array_equal(np.isnan(ref), np.isnan(got))
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    assert np.isnan(pair_steps(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0, np.int64), 3)).all()


def test_gyro_log_with_a_gap_is_named_and_the_plan_stays_steadier(clips, tmp_path):
    """0.6 s of dropped gyro samples inside the clip: a warning names the gap, and the plan
    (the gyro checked against the video) still predicts less jitter than the input."""
    prefix = clips("walk")
    imu = read_imu(f"{prefix}.gcsv")
    t, g = imu.times_s, imu.gyro_rad_s
    keep = (t < 0.9) | (t >= 1.5)
    gap = tmp_path / "gap.txt"
    np.savetxt(gap, np.column_stack([t[keep], g[keep]]), delimiter=",", fmt="%.8f")
    full = tmp_path / "full.txt"
    np.savetxt(full, np.column_stack([t, g]), delimiter=",", fmt="%.8f")
    common = dict(gyro_columns="t,x,y,z", imu_orientation="XYZ", lens=f"{prefix}.lens.json", gyro_offset_ms=0.0,
                  auto_sync=False)
    plan = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=gap, **common))
    (w,) = [w for w in plan.warnings if "gap" in w]
    longest = float(re.search(r"the longest ([0-9.]+) s", w).group(1))
    assert "1 gap(s)" in w and abs(longest - 0.6) <= 0.02, w
    assert plan.predicted["output_px"] < 0.8 * plan.predicted["input_px"], plan.predicted
    plan = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=full, **common))
    assert not any("gap" in w for w in plan.warnings), plan.warnings


def test_gyro_log_that_stops_early_is_filled_by_the_video(clips, tmp_path):
    """A log that stops after 1.6 s of the 2.5 s walk (a flight controller's log full): the
    sync is as exact (its windows past the log's end are left out: no drift is invented), the
    video's own motion fills the rest, one warning says so, and the plan is about as steady
    as with the whole log. Covering less than half the clip, or with --motion gyro, it is
    refused with the fix."""
    from fusedstab.errors import TelemetryError

    prefix = clips("walk")
    imu = read_imu(f"{prefix}.gcsv")
    t, g = imu.times_s, imu.gyro_rad_s
    logs = {}
    for name, end_s in (("early", 1.6), ("short", 1.0), ("full", 99.0)):
        logs[name] = tmp_path / f"{name}.txt"
        np.savetxt(logs[name], np.column_stack([t[t < end_s], g[t < end_s]]), delimiter=",", fmt="%.8f")
    common = dict(gyro_columns="t,x,y,z", imu_orientation="XYZ", lens=f"{prefix}.lens.json")
    full = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=logs["full"], **common))
    early = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=logs["early"], **common))
    (w,) = [w for w in early.warnings if "covers only" in w]
    assert "0.00..1.60 s" in w and "video's own motion" in w, early.warnings
    assert not any("drift" in w or "does not explain" in w for w in early.warnings), early.warnings
    assert abs(early.offset_s) < 1e-3 and early.offset_source == "auto-sync"
    assert early.motion_source.startswith("gyro+video") or early.motion_source == "video", early.motion_source
    assert early.predicted["output_px"] < 1.25 * full.predicted["output_px"], (early.predicted, full.predicted)
    for name, opts in (("short", {}), ("early", {"motion": "gyro"})):
        with pytest.raises(TelemetryError, match="covers") as exc:
            plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=logs[name], **common, **opts))
        assert "whole clip" in exc.value.hint


def test_a_poor_plan_without_a_lens_profile_names_the_fix(shared_data):
    """The Karma clip (a HERO5, whose file states no field of view) without its lens profile: its
    wide lens drawn as a pinhole, rotations do not explain the picture: the smoothed path leaves
    most of the shake (predicted 0.85 of the input; 0.21 with the profile), and only the crop
    corridor's path at a tighter budget halves it (0.50); the warning says so and names
    ``--lens``."""
    plan = plan_stabilization(shared_data / "gopro_hero5_karma.mp4", StabilizeOptions())
    assert plan.predicted_plain["ratio"] > 0.7
    w = _warning(plan, "no lens profile", "--lens")
    assert "pinhole" in w and "% of the high-frequency jitter" in w


def test_a_camera_that_states_its_field_of_view_is_drawn_through_it(shared_data):
    """The MAX states its picture's diagonal field of view (GPMF ZFOV 137.4 deg, lens mode Wide):
    without a profile its lens is an equidistant fisheye spanning it. Predicted: 0.35 of the
    input's jitter, against 0.92 for the pinhole guess (``--fov 75``, as before) and 0.43 with its
    community HS EIS profile; no undefined pixel, no hint to give a profile."""
    src = shared_data / "gopro_max_heromode.mp4"
    plan = plan_stabilization(src, StabilizeOptions())
    assert "equidistant fisheye spanning the file's 137.4 deg diagonal" in plan.camera.name
    assert plan.camera.model == "opencv_fisheye" and plan.predicted["ratio"] < 0.4, plan.predicted
    assert not [w for w in plan.warnings if "no lens profile" in w]
    assert_maps_inside(plan)
    pinhole = plan_stabilization(src, StabilizeOptions(fov_deg=75.0))
    assert pinhole.camera.model == "pinhole" and pinhole.predicted["ratio"] > 0.8
    # --motion video reads no IMU, and still the lens the file states
    video = plan_stabilization(src, StabilizeOptions(motion="video"))
    assert video.camera.name == plan.camera.name and video.motion_source == "video"


def _upside_down_log(prefix):
    """The clip's .gcsv with the gyro and accelerometer x and y negated: a camera turned 180 deg
    about its optical axis against its IMU (mounted upside down, the picture flipped in the
    camera) whose log does not say so. Returns the new log's path."""
    src = prefix.with_suffix(".gcsv")
    out = []
    for line in src.read_text(encoding="utf-8").splitlines():
        p = line.split(",")
        if len(p) == 7 and p[0].isdigit():
            for k in (1, 2, 4, 5):
                p[k] = f"{-float(p[k]):.8f}"
        out.append(",".join(p))
    flipped = prefix.with_name(prefix.name + ".upside_down.gcsv")
    flipped.write_text("\n".join(out) + "\n", encoding="utf-8")
    return flipped


@pytest.mark.parametrize("scenario, size", [
    ("run", (192, 108)),   # measured: small frames, coarse tracks, the gyro steadier (0.873 vs 0.898 px)
    ("walk", (320, 180)),  # measured: the video's motion a little steadier (0.751 vs 0.758 px)
])
def test_an_upside_down_log_is_read_on_the_axes_the_picture_follows(tmp_path, scenario, size):
    """The check finds that the picture follows the gyro on other axes (xyZ); without
    --imu-orientation the plan is made again searching the axes, and kept where it is steadier
    than the video's motion: then it is the plan of the upright log, and one warning says so;
    else the video's motion is kept, as before. Which of the two is steadier is measured here
    (the upright log against --motion video), not assumed."""
    prefix = tmp_path / scenario
    simulate(prefix, SimConfig(scenario=scenario, width_px=size[0], height_px=size[1], duration_s=3.0, readout_s=0.02,
                               seed=0))
    upright = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json"))
    video = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(lens=f"{prefix}.lens.json", motion="video"))
    assert upright.motion_source == "gyro" and upright.imu_orientation == "XYZ"
    gyro_wins = upright.predicted["output_px"] < video.predicted["output_px"]
    plan = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=str(_upside_down_log(prefix)),
                                                                lens=f"{prefix}.lens.json"))
    if gyro_wins:
        assert plan.motion_source == "gyro" and plan.imu_orientation == "xyZ", plan.warnings
        w = [x for x in plan.warnings if "axes do not match" in x]
        assert len(w) == 1 and "as xyZ, which is used" in w[0] and "--imu-orientation xyZ" in w[0], plan.warnings
        assert plan.predicted["output_px"] == pytest.approx(upright.predicted["output_px"], rel=0.01)
        ang = np.degrees(np.arccos(np.clip((np.trace(np.swapaxes(plan.R_virt, 1, 2) @ upright.R_virt, axis1=1,
                                                     axis2=2) - 1) / 2, -1, 1)))
        assert ang.max() < 0.05  # the same virtual camera
    else:
        assert plan.motion_source == "video" and plan.imu_orientation == "XYZ"
        assert any("axes do not match" in x and "--imu-orientation auto" in x for x in plan.warnings), plan.warnings
        assert plan.predicted["output_px"] == pytest.approx(video.predicted["output_px"], rel=1e-6)
