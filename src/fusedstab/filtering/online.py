"""Stage 2, online: a bounded-lookahead virtual camera (frames wait in a queue).

Frame ``i`` leaves the queue once frame ``i + L`` has arrived (``L`` = lookahead in frames),
so the filter never uses motion more than ``L`` frames in the future: the latency of a live
pipeline is bounded by ``L`` frame periods. The output crop cannot be chosen from the whole
clip, so the zoom is fixed up front (``--max-zoom``) and the undefined-region avoidance works
frame by frame, as in the Pixel design:

1. Gaussian smoothing (:func:`~fusedstab.filtering.gaussian.gaussian_smooth_orientations`)
   over the past ``K`` frames and the ``min(K, L)`` frames ahead. With ``L >= K`` (the
   lookahead covers the kernel) it equals the offline filter exactly.
2. When a frame enters the queue, the pull-back ``lambda_j`` it would need at the fixed zoom is
   estimated from its provisional virtual camera (smoothed with what is known so far).
3. With an exposure time, motion-blur masking (:mod:`~fusedstab.filtering.blur_mask`): the
   frame's gyro-predicted blur gives ``beta`` (Gaussian-averaged over the neighbouring frames, as
   offline), and
   ``V_i <- slerp(V_i, R_i, beta_i)``.
   With horizon lock (``up_cam``, the causal VQF estimate of the up direction per frame), the
   virtual camera is then turned level about its optical axis (:mod:`~fusedstab.filtering.horizon`;
   a rate limit is applied forward only).
4. When frame ``i`` leaves, ``lambda_i`` is the largest of: its own need, the estimates of the
   frames ahead in the queue and the previous frame's value, each lowered by
   ``pull_rate_per_s`` times their distance in time (the offline filter's bounded-rate pull,
   :func:`~fusedstab.filtering.crop.gradual_pullback`, seen through the queue), so the camera
   eases toward the real one *before* a large motion instead of snapping, and lets go as
   gradually; then frame ``i`` is checked as a hard constraint.

**Hybrid residual** (``residual_phi``: the image motion the track does not explain,
:mod:`~fusedstab.filtering.residual`). As offline, the virtual camera is turned against the
residual's high-frequency part, ``V_i <- V_i exp(-hf_i)`` after the Gaussian, where ``hf_i`` is
the residual path minus its Gaussian average (sigma ``residual_sigma_s``, the offline radius of 4
sigma, the clip's first and last values repeated beyond its ends) over the frames held: the past
and at most ``L`` frames ahead (the residual of frame ``k`` needs the tracks up to frame ``k``
only). With ``L`` covering the radius it equals the offline residual.

**Crop corridor** (``corridor``: the pipeline's default online). The scalar pull-back
of step 4 turns all three axes toward the real camera by the share the tightest one needs, and
gives back the shake of the axes that had room (on the Karma clip at a 0.5 s lookahead the plan
became shakier than the input). With the corridor, each frame's room at the fixed zoom (its
single-axis box and joint limits, :mod:`~fusedstab.filtering.corridor`) is made when it enters,
and when frame ``i`` leaves, the path of the frames held (the past ``K`` frames and the queue) is
solved again for the smoothest inside their rooms near the proposed path (steps 1 and the
residual), the frames already emitted held where they were
(:func:`~fusedstab.filtering.corridor.smoothest_in_corridor`, :data:`ONLINE_CORRIDOR_ITERS`
steps warm-started from the previous frame's solution); frame ``i`` takes its value there. The
pulls estimated for the frames ahead are not applied (the path already keeps to their room);
blur masking, the horizon and the hard check follow as before. It never reads past frame
``i + L``.

**Adaptive zoom** (``max_zoom`` above ``zoom``: ``--zoom adaptive``). The zoom of each frame
rises above the budget's (``zoom``) only where the frames need it, at most
``zoom_rate_per_s`` per second, as offline (:func:`~fusedstab.filtering.crop.adaptive_zoom`),
but seen through the queue: when a frame enters, the zoom its provisional virtual camera needs
is measured (at most ``max_zoom``); when frame ``i`` leaves, its zoom is the largest of its own
need, the needs of the frames ahead in the queue and the previous frame's zoom, each lowered by
``zoom_rate_per_s`` times their distance in time, and it rises from the previous frame's by at
most that rate. So the zoom starts to rise up to ``L`` frames before a violent moment and falls
back as slowly after it; what a rise bounded by the rate cannot cover, the pull-back does (its
estimates for the frames ahead are made at the zoom they can reach by then). Where even the real
camera does not fit at that zoom, the frame's zoom is raised as far as the real camera needs
(then the rate bound gives way: never an undefined pixel).

**Adaptive zoom with the corridor.** Each frame's room is made when it enters at the most zoom
it can reach by the time it leaves: the last zoom out plus ``zoom_rate_per_s`` times the time
between them, at most ``max_zoom`` and at least what the real camera needs. When frame ``i``
leaves, the corridor's solution over the window also sets the needs of the frames ahead to
the zoom its path needs there (levelled, with the horizon lock), so the zoom rises ahead of the
path that will leave (no provisional Gaussian is measured as frames enter); no pulls are
estimated ahead, and what the zoom cannot reach in time the hard check pulls back. On the
simulated run at a 0.5 s lookahead (budget 0.97, up to 1.3) the truth jitter falls 0.577 ->
0.286 deg for 0.874 of the width kept instead of 0.956 (docs/BENCHMARKS.md, "The adaptive zoom
with the corridor").
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..rotation import exp_so3
from ..synthesis.plan import WarpPlanner
from .blur_mask import blur_weights, frame_blur_px, load_params
from .corridor import (
    CORRIDOR_MU,
    axis_room,
    joint_limits,
    smoothest_in_corridor,
    unwrap_path,
)
from .crop import (
    DEFAULT_PULL_RATE_PER_S,
    DEFAULT_ZOOM_RATE_PER_S,
    fits,
    min_pullback,
    required_zoom,
    slerp_matrix,
)
from .gaussian import gaussian_smooth_orientations
from .horizon import roll_deg, rz
from .residual import DEFAULT_RESIDUAL_SIGMA_S

__all__ = ["ONLINE_CORRIDOR_ITERS", "OnlineFilter"]

#: solver steps of the online corridor per frame (offline: 200 over the whole clip)
ONLINE_CORRIDOR_ITERS = 40


class OnlineFilter:
    """Push frames in capture order; get their virtual orientation back ``L`` frames later.

    Parameters
    ----------
    planner : the clip's warp planner (real orientation track, lens, rolling shutter).
    sigma_s : Gaussian sigma [s].
    lookahead_frames : ``L``, the queue length.
    zoom : the output zoom: the clip's, or with ``max_zoom`` the least of the adaptive zoom.
    frame_period_s : nominal frame period [s] (sets the past window ``K = ceil(3 sigma / T)``).
    pull_rate_per_s : the pull-back's largest change per second (ahead of a need and after it).
    exposure_s : exposure time for motion-blur masking (0 = off).
    up_cam : (N, 3) up direction in the camera frame per frame (horizon lock), or None.
    horizon_rate_deg_s : with ``up_cam``, the most the level correction may change per second.
    upright_deg : with ``up_cam``, the quarter turn the clip is held at (0; +-90 for a phone in
        portrait; :func:`~fusedstab.filtering.horizon.upright_quarter_deg`): level is relative to it.
    max_zoom : None (a fixed zoom) or above ``zoom``: the adaptive zoom's ceiling (see the module
        docstring); each emitted frame's zoom is then in :attr:`zooms`.
    zoom_rate_per_s : with ``max_zoom``, the most the zoom may change per second.
    residual_phi : (N, 3) the hybrid residual path of the clip's frames
        (:func:`~fusedstab.filtering.residual.residual_path`, camera axes [rad]), or None; frame
        ``k``'s value is read only once frame ``k`` has been pushed.
    residual_sigma_s : Gaussian sigma [s] of the residual's low-pass.
    corridor : the crop corridor over the frames held (see the module docstring; with
        ``max_zoom``, each frame's room at the zoom it can reach): each frame leaves on the
        steadiest path inside the crop's room of the past and the queue, the frames already
        emitted held where they were.
    corridor_mu : with ``corridor``, the weight of staying near the proposed path
        (:data:`~fusedstab.filtering.corridor.CORRIDOR_MU`).

    Examples
    --------
    >>> filt = OnlineFilter(planner, sigma_s=0.5, lookahead_frames=30, zoom=1.2,
    ...                     frame_period_s=1 / 30)  # doctest: +SKIP
    >>> for i, t in enumerate(frame_times):  # doctest: +SKIP
    ...     for j, V, lam in filt.push(t):
    ...         render(j, V)
    >>> for j, V, lam in filt.flush():  # doctest: +SKIP
    ...     render(j, V)
    """

    def __init__(
        self,
        planner: WarpPlanner,
        *,
        sigma_s: float,
        lookahead_frames: int,
        zoom: float,
        frame_period_s: float,
        pull_rate_per_s: float = DEFAULT_PULL_RATE_PER_S,
        exposure_s: float = 0.0,
        up_cam: np.ndarray | None = None,
        horizon_rate_deg_s: float | None = None,
        upright_deg: float = 0.0,
        max_zoom: float | None = None,
        zoom_rate_per_s: float = DEFAULT_ZOOM_RATE_PER_S,
        residual_phi: np.ndarray | None = None,
        residual_sigma_s: float = DEFAULT_RESIDUAL_SIGMA_S,
        corridor: bool = False,
        corridor_mu: float = CORRIDOR_MU,
    ):
        self.planner = planner
        self.frame_period_s = float(frame_period_s)
        self.sigma_s = float(sigma_s)
        self.L = max(0, int(lookahead_frames))
        self.zoom = float(zoom)
        self.pull_rate_per_s = float(pull_rate_per_s)
        # past frames kept: the Gaussian's half-width, plus margin for rounding and jittery VFR times
        self.K = (max(1, int(np.ceil(3.0 * self.sigma_s / frame_period_s - 1e-6))) + 2) if self.sigma_s > 0 else 0
        self._border = planner.border_points()
        self._t: deque[float] = deque()  # frame start times of the history + queue
        self._R: deque[np.ndarray] = deque()  # real orientation at the centre row
        self._lam_est: deque[float] = deque()
        self.exposure_s = float(exposure_s)
        self._beta_raw: deque[float] = deque()  # per-frame blur weight before the Gaussian average
        prm = load_params()
        self._beta_prm = prm
        self._beta_sigma = prm["smooth_sigma_s"] / frame_period_s  # [frames], as offline
        self._beta_radius = int(4.0 * self._beta_sigma + 0.5)  # scipy's gaussian_filter1d truncation
        if self.exposure_s > 0:
            self.K = max(self.K, self._beta_radius + 1)
        self.residual_phi = None if residual_phi is None else np.asarray(residual_phi, dtype=np.float64)
        self._res_sigma = float(residual_sigma_s) / frame_period_s  # [frames], as offline
        self._res_radius = int(4.0 * self._res_sigma + 0.5)  # scipy's gaussian_filter1d truncation, as offline
        if self.residual_phi is not None:
            self.K = max(self.K, self._res_radius + 1)
        # the residual's low-pass taps: all of them once the clip has ended, else at most L ahead
        self._res_k = np.arange(-self._res_radius, self._res_radius + 1)
        self._res_w = np.exp(-0.5 * (self._res_k / max(self._res_sigma, 1e-9)) ** 2)
        ahead = self._res_k <= self.L
        self._res_k_open, self._res_w_open = self._res_k[ahead], self._res_w[ahead]
        self._first = 0  # absolute index of self._t[0]
        self._next_out = 0  # absolute index of the next frame to leave
        self._prev_lam = 0.0
        self._prev_t: float | None = None
        self.up_cam = None if up_cam is None else np.asarray(up_cam, dtype=np.float64)
        self.horizon_rate_deg_s = horizon_rate_deg_s
        self.upright_deg = float(upright_deg)
        self._prev_roll: float | None = None
        self.adaptive = max_zoom is not None and float(max_zoom) > self.zoom
        self.max_zoom = float(max_zoom) if self.adaptive else self.zoom
        self.zoom_rate_per_s = float(zoom_rate_per_s)
        self._z_est: deque[float] = deque()  # zoom each held frame's provisional virtual camera needs
        self._z_real: deque[float] = deque()  # zoom the real camera needs to fit (the budget's where it fits)
        self._prev_zoom = self.zoom
        #: {frame index: its output zoom} of the frames emitted so far (adaptive zoom)
        self.zooms: dict[int, float] = {}
        self.corridor = bool(corridor) and self.sigma_s > 0
        self.corridor_mu = float(corridor_mu)
        self._box: deque[np.ndarray] = deque()  # (3, 2) single-axis room per held frame (corridor)
        self._A: deque[np.ndarray] = deque()  # (M, 3) joint limits per held frame (corridor)
        self._b: deque[np.ndarray] = deque()  # (M,)
        self._V_out: deque[np.ndarray] = deque()  # the emitted virtual orientation of the held past (corridor)
        #: (absolute index of its first frame, (n, 3) turns from the real camera [rad]): the last
        #: corridor solution, where the next one starts (corridor)
        self._d_prev: tuple[int, np.ndarray] | None = None

    # ------------------------------------------------------------------ helpers
    def _window(self):
        return np.array(self._t), np.array(self._R)

    def _smoothed_window(self, closed: bool, first_out: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(t, R, V)`` of the frames held now: start times and real orientations, and the
        Gaussian-smoothed orientations of those from queue position ``first_out`` on (each
        frame's Gaussian sees at most ``L`` frames ahead unless ``closed``)."""
        t, R = self._window()
        tc = self.planner.centre_time_s(t)
        V = gaussian_smooth_orientations(R, tc, self.sigma_s, lookahead_frames=None if closed else self.L,
                                         first_out=first_out)
        return t, R, V

    def _smooth(self, idx: int, closed: bool) -> np.ndarray:
        """Virtual orientation of absolute frame ``idx`` from the frames held now."""
        return self._smoothed_window(closed, first_out=idx - self._first)[2][0]

    def _residual(self, V: np.ndarray, idx: int, closed: bool) -> np.ndarray:
        """``V`` turned against the residual's high-frequency part at absolute frame ``idx``, from
        the frames pushed so far (see the module docstring)."""
        if self.residual_phi is None:
            return V
        newest = self._first + len(self._t) - 1
        k, w = (self._res_k, self._res_w) if closed else (self._res_k_open, self._res_w_open)
        j = np.clip(idx + k, 0, newest)  # the clip's first and last values beyond its ends, as offline
        phi = self.residual_phi
        hf = phi[idx] - (w[:, None] * phi[j]).sum(axis=0) / w.sum()
        return V @ exp_so3(-hf)

    def _need(self, V: np.ndarray, R: np.ndarray, t: float, lo: float = 0.0, zoom: float | None = None) -> float:
        z = self.zoom if zoom is None else zoom
        return float(min_pullback(self.planner, V[None], R[None], z, np.array([t]), self._border,
                                  lo=np.array([lo]))[0])

    def _zoom_need(self, V: np.ndarray, t: float, lo: float, hi: float) -> float:
        """The least zoom in ``[lo, hi]`` at which orientation ``V`` fits at ``t`` (``hi`` where none does)."""
        tt = np.array([t])
        if fits(self.planner, V[None], lo, tt, self._border)[0]:
            return lo
        z = float(required_zoom(self.planner, V[None], tt, self._border, lo=lo, hi=hi)[0])
        return z if np.isfinite(z) else hi

    def _real_zoom(self, R: np.ndarray, t: float) -> float:
        """The least zoom, at least the budget's, at which the real camera itself fits."""
        return self._zoom_need(R, t, self.zoom, max(4.0, self.max_zoom))

    def _zoom_of(self, i: int, t_i: float, own: float) -> float:
        """Adaptive zoom of the held frame at queue position ``i``: its own need ``own``, the needs
        ahead in the queue and the previous frame's zoom, each lowered by the rate times its
        distance in time; risen from the previous frame's by at most the rate; never below what
        the real camera needs."""
        rate = self.zoom_rate_per_s
        z = max(self.zoom, own)
        for j in range(i + 1, len(self._t)):
            z = max(z, self._z_est[j] - rate * (self._t[j] - t_i))
        if self._prev_t is not None:
            dt = t_i - self._prev_t
            z = min(max(z, self._prev_zoom - rate * dt), self._prev_zoom + rate * dt)
        return max(min(z, self.max_zoom), self._z_real[i])

    def _eased(self, lam: float, dt: float) -> float:
        """What a pull of ``lam`` ``dt`` seconds away asks of this frame (rate-bounded)."""
        if self.pull_rate_per_s <= 0:
            return 0.0
        return lam - self.pull_rate_per_s * abs(dt)

    def _emit(self, closed: bool):
        idx = self._next_out
        i = idx - self._first
        t_i = self._t[i]
        R_i = self._R[i]
        if self.corridor:
            V = self._in_corridor(i, closed)
            if self.adaptive:
                self._corridor_needs(i)
        else:
            V = self._residual(self._smooth(idx, closed), idx, closed)
        beta = self.beta_at(i)
        if beta > 0:
            V = slerp_matrix(V, R_i, beta)
        if self.up_cam is not None:
            V = self._level(V, R_i, idx, t_i)
        zoom = self.zoom
        if self.adaptive:
            zoom = self._zoom_of(i, t_i, self._zoom_need(V, t_i, self.zoom, self.max_zoom))
        lam = self._need(V, R_i, t_i, zoom=zoom)
        if not self.corridor:  # the frames ahead in the queue (the corridor's path keeps to their room)
            for j in range(i + 1, len(self._t)):
                lam = max(lam, self._eased(self._lam_est[j], self._t[j] - t_i))
        if self._prev_t is not None:
            lam = max(lam, self._eased(self._prev_lam, t_i - self._prev_t))
        lam = min(1.0, lam)
        V_out = slerp_matrix(V, R_i, lam) if lam > 0 else V
        # hard constraint: this frame must fit at its zoom
        lam_hard = self._need(V, R_i, t_i, lo=lam, zoom=zoom)
        if lam_hard > lam:
            lam = lam_hard
            V_out = slerp_matrix(V, R_i, lam)
        self._prev_lam, self._prev_t = lam, t_i
        if self.adaptive:
            self._prev_zoom = zoom
            self.zooms[idx] = zoom
        self._next_out += 1
        if self.corridor:
            self._V_out.append(V_out)
        # drop history older than the kernel needs
        while self._next_out - self._first > self.K:
            self._t.popleft()
            self._R.popleft()
            self._lam_est.popleft()
            self._beta_raw.popleft()
            if self.adaptive:
                self._z_est.popleft()
                self._z_real.popleft()
            if self.corridor:
                self._box.popleft()
                self._A.popleft()
                self._b.popleft()
                self._V_out.popleft()
            self._first += 1
        return idx, V_out, lam

    def _in_corridor(self, i: int, closed: bool) -> np.ndarray:
        """Virtual orientation of the held frame at queue position ``i`` on the steadiest path
        inside the room of the frames held (:func:`~fusedstab.filtering.corridor.smoothest_in_corridor`):
        the emitted past held where it was, the proposed path (Gaussian, then residual) for
        frame ``i`` and the queue, each frame in its single-axis room and joint limits."""
        t, R, G = self._smoothed_window(closed, first_out=i)  # G[0] is frame i's
        ahead = [self._residual(G[j - i], self._first + j, closed) for j in range(i, len(t))]
        V = np.concatenate([np.array(self._V_out).reshape(-1, 3, 3), np.array(ahead)])
        phi = unwrap_path(R)
        g = unwrap_path(V, R)
        box = np.array(self._box)
        lower, upper = phi - box[..., 1], phi + box[..., 0]
        lower[:i] = upper[:i] = g[:i]  # the emitted past is held
        # the joint limits of frame i and the queue (the past is held by its box)
        limits = (np.array(list(self._A)[i:]), np.array(list(self._b)[i:]), phi[i:], i)
        # warm start: the previous frame's solution, as turns from the real camera (they do not
        # depend on where the window's unwrapped path starts); the newest frame from the proposal
        x0 = g.copy()
        if self._d_prev is not None:
            d_first, d = self._d_prev
            lo, hi = max(self._first, d_first), min(self._first + len(t), d_first + len(d))
            if hi > lo:
                x0[lo - self._first:hi - self._first] = (phi[lo - self._first:hi - self._first]
                                                        + d[lo - d_first:hi - d_first])
        v = smoothest_in_corridor(g, lower, upper, self.sigma_s / self.frame_period_s, mu=self.corridor_mu,
                                  limits=limits, iters=ONLINE_CORRIDOR_ITERS, x0=x0, dense=True)
        self._d_prev = (self._first, v - phi)
        return R[i] @ exp_so3(v[i] - phi[i])

    def _corridor_needs(self, i: int) -> None:
        """Adaptive zoom with the corridor: the zoom each frame ahead of queue position ``i``
        needs on the corridor's solution just made (it replaces the provisional path's need, so
        the zoom rises ahead of what the path that will leave needs)."""
        _, d = self._d_prev  # made over the frames held, just now: its rows are the queue positions
        j0 = i + 1
        if j0 >= len(self._t):
            return
        R = np.array(list(self._R)[j0:])
        t = np.array(list(self._t)[j0:])
        V = R @ exp_so3(d[j0:])
        if self.up_cam is not None:  # as the horizon lock will turn them (without its rate bound)
            idx = self._first + np.arange(j0, len(self._t))
            V = V @ rz(np.radians(roll_deg(R, V, self.up_cam[idx], self.upright_deg)))
        need = np.full(len(t), self.zoom)
        bad = np.flatnonzero(~fits(self.planner, V, self.zoom, t, self._border))
        if len(bad):
            z = required_zoom(self.planner, V[bad], t[bad], self._border, lo=self.zoom, hi=self.max_zoom)
            need[bad] = np.where(np.isfinite(z), z, self.max_zoom)
        for k, z in enumerate(need):
            self._z_est[j0 + k] = float(z)

    def _level(self, V: np.ndarray, R_i: np.ndarray, idx: int, t_i: float) -> np.ndarray:
        phi = float(roll_deg(R_i[None], V[None], self.up_cam[idx][None], self.upright_deg)[0])
        c = phi
        if self._prev_roll is not None:
            c = self._prev_roll + (phi - self._prev_roll + 180.0) % 360.0 - 180.0  # unwrap
            if self.horizon_rate_deg_s and self._prev_t is not None:
                step = self.horizon_rate_deg_s * (t_i - self._prev_t)
                c = self._prev_roll + float(np.clip(c - self._prev_roll, -step, step))
        self._prev_roll = c
        return V @ rz(np.radians(c))

    def beta_at(self, i: int) -> float:
        """Blur weight of the held frame at queue position ``i``: Gaussian average over the held
        frames (the offline weights where the window is complete; the offline run-time jitter
        cap needs the whole clip and is not applied online)."""
        if self.exposure_s <= 0:
            return 0.0
        r = self._beta_radius
        lo, hi = max(0, i - r), min(len(self._beta_raw), i + r + 1)
        k = np.arange(lo, hi) - i
        w = np.exp(-0.5 * (k / max(self._beta_sigma, 1e-9)) ** 2)
        return float(np.dot(w, list(self._beta_raw)[lo:hi]) / w.sum())

    # ------------------------------------------------------------------ API
    def push(self, t_frame_s: float) -> list[tuple[int, np.ndarray, float]]:
        """Add the next frame (its start time, video clock); returns the frames now ready
        as ``(index, R_world_virt (3, 3), pull-back lambda)``."""
        t = float(t_frame_s)
        R = self.planner.track.matrices_at(self.planner.centre_time_s(t))
        self._t.append(t)
        self._R.append(R)
        if self.exposure_s > 0:
            blur = frame_blur_px(self.planner, np.array([t]), self.exposure_s)
            self._beta_raw.append(float(blur_weights(blur, self.planner.camera.width_px, smooth_frames=0)[0]))
        else:
            self._beta_raw.append(0.0)
        idx = self._first + len(self._t) - 1
        # adaptive zoom: what the real camera needs, and the most this frame can reach by the
        # time it leaves (the rise from the last frame out is bounded by the rate)
        z_real = self._real_zoom(R, t) if self.adaptive else self.zoom
        since = t - (self._prev_t if self._prev_t is not None else t)
        reach = max(z_real, min(self.max_zoom, self._prev_zoom + self.zoom_rate_per_s * since))
        if self.adaptive:
            self._z_real.append(z_real)
        if self.corridor:  # this frame's room (it does not depend on the path)
            tt = np.array([t])
            z_room = reach if self.adaptive else self.zoom
            self._box.append(axis_room(self.planner, R[None], z_room, tt)[0])
            A, b = joint_limits(self.planner, R[None], z_room, tt)
            self._A.append(A[0])
            self._b.append(b[0])
            self._lam_est.append(0.0)  # not read: no pull is estimated ahead
            if self.adaptive:  # not read: each corridor solution sets the needs ahead (_corridor_needs)
                self._z_est.append(z_real)
            return self._ready()
        V_est = self._residual(self._smooth(idx, closed=False), idx, closed=False)
        zoom = self.zoom
        if self.adaptive:  # the zoom this frame's provisional path needs (the queue's zoom looks ahead)
            z_need = self._zoom_need(V_est, t, self.zoom, self.max_zoom)
            self._z_est.append(z_need)
            zoom = max(z_real, min(z_need, reach))  # the zoom it can reach by then (the rise is bounded)
        self._lam_est.append(self._need(V_est, R, t, zoom=zoom))  # the pull this frame will need
        return self._ready()

    def _ready(self) -> list[tuple[int, np.ndarray, float]]:
        """The frames whose lookahead has arrived, emitted."""
        newest = self._first + len(self._t) - 1
        out = []
        while self._next_out + self.L <= newest:
            out.append(self._emit(closed=False))
        return out

    def flush(self) -> list[tuple[int, np.ndarray, float]]:
        """The clip has ended: release the frames still in the queue."""
        out = []
        while self._next_out < self._first + len(self._t):
            out.append(self._emit(closed=True))
        return out
