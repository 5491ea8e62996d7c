"""Stage 3: the per-frame warp description, shared by every pixel backend.

For output pixel ``u`` of frame i (a pinhole *virtual* camera ``K_v``, orientation
``V_i = R_world_virt``) and a source row captured at ``t(y) = t_i + readout * y / H``::

    ray_world = V_i @ K_v^-1 @ [u, 1]
    ray_src   = R_world_cam(t(y))^T @ ray_world
    x         = lens.project(ray_src, principal_offset = OIS(t(y)), focal_scale = focus(t(y)))

The source row ``y`` depends on ``x`` itself: it is found by a short fixed-point iteration
starting from the centre row. This is evaluated on a coarse output grid (every
``grid_step_px`` pixels, last row/column included); backends upsample it bilinearly to one
full-resolution map per frame (align-corners: grid node j sits at output pixel
``j * (W_out - 1) / (gw - 1)``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from ..camera import CameraModel
from ..types import LensMotion, OrientationTrack

__all__ = ["WarpPlanner", "FrameWarp", "INTERPOLATIONS", "OUTSIDE_PX"]

#: Pixel interpolations every backend offers.
INTERPOLATIONS = ("bilinear", "bicubic")

#: Source coordinate every backend gives NaN grid nodes (far outside any frame -> black).
OUTSIDE_PX = -1.0e5


@dataclass(frozen=True)
class FrameWarp:
    """Warp of one frame: coarse map from output pixels to source pixels.

    Attributes
    ----------
    coarse_map_px : (gh, gw, 2) float32 source (x, y) pixel of each grid node; NaN where the
        lens cannot see the ray.
    out_width_px, out_height_px : output frame size.
    src_width_px, src_height_px : source frame size.
    """

    coarse_map_px: np.ndarray
    out_width_px: int
    out_height_px: int
    src_width_px: int
    src_height_px: int


class WarpPlanner:
    """Maps output pixels to source pixels for a given virtual camera and frame time.

    Parameters
    ----------
    camera : the source lens at the video's resolution.
    track : real ``R_world_cam`` on the video clock.
    readout_s : rolling-shutter readout time (0 = global shutter).
    lens_motion : OIS shift and focal scale on the video clock, or None.
    out_width_px, out_height_px : output size (default: the source size).
    grid_step_px : coarse grid spacing of the output.
    iterations : fixed-point iterations for the source row (rolling shutter only).
    projection : the output lens. ``'rectilinear'``: a pinhole (straight lines straight, the
        lens distortion removed). ``'lens'``: the source's own lens model and distortion,
        centred, focal times zoom (the picture keeps its look; at zoom 1 with the virtual
        camera on the real one the output is the input).
    """

    PROJECTIONS = ("rectilinear", "lens")

    def __init__(
        self,
        camera: CameraModel,
        track: OrientationTrack,
        *,
        readout_s: float = 0.0,
        lens_motion: LensMotion | None = None,
        out_width_px: int | None = None,
        out_height_px: int | None = None,
        grid_step_px: int = 16,
        iterations: int = 3,
        projection: str = "rectilinear",
    ):
        if projection not in self.PROJECTIONS:
            raise ValueError(f"unknown output projection {projection!r}; expected one of {self.PROJECTIONS}")
        self.projection = projection
        self.camera = camera
        self.track = track
        self.readout_s = float(readout_s or 0.0)
        self.lens_motion = lens_motion
        self.out_width_px = int(out_width_px or camera.width_px)
        self.out_height_px = int(out_height_px or camera.height_px)
        self.iterations = max(1, int(iterations)) if self.readout_s != 0 or lens_motion is not None else 1
        gw = int(np.ceil((self.out_width_px - 1) / grid_step_px)) + 1
        gh = int(np.ceil((self.out_height_px - 1) / grid_step_px)) + 1
        xs = np.linspace(0.0, self.out_width_px - 1.0, gw)
        ys = np.linspace(0.0, self.out_height_px - 1.0, gh)
        gx, gy = np.meshgrid(xs, ys)
        self.grid_px = np.stack([gx, gy], axis=-1)  # (gh, gw, 2)
        # reference focal length of the virtual camera at zoom 1: the source's
        self.base_focal_px = float(np.sqrt(camera.fx_px * camera.fy_px))
        # the output keeps the source's pixel aspect: focal f / sqrt(a) across, f * sqrt(a) down
        # (both exactly 1 for square pixels)
        a = float(camera.pixel_aspect)
        self.focal_xy = (1.0, 1.0) if a == 1.0 else (1.0 / np.sqrt(a), np.sqrt(a))

    def resized(self, out_width_px: int, out_height_px: int) -> WarpPlanner:
        """This planner's output picture drawn at another size (``--size``).

        The output focal length is scaled by ``max((W' - 1) / (W - 1), (H' - 1) / (H - 1))``
        and the coarse grid keeps its nodes at the same relative positions, so every output
        ray at the new size lies within the planned output's rays: the crop's check of the
        planned border (no undefined pixel) holds for the new one. The source side (camera,
        track, readout, cached row tables) is shared.
        """
        W, H = int(out_width_px), int(out_height_px)
        if (W, H) == (self.out_width_px, self.out_height_px):
            return self
        new = copy.copy(self)
        gh, gw = self.grid_px.shape[:2]
        gx, gy = np.meshgrid(np.linspace(0.0, W - 1.0, gw), np.linspace(0.0, H - 1.0, gh))
        new.grid_px = np.stack([gx, gy], axis=-1)
        new.base_focal_px = self.base_focal_px * max((W - 1.0) / max(self.out_width_px - 1.0, 1.0),
                                                     (H - 1.0) / max(self.out_height_px - 1.0, 1.0))
        new.out_width_px, new.out_height_px = W, H
        return new

    # ------------------------------------------------------------------ virtual camera
    def virtual_K(self, zoom: float) -> np.ndarray:
        """(3, 3) intrinsics of the output (pinhole, centred, focal = base focal * zoom)."""
        f = self.base_focal_px * zoom
        ax, ay = self.focal_xy
        return np.array(
            [[f * ax, 0.0, (self.out_width_px - 1) / 2.0], [0.0, f * ay, (self.out_height_px - 1) / 2.0],
             [0.0, 0.0, 1.0]]
        )

    def _unit_out_camera(self) -> CameraModel:
        """The output lens model at focal 1 and principal point 0 (normalized coordinates)."""
        model, coeffs = ("pinhole", ()) if self.projection == "rectilinear" else (self.camera.model, self.camera.coeffs)
        return CameraModel(self.out_width_px, self.out_height_px, 1.0, 1.0, 0.0, 0.0, model=model, coeffs=coeffs)

    def _out_rays(self, u: np.ndarray, zoom: np.ndarray) -> np.ndarray:
        """Rays (..., P, 3) of output pixels u (..., P, 2) at zoom (...)."""
        f = self.base_focal_px * zoom[..., None]
        fx, fy = f * self.focal_xy[0], f * self.focal_xy[1]
        cx, cy = (self.out_width_px - 1) / 2.0, (self.out_height_px - 1) / 2.0
        if self.projection == "rectilinear":
            return np.stack(np.broadcast_arrays((u[..., 0] - cx) / fx, (u[..., 1] - cy) / fy, 1.0), axis=-1)
        xn = np.stack(np.broadcast_arrays((u[..., 0] - cx) / fx, (u[..., 1] - cy) / fy), axis=-1)
        return self._unit_out_camera().unproject(xn)

    def width_kept(self, zoom: float) -> float:
        """Share of the source's width that the output's middle row shows at ``zoom`` with the
        virtual camera on the real one: ``1 / zoom`` for a pinhole lens and for
        ``projection='lens'``; less for a wide lens drawn rectilinear, whose periphery is
        magnified out of the frame (NaN where the lens cannot image the output's edge)."""
        cy = (self.out_height_px - 1) / 2.0
        u = np.array([[0.0, cy], [self.out_width_px - 1.0, cy]])
        x = self.camera.project(self._out_rays(u, np.asarray(float(zoom))))
        return float((x[1, 0] - x[0, 0]) / (self.camera.width_px - 1.0))

    def row_time_s(self, t_frame_s: float, y_px) -> np.ndarray:
        """Capture time of source row(s) ``y_px`` of the frame starting at ``t_frame_s``."""
        return t_frame_s + self.readout_s * np.asarray(y_px, dtype=np.float64) / self.camera.height_px

    def centre_time_s(self, t_frame_s) -> np.ndarray:
        """Capture time of the centre row."""
        return self.row_time_s(np.asarray(t_frame_s, dtype=np.float64), (self.camera.height_px - 1) / 2.0)

    # ------------------------------------------------------------------ mapping
    def source_points(self, out_px: np.ndarray, R_world_virt: np.ndarray, zoom, t_frame_s) -> np.ndarray:
        """Source pixels seen by output pixels, for one frame or a batch of frames.

        Parameters
        ----------
        out_px : (..., P, 2) output pixels (broadcast against the batch).
        R_world_virt : (..., 3, 3) virtual orientation per frame (batch shape ``...``).
        zoom : scalar or (...) output zoom.
        t_frame_s : scalar or (...) frame start time on the video clock.

        Returns
        -------
        (..., P, 2) source pixels; NaN where the lens cannot image the ray.
        """
        V = np.asarray(R_world_virt, dtype=np.float64)
        batch = V.shape[:-2]
        zoom = np.broadcast_to(np.asarray(zoom, dtype=np.float64), batch)
        t0 = np.broadcast_to(np.asarray(t_frame_s, dtype=np.float64), batch)
        u = np.asarray(out_px, dtype=np.float64)
        rays_v = self._out_rays(u, zoom)
        d_world = rays_v @ np.swapaxes(V, -1, -2)  # V @ ray per point (matmul: ~20x einsum's speed here)
        H = self.camera.height_px
        y = np.full(d_world.shape[:-1], (H - 1) / 2.0)
        rows = self._row_rotations(t0)
        x = None
        for _ in range(self.iterations):
            R = self._rotation_at_rows(rows, y)
            ray_src = (np.swapaxes(R, -1, -2) @ d_world[..., None])[..., 0]  # R^T d
            if self.lens_motion is not None:
                o, sc = self.lens_motion.at(t0[..., None] + self.readout_s * y / H)
                x = self.camera.project(ray_src, principal_offset_px=o, focal_scale=sc)
            else:
                x = self.camera.project(ray_src)
            y = np.where(np.isfinite(x[..., 1]), np.clip(x[..., 1], 0.0, H - 1.0), y)
        return x

    def output_points(self, src_px: np.ndarray, R_world_virt: np.ndarray, zoom, t_frame_s) -> np.ndarray:
        """Output pixels showing source pixels: the exact inverse of :meth:`source_points`.

        A source pixel's row fixes its capture time, so no iteration is needed:
        ``u = K_v V^T R_world_cam(t(y)) lens.unproject(x)`` (OIS and focal scale at ``t(y)``).

        Parameters
        ----------
        src_px : (P, 2) source pixels.
        R_world_virt : (P, 3, 3) or (3, 3) virtual orientation of each point's frame.
        zoom : scalar or (P,) output zoom.
        t_frame_s : (P,) or scalar frame start time of each point's frame (video clock).

        Returns
        -------
        (P, 2) output pixels (NaN behind the virtual camera or outside the lens).
        """
        return self.project_world(self.world_directions(src_px, t_frame_s), R_world_virt, zoom)

    def world_directions(self, src_px: np.ndarray, t_frame_s) -> np.ndarray:
        """World directions of the rays that source pixels saw: the first half of
        :meth:`output_points`, which depends only on the real camera (track, lens, readout,
        lens motion), not on the virtual one, so candidate plans can share it.

        Parameters
        ----------
        src_px : (P, 2) source pixels.
        t_frame_s : (P,) or scalar frame start time of each point's frame (video clock).

        Returns
        -------
        (P, 3) ``R_world_cam(t(y)) lens.unproject(x)`` (unit length where the lens defines the ray).
        """
        x = np.asarray(src_px, dtype=np.float64)
        t = np.broadcast_to(np.asarray(t_frame_s, dtype=np.float64), x.shape[:-1])
        t_row = t + self.readout_s * x[..., 1] / self.camera.height_px
        if self.lens_motion is not None:
            o, sc = self.lens_motion.at(t_row)
            ray = self.camera.unproject(x, principal_offset_px=o, focal_scale=sc)
        else:
            ray = self.camera.unproject(x)
        return np.einsum("...ij,...j->...i", self.track.matrices_at(t_row), ray)

    def project_world(self, d_world: np.ndarray, R_world_virt: np.ndarray, zoom) -> np.ndarray:
        """Output pixels of world directions (P, 3) seen by the virtual camera: the second half
        of :meth:`output_points` (``R_world_virt`` (P, 3, 3) or (3, 3), ``zoom`` scalar or (P,))."""
        d_world = np.asarray(d_world, dtype=np.float64)
        shape = d_world.shape[:-1]
        V = np.broadcast_to(np.asarray(R_world_virt, dtype=np.float64), shape + (3, 3))
        v = np.einsum("...ji,...j->...i", V, d_world)
        xn = self._unit_out_camera().project(v)
        f = self.base_focal_px * np.broadcast_to(np.asarray(zoom, dtype=np.float64), shape)
        return np.stack([f * self.focal_xy[0] * xn[..., 0] + (self.out_width_px - 1) / 2.0,
                         f * self.focal_xy[1] * xn[..., 1] + (self.out_height_px - 1) / 2.0], axis=-1)

    #: rows at which the real orientation is sampled per frame; in between it is interpolated
    #: linearly (chord error < 1e-6 rad for 100 deg/s and 30 ms readout)
    ROW_SAMPLES = 33

    #: clips up to this many frames keep their row table (:meth:`remember_frames`): 48 MB at
    #: most (a 10-minute 640x360 clip planned in 112 s with it, 127 s without, 45 MB less)
    REMEMBER_MAX_FRAMES = 20_000

    def remember_frames(self, frame_times_s: np.ndarray) -> None:
        """Keep the row table (:meth:`_row_rotations`) of every frame of the clip: the crop's
        searches ask for ever other subsets of its frames (the frames still unsettled), each a
        new table otherwise. ~2.4 KB per frame with a rolling shutter (72 B without), made on
        first use; longer clips than :data:`REMEMBER_MAX_FRAMES` are not kept."""
        t = np.asarray(frame_times_s, dtype=np.float64)
        if t.ndim != 1 or not 0 < len(t) <= self.REMEMBER_MAX_FRAMES or np.any(np.diff(t) <= 0):
            return
        known = self.__dict__.get("_frames_table")
        if known is not None and np.array_equal(known[0], t):
            return
        self.__dict__["_frames_table"] = (t.copy(), None)

    def _rows_of_frames(self, t0: np.ndarray) -> np.ndarray | None:
        """The remembered frames' rows at ``t0`` when every time is one of them, else None."""
        known = self.__dict__.get("_frames_table")
        if known is None or t0.size == 0:
            return None
        times, table = known
        flat = t0.reshape(-1)
        idx = np.minimum(np.searchsorted(times, flat), len(times) - 1)
        if not np.array_equal(times[idx], flat):
            return None
        if table is None:  # made on first use, from the same times as a direct table (in pieces)
            table = np.concatenate([self._row_table(times[a:a + 1024]) for a in range(0, len(times), 1024)])
            table.setflags(write=False)
            self.__dict__["_frames_table"] = (times, table)
        return table[idx].reshape(t0.shape + table.shape[1:])

    def _row_table(self, t0: np.ndarray) -> np.ndarray:
        if self.readout_s == 0:
            return self.track.matrices_at(t0)[..., None, :, :]
        H = self.camera.height_px
        y_k = np.linspace(0.0, H - 1.0, self.ROW_SAMPLES)
        return self.track.matrices_at(t0[..., None] + self.readout_s * y_k / H)

    def _row_rotations(self, t0: np.ndarray) -> np.ndarray:
        """``R_world_cam`` at ``ROW_SAMPLES`` row times spanning the frame: (..., K, 3, 3).

        The crop's bisections ask for the same frames' rows thousands of times: the clip's
        frames are kept whole once :meth:`remember_frames` names them, and other times' last
        few tables (keyed by the frame times; the track never changes)."""
        t0 = np.asarray(t0, dtype=np.float64)
        key = (t0.shape, t0.tobytes())
        cache = self.__dict__.setdefault("_rows_cache", {})
        hit = cache.get(key)
        if hit is not None:
            return hit
        rows = self._rows_of_frames(t0)
        if rows is not None:
            return rows
        rows = self._row_table(t0)
        if len(cache) >= 16:
            cache.pop(next(iter(cache)))
        rows.setflags(write=False)
        cache[key] = rows
        return rows

    def _rotation_at_rows(self, rows: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Orientation (..., P, 3, 3) at source rows ``y`` (..., P) from the row table."""
        K = rows.shape[-3]
        if K == 1:
            return np.broadcast_to(rows[..., None, 0, :, :], y.shape + (3, 3))
        f = y * ((K - 1) / (self.camera.height_px - 1.0))
        i0 = np.clip(np.floor(f).astype(np.intp), 0, K - 2)
        batch = rows.shape[:-3]
        if i0.shape[:-1] == batch:  # one flat np.take per end (fancy indexing was 2.7x slower)
            r9 = rows.reshape(-1, 9)
            idx = (np.arange(r9.shape[0] // K)[:, None] * K + i0.reshape(r9.shape[0] // K, -1)).reshape(-1)
            A = np.take(r9, idx, axis=0)
            out = np.take(r9, idx + 1, axis=0)
            out -= A
            out *= (f - i0).reshape(-1, 1)
            out += A  # A + w (B - A), the same numbers
            return out.reshape(i0.shape + (3, 3))
        w = (f - i0)[..., None, None]
        A = np.take_along_axis(rows, i0[..., None, None], axis=-3)
        B = np.take_along_axis(rows, (i0 + 1)[..., None, None], axis=-3)
        return A + w * (B - A)

    def frame_warp(self, R_world_virt: np.ndarray, zoom: float, t_frame_s: float) -> FrameWarp:
        """The coarse map for one frame."""
        gh, gw = self.grid_px.shape[:2]
        m = self.source_points(self.grid_px.reshape(-1, 2), R_world_virt, zoom, t_frame_s)
        m = m.reshape(gh, gw, 2).astype(np.float32)
        return FrameWarp(m, self.out_width_px, self.out_height_px, self.camera.width_px, self.camera.height_px)

    def frame_warps(self, R_world_virt: np.ndarray, zoom, t_frame_s) -> list[FrameWarp]:
        """Coarse maps of a batch of frames in one vectorized pass: (B, 3, 3), (B,), (B,) -> B warps.

        The same numbers as :meth:`frame_warp` frame by frame (the batch only shares the
        per-call overhead); the renderer plans a few frames at a time this way.
        """
        V = np.asarray(R_world_virt, dtype=np.float64)
        B = V.shape[0]
        gh, gw = self.grid_px.shape[:2]
        m = self.source_points(self.grid_px.reshape(-1, 2), V, np.broadcast_to(np.asarray(zoom, np.float64), (B,)),
                               np.broadcast_to(np.asarray(t_frame_s, np.float64), (B,)))
        m = m.reshape(B, gh, gw, 2).astype(np.float32)
        return [FrameWarp(m[b], self.out_width_px, self.out_height_px, self.camera.width_px, self.camera.height_px)
                for b in range(B)]

    def border_points(self) -> np.ndarray:
        """(P, 2) the coarse grid's nodes on the output frame's border.

        Backends interpolate the map bilinearly between grid nodes, so an output pixel's
        source position is a convex combination of node positions: when every border node
        (and so, for the smooth warps here, every node) maps inside the source rectangle, no
        output pixel can fall outside it.
        """
        g = self.grid_px
        return np.concatenate([g[0, :], g[-1, :], g[1:-1, 0], g[1:-1, -1]])

    def inside_source(self, src_px: np.ndarray, margin_px: float = 0.5) -> np.ndarray:
        """Boolean mask: source points inside the source frame, ``margin_px`` from its edge
        (the margin covers the fixed-point rounding of the remap maps)."""
        x, y = src_px[..., 0], src_px[..., 1]
        W, H = self.camera.width_px - 1.0, self.camera.height_px - 1.0
        with np.errstate(invalid="ignore"):
            return (x >= margin_px) & (x <= W - margin_px) & (y >= margin_px) & (y <= H - margin_px)
