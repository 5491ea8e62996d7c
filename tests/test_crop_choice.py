"""The crop budget chosen per clip when ``--fov-keep`` is not given (issue 10 / issue 8)."""

from __future__ import annotations

import pytest

from fusedstab.pipeline import (
    CROP_SLACK,
    FOV_KEEP_CHOICES,
    FOV_KEEP_FIRST,
    SHAKE_LEFT_MAX,
    STEADY_FOV_KEEP_CHOICES,
    WIDER_FLOOR_PX,
    choose_fov_keep,
    nearly_as_steady,
)

# measured (predicted px at 0.98 / 0.96 / 0.94 / 0.92 / 0.88; input 7.63 and 20.0)
WALK = {0.98: 3.70, 0.96: 1.504, 0.94: 0.41, 0.92: 0.140, 0.88: 0.146}
RUN = {0.98: 15.78, 0.96: 11.60, 0.94: 8.10, 0.92: 5.64, 0.88: 2.89}


def test_auto_keeps_the_most_picture_that_halves_the_jitter():
    assert choose_fov_keep(WALK, 7.63) == 0.98  # 3.70 of 7.63 left
    assert choose_fov_keep(RUN, 20.0) == 0.94  # 0.96 leaves 58 %
    # exactly at the bound counts; just above it does not
    assert choose_fov_keep({0.98: SHAKE_LEFT_MAX * 10.0, 0.9: 1.0}, 10.0) == 0.98
    assert choose_fov_keep({0.98: SHAKE_LEFT_MAX * 10.0 * 1.01, 0.9: 1.0}, 10.0) == 0.9


def test_auto_falls_back_to_steady_where_no_budget_halves_the_jitter():
    # the video path on an EIS clip: cropping more barely helps; the widest within the slack
    out = {0.98: 7.97, 0.96: 7.50, 0.94: 7.00, 0.92: 6.54, 0.88: 5.94}
    assert choose_fov_keep(out, 8.38) == choose_fov_keep(out, policy="steady") == 0.94
    # no input estimate: steady
    assert choose_fov_keep(WALK, None) == choose_fov_keep(WALK, float("nan")) == 0.92


def test_steady_takes_a_tighter_crop_only_while_it_buys_steadiness():
    assert choose_fov_keep({0.96: 2.226, 0.92: 0.140, 0.88: 0.146}, policy="steady") == 0.92
    assert choose_fov_keep({0.96: 1.643, 0.92: 1.714, 0.88: 1.792}, policy="steady") == 0.96
    # measured on the phone capture (predicted px): 0.92 -> 3.50, 0.88 -> 1.89 of 7.96
    assert choose_fov_keep({0.96: 4.36, 0.92: 3.50, 0.88: 1.89}, 7.96, policy="steady") == 0.88
    best = 2.0
    assert choose_fov_keep({0.96: CROP_SLACK * best * 0.99, 0.92: 1.5 * best, 0.88: best}, policy="steady") == 0.96
    assert choose_fov_keep({0.96: CROP_SLACK * best * 1.01, 0.92: 1.2 * best, 0.88: best}, policy="steady") == 0.92


def test_a_wider_budget_than_the_first_must_be_nearly_as_steady():
    # measured (predicted px at the wider budget, at 0.98, input): a tripod at 1 (still a tenth
    # of a pixel); the in-camera EIS walk at 0.99 halves it but is 25x shakier than at 0.98; the
    # walk at 0.99 does not halve it
    assert nearly_as_steady(0.101, 0.012, 0.213)
    assert not nearly_as_steady(0.404, 0.0158, 1.058)
    assert not nearly_as_steady(5.39, 2.88, 7.61)
    # the slack and the floor
    assert nearly_as_steady(CROP_SLACK * 2.0 + WIDER_FLOOR_PX, 2.0, 100.0)
    assert not nearly_as_steady(CROP_SLACK * 2.0 + WIDER_FLOOR_PX + 0.01, 2.0, 100.0)
    assert not nearly_as_steady(2.0, 2.0, 3.9)  # within the slack, but leaves more than half


def test_choices_and_constants_are_sane():
    assert FOV_KEEP_CHOICES == tuple(sorted(FOV_KEEP_CHOICES, reverse=True))  # widest first
    assert FOV_KEEP_FIRST in FOV_KEEP_CHOICES and max(FOV_KEEP_CHOICES) == 1.0
    assert all(0.5 < f <= 1.0 for f in FOV_KEEP_CHOICES + STEADY_FOV_KEEP_CHOICES)
    assert 0.92 in STEADY_FOV_KEEP_CHOICES and 0.0 < SHAKE_LEFT_MAX < 1.0
    assert CROP_SLACK >= 1.0
    with pytest.raises(ValueError):
        choose_fov_keep({})
    with pytest.raises(ValueError):
        choose_fov_keep(WALK, 7.63, policy="widest")


def test_a_still_camera_keeps_nearly_all_of_its_picture(tmp_path):
    """A tripod (the simulator's still camera: tremor only, 30 ms readout): every budget halves
    what little shake there is at nearly the same steadiness, so the default keeps more than the
    0.98 the widest budget was until 2026-12-07 (the scan goes wider from :data:`FOV_KEEP_FIRST`
    while budgets halve the jitter and stay within the slack), still halving it, with no
    undefined pixel."""
    from conftest import assert_maps_inside

    from fusedstab.measure.metrics import evaluate
    from fusedstab.measure.simulate import SimConfig, simulate
    from fusedstab.pipeline import StabilizeOptions, stabilize

    prefix = tmp_path / "tripod"
    simulate(prefix, SimConfig(scenario="still", width_px=480, height_px=270, duration_s=2.0, readout_s=0.03,
                               seed=7))
    out = tmp_path / "tripod.stab.mp4"
    plans = []
    report = stabilize(f"{prefix}.mp4", out, StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json",
                                                              preset="ultrafast"), on_plan=plans.append)
    plan = plans[0]
    print(f"fov_keep {plan.fov_keep}, kept {report.fov_kept}, predicted {plan.predicted}")
    assert plan.fov_keep > FOV_KEEP_FIRST and report.fov_kept > FOV_KEEP_FIRST
    assert plan.predicted["output_px"] <= SHAKE_LEFT_MAX * plan.predicted["input_px"] + 1e-9
    assert_maps_inside(plan)
    assert evaluate(f"{prefix}.mp4", out)["undefined_share_max"] == 0.0
