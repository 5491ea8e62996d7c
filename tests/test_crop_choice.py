"""The crop budget chosen per clip when ``--fov-keep`` is not given (issue 10 / issue 8)."""

from __future__ import annotations

import pytest

from fusedstab.pipeline import CROP_SLACK, FOV_KEEP_CHOICES, choose_fov_keep


def test_wide_crop_kept_unless_a_tighter_one_is_clearly_steadier():
    # measured (predicted px): the simulated walk loses its steadiness at 0.96, the gimbal does not
    assert choose_fov_keep({0.96: 2.226, 0.92: 0.140, 0.88: 0.146}) == 0.92
    assert choose_fov_keep({0.96: 1.643, 0.92: 1.714, 0.88: 1.792}) == 0.96


def test_tighter_crop_only_while_it_buys_steadiness():
    # measured on the phone capture (predicted px): 0.92 -> 3.50, 0.88 -> 1.89 of 7.96
    assert choose_fov_keep({0.96: 4.36, 0.92: 3.50, 0.88: 1.89}) == 0.88
    # a clip where cropping more does not help (the video path on an EIS clip): keep the picture
    assert choose_fov_keep({0.96: 7.9, 0.92: 7.74, 0.88: 7.70}) == 0.96
    # within the slack of the steadiest: the wider one
    best = 2.0
    assert choose_fov_keep({0.96: CROP_SLACK * best * 0.99, 0.92: 1.5 * best, 0.88: best}) == 0.96
    assert choose_fov_keep({0.96: CROP_SLACK * best * 1.01, 0.92: 1.2 * best, 0.88: best}) == 0.92


def test_choices_and_constants_are_sane():
    assert 0.92 in FOV_KEEP_CHOICES and all(0.5 < f <= 1.0 for f in FOV_KEEP_CHOICES)
    assert CROP_SLACK >= 1.0
    with pytest.raises(ValueError):
        choose_fov_keep({})
