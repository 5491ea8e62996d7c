"""Stage 2C: undefined-region avoidance and the output crop.

The output is a pinhole virtual camera whose focal length is the source's times ``zoom``.
For a given virtual orientation a frame *fits* at a zoom when every point on the output's
border maps inside the source frame through the full per-row warp (rolling shutter, OIS and
lens included). The crop is one fixed zoom for the whole clip: the smallest zoom at which
every frame fits. Where that would exceed ``max_zoom``, the virtual camera is pulled back
toward the real one (``slerp(V_i, R_i, lambda_i)``) just enough to fit at ``max_zoom``;
lambda is spread over neighbouring frames (rolling max, then Gaussian) so the correction is
gentle, and every frame is re-checked as a hard constraint. Result: no undefined pixels.

All searches are bisections run for many frames at once (vectorized over frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from ..rotation import exp_so3, log_so3
from ..synthesis.plan import WarpPlanner

__all__ = ["CropResult", "fits", "required_zoom", "min_pullback", "fit_crop", "slerp_matrix"]

_CHUNK = 128  # frames per vectorized batch


@dataclass(frozen=True)
class CropResult:
    """Outcome of :func:`fit_crop`.

    Attributes
    ----------
    R_world_virt : (N, 3, 3) virtual orientations after pull-back.
    zoom : the fixed output zoom (output focal / source focal).
    pullback : (N,) lambda per frame (0 = smooth path kept, 1 = real camera).
    required_zoom : (N,) zoom each frame needs with the final orientations.
    """

    R_world_virt: np.ndarray
    zoom: float
    pullback: np.ndarray
    required_zoom: np.ndarray


def slerp_matrix(A: np.ndarray, B: np.ndarray, lam) -> np.ndarray:
    """Rotations ``lam`` of the way from ``A`` to ``B``; (..., 3, 3) with lam scalar or (...)."""
    rel = log_so3(np.swapaxes(A, -1, -2) @ B)
    lam = np.asarray(lam, dtype=np.float64)
    return A @ exp_so3(lam[..., None] * rel)


def fits(planner: WarpPlanner, V: np.ndarray, zoom, t_frame_s, border: np.ndarray) -> np.ndarray:
    """Bool (...): every border point (P, 2) of the output maps inside the source frame."""
    src = planner.source_points(border, V, zoom, t_frame_s)
    return np.all(planner.inside_source(src), axis=-1)


def _chunks(n: int):
    for a in range(0, n, _CHUNK):
        yield slice(a, min(n, a + _CHUNK))


def required_zoom(
    planner: WarpPlanner, V: np.ndarray, t_frame_s: np.ndarray, border: np.ndarray,
    *, lo: float = 0.5, hi: float = 4.0, tol: float = 1e-3,
) -> np.ndarray:
    """(N,) smallest zoom in ``[lo, hi]`` at which each frame fits (``inf`` if none).

    ``V`` is (N, 3, 3), ``t_frame_s`` (N,).
    """
    n = len(V)
    out = np.empty(n)
    steps = int(np.ceil(np.log2((hi - lo) / tol)))
    for sl in _chunks(n):
        Vc, tc = V[sl], np.asarray(t_frame_s)[sl]
        a = np.full(len(Vc), lo)
        b = np.full(len(Vc), hi)
        ok_hi = fits(planner, Vc, b, tc, border)
        ok_lo = fits(planner, Vc, a, tc, border)
        for _ in range(steps):
            mid = 0.5 * (a + b)
            ok = fits(planner, Vc, mid, tc, border)
            b = np.where(ok, mid, b)
            a = np.where(ok, a, mid)
        res = np.where(ok_lo, lo, b)
        out[sl] = np.where(ok_hi, res, np.inf)
    return out


def min_pullback(
    planner: WarpPlanner, V: np.ndarray, R: np.ndarray, zoom: float, t_frame_s: np.ndarray, border: np.ndarray,
    *, lo=None, iters: int = 12,
) -> np.ndarray:
    """(N,) smallest lambda in ``[lo, 1]`` such that ``slerp(V, R, lambda)`` fits at ``zoom``.

    1 where even the real orientation does not fit.
    """
    n = len(V)
    lo_arr = np.zeros(n) if lo is None else np.asarray(lo, dtype=np.float64).copy()
    out = np.empty(n)
    for sl in _chunks(n):
        Vc, Rc, tc = V[sl], R[sl], np.asarray(t_frame_s)[sl]
        a = lo_arr[sl].copy()
        b = np.ones(len(Vc))
        ok_lo = fits(planner, slerp_matrix(Vc, Rc, a), zoom, tc, border)
        for _ in range(iters):
            mid = 0.5 * (a + b)
            ok = fits(planner, slerp_matrix(Vc, Rc, mid), zoom, tc, border)
            b = np.where(ok, mid, b)
            a = np.where(ok, a, mid)
        out[sl] = np.where(ok_lo, lo_arr[sl], b)
    return out


def fit_crop(
    planner: WarpPlanner,
    R_real: np.ndarray,
    R_virt: np.ndarray,
    frame_times_s: np.ndarray,
    *,
    max_zoom: float = 1.25,
    min_zoom: float = 0.5,
    spread_sigma_s: float = 0.15,
    progress=None,
) -> CropResult:
    """Choose the fixed zoom and pull the virtual camera back where needed.

    Parameters
    ----------
    planner : the clip's warp planner.
    R_real : (N, 3, 3) real orientation at each frame's centre-row time.
    R_virt : (N, 3, 3) smoothed virtual orientation.
    frame_times_s : (N,) frame start times (video clock).
    max_zoom : largest zoom allowed (1.25 keeps 80 % of the width).
    min_zoom : smallest zoom considered (below 1 widens the view of a fisheye source).
    spread_sigma_s : Gaussian sigma for spreading the pull-back over time.
    progress : optional callable(done, total).
    """
    n = len(R_virt)
    t = np.asarray(frame_times_s, dtype=np.float64)
    border = planner.border_points()
    z = required_zoom(planner, R_virt, t, border, lo=min_zoom)
    if progress:
        progress(1, 3)
    V = np.array(R_virt, copy=True)
    lam = np.zeros(n)
    over = z > max_zoom
    if np.any(over):
        lam[over] = min_pullback(planner, V[over], R_real[over], max_zoom, t[over], border)
        period = float(np.median(np.diff(t))) if n > 1 else 1.0
        w = max(1, int(round(2 * spread_sigma_s / period)))
        lam_s = maximum_filter1d(lam, size=2 * w + 1, mode="nearest")
        lam_s = np.clip(gaussian_filter1d(lam_s, sigma=max(spread_sigma_s / period, 1e-6), mode="nearest"), 0.0, 1.0)
        # hard constraint: every frame must fit at max_zoom with its final lambda
        lam_s = min_pullback(planner, R_virt, R_real, max_zoom, t, border, lo=lam_s)
        V = slerp_matrix(R_virt, R_real, lam_s)
        lam = lam_s
        if progress:
            progress(2, 3)
        z = required_zoom(planner, V, t, border, lo=min_zoom)
    if progress:
        progress(3, 3)
    finite = np.isfinite(z)
    zoom = float(np.max(z[finite])) if np.any(finite) else max_zoom
    return CropResult(V, zoom, lam, z)
