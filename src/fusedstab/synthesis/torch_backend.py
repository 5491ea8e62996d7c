"""PyTorch pixel backend (CPU or CUDA): the same warp as :class:`~.backends.OpenCVBackend`.

Per frame: the coarse map (a few KB) goes to the device, is upsampled there with
``F.interpolate(mode="bilinear", align_corners=True)`` (the same align-corners rule as the
OpenCV backend), and one ``F.grid_sample(padding_mode="zeros", align_corners=True)`` pulls
the pixels; the frame travels as uint8 both ways and is converted on the device.

Because bilinear interpolation reproduces affine functions exactly, the coarse map is
normalised to grid_sample's [-1, 1] coordinates *before* upsampling
(``x_norm = 2 x / (W_src - 1) - 1``), which saves one full-resolution pass.

PyTorch is optional (``pip install 'fusedstab[gpu]'``); importing this module without it
raises :class:`~fusedstab.errors.DependencyError`.
"""

from __future__ import annotations

import numpy as np

from ..errors import DependencyError
from .plan import INTERPOLATIONS, OUTSIDE_PX, FrameWarp

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    raise DependencyError(
        "the torch backend needs PyTorch", "pip install 'fusedstab[gpu]' (or pip install torch)"
    ) from None

__all__ = ["TorchBackend"]


def _resolve_device(device: str | None) -> "torch.device":
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}") from exc
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DependencyError(
            "device 'cuda' was requested but PyTorch sees no CUDA GPU",
            "use --device cpu (or auto), or install a CUDA build of PyTorch and the NVIDIA driver",
        )
    return dev


