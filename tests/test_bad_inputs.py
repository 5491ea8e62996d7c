"""Bad input as a new user meets it: one message naming the problem and the fix, a non-zero
exit, no traceback, nothing left in the output folder, inputs and special files untouched.

Table-driven: each case builds its (tiny) bad files in a fresh folder, runs the CLI and is
checked by the same rules. Most cases run the CLI in-process (``fusedstab.cli.main``: the
same exit codes and messages); those where a traceback, a hang or the process itself matters
run in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from fusedstab.cli import main
from fusedstab.measure.simulate import SimConfig, simulate


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two unrelated tiny clips (0.5 s, 160x90), each with .gcsv, lens profile and truth."""
    d = tmp_path_factory.mktemp("clips")
    simulate(d / "clip", SimConfig(scenario="walk", width_px=160, height_px=90, duration_s=0.5, seed=3))
    simulate(d / "other", SimConfig(scenario="run", width_px=160, height_px=90, duration_s=0.5, seed=11))
    return d


@dataclass
class Ctx:
    """A fresh folder per case: ``inp`` holds the inputs, ``out`` is the output folder."""

    inp: Path
    out: Path
    clips: Path
    special: list[Path] = field(default_factory=list)

    @property
    def video(self) -> Path:
        return self.inp / "clip.mp4"

    @property
    def gcsv(self) -> Path:
        return self.inp / "clip.gcsv"

    @property
    def lens(self) -> Path:
        return self.inp / "clip.lens.json"

    def write(self, name: str, text: str | bytes) -> Path:
        p = self.inp / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        return p

    def gcsv_rows(self) -> tuple[list[str], list[str]]:
        lines = self.gcsv.read_text().splitlines()
        end = next(i for i, line in enumerate(lines) if line.startswith("t,")) + 1
        return lines[:end], lines[end:]

    def bad_gcsv(self, rows_fn: Callable[[list[str]], list[str]], head_fn=lambda h: h) -> Path:
        head, rows = self.gcsv_rows()
        return self.write("bad.gcsv", "\n".join(head_fn(head) + rows_fn(rows)) + "\n")

    def lens_with(self, **changes) -> Path:
        prof = json.loads(self.lens.read_text())
        for key, value in changes.items():
            target = prof
            *path, last = key.split("__")
            for k in path:
                target = target[k]
            target[last] = value
        return self.write("bad.lens.json", json.dumps(prof))


def _stab(ctx: Ctx, *extra, out: str | Path = "out.mp4", video=None, offset: bool = True) -> list[str]:
    o = out if isinstance(out, Path) and out.is_absolute() else ctx.out / str(out)
    fixed = ["--gyro-offset-ms", "0"] if offset else []
    return ["stabilize", str(video or ctx.video), "-o", str(o), *fixed, "--quiet", *map(str, extra)]


def _mkfifo(ctx: Ctx, name: str) -> Path:
    p = ctx.out / name
    os.mkfifo(p)
    ctx.special.append(p)
    return p


def _symlink(ctx: Ctx, name: str, target: str) -> Path:
    p = ctx.out / name
    p.symlink_to(target)
    return p


def _readonly(ctx: Ctx, name: str) -> Path:
    p = ctx.out / name
    p.write_bytes(b"keep me")
    p.chmod(0o444)
    return p


def _garbled(ctx: Ctx) -> Path:
    """The clip with the payload of its media data box replaced by noise (headers intact)."""
    data = bytearray(ctx.video.read_bytes())
    start, end = data.find(b"mdat") + 4 + 64, data.find(b"moov")
    if end < start:
        end = len(data)
    data[start:end - 64] = random.Random(5).randbytes(end - 64 - start)
    return ctx.write("garbled.mp4", bytes(data))


def _textlog(ctx: Ctx, body: str) -> Path:
    rows = [f"{i * 0.005:.3f},0.01,0.02,0.03" for i in range(200)]
    return ctx.write("gyro.txt", body.replace("ROWS", "\n".join(rows)))


