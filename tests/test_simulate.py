"""Tests of the ground-truth camera simulator (fusedstab.measure.simulate).

The key check: the truth file is verified against its own video. Features tracked with
KLT between consecutive frames must land where the true orientation (and the recorded OIS
shift / focal scale) predicts, with rolling-shutter row times.
"""

from __future__ import annotations

import argparse
import json
import math

import cv2
import numpy as np

from fusedstab.io.lens_motion import read_lens_motion
import pytest

from fusedstab.errors import InputError
from fusedstab.io.video import iter_frames, probe_video
from fusedstab.cli.simulate import add_arguments, config_from_args
from fusedstab.measure.simulate import (
    GCSV_ORIENTATION,
    SCENARIOS,
    SimConfig,
    load_truth,
    simulate,
)
from fusedstab.types import LensMotion


# ---------------------------------------------------------------------------- helpers
def _sim(tmp_path_factory, name: str, **kw):
    folder = tmp_path_factory.mktemp(name)
    cfg = SimConfig(**kw)
    res = simulate(folder / name, cfg)
    return res, load_truth(res.truth)


def _track_pairs(video, max_pairs: int = 12):
    """KLT between consecutive frames: list of (i, pts_a (n, 2), pts_b (n, 2))."""
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for _, f in iter_frames(video)]
    lk = dict(winSize=(21, 21), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 0.001))
    out = []
    for i in range(min(max_pairs, len(frames) - 1)):
        a, b = frames[i], frames[i + 1]
        p0 = cv2.goodFeaturesToTrack(a, maxCorners=400, qualityLevel=0.01, minDistance=10, blockSize=7)
        p1, st, _ = cv2.calcOpticalFlowPyrLK(a, b, p0, None, **lk)
        p0r, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, p1, None, **lk)
        fb = np.linalg.norm((p0r - p0).reshape(-1, 2), axis=1)
        h, w = a.shape
        q1 = p1.reshape(-1, 2)
        ok = (st.ravel() == 1) & (st2.ravel() == 1) & (fb < 0.25)
        ok &= (q1[:, 0] > 12) & (q1[:, 0] < w - 13) & (q1[:, 1] > 12) & (q1[:, 1] < h - 13)
        out.append((i, p0.reshape(-1, 2)[ok].astype(np.float64), q1[ok].astype(np.float64)))
    return out


def _predict(truth, lens: LensMotion | None, i: int, pts_a: np.ndarray, iters: int = 8) -> np.ndarray:
    """Where points of frame i appear in frame i + 1, from the truth alone."""
    cam, H = truth.camera, truth.camera.height_px
    ta = truth.frame_times_s[i] + truth.readout_s * pts_a[:, 1] / H
    oa, sa = lens.at(ta) if lens is not None else (None, None)
    ray = cam.unproject(pts_a, principal_offset_px=oa, focal_scale=sa)
    world = np.einsum("nij,nj->ni", truth.track.matrices_at(ta), ray)
    vb = pts_a[:, 1].copy()
    for _ in range(iters):  # the row of the predicted point fixes its time
        tb = truth.frame_times_s[i + 1] + truth.readout_s * vb / H
        ob, sb = lens.at(tb) if lens is not None else (None, None)
        cb = np.einsum("nji,nj->ni", truth.track.matrices_at(tb), world)
        pb = cam.project(cb, principal_offset_px=ob, focal_scale=sb)
        vb = pb[:, 1]
    return pb


def _errors(res, truth, lens=None, max_pairs=12):
    errs, n = [], 0
    for i, a, b in _track_pairs(res.video, max_pairs):
        pred = _predict(truth, lens, i, a)
        errs.append(np.linalg.norm(pred - b, axis=1))
        n += len(a)
    e = np.concatenate(errs)
    return e[np.isfinite(e)], n


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def run_clip(tmp_path_factory):
    return _sim(tmp_path_factory, "run", scenario="run", duration_s=0.5, readout_s=0.02, lead_s=0.25, seed=3)


@pytest.fixture(scope="module")
def ois_clip(tmp_path_factory):
    return _sim(
        tmp_path_factory, "ois", scenario="walk", duration_s=0.5, readout_s=0.02, lead_s=0.1, ois=True,
        focus_breathing=True, shake_scale=2.0, seed=5,
    )


