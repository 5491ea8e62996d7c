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
  room can leave the picture at a corner): the crop's hard pull-back
  (:func:`~fusedstab.filtering.crop.fit_crop`) settles what is left, so no output pixel is ever
  undefined. (Narrowing the room of the frames that still leave the picture and solving again
  was tried: steadier on the GoPro MAX clip, shakier on the simulated walk and run and on the
  phone clip than the gradual pull-back of one solve.)

The pipeline tries this path where the chosen plan's crop pulled back, with the same budget,
smoothness, residual and intent, and keeps it where the tracks predict at least 3 % less
jitter (``pipeline.CORRIDOR_GAIN``; docs/BENCHMARKS.md, "The crop corridor").
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

from ..rotation import exp_so3, log_so3
from ..synthesis.plan import WarpPlanner

__all__ = ["CORRIDOR_MU", "axis_room", "corridor_path", "smoothest_in_corridor", "unwrap_path"]

#: weight of the proposal ``g`` against the high-frequency term (see the module docstring);
#: predicted jitter of the bench clips' chosen plans at 0.003 / 0.03 / 0.3 (local-linear ``G``,
#: 2026-12-07): phone without gyro 2.47 / 2.25 / 3.49 px, simulated walk 3.42 / 3.36 / 3.44,
#: run 8.61 / 8.59 / 8.77, pan 1.97 / 1.97 / 2.03, MAX 2.16 / 2.77 / 4.70
CORRIDOR_MU = 0.03
#: the largest single-axis room searched [rad] and its precision in bisection steps
#: (0.3 / 2**9: 0.6 mrad, a pixel at a focal length of 1700 px)
_ROOM_MAX_RAD = 0.3
_ROOM_STEPS = 9


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


def axis_room(planner: WarpPlanner, R_real: np.ndarray, zoom: float, t_frame_s: np.ndarray) -> np.ndarray:
    """(N, 3, 2) [rad]: per frame and camera axis, how far the real camera can turn about that
    axis alone, positive ``[..., 0]`` and negative ``[..., 1]``, and still fit at ``zoom``.

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
    lam = min_pullback(planner, far, R6, zoom, t6, border, iters=_ROOM_STEPS)
    return ((1.0 - lam) * _ROOM_MAX_RAD).reshape(n, 2, 3).transpose(0, 2, 1)


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
        if self._moments is None or self._moments[0] != n:
            one = np.ones(n)
            s0, s1 = self._corr(one, self.w), self._corr(one, self.wk)
            s2 = self._corr(one, self.wk * (np.arange(-self.r, self.r + 1)))
            det = s0 * s2 - s1 * s1
            ok = det > 1e-9 * np.maximum(s0 * s2, 1e-300)
            a = np.where(ok, s2 / np.where(ok, det, 1.0), 1.0 / s0)
            b = np.where(ok, s1 / np.where(ok, det, 1.0), 0.0)
            self._moments = (n, a, b)
        shape = (-1,) + (1,) * (ndim - 1)
        return self._moments[1].reshape(shape), self._moments[2].reshape(shape)

    def G(self, x: np.ndarray) -> np.ndarray:
        a, b = self._ab(len(x), x.ndim)
        return a * self._corr(x, self.w) - b * self._corr(x, self.wk)

    def GT(self, y: np.ndarray) -> np.ndarray:
        a, b = self._ab(len(y), y.ndim)
        return self._corr(a * y, self.w) + self._corr(b * y, self.wk)


def smoothest_in_corridor(g: np.ndarray, lower: np.ndarray, upper: np.ndarray, sigma_frames: float, *,
                          mu: float = CORRIDOR_MU, iters: int = 200) -> np.ndarray:
    """``argmin |(I - G) v|^2 + mu |v - g|^2`` subject to ``lower <= v <= upper`` (per column).

    Parameters
    ----------
    g : (N, K) the proposed path.
    lower, upper : (N, K) the corridor (``lower <= upper``).
    sigma_frames : the Gaussian ``G``'s sigma in frames (> 0).
    mu : weight of staying near ``g``.
    iters : FISTA iterations (the objective is convex; 200 reach the optimum to ~1e-6 rad on
        the bench clips).

    Returns
    -------
    (N, K) the path, inside the corridor.
    """
    g = np.asarray(g, dtype=np.float64)
    if len(g) < 3 or sigma_frames <= 0:
        return np.clip(g, lower, upper)
    op = _LocalLinear(sigma_frames)

    def grad(v):
        r = v - op.G(v)
        return (r - op.GT(r)) + mu * (v - g)

    # step 1/L with L the gradient's Lipschitz constant, by power iteration (G's line fits at
    # the ends weigh some samples negatively, so |I - G| can exceed 2 there)
    q = np.random.default_rng(0).standard_normal(g.shape)
    L = 4.0 + mu
    for _ in range(20):
        r = q - op.G(q)
        q2 = (r - op.GT(r)) + mu * q
        L = float(np.linalg.norm(q2) / max(np.linalg.norm(q), 1e-300))
        q = q2 / max(np.linalg.norm(q2), 1e-300)
    L *= 1.1
    x = np.clip(g, lower, upper)
    y = x.copy()
    tk = 1.0
    for _ in range(iters):
        xn = np.clip(y - grad(y) / L, lower, upper)
        tn = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * tk * tk))
        y = xn + ((tk - 1.0) / tn) * (xn - x)
        x, tk = xn, tn
    return x


def corridor_path(planner: WarpPlanner, R_real: np.ndarray, R_virt: np.ndarray, frame_times_s: np.ndarray,
                  zoom: float, sigma_s: float, *, mu: float = CORRIDOR_MU, room: np.ndarray | None = None) -> np.ndarray:
    """The steadiest virtual path within the crop's room (module docstring), near ``R_virt``.

    Parameters
    ----------
    planner : the clip's warp planner.
    R_real : (N, 3, 3) real ``R_world_cam`` at each frame's centre-row time.
    R_virt : (N, 3, 3) the proposed virtual path (Gaussian, intent, ...).
    frame_times_s : (N,) frame start times (video clock).
    zoom : the crop's zoom (the budget's).
    sigma_s : the plan's smoothness: the Gaussian sigma [s] whose residual is minimized.
    mu : weight of staying near ``R_virt`` (:data:`CORRIDOR_MU`).
    room : :func:`axis_room` of ``R_real`` at ``zoom``, if already known (it does not depend on
        ``R_virt``).

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
        room = axis_room(planner, R_real, zoom, t)
    period = float(np.median(np.diff(t)))
    v = smoothest_in_corridor(g, phi - room[..., 1], phi + room[..., 0], sigma_s / period, mu=mu)
    return R_real @ exp_so3(v - phi)
