"""Gyro-video synchronization: time offset, rolling-shutter readout and IMU axis mapping.

Conventions
-----------
* ``offset`` (δ): the gyro sample read at log time ``T`` belongs to video time ``T + δ``
  (``ImuSamples.shifted(δ)``); so the camera orientation at video time ``t`` is the log's at
  ``t - δ``.
* Row ``y`` of frame ``i`` is captured at ``t_i + ρ · y / H`` (ρ = readout time, video clock).
* IMU orientation mapping: a 3-letter string, letter ``i`` says which IMU axis becomes camera
  axis ``i`` (x right, y down, z forward); uppercase = as is, lowercase = negated. ``'XYZ'`` is
  the identity; ``'yXZ'`` gives ``cam = (-imu_y, +imu_x, +imu_z)``. Only proper rotations
  (determinant +1) are tried by ``'auto'`` (24 mappings); a given mapping may be any of 48.
  It is applied to gyro values already in the package's camera frame as the readers return
  them (telemetry-parser inputs: after the fixed Gyroflow -> camera conversion; text logs:
  the raw x, y, z columns).

Algorithm
---------
1. **Image motion** (:func:`fusedstab.analysis.tracking.track_frame_pairs`): frames are
   decoded one by one as grey and downscaled to ``track_width_px``; corners of frame i are
   tracked into frame i+1 with pyramidal Lucas-Kanade and back again (forward-backward
   check). Only frames inside the sync windows are processed; the clip is never held.
2. **Coarse** (:func:`_coarse_search`): per frame pair, the inter-frame rotation is fitted from
   the undistorted rays with Kabsch (two trimmed passes). The gyro's inter-frame rotation
   for an offset δ is ``Θ(t_b - δ) - Θ(t_a - δ)`` (Θ = integrated angular velocity, t = mean row
   time of the tracked points), which is the gyro low-passed by the frame interval exactly like
   the measurement. A robust (Cauchy) residual is evaluated for every δ in ``start ± search``
   (1 ms steps; with ``'auto'`` orientation, all 24 mappings on a 4 ms grid first, then the best
   at 1 ms), and the minimum is refined by a parabola.
3. **Fine** (:func:`_fine_search`): every tracked point keeps its own row time; the cost is a
   Cauchy loss of the reprojection error ``x_b - π(R(t_b)ᵀ R(t_a) π⁻¹(x_a))`` where ``t_a`` is
   the row time of ``x_a`` and ``t_b`` that of the predicted point (two fixed-point iterations
   from the measured row, as :class:`~fusedstab.synthesis.plan.WarpPlanner` does). Known
   readout: δ is refined by a 1 ms grid then golden section (0.01 ms). Unknown readout: for
   each ρ on a 1 ms grid in [0, frame period] the cost is minimized over δ (golden section
   around the value the coarse stage implies for that ρ), ρ is refined by a parabola through
   the profile and both are polished with Nelder-Mead on (mid-row offset, ρ).
4. **Sync points**: clips longer than ``2 · every_s`` get windows of ``window_s`` every
   ``every_s`` (at most 12, spread over the clip; the tracker seeks to each); readout is
   estimated on all windows together, then δ per window, and a line
   ``δ(t)`` fitted through them gives the clock drift (ppm). ``offset_ms`` is the line at the
   middle of the clip.
5. **Confidence**: the minimum of five scores in [0, 1]: motion (how much the camera turns
   between frames), peak (coarse best cost vs the best cost more than two frame periods
   away), orientation (best vs second-best mapping, 'auto' only), fit (residual after sync vs
   raw inter-frame motion) and support (number of point pairs). ``reliable`` needs enough
   motion, a fit clearly better than no motion, and confidence >= 0.25; otherwise callers
   keep the starting offset and warn.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np

from ..camera import CameraModel
from ..rotation import kabsch, log_so3, unit_vectors
from ..types import ImuSamples, LensMotion
from .integrate import estimate_gyro_bias, integrate_gyro
from .tracking import FramePairs, sync_windows, track_frame_pairs

__all__ = [
    "SyncResult",
    "SyncPoint",
    "FramePairs",
    "parse_imu_orientation",
    "orientation_string",
    "apply_imu_orientation",
    "proper_orientations",
    "track_frame_pairs",
    "sync_windows",
    "estimate_sync",
]

log = logging.getLogger("fusedstab")

Progress = Callable[[str, int, int], None]


# ============================================================================ IMU orientation
def parse_imu_orientation(mapping: str) -> np.ndarray:
    """3-letter mapping -> (3, 3) signed permutation ``M`` with ``ω_cam = M @ ω_imu``."""
    s = str(mapping).strip()
    if len(s) != 3 or sorted(s.upper()) != ["X", "Y", "Z"]:
        raise ValueError(
            f"IMU orientation {mapping!r} must be 3 letters using each of X, Y, Z once (lowercase = negated), e.g. XYZ or yXZ"
        )
    M = np.zeros((3, 3))
    for i, ch in enumerate(s):
        M[i, "XYZ".index(ch.upper())] = 1.0 if ch.isupper() else -1.0
    return M


def orientation_string(M: np.ndarray) -> str:
    """Inverse of :func:`parse_imu_orientation`."""
    out = []
    for i in range(3):
        j = int(np.argmax(np.abs(M[i])))
        out.append("XYZ"[j] if M[i, j] > 0 else "xyz"[j])
    return "".join(out)


def proper_orientations() -> list[str]:
    """The 24 signed axis permutations with determinant +1 (identity first)."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            M = np.zeros((3, 3))
            for i in range(3):
                M[i, perm[i]] = signs[i]
            if np.linalg.det(M) > 0:
                out.append(orientation_string(M))
    out.sort(key=lambda s: (s != "XYZ", s))
    return out


def apply_imu_orientation(imu: ImuSamples, mapping: str) -> ImuSamples:
    """Gyro (and accelerometer) remapped: ``ω_cam = M ω_imu`` (see module docstring)."""
    M = parse_imu_orientation(mapping)
    if np.allclose(M, np.eye(3)):
        return imu
    acc = imu.accel_m_s2 @ M.T if imu.accel_m_s2 is not None else None
    meta = dict(imu.meta)
    meta["imu_orientation"] = mapping
    return ImuSamples(imu.times_s, imu.gyro_rad_s @ M.T, acc, imu.source, meta)


# ============================================================================ results
@dataclass
class SyncPoint:
    """One sync window's result."""

    time_s: float  # window centre, video clock
    offset_ms: float
    cost: float
    pairs: int
    points: int
    residual_px: float  # median reprojection error after sync
    raw_motion_px: float  # median inter-frame feature motion
    used: bool = True
    note: str = ""


