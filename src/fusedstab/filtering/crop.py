"""Stage 2C: undefined-region avoidance and the output crop (a crop *budget*).

The output is a pinhole virtual camera whose focal length is the source's times ``zoom``.
For a given virtual orientation a frame *fits* at a zoom when every point on the output's
border maps inside the source frame through the full per-row warp (rolling shutter, OIS and
lens included).

The zoom is not sized by the clip's worst moment. It is set by a **crop budget**,
``fov_keep`` (the fraction of the source width to keep, ``zoom = 1 / fov_keep``, at most
``max_zoom``), and the Pixel design's undefined-region avoidance does the work: where the
smoothed camera would leave the source at that zoom, the virtual camera is pulled toward the
real one, ``V_i <- slerp(V_i, R_i, lambda_i)``, with the smallest ``lambda_i`` that fits.
``lambda`` is then raised to the smallest curve above it that changes by at most
``pull_rate_per_s`` per second (ahead and behind), so the camera eases toward the real one a
few frames *before* it would leave the picture instead of snapping, and lets go as
gradually; every frame is then re-checked as a hard constraint. (Until 2026-12 the spread was
a rolling max over +-0.3 s and a Gaussian: it held the pull at its peak for 0.6 s around
every frame that needed one, which at a tight budget undid most of the smoothing: the
simulated walk at ``--fov-keep 0.98`` kept 4.67 px of jitter, 3.66 px with the bounded rate.)

``mode="adaptive"``: a per-frame zoom for clips with one violent moment. The zoom each
frame's smoothed camera needs is clipped to ``[base, max_zoom]`` (``base`` = the budget's
zoom), smoothed (rolling max + Gaussian) and dilated so that it changes by at most
``zoom_rate_per_s`` per second; it rises only around the frames that need it, and the
pull-back handles what is left.

Only if even the real camera does not fit (e.g. a lens whose picture does not fill the
rectangle at that zoom) is the zoom raised above the budget. Result: no undefined pixels.

All searches run for many frames at once (vectorized over frames): bisections, and for the
pull-back a regula falsi on the border's slack (:func:`slack_px`) that stops at the width 12
bisection steps would leave, in about half the evaluations (same plans on every bench clip).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from ..rotation import exp_so3, log_so3
from ..synthesis.plan import WarpPlanner

__all__ = [
    "CropResult", "fits", "required_zoom", "min_pullback", "fit_crop", "slerp_matrix", "budget_zoom",
    "DEFAULT_FOV_KEEP", "DEFAULT_ZOOM_RATE_PER_S", "DEFAULT_PULL_RATE_PER_S", "gradual_pullback",
    "with_required_zoom", "slack_px", "fixed_zoom", "adaptive_zoom_of",
]

_CHUNK = 128  # frames per vectorized batch

#: Default crop budget: keep 92 % of the width (see docs/BENCHMARKS.md, "Crop budget").
DEFAULT_FOV_KEEP = 0.92
#: Default bound on the adaptive zoom's velocity [zoom units per second].
DEFAULT_ZOOM_RATE_PER_S = 0.1
#: Default bound on how fast the pull-back toward the real camera changes [1/s]: from none to
#: full in 0.25 s at most (walk at ``--fov-keep 0.98``: 2/s 3.80 px, 4/s 3.66, 8/s 3.64; the
#: spread it replaced 4.67; ffmpeg vid.stab 4.03 at the same crop; docs/BENCHMARKS.md).
DEFAULT_PULL_RATE_PER_S = 4.0


@dataclass(frozen=True)
class CropResult:
    """Outcome of :func:`fit_crop`.

    Attributes
    ----------
    R_world_virt : (N, 3, 3) virtual orientations after pull-back.
    zoom : the largest output zoom used (output focal / source focal); the clip's zoom in
        ``fixed`` mode.
    pullback : (N,) lambda per frame (0 = smooth path kept, 1 = real camera).
    required_zoom : (N,) zoom each frame needs with the final orientations (None when not
        measured: ``fit_crop(measure_need=False)``).
    zoom_per_frame : (N,) the zoom of each frame (``adaptive`` mode), None = ``zoom`` everywhere.
    corridor : the path pulled back was the steadiest inside the crop's room
        (:mod:`fusedstab.filtering.corridor`), not the smoothed one as proposed.
    """

    R_world_virt: np.ndarray
    zoom: float
    pullback: np.ndarray
    required_zoom: np.ndarray | None
    zoom_per_frame: np.ndarray | None = None
    corridor: bool = False

    def zoom_at(self, i: int) -> float:
        """The output zoom of frame ``i``."""
        return float(self.zoom_per_frame[i]) if self.zoom_per_frame is not None else float(self.zoom)

    @property
    def fov_kept(self) -> float:
        """Mean fraction of the source width kept (``1 / zoom`` per frame, averaged)."""
        if self.zoom_per_frame is None:
            return 1.0 / self.zoom
        return float(np.mean(1.0 / np.asarray(self.zoom_per_frame)))


def with_required_zoom(crop: CropResult, planner: WarpPlanner, frame_times_s: np.ndarray,
                       *, min_zoom: float = 0.5) -> CropResult:
    """``crop`` with :attr:`CropResult.required_zoom` measured, if it was left out."""
    if crop.required_zoom is not None:
        return crop
    z = required_zoom(planner, crop.R_world_virt, np.asarray(frame_times_s, dtype=np.float64),
                      planner.border_points(), lo=min_zoom)
    return replace(crop, required_zoom=z)


def budget_zoom(fov_keep: float, max_zoom: float) -> float:
    """The zoom of a crop budget: ``min(1 / fov_keep, max_zoom)``."""
    if not 0.0 < fov_keep <= 2.0:
        raise ValueError(f"fov_keep must be in (0, 2], got {fov_keep}")
    return float(min(1.0 / fov_keep, max_zoom))


def slerp_matrix(A: np.ndarray, B: np.ndarray, lam) -> np.ndarray:
    """Rotations ``lam`` of the way from ``A`` to ``B``; (..., 3, 3) with lam scalar or (...)."""
    rel = log_so3(np.swapaxes(A, -1, -2) @ B)
    lam = np.asarray(lam, dtype=np.float64)
    return A @ exp_so3(lam[..., None] * rel)


def fits(planner: WarpPlanner, V: np.ndarray, zoom, t_frame_s, border: np.ndarray) -> np.ndarray:
    """Bool (N,) or (): every border point (P, 2) of the output maps inside the source frame.

    ``V`` (N, 3, 3) or (3, 3); ``zoom`` and ``t_frame_s`` scalars or (N,). Frames are checked
    :data:`_CHUNK` at a time, so memory does not grow with the clip (all frames at once took
    ~200 KB per frame at 1080p: 3.6 GB for a 10-minute clip).
    """
    V = np.asarray(V, dtype=np.float64)
    if V.ndim != 3 or len(V) <= _CHUNK:
        src = planner.source_points(border, V, zoom, t_frame_s)
        return np.all(planner.inside_source(src), axis=-1)
    n = len(V)
    z = np.broadcast_to(np.asarray(zoom, dtype=np.float64), (n,))
    t = np.broadcast_to(np.asarray(t_frame_s, dtype=np.float64), (n,))
    out = np.empty(n, dtype=bool)
    for sl in _chunks(n):
        out[sl] = fits(planner, V[sl], z[sl], t[sl], border)
    return out


def slack_px(planner: WarpPlanner, V: np.ndarray, zoom, t_frame_s, border: np.ndarray) -> np.ndarray:
    """(N,) how far [source px] the worst border point lies inside the allowed source
    rectangle (:meth:`WarpPlanner.inside_source`); negative outside, ``-inf`` where a ray
    cannot be imaged. ``slack_px >= 0`` exactly where :func:`fits` is True. All frames in one
    call: :func:`min_pullback` calls it per chunk of :data:`_CHUNK` frames."""
    V = np.asarray(V, dtype=np.float64)
    src = planner.source_points(border, V, zoom, t_frame_s)
    m = 0.5  # inside_source's margin
    x, y = src[..., 0], src[..., 1]
    W, H = planner.camera.width_px - 1.0, planner.camera.height_px - 1.0
    d = np.minimum(np.minimum(x - m, (W - m) - x), np.minimum(y - m, (H - m) - y))
    return np.min(np.where(np.isnan(d), -np.inf, d), axis=-1)


def fixed_zoom(planner: WarpPlanner, R_real: np.ndarray, frame_times_s: np.ndarray, base: float,
               border: np.ndarray, *, min_zoom: float = 0.5) -> float:
    """The clip's zoom in ``fixed`` mode: the budget's ``base``, raised only as far as the real
    camera itself needs to fit on every frame (:func:`fit_crop`, and the corridor's room)."""
    if np.all(fits(planner, R_real, base, frame_times_s, border)):
        return float(base)
    z_real = required_zoom(planner, R_real, frame_times_s, border, lo=min_zoom)
    finite = z_real[np.isfinite(z_real)]
    return float(max(base, finite.max() if len(finite) else base))


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
    planner: WarpPlanner, V: np.ndarray, R: np.ndarray, zoom, t_frame_s: np.ndarray, border: np.ndarray,
    *, lo=None, iters: int = 12,
) -> np.ndarray:
    """(N,) smallest lambda in ``[lo, 1]`` such that ``slerp(V, R, lambda)`` fits at ``zoom``
    (a scalar or (N,)), to the width ``iters`` bisection steps would leave
    (:func:`_root_in_bracket`; only the frames that do not fit at ``lo`` are searched).

    1 where even the real orientation does not fit.
    """
    n = len(V)
    lo_arr = np.zeros(n) if lo is None else np.asarray(lo, dtype=np.float64).copy()
    z_arr = np.broadcast_to(np.asarray(zoom, dtype=np.float64), (n,))
    out = np.empty(n)
    t_arr = np.broadcast_to(np.asarray(t_frame_s, dtype=np.float64), (n,))
    for sl in _chunks(n):
        Vc, Rc, tc, zc = V[sl], R[sl], t_arr[sl], z_arr[sl]
        a = lo_arr[sl].copy()
        ok_lo = fits(planner, slerp_matrix(Vc, Rc, a), zc, tc, border)
        out[sl] = a
        bad = np.flatnonzero(~ok_lo)  # only the frames that do not fit at lo are searched
        if len(bad) == 0:
            continue
        out[sl.start + bad] = _root_in_bracket(planner, Vc[bad], Rc[bad], zc[bad], tc[bad], border, a[bad], iters)
    return out


