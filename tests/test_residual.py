"""The hybrid residual (issue 8): the virtual camera also steadies the image motion the gyro does not see."""

from __future__ import annotations

import numpy as np
import pytest

from fusedstab.analysis.video_motion import VideoMotion
from fusedstab.filtering.gaussian import gaussian_smooth_orientations
from fusedstab.filtering.residual import apply_residual, residual_path
from fusedstab.rotation import exp_so3, log_so3

FPS = 30.0


def _hf_rms(x: np.ndarray, t: np.ndarray) -> float:
    from scipy.ndimage import gaussian_filter1d

    hf = x - gaussian_filter1d(x, sigma=0.5 / (t[1] - t[0]), axis=0, mode="nearest")
    return float(np.sqrt(np.mean(np.sum(hf ** 2, axis=1))))


def _clip(n: int = 150, vib_rad: float = 0.002, seed: int = 0):
    """A slow pan seen by the gyro, plus an 7 Hz vibration only the video sees (a translation
    shaking the picture, as an apparent rotation about x and y)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FPS
    pan = np.stack([0.02 * np.sin(0.7 * t), 0.3 * t, np.zeros(n)], -1)  # rad
    R = exp_so3(pan)
    vib = vib_rad * np.stack([np.sin(2 * np.pi * 7 * t), np.cos(2 * np.pi * 7 * t + 0.4), np.zeros(n)], -1)
    A = R @ exp_so3(vib)  # the apparent camera that made the picture
    step = log_so3(np.swapaxes(A[:-1], 1, 2) @ A[1:])
    omega = step * FPS + rng.normal(0, 1e-4, step.shape)  # the video's tracking noise [rad/s]
    m = n - 1
    vm = VideoMotion(frame_a=np.arange(m), t_a=t[:-1], t_b=t[1:], omega_rad_s=omega, confidence=np.ones(m),
                     residual_px=np.zeros(m), shift_px=np.zeros((m, 2)), inliers=np.full(m, 100),
                     points=np.full(m, 100), readout_s=0.0, focal_px=1000.0)
    return t, R, A, vib, vm


def test_residual_path_recovers_what_the_gyro_misses():
    t, R, _, vib, vm = _clip()
    phi = residual_path(vm, R, t)
    assert phi.shape == (len(t), 3) and np.all(phi[0] == 0)
    # the path equals the vibration up to its starting value (and the tracking noise)
    err = (phi - phi[0]) - (vib - vib[0])
    assert np.sqrt(np.mean(err ** 2)) < 0.1 * np.sqrt(np.mean(vib ** 2))


def test_virtual_camera_turned_against_the_residual_steadies_the_picture():
    t, R, A, _, vm = _clip()
    V = gaussian_smooth_orientations(R, t, 1.0)
    # output ray u samples the source along R^T V u, and the source pixel there shows the scene along
    # A R^T V u (the apparent camera made the picture): the output moves with A R^T V, written in
    # the real camera's axes (small angles: phi - log(V^T R))
    Rt = np.swapaxes(R, 1, 2)

    def shown(Vs):
        return log_so3(Rt @ A @ Rt @ Vs)
    before = _hf_rms(shown(V), t)
    V2, hf = apply_residual(V, residual_path(vm, R, t), t)
    after = _hf_rms(shown(V2), t)
    assert before > 1e-3  # the vibration is there without the residual (about 0.002 rad)
    assert after < 0.15 * before, (before, after)
    # the wrong sign would double it: the test can fail
    V_wrong = V @ exp_so3(hf)
    assert _hf_rms(shown(V_wrong), t) > 1.5 * before


def test_untrusted_pairs_add_nothing_and_steps_are_bounded():
    t, R, _, _, vm = _clip()
    vm.confidence[:] = 0.0
    assert np.all(residual_path(vm, R, t) == 0.0)
    t, R, _, _, vm = _clip()
    vm.omega_rad_s[40] = [30.0, 0.0, 0.0]  # a cut or a tracking failure: 1 rad in one frame
    phi = residual_path(vm, R, t, max_step_rad=0.01)
    assert np.max(np.linalg.norm(np.diff(phi, axis=0), axis=1)) <= 0.01 + 1e-12
    vm.omega_rad_s[41] = np.nan
    assert np.all(np.isfinite(residual_path(vm, R, t)))


def test_pipeline_option_on_off_and_checked(tmp_path):
    from conftest import assert_maps_inside

    from fusedstab.errors import FusedStabError
    from fusedstab.measure.simulate import SimConfig, simulate
    from fusedstab.pipeline import StabilizeOptions, plan_stabilization

    prefix = tmp_path / "walk"
    simulate(prefix, SimConfig(scenario="walk", width_px=320, height_px=180, duration_s=2.0, seed=2))
    common = dict(gyro=prefix.with_suffix(".gcsv"), lens=prefix.with_suffix(".lens.json"), gyro_offset_ms=0.0,
                  auto_sync=False, smoothness_s=1.0, fov_keep=0.9)
    on = plan_stabilization(prefix.with_suffix(".mp4"), StabilizeOptions(residual="on", **common))
    off = plan_stabilization(prefix.with_suffix(".mp4"), StabilizeOptions(residual="off", **common))
    assert on.residual and not off.residual
    assert not np.allclose(on.R_virt, off.R_virt)
    # a pure-rotation clip with an exact gyro: the residual is tracking noise, a small turn
    ang = np.degrees(np.linalg.norm(log_so3(np.swapaxes(on.R_virt, 1, 2) @ off.R_virt), axis=1))
    assert np.median(ang) < 0.05
    assert_maps_inside(on)  # the crop still keeps every pixel defined
    with pytest.raises(FusedStabError, match="residual"):
        plan_stabilization(prefix.with_suffix(".mp4"), StabilizeOptions(residual="maybe", **common))


def test_residual_on_without_tracks_says_so(tmp_path):
    """``--residual on`` with ``--motion gyro`` (no tracked video): not used, and a warning says why."""
    from fusedstab.measure.simulate import SimConfig, simulate
    from fusedstab.pipeline import StabilizeOptions, plan_stabilization

    prefix = tmp_path / "still"
    simulate(prefix, SimConfig(scenario="still", width_px=160, height_px=90, duration_s=1.0, seed=1))
    plan = plan_stabilization(prefix.with_suffix(".mp4"), StabilizeOptions(
        gyro=prefix.with_suffix(".gcsv"), lens=prefix.with_suffix(".lens.json"), gyro_offset_ms=0.0, auto_sync=False,
        motion="gyro", residual="on"))
    assert not plan.residual
    assert any("--residual on needs the tracked video" in w for w in plan.warnings)
