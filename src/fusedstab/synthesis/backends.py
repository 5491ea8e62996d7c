"""Pixel backends: upsample a :class:`FrameWarp`'s coarse map and resample the frame.

Every backend computes the same thing from the same :class:`~fusedstab.synthesis.plan.FrameWarp`:
bilinear (align-corners) upsampling of the coarse map to one full map, then one remap of
the source frame with constant black outside it. Backends differ only in where the pixels
are pushed (OpenCV on the CPU, PyTorch on CPU or CUDA; see ``torch_backend.py``).

Grid node j of a coarse axis with ``g`` nodes sits at output pixel ``j * (N - 1) / (g - 1)``
(align-corners), so output pixel ``p`` reads nodes ``floor(s)`` and ``floor(s) + 1`` with
``s = p * (g - 1) / (N - 1)`` -- exactly ``torch.nn.functional.interpolate(...,
mode="bilinear", align_corners=True)``. NaN nodes (rays the lens cannot image) are replaced by
a source position far outside the frame, so their pixels come out black.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from .plan import INTERPOLATIONS, OUTSIDE_PX, FrameWarp

__all__ = ["OpenCVBackend", "get_backend", "INTERPOLATIONS", "available_cpus"]

#: Output rows per work item of the strip-parallel OpenCV warp.
_STRIP_ROWS = 64


def available_cpus() -> int:
    """CPU cores this process may run on (honours ``taskset`` / cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Align-corners linear interpolation along one axis: (lower node index, weight of the upper node)."""
    scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    src = np.arange(n_out, dtype=np.float64) * scale
    i0 = np.minimum(np.floor(src).astype(np.intp), max(n_in - 2, 0))
    return i0, (src - i0).astype(np.float32)


class _Upsampler:
    """Cached indices and weights for one (coarse size, output size) pair.

    ``full = horizontal pass (cheap, on the grid rows only) + vertical pass per output
    strip``; the vertical pass is ``tmp[j] + fy * (tmp[j + 1] - tmp[j])`` over the rows of
    each grid interval j. Maps are kept interleaved, (rows, W * 2) = (rows, W, 2), which is
    what ``cv2.convertMaps`` reads and keeps numpy's inner loops long.
    """

    def __init__(self, gh: int, gw: int, W: int, H: int):
        self.gh, self.gw, self.W, self.H = gh, gw, W, H
        ix, fx = _axis(gw, W)
        ix1 = np.minimum(ix + 1, gw - 1)
        # indices into a (gh, gw * 2) interleaved coarse row, and weights, for (W * 2) outputs
        self.cx0 = (2 * ix[:, None] + np.arange(2)).reshape(-1)
        self.cx1 = (2 * ix1[:, None] + np.arange(2)).reshape(-1)
        self.wx1 = np.repeat(fx, 2)
        self.wx0 = (1.0 - self.wx1).astype(np.float32)
        self.iy, fy = _axis(gh, H)
        self.fy = fy[:, None].copy()  # (H, 1): broadcasts along a row
        # first output row of each grid interval (interval j covers rows [start[j], start[j+1]))
        self.start = np.searchsorted(self.iy, np.arange(gh + 1), side="left")

    def horizontal(self, coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(gh, W * 2) rows of the full map at the grid rows, and their row differences."""
        c = np.where(np.isfinite(coarse), coarse, np.float32(OUTSIDE_PX)).astype(np.float32, copy=False)
        c = c.reshape(self.gh, 2 * self.gw)
        tmp = np.ascontiguousarray(c[:, self.cx0]) * self.wx0  # (fancy indexing may return F-order)
        tmp += np.ascontiguousarray(c[:, self.cx1]) * self.wx1
        diff = np.zeros_like(tmp)
        np.subtract(tmp[1:], tmp[:-1], out=diff[:-1])
        return tmp, diff

    def vertical(self, tmp: np.ndarray, diff: np.ndarray, out: np.ndarray, r0: int, r1: int) -> None:
        """Fill ``out`` (r1 - r0, W * 2) with output rows [r0, r1) of the full map."""
        if r1 <= r0:
            return
        for j in range(int(self.iy[r0]), int(self.iy[r1 - 1]) + 1):
            a, b = max(int(self.start[j]), r0), min(int(self.start[j + 1]), r1)
            if a < b:
                o = out[a - r0 : b - r0]
                np.multiply(self.fy[a:b], diff[j], out=o)
                o += tmp[j]


class OpenCVBackend:
    """``cv2.remap`` on the CPU.

    The full map is computed exactly (float32) and converted to OpenCV's fixed-point maps
    (1/32 px), in horizontal strips spread over the available cores.

    Parameters
    ----------
    interpolation : "bilinear" (default) or "bicubic".
    threads : worker threads for the strips; None = the cores this process may use.
    """

    name = "opencv"
    device = "cpu"

    def __init__(self, interpolation: str = "bilinear", threads: int | None = None):
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        self.interpolation = interpolation
        self._flag = cv2.INTER_LINEAR if interpolation == "bilinear" else cv2.INTER_CUBIC
        self.threads = max(1, int(threads)) if threads else available_cpus()
        self._upsamplers: dict = {}
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _upsampler(self, warp: FrameWarp) -> _Upsampler:
        gh, gw = warp.coarse_map_px.shape[:2]
        key = (gh, gw, warp.out_width_px, warp.out_height_px)
        up = self._upsamplers.get(key)
        if up is None:
            up = _Upsampler(gh, gw, warp.out_width_px, warp.out_height_px)
            self._upsamplers = {key: up}  # one size at a time: keep memory bounded
        return up

    def full_map(self, warp: FrameWarp) -> np.ndarray:
        """(H_out, W_out, 2) float32 source coordinates of every output pixel."""
        up = self._upsampler(warp)
        tmp, diff = up.horizontal(warp.coarse_map_px)
        full = np.empty((up.H, up.W, 2), np.float32)
        up.vertical(tmp, diff, full.reshape(up.H, 2 * up.W), 0, up.H)
        return full

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="fusedstab-remap")
            return self._pool

    def warp(self, frame: np.ndarray, warp: FrameWarp) -> np.ndarray:
        """Resample ``frame`` (H, W, C) uint8 to (H_out, W_out, C) through ``warp``."""
        up = self._upsampler(warp)
        tmp, diff = up.horizontal(warp.coarse_map_px)
        H, W = up.H, up.W
        out = np.empty((H, W) + frame.shape[2:], dtype=frame.dtype)
        src = np.ascontiguousarray(frame)

        def strip(r0: int, r1: int) -> None:
            full = np.empty((r1 - r0, W, 2), np.float32)
            up.vertical(tmp, diff, full.reshape(r1 - r0, 2 * W), r0, r1)
            m1, m2 = cv2.convertMaps(full, None, cv2.CV_16SC2)
            res = cv2.remap(src, m1, m2, self._flag, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            out[r0:r1] = res.reshape(out[r0:r1].shape)

        edges = list(range(0, H, _STRIP_ROWS)) + [H]
        if self.threads == 1 or len(edges) <= 2:
            for r0, r1 in zip(edges[:-1], edges[1:]):
                strip(r0, r1)
        else:
            for f in [self._executor().submit(strip, a, b) for a, b in zip(edges[:-1], edges[1:])]:
                f.result()
        return out

    def __del__(self):  # pragma: no cover - best effort
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)


def get_backend(name: str = "opencv", *, device: str = "auto", interpolation: str = "bilinear"):
    """Backend by name: ``"opencv"`` or ``"torch"`` (``device`` cpu | cuda | auto)."""
    if name == "opencv":
        return OpenCVBackend(interpolation)
    if name == "torch":
        from .torch_backend import TorchBackend  # optional dependency, imported on demand

        return TorchBackend(interpolation=interpolation, device=device)
    raise ValueError(f"unknown backend {name!r}; expected 'opencv' or 'torch'")
