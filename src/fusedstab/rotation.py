"""Rotations and quaternions.

Convention
----------
* Quaternions are stored **w, x, y, z** (scalar first) everywhere inside the package.
  SciPy uses x, y, z, w: conversion happens only in :func:`to_scipy` / :func:`from_scipy`.
* ``R_world_cam`` maps camera-frame vectors to world-frame vectors. The camera frame is
  OpenCV's: x right, y down, z forward.
* Body-frame angular velocity ``omega`` integrates as ``R(t + dt) = R(t) @ Exp(omega * dt)``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

__all__ = [
    "unit_vectors",
    "to_scipy",
    "from_scipy",
    "quat_to_matrix",
    "matrix_to_quat",
    "exp_so3",
    "log_so3",
    "quat_multiply",
    "quat_conjugate",
    "slerp_quats",
    "make_continuous",
    "kabsch",
]


def unit_vectors(v: np.ndarray) -> np.ndarray:
    """(..., 3) vectors scaled to unit length (rays to bearings)."""
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def to_scipy(q_wxyz: np.ndarray) -> Rotation:
    """Return a SciPy ``Rotation`` from quaternions of shape (..., 4), w-x-y-z."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    return Rotation.from_quat(np.concatenate([q[..., 1:], q[..., :1]], axis=-1))


def from_scipy(rot: Rotation) -> np.ndarray:
    """Return w-x-y-z quaternions of shape (N, 4) (or (4,)) from a SciPy ``Rotation``."""
    q = rot.as_quat()
    return np.concatenate([q[..., 3:], q[..., :3]], axis=-1)


def quat_to_matrix(q_wxyz: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from w-x-y-z quaternions (..., 4)."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    shape = q.shape[:-1]
    return to_scipy(q.reshape(-1, 4)).as_matrix().reshape(*shape, 3, 3)


def matrix_to_quat(R: np.ndarray) -> np.ndarray:
    """w-x-y-z quaternions (..., 4) from rotation matrices (..., 3, 3)."""
    R = np.asarray(R, dtype=np.float64)
    shape = R.shape[:-2]
    return from_scipy(Rotation.from_matrix(R.reshape(-1, 3, 3))).reshape(*shape, 4)


def exp_so3(rotvec: np.ndarray) -> np.ndarray:
    """Exponential map: rotation vectors (..., 3) [rad] to matrices (..., 3, 3)."""
    v = np.asarray(rotvec, dtype=np.float64)
    shape = v.shape[:-1]
    return Rotation.from_rotvec(v.reshape(-1, 3)).as_matrix().reshape(*shape, 3, 3)


#: above this angle [rad] :func:`log_so3` takes SciPy's quaternion route (the closed form's
#: axis, from the skew part ``2 sin(angle) axis``, loses accuracy as the angle nears pi)
_LOG_CLOSED_FORM_MAX_RAD = 2.5


def log_so3(R: np.ndarray) -> np.ndarray:
    """Logarithm map: rotation matrices (..., 3, 3) to rotation vectors (..., 3) [rad].

    Closed form ``angle = atan2(|s| / 2, (tr R - 1) / 2)``, ``rotvec = angle s / |s|`` with
    ``s = (R21 - R12, R02 - R20, R10 - R01)`` for angles up to 2.5 rad (about 9x faster than
    SciPy's ``from_matrix().as_rotvec()`` and equal to it within 2e-15 rad on rotation
    matrices); SciPy's route for the rest.
    """
    R = np.asarray(R, dtype=np.float64)
    shape = R.shape[:-2]
    M = R.reshape(-1, 3, 3)
    s = np.stack([M[:, 2, 1] - M[:, 1, 2], M[:, 0, 2] - M[:, 2, 0], M[:, 1, 0] - M[:, 0, 1]], axis=-1)
    sn = np.sqrt(np.einsum("ni,ni->n", s, s))
    angle = np.arctan2(0.5 * sn, 0.5 * (M[:, 0, 0] + M[:, 1, 1] + M[:, 2, 2] - 1.0))
    small = sn < 1e-12
    k = np.where(small, 0.5, angle / np.where(small, 1.0, sn))
    out = s * k[:, None]
    far = angle > _LOG_CLOSED_FORM_MAX_RAD
    if np.any(far):
        out[far] = Rotation.from_matrix(M[far]).as_rotvec()
    return out.reshape(*shape, 3)


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a ⊗ b`` of w-x-y-z quaternions, broadcasting over (..., 4)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    """Conjugate (inverse for unit quaternions) of w-x-y-z quaternions (..., 4)."""
    q = np.array(q, dtype=np.float64, copy=True)
    q[..., 1:] *= -1.0
    return q


def make_continuous(q_wxyz: np.ndarray) -> np.ndarray:
    """Flip signs so consecutive quaternions (N, 4) lie in the same hemisphere."""
    q = np.array(q_wxyz, dtype=np.float64, copy=True)
    if len(q) < 2:
        return q
    dots = np.einsum("ij,ij->i", q[1:], q[:-1])
    flips = np.concatenate([[1.0], np.cumprod(np.where(dots < 0, -1.0, 1.0))])
    return q * flips[:, None]


def slerp_quats(times_s: np.ndarray, q_wxyz: np.ndarray, query_s: np.ndarray) -> np.ndarray:
    """Spherical interpolation of a quaternion track.

    Parameters
    ----------
    times_s : (N,) strictly increasing sample times [s].
    q_wxyz : (N, 4) unit quaternions, w-x-y-z.
    query_s : (...) query times [s]; clamped to ``[times_s[0], times_s[-1]]``.

    Returns
    -------
    (..., 4) w-x-y-z quaternions.
    """
    query = np.asarray(query_s, dtype=np.float64)
    t = np.asarray(times_s, dtype=np.float64)
    flat = np.clip(query.reshape(-1), t[0], t[-1])
    out = from_scipy(Slerp(t, to_scipy(q_wxyz))(flat))
    return out.reshape(*query.shape, 4)


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) minimizing ``sum |R @ src_i - dst_i|^2`` (Kabsch / Wahba, proper).

    ``src``, ``dst`` are (n, 3) direction vectors (unit rays) in the two frames; ``R`` maps
    the first frame's vectors into the second's.
    """
    U, _, Vt = np.linalg.svd(np.asarray(src, dtype=np.float64).T @ np.asarray(dst, dtype=np.float64))
    d = np.sign(np.linalg.det(Vt.T @ U.T)) or 1.0
    return Vt.T @ np.diag([1.0, 1.0, d]) @ U.T