# ---------------------------------------------------------------------------- gyro log
def test_gcsv_roundtrip_through_telemetry_parser(run_clip):
    import telemetry_parser

    res, truth = run_clip
    cfg = res.config
    head = res.gcsv.read_text().splitlines()[:4]
    assert head[0] == "GYROFLOW IMU LOG" and head[1] == "version,1.3" and head[2].startswith("id,")
    assert head[3] == f"orientation,{GCSV_ORIENTATION}"
    imu = telemetry_parser.Parser(str(res.gcsv)).normalized_imu()
    t_log = np.array([s["timestamp_ms"] for s in imu]) / 1000.0
    g = np.array([s["gyro"] for s in imu], dtype=np.float64)
    a = np.array([s["accl"] for s in imu], dtype=np.float64)
    w_cam = np.radians(np.stack([-g[:, 1], -g[:, 0], -g[:, 2]], axis=1))
    acc_cam = np.stack([-a[:, 1], -a[:, 0], -a[:, 2]], axis=1)
    # log clock: starts at 0, regular at the configured rate, lead_s before the first frame
    assert t_log[0] == 0.0
    assert np.allclose(np.diff(t_log), 1.0 / cfg.gyro_rate_hz, atol=2e-6)
    assert truth.gyro_offset_s == pytest.approx(-cfg.lead_s)
    t_video = t_log + truth.gyro_offset_s
    assert t_video[0] == pytest.approx(-cfg.lead_s)
    assert t_video[-1] > truth.frame_times_s[-1] + truth.readout_s
    w_true = np.stack([np.interp(t_video, truth.times_s, truth.omega_rad_s[:, k]) for k in range(3)], axis=1)
    resid = w_cam - w_true - truth.gyro_bias_rad_s
    sigma = cfg.gyro_noise_rad_s
    assert np.abs(resid).max() < 6 * sigma
    assert abs(resid.std() - sigma) < 0.25 * sigma
    assert np.linalg.norm(truth.gyro_bias_rad_s) == pytest.approx(0.005, rel=1e-6)
    assert np.abs(w_true).max() > math.radians(20)  # a run really moves
    # accelerometer: gravity (1 g) pointing up in the body frame; level camera at t = 0 -> -y
    assert np.allclose(np.linalg.norm(acc_cam, axis=1), 9.80665, atol=0.2)
    j0 = np.argmin(np.abs(t_video))
    assert acc_cam[j0, 1] < -9.5


def test_truth_orientation_integrates_angular_velocity(run_clip):
    _, truth = run_clip
    t, R = truth.times_s, truth.track.matrices_at(truth.times_s)
    rel = np.einsum("nji,njk->nik", R[:-1], R[1:])
    from fusedstab.rotation import log_so3

    w_fd = log_so3(rel) / np.diff(t)[:, None]
    w_mid = 0.5 * (truth.omega_rad_s[1:] + truth.omega_rad_s[:-1])
    assert np.abs(w_fd - w_mid).max() < 2e-3 * max(1.0, np.abs(w_mid).max())
    # world frame = the camera at the first frame
    assert np.allclose(truth.track.matrices_at(np.array([0.0]))[0], np.eye(3), atol=1e-9)


# ---------------------------------------------------------------------------- truth vs its own video
def test_video_matches_truth_rolling_shutter(run_clip):
    res, truth = run_clip
    assert truth.readout_s == pytest.approx(0.02)
    e, n = _errors(res, truth)
    med, p90 = float(np.median(e)), float(np.percentile(e, 90))
    print(f"run+RS: {n} tracks, median {med:.3f} px, p90 {p90:.3f} px")
    assert n > 500
    assert med < 0.3 and p90 < 1.0
    # the rolling shutter matters: a global-shutter prediction is clearly worse
    gs = load_truth(res.truth)
    gs.readout_s = 0.0
    e_gs, _ = _errors(res, gs, max_pairs=6)
    assert np.median(e_gs) > 2 * med


