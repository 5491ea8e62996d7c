"""Non-square pixels: a file's sample aspect ratio (HDV 1440x1080 shown 1920 wide, DV, a
squeezed anamorphic clip) and a Gyroflow anamorphic lens profile's input stretch."""

import json
import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest
from conftest import small_sim
from scipy.spatial.transform import Rotation

from fusedstab.camera import CameraModel
from fusedstab.io.lens import load_lens_profile, write_lens_profile
from fusedstab.io.video import probe_video
from fusedstab.measure.metrics import evaluate
from fusedstab.pipeline import StabilizeOptions, stabilize
from fusedstab.synthesis.plan import WarpPlanner
from fusedstab.types import OrientationTrack

FFMPEG = shutil.which("ffmpeg")


def test_wide_pixels_turn_with_their_own_focal_lengths():
    """A pinhole with pixels 4/3 as wide as tall: fy = 4/3 fx, and the output keeps that
    aspect: at zoom 1 on the real camera the warp is the identity, a pitch moves the centre
    by fy * angle and a yaw by fx * angle."""
    cam = CameraModel.from_fov(480, 360, 70.0, pixel_aspect=4 / 3)
    assert cam.fx_px == pytest.approx(240 / np.tan(np.radians(35)))
    assert cam.fy_px == pytest.approx(cam.fx_px * 4 / 3)
    planner = WarpPlanner(cam, OrientationTrack(np.array([0.0, 1.0]), np.tile([1.0, 0, 0, 0], (2, 1))))
    still = planner.frame_warp(np.eye(3), 1.0, 0.5).coarse_map_px
    assert np.abs(still - planner.grid_px).max() < 1e-3
    gh, gw = still.shape[:2]
    angle = 0.01
    for axis, moved, focal in (("x", 1, cam.fy_px), ("y", 0, cam.fx_px)):
        warp = planner.frame_warp(Rotation.from_euler(axis, angle).as_matrix(), 1.0, 0.5).coarse_map_px
        shift = warp[gh // 2, gw // 2] - still[gh // 2, gw // 2]
        assert abs(shift[moved]) == pytest.approx(focal * angle, rel=2e-3)
        assert abs(shift[1 - moved]) < 0.1
    with pytest.raises(ValueError, match="pixel aspect"):
        CameraModel.from_fov(480, 360, 70.0, pixel_aspect=0.0)


def test_anamorphic_lens_profile_is_read_as_gyroflow_writes_it(tmp_path):
    """Gyroflow's anamorphic profiles are calibrated on frames stretched to square pixels:
    a 3840x2160 video squeezed to 2880 across has ``input_horizontal_stretch`` 0.75, and its
    camera matrix's top row and calibration width are divided by it."""
    profile = {
        "name": "anamorphic test", "calib_dimension": {"w": 2880, "h": 2160},
        "input_horizontal_stretch": 0.75, "input_vertical_stretch": 1.0,
        "distortion_model": "opencv_fisheye",
        "fisheye_params": {"camera_matrix": [[1500.0, 0, 1439.5], [0, 1500.0, 1079.5], [0, 0, 1]],
                           "distortion_coeffs": [0.02, 0.01, 0.0, 0.0]},
    }
    path = tmp_path / "ana.json"
    path.write_text(json.dumps(profile))
    cam = load_lens_profile(path, 3840, 2160)
    assert (cam.width_px, cam.height_px) == (3840, 2160)
    assert cam.fx_px == pytest.approx(2000.0) and cam.fy_px == pytest.approx(1500.0)
    assert cam.cx_px == pytest.approx(1919.5) and cam.cy_px == pytest.approx(1079.5)
    assert cam.pixel_aspect == pytest.approx(0.75)
    # at half size too, and a camera with non-square pixels writes and reads back the same
    half = load_lens_profile(path, 1920, 1080)
    assert half.fx_px == pytest.approx(1000.0) and half.pixel_aspect == pytest.approx(0.75)
    wide = CameraModel.from_fov(1440, 1080, 70.0, pixel_aspect=4 / 3)
    back = load_lens_profile(write_lens_profile(tmp_path / "hdv.json", wide), 1440, 1080)
    for k in ("fx_px", "fy_px", "cx_px", "cy_px", "pixel_aspect"):
        assert getattr(back, k) == pytest.approx(getattr(wide, k), rel=1e-9), k
    # a profile without a stretch, or a meaningless one, is square
    del profile["input_horizontal_stretch"]
    profile["input_vertical_stretch"] = 0
    path.write_text(json.dumps(profile))
    assert load_lens_profile(path, 2880, 2160).pixel_aspect == 1.0


@pytest.fixture(scope="module")
def squeezed(tmp_path_factory):
    """A simulated walk (320x180, 70 deg) squeezed to 240x180 with its sample aspect ratio
    4:3 stated, as an HDV or anamorphic camera writes it, and the same pixels unstated."""
    if FFMPEG is None:
        pytest.skip("ffmpeg not found: it makes the squeezed copies")
    prefix = small_sim(tmp_path_factory, "sq", scenario="walk", duration_s=2.0)
    out = {"prefix": prefix}
    for name, sar in (("stated", "4/3"), ("unstated", "1")):
        path = prefix.with_name(f"{name}.mp4")
        subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(prefix.with_suffix(".mp4")), "-vf",
                        f"scale=240:180,setsar={sar}", "-c:v", "libx264", "-crf", "12", str(path)], check=True)
        out[name] = path
    return out