def _root_in_bracket(planner, V, R, z, t, border, a, iters):
    """Smallest lambda in ``(a, 1]`` at which ``slerp(V, R, lambda)`` fits (``a`` does not),
    to the width ``(1 - a) / 2**iters`` that bisection in ``iters`` steps would leave.

    Regula falsi on the border's slack (:func:`slack_px`, a smooth function of lambda between
    the worst point's changes) with the Illinois rule, so a bracket end that stays put has its
    slack halved; every step lands at least a quarter of the final width inside the bracket,
    and bisects wherever an end's slack is not finite. About half of bisection's evaluations
    on the bench clips; the answer always fits.
    """
    n = len(V)
    b = np.ones(n)
    tol = (1.0 - a) / 2.0 ** iters
    s_a = slack_px(planner, slerp_matrix(V, R, a), z, t, border)
    s_b = slack_px(planner, R, z, t, border)  # lambda = 1: the target itself
    act = np.flatnonzero(s_b >= 0)  # frames where even the target does not fit stay at 1
    side = np.zeros(n, np.int8)  # which end moved last: -1 a, +1 b
    for _ in range(2 * iters):  # never more than bisection's evaluations, twice over
        if len(act) == 0:
            break
        aa, bb, sa, sb = a[act], b[act], s_a[act], s_b[act]
        width = bb - aa
        with np.errstate(invalid="ignore", divide="ignore"):
            c = bb - sb * width / (sb - sa)
        # at least a quarter of the tolerance from either end, so every step shrinks the bracket;
        # where an end's slack is not finite (rays the lens cannot image) the secant says
        # nothing: bisect
        step = 0.25 * tol[act]
        secant = np.isfinite(c) & np.isfinite(sa) & np.isfinite(sb)
        c = np.where(secant, np.clip(c, aa + step, bb - step), 0.5 * (aa + bb))
        sc = slack_px(planner, slerp_matrix(V[act], R[act], c), z[act], t[act], border)
        ok = sc >= 0
        # Illinois: the end that did not move for the second time in a row has its slack halved
        keep_a = ok & (side[act] == 1) & np.isfinite(sa)
        keep_b = ~ok & (side[act] == -1)
        s_a[act] = np.where(ok, np.where(keep_a, 0.5 * sa, sa), sc)
        s_b[act] = np.where(ok, sc, np.where(keep_b, 0.5 * sb, sb))
        a[act] = np.where(ok, aa, c)
        b[act] = np.where(ok, c, bb)
        side[act] = np.where(ok, 1, -1)
        done = (b[act] - a[act]) <= tol[act]
        act = act[~done]
    return b


