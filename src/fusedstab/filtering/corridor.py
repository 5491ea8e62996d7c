"""Stage 2C': the steadiest path the crop allows (the crop *corridor*).

Where the Gaussian-smoothed camera would leave the source, :func:`~fusedstab.filtering.crop.fit_crop`
pulls it toward the real camera by slerp: all three axes at once, by the share the tightest
one needs. On a tight budget that undoes the smoothing of the axes that had room (a clip whose
tilt has 3 deg of room and whose pan has 12 loses its pan smoothing whenever the tilt runs
out), and where the real path bends (a turn) the pull follows the real path's corners.

Here the virtual path is found inside the room itself, per axis:

* the real path is unwrapped into ``phi`` (N, 3) [rad]: the cumulative sum of the camera-frame
  rotation between consecutive frames (the same path :func:`~fusedstab.filtering.blur_mask.hf_jitter_deg`
  measures), and a virtual path ``V_i = R_i exp(v_i - phi_i)`` is written as ``v`` on it;
* each frame's room ``[phi - room_neg, phi + room_pos]`` per axis is the largest rotation of
  the real camera about that camera axis alone that still fits at the crop's zoom
  (:func:`axis_room`, bisection with the full per-row warp);
* ``v`` minimizes ``|(I - G) v|^2 + mu |v - g|^2`` inside the room, where ``G`` is the Gaussian
  local-linear smoother of the plan's smoothness (what is left of the path after it is its
  high-frequency shake; the Gaussian in the interior, a weighted line fit at the clip's ends,
  as the jitter metric measures it) and ``g`` the path proposed (the Gaussian, intent or
  residual path): the smoothest path within the corridor that stays near the proposal where
  the corridor leaves it free. The problem is convex with box constraints; it is solved by
  accelerated projected gradient (FISTA) with two smoothing passes per step, linear in the
  clip's length;
* the single-axis rooms do not add up (a frame using all of its pan room and all of its tilt
  room, or its roll room, can leave the picture at a corner), so each frame also has joint
  constraints (:func:`joint_limits`): every sampled border node of the output, corners
  included, stays inside the source, with the node's source position linear in the three axes'
  turns (central differences at the real camera). Each projected-gradient step projects onto
  the box and then, on the frames that violate a limit, :data:`JOINT_SWEEPS` times onto the
  most violated limit and the box. Before (box only), the crop's
  hard pull-back undid a quarter of the corridor's gain where a frame used two axes' room
  (predicted jitter before / after the pull-back, phone without gyro at a 0.955 budget,
  ``mu`` 0.03: 3.38 / 4.44 px; with the joint limits 3.72 / 3.90 px; docs/BENCHMARKS.md, "The
  corridor's joint limits");
* the linearised limits are close, not exact: the crop's hard pull-back
  (:func:`~fusedstab.filtering.crop.fit_crop`) settles what is left, so no output pixel is ever
  undefined. (Narrowing the room of the frames that still leave the picture and solving again
  was tried: steadier on the GoPro MAX clip, shakier on the simulated walk and run and on the
  phone clip than the gradual pull-back of one solve.)

The pipeline tries this path where the chosen plan's crop pulled back, with the same budget,
smoothness, residual and intent, and keeps it where the tracks predict at least 3 % less
jitter, or no more in pixels and 3 % less image rotation (``pipeline.corridor_steadier``;
docs/BENCHMARKS.md, "The crop corridor" and "The corridor on a turn").
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.ndimage import correlate1d

from ..rotation import exp_so3, log_so3
from ..synthesis.plan import WarpPlanner

__all__ = ["CORRIDOR_MU", "CorridorRoom", "axis_room", "corridor_path", "corridor_room", "joint_limits",
           "smoothest_in_corridor", "unwrap_path"]

#: weight of the proposal ``g`` against the high-frequency term (see the module docstring).
#: Predicted jitter [px] of the bench clips' chosen plans with the joint limits at 0.003 / 0.01 /
#: 0.03 (2026-12-07, sixteenth session): phone without gyro 3.73 / 3.74 / 3.77, with its gyro
#: 3.015 / 3.021 / 3.045, simulated walk 2.884 / 2.883 / 2.883, run 8.99 / 9.00 / 9.02, pan
#: 1.902 / 1.903 / 1.907, MAX 1.90 / 2.17 / 2.41. 0.01 takes most of it; what 0.003 adds is the
#: MAX's alone, and rendered the MAX was steadier at 0.03 than at 0.01 (docs/BENCHMARKS.md).
#: (With the box alone, before the joint limits, 0.03 was the best: walk 3.42 / 3.36 at 0.003
#: / 0.03, run 8.61 / 8.59.)
CORRIDOR_MU = 0.01
#: the largest single-axis room searched [rad] and its precision in bisection steps
#: (0.3 / 2**9: 0.6 mrad, a pixel at a focal length of 1700 px)
_ROOM_MAX_RAD = 0.3
_ROOM_STEPS = 9
#: border nodes sampled per edge of the output grid for the joint limits (corners included)
JOINT_NODES_PER_EDGE = 13
#: the turn [rad] of the central differences that linearise a node's source position
JOINT_STEP_RAD = 0.01
#: projection sweeps onto the joint limits per solver step (each: every violating frame's most
#: violated limit, then the box)
JOINT_SWEEPS = 8


def unwrap_path(R: np.ndarray, R_ref: np.ndarray | None = None) -> np.ndarray:
    """(N, 3) [rad]: the path of orientations ``R`` (N, 3, 3) on the unwrapped real path of
    ``R_ref`` (default ``R``): ``phi_i + log(R_ref_i^T R_i)``, with ``phi`` the cumulative
    camera-frame steps of ``R_ref``."""
    R = np.asarray(R, dtype=np.float64)
    R_ref = R if R_ref is None else np.asarray(R_ref, dtype=np.float64)
    steps = log_so3(np.swapaxes(R_ref[:-1], -1, -2) @ R_ref[1:])
    phi = np.concatenate([np.zeros((1, 3)), np.cumsum(steps, axis=0)])
    if R is R_ref:
        return phi
    return phi + log_so3(np.swapaxes(R_ref, -1, -2) @ R)


def axis_room(planner: WarpPlanner, R_real: np.ndarray, zoom, t_frame_s: np.ndarray) -> np.ndarray:
    """(N, 3, 2) [rad]: per frame and camera axis, how far the real camera can turn about that
    axis alone, positive ``[..., 0]`` and negative ``[..., 1]``, and still fit at ``zoom`` (a
    scalar, or (N,) per frame: the adaptive zoom).

    0 where even the real camera does not fit. Searched as the pull-back from a turn of
    :data:`_ROOM_MAX_RAD` toward the real camera (:func:`~fusedstab.filtering.crop.min_pullback`,
    to :data:`_ROOM_STEPS` bisection steps' width), all six directions of all frames at once,
    on every other border node and the corners: the room only shapes the corridor, the crop's
    hard pull-back afterwards checks every node.
    """
    from .crop import min_pullback

    R_real = np.asarray(R_real, dtype=np.float64)
    n = len(R_real)
    g = planner.grid_px
    border = np.concatenate([planner.border_points()[::2], g[[0, 0, -1, -1], [0, -1, 0, -1]]])
    axes = np.concatenate([np.eye(3), -np.eye(3)])  # (6, 3): +x +y +z -x -y -z
    R6 = np.repeat(R_real, 6, axis=0)
    far = R6 @ exp_so3(np.tile(axes, (n, 1)) * _ROOM_MAX_RAD)
    t6 = np.repeat(np.asarray(t_frame_s, dtype=np.float64), 6)
    z6 = np.repeat(np.broadcast_to(np.asarray(zoom, dtype=np.float64), (n,)), 6)
    lam = min_pullback(planner, far, R6, z6, t6, border, iters=_ROOM_STEPS)
    return ((1.0 - lam) * _ROOM_MAX_RAD).reshape(n, 2, 3).transpose(0, 2, 1)


def joint_limits(planner: WarpPlanner, R_real: np.ndarray, zoom, t_frame_s: np.ndarray,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, half-spaces ``A d <= b`` on the turn ``d`` [rad] of the virtual camera from the
    real one (``V = R exp(d)``, camera axes) that keep the output's border inside the source at
    ``zoom`` (a scalar, or (N,) per frame).

    Nodes: :data:`JOINT_NODES_PER_EDGE` per edge of the output grid, corners included; a node
    on the left edge must keep its source x at least 0.5 px inside (the margin of
    :meth:`~fusedstab.synthesis.plan.WarpPlanner.inside_source`), on the right at most W - 0.5,
    and so on, a corner both of its edges. Each node's source position is linear in ``d``:
    its value at the real camera and central differences of :data:`JOINT_STEP_RAD` (the full
    per-row warp). Rows are scaled to unit ``|A|``, so ``A d - b`` is a turn [rad]; a node the
    lens cannot image gives ``0 <= 0``.

    Returns
    -------
    A : (N, M, 3) float32; b : (N, M) float32.
    """
    R_real = np.asarray(R_real, dtype=np.float64)
    t = np.asarray(t_frame_s, dtype=np.float64)
    z = np.broadcast_to(np.asarray(zoom, dtype=np.float64), (len(R_real),))
    g = planner.grid_px
    ny, nx = g.shape[:2]
    cols = np.unique(np.round(np.linspace(0, nx - 1, JOINT_NODES_PER_EDGE)).astype(int))
    rows = np.unique(np.round(np.linspace(0, ny - 1, JOINT_NODES_PER_EDGE)).astype(int))
    nodes, sides = [], []  # sides: (axis 0 = x / 1 = y, sign +1 = upper bound / -1 = lower bound)
    for r in rows:
        for c in cols:
            edge = []
            if c == 0:
                edge.append((0, -1.0))
            if c == nx - 1:
                edge.append((0, 1.0))
            if r == 0:
                edge.append((1, -1.0))
            if r == ny - 1:
                edge.append((1, 1.0))
            for e in edge:
                nodes.append(g[r, c])
                sides.append(e)
    nodes = np.asarray(nodes, dtype=np.float64)
    axis = np.array([a for a, _ in sides])
    sign = np.array([s for _, s in sides])
    hi = np.where(axis == 0, planner.camera.width_px - 1.0, planner.camera.height_px - 1.0) - 0.5
    n, m = len(R_real), len(nodes)
    # float32: 4 bytes a number is a nanoradian at these sizes, and a long clip's limits stay
    # small (10 min at 60 fps, 52 limits: 30 MB)
    A = np.empty((n, m, 3), dtype=np.float32)
    b = np.empty((n, m), dtype=np.float32)
    from .crop import _chunks

    for sl in _chunks(n):
        Rs, ts, zs = R_real[sl], t[sl], z[sl]
        p0 = planner.source_points(nodes, Rs, zs, ts)[..., np.arange(m), axis]  # (n, m)
        J = np.empty(p0.shape + (3,))
        for k in range(3):
            e = np.zeros(3)
            e[k] = JOINT_STEP_RAD
            pp = planner.source_points(nodes, Rs @ exp_so3(e), zs, ts)[..., np.arange(m), axis]
            pm = planner.source_points(nodes, Rs @ exp_so3(-e), zs, ts)[..., np.arange(m), axis]
            J[..., k] = (pp - pm) / (2.0 * JOINT_STEP_RAD)
        # upper bound: p0 + J d <= hi; lower bound: p0 + J d >= 0.5, i.e. -J d <= p0 - 0.5
        Ak = sign[:, None] * J
        bk = np.where(sign > 0, hi - p0, p0 - 0.5)
        norm = np.linalg.norm(Ak, axis=-1)
        ok = np.isfinite(bk) & np.all(np.isfinite(Ak), axis=-1) & (norm > 1e-9)
        A[sl] = np.where(ok[..., None], Ak / np.where(ok, norm, 1.0)[..., None], 0.0)
        b[sl] = np.where(ok, bk / np.where(ok, norm, 1.0), 0.0)
    return A, b


class CorridorRoom:
    """A clip's room at a zoom: the single-axis box (:func:`axis_room`) and the joint limits
    (:func:`joint_limits`); it does not depend on the proposed path, so the pipeline makes it
    once per zoom for every path it tries."""

    def __init__(self, box: np.ndarray, A: np.ndarray | None = None, b: np.ndarray | None = None):
        self.box, self.A, self.b = box, A, b


def corridor_room(planner: WarpPlanner, R_real: np.ndarray, zoom, t_frame_s: np.ndarray) -> CorridorRoom:
    """:class:`CorridorRoom` of the real path ``R_real`` (N, 3, 3) at ``zoom`` (scalar or (N,))."""
    return CorridorRoom(axis_room(planner, R_real, zoom, t_frame_s), *joint_limits(planner, R_real, zoom, t_frame_s))


class _LocalLinear:
    """``G x``: Gaussian local-linear smoothing along axis 0, and ``G^T y`` exactly.

    Each sample is replaced by the value at its own position of the line fitted to its
    neighbours by Gaussian-weighted least squares (taps within ``truncate`` sigmas, none
    beyond the path's ends). In the interior, where the window is symmetric, this is the
    Gaussian filter; at the ends the window is one-sided and the line keeps a path of constant
    velocity exactly, as the jitter metric's smoothing does
    (:func:`~fusedstab.measure.metrics.gaussian_smooth`): a steady pan into the last frame is not
    shake, where a Gaussian with the end value repeated (used until 2026-12) counted its slope as
    shake and flattened the virtual camera toward the ends.

    ``G x = a * (w * x) - b * (wk * x)`` and ``G^T y = w * (a y) + wk * (b y)``, with ``*`` the
    correlation with zeros beyond the ends, ``w`` the Gaussian taps, ``wk`` the taps times their
    offset, and per sample ``a = S2 / det``, ``b = S1 / det`` from the window's weight moments
    (``det = S0 S2 - S1^2``; the plain weighted mean where a window is too short for a line).
    Wide kernels on long paths (sigma of 2 s at 60 fps: 961 taps) are applied by FFT, so a step
    of the solver costs about the same for every smoothness; the rest directly (an FFT call costs
    ~0.2 ms, more than a direct pass over a short clip).
    """

    #: the FFT is used where the direct correlation needs more than this many multiply-adds
    #: per column (samples x taps)
    FFT_WORK = 200_000

    def __init__(self, sigma_frames: float, truncate: float = 4.0):
        self.sigma = float(sigma_frames)
        r = int(truncate * self.sigma + 0.5)
        k = np.arange(-r, r + 1, dtype=np.float64)
        self.r = r
        self.w = np.exp(-0.5 * (k / self.sigma) ** 2)
        self.wk = self.w * k
        self._moments: tuple[int, np.ndarray, np.ndarray] | None = None

    def _corr(self, x: np.ndarray, h: np.ndarray) -> np.ndarray:
        """``out[i] = sum_k h[k + r] x[i + k]`` along axis 0, zeros beyond the ends."""
        n = len(x)
        if n * len(h) <= self.FFT_WORK:
            return correlate1d(x, h, axis=0, mode="constant")
        # one real FFT of the zero-padded path (scipy.fft is loaded with scipy.ndimage; scipy.signal's
        # convolutions would load 20 MB and 0.7 s of modules for this one call)
        from scipy import fft as sfft

        xp = np.pad(x, ((self.r, self.r),) + ((0, 0),) * (x.ndim - 1))
        size = sfft.next_fast_len(len(xp) + len(h) - 1, real=True)
        hh = h[::-1].reshape((-1,) + (1,) * (x.ndim - 1))
        full = sfft.irfft(sfft.rfft(xp, size, axis=0) * sfft.rfft(hh, size, axis=0), size, axis=0)
        return full[2 * self.r: 2 * self.r + n]

    def _ab(self, n: int, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        m = self._moments  # read once: one smoother may serve paths of other lengths (shared per sigma)
        if m is None or m[0] != n:
            one = np.ones(n)
            s0, s1 = self._corr(one, self.w), self._corr(one, self.wk)
            s2 = self._corr(one, self.wk * (np.arange(-self.r, self.r + 1)))
            det = s0 * s2 - s1 * s1
            ok = det > 1e-9 * np.maximum(s0 * s2, 1e-300)
            a = np.where(ok, s2 / np.where(ok, det, 1.0), 1.0 / s0)
            b = np.where(ok, s1 / np.where(ok, det, 1.0), 0.0)
            m = self._moments = (n, a, b)
        shape = (-1,) + (1,) * (ndim - 1)
        return m[1].reshape(shape), m[2].reshape(shape)

    def G(self, x: np.ndarray) -> np.ndarray:
        a, b = self._ab(len(x), x.ndim)
        return a * self._corr(x, self.w) - b * self._corr(x, self.wk)

    def GT(self, y: np.ndarray) -> np.ndarray:
        a, b = self._ab(len(y), y.ndim)
        return self._corr(a * y, self.w) + self._corr(b * y, self.wk)


def _project(v: np.ndarray, lower: np.ndarray, upper: np.ndarray, limits) -> np.ndarray:
    """``v`` clipped to the box, then (``limits = (A, b, phi[, first])``: ``A (v - phi) <= b`` per
    row, for the rows from ``first`` on, default 0), on the frames that violate a half-space,
    :data:`JOINT_SWEEPS` sweeps of: a projection onto each frame's most violated half-space,
    then onto the box (a point inside both, or close). Returns a new array; ``v`` is not changed.
    """
    v = np.clip(v, lower, upper)
    if limits is None:
        return v
    A, b, phi = limits[:3]
    first = limits[3] if len(limits) > 3 else 0
    over = np.einsum("nmk,nk->nm", A, (v[first:] - phi).astype(A.dtype)) - b  # in A's precision: no copy of A
    rows = np.flatnonzero(np.any(over > 1e-12, axis=1))
    if len(rows) == 0:
        return v
    Ar, br, pr = A[rows], b[rows], phi[rows]
    rows = rows + first  # rows of v
    lo, hi = lower[rows], upper[rows]
    d = v[rows] - pr
    k = np.arange(len(rows))
    for _ in range(JOINT_SWEEPS):
        o = np.einsum("nmk,nk->nm", Ar, d) - br
        j = np.argmax(o, axis=1)
        s = o[k, j]
        if not np.any(s > 1e-12):
            break
        d = np.clip(d - np.maximum(s, 0.0)[:, None] * Ar[k, j], lo - pr, hi - pr)
    v[rows] = d + pr
    return v


@functools.lru_cache(maxsize=8)
def _local_linear(sigma_frames: float) -> _LocalLinear:
    """One smoother per sigma (its window moments are kept for the last path length): the online
    filter solves a window of the same length and sigma for every frame."""
    return _LocalLinear(sigma_frames)


@functools.lru_cache(maxsize=64)
def _step_bound(shape: tuple[int, ...], sigma_frames: float, mu: float) -> float:
    """The gradient's Lipschitz constant (times 1.1) of :func:`smoothest_in_corridor` for a path of
    ``shape``, by power iteration (G's line fits at the ends weigh some samples negatively, so
    ``|I - G|`` can exceed 2 there); it depends on the shape, sigma and mu only."""
    op = _local_linear(sigma_frames)
    q = np.random.default_rng(0).standard_normal(shape)
    L = 4.0 + mu
    for _ in range(20):
        r = q - op.G(q)
        q2 = (r - op.GT(r)) + mu * q
        L = float(np.linalg.norm(q2) / max(np.linalg.norm(q), 1e-300))
        q = q2 / max(np.linalg.norm(q2), 1e-300)
    return 1.1 * L


#: the longest path whose normal matrix :func:`smoothest_in_corridor` makes dense (``dense=True``):
#: 600 frames take 2.9 MB and one product per step
DENSE_MAX_FRAMES = 600


@functools.lru_cache(maxsize=16)
def _normal_matrix(n: int, sigma_frames: float, mu: float) -> np.ndarray:
    """``(I - G)^T (I - G) + mu I`` (n, n) for paths of ``n`` frames: the gradient of
    :func:`smoothest_in_corridor`'s objective is this times ``v`` minus ``mu g`` (``G`` applied
    to the identity's columns, so the same operator as the correlations)."""
    op = _local_linear(sigma_frames)
    M = np.eye(n) - op.G(np.eye(n))
    return M.T @ M + mu * np.eye(n)


def smoothest_in_corridor(g: np.ndarray, lower: np.ndarray, upper: np.ndarray, sigma_frames: float, *,
                          mu: float = CORRIDOR_MU, iters: int = 200, limits=None,
                          x0: np.ndarray | None = None, dense: bool = False) -> np.ndarray:
    """``argmin |(I - G) v|^2 + mu |v - g|^2`` subject to ``lower <= v <= upper`` (per column)
    and, where given, the joint limits.

    Parameters
    ----------
    g : (N, K) the proposed path.
    lower, upper : (N, K) the corridor (``lower <= upper``).
    sigma_frames : the Gaussian ``G``'s sigma in frames (> 0).
    mu : weight of staying near ``g``.
    iters : FISTA iterations (the objective is convex; 200 reach the optimum to ~1e-6 rad on
        the bench clips with the box alone).
    limits : None, or ``(A, b, phi)``: half-spaces ``A[i] (v[i] - phi[i]) <= b[i]``, ``A``
        (N, M, K) with unit rows, ``b`` (N, M), ``phi`` (N, K) (:func:`joint_limits` on the
        unwrapped real path); or ``(A, b, phi, first)`` with those of the rows from ``first``
        on only (the online filter's past is held by the box: its rows need no limits). Each
        step projects onto the box, then sweeps onto each violating frame's most violated
        half-space and the box: close to the optimum, not exact (the half-spaces and the box
        together are projected onto approximately).
    x0 : (N, K) where the solver starts (default ``g``): a nearby solution (the online filter's
        previous frame's) reaches the optimum in fewer steps.
    dense : for a path of at most :data:`DENSE_MAX_FRAMES` frames, each step's gradient is one
        product with the objective's normal matrix, made once per length, sigma and mu
        (:func:`_normal_matrix`), instead of four correlations: the same gradient to rounding,
        for the online filter's windows of one length solved every frame.

    Returns
    -------
    (N, K) the path, inside the box (and the half-spaces, up to the sweeps' reach).
    """
    g = np.asarray(g, dtype=np.float64)
    if len(g) < 3 or sigma_frames <= 0:
        return _project(g, lower, upper, limits)
    op = _local_linear(float(sigma_frames))

    def grad(v):
        r = v - op.G(v)
        return (r - op.GT(r)) + mu * (v - g)

    if dense and len(g) <= DENSE_MAX_FRAMES:
        H, mu_g = _normal_matrix(len(g), float(sigma_frames), float(mu)), mu * g

        def grad(v):  # the same gradient, one product
            return H @ v - mu_g

    L = _step_bound(g.shape, float(sigma_frames), float(mu))
    x = _project(g if x0 is None else np.asarray(x0, dtype=np.float64), lower, upper, limits)
    y = x.copy()
    tk = 1.0
    for _ in range(iters):
        xn = _project(y - grad(y) / L, lower, upper, limits)
        tn = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * tk * tk))
        y = xn + ((tk - 1.0) / tn) * (xn - x)
        x, tk = xn, tn
    return x