@dataclass
class SyncResult:
    """What :func:`estimate_sync` found.

    Attributes
    ----------
    offset_ms : gyro-video offset (log time T belongs to video time T + offset) at the middle
        of the clip; the starting offset when not reliable.
    readout_ms : the estimated rolling-shutter readout; None when a readout was given (it was
        used as is) or when the sync is not reliable.
    readout_estimated : True when ``readout_ms`` was estimated here.
    imu_orientation : the mapping used (found, with 'auto').
    confidence : 0..1 (see the module docstring).
    reliable : False when the video cannot fix the offset (too little motion, poor fit).
    points : per-window :class:`SyncPoint` results.
    drift_ppm : gyro clock drift relative to the video clock (0 with a single point).
    message : one line for the user.
    gyro_bias_rad_s : gyro bias left after the still-window estimate (camera axes, after the
        IMU mapping), found from the video: per axis, image rotation between frames regressed
        on gyro rotation plus a constant rate; subtract it from the gyro. Zeros when unreliable.
    focal_scale : with ``estimate_focal``, the factor by which the given camera's focal
        length was corrected (true focal / assumed focal); 1.0 otherwise.
    """

    offset_ms: float
    readout_ms: float | None
    readout_estimated: bool
    imu_orientation: str
    confidence: float
    reliable: bool
    points: list = field(default_factory=list)
    drift_ppm: float = 0.0
    message: str = ""
    start_offset_ms: float = 0.0
    coarse_offset_ms: float | None = None
    residual_px: float | None = None
    raw_motion_px: float | None = None
    scores: dict = field(default_factory=dict)
    orientation_costs: dict = field(default_factory=dict)
    pairs: int = 0
    seconds: float = 0.0
    focal_scale: float = 1.0
    gyro_bias_rad_s: tuple = (0.0, 0.0, 0.0)
    #: the tracks the sync used (:class:`~fusedstab.analysis.tracking.FramePairs`); not a field
    pairs_used = None

    def offset_at_ms(self, t_video_s) -> np.ndarray:
        """Offset [ms] at video time(s), following the drift line."""
        mid = self.scores.get("_t_mid_s", 0.0)
        return self.offset_ms + self.drift_ppm * 1e-6 * (np.asarray(t_video_s, dtype=np.float64) - mid) * 1000.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["scores"] = {k: v for k, v in self.scores.items() if not k.startswith("_")}
        return d


# ============================================================================ rotation helpers
_unit = unit_vectors


#: where the camera turns too little between neighbouring frames to sync by, the pairs are
#: strided (frames further apart, composed from the tracks) to reach this multiple of the
#: least motion (``min_motion_px``), but never more than ``SYNC_MAX_STRIDE_S`` apart
SYNC_STRIDE_MARGIN = 1.5
SYNC_MAX_STRIDE_S = 0.1

#: cells of :class:`_QuatTrack`'s uniform lookup grid, at most
_MAX_CELLS = 2_000_000


class _QuatTrack:
    """Orientation on the log clock from integrated gyro; normalized-lerp lookup (the samples
    are a few ms apart, where nlerp and slerp agree to ~1e-9 rad)."""

    def __init__(self, imu: ImuSamples):
        bias = estimate_gyro_bias(imu)
        tr = integrate_gyro(imu, bias_rad_s=bias)
        self._set(tr.times_s, tr.quat_wxyz)

    @classmethod
    def from_samples(cls, times_s: np.ndarray, quat_wxyz: np.ndarray) -> _QuatTrack:
        """The lookup over given samples: times (N,) increasing, quaternions (N, 4)."""
        track = cls.__new__(cls)
        track._set(np.asarray(times_s, dtype=np.float64), np.asarray(quat_wxyz, dtype=np.float64))
        return track

    def _set(self, times_s: np.ndarray, quat_wxyz: np.ndarray) -> None:
        self.t = times_s
        self.q = quat_wxyz
        self.dq = np.diff(self.q, axis=0)
        self.inv_dt = 1.0 / np.diff(self.t)
        # sample lookup through a uniform grid (half the median sample step, at most
        # _MAX_CELLS cells: 16 MB, e.g. an hour's log at 1 kHz): a binary search per point
        # (np.searchsorted on unsorted queries) was most of a fine-cost evaluation
        span = float(self.t[-1] - self.t[0])
        self.cell_s = max(0.5 * float(np.median(np.diff(self.t))), span / _MAX_CELLS, 1e-9)
        n_cells = int(np.ceil(span / self.cell_s)) + 1
        grid = self.t[0] + np.arange(n_cells + 1) * self.cell_s
        self.cell_index = np.clip(np.searchsorted(self.t, grid, side="right") - 1, 0, len(self.t) - 2)

    def index(self, tt: np.ndarray) -> np.ndarray:
        """Index ``i`` of the sample interval holding each time (``t[i] <= tt``, the largest
        such ``i``, at most ``N - 2``): ``searchsorted(t, tt, 'right') - 1``, clipped."""
        k = ((tt - self.t[0]) / self.cell_s).astype(np.intp) - 1  # one cell early: safe against rounding
        i = self.cell_index[np.clip(k, 0, len(self.cell_index) - 1)]
        last = len(self.t) - 2
        while True:
            step = (i < last) & (self.t[np.minimum(i + 1, last + 1)] <= tt)
            if not step.any():
                return i
            i = i + step

    def quats(self, t: np.ndarray) -> np.ndarray:
        """(..., 4) w-x-y-z ``R_world_cam`` at log times ``t`` (clamped to the log)."""
        tt = np.clip(t, self.t[0], self.t[-1])
        i = self.index(tt)
        w = ((tt - self.t[i]) * self.inv_dt[i])[..., None]
        q = self.q[i] + w * self.dq[i]
        return q / np.sqrt(np.einsum("...i,...i->...", q, q))[..., None]

    @staticmethod
    def rotate(q: np.ndarray, v: np.ndarray, inverse: bool = False) -> np.ndarray:
        """``R(q) v`` (or ``R(q)^T v``) for (..., 4) quaternions and (..., 3) vectors."""
        w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
        if inverse:
            x, y, z = -x, -y, -z
        vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
        # c = 2 u x v, out = v + w c + u x c (component-wise: np.cross's set-up cost was most of it)
        cx, cy, cz = 2.0 * (y * vz - z * vy), 2.0 * (z * vx - x * vz), 2.0 * (x * vy - y * vx)
        return np.stack([vx + w * cx + (y * cz - z * cy), vy + w * cy + (z * cx - x * cz),
                         vz + w * cz + (x * cy - y * cx)], axis=-1)


