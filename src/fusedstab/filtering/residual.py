"""Hybrid residual: the high-frequency image motion the camera's rotation track does not explain.

A gyro sees rotation only. What moves the picture besides rotation (a car's bumps and a
drone's vibration translate the camera; near objects add parallax; a gyro with a small scale
or timing error leaves part of the rotation) shows up in the video's own motion: per frame
pair, the rotation that best explains the tracks (:mod:`fusedstab.analysis.video_motion`)
includes that motion as an *apparent* rotation. Its difference from the track's rotation over
the same pair,

    delta_k = omega_video_k * (t_b - t_a) - log(R_a^T R_b)        (camera axes, rad),

summed over the clip is the residual path ``phi_i``; its high-frequency part (``phi`` minus
its Gaussian smoothing) is what the output would still shake by. The picture was made by the
*apparent* camera ``A_i = R_i exp(phi_i)`` while the warp maps output rays through ``R_i``, so
output ray ``u`` shows the scene along ``V_i u`` turned by ``phi_i`` (small angles: the
content moves with ``V + phi``). The virtual camera is turned against the residual's shake,
``V_i <- V_i exp(-hf(phi_i))``, so the output moves with ``V + lowpass(phi)``: the residual's
slow part stays (it is real motion of the camera's position), its shake goes. The
crop's pull-back then keeps every frame inside the source as before (the correction costs
crop room, so it is bounded by the budget like everything else).

Only the pan and tilt axes (x, y) are used: a translation of the picture shows as an apparent
pan or tilt, while the video's roll estimate is the noisiest of the three (measured: with the
roll included the output's roll jitter rose 0.045 -> 0.067 deg on the Karma clip and 0.002 ->
0.008 deg on a simulated walk, whose rotation the gyro knows exactly). Pairs the video tracks
poorly (confidence below ``min_confidence``) contribute nothing, and each step is clipped to
``max_step_rad``: a cut or a tracking failure must not become a jump.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..rotation import exp_so3, log_so3

__all__ = ["residual_path", "apply_residual"]

#: the residual's high-frequency part is taken against a Gaussian of this sigma [s]
DEFAULT_RESIDUAL_SIGMA_S = 0.5


def residual_path(video_motion, R_world_cam: np.ndarray, frame_times_s: np.ndarray, *,
                  min_confidence: float = 0.3, max_step_rad: float = 0.01) -> np.ndarray:
    """The residual path ``phi`` (see the module docstring).

    Parameters
    ----------
    video_motion : :class:`~fusedstab.analysis.video_motion.VideoMotion` of the clip's
        consecutive frame pairs.
    R_world_cam : (N, 3, 3) the track's camera orientation at each frame's centre-row time.
    frame_times_s : (N,) frame times (only the count and spacing are used).
    min_confidence : pairs below this video confidence contribute nothing.
    max_step_rad : each pair's residual is clipped to this length [rad].

    Returns
    -------
    (N, 3) cumulative residual rotation vector per frame, camera axes [rad], ``phi[0] = 0``;
    its roll (z) is 0.
    """
    n = len(frame_times_s)
    delta = np.zeros((n, 3))
    vm = video_motion
    a = np.asarray(vm.frame_a, dtype=np.int64)
    ok = (a >= 0) & (a + 1 < n) & (vm.confidence >= min_confidence) & np.all(np.isfinite(vm.omega_rad_s), axis=1)
    a = a[ok]
    if len(a):
        video = vm.omega_rad_s[ok] * (vm.t_b[ok] - vm.t_a[ok])[:, None]
        track = log_so3(np.swapaxes(R_world_cam[a], 1, 2) @ R_world_cam[a + 1])
        d = video - track
        d[:, 2] = 0.0  # pan and tilt only (see the module docstring)
        norm = np.linalg.norm(d, axis=1, keepdims=True)
        d = np.where(norm > max_step_rad, d * (max_step_rad / np.maximum(norm, 1e-300)), d)
        delta[a + 1] = d
    return np.cumsum(delta, axis=0)


def apply_residual(R_world_virt: np.ndarray, phi: np.ndarray, frame_times_s: np.ndarray,
                   sigma_s: float = DEFAULT_RESIDUAL_SIGMA_S) -> tuple[np.ndarray, np.ndarray]:
    """The virtual camera turned by the residual's high-frequency part.

    Parameters
    ----------
    R_world_virt : (N, 3, 3) smoothed virtual orientation.
    phi : (N, 3) residual path from :func:`residual_path` [rad].
    frame_times_s : (N,) frame times [s].
    sigma_s : Gaussian sigma of the residual's low-pass [s].

    Returns
    -------
    (R_world_virt', hf) with ``R_world_virt'[i] = R_world_virt[i] exp(-hf[i])``; ``hf`` (N, 3) [rad].
    """
    t = np.asarray(frame_times_s, dtype=np.float64)
    if len(t) < 3:
        return np.array(R_world_virt, copy=True), np.zeros_like(phi)
    period = float(np.median(np.diff(t)))
    hf = phi - gaussian_filter1d(phi, sigma=max(sigma_s / period, 1e-6), axis=0, mode="nearest")
    return R_world_virt @ exp_so3(-hf), hf
