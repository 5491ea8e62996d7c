"""The crop budget chosen per clip when ``--fov-keep`` is not given (issue 10 / issue 8)."""

from __future__ import annotations

import pytest

from fusedstab.pipeline import (
    CROP_SLACK,
    FOV_KEEP_CHOICES,
    SHAKE_LEFT_MAX,
    STEADY_FOV_KEEP_CHOICES,
    choose_fov_keep,
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


def test_choices_and_constants_are_sane():
    assert FOV_KEEP_CHOICES == tuple(sorted(FOV_KEEP_CHOICES, reverse=True))  # tried widest first
    assert all(0.5 < f <= 1.0 for f in FOV_KEEP_CHOICES + STEADY_FOV_KEEP_CHOICES)
    assert 0.92 in STEADY_FOV_KEEP_CHOICES and 0.0 < SHAKE_LEFT_MAX < 1.0
    assert CROP_SLACK >= 1.0
    with pytest.raises(ValueError):
        choose_fov_keep({})
    with pytest.raises(ValueError):
        choose_fov_keep(WALK, 7.63, policy="widest")