def gradual_pullback(lam: np.ndarray, t: np.ndarray, rate_per_s: float) -> np.ndarray:
    """The smallest pull-back curve ``>= lam`` that changes by at most ``rate_per_s`` per
    second: a needed pull is approached ahead of its frame and released after it at a bounded
    speed (the look-ahead that makes the pull gradual), and no frame is pulled more than that
    requires. ``rate_per_s <= 0``: ``lam`` itself."""
    lam = np.asarray(lam, dtype=np.float64)
    if rate_per_s <= 0 or len(lam) < 2:
        return lam.copy()
    return np.clip(_rate_limited_envelope(lam, np.asarray(t, dtype=np.float64), rate_per_s), 0.0, 1.0)


def _rate_limited_envelope(z: np.ndarray, t: np.ndarray, rate: float) -> np.ndarray:
    """Smallest function >= ``z`` whose slope is at most ``rate`` (per second)."""
    out = np.array(z, dtype=np.float64)
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] - rate * (t[i] - t[i - 1]))
    for i in range(len(out) - 2, -1, -1):
        out[i] = max(out[i], out[i + 1] - rate * (t[i + 1] - t[i]))
    return out


def adaptive_zoom(z_need: np.ndarray, t: np.ndarray, base: float, max_zoom: float, *,
                  rate_per_s: float = DEFAULT_ZOOM_RATE_PER_S, sigma_s: float = 0.3) -> np.ndarray:
    """Per-frame zoom: the need clipped to ``[base, max_zoom]``, spread (rolling max + Gaussian)
    and dilated so it changes by at most ``rate_per_s`` per second."""
    z = np.clip(np.where(np.isfinite(z_need), z_need, max_zoom), base, max(base, max_zoom))
    if len(z) < 2:
        return z
    period = float(np.median(np.diff(t)))
    w = max(1, int(round(2 * sigma_s / period)))
    z = maximum_filter1d(z, size=2 * w + 1, mode="nearest")
    z = gaussian_filter1d(z, sigma=max(sigma_s / period, 1e-6), mode="nearest")
    z = _rate_limited_envelope(z, t, rate_per_s)
    return np.clip(z, base, max(base, max_zoom))


