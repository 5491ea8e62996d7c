"""Stage 2C: undefined-region avoidance and the output crop.

The output is a pinhole virtual camera whose focal length is the source's times ``zoom``.
For a given virtual orientation a frame *fits* at a zoom when every point on the output's
border maps inside the source frame through the full per-row warp (rolling shutter, OIS and
lens included). The crop is one fixed zoom for the whole clip: the smallest zoom at which
every frame fits. Where that would exceed ``max_zoom``, the virtual camera is pulled back
toward the real one (``slerp(V_i, R_i, lambda_i)``) just enough to fit at ``max_zoom``;
lambda is spread over neighbouring frames (rolling max, then Gaussian) so the correction is
gentle, and every frame is re-checked as a hard constraint. Result: no undefined pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d
from scipy.spatial.transform import Rotation

from ..synthesis.plan import WarpPlanner

__all__ = ["CropResult", "fits", "required_zoom", "fit_crop", "slerp_matrix"]


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


def slerp_matrix(A: np.ndarray, B: np.ndarray, lam: float) -> np.ndarray:
    """Rotation ``lam`` of the way from ``A`` (3, 3) to ``B`` (3, 3)."""
    rel = Rotation.from_matrix(A.T @ B).as_rotvec()
    return A @ Rotation.from_rotvec(lam * rel).as_matrix()


def fits(planner: WarpPlanner, V: np.ndarray, zoom: float, t_frame_s: float, border: np.ndarray) -> bool:
    """True when every border point of the output maps inside the source frame."""
    src = planner.source_points(border, V, zoom, t_frame_s)
    return bool(np.all(planner.inside_source(src)))


def required_zoom(
    planner: WarpPlanner, V: np.ndarray, t_frame_s: float, border: np.ndarray,
    *, lo: float = 0.5, hi: float = 4.0, tol: float = 1e-3,
) -> float:
    """Smallest zoom in ``[lo, hi]`` at which the frame fits (``inf`` if none)."""
    if not fits(planner, V, hi, t_frame_s, border):
        return float("inf")
    if fits(planner, V, lo, t_frame_s, border):
        return lo
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if fits(planner, V, mid, t_frame_s, border):
            hi = mid
        else:
            lo = mid
    return hi


def _min_pullback(planner, V, R, zoom, t, border, lo=0.0, iters=12) -> float:
    if fits(planner, slerp_matrix(V, R, lo), zoom, t, border):
        return lo
    if not fits(planner, R, zoom, t, border):
        return 1.0
    hi = 1.0
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if fits(planner, slerp_matrix(V, R, mid), zoom, t, border):
            hi = mid
        else:
            lo = mid
    return hi


def fit_crop(
    planner: WarpPlanner,
    R_real: np.ndarray,
    R_virt: np.ndarray,
    frame_times_s: np.ndarray,
    *,
    max_zoom: float = 1.25,
    min_zoom: float = 0.5,
    spread_sigma_s: float = 0.15,
    border_per_edge: int = 24,
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
    border = planner.border_points(border_per_edge)
    z = np.array([required_zoom(planner, R_virt[i], frame_times_s[i], border, lo=min_zoom) for i in range(n)])
    if progress:
        progress(n, 2 * n)
    V = np.array(R_virt, copy=True)
    lam = np.zeros(n)
    if np.max(z) > max_zoom:
        for i in np.nonzero(z > max_zoom)[0]:
            lam[i] = _min_pullback(planner, V[i], R_real[i], max_zoom, frame_times_s[i], border)
        period = float(np.median(np.diff(frame_times_s))) if n > 1 else 1.0
        w = max(1, int(round(2 * spread_sigma_s / period)))
        lam_s = maximum_filter1d(lam, size=2 * w + 1, mode="nearest")
        lam_s = np.clip(gaussian_filter1d(lam_s, sigma=max(spread_sigma_s / period, 1e-6), mode="nearest"), 0.0, 1.0)
        for i in range(n):
            Vi = slerp_matrix(R_virt[i], R_real[i], lam_s[i]) if lam_s[i] > 0 else R_virt[i]
            if not fits(planner, Vi, max_zoom, frame_times_s[i], border):
                lam_s[i] = _min_pullback(planner, R_virt[i], R_real[i], max_zoom, frame_times_s[i], border, lo=lam_s[i])
                Vi = slerp_matrix(R_virt[i], R_real[i], lam_s[i])
            V[i] = Vi
        lam = lam_s
        z = np.array([required_zoom(planner, V[i], frame_times_s[i], border, lo=min_zoom) for i in range(n)])
    if progress:
        progress(2 * n, 2 * n)
    zoom = float(np.max(z[np.isfinite(z)])) if np.any(np.isfinite(z)) else max_zoom
    return CropResult(V, zoom, lam, z)
