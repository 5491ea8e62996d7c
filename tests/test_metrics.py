"""Video quality metrics: known answers on synthetic clips built in memory."""

from __future__ import annotations

import argparse
import io
import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from fusedstab.errors import InputError
from fusedstab.io.video import VideoInfo, VideoWriter
from fusedstab.measure import metrics as M

W, H, FPS = 320, 240, 30.0


def _texture(h: int = 900, w: int = 1200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w), np.float32)
    for s, a in [(2, 60), (6, 50), (20, 60)]:
        n = rng.normal(0, 1, (h // s + 2, w // s + 2)).astype(np.float32)
        img += a * cv2.resize(n, (w, h), interpolation=cv2.INTER_CUBIC)[:h, :w]
    img = cv2.GaussianBlur(img, (0, 0), 1.0) + 128
    return cv2.cvtColor(np.clip(img, 25, 230).astype(np.uint8), cv2.COLOR_GRAY2BGR)


TEX = _texture()


def _view(cx: float, cy: float, ang_deg: float = 0.0, zoom: float = 1.0, w: int = W, h: int = H) -> np.ndarray:
    """Frame of a camera looking at texture point (cx, cy), rotated by ang_deg, zoomed."""
    A = cv2.getRotationMatrix2D((cx, cy), ang_deg, zoom)
    A[0, 2] += (w - 1) / 2 - cx
    A[1, 2] += (h - 1) / 2 - cy
    return cv2.warpAffine(TEX, A, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def _steps(frames):
    return np.array([M.similarity_params(pm, W, H) for pm in M.iter_pair_motion(frames)], dtype=float)


def _write(path: Path, frames, fps: float = FPS) -> Path:
    n = len(frames)
    tb = Fraction(1, 15360)
    pts = (np.arange(n) * (15360 / fps)).astype(np.int64)
    info = VideoInfo(path, frames[0].shape[1], frames[0].shape[0], pts, tb, pts * float(tb), fps, "h264", "yuv420p", 0, False, None)
    with VideoWriter(path, info, frames[0].shape[1], frames[0].shape[0], crf=10, preset="ultrafast") as wr:
        for p, f in zip(pts, frames):
            wr.write(f, int(p))
    return path


def test_translation_jitter_matches_injected():
    rng = np.random.default_rng(1)
    n = 60
    px = 600 + np.arange(n) * 1.0 + rng.normal(0, 3, n)
    py = 450 + rng.normal(0, 2, n)
    got = M.high_pass_jitter(_steps([_view(px[k], py[k]) for k in range(n)]), FPS)
    truth = M.high_pass_jitter(np.column_stack([np.diff(px), np.diff(py), np.zeros(n - 1)]), FPS)
    assert truth["jitter_px"] > 2.0
    assert abs(got["jitter_px"] / truth["jitter_px"] - 1) < 0.10  # measured: 4.047 vs 4.040
    assert got["jitter_deg"] < 0.02


def test_rotation_jitter_matches_injected():
    rng = np.random.default_rng(2)
    n = 60
    ang = np.arange(n) * 0.05 + rng.normal(0, 0.5, n)
    got = M.high_pass_jitter(_steps([_view(600, 450, ang[k]) for k in range(n)]), FPS)
    truth = M.high_pass_jitter(np.column_stack([np.zeros((n - 1, 2)), np.diff(ang)]), FPS)
    assert abs(got["jitter_deg"] / truth["jitter_deg"] - 1) < 0.10  # measured: 0.533 vs 0.534
    assert got["jitter_px"] < 0.1


def test_steady_clip_is_stable():
    frames = [_view(600, 450)] * 20
    pms = list(M.iter_pair_motion(frames))
    st = M.stability_score([pm.H for pm in pms])
    assert st["stability"] > 0.99
    jit = M.high_pass_jitter(np.array([M.similarity_params(pm, W, H) for pm in pms]), FPS)
    assert jit["jitter_px"] < 0.01 and jit["jitter_deg"] < 0.001


def test_stability_orders_smooth_and_shaky_paths():
    n = 90
    t = np.arange(n)

    def hs(x):
        return [np.array([[1, 0, dx], [0, 1, 0], [0, 0, 1.0]]) for dx in np.diff(x, prepend=0.0)]

    base = 100 + 50 * np.sin(2 * np.pi * t / n)  # one slow cycle: all energy in bin 2
    smooth = M.stability_score(hs(base))["stability_translation"]
    shaky = M.stability_score(hs(base + np.random.default_rng(5).normal(0, 25, n)))["stability_translation"]
    assert smooth > 0.99 and shaky < 0.8  # measured: 1.000, 0.73


@pytest.mark.parametrize("ang,shift", [(0.0, (0, 0)), (3.0, (10, -10))])
def test_cropping_of_zoom_125(ang, shift):
    a = _view(600, 450)
    b = _view(600 + shift[0], 450 + shift[1], ang, 1.25)
    pm = M.match_frames(a, b)
    crop, dist = M.cropping_distortion(pm.H)
    assert abs(crop - 0.8) < 0.02  # measured: 0.799, 0.801
    assert dist > 0.98


def test_cropping_counts_smaller_output_frame_as_lost_view():
    a = _view(600, 450)
    b = a[24:-24, 32:-32]  # centre crop without resize: 80 % of the width kept
    pm = M.match_frames(a, b)
    crop, _ = M.cropping_distortion(pm.H, a.shape[1] / b.shape[1])
    assert abs(crop - 0.8) < 0.02


def test_undefined_share_counts_border_not_dark_content():
    f = _view(600, 450).copy()
    f[:, :10] = 0
    f[:, -10:] = 1
    f[:6, :] = 2
    f[100:140, 100:160] = 0  # dark scene content inside: not undefined
    expected = (2 * 10 * H + 6 * (W - 20)) / (W * H)
    assert abs(M.undefined_share(f) - expected) < 0.005
    assert M.undefined_share(_view(600, 450)) == 0.0


def test_rs_residual_global_shift_vs_jello():
    a = _view(600, 450)
    b = _view(603.4, 451.7)
    ga, gb = M.to_grey(a)[0], M.to_grey(b)[0]
    flat = M.rs_residual_px(M.track_pair(ga, gb))
    assert flat < 0.1  # measured: 0.04

    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    jb = cv2.remap(b, xx + 2.0 * np.sin(2 * np.pi * yy / H * 1.5), yy, cv2.INTER_CUBIC)
    jello = M.rs_residual_px(M.track_pair(ga, M.to_grey(jb)[0]))
    assert jello > 0.8 and jello > 10 * flat  # measured: 1.31


def test_smooth_rotations_keeps_constant_rate_and_removes_noise():
    from fusedstab.rotation import exp_so3

    n = 90
    rng = np.random.default_rng(3)
    rv = np.zeros((n, 3))
    rv[:, 1] = np.linspace(0, 0.5, n)
    clean = exp_so3(rv)
    noisy = exp_so3(rv + rng.normal(0, 0.002, (n, 3)))
    assert np.nanmax(M._angles_deg(M.smooth_rotations(clean, 15), clean)) < 1e-6  # ends included
    assert M._rms(M._angles_deg(M.smooth_rotations(noisy, 15), clean)) < 0.05


def test_evaluate_files_and_cli(tmp_path):
    rng = np.random.default_rng(4)
    n = 36
    px = 600 + np.arange(n) * 1.5 + rng.normal(0, 3, n)
    py = 450 + rng.normal(0, 3, n)
    orig = [_view(px[k], py[k]) for k in range(n)]
    stab = []
    for k in range(n):
        f = _view(600 + k * 1.5, 450, 0.0, 1.25).copy()
        f[:, :8] = 0
        f[:, -8:] = 0
        stab.append(f)
    o = _write(tmp_path / "orig.mp4", orig)
    s = _write(tmp_path / "stab.mp4", stab[:-1])  # one frame shorter: truncated to the shorter
    res = M.evaluate(o, s)
    json.dumps(res)
    assert res["frames"] == n - 1
    assert abs(res["cropping"] - 0.8) < 0.02
    assert abs(res["undefined_share_mean"] - 16 / W) < 0.005
    assert res["original_undefined_share_max"] == 0.0  # the original's baseline: no black at its edges
    assert res["jitter_ratio_px"] < 0.2
    assert res["stability"] > res["original_stability"]

    from rich.console import Console

    from fusedstab.cli import evaluate as E

    parser = argparse.ArgumentParser()
    E.add_arguments(parser)
    buf = io.StringIO()
    args = parser.parse_args([str(o), str(s), "--json", "--max-frames", "10"])
    assert E.run(args, Console(file=buf, width=120)) == 0
    assert json.loads(buf.getvalue())["frames"] == 10
    buf = io.StringIO()
    assert E.run(parser.parse_args([str(o), str(s), "--max-frames", "10"]), Console(file=buf, width=120)) == 0
    assert "stability" in buf.getvalue().lower()
    with pytest.raises(InputError):
        E.run(parser.parse_args([str(o), str(tmp_path / "missing.mp4")]), Console(file=buf))
    with pytest.raises(InputError):
        E.run(parser.parse_args([str(o), str(s), "--truth", str(tmp_path / "x.truth.npz")]), Console(file=buf))


def test_truth_unstabilized_clip_against_itself(tmp_path):
    sim = pytest.importorskip("fusedstab.measure.simulate")
    cfg = sim.SimConfig(scenario="walk", width_px=320, height_px=180, duration_s=1.5, readout_s=0.02, lens="fisheye", seed=1)
    r = sim.simulate(tmp_path / "w", cfg)
    res = M.evaluate(r.video, r.video, r.truth)
    assert res["truth_frames_fitted"] == res["frames"]
    assert res["truth_input_jitter_deg"] > 0.2
    # output == input: the fitted output orientations carry the input's jitter
    assert abs(res["truth_output_jitter_deg"] / res["truth_input_jitter_deg"] - 1) < 0.10  # measured: ~2 %
    assert res["truth_fit_rms_deg"] < 0.3  # pinhole model of a mild fisheye: ~0.17 deg
    assert res["jitter_ratio_px"] == pytest.approx(1.0)
