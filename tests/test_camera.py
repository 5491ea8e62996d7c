import cv2
import numpy as np
import pytest

from fusedstab.camera import CameraModel


def _grid(cam, n=15, margin=5):
    u, v = np.meshgrid(np.linspace(margin, cam.width_px - 1 - margin, n), np.linspace(margin, cam.height_px - 1 - margin, n))
    return np.stack([u, v], -1).reshape(-1, 2)


@pytest.mark.parametrize(
    "cam",
    [
        CameraModel.from_fov(640, 360, 70.0),
        CameraModel(1920, 1080, 900.0, 905.0, 955.0, 545.0, model="opencv_fisheye", coeffs=(0.04, 0.036, -0.034, 0.012)),
        CameraModel(800, 600, 574.0, 575.0, 406.0, 309.0, model="opencv_standard", coeffs=(-0.12, 0.05, 0.001, -0.0005, 0.0)),
    ],
    ids=["pinhole", "fisheye", "standard"],
)
def test_unproject_project_round_trip(cam):
    px = _grid(cam)
    back = cam.project(cam.unproject(px))
    assert np.max(np.abs(back - px)) < 1e-6


def test_fisheye_matches_opencv():
    cam = CameraModel(1920, 1080, 900.0, 905.0, 955.0, 545.0, model="opencv_fisheye", coeffs=(0.04, 0.036, -0.034, 0.012))
    rng = np.random.default_rng(0)
    rays = np.column_stack([rng.uniform(-1, 1, 200), rng.uniform(-0.6, 0.6, 200), np.ones(200)])
    ours = cam.project(rays)
    ref, _ = cv2.fisheye.projectPoints(rays[:, None, :], np.zeros(3), np.zeros(3), cam.K, np.array(cam.coeffs))
    assert np.max(np.abs(ours - ref[:, 0, :])) < 1e-6


def test_standard_matches_opencv():
    cam = CameraModel(800, 600, 574.0, 575.0, 406.0, 309.0, model="opencv_standard", coeffs=(-0.12, 0.05, 0.001, -0.0005, 0.01))
    rng = np.random.default_rng(1)
    rays = np.column_stack([rng.uniform(-0.6, 0.6, 200), rng.uniform(-0.5, 0.5, 200), np.ones(200)])
    ours = cam.project(rays)
    ref, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), cam.K, np.array(cam.coeffs))
    assert np.max(np.abs(ours - ref[:, 0, :])) < 1e-6


def test_ois_and_focal_scale_move_the_projection():
    cam = CameraModel.from_fov(640, 360, 70.0)
    ray = np.array([[0.1, -0.05, 1.0]])
    base = cam.project(ray)[0]
    shifted = cam.project(ray, principal_offset_px=np.array([[3.0, -2.0]]), focal_scale=np.array([1.0]))[0]
    assert np.allclose(shifted - base, [3.0, -2.0])
    zoomed = cam.project(ray, focal_scale=np.array([1.02]))[0]
    assert np.allclose(zoomed - [cam.cx_px, cam.cy_px], 1.02 * (base - [cam.cx_px, cam.cy_px]))


def test_behind_camera_is_nan():
    cam = CameraModel.from_fov(640, 360, 70.0)
    assert np.all(np.isnan(cam.project(np.array([[0.0, 0.0, -1.0]]))))


def test_scaled_keeps_field_of_view():
    cam = CameraModel(3840, 2160, 1755.0, 1755.0, 1926.0, 1091.0, model="opencv_fisheye", coeffs=(0.04, 0.036, -0.034, 0.012))
    small = cam.scaled(854, 480)
    assert small.hfov_deg() == pytest.approx(cam.hfov_deg(), abs=0.3)
    assert CameraModel.from_fov(640, 360, 70.0).hfov_deg() == pytest.approx(70.0, abs=0.2)


def test_kabsch_recovers_a_rotation():
    from scipy.spatial.transform import Rotation

    from fusedstab.rotation import kabsch

    rng = np.random.default_rng(3)
    src = rng.normal(size=(50, 3))
    src /= np.linalg.norm(src, axis=1, keepdims=True)
    R = Rotation.from_rotvec([0.2, -0.1, 0.3]).as_matrix()
    assert np.allclose(kabsch(src, src @ R.T), R, atol=1e-12)
