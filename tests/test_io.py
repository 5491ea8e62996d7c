import json
import os
from fractions import Fraction

import numpy as np
import pytest

from fusedstab.errors import LensError, OutputError, TelemetryError
from fusedstab.io.lens import load_lens_profile, write_lens_profile
from fusedstab.io.telemetry import GYROFLOW_TO_CAMERA, read_imu
from fusedstab.io.video import VideoInfo, VideoWriter, check_output_path, iter_frames, probe_video
from fusedstab.camera import CameraModel

GCSV_HEAD = "GYROFLOW IMU LOG\nversion,1.3\nid,test\norientation,XYZ\ntscale,0.001\ngscale,1.0\nascale,1.0\nt,gx,gy,gz,ax,ay,az\n"


def _gcsv(tmp_path, rows, name="log.gcsv"):
    p = tmp_path / name
    p.write_text(GCSV_HEAD + "".join(",".join(str(v) for v in r) + "\n" for r in rows))
    return p


def test_gyroflow_to_camera_is_a_proper_rotation():
    assert np.isclose(np.linalg.det(GYROFLOW_TO_CAMERA), 1.0)
    # Gyroflow x up -> camera -y (y down); y left -> camera -x; z back -> camera -z
    assert np.allclose(GYROFLOW_TO_CAMERA @ [1, 0, 0], [0, -1, 0])
    assert np.allclose(GYROFLOW_TO_CAMERA @ [0, 1, 0], [-1, 0, 0])
    assert np.allclose(GYROFLOW_TO_CAMERA @ [0, 0, 1], [0, 0, -1])


def test_gcsv_reads_in_camera_frame(tmp_path):
    rows = [(i * 5, 0.1, 0.2, 0.3, 0, 0, 1) for i in range(50)]
    imu = read_imu(_gcsv(tmp_path, rows))
    assert imu.rate_hz == pytest.approx(200.0)
    assert np.allclose(imu.times_s[:3], [0.0, 0.005, 0.01])
    assert np.allclose(imu.gyro_rad_s[0], [-0.2, -0.1, -0.3])


@pytest.mark.parametrize(
    "rows, needle",
    [
        ([], "no gyro samples"),
        ([(i * 5, 0.1, 0.2, 0.3, 0, 0, 1) for i in range(5)], "only 5 gyro samples"),
        ([(i * 5, "nan" if i == 7 else 0.1, 0.2, 0.3, 0, 0, 1) for i in range(50)], "NaN"),
        ([((i if i != 20 else 3) * 5, 0.1, 0.2, 0.3, 0, 0, 1) for i in range(50)], "backwards"),
        ([(i * 5, 500.0, 0.2, 0.3, 0, 0, 1) for i in range(50)], "units"),
    ],
    ids=["empty", "too-short", "nan", "non-monotonic", "wrong-units"],
)
def test_bad_gyro_logs_raise_clear_errors(tmp_path, rows, needle):
    with pytest.raises(TelemetryError) as exc:
        read_imu(_gcsv(tmp_path, rows))
    assert needle in str(exc.value)
    assert exc.value.hint


def test_gopro_imu_matches_reference(shared_data):
    imu = read_imu(shared_data / "gopro_hero5_karma.mp4")
    ref = np.loadtxt(shared_data / "gopro_hero5_karma.imu_ref.csv", delimiter=",", skiprows=2)
    assert len(imu.times_s) == len(ref)
    assert np.allclose(imu.times_s * 1000.0, ref[:, 0], atol=1e-3)
    expected = np.radians(ref[:, 1:4]) @ GYROFLOW_TO_CAMERA.T
    assert np.allclose(imu.gyro_rad_s, expected, atol=1e-5)
    assert imu.rate_hz == pytest.approx(397.5, rel=0.01)
    assert imu.meta["in_camera_stabilization"] is False


def test_gopro_max_metadata(shared_data):
    imu = read_imu(shared_data / "gopro_max_heromode.mp4")
    assert imu.meta["readout_s"] == pytest.approx(0.0206, abs=1e-4)
    assert imu.meta["in_camera_stabilization"] is True


def test_file_without_gyro(shared_data):
    with pytest.raises(TelemetryError) as exc:
        read_imu(shared_data / "insta360_oner_sample_1s.insv")
    assert "--gyro" in exc.value.hint


def test_probe_matches_reference_pts(shared_data):
    info = probe_video(shared_data / "gopro_hero5_karma.mp4")
    ref = np.loadtxt(shared_data / "gopro_hero5_karma.frames_ref.csv", delimiter=",", skiprows=1)
    assert info.frame_count == len(ref) == 362
    assert np.array_equal(info.pts, ref[:, 1].astype(np.int64))
    assert info.has_audio and info.width_px == 854 and info.height_px == 480


