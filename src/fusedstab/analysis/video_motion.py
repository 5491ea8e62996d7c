"""The video as a motion sensor: camera rotation from feature tracks, and what no rotation explains.

For every pair of consecutive frames (tracks from :mod:`fusedstab.analysis.tracking`) the
camera is modelled as turning at a constant angular velocity ``ω`` (body frame, camera
axes, rad/s) over the pair. A point seen on row ``y_a`` of frame a (captured at
``t_a + ρ y_a / H``) and on row ``y_b`` of frame b has bearings (unit rays through the lens
model, OIS shift and focal scale of its row time included) related by

    b_b = Exp(-ω · dt_k) b_a,      dt_k = (t_b + ρ y_b / H) - (t_a + ρ y_a / H)

which is exact for a constant angular velocity and reduces to the global-shutter rotation
between the frames when ``ρ = 0``. ``ω`` is found per pair by Gauss-Newton with Cauchy
weights (robust to moving objects and parallax); all pairs are solved at once (batched
3x3 normal equations). What remains after the rotation (a drone's vibration, a car's
bumps: translation and parallax) is summarised per pair as the median residual image shift.

Integrated, the per-pair angular velocities are a *video gyro*: :meth:`VideoMotion.as_imu`
gives :class:`~fusedstab.types.ImuSamples` on the video clock that the rest of the pipeline
(integration, filtering, per-row synthesis) uses exactly like a gyro log.

Conventions
-----------
* ``omega_rad_s[j]``: camera axes (x right, y down, z forward), body frame; the camera's
  orientation moves as ``R_world_cam(t + dt) = R_world_cam(t) Exp(ω dt)``.
* Times on the video clock [s]; pixels full resolution, (u, v) at pixel centres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solveh_banded

from ..camera import CameraModel
from ..rotation import unit_vectors
from ..types import ImuSamples, LensMotion
from .tracking import FramePairs

__all__ = ["VideoMotion", "estimate_video_motion", "estimate_focal_from_video", "estimate_readout_from_video",
           "rotate_bearings", "splice_imu"]


_unit = unit_vectors


def _skew(v: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) with ``skew(a) @ b = a x b``."""
    z = np.zeros(v.shape[:-1])
    x, y, w = v[..., 0], v[..., 1], v[..., 2]
    return np.stack([np.stack([z, -w, y], -1), np.stack([w, z, -x], -1), np.stack([-y, x, z], -1)], -2)


