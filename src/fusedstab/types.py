"""Data that flows between the stages.

Convention
----------
* Times are seconds (``_s``) on the **video clock** (0 = first frame's pts) unless a name
  says otherwise (``gyro clock``: the log's own timestamps, before ``offset_s`` is applied).
* Angular velocity is body-frame, camera axes (x right, y down, z forward), rad/s.
* Orientations are ``R_world_cam`` as w-x-y-z quaternions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Slerp

from .rotation import from_scipy, make_continuous, to_scipy

__all__ = ["ClockMap", "ImuSamples", "OrientationTrack", "LensMotion"]


@dataclass(frozen=True)
class ClockMap:
    """Log clock -> video clock, with an optional linear clock drift.

    ``t_video = t_log + offset(t_video)`` with ``offset(tv) = offset_s + drift * (tv - mid_s)``
    (``drift`` in seconds per second, i.e. ppm * 1e-6). ``drift = 0`` is a plain shift: the
    gyro sample read at log time T belongs to video time T + offset_s.
    """

    offset_s: float
    drift: float = 0.0
    mid_s: float = 0.0

    def __call__(self, t_log_s) -> np.ndarray:
        t = np.asarray(t_log_s, dtype=np.float64)
        return (t + self.offset_s - self.drift * self.mid_s) / (1.0 - self.drift)


@dataclass(frozen=True)
class ImuSamples:
    """Gyro (and optional accelerometer) samples in the camera frame.

    Attributes
    ----------
    times_s : (N,) sample times [s], strictly increasing.
    gyro_rad_s : (N, 3) body angular velocity, camera axes [rad/s].
    accel_m_s2 : (N, 3) specific force, camera axes [m/s^2], or None.
    source : where the samples came from (for messages).
    meta : extra facts found beside the samples (readout, EIS flag, ...).
    """

    times_s: np.ndarray
    gyro_rad_s: np.ndarray
    accel_m_s2: np.ndarray | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def rate_hz(self) -> float:
        if len(self.times_s) < 2:
            return 0.0
        return float((len(self.times_s) - 1) / (self.times_s[-1] - self.times_s[0]))

    def averaged_down(self, max_rate_hz: float) -> "ImuSamples":
        """The samples averaged in groups of ``k`` consecutive ones (times, angular velocity and
        specific force alike) so the rate is at most ``max_rate_hz``; itself where it already is.
        The rotation integrated over each group is kept (to the trapezoid rule's error);
        what is lost is motion above ``max_rate_hz / 2``, which a frame's exposure averages
        out too. ``meta['averaged_from_hz']`` records the rate read."""
        rate = self.rate_hz
        k = int(np.ceil(rate / max_rate_hz - 1e-3))  # (a rate a hair above the cap is the cap)
        if k <= 1:
            return self
        starts = np.arange(0, len(self.times_s), k)
        n = np.diff(np.append(starts, len(self.times_s))).astype(np.float64)

        def mean(x):
            return np.add.reduceat(x, starts, axis=0) / (n if x.ndim == 1 else n[:, None])

        accel = mean(self.accel_m_s2) if self.accel_m_s2 is not None else None
        return ImuSamples(mean(self.times_s), mean(self.gyro_rad_s), accel, self.source,
                          {**self.meta, "averaged_from_hz": round(rate, 1)})

    def slowed(self, factor: float) -> ImuSamples:
        """The samples on the clock of a clip that plays ``factor`` times slower than life (slow
        motion): times ``x factor``, angular velocity ``/ factor`` (the same rotations between the
        same moments), the accelerometer as it is; the file's readout and exposure in ``meta``
        ``x factor`` too."""
        k = float(factor)
        meta = dict(self.meta)
        for key in ("readout_s", "exposure_s"):
            if meta.get(key):
                meta[key] = float(meta[key]) * k
        return ImuSamples(self.times_s * k, self.gyro_rad_s / k, self.accel_m_s2, self.source,
                          {**meta, "slowed": k})

    def shifted(self, offset_s: float) -> "ImuSamples":
        """Samples moved onto another clock: ``t_new = t + offset_s``."""
        return self.on_clock(ClockMap(offset_s))

    def on_clock(self, clock: "ClockMap") -> "ImuSamples":
        """Samples with times mapped by ``clock`` (log clock -> video clock)."""
        return ImuSamples(clock(self.times_s), self.gyro_rad_s, self.accel_m_s2, self.source, dict(self.meta))


class OrientationTrack:
    """Camera orientation ``R_world_cam`` over time, interpolated by SLERP.

    Parameters
    ----------
    times_s : (N,) strictly increasing times [s].
    quat_wxyz : (N, 4) unit quaternions, w-x-y-z.
    """

    def __init__(self, times_s: np.ndarray, quat_wxyz: np.ndarray):
        t = np.asarray(times_s, dtype=np.float64)
        q = make_continuous(np.asarray(quat_wxyz, dtype=np.float64))
        if t.ndim != 1 or q.shape != (len(t), 4):
            raise ValueError(f"expected times (N,) and quaternions (N, 4), got {t.shape} and {q.shape}")
        if len(t) < 2 or np.any(np.diff(t) <= 0):
            raise ValueError("orientation track needs at least 2 strictly increasing times")
        self.times_s = t
        self.quat_wxyz = q
        self._slerp = Slerp(t, to_scipy(q))

    @property
    def start_s(self) -> float:
        return float(self.times_s[0])

    @property
    def end_s(self) -> float:
        return float(self.times_s[-1])

    def rotations_at(self, query_s):
        """SciPy ``Rotation`` at query times (clamped to the track's span)."""
        q = np.clip(np.asarray(query_s, dtype=np.float64).reshape(-1), self.times_s[0], self.times_s[-1])
        return self._slerp(q)

    def matrices_at(self, query_s) -> np.ndarray:
        """(..., 3, 3) ``R_world_cam`` at query times of shape (...)."""
        query = np.asarray(query_s, dtype=np.float64)
        return self.rotations_at(query).as_matrix().reshape(*query.shape, 3, 3)

    def quats_at(self, query_s) -> np.ndarray:
        """(..., 4) w-x-y-z quaternions at query times of shape (...)."""
        query = np.asarray(query_s, dtype=np.float64)
        return from_scipy(self.rotations_at(query)).reshape(*query.shape, 4)


@dataclass(frozen=True)
class LensMotion:
    """Lens state over time: OIS shift and focus breathing.

    Attributes
    ----------
    times_s : (N,) sample times [s] on the video clock.
    ois_shift_px : (N, 2) principal-point shift (x, y) [px at the camera model's resolution].
    focal_scale : (N,) focal length relative to the lens profile's (1.0 = nominal).
    """

    times_s: np.ndarray
    ois_shift_px: np.ndarray
    focal_scale: np.ndarray

    def at(self, query_s) -> tuple[np.ndarray, np.ndarray]:
        """Linear interpolation: ``(ois_shift_px (..., 2), focal_scale (...))`` at query times."""
        q = np.asarray(query_s, dtype=np.float64)
        ox = np.interp(q, self.times_s, self.ois_shift_px[:, 0])
        oy = np.interp(q, self.times_s, self.ois_shift_px[:, 1])
        s = np.interp(q, self.times_s, self.focal_scale)
        return np.stack([ox, oy], axis=-1), s

    def slowed(self, factor: float) -> LensMotion:
        """The samples on the clock of a clip that plays ``factor`` times slower than life:
        times ``x factor`` (as :meth:`ImuSamples.slowed`)."""
        return LensMotion(self.times_s * float(factor), self.ois_shift_px, self.focal_scale)

    def shifted(self, offset_s: float) -> "LensMotion":
        return self.on_clock(ClockMap(offset_s))

    def on_clock(self, clock: ClockMap) -> "LensMotion":
        """Samples with times mapped by ``clock`` (log clock -> video clock)."""
        return LensMotion(clock(self.times_s), self.ois_shift_px, self.focal_scale)