# ============================================================================ coarse
def _pair_rotations(pairs: FramePairs, camera: CameraModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair: measured rotation vector (body frame, a -> b) [rad], mean rows of a and b."""
    ra = _unit(camera.unproject(pairs.xa))
    rb = _unit(camera.unproject(pairs.xb))
    n = pairs.n_pairs
    omega = np.full((n, 3), np.nan)
    ya = np.zeros(n)
    yb = np.zeros(n)
    order = np.argsort(pairs.pair_index, kind="stable")
    bounds = np.searchsorted(pairs.pair_index[order], np.arange(n + 1))
    for j in range(n):
        idx = order[bounds[j]:bounds[j + 1]]
        a, b = ra[idx], rb[idx]
        good = np.all(np.isfinite(a), axis=1) & np.all(np.isfinite(b), axis=1)
        a, b = a[good], b[good]
        if len(a) < 8:
            continue
        keep = np.ones(len(a), bool)
        for _ in range(3):
            R = kabsch(a[keep], b[keep])
            err = np.linalg.norm(a @ R.T - b, axis=1)
            thr = max(3.0 * np.median(err[keep]), 1e-4)
            new = err < thr
            if new.sum() < 8 or np.array_equal(new, keep):
                break
            keep = new
        # R maps rays of a to rays of b: R = R(t_b)^T R(t_a) = Exp(-theta)
        omega[j] = -log_so3(R)
        ya[j] = float(np.mean(pairs.xa[idx][good][keep, 1]))
        yb[j] = float(np.mean(pairs.xb[idx][good][keep, 1]))
    return omega, ya, yb


def _cum_theta(imu: ImuSamples) -> tuple[np.ndarray, np.ndarray]:
    g = imu.gyro_rad_s - estimate_gyro_bias(imu)
    t = imu.times_s
    th = np.zeros_like(g)
    th[1:] = np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(t)[:, None], axis=0)
    return t, th


def _interp3(tq: np.ndarray, t: np.ndarray, th: np.ndarray) -> np.ndarray:
    return np.stack([np.interp(tq, t, th[:, k]) for k in range(3)], axis=-1)


def _ois_rotation(ois, ta_log: np.ndarray, tb_log: np.ndarray) -> np.ndarray | float:
    """What the OIS lens shift adds to the rotation measured from rays unprojected without it.

    A principal-point shift ``o`` moves the image like a small rotation: ``x`` grows with
    ``-f theta_y`` and ``y`` with ``+f theta_x``, so the measured rotation between a and b is
    the camera's plus ``(Δo_y / f, -Δo_x / f, 0)``. ``ois`` is ``(LensMotion on the log clock,
    focal px)`` or None (then 0).
    """
    if ois is None:
        return 0.0
    lens, f = ois
    oa, _ = lens.at(ta_log)
    ob, _ = lens.at(tb_log)
    do = ob - oa
    return np.stack([do[..., 1] / f, -do[..., 0] / f, np.zeros(do.shape[:-1])], axis=-1)


#: the wide search (a log longer than the search range): the picture's rotation speed must
#: correlate with the gyro's at least this well at the offset found ...
WIDE_MIN_CORRELATION = 0.5
#: ... and by this much more than anywhere inside the range searched, to move the search there
WIDE_MARGIN = 0.2
#: offsets where the log covers less than this share of the tracked pairs are not considered
WIDE_MIN_OVERLAP = 0.5


def _xcorr(x: np.ndarray, y_fft: np.ndarray, n: int, nx: int, ny: int) -> np.ndarray:
    """``c[L] = sum_i x[i] y[i + L]`` for ``L = -(nx - 1) .. ny - 1`` (``y_fft``: ``rfft(y, n)``)."""
    from scipy import fft

    c = fft.irfft(np.conj(fft.rfft(x, n)) * y_fft, n)
    return np.concatenate([c[n - (nx - 1):], c[:ny]]) if nx > 1 else c[:ny]


def wide_offset_curve(ta: np.ndarray, tb: np.ndarray, meas: np.ndarray, t_log: np.ndarray, th: np.ndarray,
                      step_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Correlation of the picture's rotation speed with the gyro's at every offset the log allows.

    The speed (the norm of the rotation between two frames, over their interval) does not
    depend on the IMU's axes, so this runs before they are known. Both speeds go on a grid of
    ``step_s``; the normalized cross-correlation is taken with FFTs (``O(N log N)`` in the
    log's length) over the tracked pairs the shifted log covers.

    Parameters
    ----------
    ta, tb : (P,) video times [s] of each pair's two frames (row times of its points).
    meas : (P, 3) rotation between them [rad] (NaN rows are skipped).
    t_log, th : the gyro's sample times [s] (log clock) and cumulative rotation (S, 3) [rad].
    step_s : grid step [s] (a frame period).

    Returns
    -------
    (offsets_s (K,), correlation (K,)): offsets (log time T belongs to video time T + offset)
    at which the log covers at least :data:`WIDE_MIN_OVERLAP` of the pairs, and the Pearson
    correlation of the two speeds there.
    """
    ok = np.all(np.isfinite(meas), axis=1) & (tb > ta)
    empty = (np.zeros(0), np.zeros(0))
    if ok.sum() < 10 or len(t_log) < 4:
        return empty
    dt = tb[ok] - ta[ok]
    tm = 0.5 * (ta[ok] + tb[ok])
    speed = np.linalg.norm(meas[ok], axis=1) / dt
    h = float(step_s)
    t0v = float(tm.min())
    iv = np.round((tm - t0v) / h).astype(np.int64)
    nv = int(iv.max()) + 1
    cnt = np.bincount(iv, minlength=nv).astype(np.float64)
    M = (cnt > 0).astype(np.float64)
    V = np.divide(np.bincount(iv, weights=speed, minlength=nv), cnt, out=np.zeros(nv), where=cnt > 0)
    Vc = M * (V - V[M > 0].mean())
    d = float(np.median(dt))
    tg = np.arange(float(t_log[0]), float(t_log[-1]) - d, h)
    ng = len(tg)
    if ng < 4:
        return empty
    G = np.zeros(ng)
    for k in range(3):  # the speed over [tg, tg + d], one axis at a time (no (ng, 3) temporaries)
        G += (np.interp(tg + d, t_log, th[:, k]) - np.interp(tg, t_log, th[:, k])) ** 2
    G = np.sqrt(G) / d
    from scipy import fft

    n = fft.next_fast_len(nv + ng - 1, real=True)
    fg, fg2, f1 = fft.rfft(G, n), fft.rfft(G * G, n), fft.rfft(np.ones(ng), n)
    cover = _xcorr(M, f1, n, nv, ng)
    s1, s2 = _xcorr(M, fg, n, nv, ng), _xcorr(M, fg2, n, nv, ng)
    vg, v1, vv = _xcorr(Vc, fg, n, nv, ng), _xcorr(Vc, f1, n, nv, ng), _xcorr(Vc * Vc, f1, n, nv, ng)
    lags = np.arange(-(nv - 1), ng)
    keep = cover >= WIDE_MIN_OVERLAP * M.sum() - 0.5
    c = np.maximum(cover[keep], 1.0)
    var_g = np.maximum(s2[keep] - s1[keep] ** 2 / c, 0.0)
    var_v = np.maximum(vv[keep] - v1[keep] ** 2 / c, 0.0)
    num = vg[keep] - s1[keep] * v1[keep] / c
    corr = np.divide(num, np.sqrt(var_g * var_v), out=np.zeros(len(num)), where=var_g * var_v > 1e-18)
    # video grid n (time t0v + n h) meets gyro grid n + L (log time tg0 + (n + L) h, centre + d / 2)
    offsets = t0v - (float(tg[0]) + 0.5 * d) - lags[keep] * h
    return offsets, np.clip(corr, -1.0, 1.0)


