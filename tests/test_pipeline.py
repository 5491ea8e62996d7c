"""Issue 2's end-to-end judgement: simulated truth and a real camera file."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import assert_maps_inside

from fusedstab.filtering.gaussian import gaussian_smooth_orientations
from fusedstab.io.video import iter_frames, probe_video
from fusedstab.measure.metrics import evaluate, undefined_share
from fusedstab.measure.simulate import SimConfig, load_truth, simulate
from fusedstab.pipeline import StabilizeOptions, plan_stabilization, stabilize
from fusedstab.rotation import log_so3


def hf_rms_deg(R: np.ndarray, t: np.ndarray, sigma_s: float = 0.5) -> float:
    """RMS angle between an orientation path and its own Gaussian smoothing [deg]."""
    S = gaussian_smooth_orientations(R, t, sigma_s)
    return float(np.degrees(np.sqrt(np.mean(np.sum(log_so3(np.swapaxes(S, 1, 2) @ R) ** 2, -1)))))


@pytest.fixture(scope="module")
def walk_clip(tmp_path_factory):
    """A 640x360 global-shutter walk with a gyro log that starts 250 ms before the video."""
    d = tmp_path_factory.mktemp("walk")
    prefix = d / "walk"
    simulate(prefix, SimConfig(scenario="walk", duration_s=3.0, lead_s=0.25, seed=3))
    return prefix


@pytest.fixture(scope="module")
def walk_result(walk_clip, tmp_path_factory):
    """The walk stabilized once; the plan it rendered comes with it (``on_plan``: not planned twice).

    x264 preset ultrafast: these tests judge frames, timestamps, the warp and the tracked jitter,
    not the encoder's quality. ``--fov-keep steady``: the bounds below judge how well the motion
    is removed where the crop leaves room (the default crop policy: ``test_default_crop_policy``).
    """
    out = tmp_path_factory.mktemp("out") / "walk.stab.mp4"
    truth = load_truth(f"{walk_clip}.truth.npz")
    opts = StabilizeOptions(
        gyro=f"{walk_clip}.gcsv", lens=f"{walk_clip}.lens.json", gyro_offset_ms=truth.gyro_offset_s * 1000.0,
        preset="ultrafast", fov_keep="steady",
    )
    plans = []
    report = stabilize(f"{walk_clip}.mp4", out, opts, on_plan=plans.append)
    return out, report, plans[0], truth


def test_output_keeps_frames_and_timestamps(walk_clip, walk_result):
    out, report, _, _ = walk_result
    src, dst = probe_video(f"{walk_clip}.mp4"), probe_video(out)
    assert dst.frame_count == src.frame_count == report.frames
    assert np.array_equal(dst.pts - dst.pts[0], src.pts - src.pts[0])
    assert (dst.width_px, dst.height_px) == (src.width_px, src.height_px)


def test_high_frequency_motion_reduced_against_truth(walk_clip, walk_result):
    """Output orientation as the pixels show it: R_true(t) R_est(t)^T V (pure rotation)."""
    _, _, plan, truth = walk_result  # the plan stabilize() rendered
    tc = plan.planner.centre_time_s(plan.frame_times_s)
    R_true = truth.track.matrices_at(tc)
    R_est = plan.planner.track.matrices_at(tc)
    shown = R_true @ np.swapaxes(R_est, 1, 2) @ plan.R_virt
    assert_maps_inside(plan)
    ratio = hf_rms_deg(shown, tc) / hf_rms_deg(R_true, tc)
    assert ratio <= 0.20, f"residual high-frequency rotation is {ratio:.1%} of the input's"
    assert 1.0 / plan.zoom >= 0.80  # at least 80 % of the width kept


def test_measured_jitter_and_borders(walk_clip, walk_result):
    """The same judgement from the pixels alone: tracked jitter and undefined pixels."""
    out, report, _, _ = walk_result
    m = evaluate(f"{walk_clip}.mp4", out)
    assert m["jitter_px"] <= 0.20 * m["original_jitter_px"], m
    assert m["undefined_share_max"] == 0.0
    assert report.fov_kept >= 0.80


def test_default_crop_policy(walk_clip, walk_result, tmp_path):
    """The default crop (``--fov-keep auto``) keeps the most picture whose plan leaves at most half
    of the input's jitter: more picture than ``steady`` on a walk, half the shake gone as measured
    from the pixels, no undefined pixel."""
    from fusedstab.pipeline import (
        AUTO_SMOOTHNESS_S,
        FOV_KEEP_CHOICES,
        SHAKE_LEFT_MAX,
        plan_stabilization,
    )

    _, steady_report, steady_plan, truth = walk_result
    out = tmp_path / "walk.auto.mp4"
    plans = []
    report = stabilize(f"{walk_clip}.mp4", out, StabilizeOptions(
        gyro=f"{walk_clip}.gcsv", lens=f"{walk_clip}.lens.json", gyro_offset_ms=truth.gyro_offset_s * 1000.0,
        preset="ultrafast"), on_plan=plans.append)
    plan = plans[0]
    print(f"auto: fov_keep {plan.fov_keep}, predicted {plan.predicted}; steady: {steady_plan.fov_keep}, "
          f"{steady_plan.predicted}")
    assert min(FOV_KEEP_CHOICES) <= plan.fov_keep <= max(FOV_KEEP_CHOICES) and plan.fov_keep > steady_plan.fov_keep
    assert report.fov_kept > steady_report.fov_kept
    assert plan.predicted["output_px"] <= SHAKE_LEFT_MAX * plan.predicted["input_px"] + 1e-9
    # the next wider budget tried, planned as the choice tried it (first sigma, plain smoothing,
    # no residual), leaves more than half
    for f in [f for f in FOV_KEEP_CHOICES if f > plan.fov_keep][-1:]:
        wide = plan_stabilization(f"{walk_clip}.mp4", StabilizeOptions(
            gyro=f"{walk_clip}.gcsv", lens=f"{walk_clip}.lens.json", gyro_offset_ms=truth.gyro_offset_s * 1000.0,
            fov_keep=f, smoothness_s=AUTO_SMOOTHNESS_S[0], residual="off", intent=False))
        assert wide.predicted["output_px"] > SHAKE_LEFT_MAX * wide.predicted["input_px"], (f, wide.predicted)
    assert_maps_inside(plan)
    m = evaluate(f"{walk_clip}.mp4", out)
    print({k: m[k] for k in ("jitter_px", "original_jitter_px", "cropping", "undefined_share_max")})
    # measured from the pixels (the prediction reads tracks through the same warps): within 10 %
    assert m["jitter_px"] <= 1.1 * SHAKE_LEFT_MAX * m["original_jitter_px"], m
    assert m["undefined_share_max"] == 0.0


def test_no_undefined_pixels_on_big_turn(tmp_path):
    """A 90 degree turn with a tight zoom limit: the filter must pull back, never show black."""
    prefix = tmp_path / "turn"
    simulate(prefix, SimConfig(scenario="turn", duration_s=3.0, width_px=320, height_px=180, seed=1, shake_scale=2.0))
    out = tmp_path / "turn.stab.mp4"
    opts = StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json", smoothness_s=1.5, max_zoom=1.05,
                            preset="ultrafast")  # the warp is judged, not the encoder
    plans = []
    rep = stabilize(f"{prefix}.mp4", out, opts, on_plan=plans.append)
    assert rep.zoom <= 1.05 + 1e-3
    plan = plans[0]  # the plan that was rendered
    # the limit was binding: the filter had to follow the turn, inside the crop corridor's room
    # (kept here: as steady in pixels, steadier in rotation) or by the pull-back without it
    assert plan.corridor and plan.predicted["output_px"] <= plan.predicted_plain["output_px"]
    assert_maps_inside(plan)
    pulled = plan_stabilization(f"{prefix}.mp4", replace(opts, corridor=False))
    assert pulled.crop.pullback.max() > 0.1 and pulled.zoom <= 1.05 + 1e-3
    assert_maps_inside(pulled)
    worst = max(undefined_share(f) for _, f in iter_frames(out))
    assert worst < 1e-4  # black pixels would come in whole border rows; allow codec noise only


def test_phone_capture_variable_frame_rate_end_to_end(shared_data, tmp_path):
    """A VFR phone clip with a plain-text gyro log on its own clock: pts kept, motion reduced."""
    from fusedstab.camera import CameraModel
    from fusedstab.io.lens import write_lens_profile

    d = shared_data / "phone_cc9pro_ois_off"
    lens = write_lens_profile(tmp_path / "phone.json", CameraModel(800, 600, 573.85, 575.04, 406.01, 309.01))
    out = tmp_path / "phone.stab.mp4"
    rep = stabilize(d / "frames_099-150.mp4", out, StabilizeOptions(
        gyro=d / "gyro.txt", gyro_columns="x,y,z,t", frame_timestamps=d / "framestamp.txt", first_frame=99,
        imu_orientation="auto", lens=lens, preset="ultrafast"))  # pts and motion are judged, not the encoder
    a, b = probe_video(d / "frames_099-150.mp4"), probe_video(out)
    assert np.array_equal(a.pts, b.pts)
    assert len(set(np.diff(a.pts))) > 1  # the source really is variable frame rate
    assert rep.offset_source.startswith("auto-sync") and rep.imu_orientation == "yxz"
    m = evaluate(d / "frames_099-150.mp4", out)
    assert m["jitter_px"] < 0.7 * m["original_jitter_px"]