def rotate_bearings(omega_rad_s: np.ndarray, dt_s: np.ndarray, bearings: np.ndarray) -> np.ndarray:
    """``Exp(-ω dt) b`` for per-point ω (P, 3), dt (P,) and bearings (P, 3) (Rodrigues)."""
    v = -omega_rad_s * dt_s[:, None]
    th = np.linalg.norm(v, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(th > 1e-12, v / np.maximum(th, 1e-300), 0.0)
    c, s = np.cos(th), np.sin(th)
    return bearings * c + np.cross(k, bearings) * s + k * np.sum(k * bearings, axis=1, keepdims=True) * (1 - c)


@dataclass
class VideoMotion:
    """Per frame pair camera rotation estimated from the video.

    Attributes
    ----------
    frame_a : (M,) index of the first frame of each pair (the second is ``frame_a + 1``).
    t_a, t_b : (M,) frame times [s, video clock].
    omega_rad_s : (M, 3) angular velocity over the pair (camera axes).
    confidence : (M,) 0..1: share of tracks the rotation explains, times a support factor
        (1 with 30 or more inliers).
    residual_px : (M,) median reprojection error of the inliers after the rotation [px].
    shift_px : (M, 2) median image shift that the rotation leaves (translation / parallax) [px].
    inliers, points : (M,) tracks within ``inlier_px`` / all tracks of the pair.
    readout_s : the rolling-shutter readout the rows were timed with.
    focal_px : focal length of the lens model used [px].
    """

    frame_a: np.ndarray
    t_a: np.ndarray
    t_b: np.ndarray
    omega_rad_s: np.ndarray
    confidence: np.ndarray
    residual_px: np.ndarray
    shift_px: np.ndarray
    inliers: np.ndarray
    points: np.ndarray
    readout_s: float
    focal_px: float

    @property
    def n_pairs(self) -> int:
        return int(len(self.frame_a))

    def rotation_px(self) -> np.ndarray:
        """(M,) rotation between the two frames, as image motion at the centre [px]."""
        return np.linalg.norm(self.omega_rad_s, axis=1) * (self.t_b - self.t_a) * self.focal_px

    def as_imu(self, *, min_confidence: float = 0.2, source: str = "video motion") -> ImuSamples:
        """The video gyro: piecewise-constant angular velocity on the video clock.

        Each usable pair contributes two samples, just after the first frame's centre-row time
        and just before the second's, so the trapezoid integration of
        :func:`~fusedstab.analysis.integrate.integrate_gyro` reproduces ``ω · (t_b - t_a)``
        between the frames; pairs below ``min_confidence`` (no texture, a cut, a moving crowd)
        are left out and bridged by linear interpolation of their neighbours.

        Raises
        ------
        ValueError : fewer than two usable pairs.
        """
        ok = (self.confidence >= min_confidence) & np.all(np.isfinite(self.omega_rad_s), axis=1)
        if ok.sum() < 2:
            raise ValueError("fewer than two frame pairs with a usable rotation")
        half = 0.5 * self.readout_s
        ca = self.t_a[ok] + half
        cb = self.t_b[ok] + half
        eps = np.minimum(1e-5, 0.01 * (cb - ca))
        t = np.stack([ca + eps, cb - eps], 1).reshape(-1)
        g = np.repeat(self.omega_rad_s[ok], 2, axis=0)
        order = np.argsort(t, kind="stable")
        t, g = t[order], g[order]
        keep = np.concatenate([[True], np.diff(t) > 0])
        return ImuSamples(t[keep], g[keep], None, source, {"video_motion": True})


def _pair_sums(pair_index: np.ndarray, n: int, values: np.ndarray) -> np.ndarray:
    """Sum of per-point values (P, ...) per pair: (n, ...)."""
    flat = values.reshape(len(values), -1)
    out = np.stack([np.bincount(pair_index, weights=flat[:, k], minlength=n) for k in range(flat.shape[1])], -1)
    return out.reshape((n,) + values.shape[1:])


def _pair_median(pair_index: np.ndarray, n: int, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median of ``values[mask]`` per pair (NaN for a pair without points)."""
    out = np.full(n, np.nan)
    idx = pair_index[mask]
    v = values[mask]
    order = np.lexsort((v, idx))
    idx, v = idx[order], v[order]
    bounds = np.searchsorted(idx, np.arange(n + 1))
    for j in np.nonzero(np.diff(bounds))[0]:
        out[j] = np.median(v[bounds[j]:bounds[j + 1]])
    return out


def _bearings(pairs: FramePairs, camera: CameraModel, readout_s: float, lens_motion: LensMotion | None):
    ta, tb = pairs.row_times(readout_s)
    if lens_motion is not None:
        oa, sa = lens_motion.at(ta)
        ob, sb = lens_motion.at(tb)
        ra = camera.unproject(pairs.xa, principal_offset_px=oa, focal_scale=sa)
        rb = camera.unproject(pairs.xb, principal_offset_px=ob, focal_scale=sb)
    else:
        ra, rb = camera.unproject(pairs.xa), camera.unproject(pairs.xb)
    return _unit(ra), _unit(rb), tb - ta


def _solve_rotations(pairs: FramePairs, ra, rb, dt, f_px: float, iterations: int = 8,
                     final_scale_px: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched robust Gauss-Newton for ω per pair. Returns (ω (M,3), residual_px (P,), valid (P,))."""
    n = pairs.n_pairs
    j = pairs.pair_index
    valid = np.all(np.isfinite(ra), axis=1) & np.all(np.isfinite(rb), axis=1) & (dt > 1e-6)
    omega = np.zeros((n, 3))
    # Cauchy scale schedule [px]: wide first (ω starts at 0), then tight
    scales = np.geomspace(max(8.0, 4 * final_scale_px), final_scale_px, max(2, iterations - 2))
    scales = np.concatenate([[np.inf], scales, [final_scale_px]])
    w_pt = valid.astype(np.float64)
    err_px = np.full(len(j), np.inf)
    for c_px in scales:
        pred = rotate_bearings(omega[j], dt, ra)
        e = rb - pred
        err_px = np.where(valid, np.linalg.norm(e, axis=1) * f_px, np.inf)
        if np.isfinite(c_px):
            w_pt = np.where(valid, 1.0 / (1.0 + (err_px / c_px) ** 2), 0.0)
        J = dt[:, None, None] * _skew(pred)  # d pred / d ω  (P, 3, 3)
        Jw = J * w_pt[:, None, None]
        A = _pair_sums(j, n, np.einsum("pki,pkj->pij", Jw, J))
        b = _pair_sums(j, n, np.einsum("pki,pk->pi", Jw, np.where(valid[:, None], e, 0.0)))
        damp = 1e-9 * np.maximum(np.trace(A, axis1=1, axis2=2), 1e-30)[:, None, None] * np.eye(3)
        with np.errstate(invalid="ignore"):
            step = np.linalg.solve(A + damp, b[..., None])[..., 0]
        omega = omega + np.where(np.isfinite(step), step, 0.0)
    pred = rotate_bearings(omega[j], dt, ra)
    err_px = np.where(valid, np.linalg.norm(rb - pred, axis=1) * f_px, np.inf)
    return omega, err_px, valid


#: pairs solved at once: the per-point work arrays of a long clip stay bounded (~600 pairs of
#: 150 points need ~40 MB), so memory does not grow with the clip's length
CHUNK_PAIRS = 600


def estimate_video_motion(
    pairs: FramePairs,
    camera: CameraModel,
    *,
    readout_s: float = 0.0,
    lens_motion: LensMotion | None = None,
    inlier_px: float | None = None,
) -> VideoMotion:
    """Camera angular velocity per frame pair from the tracks (see the module docstring).

    Solved :data:`CHUNK_PAIRS` pairs at a time (each pair is independent); see
    :func:`_estimate_video_motion` for the parameters.
    """
    if pairs.n_pairs <= CHUNK_PAIRS:
        return _estimate_video_motion(pairs, camera, readout_s=readout_s, lens_motion=lens_motion,
                                      inlier_px=inlier_px)
    parts = [_estimate_video_motion(part, camera, readout_s=readout_s, lens_motion=lens_motion, inlier_px=inlier_px)
             for part in pairs.chunks(CHUNK_PAIRS)]
    cat = {f: np.concatenate([getattr(p, f) for p in parts]) for f in
           ("frame_a", "t_a", "t_b", "omega_rad_s", "confidence", "residual_px", "shift_px", "inliers", "points")}
    return VideoMotion(**cat, readout_s=parts[0].readout_s, focal_px=parts[0].focal_px)


def _estimate_video_motion(
    pairs: FramePairs,
    camera: CameraModel,
    *,
    readout_s: float = 0.0,
    lens_motion: LensMotion | None = None,
    inlier_px: float | None = None,
) -> VideoMotion:
    """Camera angular velocity per frame pair from the tracks (see the module docstring).

    Parameters
    ----------
    pairs : tracked points of consecutive frames (full-resolution pixels).
    camera : the lens at the video's resolution (profile, or a pinhole guess).
    readout_s : rolling-shutter readout [s]; 0 treats the frames as global shutter.
    lens_motion : OIS shift / focal scale on the **video** clock, or None.
    inlier_px : a track is explained by the rotation within this error; default
        ``max(1.0, 0.002 * width)`` px (tracking runs at ~480 px wide).

    Returns
    -------
    VideoMotion with one row per pair of ``pairs``.
    """
    if camera.width_px != pairs.width_px or camera.height_px != pairs.height_px:
        camera = camera.scaled(pairs.width_px, pairs.height_px)
    f_px = float(np.sqrt(camera.fx_px * camera.fy_px))
    thr = float(inlier_px) if inlier_px is not None else max(1.0, 0.002 * pairs.width_px)
    n = pairs.n_pairs
    ra, rb, dt = _bearings(pairs, camera, readout_s, lens_motion)
    omega, err_px, valid = _solve_rotations(pairs, ra, rb, dt, f_px, final_scale_px=thr)
    j = pairs.pair_index
    inl = valid & (err_px <= thr)
    counts = np.bincount(j, minlength=n).astype(np.float64)
    n_inl = np.bincount(j, weights=inl.astype(np.float64), minlength=n)
    share = np.where(counts > 0, n_inl / np.maximum(counts, 1), 0.0)
    confidence = share * np.minimum(1.0, n_inl / 30.0)
    residual = _pair_median(j, n, err_px, inl)
    # what the rotation leaves, in pixels: measured point minus the rotation's prediction
    pred_px = camera.project(rotate_bearings(omega[j], dt, ra))
    d = pairs.xb - pred_px
    ok_d = inl & np.all(np.isfinite(d), axis=1)
    shift = np.stack([_pair_median(j, n, d[:, k], ok_d) for k in range(2)], -1)
    omega[n_inl < 3] = np.nan
    return VideoMotion(
        frame_a=pairs.frame_a.copy(), t_a=pairs.t_a.copy(), t_b=pairs.t_b.copy(), omega_rad_s=omega,
        confidence=confidence, residual_px=residual, shift_px=shift, inliers=n_inl.astype(np.int64),
        points=counts.astype(np.int64), readout_s=float(readout_s), focal_px=f_px,
    )


def estimate_focal_from_video(
    pairs: FramePairs,
    camera: CameraModel,
    *,
    readout_s: float = 0.0,
    hfov_grid_deg: np.ndarray | None = None,
    max_pairs: int = 150,
) -> tuple[float | None, dict]:
    """Horizontal field of view [deg] that makes the tracks most rotation-like, or None.

    Under a pure rotation the image motion is the homography ``K R K^-1``; with the wrong
    focal length no rotation explains the tracks exactly (the error grows with the rotation
    and with the distance from the centre). The robust reprojection cost is evaluated on a
    grid of fields of view (the pairs that turn the most), and the minimum refined by a
    parabola. When the cost curve is flat (small rotations, strong parallax) the data cannot
    tell, and None is returned.

    Returns
    -------
    (hfov_deg or None, diagnostics with ``grid_deg``, ``cost``, ``contrast``).
    """
    grid = np.arange(40.0, 125.0, 5.0) if hfov_grid_deg is None else np.asarray(hfov_grid_deg, float)
    a = float(camera.pixel_aspect)  # the file's pixel aspect: only the focal length is searched
    base = CameraModel.from_fov(pairs.width_px, pairs.height_px, 75.0, pixel_aspect=a)
    vm = estimate_video_motion(pairs, base, readout_s=readout_s)
    score = np.where(np.isfinite(vm.rotation_px()) & (vm.confidence > 0.3), vm.rotation_px(), -1.0)
    top = np.argsort(-score)[:max_pairs]
    top = top[score[top] > 2.0]
    diag: dict = {"grid_deg": grid.tolist(), "cost": [], "pairs": int(len(top))}
    if len(top) < 10:
        return None, diag
    mask = np.zeros(pairs.n_pairs, bool)
    mask[top] = True
    sub = pairs.subset(mask)
    costs = []
    for hfov in grid:
        cam = CameraModel.from_fov(pairs.width_px, pairs.height_px, float(hfov), pixel_aspect=a)
        ra, rb, dt = _bearings(sub, cam, readout_s, None)
        _, err, valid = _solve_rotations(sub, ra, rb, dt, float(cam.fx_px))
        e = np.where(valid, err, np.nan)  # image-plane error [px]: comparable across focal lengths
        costs.append(float(np.nanmean(np.log1p((e / 0.5) ** 2))))
    costs = np.array(costs)
    diag["cost"] = costs.tolist()
    k = int(np.argmin(costs))
    contrast = float((np.max(costs) - costs[k]) / max(np.max(costs), 1e-12))
    diag["contrast"] = contrast
    if k in (0, len(grid) - 1) or contrast < 0.05:
        return None, diag
    y0, y1, y2 = costs[k - 1], costs[k], costs[k + 1]
    den = y0 - 2 * y1 + y2
    x = grid[k] + (0.5 * (y0 - y2) / den * (grid[k + 1] - grid[k]) if den > 0 else 0.0)
    return float(x), diag



#: an estimated readout is kept only where the per-pair mean loss falls by at least this
#: paired t-statistic against a global shutter's (:func:`estimate_readout_from_video`)
READOUT_T_MIN = 5.0
#: consecutive frame pairs the readout is estimated on (the run that turns the most), and the
#: tracked points per pair kept for it (evenly through the pair's points)
READOUT_MAX_PAIRS = 240
READOUT_POINTS_PER_PAIR = 60


def _thinned(pairs: FramePairs, per_pair: int) -> FramePairs:
    """``pairs`` with at most ``per_pair`` points of each pair, taken evenly through its points."""
    from dataclasses import replace

    j = pairs.pair_index
    counts = np.bincount(j, minlength=pairs.n_pairs)
    if counts.max(initial=0) <= per_pair:
        return pairs
    rank = np.arange(len(j)) - np.repeat(np.cumsum(counts) - counts, counts)  # position within its pair
    keep = (rank * per_pair) // np.maximum(counts[j], 1) != ((rank - 1) * per_pair) // np.maximum(counts[j], 1)
    keep |= rank == 0
    return replace(pairs, pair_index=j[keep], xa=pairs.xa[keep], xb=pairs.xb[keep],
                   track_id=None if pairs.track_id is None else pairs.track_id[keep])


def _hat_integral(u_lo: np.ndarray, u_hi: np.ndarray) -> np.ndarray:
    """Integral of the hat ``max(0, 1 - |u|)`` from ``u_lo`` to ``u_hi`` (in units of the knot spacing)."""
    def G(u):
        u = np.clip(u, -1.0, 1.0)
        return np.where(u <= 0.0, 0.5 * (u + 1.0) ** 2, 1.0 - 0.5 * (1.0 - u) ** 2)
    return G(u_hi) - G(u_lo)


def _knot_weights(pairs: FramePairs, readout_s: float) -> tuple[np.ndarray, np.ndarray, int]:
    """The angular velocity as a piecewise-linear curve with a knot at every frame's start time:
    each point's turn over its row-time window ``[t_a + ρ y_a / H, t_b + ρ y_b / H]`` is
    ``sum_m w_m ω_m`` over the knots of frames ``a - 1 .. a + 2``. Returns the weights (P, 4) [s],
    their knots' columns (P, 4) and the number of knots."""
    j = pairs.pair_index
    ta, tb = pairs.row_times(readout_s)
    t0 = pairs.t_a[j]
    period = pairs.t_b[j] - t0
    first = int(pairs.frame_a.min()) - 1
    w = np.stack([_hat_integral((ta - t0) / period - m, (tb - t0) / period - m) for m in (-1, 0, 1, 2)], -1)
    w = w * period[:, None]
    cols = (pairs.frame_a[j] - first)[:, None] + np.arange(-1, 3)[None, :]
    return w, cols, int(pairs.frame_a.max()) + 3 - first


#: weight of the knots' second differences against the tracks (relative to the data's mean
#: curvature of the normal matrix): at a global shutter each pair sees only the mean of its two
#: knots, so an alternating pattern is free; this prior fixes it without bending the path
_READOUT_SMOOTH = 1e-3
#: half-bandwidth of the knots' normal matrix (blocks of 3 axes, knots up to 3 apart)
_BAND = 11


def _readout_losses(pairs: FramePairs, ra: np.ndarray, rb: np.ndarray, omega0: np.ndarray, readout_s: float,
                    f_px: float, *, iterations: int = 4, scale_px: float = 1.0) -> np.ndarray:
    """Robust reprojection loss (P,) of each tracked point (NaN where it has none) under a
    piecewise-linear angular velocity (:func:`_knot_weights`), each point turned over its own
    row-time window, solved jointly (Gauss-Newton with Cauchy weights from the per-pair rates
    ``omega0``; the knots' normal equations are banded, 3 n unknowns for n knots, at most
    :data:`READOUT_MAX_PAIRS` + 3). ``pairs``: consecutive frames, their points grouped by pair
    (as tracked; :func:`estimate_readout_from_video` checks)."""
    w, cols, n = _knot_weights(pairs, readout_s)
    j = pairs.pair_index
    valid = np.all(np.isfinite(ra), axis=1) & np.all(np.isfinite(rb), axis=1)
    omega = np.zeros((n, 3))
    knot_of_pair = pairs.frame_a - int(pairs.frame_a.min()) + 1
    o0 = np.where(np.isfinite(omega0), omega0, 0.0)
    omega[knot_of_pair] += 0.5 * o0
    omega[knot_of_pair + 1] += 0.5 * o0
    # the second-difference prior D^T D on each axis (D: (n-2, n), rows [1, -2, 1]), as its
    # diagonals: dtd[e, m] = (D^T D)[m, m + e], e = 0..2
    stencil = (1.0, -2.0, 1.0)
    dtd = np.zeros((3, n))
    for q in range(3):  # a row r of D reaches knots r + q
        for e in range(3 - q):
            dtd[e, q:q + max(n - 2, 0)] += stencil[q] * stencil[q + e]

    def prior_times(x):
        """(D^T D) x on each axis, x (n, 3)."""
        out = np.zeros_like(x)
        if n > 2:
            dx = x[:-2] - 2.0 * x[1:-1] + x[2:]
            out[:-2] += dx
            out[1:-1] -= 2.0 * dx
            out[2:] += dx
        return out

    # where the normal matrix's entries go in its upper band form (``solveh_banded``: row
    # _BAND - k holds the k-th diagonal above the main one, at the column of each entry): the 3x3
    # block (m, m + d) of knots m and m + d (d = 0..3: a point's knots are 4 apart at most), its
    # entry (a, c) at offset 3 d + c - a, column 3 (m + d) + c; the lower triangle is the same
    band_of = [(d, a, c, 3 * d + c - a) for d in range(4) for a in range(3) for c in range(3) if 3 * d + c - a >= 0]
    starts = np.flatnonzero(np.r_[True, np.diff(j) > 0])  # each pair's first point
    base = cols[starts, 0]  # each pair's first knot
    err_px = np.full(len(j), np.inf)
    for it in range(iterations + 1):
        theta = np.einsum("pk,pki->pi", w, omega[cols])
        pred = rotate_bearings(theta, np.ones(len(j)), ra)
        e = rb - pred
        err_px = np.where(valid, np.linalg.norm(e, axis=1) * f_px, np.inf)
        if it == iterations:
            break
        wt = np.where(valid, 1.0 / (1.0 + (err_px / scale_px) ** 2), 0.0)
        S = _skew(pred)  # d pred / d theta (P, 3, 3)
        StS = np.einsum("pki,pkj->pij", S * wt[:, None, None], S)  # (P, 3, 3)
        Ste = np.einsum("pki,pk->pi", S * wt[:, None, None], np.where(valid[:, None], e, 0.0))
        # sums over each pair's points first (a pair's points are contiguous, its knots the same),
        # then onto the knots: the pair's knots are base .. base + 3
        ps = np.add.reduceat(np.einsum("pu,pv,pk->puvk", w, w, StS.reshape(-1, 9)), starts, axis=0)
        pb = np.add.reduceat(w[:, :, None] * Ste[:, None, :], starts, axis=0)
        b = np.zeros((n, 3))
        A = {d: np.zeros((n, 9)) for d in range(4)}  # block (m, m + d) at row m (the upper ones)
        for u in range(4):
            b[base + u] += pb[:, u]
            for v in range(u, 4):
                A[v - u][base + u] += ps[:, u, v]
        # the symmetric banded normal matrix, built in its band form (3 n unknowns, 11 off the
        # diagonal): the points' blocks, then the prior and a tiny ridge, scaled by its mean diagonal
        ab = np.zeros((_BAND + 1, 3 * n))
        for d, a, c, k in band_of:
            ab[_BAND - k, 3 * np.arange(d, n) + c] += A[d][:n - d, 3 * a + c]
        scale = max(float(A[0][:, [0, 4, 8]].sum()) / (3 * n), 1e-30)
        for e in range(3):  # the prior's diagonal e of each axis sits at offset 3 e
            for a in range(3):
                ab[_BAND - 3 * e, 3 * np.arange(e, n) + a] += _READOUT_SMOOTH * scale * dtd[e, :n - e]
        ab[_BAND] += 1e-9 * scale
        rhs = (b - _READOUT_SMOOTH * scale * prior_times(omega)).reshape(-1)
        try:
            step = solveh_banded(ab, rhs).reshape(n, 3)
        except np.linalg.LinAlgError:
            break
        omega = omega + np.where(np.isfinite(step), step, 0.0)
    return np.where(valid, np.log1p((err_px / 0.5) ** 2), np.nan)


def estimate_readout_from_video(
    pairs: FramePairs,
    camera: CameraModel,
    frame_period_s: float,
    *,
    max_pairs: int = READOUT_MAX_PAIRS,
) -> tuple[float | None, dict]:
    """Rolling-shutter readout [s] that makes the tracks most rotation-like, or None.

    While a camera's rows are read one after the other, a point on row ``y`` of frame a and
    row ``y'`` of frame b was seen over the window ``[t_a + ρ y / H, t_b + ρ y' / H]``. Where the
    camera turns at a constant rate the readout changes nothing between two frames (each row is
    displaced by the same turn); where the rate changes from frame to frame (shake), the rows of
    one pair are displaced by different turns, and only the right ``ρ`` explains them all with
    one angular-velocity curve. So the tracks of the run of consecutive pairs that turns the
    most (at most ``max_pairs``) are explained by a piecewise-linear angular velocity (a knot at
    every frame), each point turned over its own row-time window, solved jointly
    (:func:`_readout_losses`), for readouts from ``-1`` to ``1`` frame period in steps of 0.2
    (negative: read bottom to top), then in steps of 0.05 around the best, whose robust cost is
    refined by a parabola.

    The readout is returned only where it explains the pairs better than a global shutter does,
    consistently: the per-pair mean loss falls by a paired t-statistic of at least
    :data:`READOUT_T_MIN` (a moving car's parallax leaves most of the loss to no rotation, so a
    relative gain says little: the phone clip of ../shared/data gains 2 % at 29 ms, t 1.8, and its
    gyro sync finds 30.8 ms). Otherwise (too little shake, parallax that no readout explains)
    None. Where the cost still falls at a whole frame period, that is returned (the longest
    readout a frame can have: a run read in 30 ms at 30 fps gave 33.3).

    Parameters
    ----------
    pairs : tracked points of consecutive frames (full-resolution pixels).
    camera : the lens at the video's size (profile, or a pinhole guess).
    frame_period_s : the clip's frame period [s] (the readout is at most one).
    max_pairs : the most consecutive pairs used.

    Returns
    -------
    (readout_s or None, diagnostics with ``grid_s`` and ``cost`` (the readouts tried, sorted),
    ``t_stat``, ``gain`` (relative to a global shutter), ``pairs``).
    """
    if camera.width_px != pairs.width_px or camera.height_px != pairs.height_px:
        camera = camera.scaled(pairs.width_px, pairs.height_px)
    T = float(frame_period_s)
    diag: dict = {"grid_s": [], "cost": [], "pairs": 0, "t_stat": 0.0, "gain": 0.0}
    if pairs.n_pairs < 10 or np.any(np.diff(pairs.pair_index) < 0) or np.any(np.diff(pairs.frame_a) <= 0):
        return None, diag  # too few pairs, or not consecutive frames' tracks grouped by pair
    sub = pairs
    if pairs.n_pairs > max_pairs:  # the run of consecutive pairs whose picture moves the most
        step = np.linalg.norm(pairs.xb - pairs.xa, axis=1)
        ok = np.isfinite(step)
        n_pts = np.bincount(pairs.pair_index[ok], minlength=pairs.n_pairs)
        move = np.bincount(pairs.pair_index[ok], weights=step[ok], minlength=pairs.n_pairs) / np.maximum(n_pts, 1)
        k = int(np.argmax(np.convolve(move, np.ones(max_pairs), mode="valid")))
        sub = pairs.slice(k, k + max_pairs)
    sub = _thinned(sub, READOUT_POINTS_PER_PAIR)
    omega0 = estimate_video_motion(sub, camera).omega_rad_s
    diag["pairs"] = int(sub.n_pairs)
    f_px = float(np.sqrt(camera.fx_px * camera.fy_px))
    ra = _unit(camera.unproject(sub.xa))
    rb = _unit(camera.unproject(sub.xb))
    losses: dict[float, np.ndarray] = {}

    def cost(frac):
        frac = round(float(frac), 4)
        if frac not in losses:
            losses[frac] = _readout_losses(sub, ra, rb, omega0, frac * T, f_px)
        return float(np.nanmean(losses[frac]))

    coarse = np.round(np.linspace(-1.0, 1.0, 11), 4)
    best = coarse[int(np.argmin([cost(f) for f in coarse]))]
    for f in np.round(best + np.arange(-0.15, 0.151, 0.05), 4):
        if -1.0 <= f <= 1.0:
            cost(f)
    fr = np.array(sorted(losses))
    c = np.array([float(np.nanmean(losses[f])) for f in fr])
    diag["grid_s"], diag["cost"] = (fr * T).tolist(), c.tolist()
    k = int(np.argmin(c))
    if fr[k] == 0.0:
        return None, diag
    # paired over pairs: the per-pair mean loss at the best readout against a global shutter's
    j = sub.pair_index
    d = losses[0.0] - losses[float(fr[k])]
    ok = np.isfinite(d)
    n_pts = np.bincount(j[ok], minlength=sub.n_pairs)
    per_pair = np.bincount(j[ok], weights=d[ok], minlength=sub.n_pairs)[n_pts > 0] / n_pts[n_pts > 0]
    t_stat = float(np.mean(per_pair) / max(np.std(per_pair, ddof=1) / np.sqrt(len(per_pair)), 1e-12)) \
        if len(per_pair) > 2 else 0.0
    diag["t_stat"] = t_stat
    diag["gain"] = float((cost(0.0) - c[k]) / max(cost(0.0), 1e-12))
    if t_stat < READOUT_T_MIN:
        return None, diag
    if k in (0, len(fr) - 1):  # still falling at a whole frame period: the longest readout there is
        return float(fr[k] * T), diag
    y0, y1, y2 = c[k - 1], c[k], c[k + 1]
    h0, h2 = fr[k] - fr[k - 1], fr[k + 1] - fr[k]
    # vertex of the parabola through the three (unevenly spaced where the grids meet)
    den = h2 * (y0 - y1) + h0 * (y2 - y1)
    x = fr[k] + (0.5 * (h2 ** 2 * (y0 - y1) - h0 ** 2 * (y2 - y1)) / den if den > 0 else 0.0)
    return float(np.clip(x, fr[k - 1], fr[k + 1]) * T), diag


def splice_imu(gyro: ImuSamples, video: ImuSamples, video_intervals: list[tuple[float, float]]) -> ImuSamples:
    """Angular velocity from the gyro, except inside ``video_intervals`` where the video's is used.

    Both on the video clock, camera axes, gyro already bias-corrected. The result is one
    series the integrator turns into one continuous orientation (no jump at a switch: only
    the angular velocity changes source).
    """
    def inside(t):
        m = np.zeros(len(t), bool)
        for a, b in video_intervals:
            m |= (t >= a) & (t < b)
        return m

    keep_g = ~inside(gyro.times_s)
    keep_v = inside(video.times_s)
    t = np.concatenate([gyro.times_s[keep_g], video.times_s[keep_v]])
    g = np.concatenate([gyro.gyro_rad_s[keep_g], video.gyro_rad_s[keep_v]])
    order = np.argsort(t, kind="stable")
    t, g = t[order], g[order]
    keep = np.concatenate([[True], np.diff(t) > 0])
    return ImuSamples(t[keep], g[keep], None, f"{gyro.source} + video motion", dict(gyro.meta))
