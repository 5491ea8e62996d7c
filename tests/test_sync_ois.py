"""With OIS the picture does not follow the gyro alone: the sync must use the lens-motion log."""

from __future__ import annotations

import pytest

from fusedstab.filtering.crop import DEFAULT_FOV_KEEP
from fusedstab.measure.simulate import SimConfig, load_truth, simulate
from fusedstab.pipeline import (
    DEFAULT_SMOOTHNESS_S,
    StabilizeOptions,
    plan_stabilization,
)

#: the assertions here are on stage 1 (sync, camera, clock), which is settled before any smoothing:
#: one smoothing (the default sigma) instead of the automatic choice among AUTO_SMOOTHNESS_S
#: (three stage-2 runs whose result nothing here looks at)
STAGE1 = dict(smoothness_s=DEFAULT_SMOOTHNESS_S, fov_keep=DEFAULT_FOV_KEEP)  # one stage-2 run


def test_sync_with_ois_and_breathing(tmp_path):
    prefix = tmp_path / "ois"
    simulate(prefix, SimConfig(scenario="run", lens="fisheye", width_px=480, height_px=270, duration_s=3.0,
                               readout_s=0.02, ois=True, focus_breathing=True, lead_s=0.4, seed=8))
    truth = load_truth(f"{prefix}.truth.npz")
    plan = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(lens=f"{prefix}.lens.json", **STAGE1))  # .gcsv, .lens.csv found
    assert plan.lens_motion is not None
    assert plan.sync.reliable, plan.sync.message
    assert plan.offset_s == pytest.approx(truth.gyro_offset_s, abs=1e-3)
    # without the lens log the same clip cannot be synced reliably (the test can fail)
    blind = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(lens=f"{prefix}.lens.json", use_lens_motion=False,
                                                                **STAGE1))
    assert not blind.sync.reliable or abs(blind.offset_s - truth.gyro_offset_s) > 1e-3