@dataclass
class Case:
    id: str
    argv: Callable[[Ctx], list[str]]
    code: int
    problem: str  # must appear in the error line (case-insensitive)
    fix: str = ""  # must appear in the fix line
    not_in: str = ""  # must appear nowhere (a misleading fix)
    subprocess: bool = False


CASES = [
    # ---- numbers out of range, NaN, inf: refused before any work -----------------------------
    Case("smoothness-nan", lambda c: _stab(c, "--smoothness", "nan"), 2, "--smoothness must be a finite", "0 <= value <= 10"),
    Case("smoothness-inf", lambda c: _stab(c, "--smoothness", "inf"), 2, "--smoothness must be a finite"),
    Case("smoothness-1e9-would-hang", lambda c: _stab(c, "--smoothness", "1e9"), 2, "--smoothness 1e+09 s is out of range",
         subprocess=True),
    Case("smoothness-negative", lambda c: _stab(c, "--smoothness", "-1"), 2, "out of range"),
    Case("smoothness-not-a-number", lambda c: _stab(c, "--smoothness", "abc"), 2, "expected a number", "--help"),
    Case("gyro-offset-nan", lambda c: _stab(c, "--gyro-offset-ms", "nan"), 2, "--gyro-offset-ms must be a finite"),
    Case("lookahead-nan", lambda c: _stab(c, "--lookahead", "nan"), 2, "--lookahead must be a finite"),
    Case("lookahead-negative", lambda c: _stab(c, "--lookahead", "-0.5"), 2, "--lookahead -0.5 s is out of range"),
    Case("sync-search-nan", lambda c: _stab(c, "--sync-search-ms", "nan"), 2, "--sync-search-ms must be a finite"),
    Case("sync-search-zero", lambda c: _stab(c, "--sync-search-ms", "0"), 2, "--sync-search-ms 0 ms is out of range"),
    Case("fov-0", lambda c: _stab(c, "--fov", "0"), 2, "--fov 0 deg is out of range", "1 <= value <= 179"),
    Case("fov-200", lambda c: _stab(c, "--fov", "200"), 2, "--fov 200 deg is out of range"),
    Case("fov-nan", lambda c: _stab(c, "--fov", "nan"), 2, "--fov must be a finite"),
    Case("fov-negative", lambda c: _stab(c, "--fov", "-10"), 2, "--fov -10 deg is out of range"),
    Case("fov-keep-nan", lambda c: _stab(c, "--fov-keep", "nan"), 2, "--fov-keep must be a finite", "0 < value <= 1"),
    Case("fov-keep-above-1", lambda c: _stab(c, "--fov-keep", "1.2"), 2, "--fov-keep 1.2 is out of range"),
    Case("fov-keep-unknown-policy", lambda c: _stab(c, "--fov-keep", "wide"), 2, "expected a fraction of the width",
         "--help"),
    Case("max-zoom-nan", lambda c: _stab(c, "--max-zoom", "nan"), 2, "--max-zoom must be a finite"),
    Case("max-zoom-below-1", lambda c: _stab(c, "--max-zoom", "0.5"), 2, "--max-zoom 0.5 is out of range"),
    Case("crf-99", lambda c: _stab(c, "--crf", "99"), 2, "--crf 99 is out of range", "0 <= value <= 51"),
    Case("crf-negative", lambda c: _stab(c, "--crf", "-1"), 2, "--crf -1 is out of range"),
    Case("crf-fraction", lambda c: _stab(c, "--crf", "1.5"), 2, "invalid int value"),
    Case("preset-unknown", lambda c: _stab(c, "--preset", "superduper"), 2, "invalid choice: 'superduper'", "--help"),
    Case("readout-nan", lambda c: _stab(c, "--readout-ms", "nan"), 2, "--readout-ms must be a finite",
         not_in="two frame periods"),
    Case("readout-too-long", lambda c: _stab(c, "--readout-ms", "500"), 2, "longer than two frame periods"),
    Case("exposure-inf", lambda c: _stab(c, "--exposure-ms", "inf"), 2, "--exposure-ms must be a finite"),
    Case("first-frame-0", lambda c: _stab(c, "--first-frame", "0"), 2, "--first-frame 0 is out of range"),
    # ---- outputs: never destroy what is there, refuse what cannot be written -----------------
    Case("output-dev-null", lambda c: _stab(c, out=Path("/dev/null")), 3, "is a character device", "new video file"),
    Case("output-dev-full", lambda c: _stab(c, out=Path("/dev/full")), 3, "is a character device"),
    Case("output-fifo", lambda c: _stab(c, out=_mkfifo(c, "pipe.mp4")), 3, "is a FIFO"),
    Case("output-symlink-to-dev-null", lambda c: _stab(c, out=_symlink(c, "link.mp4", "/dev/null")), 3,
         "is a character device"),
    Case("output-broken-symlink", lambda c: _stab(c, out=_symlink(c, "dangling.mp4", "/nonexistent/x.mp4")), 3,
         "broken symbolic link"),
    Case("output-read-only-file", lambda c: _stab(c, out=_readonly(c, "ro.mp4")), 3, "is a read-only file", "chmod"),
    Case("output-is-folder", lambda c: (c.out / "dir.mp4").mkdir() or _stab(c, out="dir.mp4"), 3, "is a folder"),
    Case("output-avi", lambda c: _stab(c, out="out.avi"), 3, "extension '.avi'", ".mp4, .m4v, .mov, .mkv"),
    Case("output-txt", lambda c: _stab(c, out="out.txt"), 3, "extension '.txt'", ".mkv"),
    Case("output-no-extension", lambda c: _stab(c, out="out"), 3, "has no extension", ".mov"),
    Case("output-is-input", lambda c: _stab(c, out=c.video), 3, "same file as input"),
    Case("output-folder-missing", lambda c: _stab(c, out=c.out / "missing" / "o.mp4"), 3, "does not exist"),
    # ---- gyro logs ------------------------------------------------------------------------------
    Case("gcsv-empty", lambda c: _stab(c, "--gyro", c.write("bad.gcsv", "")), 2, "bad.gcsv is empty",
         not_in="--gyro-columns"),
    Case("gcsv-header-only", lambda c: _stab(c, "--gyro", c.bad_gcsv(lambda r: [])), 2, "header but no gyro samples",
         not_in="--gyro-columns"),
    Case("gcsv-nan", lambda c: _stab(c, "--gyro", c.bad_gcsv(lambda r: r[:9] + ["nan" + r[9][r[9].index(","):]] + r[10:])),
         2, "nan", not_in="--gyro-columns"),
    Case("gcsv-nan-value", lambda c: _stab(c, "--gyro", c.bad_gcsv(
        lambda r: r[:9] + [r[9].split(",")[0] + ",nan," + ",".join(r[9].split(",")[2:])] + r[10:])),
        2, "1 gyro samples are nan", not_in="--gyro-columns"),
    Case("gcsv-non-monotonic", lambda c: _stab(c, "--gyro", c.bad_gcsv(lambda r: r[:20] + [r[5]] + r[21:])), 2,
         "backwards", not_in="--gyro-columns"),
    Case("gcsv-all-timestamps-equal", lambda c: _stab(c, "--gyro", c.bad_gcsv(
        lambda r: ["0," + ",".join(x.split(",")[1:]) for x in r])), 2, "distinct timestamps", "time column"),
    Case("gcsv-garbage-line", lambda c: _stab(c, "--gyro", c.bad_gcsv(lambda r: r[:7] + ["oops, not a sample"] + r[7:])), 2,
         "bad.gcsv:21:", "remove the lines named", not_in="No metadata"),
    Case("gcsv-garbage-number", lambda c: _stab(c, "--gyro", c.bad_gcsv(lambda r: r[:3] + [r[3].replace(",", ",x", 1)] + r[4:])),
         2, "bad.gcsv:17: 'x", not_in="--gyro-columns"),
    Case("gcsv-zero-tscale", lambda c: _stab(c, "--gyro", c.bad_gcsv(
        lambda r: r, lambda h: [x if not x.startswith("tscale") else "tscale,0" for x in h])), 2, "tscale must be a positive"),
    Case("text-log-garbage-line", lambda c: _stab(c, "--gyro", _textlog(c, "t,x,y,z\nROWS\nhello,1,2,3\n"),
                                                   "--gyro-columns", "t,x,y,z"), 2, "gyro.txt:202: 'hello' is not a number"),
    Case("text-log-garbage-without-columns", lambda c: _stab(c, "--gyro", _textlog(c, "ROWS\n1 2\n")), 2,
         "gyro.txt:201: 2 values", not_in="No metadata"),
    Case("text-log-bad-columns", lambda c: _stab(c, "--gyro", _textlog(c, "ROWS\n"), "--gyro-columns", "t,x,y,w"), 2,
         "unknown gyro column name(s) 'w'"),
    Case("gyro-missing", lambda c: _stab(c, "--gyro", c.inp / "nope.gcsv"), 2, "not found"),
    Case("gyro-is-folder", lambda c: _stab(c, "--gyro", c.inp), 2, "not a regular file"),
    Case("gyro-is-dev-zero", lambda c: _stab(c, "--gyro", "/dev/zero"), 2, "not a regular file", subprocess=True),
    # ---- lens profiles ----------------------------------------------------------------------------
    Case("lens-fisheye-2-coeffs", lambda c: _stab(c, "--lens", c.lens_with(
        distortion_model="opencv_fisheye", fisheye_params__distortion_coeffs=[0.1, 0.2])), 2,
        "opencv_fisheye model takes 4 distortion coefficients, the profile has 2"),
    Case("lens-non-numeric-coeffs", lambda c: _stab(c, "--lens", c.lens_with(
        distortion_model="opencv_fisheye", fisheye_params__distortion_coeffs=["a", 0, 0, 0])), 2,
        "distortion coefficient 'a' is not a finite number", not_in="camera_matrix"),
    Case("lens-nan-matrix", lambda c: _stab(c, "--lens", c.lens_with(
        fisheye_params__camera_matrix=[[float("nan"), 0, 80], [0, 100, 45], [0, 0, 1]],
        calib_params__camera_matrix=[[float("nan"), 0, 80], [0, 100, 45], [0, 0, 1]])), 2, "no valid camera_matrix"),
    Case("lens-broken-json", lambda c: _stab(c, "--lens", c.write("b.json", "{ nope")), 2, "does not parse as JSON"),
    Case("lens-bad-calib-dimension", lambda c: _stab(c, "--lens", c.lens_with(calib_dimension={"w": "wide", "h": 90})), 2,
         "no valid calib_dimension"),
    Case("lens-is-dev-zero", lambda c: _stab(c, "--lens", "/dev/zero"), 2, "not a regular file", subprocess=True),
    # ---- lens-motion CSV and frame timestamps ---------------------------------------------------
    Case("lens-motion-non-numeric", lambda c: _stab(c, "--lens-motion", c.write(
        "m.csv", "t_s,ois_x_px\n0,1\n0.1,zz\n0.2,3\n")), 2, "data row 2: 'zz' is not a number"),
    Case("lens-motion-not-utf8", lambda c: _stab(c, "--lens-motion", c.write("m.csv", b"t_s,ois_x_px\n\xff\xfe\x00\n")), 2,
         "not utf-8 text"),
    Case("frame-timestamps-inf", lambda c: _stab(c, "--frame-timestamps", c.write("ft.txt", "0.0\ninf\n0.2\n"),
                                                 "--no-auto-sync", offset=False), 2, "timestamp is nan or infinite"),
    # ---- input videos ---------------------------------------------------------------------------
    Case("video-not-a-video", lambda c: _stab(c, video=c.write("junk.mp4", b"not a video" * 50)), 2, "cannot read"),
    Case("video-empty-file", lambda c: _stab(c, video=c.write("empty.mp4", b"")), 2, "cannot read"),
    # the container is sound, every frame's data is noise: the decoder refuses the packets
    Case("video-frames-garbled", lambda c: _stab(c, video=_garbled(c)), 2, "decoding", "re-encode it",
         not_in="[h264 @", subprocess=True),
    Case("video-frames-garbled-no-gyro", lambda c: _stab(c, "--motion", "video", video=_garbled(c), offset=False), 2,
         "decoding", subprocess=True),
    Case("video-is-dev-zero", lambda c: _stab(c, video="/dev/zero"), 2, "is a character device", subprocess=True),
    Case("video-is-folder", lambda c: _stab(c, video=c.inp), 2, "is a folder, not a video"),
    Case("video-missing", lambda c: _stab(c, video=c.inp / "nope.mp4"), 2, "not found"),
    # ---- paths the file system refuses ------------------------------------------------------------
    Case("output-name-too-long", lambda c: _stab(c, out="a" * 300 + ".mp4"), 3, "file name too long", "shorter"),
    Case("output-empty-string", lambda c: _stab(c, out=Path("")), 3, "is a folder"),
    Case("video-name-too-long", lambda c: _stab(c, video=c.inp / ("v" * 300 + ".mp4")), 2, "file name too long"),
    Case("gyro-name-too-long", lambda c: _stab(c, "--gyro", c.inp / ("g" * 300 + ".gcsv")), 2, "file name too long"),
    Case("lens-name-too-long", lambda c: _stab(c, "--lens", c.inp / ("l" * 300 + ".json")), 2, "file name too long"),
    Case("video-symlink-loop", lambda c: (c.inp / "loop.mp4").symlink_to(c.inp / "loop.mp4") or _stab(
        c, video=c.inp / "loop.mp4"), 2, "too many levels of symbolic links"),
    # ---- other commands ---------------------------------------------------------------------------
    Case("info-dev-zero", lambda c: ["info", "/dev/zero"], 2, "is a character device", subprocess=True),
    Case("sync-fov-nan", lambda c: ["sync", str(c.video), "--fov", "nan"], 2, "--fov must be a finite"),
    Case("sync-cmd-search-nan", lambda c: ["sync", str(c.video), "--sync-search-ms", "nan"], 2, "--sync-search-ms must be a finite"),
    Case("evaluate-unrelated-videos", lambda c: ["evaluate", str(c.video), str(c.clips / "other.mp4")], 2,
         "does not show the scene", "its own stabilized version"),
    Case("evaluate-sigma-nan", lambda c: ["evaluate", str(c.video), str(c.video), "--sigma", "nan"], 2, "--sigma must be in"),
    Case("demo-outdir-is-file", lambda c: ["demo", "--outdir", str(_readonly(c, "afile")), "--quiet"], 3,
         "exists and is not a folder"),
    Case("demo-duration-nan", lambda c: ["demo", "--outdir", str(c.out / "d"), "--duration", "nan", "--quiet"], 2,
         "duration nan s is out of range"),
    Case("simulate-noise-nan", lambda c: ["simulate", str(c.out / "s"), "--gyro-noise", "nan"], 2, "gyro noise nan"),
]