def test_video_matches_truth_with_ois_and_breathing(ois_clip):
    res, truth = ois_clip
    assert res.lens_csv is not None and res.lens_csv.exists()
    lens = read_lens_motion(res.lens_csv).shifted(truth.gyro_offset_s)
    assert np.abs(lens.ois_shift_px).max() > 1.0  # OIS really moved the lens
    assert np.ptp(lens.focal_scale) > 0.002 or np.ptp(truth.focal_scale) > 0.002
    e, n = _errors(res, truth, lens)
    med, p90 = float(np.median(e)), float(np.percentile(e, 90))
    print(f"walk+RS+OIS+breathing: {n} tracks, median {med:.3f} px, p90 {p90:.3f} px")
    assert n > 500
    assert med < 0.3 and p90 < 1.0
    # ignoring the OIS shift must make the prediction worse
    e_no, _ = _errors(res, truth, None, max_pairs=6)
    assert np.median(e_no) > med + 0.2


def test_fisheye_video_matches_truth(tmp_path_factory):
    res, truth = _sim(tmp_path_factory, "fish", scenario="walk", lens="fisheye", duration_s=0.3, readout_s=0.01, seed=7)
    prof = json.loads(res.lens_json.read_text())
    assert prof["distortion_model"] == "opencv_fisheye" and prof["use_opencv_fisheye"] is True
    assert truth.camera.hfov_deg() == pytest.approx(70.0, abs=0.2)
    e, n = _errors(res, truth, max_pairs=8)
    print(f"fisheye walk: {n} tracks, median {np.median(e):.3f} px")
    assert np.median(e) < 0.3 and np.percentile(e, 90) < 1.0


# ---------------------------------------------------------------------------- OIS behaviour
def test_ois_reduces_image_motion(ois_clip):
    _, truth = ois_clip
    cam = truth.camera
    sel = (truth.times_s >= 0) & (truth.times_s <= truth.frame_times_s[-1])
    t = truth.times_s[sel]
    R = truth.track.matrices_at(t)
    centre = cam.unproject(np.array([cam.cx_px, cam.cy_px]))
    d_world = R[0] @ centre
    cam_dirs = np.einsum("nji,j->ni", R, d_world)
    p_off = cam.project(cam_dirs)
    o, s = truth.lens_motion.at(t)
    p_on = cam.project(cam_dirs, principal_offset_px=o, focal_scale=s)
    # high-frequency image motion of a fixed world point: frame-to-frame velocity
    v_off = np.linalg.norm(np.diff(p_off[::133], axis=0), axis=1)
    v_on = np.linalg.norm(np.diff(p_on[::133], axis=0), axis=1)
    assert np.sqrt(np.mean(v_on**2)) < 0.7 * np.sqrt(np.mean(v_off**2))
    lim = cam.fx_px * math.tan(math.radians(1.5))
    assert np.abs(truth.ois_shift_px).max() <= lim + 1e-9


# ---------------------------------------------------------------------------- files, seeds, labels
def test_files_and_formats(ois_clip):
    res, truth = ois_clip
    info = probe_video(res.video)
    assert (info.width_px, info.height_px) == (640, 360)
    assert info.frame_count == len(truth.frame_times_s) == 15
    assert np.allclose(info.frame_times_s, truth.frame_times_s, atol=1e-9)
    prof = json.loads(res.lens_json.read_text())
    for key in ("calib_dimension", "fisheye_params", "frame_readout_time", "distortion_model", "name"):
        assert key in prof
    assert prof["camera_brand"] == "fusedstab" and prof["camera_model"] == "simulator"
    assert prof["distortion_model"] == "opencv_standard" and prof["use_opencv_standard"] is True
    assert prof["frame_readout_time"] == pytest.approx(20.0)
    K = np.array(prof["fisheye_params"]["camera_matrix"])
    assert np.allclose(K, truth.camera.K)
    header = res.lens_csv.read_text().splitlines()[0]
    assert header == "t_s,ois_x_px,ois_y_px,focus_pos,focal_scale"
    data = np.loadtxt(res.lens_csv, delimiter=",", skiprows=1)
    assert data[0, 0] == pytest.approx(0.0)  # same log clock as the gcsv
    assert np.median(np.diff(data[:, 0])) <= 1 / 200
    assert np.allclose(data[:, 4], 1 + 0.02 * data[:, 3], atol=1e-6)
    assert len(truth.times_s) / (truth.times_s[-1] - truth.times_s[0]) >= 2000
    assert truth.times_s[0] <= truth.gyro_offset_s
    params = json.loads(json.dumps(truth.params))
    assert params["scenario"] == "walk" and params["ois"] is True


