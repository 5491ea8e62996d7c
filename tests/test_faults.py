"""Faults during a run: signals, a full disk, an output that cannot be renamed into place.

Each ends with one message, the documented exit code and no temporary file left behind.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

from fusedstab.cli import main
from fusedstab.errors import OutputError
from fusedstab.io import video as video_mod
from fusedstab.io.video import VideoWriter, probe_video
from fusedstab.measure.simulate import SimConfig, simulate

from test_bad_inputs import assert_one_clean_message, cli_env


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults")
    simulate(d / "clip", SimConfig(scenario="walk", width_px=320, height_px=180, duration_s=2.0, seed=5))
    return d / "clip"


# ---------------------------------------------------------------------------- signals
def _signal_mid_render(clip, tmp_path, sig, action, *, settle_s: float, timeout_s: float):
    """Start ``fusedstab stabilize`` (x264 placebo: an encode slow enough to be caught in the
    middle) with ``sig``'s action set to ``action`` in the child, send ``sig`` ``settle_s`` after
    the render's temp file appears, and return (exit code, stdout, stderr)."""
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fusedstab", "stabilize", f"{clip}.mp4", "-o", str(out), "--gyro-offset-ms", "0",
         "--quiet", "--preset", "placebo"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
        preexec_fn=lambda: signal.signal(sig, action),
    )
    try:
        deadline = time.monotonic() + 90
        while not any(p.name.endswith(".partial.mp4") for p in tmp_path.iterdir()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the render never started"
            time.sleep(0.05)
        time.sleep(settle_s)
        proc.send_signal(sig)
        so, se = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, so, se


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_signal_during_render_removes_the_temp_file(clip, tmp_path, sig, code):
    # the child starts with the signal's default action, as from a terminal (under nohup the
    # tests would inherit SIGHUP ignored, and fusedstab keeps ignoring it then, by design)
    rc, so, se = _signal_mid_render(clip, tmp_path, sig, signal.SIG_DFL, settle_s=0.3, timeout_s=60)  # well inside
    assert_one_clean_message(rc, so, se, code, f"stopped by {sig.name}", "run the command again")
    assert "unfinished output was removed" in se
    assert list(tmp_path.iterdir()) == [], "a signal left files behind"


def test_sighup_stays_ignored_under_nohup(clip, tmp_path):
    """Started with SIGHUP ignored (nohup), fusedstab keeps ignoring it: a hang-up in the
    middle of the render does not stop the run, which writes its output and exits 0."""
    rc, _, se = _signal_mid_render(clip, tmp_path, signal.SIGHUP, signal.SIG_IGN, settle_s=0.0, timeout_s=120)
    assert rc == 0, se
    assert "stopped by" not in se
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    assert probe_video(tmp_path / "out.mp4").frame_count == probe_video(f"{clip}.mp4").frame_count


# ---------------------------------------------------------------------------- disk full
def _info(tmp_path, n=30, w=320, h=180):
    from fractions import Fraction

    from fusedstab.io.video import VideoInfo

    tb = Fraction(1, 30000)
    pts = np.arange(n, dtype=np.int64) * 1000
    return VideoInfo(tmp_path / "src.mp4", w, h, pts, tb, (pts - pts[0]) * float(tb), 30.0, "h264", "yuv420p", 0,
                     False, None)


def test_disk_full_while_encoding_in_process(tmp_path, monkeypatch):
    """ENOSPC from the muxer: one OutputError about disk space, temp file removed."""
    calls = {"n": 0}
    original = VideoWriter._mux_copied_until

    def full(self, t):
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, t)

    monkeypatch.setattr(VideoWriter, "_mux_copied_until", full)
    info = _info(tmp_path)
    out = tmp_path / "out.mp4"
    rng = np.random.default_rng(0)
    with pytest.raises(OutputError, match="no space left") as exc:
        with VideoWriter(out, info, 320, 180, preset="ultrafast") as w:
            for p in info.pts:
                w.write(rng.integers(0, 255, (180, 320, 3), dtype=np.uint8), p)
    assert "free some disk space" in exc.value.hint
    assert list(tmp_path.iterdir()) == []


@pytest.fixture()
def tiny_fs(tmp_path):
    """A real 256 KB tmpfs (needs root and mount permission; skipped otherwise)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", f"fusedstab-{uuid.uuid4().hex[:6]}", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_disk_full_on_a_real_small_file_system(clip, tiny_fs, tmp_path):
    """The whole CLI on a file system that fills up mid-encode."""
    r = subprocess.run(
        [sys.executable, "-m", "fusedstab", "stabilize", f"{clip}.mp4", "-o", str(tiny_fs / "out.mp4"),
         "--gyro-offset-ms", "0", "--quiet", "--crf", "0", "--preset", "ultrafast"],
        capture_output=True, text=True, env=cli_env(), timeout=300,
    )
    assert_one_clean_message(r.returncode, r.stdout, r.stderr, 3, "no space left on the device", "free some disk space")
    assert list(tiny_fs.iterdir()) == []


def test_rename_into_place_fails(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(video_mod.os, "replace", refuse)
    info = _info(tmp_path, n=5)
    out = tmp_path / "out.mp4"
    with pytest.raises(OutputError, match="could not be moved into place") as exc:
        with VideoWriter(out, info, 320, 180, preset="ultrafast") as w:
            for p in info.pts:
                w.write(np.zeros((180, 320, 3), np.uint8), p)
    assert "Operation not permitted" in exc.value.message and exc.value.hint
    assert list(tmp_path.iterdir()) == []


def test_rename_failure_through_the_cli(clip, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(video_mod.os, "replace", lambda a, b: (_ for _ in ()).throw(OSError(errno.EBUSY, "busy")))
    out_dir = tmp_path / "o"
    out_dir.mkdir()
    rc = main(["stabilize", f"{clip}.mp4", "-o", str(out_dir / "x.mp4"), "--gyro-offset-ms", "0", "--quiet",
               "--preset", "ultrafast"])
    cap = capsys.readouterr()
    assert_one_clean_message(rc, cap.out, cap.err, 3, "could not be moved into place", "choose another name")
    assert list(out_dir.iterdir()) == []


def test_output_replaced_by_a_fifo_during_the_run_is_not_destroyed(tmp_path, monkeypatch):
    """The target is checked again just before the rename."""
    info = _info(tmp_path, n=4)
    out = tmp_path / "out.mp4"
    with pytest.raises(OutputError, match="FIFO"):
        with VideoWriter(out, info, 320, 180, preset="ultrafast") as w:
            for p in info.pts:
                w.write(np.zeros((180, 320, 3), np.uint8), p)
            os.mkfifo(out)
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    assert os.path.exists(out) and not os.path.isfile(out)


def test_symlink_to_a_regular_file_is_followed(tmp_path):
    info = _info(tmp_path, n=4)
    real = tmp_path / "real.mp4"
    real.write_bytes(b"old")
    link = tmp_path / "link.mp4"
    link.symlink_to(real)
    with VideoWriter(video_mod.check_output_path(link), info, 320, 180, preset="ultrafast") as w:
        for p in info.pts:
            w.write(np.zeros((180, 320, 3), np.uint8), p)
    assert link.is_symlink() and probe_video(real).frame_count == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.mp4", "real.mp4"]