def adaptive_zoom_of(planner: WarpPlanner, R_real: np.ndarray, R_virt: np.ndarray, frame_times_s: np.ndarray,
                     base: float, max_zoom: float, *, rate_per_s: float = DEFAULT_ZOOM_RATE_PER_S,
                     min_zoom: float = 0.5) -> np.ndarray:
    """(N,) the per-frame zoom of ``mode='adaptive'`` (:func:`fit_crop`) for the path ``R_virt``:
    what each frame needs (:func:`required_zoom`) spread by :func:`adaptive_zoom` from the
    budget's zoom ``base`` up to ``max_zoom``, raised where even the real camera ``R_real`` does
    not fit (then the rate bound gives way only as far as that needs)."""
    t = np.asarray(frame_times_s, dtype=np.float64)
    border = planner.border_points()
    z_need = required_zoom(planner, R_virt, t, border, lo=min_zoom)
    zf = adaptive_zoom(z_need, t, base, max_zoom, rate_per_s=rate_per_s)
    if not np.all(fits(planner, R_real, zf, t, border)):
        z_real = required_zoom(planner, R_real, t, border, lo=min_zoom)
        zf = np.maximum(zf, _rate_limited_envelope(np.where(np.isfinite(z_real), z_real, zf), t, rate_per_s))
    return zf


def _pull(planner, V0, T, zoom, t, border, rate_per_s):
    """``(slerp(V0, T, lam), lam)`` with the smallest gradual ``lam`` that fits (hard-checked)."""
    lam = min_pullback(planner, V0, T, zoom, t, border)
    if not np.any(lam > 0):
        return np.array(V0, copy=True), lam
    lam_s = gradual_pullback(lam, t, rate_per_s)
    # hard constraint: every frame must fit with its final lambda
    lam = min_pullback(planner, V0, T, zoom, t, border, lo=lam_s)
    return slerp_matrix(V0, T, lam), lam