def test_reproducible_and_labelled(tmp_path):
    cfgs = {sc: SimConfig(scenario=sc, width_px=96, height_px=64, duration_s=2.0 if sc == "turn" else 0.2, seed=11) for sc in SCENARIOS}
    for sc, cfg in cfgs.items():
        a = simulate(tmp_path / f"{sc}_a", cfg)
        ta = load_truth(a.truth)
        assert len(ta.intent) == len(ta.frame_times_s)
        if sc == "turn":
            assert set(ta.intent) == {"walk", "turn"}
            mid = ta.intent == "turn"
            R = ta.track.matrices_at(ta.frame_times_s)
            yaw = np.degrees(np.arctan2(R[:, 0, 2], R[:, 2, 2]))
            assert abs(abs(yaw[-1] - yaw[0]) - 90) < 15
            assert mid.any()
        else:
            assert set(ta.intent) == {sc}
    b = simulate(tmp_path / "walk_b", cfgs["walk"])
    ta, tb = load_truth(tmp_path / "walk_a.truth.npz"), load_truth(b.truth)
    assert np.array_equal(ta.quat_wxyz, tb.quat_wxyz)
    rows = lambda p: [ln for ln in p.read_text().splitlines() if not ln.startswith("videofilename,")]
    assert rows(tmp_path / "walk_a.gcsv") == rows(b.gcsv)
    fa = [f for _, f in iter_frames(tmp_path / "walk_a.mp4")]
    fb = [f for _, f in iter_frames(b.video)]
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb))
    c = simulate(tmp_path / "walk_c", SimConfig(scenario="walk", width_px=96, height_px=64, duration_s=0.2, seed=12))
    assert not np.array_equal(load_truth(c.truth).quat_wxyz, ta.quat_wxyz)


def test_the_same_clip_is_the_same_bytes_every_time(tmp_path):
    """The video is written repeatable (x264 without its macroblock tree, which reads memory it
    has not written): a 160x90 1 s turn simulated four times is the same file each time. With
    the tree, 8 such runs in two processes gave 7 different files, and this test failed 4 times
    in 4."""
    import hashlib

    cfg = SimConfig(scenario="turn", width_px=160, height_px=90, duration_s=1.0, readout_s=0.01, seed=0)
    digests = set()
    for _ in range(4):
        digests.add(hashlib.sha256(simulate(tmp_path / "same", cfg).video.read_bytes()).hexdigest())
    assert len(digests) == 1


def test_motion_blur_renders(tmp_path):
    cfg = SimConfig(scenario="run", width_px=160, height_px=90, duration_s=0.2, motion_blur=True, ois=True, lead_s=0.05, seed=1)
    res = simulate(tmp_path / "blur", cfg)
    truth = load_truth(res.truth)
    assert truth.exposure_s == pytest.approx(1 / 120)
    assert probe_video(res.video).frame_count == 6
    # truth starts before the first exposure; the lens log starts exactly at log t = 0
    assert truth.times_s[0] < -cfg.lead_s - truth.exposure_s / 2
    assert np.loadtxt(res.lens_csv, delimiter=",", skiprows=1)[0, 0] == 0.0


def test_missing_output_folder(tmp_path):
    from fusedstab.errors import OutputError

    with pytest.raises(OutputError):
        simulate(tmp_path / "nope" / "clip", SimConfig(width_px=64, height_px=48, duration_s=0.1))


def test_cli_arguments(tmp_path):
    p = argparse.ArgumentParser()
    add_arguments(p)
    for action in p._actions:
        if action.dest != "help":
            assert action.help
    args = p.parse_args([str(tmp_path / "x"), "--scenario", "pan", "--size", "320x180", "--readout-ms", "15", "--lead-ms", "120", "--ois"])
    cfg = config_from_args(args)
    assert (cfg.width_px, cfg.height_px, cfg.readout_s, cfg.lead_s, cfg.ois) == (320, 180, 0.015, 0.12, True)
    for bad in ("320", "axb", "321x180", "10x10"):
        with pytest.raises(InputError):
            config_from_args(p.parse_args([str(tmp_path / "x"), "--size", bad]))
