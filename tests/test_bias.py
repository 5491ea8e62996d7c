"""Gyro bias the still-window estimate cannot see (the camera never rests) is found by the sync."""

from __future__ import annotations

import numpy as np

from fusedstab.measure.simulate import SimConfig, load_truth, simulate
from fusedstab.pipeline import StabilizeOptions, plan_stabilization
from fusedstab.rotation import log_so3


def test_residual_bias_from_video_removes_orientation_drift(tmp_path):
    prefix = tmp_path / "walk"
    true_bias = np.array([0.01, -0.006, 0.008])  # rad/s: 0.8 deg/s, a poor MEMS gyro
    simulate(prefix, SimConfig(scenario="walk", width_px=480, height_px=270, duration_s=3.0, readout_s=0.02,
                               lead_s=0.3, seed=3, gyro_bias_rad_s=tuple(true_bias)))
    truth = load_truth(f"{prefix}.truth.npz")
    base = dict(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json")
    auto = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(**base))
    assert auto.sync.reliable
    assert np.max(np.abs(np.asarray(auto.sync.gyro_bias_rad_s) - true_bias)) < 0.0015

    # orientation error of the integrated gyro relative to the first frame, at the last frame
    def drift_deg(plan):
        t = plan.planner.centre_time_s(plan.frame_times_s)
        E = np.swapaxes(truth.track.matrices_at(t), 1, 2) @ plan.planner.track.matrices_at(t)
        return float(np.degrees(np.linalg.norm(log_so3(E[0].T @ E[-1]))))

    given = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(**base, gyro_offset_ms=truth.gyro_offset_s * 1000, auto_sync=False))
    assert given.sync is None  # an explicit offset: no sync, so no video-based bias
    assert drift_deg(given) > 1.5  # ~0.8 deg/s for 2.9 s uncorrected
    assert drift_deg(auto) < 0.3
