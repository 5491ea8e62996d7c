"""Video motion from feature tracks: KLT points between consecutive frames.

The one tracker shared by the sync (:mod:`fusedstab.analysis.sync`), the video motion
estimate (:mod:`fusedstab.analysis.video_motion`) and the plan check in the pipeline.

Convention
----------
* Points are full-resolution pixel coordinates ``(u, v)`` (integers at pixel centres), even
  though tracking runs on a grey frame downscaled to ``track_width_px``.
* ``FramePairs.t_a / t_b`` are the frame times (video clock, start of readout) of each pair;
  a point on row ``v`` of a rolling-shutter frame is captured at ``t + readout_s * v / H``
  (:meth:`FramePairs.row_times`).
* Tracks are forward-backward checked (LK from a to b and back; error below ``fb_max_px`` at
  the tracking resolution).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

from ..errors import InputError
from ..io.video import decode_error, plane_view

__all__ = ["FramePairs", "track_frame_pairs", "sync_windows"]

Progress = Callable[[str, int, int], None]

@dataclass
class FramePairs:
    """Tracked points between two frames (full-resolution pixel coordinates).

    ``xa[k], xb[k]``: the k-th point in the first and in the second frame of pair
    ``pair_index[k]``. ``t_a[j], t_b[j]``: frame times (video clock) of pair j; ``frame_a[j]``:
    its first frame. As tracked, the second frame is the next one; :meth:`strided` pairs
    frames further apart. ``track_id[k]``: the KLT track the point belongs to (the same id in
    every pair the point was followed through; ids are never reused), or None.
    """

    width_px: int
    height_px: int
    frame_a: np.ndarray
    t_a: np.ndarray
    t_b: np.ndarray
    pair_index: np.ndarray
    xa: np.ndarray
    xb: np.ndarray
    frames_decoded: int = 0
    track_id: np.ndarray | None = None

    @property
    def n_pairs(self) -> int:
        return int(len(self.frame_a))

    def row_times(self, readout_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Capture times [s, video clock] of every point in frame a and in frame b: (P,), (P,)."""
        j = self.pair_index
        return (self.t_a[j] + readout_s * self.xa[:, 1] / self.height_px,
                self.t_b[j] + readout_s * self.xb[:, 1] / self.height_px)

    def slice(self, start: int, stop: int) -> "FramePairs":
        """Pairs ``start:stop`` (their points are contiguous: pairs are stored in order)."""
        lo, hi = np.searchsorted(self.pair_index, [start, stop])
        return FramePairs(
            self.width_px, self.height_px, self.frame_a[start:stop], self.t_a[start:stop], self.t_b[start:stop],
            self.pair_index[lo:hi] - start, self.xa[lo:hi], self.xb[lo:hi], self.frames_decoded,
            None if self.track_id is None else self.track_id[lo:hi],
        )

    def chunks(self, size: int):
        """The pairs ``size`` at a time, as :meth:`slice` s (bounded memory on long clips)."""
        for a in range(0, self.n_pairs, size):
            yield self.slice(a, min(a + size, self.n_pairs))

    def subset(self, pairs_mask: np.ndarray) -> "FramePairs":
        keep_pairs = np.nonzero(pairs_mask)[0]
        remap = -np.ones(self.n_pairs, dtype=np.int64)
        remap[keep_pairs] = np.arange(len(keep_pairs))
        pm = pairs_mask[self.pair_index]
        return FramePairs(
            self.width_px, self.height_px, self.frame_a[keep_pairs], self.t_a[keep_pairs], self.t_b[keep_pairs],
            remap[self.pair_index[pm]], self.xa[pm], self.xb[pm], self.frames_decoded,
            None if self.track_id is None else self.track_id[pm],
        )

    def points(self, keep: np.ndarray) -> "FramePairs":
        """The same pairs with only the points ``keep`` (a boolean mask or sorted indices)."""
        return FramePairs(
            self.width_px, self.height_px, self.frame_a, self.t_a, self.t_b, self.pair_index[keep], self.xa[keep],
            self.xb[keep], self.frames_decoded, None if self.track_id is None else self.track_id[keep],
        )

    def strided(self, stride: int) -> "FramePairs":
        """Pairs ``stride`` frames apart, composed from the tracks: for every run of ``stride``
        consecutive pairs, the points followed through all of it, at their place in its first
        and in its last frame. Where the camera moves less than a tracker can measure between
        neighbouring frames (high frame rates, small frames, slow motion), the motion over a few
        frames can still be measured. Pairs overlap (one starts at every frame); needs
        ``track_id``.
        """
        if stride <= 1 or self.n_pairs == 0:
            return self
        if self.track_id is None:
            raise ValueError("strided pairs need the points' track ids")
        n = self.n_pairs
        lo = np.searchsorted(self.pair_index, np.arange(n))
        hi = np.searchsorted(self.pair_index, np.arange(n), side="right")
        frame_a, t_a, t_b, pidx, xa, xb, ids = [], [], [], [], [], [], []
        for j in range(n - stride + 1):
            e = j + stride - 1
            if self.frame_a[e] - self.frame_a[j] != stride - 1:
                continue  # a gap (a sync window's edge, or a frame with too few tracks)
            id_a, id_b = self.track_id[lo[j]:hi[j]], self.track_id[lo[e]:hi[e]]
            common, ia, ib = np.intersect1d(id_a, id_b, assume_unique=True, return_indices=True)
            if len(common) < 8:
                continue
            k = len(frame_a)
            frame_a.append(self.frame_a[j])
            t_a.append(self.t_a[j])
            t_b.append(self.t_b[e])
            pidx.append(np.full(len(common), k, dtype=np.int64))
            xa.append(self.xa[lo[j]:hi[j]][ia])
            xb.append(self.xb[lo[e]:hi[e]][ib])
            ids.append(common)
        if not frame_a:
            empty2 = np.zeros((0, 2))
            return FramePairs(self.width_px, self.height_px, np.zeros(0, np.int64), np.zeros(0), np.zeros(0),
                              np.zeros(0, np.int64), empty2, empty2, self.frames_decoded, np.zeros(0, np.int64))
        return FramePairs(
            self.width_px, self.height_px, np.asarray(frame_a, np.int64), np.asarray(t_a), np.asarray(t_b),
            np.concatenate(pidx), np.concatenate(xa), np.concatenate(xb), self.frames_decoded, np.concatenate(ids),
        )


