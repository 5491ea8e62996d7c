"""Without a lens profile the focal length is a guess: the sync estimates it from the video."""

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


@pytest.mark.parametrize("scenario, hfov_deg", [("pan", 60.0), ("walk", 90.0)])
def test_focal_length_estimated_when_no_lens_given(tmp_path, scenario, hfov_deg):
    prefix = tmp_path / scenario
    simulate(prefix, SimConfig(scenario=scenario, width_px=480, height_px=270, duration_s=2.5, readout_s=0.02,
                               lead_s=0.3, seed=3, hfov_deg=hfov_deg))
    truth = load_truth(f"{prefix}.truth.npz")
    plan = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=f"{prefix}.gcsv", **STAGE1))  # no --lens, no --fov
    assert plan.sync.reliable
    assert plan.camera.hfov_deg() == pytest.approx(hfov_deg, abs=2.0)
    assert plan.offset_s == pytest.approx(truth.gyro_offset_s, abs=1e-3)
    assert plan.readout_s == pytest.approx(0.020, abs=2e-3)
    # an explicit --fov is taken as given
    fixed = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=f"{prefix}.gcsv", fov_deg=75.0, **STAGE1))
    assert fixed.camera.hfov_deg() == pytest.approx(75.0, abs=0.3)
