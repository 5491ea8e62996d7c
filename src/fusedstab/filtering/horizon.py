"""Horizon lock: hold the virtual camera's roll about its optical axis level.

Gravity comes from the accelerometer fused with the gyro by VQF (Laidig and Seel, "VQF:
Highly accurate IMU orientation estimation with bias estimation and magnetic disturbance
rejection", Information Fusion 2023; the ``vqf`` package, 6D mode, causal), run in the
camera frame, so its estimate of the *up* direction in the camera, ``u_cam(t)``, is free of
the gyro's long-term drift. The relative rotation between the real and the virtual camera
(what the warp applies) comes from the gyro track, so the up direction as the output camera
sees it is ``u_v = V_i^T R_i u_cam(t_i)``.

The output's roll is ``phi_i = atan2(u_v.x, -u_v.y) - q`` (0 when up points along the image's
-y axis turned by ``q``, i.e. the horizon is level); the virtual camera is turned about its optical axis,
``V_i <- V_i Rz(c_i)``, with ``c_i = phi_i`` (full lock) or ``c_i`` following ``phi_i`` at
most ``max_rate_deg_s`` per second (a slew-rate limit, run forward and backward offline and
averaged, forward only online).

``q`` is the quarter turn the clip is held at (:func:`upright_quarter_deg`): 0 for a camera
held upright, +-90 for a phone held in portrait (its frames stored sideways, with a display
rotation that players apply), 180 for a camera upside down. Level means the horizon as the
clip is shown, so the correction stays within the camera's tilt from that quarter; leveling the
stored frame instead would turn a portrait clip a quarter turn, which no crop can show.

Conventions: camera x right, y down, z forward; ``R`` is ``R_world_cam``; accelerometer values
are specific force (at rest they point *up*), any unit (they are rescaled to 9.81 m/s^2 by
their median norm).
"""

from __future__ import annotations

import numpy as np

from ..types import ImuSamples

__all__ = ["gravity_up_in_camera", "upright_quarter_deg", "roll_deg", "roll_correction", "level_roll", "level_target",
           "rz"]

_G = 9.80665


def rz(angle_rad) -> np.ndarray:
    """Rotation(s) about the camera's z (optical) axis, (..., 3, 3)."""
    a = np.asarray(angle_rad, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    out = np.zeros(a.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 1] = c, -s
    out[..., 1, 0], out[..., 1, 1] = s, c
    out[..., 2, 2] = 1.0
    return out


def gravity_up_in_camera(imu: ImuSamples, t_query_s: np.ndarray, *, bias_rad_s=None,
                         tau_acc_s: float = 3.0) -> np.ndarray | None:
    """Unit up direction in the camera frame at ``t_query_s`` (N, 3), or None without accelerometer.

    ``imu`` is on the video clock (camera axes). ``bias_rad_s`` (3,) is subtracted from the gyro
    first (VQF also estimates what is left). The samples are resampled to their median rate.
    """
    if imu.accel_m_s2 is None or len(imu.accel_m_s2) != len(imu.times_s) or len(imu.times_s) < 10:
        return None
    from vqf import VQF

    t = np.asarray(imu.times_s, dtype=np.float64)
    g = np.asarray(imu.gyro_rad_s, dtype=np.float64)
    a = np.asarray(imu.accel_m_s2, dtype=np.float64)
    good = np.isfinite(a).all(axis=1) & np.isfinite(g).all(axis=1)
    t, g, a = t[good], g[good], a[good]
    if len(t) < 10:
        return None
    if bias_rad_s is not None:
        g = g - np.asarray(bias_rad_s, dtype=np.float64)
    norm = float(np.median(np.linalg.norm(a, axis=1)))
    if not norm > 0:
        return None
    a = a * (_G / norm)
    ts = float(np.median(np.diff(t)))
    tu = np.arange(t[0], t[-1] + 0.5 * ts, ts)
    gu = np.stack([np.interp(tu, t, g[:, k]) for k in range(3)], axis=1)
    au = np.stack([np.interp(tu, t, a[:, k]) for k in range(3)], axis=1)
    f = VQF(ts, tauAcc=tau_acc_s)
    out = f.updateBatch(np.ascontiguousarray(gu), np.ascontiguousarray(au))
    q = np.asarray(out["quat6D"])  # (M, 4) w x y z, earth <- sensor, earth z up
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    # third row of the rotation matrix = R^T e_z = up in the sensor (camera) frame
    up = np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=1)
    tq = np.asarray(t_query_s, dtype=np.float64)
    uq = np.stack([np.interp(tq, tu, up[:, k]) for k in range(3)], axis=-1)
    return uq / np.linalg.norm(uq, axis=-1, keepdims=True)


