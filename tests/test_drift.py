"""Clock drift between a gyro logger and the camera: several sync points, linear fit, corrected."""

from __future__ import annotations

import numpy as np
import pytest

from fusedstab.filtering.crop import DEFAULT_FOV_KEEP
from fusedstab.measure.simulate import SimConfig, load_truth, simulate
from fusedstab.pipeline import (
    DEFAULT_SMOOTHNESS_S,
    StabilizeOptions,
    plan_stabilization,
)
from fusedstab.types import ClockMap

#: the assertions here are on stage 1 (sync, camera, clock), which is settled before any smoothing:
#: one smoothing (the default sigma) instead of the automatic choice among AUTO_SMOOTHNESS_S
#: (three stage-2 runs whose result nothing here looks at)
STAGE1 = dict(smoothness_s=DEFAULT_SMOOTHNESS_S, fov_keep=DEFAULT_FOV_KEEP)  # one stage-2 run


def test_clock_map_inverts_linear_offset():
    clock = ClockMap(offset_s=-0.3, drift=200e-6, mid_s=5.0)
    t_log = np.array([0.0, 4.0, 11.0])
    tv = clock(t_log)
    assert np.allclose(tv - t_log, -0.3 + 200e-6 * (tv - 5.0), atol=1e-12)
    assert np.allclose(ClockMap(0.25)(t_log), t_log + 0.25)


@pytest.mark.slow
def test_drifting_log_is_corrected(tmp_path):
    prefix = tmp_path / "long"
    simulate(prefix, SimConfig(scenario="walk", width_px=320, height_px=180, duration_s=10.0, lead_s=0.3,
                               seed=7, shake_scale=1.5))
    truth = load_truth(f"{prefix}.truth.npz")
    drift = 400e-6  # the logger's clock runs 400 ppm fast: 4 ms over the clip
    lines = open(f"{prefix}.gcsv").read().splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("t,")) + 1
    rows = []
    for line in lines[head:]:
        t, rest = line.split(",", 1)
        rows.append(f"{round(int(t) * (1.0 + drift))},{rest}")
    (tmp_path / "drift.gcsv").write_text("\n".join(lines[:head] + rows) + "\n")
    plan = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=tmp_path / "drift.gcsv", lens=f"{prefix}.lens.json",
                                                                **STAGE1))
    assert plan.sync is not None and plan.sync.reliable
    assert plan.sync.drift_ppm == pytest.approx(-drift * 1e6 / (1 + drift), abs=120)
    # where the logger's samples land on the video clock, against the truth, over the whole clip
    t_log = np.array([0.5, 5.0, 9.5]) * (1.0 + drift) + truth.params["lead_s"] * (1.0 + drift)
    t_true = t_log / (1.0 + drift) - truth.params["lead_s"]
    mapped = plan.clock(t_log)
    assert np.max(np.abs(mapped - t_true)) < 1e-3, mapped - t_true


def test_long_clips_sync_on_a_bounded_number_of_seeked_windows(tmp_path):
    from fusedstab.analysis.sync import sync_windows, track_frame_pairs

    assert len(sync_windows(600.0)) == 12  # a 10-minute clip: 12 windows, not 150
    w = sync_windows(10.0)
    assert len(w) == 3 and w[0][0] == 0.0 and w[-1][1] == pytest.approx(10.0)
    prefix = tmp_path / "ten"
    simulate(prefix, SimConfig(scenario="walk", width_px=192, height_px=108, duration_s=10.0, seed=2))
    pairs = track_frame_pairs(f"{prefix}.mp4", windows=w)
    assert pairs.frames_decoded <= 3 * 61 + 3  # only the windows' frames are decoded (seeking)
    inside = [any(a - 1e-6 <= t <= b + 1e-6 for a, b in w) for t in pairs.t_a]
    assert all(inside) and pairs.n_pairs >= 3 * 55