def _in_windows(t: float, windows: Sequence[tuple[float, float]] | None) -> bool:
    if windows is None:
        return True
    return any(a <= t <= b for a, b in windows)


def track_frame_pairs(
    video: str | os.PathLike,
    *,
    windows: Sequence[tuple[float, float]] | None = None,
    track_width_px: int = 480,
    max_corners: int = 150,
    fb_max_px: float = 0.7,
    info=None,
    progress: Progress | None = None,
    stage: str = "sync",
    max_points: int | None = None,
) -> FramePairs:
    """KLT feature tracks between consecutive frames, streaming over the video.

    Parameters
    ----------
    video : the clip.
    windows : (start, end) video-time intervals [s]; only pairs with both frames inside one
        are tracked (None = the whole clip).
    track_width_px : frames wider than this are downscaled (area) for tracking; coordinates
        are returned at full resolution.
    max_corners : corners detected per frame.
    fb_max_px : forward-backward error limit at the tracking resolution.
    progress : ``(stage, done, total)`` callback; ``stage`` names it.
    max_points : about how many points to keep in all (None: every one). Where the clip's
        pairs times ``max_corners`` exceed it, every point is still tracked, but only a share
        of the tracks is kept, at least :data:`MIN_KEPT_SHARE`: each track whole or not at
        all, chosen by its id (:func:`kept_tracks`), so the kept points of a pair are spread
        like all of them and strided pairs still find them; a pair whose kept tracks would be
        fewer than :data:`MIN_KEPT_POINTS` keeps that many. Memory then stays bounded on
        long clips.
    """
    import av

    from ..io.video import probe_video

    info = info or probe_video(video)
    W, H = info.width_px, info.height_px
    scale = min(1.0, track_width_px / W) if track_width_px else 1.0
    ws, hs = max(16, int(round(W * scale))), max(16, int(round(H * scale)))
    kx, ky = ws / W, hs / H
    pts_to_index = {int(p): i for i, p in enumerate(info.pts)}
    times = info.frame_times_s
    last_needed = times[-1] if windows is None else max(b for _, b in windows)
    share = 1.0
    if max_points is not None:
        in_windows = len(times) if windows is None else sum(_in_windows(float(t), windows) for t in times)
        share = min(1.0, max(MIN_KEPT_SHARE, max_points / max(1, in_windows * max_corners)))
    min_dist = max(4.0, ws / 60.0)
    lk = dict(winSize=(15, 15), maxLevel=3, criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 0.03))

    frame_a, t_a, t_b, pidx, xa_all, xb_all, id_all = [], [], [], [], [], [], []
    prev = None  # (index, grey, points, their track ids)
    next_id = 0
    decoded = 0
    n = info.frame_count
    try:
        container = av.open(str(video))
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot read {video}: {exc}", "give a video file FFmpeg can decode") from None
    def frames(stream):
        """All frames, or (several windows) only the frames of each window, seeking to it."""
        if windows is None or len(windows) == 1:
            yield from container.decode(stream)
            return
        tb = float(stream.time_base)
        for wa, wb in windows:
            try:
                container.seek(int(info.pts[0] + max(0.0, wa - 0.5) / tb), stream=stream, backward=True)
            except av.error.FFmpegError:  # not seekable: decode through (slower, same result)
                container.seek(0)
            for frame in container.decode(stream):
                t_f = (int(frame.pts if frame.pts is not None else 0) - int(info.pts[0])) * tb
                if t_f < wa - 1e-6:
                    continue
                if t_f > wb + 1e-6:
                    break
                yield frame

    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in frames(stream):
            decoded += 1
            pts = int(frame.pts if frame.pts is not None else 0)
            i = pts_to_index.get(pts)
            if i is None:
                i = int(np.clip(np.searchsorted(info.pts, pts), 0, n - 1))
            t = float(times[i])
            if t > last_needed + 1e-6:
                break
            if progress:
                progress(stage, i + 1, n)
            if not _in_windows(t, windows):
                prev = None
                continue
            if scale < 1.0:  # resized straight from the decoder's luma buffer
                grey = _shrink(_grey(frame, W, H, view=True), ws, hs)
            else:
                grey = _grey(frame, W, H)
            kept = kept_ids = None
            if prev is not None and prev[0] == i - 1 and prev[2] is not None and len(prev[2]) >= 8:
                p0 = prev[2]
                p1, st, _ = cv2.calcOpticalFlowPyrLK(prev[1], grey, p0, None, **lk)
                p0r, st2, _ = cv2.calcOpticalFlowPyrLK(grey, prev[1], p1, None, **lk)
                fb = np.linalg.norm((p0 - p0r).reshape(-1, 2), axis=1)
                a = p0.reshape(-1, 2)
                b = p1.reshape(-1, 2)
                ok = (st.ravel() == 1) & (st2.ravel() == 1) & (fb < fb_max_px)
                ok &= (b[:, 0] >= 2) & (b[:, 0] <= ws - 3) & (b[:, 1] >= 2) & (b[:, 1] <= hs - 3)
                a, b, kept_ids = a[ok], b[ok], prev[3][ok]
                a_s, b_s, ids_s = a, b, kept_ids
                if share < 1.0:
                    stored = kept_tracks(kept_ids, share, at_least=MIN_KEPT_POINTS)
                    a_s, b_s, ids_s = a[stored], b[stored], kept_ids[stored]
                if len(a) >= 8:
                    j = len(frame_a)
                    frame_a.append(i - 1)
                    t_a.append(float(times[i - 1]))
                    t_b.append(t)
                    pidx.append(np.full(len(a_s), j, dtype=np.int64))
                    xa_all.append(np.stack([(a_s[:, 0] + 0.5) / kx - 0.5, (a_s[:, 1] + 0.5) / ky - 0.5], -1))
                    xb_all.append(np.stack([(b_s[:, 0] + 0.5) / kx - 0.5, (b_s[:, 1] + 0.5) / ky - 0.5], -1))
                    id_all.append(ids_s)
                kept = b.reshape(-1, 1, 2).astype(np.float32)
            # keep tracking the surviving points; top up with new corners when they thin out
            if kept is None or len(kept) < 0.7 * max_corners:
                mask = None
                if kept is not None and len(kept):
                    mask = np.full((hs, ws), 255, np.uint8)
                    for x, y in kept.reshape(-1, 2):
                        cv2.circle(mask, (int(x), int(y)), int(min_dist), 0, -1)
                want = max_corners - (0 if kept is None else len(kept))
                corners = cv2.goodFeaturesToTrack(grey, want, 0.01, min_dist, mask=mask, blockSize=7)
                if corners is not None:
                    corners = corners.astype(np.float32)
                    new_ids = np.arange(next_id, next_id + len(corners), dtype=np.int64)
                    next_id += len(corners)
                    if kept is None or not len(kept):
                        kept, kept_ids = corners, new_ids
                    else:
                        kept, kept_ids = np.concatenate([kept, corners]), np.concatenate([kept_ids, new_ids])
            prev = (i, grey, kept, kept_ids)
    except av.error.FFmpegError as exc:
        raise decode_error(video, exc) from None
    finally:
        container.close()
    if not frame_a:
        empty2 = np.zeros((0, 2))
        return FramePairs(W, H, np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, np.int64), empty2, empty2,
                          decoded, np.zeros(0, np.int64))
    return FramePairs(
        W, H, np.asarray(frame_a, np.int64), np.asarray(t_a), np.asarray(t_b), np.concatenate(pidx),
        np.concatenate(xa_all).astype(np.float64), np.concatenate(xb_all).astype(np.float64), decoded,
        np.concatenate(id_all),
    )


