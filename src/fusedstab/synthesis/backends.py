"""Pixel backends: upsample a :class:`FrameWarp`'s coarse map and resample the frame.

Every backend computes the same thing from the same :class:`~fusedstab.synthesis.plan.FrameWarp`:
bilinear (align-corners) upsampling of the coarse map to one full map, then one remap of
the source frame with constant black outside it. Backends differ only in where the pixels
are pushed (OpenCV on the CPU, PyTorch on CPU or CUDA).
"""

from __future__ import annotations

import cv2
import numpy as np

from .plan import FrameWarp

__all__ = ["OpenCVBackend", "get_backend", "INTERPOLATIONS"]

INTERPOLATIONS = ("bilinear", "bicubic")

_OUTSIDE_PX = -1.0e5


class OpenCVBackend:
    """``cv2.remap`` on the CPU.

    Parameters
    ----------
    interpolation : "bilinear" (default) or "bicubic".
    """

    name = "opencv"
    device = "cpu"

    def __init__(self, interpolation: str = "bilinear"):
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        self.interpolation = interpolation
        self._flag = cv2.INTER_LINEAR if interpolation == "bilinear" else cv2.INTER_CUBIC
        self._upsample_cache: dict = {}

    def _upsample_index(self, gh: int, gw: int, W: int, H: int):
        key = (gh, gw, W, H)
        if key not in self._upsample_cache:
            ix = np.arange(W, dtype=np.float32) * ((gw - 1) / max(W - 1, 1))
            iy = np.arange(H, dtype=np.float32) * ((gh - 1) / max(H - 1, 1))
            mx, my = np.meshgrid(ix, iy)
            self._upsample_cache = {key: (mx, my)}
        return self._upsample_cache[key]

    def full_map(self, warp: FrameWarp) -> np.ndarray:
        """(H_out, W_out, 2) float32 source coordinates of every output pixel."""
        coarse = np.where(np.isfinite(warp.coarse_map_px), warp.coarse_map_px, _OUTSIDE_PX).astype(np.float32)
        gh, gw = coarse.shape[:2]
        mx, my = self._upsample_index(gh, gw, warp.out_width_px, warp.out_height_px)
        return cv2.remap(coarse, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def warp(self, frame: np.ndarray, warp: FrameWarp) -> np.ndarray:
        """Resample ``frame`` (H, W, C) uint8 to (H_out, W_out, C) through ``warp``."""
        full = self.full_map(warp)
        m1, m2 = cv2.convertMaps(full, None, cv2.CV_16SC2)
        return cv2.remap(frame, m1, m2, self._flag, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def get_backend(name: str = "opencv", *, device: str = "auto", interpolation: str = "bilinear"):
    """Backend by name: ``"opencv"`` or ``"torch"`` (``device`` cpu | cuda | auto)."""
    if name == "opencv":
        return OpenCVBackend(interpolation)
    if name == "torch":
        from .torch_backend import TorchBackend  # optional dependency, imported on demand

        return TorchBackend(interpolation=interpolation, device=device)
    raise ValueError(f"unknown backend {name!r}; expected 'opencv' or 'torch'")
