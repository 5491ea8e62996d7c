"""The rotation helpers against SciPy's (the package's reference for the maps)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fusedstab.rotation import exp_so3, log_so3


@pytest.mark.parametrize("max_angle_rad", [1e-9, 1e-4, 0.1, 1.0, 2.49, 2.51, 3.0, np.pi - 1e-9])
def test_log_so3_inverts_exp_and_matches_scipy(max_angle_rad):
    """The closed form (below 2.5 rad) and SciPy's route (above) both give the rotation vector
    back within 1e-14 rad, from tremor-sized angles to a half turn."""
    rng = np.random.default_rng(7)
    axis = rng.normal(size=(5000, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    rotvec = axis * rng.uniform(0.0, 1.0, 5000)[:, None] * max_angle_rad
    R = exp_so3(rotvec)
    got = log_so3(R)
    assert np.abs(got - rotvec).max() < 1e-14 + 1e-13 * max_angle_rad
    assert np.abs(got - Rotation.from_matrix(R).as_rotvec()).max() < 1e-13
    assert log_so3(R.reshape(50, 100, 3, 3)).shape == (50, 100, 3)


def test_log_so3_identity_and_half_turns():
    assert np.array_equal(log_so3(np.tile(np.eye(3), (3, 1, 1))), np.zeros((3, 3)))
    half = np.pi * np.eye(3)
    got = log_so3(exp_so3(half))
    assert np.allclose(np.abs(got), half, atol=1e-12)  # +-pi about each axis is the same rotation