def _coarse_costs(
    delta_s: np.ndarray, ta: np.ndarray, tb: np.ndarray, meas: np.ndarray, t: np.ndarray, th: np.ndarray,
    mappings: list[str], c_rad: float, ois=None,
) -> dict[str, np.ndarray]:
    """Cauchy cost of |meas - M dθ(δ)| for every δ and mapping: {mapping: (D,)}.

    Offsets are processed in chunks so memory stays ~20 MB whatever the clip length.
    """
    delta_s = np.asarray(delta_s, dtype=np.float64)
    out = {m: np.empty(len(delta_s)) for m in mappings}
    Ms = {m: parse_imu_orientation(m) for m in mappings}
    c2 = c_rad * c_rad
    chunk = max(1, int(500_000 // max(1, 3 * len(ta))))
    for a in range(0, len(delta_s), chunk):
        ds = delta_s[a:a + chunk]
        ga = _interp3(ta[None, :] - ds[:, None], t, th)
        gb = _interp3(tb[None, :] - ds[:, None], t, th)
        d = gb - ga  # (D, P, 3) in IMU axes
        lens_term = _ois_rotation(ois, ta[None, :] - ds[:, None], tb[None, :] - ds[:, None])
        for m in mappings:
            r2 = np.sum((d @ Ms[m].T + lens_term - meas[None]) ** 2, axis=-1)
            out[m][a:a + chunk] = np.mean(np.log1p(r2 / c2), axis=1)
    return out


def _focal_ratio(delta_s, ta, tb, meas, t, th, mapping: str, min_rad: float = 2e-4, ois=None) -> float | None:
    """True / assumed focal length from image vs gyro rotation about camera x and y.

    Rays unprojected with a focal length ``f'`` turn by ``theta * f / f'`` for a camera
    rotation ``theta`` about x or y (roll, about z, does not depend on f), so the least-squares
    slope of measured on gyro rotation is ``f / f'``. Pairs with too little x/y rotation are
    left out; None when too few remain.
    """
    d = _interp3(tb - delta_s, t, th) - _interp3(ta - delta_s, t, th)
    g = (d @ parse_imu_orientation(mapping).T)[:, :2]
    mm = (meas - _ois_rotation(ois, ta - delta_s, tb - delta_s))[:, :2]  # the lens shift does not scale with f
    keep = np.linalg.norm(g, axis=1) > min_rad
    if keep.sum() < 10:
        return None
    g, mm = g[keep], mm[keep]
    k = float(np.sum(g * mm) / np.sum(g * g))
    for _ in range(2):  # trim pairs the slope does not explain (moving objects, bad fits)
        r = np.linalg.norm(mm - k * g, axis=1)
        inl = r <= 3.0 * np.median(r) + 1e-9
        if inl.sum() < 10:
            break
        k = float(np.sum(g[inl] * mm[inl]) / np.sum(g[inl] * g[inl]))
    return k


def _residual_bias(pairs, meas, ya, yb, okp, delta_s, readout_s, H, t, th, mapping: str, ois=None) -> np.ndarray:
    """Constant gyro bias [rad/s] (3,) the video reveals, in mapped camera axes.

    With gyro ``w + b``, the gyro's inter-frame rotation is ``(w + b) dt`` while the image
    shows ``w dt``; per axis, ``meas = s * pred + c * dt`` is fitted by trimmed least squares
    (``s`` absorbs a focal-length error on x and y) and ``b = -c``.
    """
    ta = pairs.t_a[okp] + readout_s * ya[okp] / H
    tb = pairs.t_b[okp] + readout_s * yb[okp] / H
    pred = (_interp3(tb - delta_s, t, th) - _interp3(ta - delta_s, t, th)) @ parse_imu_orientation(mapping).T
    m = meas[okp] - _ois_rotation(ois, ta - delta_s, tb - delta_s)
    dt = tb - ta
    out = np.zeros(3)
    if len(dt) < 10:
        return out
    for a in range(3):
        A = np.stack([pred[:, a], dt], -1)
        keep = np.ones(len(dt), bool)
        for _ in range(3):
            coef, *_ = np.linalg.lstsq(A[keep], m[keep, a], rcond=None)
            r = np.abs(A @ coef - m[:, a])
            new = r <= 3.0 * np.median(r[keep]) + 1e-12
            if new.sum() < 10 or np.array_equal(new, keep):
                break
            keep = new
        out[a] = -coef[1]
    return out


def _parabola_min(x: np.ndarray, y: np.ndarray, k: int) -> float:
    if 0 < k < len(x) - 1:
        y0, y1, y2 = y[k - 1], y[k], y[k + 1]
        den = y0 - 2 * y1 + y2
        if den > 0:
            return float(x[k] + 0.5 * (y0 - y2) / den * (x[k + 1] - x[k]))
    return float(x[k])


def _second_minimum(x: np.ndarray, y: np.ndarray, k: int, exclude: float) -> float:
    far = np.abs(x - x[k]) > exclude
    return float(np.min(y[far])) if np.any(far) else float(np.max(y))


# ============================================================================ fine
class _FineCost:
    """Robust reprojection cost of all point pairs for (δ, ρ)."""

    def __init__(self, pairs: FramePairs, camera: CameraModel, track: _QuatTrack, scale_px: float, iterations: int = 2,
                 lens: LensMotion | None = None):
        self.cam = camera
        self.lens = lens  # OIS / focal scale on the log clock
        self.track = track
        self.H = float(camera.height_px)
        j = pairs.pair_index
        self.ta0 = pairs.t_a[j]
        self.tb0 = pairs.t_b[j]
        self.xa = pairs.xa
        self.xb = pairs.xb
        self.ra = _unit(camera.unproject(pairs.xa))
        self.c2 = scale_px * scale_px
        self.iterations = iterations
        self.evals = 0

    def residuals(self, delta_s: float, readout_s: float) -> np.ndarray:
        self.evals += 1
        ta = self.ta0 + readout_s * self.xa[:, 1] / self.H - delta_s
        qa = self.track.quats(ta)
        ra = self.ra
        if self.lens is not None:
            o, sc = self.lens.at(ta)
            ra = _unit(self.cam.unproject(self.xa, principal_offset_px=o, focal_scale=sc))
        d = _QuatTrack.rotate(qa, ra)
        y = self.xb[:, 1].copy()
        x = None
        for _ in range(self.iterations):
            tb = self.tb0 + readout_s * y / self.H - delta_s
            qb = self.track.quats(tb)
            v = _QuatTrack.rotate(qb, d, inverse=True)
            if self.lens is not None:
                o, sc = self.lens.at(tb)
                x = self.cam.project(v, principal_offset_px=o, focal_scale=sc)
            else:
                x = self.cam.project(v)
            y = np.where(np.isfinite(x[:, 1]), x[:, 1], y)
        r = np.linalg.norm(x - self.xb, axis=1)
        return np.where(np.isfinite(r), r, 1e3)

    def __call__(self, delta_s: float, readout_s: float) -> float:
        r = self.residuals(delta_s, readout_s)
        return float(np.mean(np.log1p(r * r / self.c2)))


def _golden(f, a: float, b: float, tol: float) -> tuple[float, float]:
    g = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    x = 0.5 * (a + b)
    return x, f(x)


def _refine_offset(cost: _FineCost, delta0: float, readout_s: float, half_ms: float, tol_ms: float = 0.01) -> tuple[float, float]:
    """1 ms grid over delta0 ± half_ms, then golden section to ``tol_ms``."""
    grid = delta0 + np.arange(-half_ms, half_ms + 1e-9, 1.0) / 1000.0
    vals = np.array([cost(d, readout_s) for d in grid])
    k = int(np.argmin(vals))
    lo = grid[max(k - 1, 0)]
    hi = grid[min(k + 1, len(grid) - 1)]
    return _golden(lambda d: cost(d, readout_s), lo, hi, tol_ms / 1000.0)


#: an unknown readout is taken as bottom to top (negative) only where the fine cost there is
#: this much below the cost with none (the best top-to-bottom readout)
NEGATIVE_READOUT_GAIN = 0.05


def _fine_search(
    cost: _FineCost, delta_c: float, readout_c: float, readout_s: float | None, frame_period_s: float
) -> tuple[float, float, dict]:
    """Minimize the fine cost. Returns (δ, ρ, diagnostics)."""
    diag: dict = {}
    if readout_s is not None:
        d, c = _refine_offset(cost, delta_c, readout_s, half_ms=8.0)
        return d, readout_s, {"cost": c}
    # the coarse offset fits the mean row at readout_c: δ(ρ) = δc + (ρ - ρc) * ybar / H
    from scipy.optimize import minimize, minimize_scalar

    ybar = 0.5
    # the profile only has to find the basin (the polish below refines both): 13 readouts
    step_ms = max(1.0, frame_period_s * 1000.0 / 12.0)
    grid = np.arange(0.0, frame_period_s * 1000.0 + 1e-9, step_ms) / 1000.0
    def profile(readouts):
        """The least cost over the offset (near the coarse one) at each readout, and where."""
        costs, offsets = [], []
        for rho in readouts:
            d0 = delta_c + (rho - readout_c) * ybar
            r = minimize_scalar(lambda x: cost(x, rho), bounds=(d0 - 0.004, d0 + 0.004), method="bounded",
                                options={"xatol": 0.05e-3})
            costs.append(float(r.fun))
            offsets.append(float(r.x))
        return np.array(costs), offsets

    prof, dels = profile(grid)
    k = int(np.argmin(prof))
    lo, hi = 0.0, frame_period_s
    if k == 0 and len(grid) > 1:
        # the best top-to-bottom readout is none: the rows may be read bottom to top (a camera
        # that turns its picture upside down); taken only where clearly better than none
        neg = -grid[:0:-1]
        prof_n, dels_n = profile(neg)
        if prof_n.min() < (1.0 - NEGATIVE_READOUT_GAIN) * prof[0]:
            grid, prof, dels = np.append(neg, grid[0]), np.append(prof_n, prof[0]), dels_n + dels[:1]
            lo, hi = -frame_period_s, 0.0
            k = int(np.argmin(prof))
    rho = float(np.clip(_parabola_min(grid, prof, k), lo, hi))
    diag["readout_profile"] = prof
    # polish on (mid-row offset, readout): less correlated than (δ, ρ)

    d_k = dels[k] + (rho - grid[k]) * ybar

    def f(p):
        m, r = p[0] / 1000.0, p[1] / 1000.0
        r = min(max(r, lo), hi)
        return cost(m + r * ybar, r)

    m0 = (d_k - rho * ybar) * 1000.0
    res = minimize(f, [m0, rho * 1000.0], method="Nelder-Mead",
                   options={"xatol": 0.01, "fatol": 1e-9, "initial_simplex": [[m0, rho * 1000], [m0 + 0.5, rho * 1000], [m0, rho * 1000 + 1.0]], "maxiter": 200})
    r = float(np.clip(res.x[1] / 1000.0, lo, hi))
    d = res.x[0] / 1000.0 + r * ybar
    d, c = _golden(lambda x: cost(x, r), d - 0.0005, d + 0.0005, 0.01e-3)
    diag["cost"] = c
    return d, r, diag


# ============================================================================ main entry
def _sample_points(pairs: FramePairs, max_points: int, rng: np.random.Generator) -> FramePairs:
    if len(pairs.xa) <= max_points:
        return pairs
    return pairs.points(np.sort(rng.choice(len(pairs.xa), max_points, replace=False)))


def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def estimate_sync(video: str | os.PathLike, imu: ImuSamples, camera: CameraModel, *, info=None,
                  **kw) -> SyncResult:
    """Estimate the gyro-video offset (and readout, and IMU axis mapping) from the video: see
    :func:`_estimate_sync` for the parameters.

    A slow-motion clip (:attr:`~fusedstab.io.video.VideoInfo.slow_motion` ``k``), whose log,
    readout, tracks and offsets come on its own clock (the log slowed: times ``x k``, rates
    ``/ k``), is synced on the camera's clock, where the sync's time scales (search steps, the
    sharpness of the offset's minimum, strides, windows) are what they were made for, and the
    result is brought back to the clip's clock (offsets and readout ``x k``, gyro bias ``/ k``).
    """
    from ..io.video import probe_video

    info = info or probe_video(video)
    k = float(info.slow_motion)
    if k == 1.0:
        return _estimate_sync(video, imu, camera, info=info, **kw)
    imu_r = imu.slowed(1.0 / k)  # back on the camera's clock
    kw_r = dict(kw)
    for key, default in (("start_offset_ms", 0.0), ("search_ms", 1000.0)):
        kw_r[key] = kw.get(key, default) / k
    if kw.get("readout_ms") is not None:
        kw_r["readout_ms"] = kw["readout_ms"] / k
    if kw.get("pairs") is not None:
        kw_r["pairs"] = replace(kw["pairs"], t_a=kw["pairs"].t_a / k, t_b=kw["pairs"].t_b / k)
    lm = kw.get("lens_motion")
    if lm is not None:
        kw_r["lens_motion"] = lm.slowed(1.0 / k)
    res = _estimate_sync(video, imu_r, camera, info=info.on_capture_clock(), **kw_r)
    used = res.pairs_used
    scores = dict(res.scores)
    for key in ("_t_mid_s", "better_outside_ms"):
        if scores.get(key) is not None:
            scores[key] = scores[key] * k
    out = replace(
        res, offset_ms=res.offset_ms * k, readout_ms=None if res.readout_ms is None else res.readout_ms * k,
        start_offset_ms=res.start_offset_ms * k,
        coarse_offset_ms=None if res.coarse_offset_ms is None else res.coarse_offset_ms * k,
        gyro_bias_rad_s=tuple(float(b) / k for b in res.gyro_bias_rad_s),
        points=[replace(p, time_s=p.time_s * k, offset_ms=p.offset_ms * k) for p in res.points],
        scores=scores, message=f"{res.message} (synced on the camera's clock, {k:g}x the clip's)",
    )
    out.pairs_used = replace(used, t_a=used.t_a * k, t_b=used.t_b * k) if used is not None else None
    return out


def _estimate_sync(
    video: str | os.PathLike,
    imu: ImuSamples,
    camera: CameraModel,
    *,
    start_offset_ms: float = 0.0,
    search_ms: float = 1000.0,
    readout_ms: float | None = None,
    imu_orientation: str = "XYZ",
    window_s: float = 2.0,
    every_s: float = 4.0,
    track_width_px: int = 480,
    max_fine_points: int = 6000,
    min_motion_px: float = 0.4,
    info=None,
    pairs: FramePairs | None = None,
    progress: Progress | None = None,
    estimate_focal: bool = False,
    lens_motion: LensMotion | None = None,
    wide_search: bool = False,
    _focal_rounds: int = 3,
) -> SyncResult:
    """Estimate the gyro-video offset (and readout, and IMU axis mapping) from the video.

    Parameters
    ----------
    video : the clip.
    imu : gyro on the log clock, camera axes (before the mapping).
    camera : the lens at the video's resolution.
    start_offset_ms : centre of the search [ms].
    search_ms : the offset is searched in ``start ± search_ms``.
    readout_ms : known readout [ms]; None = estimate it (0 .. one frame period).
    imu_orientation : a mapping such as ``'XYZ'`` / ``'yXZ'``, or ``'auto'``.
    window_s, every_s : sync windows on long clips (see :func:`sync_windows`).
    track_width_px : tracking resolution (width).
    max_fine_points : point pairs used by the fine stage (random subset).
    min_motion_px : below this typical inter-frame rotation (in pixels) the pairs are strided
        (frames up to :data:`SYNC_MAX_STRIDE_S` apart: :meth:`FramePairs.strided`); below it
        even then, the clip is "too still" to sync.
    pairs : tracked points already computed (skips the video).
    lens_motion : OIS shift / focal scale on the LOG clock (the lens-motion CSV as read), or
        None. With OIS the image does not follow the gyro on its own: the lens shift is part of
        the predicted motion in every stage.
    estimate_focal : the camera's focal length is only a guess (no lens profile): estimate its
        scale from the ratio of image rotation to gyro rotation about the x and y axes at the
        coarse offset, and re-run with the corrected camera when it is off by more than 2 %.
    wide_search : the search range is only a default (no offset or range given): where the log
        reaches beyond it (a flight controller's log started long before the recording), the
        picture's rotation speed is correlated with the gyro's at every offset the log allows
        (:func:`wide_offset_curve`), and the search is centred on a clearly better match
        outside the range (:data:`WIDE_MIN_CORRELATION`, :data:`WIDE_MARGIN`).

    Returns
    -------
    SyncResult; never raises for a clip that is merely hard to sync (``reliable=False``).
    """
    t_start = time.perf_counter()
    from ..io.video import probe_video

    info = info or probe_video(video)
    if camera.width_px != info.width_px or camera.height_px != info.height_px:
        camera = camera.scaled(info.width_px, info.height_px)
    fp = info.frame_period_s
    auto = str(imu_orientation).strip().lower() == "auto"
    mappings = proper_orientations() if auto else [str(imu_orientation).strip()]
    if not auto:
        parse_imu_orientation(mappings[0])
    start_s = start_offset_ms / 1000.0

    def fail(reason: str, **kw) -> SyncResult:
        return _with_pairs(SyncResult(
            offset_ms=start_offset_ms, readout_ms=None, readout_estimated=False,
            imu_orientation="XYZ" if auto else mappings[0], confidence=0.0, reliable=False, message=reason,
            start_offset_ms=start_offset_ms, seconds=time.perf_counter() - t_start, **kw,
        ))

    def _with_pairs(res: SyncResult) -> SyncResult:
        res.pairs_used = tracked
        return res

    duration = float(info.frame_times_s[-1] + fp)
    windows = sync_windows(duration, window_s=window_s, every_s=every_s)
    if pairs is None:
        pairs = track_frame_pairs(video, windows=None if len(windows) == 1 else windows,
                                  track_width_px=track_width_px, info=info, progress=progress)
    tracked = pairs  # neighbouring frames: what the result hands on (pairs_used), even when strided below
    if pairs.n_pairs < 5:
        return fail(f"too few trackable frame pairs ({pairs.n_pairs}): the picture has no texture to track")

    f_px = float(np.sqrt(camera.fx_px * camera.fy_px))

    def motion(pairs):
        meas, ya, yb = _pair_rotations(pairs, camera)
        okp = np.all(np.isfinite(meas), axis=1)
        motion_px = np.linalg.norm(meas[okp], axis=1) * f_px
        return meas, ya, yb, okp, motion_px, float(np.percentile(motion_px, 75)) if len(motion_px) else 0.0

    meas, ya, yb, okp, motion_px, motion_typ = motion(pairs)
    stride = 1
    if motion_typ < min_motion_px and pairs.track_id is not None:
        # too little motion between neighbouring frames (a high frame rate, a small frame, a
        # slow camera): measure it over a few frames instead, up to SYNC_MAX_STRIDE_S apart
        want = int(np.ceil(SYNC_STRIDE_MARGIN * min_motion_px / max(motion_typ, 1e-3)))
        stride = max(1, min(want, int(SYNC_MAX_STRIDE_S / fp)))
        if stride > 1:
            strided = pairs.strided(stride)
            if strided.n_pairs >= 5:
                pairs = strided
                meas, ya, yb, okp, motion_px, motion_typ = motion(pairs)
            else:
                stride = 1
    between = "between frames" if stride == 1 else f"over {stride} frames"
    flow = np.linalg.norm(pairs.xb - pairs.xa, axis=1)
    raw_motion = float(np.median(flow))
    moving = okp.copy()
    moving[okp] = motion_px > 0.5 * min_motion_px
    if motion_typ < min_motion_px:
        return fail(
            f"too little camera motion to sync (typical rotation {between} {motion_typ:.2f} px, "
            f"needs {min_motion_px:g} px)", raw_motion_px=raw_motion, pairs=pairs.n_pairs,
        )
    if moving.sum() < 5:  # enough motion, on too few pairs (a short clip)
        return fail(
            f"too few frame pairs turn enough to sync ({int(moving.sum())} of {pairs.n_pairs} turn more than "
            f"{0.5 * min_motion_px:g} px {between}, needs 5)", raw_motion_px=raw_motion, pairs=pairs.n_pairs,
        )

    # ---------------------------------------------------------------- coarse
    ro_guess = (readout_ms / 1000.0) if readout_ms is not None else 0.5 * fp
    H = float(camera.height_px)
    sel = okp
    ta = pairs.t_a[sel] + ro_guess * ya[sel] / H
    tb = pairs.t_b[sel] + ro_guess * yb[sel] / H
    m = meas[sel]
    t_log, th = _cum_theta(imu)
    ois = (lens_motion, f_px) if lens_motion is not None else None
    c_rad = max(0.3 / f_px, 0.25 * float(np.median(np.linalg.norm(m, axis=1))))
    wide_note = ""
    better_outside_ms = None  # a clearly better match outside a range that was given
    offs, corr = wide_offset_curve(ta, tb, m, t_log, th, fp)
    if len(offs):
        inside = np.abs(offs - start_s) <= search_ms / 1000.0
        k_all = int(np.argmax(corr))
        best_in = float(corr[inside].max()) if inside.any() else -1.0
        if not inside[k_all] and corr[k_all] >= WIDE_MIN_CORRELATION and corr[k_all] - best_in >= WIDE_MARGIN:
            if wide_search:
                start_s = float(offs[k_all])
                wide_note = (f" (searched around {start_s * 1000:.0f} ms: the gyro's speed matches the picture's "
                             f"there, correlation {corr[k_all]:.2f} against {best_in:.2f} within "
                             f"±{search_ms:.0f} ms of {start_offset_ms:.0f} ms)")
            else:
                better_outside_ms = float(offs[k_all] * 1000.0)
                wide_note = (f" (the gyro's speed matches the picture's better at {better_outside_ms:.0f} ms, "
                             f"outside the ±{search_ms:.0f} ms searched: correlation {corr[k_all]:.2f} against "
                             f"{best_in:.2f})")
    orientation_costs: dict[str, float] = {}
    if auto:
        g4 = start_s + np.arange(-search_ms, search_ms + 1e-9, 4.0) / 1000.0
        costs4 = _coarse_costs(g4, ta, tb, m, t_log, th, mappings, c_rad, ois=ois)
        orientation_costs = {k: float(v.min()) for k, v in costs4.items()}
        ranked = sorted(orientation_costs, key=orientation_costs.get)
        best_map = ranked[0]
        second = orientation_costs[ranked[1]]
        orient_ratio = orientation_costs[best_map] / max(second, 1e-12)
        centre = g4[int(np.argmin(costs4[best_map]))]
        grid = centre + np.arange(-8.0, 8.0 + 1e-9, 1.0) / 1000.0
        c1 = _coarse_costs(grid, ta, tb, m, t_log, th, [best_map], c_rad, ois=ois)[best_map]
        k = int(np.argmin(c1))
        delta_c = _parabola_min(grid, c1, k)
        cbest = float(c1[k])
        k4 = int(np.argmin(costs4[best_map]))
        csecond = _second_minimum(g4, costs4[best_map], k4, 2.0 * fp)
        curve = (g4, costs4[best_map])  # the coarse cost over the whole search, for reports
    else:
        best_map = mappings[0]
        orient_ratio = None
        grid = start_s + np.arange(-search_ms, search_ms + 1e-9, 1.0) / 1000.0
        c1 = _coarse_costs(grid, ta, tb, m, t_log, th, [best_map], c_rad, ois=ois)[best_map]
        k = int(np.argmin(c1))
        delta_c = _parabola_min(grid, c1, k)
        cbest = float(c1[k])
        csecond = _second_minimum(grid, c1, k, 2.0 * fp)
        curve = (grid, c1)
    if abs(delta_c - start_s) > search_ms / 1000.0 - 2 * fp:
        log.debug("coarse offset at the edge of the search range")
    peak_ratio = cbest / max(csecond, 1e-12)

    if estimate_focal and _focal_rounds > 0:
        ratio = _focal_ratio(delta_c, ta, tb, m, t_log, th, best_map, ois=ois)
        if ratio is not None and abs(ratio - 1.0) > 0.01 and 0.4 < ratio < 2.5:
            from dataclasses import replace as _replace

            cam2 = _replace(camera, fx_px=camera.fx_px * ratio, fy_px=camera.fy_px * ratio)
            res = estimate_sync(
                video, imu, cam2, start_offset_ms=start_offset_ms, search_ms=search_ms, readout_ms=readout_ms,
                imu_orientation=imu_orientation, window_s=window_s, every_s=every_s, track_width_px=track_width_px,
                max_fine_points=max_fine_points, min_motion_px=min_motion_px, info=info, pairs=tracked,
                estimate_focal=True, lens_motion=lens_motion, wide_search=wide_search,
                _focal_rounds=_focal_rounds - 1,
            )
            res.focal_scale = float(ratio * res.focal_scale)
            ratio = res.focal_scale
            res.seconds = time.perf_counter() - t_start
            if res.reliable:
                res.message += f", focal length x{ratio:.3f}"
            return res

    # ---------------------------------------------------------------- fine
    imu_m = apply_imu_orientation(imu, best_map)
    track = _QuatTrack(imu_m)
    rng = np.random.default_rng(0)
    fine_pairs = _sample_points(pairs, max_fine_points, rng)
    # residual scale from the coarse solution (robust, fixed during the search)
    probe = _FineCost(fine_pairs, camera, track, 1.0, lens=lens_motion)
    r0 = probe.residuals(delta_c, ro_guess)
    scale_px = float(np.clip(np.median(r0), 0.3, 3.0))
    # drop gross outliers (moving objects, bad tracks) once
    inl = r0 < max(10.0 * np.median(r0), 4.0)
    fine_pairs = fine_pairs.points(inl)
    cost = _FineCost(fine_pairs, camera, track, scale_px, lens=lens_motion)
    ro_known = readout_ms / 1000.0 if readout_ms is not None else None
    delta_f, rho_f, diag = _fine_search(cost, delta_c, ro_guess, ro_known, fp)

    # ---------------------------------------------------------------- sync points / drift
    points: list[SyncPoint] = []
    t_mid = 0.5 * duration
    drift_ppm = 0.0
    offset_mid = delta_f
    for (wa, wb) in windows:
        mask = (pairs.t_a >= wa - 1e-9) & (pairs.t_b <= wb + 1e-9)
        if len(windows) == 1:
            mask = np.ones(pairs.n_pairs, bool)
        covered = min(wb - delta_f, t_log[-1]) - max(wa - delta_f, t_log[0])
        if len(windows) > 1 and covered < 0.5 * (wb - wa):  # mostly past the log's ends
            points.append(SyncPoint(0.5 * (wa + wb), float("nan"), float("nan"), int(mask.sum()), 0,
                                    float("nan"), float("nan"), False, "outside the gyro log"))
            continue
        sub = _sample_points(pairs.subset(mask), max_fine_points, rng)
        if sub.n_pairs < 5:
            points.append(SyncPoint(0.5 * (wa + wb), float("nan"), float("nan"), sub.n_pairs, len(sub.xa),
                                    float("nan"), float("nan"), False, "too few frame pairs"))
            continue
        wmot = float(np.median(np.linalg.norm(sub.xb - sub.xa, axis=1)))
        wc = _FineCost(sub, camera, track, scale_px, lens=lens_motion)
        if len(windows) == 1:
            dw, cw = delta_f, wc(delta_f, rho_f)
        else:
            dw, cw = _refine_offset(wc, delta_f, rho_f, half_ms=6.0)
        res = wc.residuals(dw, rho_f)
        wm = motion_px[np.isin(np.nonzero(okp)[0], np.nonzero(mask)[0])] if len(windows) > 1 else motion_px
        used = bool(len(wm) and np.percentile(wm, 75) >= min_motion_px)
        points.append(SyncPoint(0.5 * (wa + wb), float(dw * 1000.0), float(cw), sub.n_pairs, len(sub.xa),
                                float(np.median(res)), wmot, used, "" if used else "too little motion"))
    good = [p for p in points if p.used and np.isfinite(p.offset_ms)]
    if len(good) >= 2:
        tt = np.array([p.time_s for p in good])
        oo = np.array([p.offset_ms for p in good])
        A = np.stack([np.ones_like(tt), tt - t_mid], -1)
        coef, *_ = np.linalg.lstsq(A, oo, rcond=None)
        offset_mid = coef[0] / 1000.0
        drift_ppm = float(coef[1] / 1000.0 * 1e6)  # ms per s -> ppm
    elif len(good) == 1 and len(windows) > 1:
        offset_mid = good[0].offset_ms / 1000.0

    # ---------------------------------------------------------------- residual gyro bias
    bias = _residual_bias(pairs, meas, ya, yb, okp, delta_f, rho_f, H, t_log, th, best_map, ois=ois)

    # ---------------------------------------------------------------- confidence
    res_all = cost.residuals(delta_f, rho_f)
    residual = float(np.median(res_all))
    fit_gain = residual / max(raw_motion, 1e-9)
    scores = {
        "motion": _clip01((motion_typ - min_motion_px) / (2.0 * min_motion_px)),
        "peak": _clip01((1.0 - peak_ratio) / 0.5),
        "fit": _clip01((1.0 - fit_gain) / 0.4),
        "support": _clip01(len(res_all) / 300.0),
    }
    if orient_ratio is not None:
        scores["orientation"] = _clip01((1.0 - orient_ratio) / 0.3)
    confidence = float(min(scores.values()))
    scores["peak_ratio"] = round(float(peak_ratio), 4)
    if orient_ratio is not None:
        scores["orientation_ratio"] = round(float(orient_ratio), 4)
    scores["fit_gain"] = round(float(fit_gain), 4)
    scores["motion_px"] = round(motion_typ, 3)
    scores["stride_frames"] = stride
    if better_outside_ms is not None:
        scores["better_outside_ms"] = round(better_outside_ms, 1)
    scores["_t_mid_s"] = t_mid
    scores["_cost_curve"] = ([float(x) * 1000.0 for x in curve[0]], [float(c) for c in curve[1]])  # [ms], cost
    reliable = confidence >= 0.25 and fit_gain < 0.8
    seconds = time.perf_counter() - t_start
    offset_ms = float(offset_mid * 1000.0) if reliable else start_offset_ms
    if reliable:
        msg = (f"offset {offset_mid * 1000:.2f} ms" + (f", readout {rho_f * 1000:.2f} ms" if ro_known is None else "")
               + f", IMU orientation {best_map}, confidence {confidence:.2f}"
               + (f" (motion measured over {stride} frames)" if stride > 1 else "") + wide_note)
    else:
        weakest = min((k for k in scores if k in ("motion", "peak", "fit", "support", "orientation")), key=scores.get)
        msg = (f"sync unreliable (confidence {confidence:.2f}, weakest: {weakest}); best guess was "
               f"{delta_f * 1000:.1f} ms with IMU orientation {best_map}" + wide_note)
    return _with_pairs(SyncResult(
        offset_ms=offset_ms,
        readout_ms=rho_f * 1000.0 if (reliable and ro_known is None) else None,
        readout_estimated=bool(reliable and ro_known is None),
        imu_orientation=best_map if (reliable or not auto) else "XYZ",
        confidence=round(confidence, 4), reliable=bool(reliable), points=points, drift_ppm=drift_ppm,
        message=msg, start_offset_ms=start_offset_ms, coarse_offset_ms=float(delta_c * 1000.0),
        residual_px=residual, raw_motion_px=raw_motion, scores=scores,
        orientation_costs={k: round(v, 5) for k, v in orientation_costs.items()}, pairs=pairs.n_pairs,
        seconds=seconds, gyro_bias_rad_s=tuple(float(b) for b in bias) if reliable else (0.0, 0.0, 0.0),
    ))
