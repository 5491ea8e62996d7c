"""Pixel backends: OpenCV and PyTorch compute the same warp from one FrameWarp.

Torch tests are skipped (with the reason shown by ``-ra``) when PyTorch is not installed;
CUDA cases run only where ``torch.cuda.is_available()``.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fusedstab.camera import CameraModel
from fusedstab.errors import DependencyError
from fusedstab.synthesis.backends import OpenCVBackend, get_backend
from fusedstab.synthesis.plan import FrameWarp, WarpPlanner
from fusedstab.types import OrientationTrack

W, H = 320, 240


# ---------------------------------------------------------------------------- fixtures
def _torch():
    return pytest.importorskip("torch", reason="PyTorch not installed: pip install 'fusedstab[gpu]'")


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    torch = _torch()
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device visible to PyTorch")
    return request.param


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    """Smooth-ish random texture with edges and gradients, (H, W, 3) uint8."""
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), 1.2)
    yy, xx = np.mgrid[0:H, 0:W]
    img[..., 0] = np.clip(img[..., 0] * 0.5 + xx * 0.5 * 255 / W, 0, 255)
    cv2.rectangle(img, (60, 50), (140, 120), (255, 255, 255), -1)
    cv2.circle(img, (230, 150), 40, (0, 40, 200), 3)
    return img


def _camera(lens: str, width: int = W, height: int = H) -> CameraModel:
    if lens == "pinhole":
        return CameraModel.from_fov(width, height, 75.0)
    f = 0.42 * width
    return CameraModel(width, height, f, f, (width - 1) / 2.0 + 1.5, (height - 1) / 2.0 - 2.0,
                       model="opencv_fisheye", coeffs=(0.05, -0.01, 0.002, -0.0005))


def _track(amplitude_rad: float = 0.04) -> OrientationTrack:
    t = np.linspace(0.0, 1.0, 41)
    rv = amplitude_rad * np.stack([np.sin(7.0 * t), np.cos(5.0 * t) - 1.0, 0.6 * np.sin(3.0 * t + 0.4)], -1)
    q = Rotation.from_rotvec(rv).as_quat()[:, [3, 0, 1, 2]]
    return OrientationTrack(t, q)


def _real_warp(lens: str, width: int = W, height: int = H) -> FrameWarp:
    planner = WarpPlanner(_camera(lens, width, height), _track(), readout_s=0.03, grid_step_px=16)
    R_virt = Rotation.from_rotvec([0.01, -0.015, 0.02]).as_matrix()
    return planner.frame_warp(R_virt, 1.15, 0.4)


def _identity_warp() -> FrameWarp:
    cam = CameraModel.from_fov(W, H, 70.0)
    track = OrientationTrack(np.array([0.0, 1.0]), np.array([[1.0, 0, 0, 0], [1.0, 0, 0, 0]]))
    return WarpPlanner(cam, track, readout_s=0.0).frame_warp(np.eye(3), 1.0, 0.5)


def _reference_full_map(warp: FrameWarp) -> np.ndarray:
    """Align-corners bilinear upsampling in float64 (independent of both backends)."""
    c = np.asarray(warp.coarse_map_px, dtype=np.float64)
    gh, gw = c.shape[:2]
    sx = np.arange(warp.out_width_px) * ((gw - 1) / max(warp.out_width_px - 1, 1))
    sy = np.arange(warp.out_height_px) * ((gh - 1) / max(warp.out_height_px - 1, 1))
    rows = np.stack([[np.interp(sx, np.arange(gw), c[j, :, k]) for k in range(2)] for j in range(gh)])  # (gh,2,W)
    full = np.stack([[np.interp(sy, np.arange(gh), rows[:, k, i]) for i in range(warp.out_width_px)]
                     for k in range(2)])  # (2, W, H)
    return full.transpose(2, 1, 0)


# ---------------------------------------------------------------------------- OpenCV alone
def test_opencv_full_map_is_exact_align_corners_bilinear():
    warp = _real_warp("fisheye")
    assert np.isfinite(warp.coarse_map_px).all()
    full = OpenCVBackend().full_map(warp)
    assert full.shape == (H, W, 2) and full.dtype == np.float32
    assert np.abs(full - _reference_full_map(warp)).max() < 0.01
    # grid nodes are hit exactly
    gh, gw = warp.coarse_map_px.shape[:2]
    assert np.allclose(full[0, 0], warp.coarse_map_px[0, 0], atol=1e-3)
    assert np.allclose(full[-1, -1], warp.coarse_map_px[gh - 1, gw - 1], atol=1e-3)


def test_opencv_threads_do_not_change_the_result(texture):
    warp = _real_warp("pinhole", 640, 360)
    frame = cv2.resize(texture, (640, 360))
    a = OpenCVBackend(threads=1).warp(frame, warp)
    b = OpenCVBackend(threads=3).warp(frame, warp)
    assert np.array_equal(a, b)


def test_opencv_grey_frame_and_output_size(texture):
    grey = cv2.cvtColor(texture, cv2.COLOR_BGR2GRAY)
    planner = WarpPlanner(_camera("pinhole"), _track(), readout_s=0.02, out_width_px=200, out_height_px=150)
    warp = planner.frame_warp(np.eye(3), 1.2, 0.3)
    out = OpenCVBackend().warp(grey, warp)
    assert out.shape == (150, 200) and out.dtype == np.uint8


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_opencv_identity_reproduces_frame(texture, interpolation):
    out = OpenCVBackend(interpolation).warp(texture, _identity_warp())
    d = np.abs(out.astype(int) - texture.astype(int))[2:-2, 2:-2]
    assert d.max() <= 1


def test_opencv_black_outside_and_nan_nodes():
    white = np.full((H, W, 3), 255, np.uint8)
    warp = _identity_warp()
    coarse = warp.coarse_map_px.copy()
    coarse[..., 0] -= 100.0  # output x < 100 reads source x < 0
    coarse[-3:, -3:] = np.nan  # lens cannot see these rays
    shifted = FrameWarp(coarse, W, H, W, H)
    out = OpenCVBackend().warp(white, shifted)
    assert (out[:, :98] == 0).all()
    assert (out[: H // 2, 102:] == 255).all()
    assert (out[-1, -1] == 0).all()


# ---------------------------------------------------------------------------- 4:2:0 planes
def _i420(img_bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img_bgr, cv2.COLOR_BGR2YUV_I420)


def test_opencv_yuv420_translation_samples_each_plane_at_its_own_sites():
    """Ramps in Y, U and V under a known shift: luma moves by (dx, dy) luma pixels, chroma
    (left-sited, rows between luma rows) by (dx / 2, dy / 2) chroma pixels, exactly."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    cy, cx = np.mgrid[0:H // 2, 0:W // 2].astype(np.float64)
    Y, U, V = 20 + 0.4 * xx + 0.3 * yy, 40 + 0.9 * cx + 0.2 * cy, 200 - 0.4 * cx - 0.7 * cy
    yuv = np.concatenate([np.round(Y), np.round(U).reshape(-1, W), np.round(V).reshape(-1, W)]).astype(np.uint8)
    dx, dy = 6.5, -3.25
    base = _identity_warp().coarse_map_px
    warp = FrameWarp(base + np.float32([dx, dy]), W, H, W, H)
    out = OpenCVBackend().warp_yuv420(yuv, warp).astype(np.float64)
    oy = out[:H]
    n = (H // 2) * (W // 2)
    ou = out.reshape(-1)[H * W:H * W + n].reshape(H // 2, W // 2)
    ov = out.reshape(-1)[H * W + n:].reshape(H // 2, W // 2)
    m = (slice(8, -8), slice(8, -8))
    assert np.abs(oy - (20 + 0.4 * (xx + dx) + 0.3 * (yy + dy)))[m].max() <= 1.0
    assert np.abs(ou - (40 + 0.9 * (cx + dx / 2) + 0.2 * (cy + dy / 2)))[m].max() <= 1.0
    assert np.abs(ov - (200 - 0.4 * (cx + dx / 2) - 0.7 * (cy + dy / 2)))[m].max() <= 1.0
    # half a chroma pixel off (centre-sited or row-sited chroma) would be seen
    assert np.abs(ou - (40 + 0.9 * (cx + dx / 2 + 0.5) + 0.2 * (cy + dy / 2)))[m].mean() > 0.4


@pytest.mark.parametrize("lens", ["pinhole", "fisheye"])
def test_opencv_yuv420_agrees_with_the_bgr_path(texture, lens):
    """The planes warped directly against BGR -> warp -> I420, which differ by the colour
    conversion's rounding and by how chroma is resampled (OpenCV's route repeats each chroma
    sample over its 2 x 2 luma block and averages it back). Chroma half a chroma pixel off
    measures about 5 levels here, one pixel off about 7."""
    warp = _real_warp(lens)
    yuv = _i420(texture)
    be = OpenCVBackend()
    direct = be.warp_yuv420(yuv, warp).astype(int)
    via_bgr = _i420(be.warp(cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420), warp)).astype(int)
    inside = np.isfinite(warp.coarse_map_px).all() and _i420(be.warp(np.full_like(texture, 255), warp))[:H].min() > 200
    assert inside  # the test warp sees only the source: no border in either
    d = np.abs(direct - via_bgr)
    assert d[:H].mean() < 1.0 and np.percentile(d[:H], 99) <= 6
    assert d[H:].mean() < 3.0 and np.percentile(d[H:], 99) <= 20  # sharp colour edges


def test_opencv_yuv420_odd_chroma_rows():
    """480x270: each chroma plane has an odd number of rows (135), so V starts mid-row of the
    stacked (405, 480) array."""
    rng = np.random.default_rng(3)
    bgr = cv2.GaussianBlur(rng.integers(0, 256, (270, 480, 3), dtype=np.uint8), (0, 0), 2.0)
    yuv = _i420(bgr)
    cam = CameraModel.from_fov(480, 270, 70.0)
    track = OrientationTrack(np.array([0.0, 1.0]), np.array([[1.0, 0, 0, 0], [1.0, 0, 0, 0]]))
    out = OpenCVBackend().warp_yuv420(yuv, WarpPlanner(cam, track).frame_warp(np.eye(3), 1.0, 0.5))
    assert out.shape == yuv.shape
    assert np.abs(out.astype(int) - yuv.astype(int))[270:].max() <= 1  # U and V each in place


def test_opencv_yuv420_in_place_on_padded_frame_planes(texture):
    """What the render does: read a decoded frame's planes and write a new encoder frame's
    planes in place, rows padded (170 px wide: 176-byte luma rows, 96-byte chroma rows):
    the same pixels as the stacked-array warp, and the padding left alone."""
    import av

    from fusedstab.io.video import yuv420_planes

    w, h = 170, 96
    yuv = _i420(cv2.resize(texture, (w, h)))
    src = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
    assert src.planes[0].line_size > w  # the case under test
    cam = CameraModel.from_fov(w, h, 70.0)
    warp = WarpPlanner(cam, _track(), readout_s=0.02).frame_warp(
        Rotation.from_rotvec([0.01, -0.02, 0.015]).as_matrix(), 1.1, 0.3)
    be = OpenCVBackend()
    out = av.VideoFrame(w, h, "yuv420p")
    for p in out.planes:  # mark the padding
        np.frombuffer(p, np.uint8)[:] = 7
    be.warp_yuv420_planes(yuv420_planes(src), yuv420_planes(out), warp)
    assert np.array_equal(out.to_ndarray(), be.warp_yuv420(yuv, warp))
    rows = np.frombuffer(out.planes[0], np.uint8).reshape(h, -1)
    assert (rows[:, w:] == 7).all()


def test_opencv_yuv420_identity_threads_and_borders(texture):
    yuv = _i420(texture)
    out = OpenCVBackend(threads=1).warp_yuv420(yuv, _identity_warp())
    d = np.abs(out.astype(int) - yuv.astype(int))
    assert d[2:H - 2, 2:-2].max() <= 1 and d[H:].max() <= 1
    assert np.array_equal(out, OpenCVBackend(threads=3).warp_yuv420(yuv, _identity_warp()))
    white = np.full_like(yuv, 235)
    shifted = FrameWarp(_identity_warp().coarse_map_px - np.float32([100.0, 0.0]), W, H, W, H)
    for full, black in ((False, 16), (True, 0)):
        o = OpenCVBackend().warp_yuv420(white, shifted, full_range=full)
        assert (o[:H, :98] == black).all() and (o[:H, 102:] == 235).all()
        u = o.reshape(-1)[H * W:H * W + (H // 2) * (W // 2)].reshape(H // 2, W // 2)
        assert (u[:, :48] == 128).all() and (u[:, 52:] == 235).all()
    with pytest.raises(ValueError, match="even output size"):
        OpenCVBackend().warp_yuv420(yuv, FrameWarp(_identity_warp().coarse_map_px, W - 1, H, W, H))


def test_unknown_backend_and_interpolation():
    with pytest.raises(ValueError):
        get_backend("vulkan")
    with pytest.raises(ValueError):
        OpenCVBackend("lanczos")


# ---------------------------------------------------------------------------- torch vs OpenCV
@pytest.mark.parametrize("lens", ["pinhole", "fisheye"])
@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_torch_matches_opencv(texture, device, interpolation, lens):
    warp = _real_warp(lens)
    ocv = get_backend("opencv", interpolation=interpolation)
    tch = get_backend("torch", device=device, interpolation=interpolation)
    a = ocv.warp(texture, warp).astype(np.int16)
    b = tch.warp(texture, warp)
    assert b.shape == a.shape and b.dtype == np.uint8
    d = np.abs(a - b.astype(np.int16))
    assert d.mean() <= 1.0, d.mean()
    assert np.percentile(d, 99) <= 3, np.percentile(d, 99)
    if device == "cpu":  # OpenCV samples the float map exactly (no 1/32 px table): the same to rounding
        assert d.max() <= 1 and d.mean() <= 0.01, (d.max(), d.mean())
    # the warp moved the picture (so the agreement is not trivial) and left some black
    assert np.abs(a - texture.astype(np.int16)).mean() > 5.0


@pytest.mark.parametrize("lens", ["pinhole", "fisheye"])
@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_torch_yuv420_matches_opencv(texture, device, interpolation, lens):
    """The planar warp on the torch backend (what the GPU render uploads: half a BGR frame's
    bytes) against OpenCV's, plane by plane, and its black outside the picture."""
    warp = _real_warp(lens)
    yuv = _i420(texture)
    a = get_backend("opencv", interpolation=interpolation).warp_yuv420(yuv, warp).astype(np.int16)
    tch = get_backend("torch", device=device, interpolation=interpolation)
    b = tch.warp_yuv420(yuv, warp)
    assert b.shape == a.shape and b.dtype == np.uint8
    d = np.abs(a - b.astype(np.int16))
    for plane in (d[:H], d[H:]):
        assert plane.mean() <= 1.0 and np.percentile(plane, 99) <= 3
        if device == "cpu":  # as above: the same to rounding
            assert plane.max() <= 1 and plane.mean() <= 0.01, (plane.max(), plane.mean())
    assert np.abs(a - yuv.astype(np.int16))[:H].mean() > 5.0  # the picture moved
    white = np.full_like(yuv, 235)
    shifted = FrameWarp(_identity_warp().coarse_map_px - np.float32([100.0, 0.0]), W, H, W, H)
    for full, black in ((False, 16), (True, 0)):
        o = tch.warp_yuv420(white, shifted, full_range=full)
        assert (o[:H, :98] == black).all() and (o[:H, 102:] == 235).all()
        u = o.reshape(-1)[H * W:H * W + (H // 2) * (W // 2)].reshape(H // 2, W // 2)
        assert (u[:, :48] == 128).all() and (u[:, 52:] == 235).all()


@pytest.mark.parametrize("lens", ["pinhole", "fisheye"])
def test_full_maps_agree(device, lens):
    warp = _real_warp(lens)
    a = OpenCVBackend().full_map(warp)
    b = get_backend("torch", device=device).full_map(warp)
    assert a.shape == b.shape == (H, W, 2) and b.dtype == np.float32
    assert np.abs(a - b).max() < 0.01
    assert np.abs(b - _reference_full_map(warp)).max() < 0.01


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_torch_identity_reproduces_frame(texture, device, interpolation):
    out = get_backend("torch", device=device, interpolation=interpolation).warp(texture, _identity_warp())
    d = np.abs(out.astype(int) - texture.astype(int))[2:-2, 2:-2]
    assert d.max() <= 1


def test_torch_black_outside_and_nan_nodes(device):
    white = np.full((H, W, 3), 255, np.uint8)
    coarse = _identity_warp().coarse_map_px.copy()
    coarse[..., 0] -= 100.0
    coarse[-3:, -3:] = np.nan
    warp = FrameWarp(coarse, W, H, W, H)
    out = get_backend("torch", device=device).warp(white, warp)
    assert (out[:, :98] == 0).all()
    assert (out[: H // 2, 102:] == 255).all()
    assert (out[-1, -1] == 0).all()
    ref = OpenCVBackend().warp(white, warp)
    assert np.abs(out.astype(int) - ref.astype(int)).mean() <= 1.0


def test_torch_warp_tensor_stays_on_device(texture, device):
    torch = _torch()
    backend = get_backend("torch", device=device)
    warp = _real_warp("pinhole")
    x = torch.from_numpy(texture).to(device)
    y = backend.warp_tensor(x, warp)
    assert y.device.type == device and y.dtype == torch.uint8 and tuple(y.shape) == (H, W, 3)
    assert np.array_equal(y.cpu().numpy(), backend.warp(texture, warp))
    grey = backend.warp_tensor(x[..., 1], warp)
    assert tuple(grey.shape) == (H, W)


def test_torch_auto_device_and_bad_device():
    torch = _torch()
    backend = get_backend("torch", device="auto")
    assert backend.name == "torch"
    assert backend.device.startswith("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError):
        get_backend("torch", device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DependencyError, match="CUDA"):
            get_backend("torch", device="cuda")


def test_torch_missing_gives_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes ``import torch`` raise ImportError
    monkeypatch.delitem(sys.modules, "fusedstab.synthesis.torch_backend", raising=False)
    with pytest.raises(DependencyError) as info:
        get_backend("torch", device="cpu")
    assert info.value.message == "the torch backend needs PyTorch"
    assert "fusedstab[gpu]" in info.value.hint and "pip install torch" in info.value.hint