# ------------------------------------------------------------------ lens profiles
def test_lens_profile_scales_to_video(lens_profiles):
    profile = lens_profiles / "GoPro_HERO5 Black_Wide_NO-EIS_16by9.json"
    cam = load_lens_profile(profile, 1920, 1080, 29.97)
    assert cam.model == "opencv_fisheye"
    assert cam.fx_px == pytest.approx(1755.15 / 2, rel=1e-4)
    assert cam.readout_s == pytest.approx(0.03336667)  # compatible_settings: 1920x1080 @ 29.97
    assert load_lens_profile(profile, 1920, 1080, 59.94).readout_s == pytest.approx(0.01668333)
    assert load_lens_profile(profile, 1920, 1080).readout_s is None  # several modes: unknown
    assert load_lens_profile(profile, 3840, 2160, 29.97).readout_s == pytest.approx(0.01668333)
    assert load_lens_profile(profile, 854, 480, 29.97).readout_s is None


def test_lens_profile_aspect_mismatch(lens_profiles):
    with pytest.raises(LensError, match="aspect"):
        load_lens_profile(lens_profiles / "GoPro_HERO5 Black_Wide_NO-EIS_16by9.json", 800, 600)


def test_lens_profile_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(LensError, match="JSON"):
        load_lens_profile(bad, 640, 360)
    cam = CameraModel.from_fov(640, 360, 70.0)
    p = write_lens_profile(tmp_path / "ok.json", cam)
    data = json.loads(p.read_text())
    model = data["distortion_model"]
    data["distortion_model"] = "poly5"
    p.write_text(json.dumps(data))
    with pytest.raises(LensError, match="poly5"):
        load_lens_profile(p, 640, 360)
    # a profile for GoPro's SuperView (a digital stretch after the optics) is not read as a plain lens
    data["distortion_model"] = model
    data["digital_lens"] = "gopro_superview"
    p.write_text(json.dumps(data))
    with pytest.raises(LensError, match="digital lens 'gopro_superview'"):
        load_lens_profile(p, 640, 360)
    data["digital_lens"] = None  # Gyroflow writes null for none: read as before
    p.write_text(json.dumps(data))
    assert load_lens_profile(p, 640, 360).fx_px == pytest.approx(cam.fx_px)


def test_lens_profile_round_trip(tmp_path):
    cam = CameraModel(640, 360, 400.0, 401.0, 320.5, 180.2, model="opencv_fisheye", coeffs=(0.05, 0.02, -0.01, 0.002), readout_s=0.02)
    back = load_lens_profile(write_lens_profile(tmp_path / "l.json", cam), 640, 360)
    assert back.model == cam.model and back.coeffs == cam.coeffs
    assert back.readout_s == pytest.approx(0.02)
    assert np.allclose(back.K, cam.K)
    pin = load_lens_profile(write_lens_profile(tmp_path / "p.json", CameraModel.from_fov(640, 360, 70.0)), 1280, 720)
    assert pin.model == "opencv_standard" and pin.hfov_deg() == pytest.approx(70.0, abs=0.2)


# ------------------------------------------------------------------ video out
def _info(tmp_path, n=12, w=64, h=48):
    tb = Fraction(1, 90000)
    pts = np.arange(n, dtype=np.int64) * 3003 + 1234
    return VideoInfo(tmp_path / "src.mp4", w, h, pts, tb, (pts - pts[0]) * float(tb), 29.97, "h264", "yuv420p", 0, False, None)


def test_writer_keeps_pts_and_is_atomic(tmp_path):
    info = _info(tmp_path)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, info, 64, 48) as w:
        for p in info.pts:
            w.write(np.full((48, 64, 3), 128, np.uint8), p)
    back = probe_video(out)
    assert np.array_equal(back.pts - back.pts[0], info.pts - info.pts[0])
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    frames = [f for _, f in iter_frames(out)]
    assert len(frames) == 12 and abs(float(frames[3].mean()) - 128) < 0.6


def test_writer_leaves_nothing_on_failure(tmp_path):
    info = _info(tmp_path)
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, info, 64, 48) as w:
            w.write(np.zeros((48, 64, 3), np.uint8), info.pts[0])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_output_path_checks(tmp_path):
    src = tmp_path / "a.mp4"
    src.write_bytes(b"x")
    with pytest.raises(OutputError, match="same file"):
        check_output_path(src, src)
    with pytest.raises(OutputError, match="does not exist"):
        check_output_path(tmp_path / "nope" / "o.mp4", src)
    assert check_output_path(tmp_path / "o.mp4", src) == tmp_path / "o.mp4"


def test_prefetch_keeps_order_and_raises():
    from fusedstab.io.video import prefetch

    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))

    def bad():
        yield 1
        raise ValueError("decoder broke")

    it = prefetch(bad())
    assert next(it) == 1
    with pytest.raises(ValueError, match="decoder broke"):
        next(it)
    # leaving early stops the producer
    gen = prefetch(iter(range(10**9)), depth=2)
    assert next(gen) == 0
    gen.close()


def test_writer_keeps_rotation_metadata(tmp_path):
    from dataclasses import replace

    info = replace(_info(tmp_path), rotation_deg=90)
    out = tmp_path / "rot.mp4"
    with VideoWriter(out, info, 64, 48) as w:
        for p in info.pts:
            w.write(np.zeros((48, 64, 3), np.uint8), p)
    assert probe_video(out).rotation_deg % 360 == 90
