"""Slow motion: a phone's 240 fps capture stored to play at 30 fps, its capture rate in the file's
``com.android.capture.fps`` tag, with the phone's gyro log on its own (real-time) clock, started
40 ms before the first frame. The gyro log, readout and exposure are slowed to the clip's clock
and the clip is stabilized on it; the sync runs on the camera's clock; the output keeps the tag."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from fusedstab.errors import TelemetryError
from fusedstab.io.video import probe_video
from fusedstab.measure.metrics import evaluate
from fusedstab.measure.simulate import SimConfig, simulate
from fusedstab.pipeline import StabilizeOptions, plan_stabilization, stabilize

SLOW = 8.0

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command to make the clip")


@pytest.fixture(scope="module")
def slowmo(tmp_path_factory):
    """(prefix, slowed clip, the same clip without the tag, truth on the clip's clock)."""
    root = tmp_path_factory.mktemp("slowmo")
    prefix = root / "walk240"
    simulate(prefix, SimConfig(scenario="walk", width_px=320, height_px=180, fps=240.0, duration_s=1.5,
                               readout_s=0.003, seed=0, lead_s=0.04))
    slowed, untagged = root / "walk240_slow.mp4", root / "walk240_untagged.mp4"
    common = ["ffmpeg", "-v", "error", "-y", "-i", f"{prefix}.mp4", "-vf", f"setpts={SLOW:g}*PTS", "-r", "30",
              "-c:v", "libx264", "-crf", "16", "-preset", "fast"]
    subprocess.run([*common, "-movflags", "use_metadata_tags", "-metadata", "com.android.capture.fps=240.000000",
                    str(slowed)], check=True)
    subprocess.run([*common, str(untagged)], check=True)
    t = np.load(f"{prefix}.truth.npz")
    truth = {k: t[k] for k in t.files}
    for k in ("times_s", "frame_times_s", "readout_s", "exposure_s"):
        truth[k] = truth[k] * SLOW
    truth["omega_rad_s"] = truth["omega_rad_s"] / SLOW
    np.savez(root / "slow.truth.npz", **truth)
    return prefix, slowed, untagged, root / "slow.truth.npz"


def test_the_capture_rate_is_read_and_the_gyro_slowed_to_the_clip(slowmo, tmp_path):
    prefix, slowed, untagged, truth = slowmo
    info = probe_video(slowed)
    assert info.capture_fps == pytest.approx(240.0) and info.slow_motion == pytest.approx(SLOW, rel=1e-3)
    assert probe_video(untagged).slow_motion == 1.0
    opts = StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json")
    # without the tag the 1.5 s log cannot cover 12 s of video: refused, as before
    with pytest.raises(TelemetryError, match="covers"):
        plan_stabilization(untagged, opts)
    out = tmp_path / "out.mp4"
    report = stabilize(slowed, out, opts)
    assert any(w.startswith("slow motion:") and "8.00x" in w for w in report.warnings), report.warnings
    assert report.motion_source == "gyro" and report.gyro_agreement >= 0.9, report.warnings
    assert report.readout_ms == pytest.approx(3.0 * SLOW, rel=1e-6)  # the profile's 3 ms, on the clip's clock
    # synced on the camera's clock: the 40 ms lead is 320 ms on the clip's (measured -313.1 ms: 0.9 ms off in real time)
    assert report.offset_source == "auto-sync", report.warnings
    assert report.offset_ms == pytest.approx(-40.0 * SLOW, abs=2.0 * SLOW)
    assert probe_video(out).capture_fps == pytest.approx(240.0)  # the output is still slow motion
    m = evaluate(slowed, out, truth)
    # measured 0.042 against 0.082 deg of the truth's high-pass jitter on the clip's clock
    assert m["truth_output_jitter_deg"] < 0.65 * m["truth_input_jitter_deg"], m


def test_slowed_logs_keep_the_rotation_between_the_same_moments():
    """``ImuSamples.slowed(k)``: times x k, rates / k, so the rotation between two samples is the
    same; the file's readout and exposure x k; ``slowed(1 / k)`` brings them back (as the sync
    does to run on the camera's clock). ``LensMotion.slowed`` moves its times the same way."""
    from fusedstab.types import ImuSamples, LensMotion

    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 2, 400))
    w = rng.normal(size=(400, 3))
    imu = ImuSamples(t, w, None, "test", {"readout_s": 0.003, "exposure_s": 0.002})
    s = imu.slowed(SLOW)
    np.testing.assert_allclose(np.diff(s.times_s)[:, None] * s.gyro_rad_s[1:], np.diff(t)[:, None] * w[1:])
    assert s.meta["readout_s"] == pytest.approx(0.003 * SLOW) and s.meta["exposure_s"] == pytest.approx(0.002 * SLOW)
    back = s.slowed(1.0 / SLOW)
    np.testing.assert_allclose(back.times_s, t)
    np.testing.assert_allclose(back.gyro_rad_s, w)
    assert back.meta["readout_s"] == pytest.approx(0.003)
    lm = LensMotion(t, rng.normal(size=(400, 2)), np.ones(400))
    np.testing.assert_allclose(lm.slowed(SLOW).times_s, t * SLOW)


@pytest.mark.parametrize("capture_fps, fps, slow", [
    (240.0, 30.0, 8.0), (120.0, 30.0, 4.0), (960.0, 30.0, 32.0),
    (30.0, 15.0, 1.0),    # an ordinary phone clip in dim light: its nominal rate, frames at half of it
    (60.0, 29.97, 1.0),   # the same at 60
    (120.0, 119.88, 1.0),  # a high-frame-rate clip played as captured
    (None, 30.0, 1.0),
])
def test_which_stated_capture_rates_are_slow_motion(capture_fps, fps, slow):
    from fractions import Fraction
    from pathlib import Path

    from fusedstab.io.video import VideoInfo

    info = VideoInfo(Path("x.mp4"), 64, 36, np.arange(10), Fraction(1, 90000), np.arange(10) / fps, fps, "h264",
                     "yuv420p", 0, False, None, capture_fps=capture_fps)
    assert info.slow_motion == pytest.approx(slow, rel=1e-3)
    rt = info.on_capture_clock()
    assert rt.slow_motion == 1.0 and rt.fps == pytest.approx(fps * slow)
    np.testing.assert_allclose(rt.frame_times_s, info.frame_times_s / slow)


def test_a_time_lapse_uses_the_video_and_says_why(slowmo, tmp_path):
    """Every 80th frame of the 240 fps capture, played at 30 fps and tagged as captured at 3: a
    time-lapse, 10x faster than life. The log on the camera's clock is not matched to it: the
    video's own motion is used, with one warning that says so (before, on a 640x360 walk made the
    same way: "sync unreliable" and "the camera moves sideways", neither of which was the cause)."""
    prefix = slowmo[0]
    tl = tmp_path / "timelapse.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", f"{prefix}.mp4", "-vf", "select='not(mod(n,80))',setpts=N/30/TB",
                    "-r", "30", "-c:v", "libx264", "-crf", "18", "-movflags", "use_metadata_tags",
                    "-metadata", "com.android.capture.fps=3.000000", str(tl)], check=True)
    info = probe_video(tl)
    assert info.time_lapse == pytest.approx(10.0) and info.slow_motion == 1.0
    plan = plan_stabilization(tl, StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json"))
    assert plan.motion_source == "video"
    assert [w for w in plan.warnings if w.startswith("time-lapse:")], plan.warnings
    assert not any("sync unreliable" in w or "moves sideways" in w for w in plan.warnings), plan.warnings
