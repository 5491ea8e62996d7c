"""Stage 1: gyro integration to camera orientation.

``R_world_cam(t_{k+1}) = R_world_cam(t_k) @ Exp(w_mid * dt)`` with ``w_mid`` the mean of the
two samples (trapezoid rule) and the world frame defined as the camera at the first sample.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from ..rotation import from_scipy
from ..types import ImuSamples, OrientationTrack

__all__ = ["integrate_gyro", "estimate_gyro_bias"]


def estimate_gyro_bias(
    samples: ImuSamples, *, window_s: float = 0.5, still_rad_s: float = 0.01
) -> np.ndarray:
    """Gyro bias [rad/s] (3,) from the stillest window, or zeros when the camera never rests.

    The mean over a window counts as bias only if the samples in it scatter less than
    ``still_rad_s`` (a camera at rest); otherwise a handheld clip's real motion would be
    mistaken for bias. A constant residual bias is harmless downstream: it adds a constant
    angular velocity, which the smoothing filter follows.
    """
    t, g = samples.times_s, samples.gyro_rad_s
    n = len(t)
    rate = samples.rate_hz
    w = int(max(8, round(window_s * rate))) if rate > 0 else 8
    if n < 2 * w:
        return np.zeros(3)
    c = np.cumsum(np.vstack([np.zeros((1, 3)), g]), axis=0)
    c2 = np.cumsum(np.vstack([np.zeros((1, 3)), g * g]), axis=0)
    mean = (c[w:] - c[:-w]) / w
    var = np.maximum((c2[w:] - c2[:-w]) / w - mean**2, 0.0)
    spread = np.sqrt(var.sum(axis=1))
    i = int(np.argmin(spread))
    if spread[i] > still_rad_s:
        return np.zeros(3)
    return mean[i]


def integrate_gyro(samples: ImuSamples, *, bias_rad_s: np.ndarray | None = None) -> OrientationTrack:
    """Integrate body angular velocity to ``R_world_cam``.

    Parameters
    ----------
    samples : gyro in camera axes [rad/s], times [s].
    bias_rad_s : (3,) constant bias to subtract (default: none).

    Returns
    -------
    OrientationTrack on the same times, identity at the first sample.
    """
    t = samples.times_s
    g = samples.gyro_rad_s - (np.zeros(3) if bias_rad_s is None else np.asarray(bias_rad_s))
    dt = np.diff(t)
    w_mid = 0.5 * (g[1:] + g[:-1])
    steps = Rotation.from_rotvec(w_mid * dt[:, None])
    q = np.empty((len(t), 4))
    q[0] = [1.0, 0.0, 0.0, 0.0]
    step_q = from_scipy(steps)
    # SciPy has no cumulative compose; a plain loop over quaternions is fast enough (~1 us/sample)
    sw, sx, sy, sz = step_q[:, 0], step_q[:, 1], step_q[:, 2], step_q[:, 3]
    aw, ax, ay, az = 1.0, 0.0, 0.0, 0.0
    for k in range(len(dt)):
        bw, bx, by, bz = sw[k], sx[k], sy[k], sz[k]
        aw, ax, ay, az = (
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        )
        if k % 256 == 255:
            nrm = (aw * aw + ax * ax + ay * ay + az * az) ** 0.5
            aw, ax, ay, az = aw / nrm, ax / nrm, ay / nrm, az / nrm
        q[k + 1] = (aw, ax, ay, az)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return OrientationTrack(t, q)