class TorchBackend:
    """``torch.nn.functional.grid_sample`` on CPU or CUDA.

    Parameters
    ----------
    interpolation : "bilinear" (default) or "bicubic" (Keys a = -0.75, as OpenCV's INTER_CUBIC).
    device : "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".
    """

    name = "torch"

    def __init__(self, interpolation: str = "bilinear", device: str = "auto"):
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        self.interpolation = interpolation
        self.torch_device = _resolve_device(device)
        self.device = str(self.torch_device)
        self._cuda = self.torch_device.type == "cuda"
        self._norm_cache: dict = {}  # (src W, src H) -> (scale, offset) tensors on the device
        self._staging: dict = {}  # frame shape -> pinned host buffer (CUDA only)
        self._upload_done = None  # CUDA event: the staging buffer may be overwritten

    # ------------------------------------------------------------------ maps
    def _norm(self, src_w: int, src_h: int):
        key = (src_w, src_h)
        cached = self._norm_cache.get(key)
        if cached is None:
            scale = torch.tensor(
                [2.0 / max(src_w - 1, 1), 2.0 / max(src_h - 1, 1)], dtype=torch.float32, device=self.torch_device
            )
            cached = (scale, torch.full((2,), -1.0, dtype=torch.float32, device=self.torch_device))
            self._norm_cache = {key: cached}
        return cached

    def _coarse(self, warp: FrameWarp) -> "torch.Tensor":
        """(gh, gw, 2) float32 coarse map on the device, NaN nodes moved far outside."""
        c = np.asarray(warp.coarse_map_px, dtype=np.float32)
        c = np.where(np.isfinite(c), c, np.float32(OUTSIDE_PX))
        t = torch.from_numpy(np.ascontiguousarray(c))
        return t.to(self.torch_device, non_blocking=False)

    @staticmethod
    def _upsample(coarse_hw2: "torch.Tensor", H: int, W: int) -> "torch.Tensor":
        """(gh, gw, 2) -> (1, H, W, 2) by align-corners bilinear interpolation."""
        c = coarse_hw2.permute(2, 0, 1).unsqueeze(0)  # (1, 2, gh, gw)
        full = F.interpolate(c, size=(H, W), mode="bilinear", align_corners=True)
        return full.permute(0, 2, 3, 1)

    def grid(self, warp: FrameWarp) -> "torch.Tensor":
        """(1, H_out, W_out, 2) grid_sample grid (normalised, align_corners=True) on the device."""
        scale, offset = self._norm(warp.src_width_px, warp.src_height_px)
        coarse = self._coarse(warp) * scale + offset  # affine: commutes with bilinear upsampling
        return self._upsample(coarse, warp.out_height_px, warp.out_width_px).contiguous()

    def full_map_tensor(self, warp: FrameWarp) -> "torch.Tensor":
        """(H_out, W_out, 2) float32 source pixel coordinates, on the device."""
        return self._upsample(self._coarse(warp), warp.out_height_px, warp.out_width_px)[0]

    def full_map(self, warp: FrameWarp) -> np.ndarray:
        """(H_out, W_out, 2) float32 source coordinates of every output pixel."""
        with torch.inference_mode():
            return self.full_map_tensor(warp).cpu().numpy()

    # ------------------------------------------------------------------ pixels
    def upload(self, frame: np.ndarray) -> "torch.Tensor":
        """(H, W[, C]) uint8 array -> uint8 tensor on the device (pinned, async copy on CUDA)."""
        host = torch.from_numpy(np.ascontiguousarray(frame))
        if not self._cuda:
            return host
        buf = self._staging.get(host.shape)
        if buf is None:
            buf = torch.empty(host.shape, dtype=host.dtype, pin_memory=True)
            self._staging = {host.shape: buf}
        if self._upload_done is not None:
            self._upload_done.synchronize()  # the previous async copy still reads ``buf``
        buf.copy_(host)
        dev = buf.to(self.torch_device, non_blocking=True)
        self._upload_done = torch.cuda.Event()
        self._upload_done.record()
        return dev

    def warp_tensor(self, frame: "torch.Tensor", warp: FrameWarp) -> "torch.Tensor":
        """Warp a frame that is already on the device.

        ``frame``: (H, W, C) or (H, W) tensor, uint8 (0..255), uint16 (0..65535, deep sources)
        or floating point, on this backend's device. Returns (H_out, W_out, C) (or (H_out,
        W_out)) on the device, uint16 for a uint16 frame, else uint8.
        """
        with torch.inference_mode():
            squeeze = frame.dim() == 2
            x = frame.unsqueeze(-1) if squeeze else frame
            if x.device != self.torch_device:
                x = x.to(self.torch_device)
            x = x.permute(2, 0, 1).unsqueeze(0).to(torch.float32)  # (1, C, H, W)
            g = self.grid(warp)
            y = F.grid_sample(x, g, mode=self.interpolation, padding_mode="zeros", align_corners=True)
            deep = frame.dtype == torch.uint16
            y = y[0].round_().clamp_(0.0, 65535.0 if deep else 255.0).to(torch.uint16 if deep else torch.uint8)
            y = y.permute(1, 2, 0)
            return y[..., 0] if squeeze else y

    def _sample(self, plane: "torch.Tensor", grid: "torch.Tensor", black: float) -> "torch.Tensor":
        """(C, H, W) float plane(s) sampled at ``grid`` (1, h, w, 2), ``black`` outside."""
        y = F.grid_sample((plane - black).unsqueeze(0), grid, mode=self.interpolation, padding_mode="zeros",
                          align_corners=True)
        return (y[0] + black).round_().clamp_(0.0, 255.0).to(torch.uint8)

    def warp_yuv420(self, yuv: np.ndarray, warp: FrameWarp, *, full_range: bool = False) -> np.ndarray:
        """Resample a planar 4:2:0 frame through ``warp`` without converting it: the same
        contract as :meth:`~.backends.OpenCVBackend.warp_yuv420` ((H * 3 / 2, W) uint8, Y then
        U then V, chroma left-sited). Half the bytes of a BGR frame travel to the device."""
        W, H = warp.out_width_px, warp.out_height_px
        if W % 2 or H % 2:
            raise ValueError(f"a 4:2:0 warp needs an even output size, got {W}x{H}")
        h_in, w_in = yuv.shape[0] * 2 // 3, yuv.shape[1]
        with torch.inference_mode():
            flat = self.upload(yuv).reshape(-1).to(torch.float32)
            n_y, n_c = h_in * w_in, (h_in // 2) * (w_in // 2)
            y_in = flat[:n_y].reshape(1, h_in, w_in)
            uv_in = flat[n_y:n_y + 2 * n_c].reshape(2, h_in // 2, w_in // 2)
            y_out = self._sample(y_in, self.grid(warp), 0.0 if full_range else 16.0)
            # the map at the chroma sites, luma position (2 i, 2 j + 0.5), in source luma pixels,
            # then in source chroma pixels (x / 2, (y - 0.5) / 2), normalised for the chroma plane
            c = self._coarse(warp).permute(2, 0, 1).unsqueeze(0)  # (1, 2, gh, gw)
            xs = torch.arange(W // 2, dtype=torch.float32, device=self.torch_device) * 2.0
            ys = torch.arange(H // 2, dtype=torch.float32, device=self.torch_device) * 2.0 + 0.5
            sites = torch.stack(torch.broadcast_tensors(
                (xs * (2.0 / max(W - 1, 1)) - 1.0)[None, :], (ys * (2.0 / max(H - 1, 1)) - 1.0)[:, None]), -1)
            m = F.grid_sample(c, sites.unsqueeze(0), mode="bilinear", padding_mode="border", align_corners=True)
            scale = torch.tensor([1.0 / max(w_in // 2 - 1, 1), 1.0 / max(h_in // 2 - 1, 1)],
                                 dtype=torch.float32, device=self.torch_device)
            shift = torch.tensor([0.0, -0.5], dtype=torch.float32, device=self.torch_device)
            g_c = ((m[0].permute(1, 2, 0) + shift) * scale - 1.0).unsqueeze(0)  # 2 (x + s) / 2 / (n - 1) - 1
            uv_out = self._sample(uv_in, g_c, 128.0)
            out = torch.cat([y_out.reshape(-1), uv_out.reshape(-1)]).reshape(H * 3 // 2, W)
            return out.cpu().numpy()

    def warp(self, frame: np.ndarray, warp: FrameWarp) -> np.ndarray:
        """Resample ``frame`` (H, W, C) uint8 to (H_out, W_out, C) through ``warp``."""
        out = self.warp_tensor(self.upload(frame), warp)
        return out.contiguous().cpu().numpy()

    def synchronize(self) -> None:
        """Wait for queued device work (for timing)."""
        if self._cuda:
            torch.cuda.synchronize(self.torch_device)