def _snapshot(folder: Path) -> dict:
    """Name -> (kind, content hash or device id) of everything in ``folder`` (hidden files too)."""
    out = {}
    for p in sorted(folder.iterdir()):
        st = os.lstat(p)
        if stat.S_ISREG(st.st_mode):
            out[p.name] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), stat.S_IMODE(st.st_mode))
        elif stat.S_ISLNK(st.st_mode):
            out[p.name] = ("link", os.readlink(p))
        else:
            out[p.name] = (stat.S_IFMT(st.st_mode), st.st_rdev)
    return out


def _devices() -> dict:
    return {d: (stat.S_IFMT(os.stat(d).st_mode), os.stat(d).st_rdev) for d in ("/dev/null", "/dev/full", "/dev/zero")}


def cli_env() -> dict:
    """Environment for a child ``python -m fusedstab`` that imports this same source tree."""
    import fusedstab

    src = str(Path(fusedstab.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _run(argv: list[str], in_subprocess: bool, capsys) -> tuple[int, str, str]:
    if in_subprocess:
        r = subprocess.run([sys.executable, "-m", "fusedstab", *argv], capture_output=True, text=True, timeout=120,
                           env=cli_env())
        return r.returncode, r.stdout, r.stderr
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def assert_one_clean_message(rc: int, stdout: str, stderr: str, code: int, problem: str, fix: str = "", not_in: str = ""):
    text = stdout + stderr
    assert rc == code, f"exit {rc}, expected {code}: {text}"
    assert "Traceback" not in text, text
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    fixes = [line for line in lines if line.startswith("fix:")]
    assert len(errors) == 1 and len(fixes) == 1, f"expected one error and one fix line, got: {stderr!r}"
    assert problem.lower() in errors[0].lower(), errors[0]
    assert len(fixes[0].strip()) > len("fix:") + 5, fixes[0]
    if fix:
        assert fix.lower() in fixes[0].lower(), fixes[0]
    if not_in:
        assert not_in.lower() not in text.lower(), text


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, clips, tmp_path, capsys, monkeypatch):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    out.mkdir()
    for ext in (".mp4", ".gcsv", ".lens.json"):
        shutil.copy(clips / f"clip{ext}", inp / f"clip{ext}")
    ctx = Ctx(inp, out, clips)
    monkeypatch.chdir(out)
    argv = case.argv(ctx)
    before_in, before_out, devices = _snapshot(inp), _snapshot(out), _devices()
    other_before = _snapshot(clips)
    rc, so, se = _run(argv, case.subprocess, capsys)
    assert_one_clean_message(rc, so, se, case.code, case.problem, case.fix, case.not_in)
    assert _snapshot(out) == before_out, "the output folder changed"
    assert _snapshot(inp) == before_in, "an input changed"
    assert _snapshot(clips) == other_before
    assert _devices() == devices, "a device node was replaced"
    for p in ctx.special:
        assert stat.S_ISFIFO(os.lstat(p).st_mode)


def test_case_table_is_large_enough():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


def test_missing_torch_hint_keeps_its_brackets(clips, tmp_path, capsys, monkeypatch):
    """The hint "pip install 'fusedstab[gpu]'" must not lose [gpu] to terminal markup."""
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    monkeypatch.delitem(sys.modules, "fusedstab.synthesis.torch_backend", raising=False)  # imported by other tests
    monkeypatch.chdir(tmp_path)
    rc = main(["stabilize", str(clips / "clip.mp4"), "-o", str(tmp_path / "o.mp4"), "--gyro-offset-ms", "0",
               "--backend", "torch", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "fusedstab[gpu]" in err, err
    assert list(tmp_path.iterdir()) == []


def test_library_options_are_checked_too(clips, tmp_path):
    """``StabilizeOptions`` users get the same InputError, named by field."""
    from fusedstab.errors import InputError
    from fusedstab.pipeline import StabilizeOptions, stabilize

    for kw, needle in ((dict(smoothness_s=float("nan")), "smoothness_s"), (dict(crf=99), "crf"),
                       (dict(preset="nope"), "preset"), (dict(fov_deg=0.0), "fov_deg"),
                       (dict(max_zoom=float("nan")), "max_zoom"), (dict(readout_ms=float("inf")), "readout_ms"),
                       (dict(fov_keep="widest"), "fov_keep"), (dict(fov_keep=0.0), "fov_keep")):
        with pytest.raises(InputError, match=needle) as exc:
            stabilize(clips / "clip.mp4", tmp_path / "o.mp4", StabilizeOptions(gyro_offset_ms=0, **kw))
        assert exc.value.hint
    assert list(tmp_path.iterdir()) == []
