"""Motion-blur masking: gyro-predicted blur, blend weights, and the pipeline stage."""

from __future__ import annotations

import numpy as np
import pytest

from fusedstab.camera import CameraModel
from fusedstab.filtering.blur_mask import blur_weights, frame_blur_px, load_params
from fusedstab.pipeline import StabilizeOptions, plan_stabilization
from fusedstab.rotation import from_scipy, log_so3
from fusedstab.measure.simulate import SimConfig, load_truth, simulate
from fusedstab.synthesis.plan import WarpPlanner
from fusedstab.types import OrientationTrack
from scipy.spatial.transform import Rotation

from conftest import assert_maps_inside


def test_blur_of_a_constant_yaw_matches_f_omega_exposure():
    cam = CameraModel.from_fov(1920, 1080, 70.0)
    t = np.linspace(-1, 3, 4001)
    w = np.radians(60.0)  # 60 deg/s about the camera's y (down) axis
    track = OrientationTrack(t, from_scipy(Rotation.from_rotvec(np.outer(w * t, [0, 1, 0]))))
    planner = WarpPlanner(cam, track, readout_s=0.02)
    e = 1 / 60
    b = frame_blur_px(planner, np.array([0.5, 1.0]), e)
    # on the centre row a point at angle theta moves by f (tan(theta + w e) - tan(theta)); the
    # worst of the 3 x 3 grid (10 % .. 90 % of the width) is the one moving outward at the edge
    theta = np.arctan((0.9 * (cam.width_px - 1) - cam.cx_px) / cam.fx_px)
    row = cam.fx_px * (np.tan(theta + w * e) - np.tan(theta))
    assert np.all(b >= row * 0.999) and np.all(b <= 1.05 * row), (b, row)
    assert np.all(frame_blur_px(planner, np.array([0.5]), 0.0) == 0)


def test_blur_weights_ramp_and_cap():
    kw = dict(beta_max=0.5, start_px=1.0, ramp_px=7.0, smooth_frames=0)
    beta = blur_weights(np.array([0, 0.5, 1, 4, 8, 20, 20, 20, 20]), 1920, **kw)
    assert beta[0] == 0 and beta.max() <= 0.5 + 1e-12
    assert blur_weights(np.full(9, 20.0), 1920, **kw).min() == pytest.approx(0.5)
    assert blur_weights(np.full(9, 0.9), 1920, **kw).max() == 0.0
    # thresholds scale with the frame width: 4 px at 640 wide is 12 px at 1920
    assert blur_weights(np.full(9, 4.0), 640, **kw)[0] == pytest.approx(blur_weights(np.full(9, 12.0), 1920, **kw)[0])
    # the fitted defaults (blur_mask_params.json) stay within [0, beta_max]
    prm = load_params()
    b = blur_weights(np.linspace(0, 60, 30), 1920)
    assert b.min() >= 0 and b.max() <= prm["beta_max"] + 1e-12


def test_pipeline_moves_toward_real_camera_on_blurred_frames(tmp_path):
    prefix = tmp_path / "blur"
    simulate(prefix, SimConfig(scenario="run", width_px=320, height_px=180, duration_s=2.0, motion_blur=True,
                               exposure_s=1 / 60, seed=12))
    truth = load_truth(f"{prefix}.truth.npz")
    base = dict(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json", gyro_offset_ms=truth.gyro_offset_s * 1000.0,
                intent=False, fov_keep=0.4, max_zoom=3.0,  # a crop that never binds: masking alone
                smoothness_s=0.5, auto_sync=False, motion="gyro", force=True)  # the gyro path's filter itself
    masked = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(**base, exposure_ms=1000 / 60))
    plain = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(**base))
    assert plain.blur_beta.max() == 0.0  # no exposure known: no masking
    beta = masked.blur_beta
    assert beta.max() > 0.03 and beta.min() < beta.max()
    dist = lambda V, R: np.degrees(np.linalg.norm(log_so3(np.swapaxes(V, 1, 2) @ R), axis=-1))
    hi = beta > 0.5 * beta.max()
    d_masked, d_plain = dist(masked.R_virt, masked.R_real), dist(plain.R_virt, plain.R_real)
    assert np.mean(d_masked[hi]) < np.mean(d_plain[hi])  # closer to the real (blurred) motion there
    assert_maps_inside(masked)
