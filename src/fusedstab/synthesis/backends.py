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

import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from ..io.video import available_cpus  # re-exported: bench/warp.py and the thread count
from .plan import INTERPOLATIONS, OUTSIDE_PX, FrameWarp

__all__ = ["OpenCVBackend", "get_backend", "INTERPOLATIONS", "available_cpus"]

#: Output rows per work item of the strip-parallel OpenCV warp.
_STRIP_ROWS = 64


def _axis(n_in: int, n_out: int, at: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Align-corners linear interpolation along one axis: (lower node index, weight of the upper node).

    ``at``: the output positions to sample (default: the pixels 0 .. n_out - 1), increasing,
    in output pixels of an axis of ``n_out`` pixels."""
    scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    pos = np.arange(n_out, dtype=np.float64) if at is None else np.asarray(at, dtype=np.float64)
    src = np.clip(pos * scale, 0.0, n_in - 1.0)
    i0 = np.minimum(np.floor(src).astype(np.intp), max(n_in - 2, 0))
    return i0, (src - i0).astype(np.float32)


class _Upsampler:
    """Cached indices and weights for one (coarse size, output size) pair.

    ``full = horizontal pass (cheap, on the grid rows only) + vertical pass per output
    strip``; the vertical pass is ``tmp[j] + fy * (tmp[j + 1] - tmp[j])`` over the rows of
    each grid interval j. Maps are kept interleaved, (rows, W * 2) = (rows, W, 2), which is
    what ``cv2.remap`` reads and keeps numpy's inner loops long.
    """

    def __init__(self, gh: int, gw: int, W: int, H: int, xs: np.ndarray | None = None, ys: np.ndarray | None = None):
        # xs, ys: sample the map at these output positions (default: every pixel of W x H)
        self.gh, self.gw = gh, gw
        self.W = W if xs is None else len(xs)
        self.H = H if ys is None else len(ys)
        ix, fx = _axis(gw, W, xs)
        ix1 = np.minimum(ix + 1, gw - 1)
        # indices into a (gh, gw * 2) interleaved coarse row, and weights, for (W * 2) outputs
        self.cx0 = (2 * ix[:, None] + np.arange(2)).reshape(-1)
        self.cx1 = (2 * ix1[:, None] + np.arange(2)).reshape(-1)
        self.wx1 = np.repeat(fx, 2)
        self.wx0 = (1.0 - self.wx1).astype(np.float32)
        self.iy, fy = _axis(gh, H, ys)
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


def _planes_420(yuv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y (H, W), U and V (H / 2, W / 2) planes of a contiguous (H * 3 / 2, W)
    4:2:0 frame (a chroma plane need not start on a row of the stacked array)."""
    h, w = yuv.shape[0] * 2 // 3, yuv.shape[1]
    flat = yuv.reshape(-1)
    n_y, n_c = h * w, (h // 2) * (w // 2)
    return (flat[:n_y].reshape(h, w), flat[n_y:n_y + n_c].reshape(h // 2, w // 2),
            flat[n_y + n_c:n_y + 2 * n_c].reshape(h // 2, w // 2))


class OpenCVBackend:
    """``cv2.remap`` on the CPU.

    The full map is computed exactly (float32) and handed to ``cv2.remap`` as it is, in
    horizontal strips spread over the available cores. (Converted to OpenCV's fixed-point maps
    first, as until 2026-12-07, the bilinear weights were rounded to 1/32 px: 1.1 levels RMS
    from exact bilinear on random texture, against 0.29 (the output's rounding) with the float
    map, which is also a little faster: 7.6 -> 7.0 ms per 720p 4:2:0 frame on one thread.)

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
            self._upsamplers = {key: up}  # one size at a time: keep memory bounded (chroma's is added beside it)
        return up

    def full_map(self, warp: FrameWarp) -> np.ndarray:
        """(H_out, W_out, 2) float32 source coordinates of every output pixel."""
        up = self._upsampler(warp)
        tmp, diff = up.horizontal(warp.coarse_map_px)
        full = np.empty((up.H, up.W, 2), np.float32)
        up.vertical(tmp, diff, full.reshape(up.H, 2 * up.W), 0, up.H)
        return full

    def _chroma_upsampler(self, warp: FrameWarp) -> _Upsampler:
        """The map at the chroma samples of a 4:2:0 output: chroma pixel (i, j) sits at luma
        position (2 i, 2 j + 0.5) (left-sited, as H.264 / HEVC / MPEG-2 4:2:0 video)."""
        gh, gw = warp.coarse_map_px.shape[:2]
        W, H = warp.out_width_px, warp.out_height_px
        key = ("chroma", gh, gw, W, H)
        up = self._upsamplers.get(key)
        if up is None:
            up = _Upsampler(gh, gw, W, H, xs=2.0 * np.arange(W // 2), ys=2.0 * np.arange(H // 2) + 0.5)
            self._upsamplers[key] = up
        return up

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
            res = cv2.remap(src, full, None, self._flag, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            out[r0:r1] = res.reshape(out[r0:r1].shape)

        self._in_strips(strip, H)
        return out

    def _in_strips(self, strip, H: int) -> None:
        """``strip(r0, r1)`` over output rows [0, H) in :data:`_STRIP_ROWS` pieces, spread over
        the worker threads (here, in order, with one thread)."""
        edges = list(range(0, H, _STRIP_ROWS)) + [H]
        if self.threads == 1 or len(edges) <= 2:
            for r0, r1 in zip(edges[:-1], edges[1:]):
                strip(r0, r1)
        else:
            for f in [self._executor().submit(strip, a, b) for a, b in zip(edges[:-1], edges[1:])]:
                f.result()

    def warp_yuv420(self, yuv: np.ndarray, warp: FrameWarp, *, full_range: bool = False) -> np.ndarray:
        """Resample a planar 4:2:0 frame through ``warp``, plane by plane, without converting it.

        Parameters
        ----------
        yuv : (H * 3 / 2, W) uint8, the Y plane (H, W) followed by U and V (H / 2, W / 2 each),
            as PyAV's ``VideoFrame.to_ndarray()`` gives a ``yuv420p`` frame; H and W even.
        warp : the frame's warp (output size even).
        full_range : the source's range: black is Y = 0 (full) or 16 (limited, default).

        Returns
        -------
        (H_out * 3 / 2, W_out) uint8 in the same layout, range and matrix.

        The chroma planes are sampled through the same warp at their own positions
        (:meth:`_chroma_upsampler`), so no colour conversion happens on the way: the output
        keeps the source's pixel values where the warp is the identity.
        """
        W, H = warp.out_width_px, warp.out_height_px
        if W % 2 or H % 2:
            raise ValueError(f"a 4:2:0 warp needs an even output size, got {W}x{H}")
        out = np.empty((H * 3 // 2, W), dtype=yuv.dtype)
        self.warp_yuv420_planes(_planes_420(np.ascontiguousarray(yuv)), _planes_420(out), warp, full_range=full_range)
        return out

    def warp_yuv420_planes(self, planes_in, planes_out, warp: FrameWarp, *, full_range: bool = False) -> None:
        """:meth:`warp_yuv420` from and into separate planes: ``planes_in`` (Y, U, V) of the
        source and ``planes_out`` of the output, (H, W), (H / 2, W / 2) each, uint8 (or uint16:
        10-bit samples, black and neutral chroma scaled by 4); rows may be padded (e.g. an
        ``av.VideoFrame``'s planes, read and written in place)."""
        W, H = warp.out_width_px, warp.out_height_px
        if W % 2 or H % 2:
            raise ValueError(f"a 4:2:0 warp needs an even output size, got {W}x{H}")
        up_y, up_c = self._upsampler(warp), self._chroma_upsampler(warp)
        tmp_y, diff_y = up_y.horizontal(warp.coarse_map_px)
        tmp_c, diff_c = up_c.horizontal(warp.coarse_map_px)
        # luma coordinates -> chroma coordinates: (x / 2, (y - 0.5) / 2), interleaved (x, y)
        c_scale = np.float32(0.5)
        c_shift = np.tile(np.array([0.0, -0.25], np.float32), W // 2)
        shift = 2 if planes_in[0].dtype == np.uint16 else 0  # 10-bit samples in 16-bit words
        black = 0 if full_range else 16 << shift
        neutral = 128 << shift

        def strip(r0: int, r1: int) -> None:  # luma rows [r0, r1) and the chroma rows beside them
            full = np.empty((r1 - r0, W * 2), np.float32)
            up_y.vertical(tmp_y, diff_y, full, r0, r1)
            planes_out[0][r0:r1] = cv2.remap(planes_in[0], full.reshape(r1 - r0, W, 2), None, self._flag,
                                             borderMode=cv2.BORDER_CONSTANT, borderValue=black)
            c0, c1 = r0 // 2, r1 // 2
            full = np.empty((c1 - c0, W), np.float32)
            up_c.vertical(tmp_c, diff_c, full, c0, c1)
            full *= c_scale
            full += c_shift
            cmap = full.reshape(c1 - c0, W // 2, 2)
            for k in (1, 2):
                planes_out[k][c0:c1] = cv2.remap(planes_in[k], cmap, None, self._flag, borderMode=cv2.BORDER_CONSTANT,
                                                 borderValue=neutral)

        self._in_strips(strip, H)  # _STRIP_ROWS is even: the chroma rows split with the luma rows

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
