"""The command line as a user meets it: help, bad input, exit codes, nothing left behind."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from fusedstab.cli import build_parser
from fusedstab.measure.simulate import SimConfig, simulate


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("clip")
    prefix = d / "clip"
    simulate(prefix, SimConfig(scenario="walk", width_px=160, height_px=96, duration_s=1.0, seed=2))
    return prefix


def test_help_explains_every_option():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.dest == "help":
                continue
            assert action.help, f"{name}: option {action.option_strings or action.dest} has no help text"
    r = run_cli("stabilize", "--help")
    assert r.returncode == 0
    for opt in ("--gyro", "--lens", "--fov", "--smoothness", "--gyro-offset-ms", "--quiet"):
        assert opt in r.stdout


def _assert_clean_failure(r, needle, out_dir, before):
    assert r.returncode != 0
    assert needle.lower() in r.stderr.lower(), r.stderr
    assert "fix:" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert sorted(p.name for p in out_dir.iterdir()) == before, "a failed run left files behind"


def test_unreadable_video(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    before = sorted(p.name for p in tmp_path.iterdir())
    r = run_cli("stabilize", bad, "-o", tmp_path / "out.mp4")
    _assert_clean_failure(r, "cannot read", tmp_path, before)


def test_file_without_gyro(shared_data, tmp_path):
    # --motion gyro needs a gyro: a clean failure; the default (auto) uses the video instead (issue 8)
    r = run_cli("stabilize", shared_data / "insta360_oner_sample_1s.insv", "-o", tmp_path / "out.mp4", "--motion", "gyro")
    _assert_clean_failure(r, "no gyro", tmp_path, [])


def _copy_clip(small_clip, tmp_path):
    import shutil

    for ext in (".mp4", ".lens.json"):
        shutil.copy(f"{small_clip}{ext}", tmp_path / f"clip{ext}")
    return tmp_path / "clip.mp4"


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda rows: rows[:5], "only"),
        (lambda rows: rows[:len(rows) // 3], "covers"),
        (lambda rows: rows[:10] + [rows[10].replace(rows[10].split(",")[1], "nan", 1)] + rows[11:], "nan"),
        (lambda rows: rows[:20] + [rows[5]] + rows[21:], "backwards"),
    ],
    ids=["too-few", "too-short-for-video", "nan", "non-monotonic"],
)
def test_bad_gyro_logs(small_clip, tmp_path, mutate, needle):
    video = _copy_clip(small_clip, tmp_path)
    lines = open(f"{small_clip}.gcsv").read().splitlines()
    head_end = next(i for i, l in enumerate(lines) if l.startswith("t,")) + 1
    rows = mutate(lines[head_end:])
    (tmp_path / "bad.gcsv").write_text("\n".join(lines[:head_end] + rows) + "\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    r = run_cli("stabilize", video, "-o", tmp_path / "out.mp4", "--gyro", tmp_path / "bad.gcsv",
                "--lens", tmp_path / "clip.lens.json", "--gyro-offset-ms", "0")
    _assert_clean_failure(r, needle, tmp_path, before)


def test_bad_lens_profiles(small_clip, tmp_path):
    video = _copy_clip(small_clip, tmp_path)
    (tmp_path / "broken.json").write_text("{ nope")
    prof = json.loads((tmp_path / "clip.lens.json").read_text())
    prof["calib_dimension"] = {"w": 800, "h": 600}
    (tmp_path / "aspect.json").write_text(json.dumps(prof))
    prof["distortion_model"] = "sony_mystery"
    (tmp_path / "model.json").write_text(json.dumps(prof))
    before = sorted(p.name for p in tmp_path.iterdir())
    for lens, needle in (("broken.json", "JSON"), ("aspect.json", "aspect"), ("model.json", "sony_mystery")):
        r = run_cli("stabilize", video, "-o", tmp_path / "out.mp4", "--gyro", f"{small_clip}.gcsv",
                    "--lens", tmp_path / lens, "--gyro-offset-ms", "0")
        _assert_clean_failure(r, needle, tmp_path, before)


def test_output_problems(small_clip, tmp_path):
    video = _copy_clip(small_clip, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    size = video.stat().st_size
    r = run_cli("stabilize", video, "-o", video, "--gyro", f"{small_clip}.gcsv", "--gyro-offset-ms", "0")
    _assert_clean_failure(r, "same file", tmp_path, before)
    assert video.stat().st_size == size
    r = run_cli("stabilize", video, "-o", tmp_path / "missing" / "out.mp4", "--gyro", f"{small_clip}.gcsv")
    _assert_clean_failure(r, "does not exist", tmp_path, before)


def test_unwritable_output_folder(small_clip, tmp_path):
    import os

    video = _copy_clip(small_clip, tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        # root ignores folder permissions: use a read-only file system instead
        target = ro / "out.mp4" if not os.access(ro, os.W_OK) else "/proc/fusedstab-out.mp4"
        r = run_cli("stabilize", video, "-o", target, "--gyro", f"{small_clip}.gcsv")
        assert r.returncode != 0, r.stderr
        assert "writ" in r.stderr and "fix:" in r.stderr and "Traceback" not in r.stderr, r.stderr
    finally:
        ro.chmod(0o700)


def test_stabilize_quiet_and_json(small_clip, tmp_path):
    out = tmp_path / "out.mp4"
    r = run_cli("stabilize", f"{small_clip}.mp4", "-o", out, "--gyro", f"{small_clip}.gcsv",
                "--lens", f"{small_clip}.lens.json", "--gyro-offset-ms", "0", "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and out.exists()
    out2 = tmp_path / "out2.mp4"
    r = run_cli("stabilize", f"{small_clip}.mp4", "-o", out2, "--gyro", f"{small_clip}.gcsv",
                "--gyro-offset-ms", "0", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["frames"] == 30 and rep["fov_kept"] >= 0.8 and out2.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "out2.mp4"]


def test_info_reports_telemetry(shared_data):
    r = run_cli("info", shared_data / "gopro_max_heromode.mp4", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["video"]["frame_count"] == 315
    tel = d["telemetry"]
    assert tel["imu_rate_hz"] == pytest.approx(197.5, rel=0.02)
    assert tel["readout_ms"] == pytest.approx(20.6, abs=0.1)
    assert tel["in_camera_stabilization"] is True
    assert tel["lens_mode"] == "Wide"  # GPMF VFOV "W"; the lens folder search ranks by it
    assert tel["diagonal_fov_deg"] == pytest.approx(137.39, abs=0.01)  # GPMF ZFOV, and by this
    r = run_cli("info", shared_data / "insta360_oner_sample_1s.insv", "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["telemetry"] is None


def test_demo_runs_without_files(tmp_path):
    r = run_cli("demo", "--outdir", tmp_path / "demo", "--size", "192x108", "--duration", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "demo").iterdir())
    for n in ("walk.mp4", "walk.gcsv", "walk.stabilized.mp4", "walk.side_by_side.mp4"):
        assert n in names


def test_sync_and_simulate_show_progress_unless_quiet(tmp_path):
    # long work shows progress (frames done, fps, ETA); --quiet silences it
    r = run_cli("simulate", tmp_path / "sim", "--scenario", "run", "--size", "320x180", "--duration", "1.5", "-q")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and (tmp_path / "sim.mp4").exists() and (tmp_path / "sim.gcsv").exists()
    args = ("sync", tmp_path / "sim.mp4", "--lens", tmp_path / "sim.lens.json")
    loud, quiet = run_cli(*args), run_cli(*args, "-q")
    assert loud.returncode == 0 and quiet.returncode == 0, loud.stdout + quiet.stdout
    assert "ETA" in loud.stdout + loud.stderr and "fps" in loud.stdout + loud.stderr
    assert "ETA" not in quiet.stdout + quiet.stderr and "offset_ms" in quiet.stdout