#: the least share of the tracks :func:`track_frame_pairs` keeps under ``max_points``
MIN_KEPT_SHARE = 0.25
#: the least points a pair keeps under ``max_points`` (all where it has fewer)
MIN_KEPT_POINTS = 24


def kept_tracks(track_ids: np.ndarray, share: float, *, at_least: int = 0) -> np.ndarray:
    """Which tracks a share of them keeps: ``frac(id * golden ratio) < share``, (P,) bool. The
    golden-ratio sequence spreads any run of ids evenly over [0, 1), so every pair keeps about
    ``share`` of its tracks, and a track is kept in every pair or in none. Where that keeps
    fewer than ``at_least`` (a pair with few tracks), the ``at_least`` lowest keys are kept:
    a superset of the share's, so the share's tracks go on through such a pair (the others it
    adds may be dropped again in the next)."""
    key = np.modf(np.asarray(track_ids, dtype=np.float64) * 0.6180339887498949)[0]
    keep = key < share
    need = min(int(at_least), len(key))
    if need and np.count_nonzero(keep) < need:
        keep = key <= np.partition(key, need - 1)[need - 1]
    return keep


def _shrink(grey: np.ndarray, ws: int, hs: int) -> np.ndarray:
    """``grey`` area-averaged to (hs, ws). A non-integer factor above 2 (1280 -> 480) is halved
    first: OpenCV's exact 2x2 average is 20x faster than its general area resampling, which
    then runs on a quarter of the pixels (the result differs from one area step by rounding)."""
    H, W = grey.shape
    if W >= 2 * ws and H >= 2 * hs and (W % ws or H % hs) and W % 2 == 0 and H % 2 == 0:
        grey = cv2.resize(grey, (W // 2, H // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(grey, (ws, hs), interpolation=cv2.INTER_AREA)


def _grey(frame, W: int, H: int, *, view: bool = False) -> np.ndarray:
    """Luma plane of a decoded frame (no colour conversion for 8-bit YUV).

    ``view``: a read-only view of the frame's own luma buffer (no copy; it keeps the frame
    alive), for a caller that resizes it at once; else a contiguous copy."""
    if frame.format.name in ("yuv420p", "yuvj420p", "nv12", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"):
        plane = frame.planes[0]
        if plane.height >= H and plane.width >= W:
            luma = plane_view(plane)[:H, :W]
            return luma if view else luma.copy()
    grey = frame.to_ndarray(format="gray")
    return np.ascontiguousarray(grey[:H, :W])


def sync_windows(duration_s: float, *, window_s: float = 2.0, every_s: float = 4.0,
                 max_windows: int = 12) -> list[tuple[float, float]]:
    """Sync windows (start, end) [s]: the whole clip when it is shorter than ``2 * every_s``,
    else windows of ``window_s`` spread evenly from start to end, about ``every_s`` apart and
    at most ``max_windows`` of them (so a long clip costs a bounded amount of decoding: the
    tracker seeks to each window)."""
    if duration_s <= max(2.0 * every_s, 1.5 * window_s):
        return [(0.0, duration_s)]
    n = min(max(2, int(max_windows)), max(2, int(round((duration_s - window_s) / every_s)) + 1))
    starts = np.linspace(0.0, duration_s - window_s, n)
    return [(float(s), float(s + window_s)) for s in starts]