@pytest.mark.slow
def test_a_squeezed_clip_is_stabilized_in_the_scene_and_stays_squeezed(squeezed, tmp_path):
    """With the file's 4:3 pixels the squeezed walk is stabilized as the scene turned: the
    output, stretched back to 320x180, is steady against the simulator's truth; the output
    keeps the squeeze and its 4:3 tag. Read as square pixels (the tag ignored, as before),
    the pitch is corrected with the width's focal length and about 4x the jitter is left (by
    the truth)."""
    prefix = squeezed["prefix"]
    assert probe_video(squeezed["stated"]).sample_aspect == Fraction(4, 3)
    assert probe_video(squeezed["unstated"]).sample_aspect == 1
    opts = StabilizeOptions(gyro=prefix.with_suffix(".gcsv"), fov_deg=70.0, fov_keep=0.8, smoothness_s=2.0,
                            preset="ultrafast", crf=12)
    reports = {}
    for name in ("stated", "unstated"):
        out = tmp_path / f"{name}.mp4"
        reports[name] = stabilize(squeezed[name], out, opts)
        info = probe_video(out)
        assert (info.width_px, info.height_px, info.sample_aspect) == (240, 180, probe_video(squeezed[name]).sample_aspect)
    # Judged by the truth, both outputs stretched back to 320x180. (The predicted ratios,
    # about 0.01 and 0.02 here, sit at the tracker's noise floor, which moves with the
    # encoder build: they are not compared.)
    truth = {}
    for name in ("stated", "unstated"):
        wide = tmp_path / f"{name}_stretched.mp4"
        subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(tmp_path / f"{name}.mp4"), "-vf",
                        "scale=320:180,setsar=1", "-c:v", "libx264", "-crf", "12", str(wide)], check=True)
        truth[name] = evaluate(prefix.with_suffix(".mp4"), wide, prefix.with_suffix(".truth.npz"))
    m = truth["stated"]
    # 0.017 of the input's truth jitter; 0.068 with the tag ignored (the same clip and settings)
    assert m["truth_output_jitter_deg"] < 0.04 * m["truth_input_jitter_deg"], m
    assert m["truth_output_jitter_deg"] < 0.5 * truth["unstated"]["truth_output_jitter_deg"], truth
    # both steadied, by the plan's own prediction too
    assert max(reports[k].predicted_jitter["ratio"] for k in truth) < 0.1, [reports[k].predicted_jitter for k in truth]