def upright_quarter_deg(up_cam: np.ndarray) -> float:
    """The quarter turn the camera is held at, nearest its mean roll: 0, 90, 180 or -90 [deg].

    ``up_cam`` (N, 3): up in the camera frame. The mean of its image-plane part gives the mean
    roll ``atan2(x, -y)``; where that part averages to almost nothing (a camera looking straight
    up or down all along) the answer is 0."""
    u = np.asarray(up_cam, dtype=np.float64).reshape(-1, 3)
    m = np.nanmean(u[:, :2], axis=0) if len(u) else np.zeros(2)
    if not np.all(np.isfinite(m)) or np.hypot(m[0], m[1]) < 0.1:
        return 0.0
    q = 90.0 * round(float(np.degrees(np.arctan2(m[0], -m[1]))) / 90.0)
    return 180.0 if abs(q) == 180.0 else q


def roll_deg(R_real: np.ndarray, V: np.ndarray, up_cam: np.ndarray, upright_deg: float = 0.0) -> np.ndarray:
    """Roll of the output camera [deg] (N,), in [-180, 180): 0 = horizon level for a camera held
    at the quarter turn ``upright_deg`` (:func:`upright_quarter_deg`), positive = up tilted
    toward +x."""
    u = np.einsum("nji,njk,nk->ni", V, R_real, up_cam)
    phi = np.degrees(np.arctan2(u[:, 0], -u[:, 1])) - float(upright_deg)
    return (phi + 180.0) % 360.0 - 180.0


def _slew(x: np.ndarray, t: np.ndarray, rate: float, start: float) -> np.ndarray:
    out = np.empty_like(x)
    prev = start
    for i in range(len(x)):
        dt = t[i] - t[i - 1] if i else 0.0
        prev = prev + float(np.clip(x[i] - prev, -rate * dt, rate * dt)) if i else x[0]
        out[i] = prev
    return out


def roll_correction(phi_deg: np.ndarray, t_s: np.ndarray, max_rate_deg_s: float | None = None,
                    *, causal: bool = False) -> np.ndarray:
    """Correction angles [deg] for roll ``phi_deg``: ``phi`` itself (full lock) or a slew-rate
    limited version of it (at most ``max_rate_deg_s``; forward and backward averaged unless
    ``causal``)."""
    phi = np.degrees(np.unwrap(np.radians(np.asarray(phi_deg, dtype=np.float64))))
    if max_rate_deg_s is None or max_rate_deg_s <= 0 or len(phi) < 2:
        return phi
    t = np.asarray(t_s, dtype=np.float64)
    fwd = _slew(phi, t, max_rate_deg_s, phi[0])
    if causal:
        return fwd
    bwd = _slew(phi[::-1], -t[::-1], max_rate_deg_s, phi[-1])[::-1]
    return 0.5 * (fwd + bwd)


def level_roll(R_real: np.ndarray, R_virt: np.ndarray, up_cam: np.ndarray, t_s: np.ndarray, *,
               max_rate_deg_s: float | None = None, upright_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(V', roll_after_deg)``: the virtual cameras turned about the optical axis so the
    horizon is level at the quarter turn ``upright_deg`` (or its correction rate-limited)."""
    phi = roll_deg(R_real, R_virt, up_cam, upright_deg)
    c = roll_correction(phi, t_s, max_rate_deg_s)
    V = R_virt @ rz(np.radians(c))
    return V, roll_deg(R_real, V, up_cam, upright_deg)


def level_target(R_real: np.ndarray, T: np.ndarray, up_cam: np.ndarray, upright_deg: float = 0.0) -> np.ndarray:
    """Cameras ``T`` turned level about their optical axes (a pull-back target that does not
    bring the roll back); ``R_real`` relates ``up_cam`` to the world."""
    phi = roll_deg(R_real, T, up_cam, upright_deg)
    return T @ rz(np.radians(phi))