def corridor_path(planner: WarpPlanner, R_real: np.ndarray, R_virt: np.ndarray, frame_times_s: np.ndarray,
                  zoom, sigma_s: float, *, mu: float = CORRIDOR_MU,
                  room: CorridorRoom | np.ndarray | None = None) -> np.ndarray:
    """The steadiest virtual path within the crop's room (module docstring), near ``R_virt``.

    Parameters
    ----------
    planner : the clip's warp planner.
    R_real : (N, 3, 3) real ``R_world_cam`` at each frame's centre-row time.
    R_virt : (N, 3, 3) the proposed virtual path (Gaussian, intent, ...).
    frame_times_s : (N,) frame start times (video clock).
    zoom : the crop's zoom: the budget's, or (N,) the adaptive zoom of each frame.
    sigma_s : the plan's smoothness: the Gaussian sigma [s] whose residual is minimized.
    mu : weight of staying near ``R_virt`` (:data:`CORRIDOR_MU`).
    room : :func:`corridor_room` of ``R_real`` at ``zoom``, if already known (it does not
        depend on ``R_virt``); an array is the single-axis box alone (:func:`axis_room`, no
        joint limits).

    Returns
    -------
    (N, 3, 3) ``R_world_virt``; pass it to :func:`~fusedstab.filtering.crop.fit_crop`, whose
    hard pull-back makes every frame fit.
    """
    R_real = np.asarray(R_real, dtype=np.float64)
    t = np.asarray(frame_times_s, dtype=np.float64)
    if len(R_real) < 3:
        return np.array(R_virt, dtype=np.float64, copy=True)
    phi = unwrap_path(R_real)
    g = unwrap_path(R_virt, R_real)
    if room is None:
        room = corridor_room(planner, R_real, zoom, t)
    if not isinstance(room, CorridorRoom):
        room = CorridorRoom(np.asarray(room))
    box = room.box
    limits = None if room.A is None else (room.A, room.b, phi)
    period = float(np.median(np.diff(t)))
    v = smoothest_in_corridor(g, phi - box[..., 1], phi + box[..., 0], sigma_s / period, mu=mu, limits=limits)
    return R_real @ exp_so3(v - phi)