def fit_crop(
    planner: WarpPlanner,
    R_real: np.ndarray,
    R_virt: np.ndarray,
    frame_times_s: np.ndarray,
    *,
    fov_keep: float = DEFAULT_FOV_KEEP,
    max_zoom: float = 1.25,
    mode: str = "fixed",
    zoom_rate_per_s: float = DEFAULT_ZOOM_RATE_PER_S,
    min_zoom: float = 0.5,
    pull_rate_per_s: float = DEFAULT_PULL_RATE_PER_S,
    pull_target: np.ndarray | None = None,
    pull_sigma_s: float = 0.0,
    measure_need: bool = True,
    zoom_per_frame: np.ndarray | None = None,
    progress=None,
) -> CropResult:
    """Pull the virtual camera back where it would leave the source at the budget's zoom.

    Parameters
    ----------
    planner : the clip's warp planner.
    R_real : (N, 3, 3) real orientation at each frame's centre-row time.
    R_virt : (N, 3, 3) smoothed virtual orientation.
    frame_times_s : (N,) frame start times (video clock).
    fov_keep : crop budget, the fraction of the source width kept (zoom ``1 / fov_keep``).
    max_zoom : largest zoom: caps the budget's zoom and the adaptive zoom.
    mode : ``"fixed"`` (one zoom for the clip) or ``"adaptive"`` (per-frame zoom, rising only
        where needed, at most ``zoom_rate_per_s`` per second).
    min_zoom : smallest zoom considered when measuring what frames need.
    pull_rate_per_s : the pull-back's largest change per second (:func:`gradual_pullback`).
    pull_target : (N, 3, 3) what the virtual camera is pulled toward (default ``R_real``), e.g.
        the real camera turned level for horizon lock; where the target itself does not fit it
        is first pulled toward ``R_real`` the same way.
    pull_sigma_s : > 0: pull toward the real camera smoothed by a Gaussian of this sigma (it
        keeps the shake out of the pulled frames; where it does not fit, it is pulled toward
        ``R_real``); ignored with ``pull_target``.
    measure_need : measure :attr:`CropResult.required_zoom` (a bisection over every frame,
        about a third of the fit); False leaves it None, to be measured where it is read
        (:func:`with_required_zoom`; the pipeline's plans leave it to the report's chart).
    zoom_per_frame : (N,) with ``mode='adaptive'``: the zoom of each frame, already made
        (:func:`adaptive_zoom_of` of the path the crop corridor kept inside its room); default:
        made here from ``R_virt``.
    progress : optional callable(done, total).
    """
    if mode not in ("fixed", "adaptive"):
        raise ValueError(f"mode must be 'fixed' or 'adaptive', got {mode!r}")
    n = len(R_virt)
    t = np.asarray(frame_times_s, dtype=np.float64)
    border = planner.border_points()
    base = budget_zoom(fov_keep, max_zoom)
    zf = None
    if mode == "adaptive":
        # if even the real camera does not fit, the zoom rises as far as it needs (never undefined)
        zf = (adaptive_zoom_of(planner, R_real, R_virt, t, base, max_zoom, rate_per_s=zoom_rate_per_s,
                               min_zoom=min_zoom)
              if zoom_per_frame is None else np.asarray(zoom_per_frame, dtype=np.float64))
        zoom_arg = zf
    else:  # if even the real camera does not fit at the budget, the zoom must rise
        base = fixed_zoom(planner, R_real, t, base, border, min_zoom=min_zoom)
        zoom_arg = base
    if progress:
        progress(1, 3)
    target = R_real
    if pull_target is None and pull_sigma_s > 0 and n > 2:
        from .gaussian import gaussian_smooth_orientations

        pull_target = gaussian_smooth_orientations(R_real, t, pull_sigma_s)
    if pull_target is not None:
        target = _pull(planner, np.asarray(pull_target, dtype=np.float64), R_real, zoom_arg, t, border,
                       pull_rate_per_s)[0]
    V, lam = _pull(planner, R_virt, target, zoom_arg, t, border, pull_rate_per_s)
    if progress:
        progress(2, 3)
    z = required_zoom(planner, V, t, border, lo=min_zoom) if measure_need else None
    if progress:
        progress(3, 3)
    if zf is None:
        return CropResult(V, float(base), lam, z)
    return CropResult(V, float(np.max(zf)), lam, z, zf)
