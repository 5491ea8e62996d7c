"""Property-based fuzzing of every file reader.

A reader given a mutated or random file either returns a valid result or raises a
:class:`~fusedstab.errors.FusedStabError` (one message with a fix); any other exception, or a
call that runs longer than ``FUSEDSTAB_FUZZ_TIMEOUT_S`` (default 10 s), fails the test.

Readers: Gyroflow ``.gcsv`` (telemetry-parser + :func:`check_gcsv`, through
:func:`load_gyro` as ``--gyro`` takes it), plain-text gyro logs, lens-motion CSV, lens-profile
JSON, frame-timestamp files. Inputs: byte- and line-level mutations of a valid seed file
(flips, inserts, deletions, duplicated or swapped lines, numbers replaced by NaN / inf /
huge / empty, truncation), structural JSON mutations, and random bytes.

CI runs ``FUSEDSTAB_FUZZ_EXAMPLES`` (default 150) examples per reader; a release runs
``python bench/fuzz.py`` (1,000+ per reader, see docs/TESTING.md).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusedstab.errors import FusedStabError
from fusedstab.io.gyro_source import load_gyro
from fusedstab.io.gyro_text import read_frame_timestamps, read_gyro_text, start_offset_from_frame_timestamps
from fusedstab.io.lens import load_lens_profile
from fusedstab.io.lens_motion import read_lens_motion

EXAMPLES = int(os.environ.get("FUSEDSTAB_FUZZ_EXAMPLES", "150"))
TIMEOUT_S = float(os.environ.get("FUSEDSTAB_FUZZ_TIMEOUT_S", "10"))
REPORT = os.environ.get("FUSEDSTAB_FUZZ_REPORT")  # bench/fuzz.py: write per-reader counts here

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a shared CI machine is noisy; hangs are caught by the alarm below
    database=None,
    derandomize=os.environ.get("FUSEDSTAB_FUZZ_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

_DIRS: list[Path] = []  # the scratch folder, made on first use (every xdist worker imports this module)


def _scratch() -> Path:
    """One folder for the module: hypothesis examples reuse one file per reader."""
    if not _DIRS:
        _DIRS.append(Path(tempfile.mkdtemp(prefix="fusedstab-fuzz-")))
    return _DIRS[0]


COUNTS: dict[str, dict[str, int]] = {}


class Hang(Exception):
    """A reader ran longer than the time limit."""


@contextmanager
def time_limit(seconds: float):
    def fire(signum, frame):
        raise Hang(f"reader still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _record(reader: str, outcome: str) -> None:
    c = COUNTS.setdefault(reader, {"examples": 0, "valid": 0, "fusedstab_error": 0})
    c["examples"] += 1
    c[outcome] += 1
    if REPORT:
        Path(REPORT).write_text(json.dumps(COUNTS, indent=1))


def check_reader(reader: str, fn, data: bytes, suffix: str, validate=None) -> None:
    """Run ``fn(path)`` on ``data``; only a valid result or a FusedStabError may come out."""
    path = _scratch() / f"{reader}{suffix}"
    path.write_bytes(data)
    try:
        with time_limit(TIMEOUT_S):
            result = fn(path)
    except FusedStabError as exc:
        assert exc.message and exc.hint, f"{reader}: error without message or fix: {exc!r}"
        _record(reader, "fusedstab_error")
        return
    if validate is not None:
        validate(result)
    _record(reader, "valid")


# ---------------------------------------------------------------------------- seed files
def _gcsv_seed(n: int = 60) -> bytes:
    head = ["GYROFLOW IMU LOG", "version,1.3", "id,fuzz", "orientation,yxz", "tscale,0.001", "gscale,1.0",
            "ascale,1.0", "t,gx,gy,gz,ax,ay,az"]
    rng = np.random.default_rng(0)
    rows = [f"{5 * i},{rng.normal(0, .3):.5f},{rng.normal(0, .3):.5f},{rng.normal(0, .3):.5f},0.0,1.0,0.0"
            for i in range(n)]
    return ("\n".join(head + rows) + "\n").encode()


def _text_seed(n: int = 60) -> bytes:
    rows = [f"{i * 0.005:.4f},{0.01 * math.sin(i):.5f},{0.02 * math.cos(i):.5f},{0.001 * i:.5f}" for i in range(n)]
    return ("t,x,y,z\n" + "\n".join(rows) + "\n").encode()


def _lens_motion_seed(n: int = 20) -> bytes:
    rows = [f"{i * 0.01:.3f},{0.5 * math.sin(i):.3f},{0.2 * i:.3f},0.5,{1 + 0.001 * i:.5f}" for i in range(n)]
    return ("# OIS log\nt_s,ois_x_px,ois_y_px,focus_pos,focal_scale\n" + "\n".join(rows) + "\n").encode()


def _lens_profile_seed() -> dict:
    return {
        "name": "fuzz", "calib_dimension": {"w": 1920, "h": 1080}, "frame_readout_time": 12.5, "fps": 30.0,
        "distortion_model": "opencv_fisheye", "use_opencv_standard": False,
        "fisheye_params": {"camera_matrix": [[1000.0, 0, 960.0], [0, 1000.0, 540.0], [0, 0, 1]],
                           "distortion_coeffs": [0.05, -0.01, 0.002, 0.0]},
        "calib_params": {"camera_matrix": [], "distortion_coeffs": []},
        "compatible_settings": [{"width": 1280, "height": 720, "fps": 30.0, "frame_readout_time": 10.0}],
    }


def _timestamps_seed(n: int = 30) -> bytes:
    return ("frame,t\n" + "\n".join(f"{i + 1},{100.0 + i / 30:.6f}" for i in range(n)) + "\n").encode()


# ---------------------------------------------------------------------------- mutations
_TOKENS = [b"nan", b"NaN", b"inf", b"-inf", b"1e309", b"-1e309", b"", b" ", b",", b",,", b"0", b"-0", b"1e-320",
           b"9" * 40, b"\x00", b"\xff\xfe", b"#", b"\n", b"\r\n", b"\t", b"t,gx,gy,gz", b"GYROFLOW IMU LOG", b"\"",
           b"{", b"}", b"[", b"]", b"null", b"true", "é".encode(), b"0x10", b"1_000", b"--1", b"1.2.3", b"\\"]


@st.composite
def mutated(draw, seed: bytes):
    """``seed`` after 1..6 random edits at byte, token or line level."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "token", "dup_line", "swap_lines", "drop_line",
                                   "truncate", "number"]))
        n = len(data)
        if op == "flip" and n:
            i = draw(st.integers(0, n - 1))
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            i = draw(st.integers(0, n))
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete" and n:
            i = draw(st.integers(0, n - 1))
            data[i:i + draw(st.integers(1, 32))] = b""
        elif op == "token":
            i = draw(st.integers(0, n))
            data[i:i] = draw(st.sampled_from(_TOKENS))
        elif op in ("dup_line", "swap_lines", "drop_line"):
            lines = bytes(data).split(b"\n")
            if len(lines) > 1:
                i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
                if op == "dup_line":
                    lines.insert(j, lines[i])
                elif op == "swap_lines":
                    lines[i], lines[j] = lines[j], lines[i]
                else:
                    del lines[i]
                data = bytearray(b"\n".join(lines))
        elif op == "truncate" and n:
            data = data[: draw(st.integers(0, n))]
        elif op == "number":
            import re

            spans = [m.span() for m in re.finditer(rb"-?\d+(\.\d+)?", bytes(data))]
            if spans:
                a, b = draw(st.sampled_from(spans))
                data[a:b] = draw(st.sampled_from(_TOKENS[:14] + [b"1e9", b"-5", b"0.0", b"3"]))
    return bytes(data)


def inputs(seed: bytes):
    """Mostly mutations of the seed; some random text and random bytes."""
    return st.one_of(
        mutated(seed), mutated(seed), mutated(seed),
        st.text(max_size=400).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.binary(max_size=400),
    )


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
_json_any = st.recursive(_json_leaf, lambda kids: st.one_of(st.lists(kids, max_size=5),
                                                             st.dictionaries(st.text(max_size=8), kids, max_size=5)),
                         max_leaves=12)


@st.composite
def lens_profiles(draw):
    """A valid profile with 1..4 of its values (at any depth) replaced by random JSON, or removed."""
    prof = _lens_profile_seed()
    for _ in range(draw(st.integers(1, 4))):
        node, keys = prof, []
        while isinstance(node, (dict, list)) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node.keys()) if isinstance(node, dict) else list(range(len(node)))))
            keys.append((node, key))
            node = node[key]
        if not keys:
            key = draw(st.sampled_from(sorted(prof.keys())))
            keys.append((prof, key))
        parent, key = keys[-1]
        if isinstance(parent, dict) and draw(st.integers(0, 4)) == 0:
            parent.pop(key, None)
        else:
            parent[key] = draw(_json_any)
    return json.dumps(prof, allow_nan=True).encode()


# ---------------------------------------------------------------------------- validators
def _valid_imu(result) -> None:
    imu, _ = result
    t, g = imu.times_s, imu.gyro_rad_s
    assert len(t) >= 10 and g.shape == (len(t), 3)
    assert np.all(np.isfinite(t)) and np.all(np.isfinite(g)) and np.all(np.diff(t) > 0)


def _valid_text(imu) -> None:
    _valid_imu((imu, True))


def _valid_lens_motion(lm) -> None:
    assert len(lm.times_s) >= 2 and np.all(np.diff(lm.times_s) > 0)
    assert np.all(np.isfinite(lm.ois_shift_px)) and np.all((lm.focal_scale > 0.5) & (lm.focal_scale < 2))


def _valid_camera(cam) -> None:
    assert cam.fx_px > 0 and cam.fy_px > 0 and math.isfinite(cam.fx_px) and math.isfinite(cam.cx_px)
    assert all(math.isfinite(c) for c in cam.coeffs)
    assert cam.readout_s is None or 0 < cam.readout_s < 1


def _valid_stamps(stamps) -> None:
    assert stamps and all(isinstance(k, int) and math.isfinite(v) for k, v in stamps.items())


# ---------------------------------------------------------------------------- the properties
@SETTINGS
@given(data=inputs(_gcsv_seed()))
def test_fuzz_gcsv(data):
    check_reader("gcsv", lambda p: load_gyro(Path("video.mp4"), p), data, ".gcsv", _valid_imu)


@SETTINGS
@given(data=inputs(_text_seed()))
def test_fuzz_text_gyro_auto(data):
    """A text log given with --gyro and no --gyro-columns: telemetry-parser first, then t,x,y,z."""
    check_reader("text_gyro_auto", lambda p: load_gyro(Path("video.mp4"), p), data, ".txt", _valid_imu)


@SETTINGS
@given(data=inputs(_text_seed()), columns=st.sampled_from(["t,x,y,z", "x,y,z,t", "t,_,x,y,z", "t,x,y"]),
       units=st.sampled_from(["rad/s", "deg/s"]), time_units=st.sampled_from(["s", "ms", "us"]))
def test_fuzz_text_gyro(data, columns, units, time_units):
    check_reader("text_gyro", lambda p: read_gyro_text(p, columns, units, time_units), data, ".txt", _valid_text)


@SETTINGS
@given(data=inputs(_lens_motion_seed()))
def test_fuzz_lens_motion(data):
    check_reader("lens_motion", read_lens_motion, data, ".csv", _valid_lens_motion)


@SETTINGS
@given(data=st.one_of(lens_profiles(), lens_profiles(), inputs(json.dumps(_lens_profile_seed()).encode())),
       size=st.sampled_from([(1920, 1080), (1280, 720), (None, None), (640, 480)]))
def test_fuzz_lens_profile(data, size):
    check_reader("lens_profile", lambda p: load_lens_profile(p, size[0], size[1], 30.0), data, ".json", _valid_camera)


@SETTINGS
@given(data=inputs(_timestamps_seed()), first=st.integers(-2, 40))
def test_fuzz_frame_timestamps(data, first):
    def read(p):
        stamps = read_frame_timestamps(p)
        offset = start_offset_from_frame_timestamps(p, first)
        assert math.isfinite(offset)
        return stamps

    check_reader("frame_timestamps", read, data, ".txt", _valid_stamps)


@pytest.fixture(scope="module", autouse=True)
def _remove_dir():
    """The module's scratch folder goes when its tests are done."""
    yield
    for d in _DIRS:
        shutil.rmtree(d, ignore_errors=True)


def test_seeds_are_valid(tmp_path):
    """The seeds themselves read cleanly (so mutations start from a valid file)."""
    d = tmp_path
    (d / "a.gcsv").write_bytes(_gcsv_seed())
    _valid_imu(load_gyro(Path("v.mp4"), d / "a.gcsv"))
    (d / "a.txt").write_bytes(_text_seed())
    _valid_imu(load_gyro(Path("v.mp4"), d / "a.txt"))
    (d / "a.csv").write_bytes(_lens_motion_seed())
    _valid_lens_motion(read_lens_motion(d / "a.csv"))
    (d / "a.json").write_text(json.dumps(_lens_profile_seed()))
    _valid_camera(load_lens_profile(d / "a.json", 1280, 720, 30.0))
    (d / "f.txt").write_bytes(_timestamps_seed())
    assert start_offset_from_frame_timestamps(d / "f.txt", 3) == pytest.approx(-(100.0 + 2 / 30))


def test_a_panic_in_telemetry_parser_is_a_clean_error(monkeypatch, tmp_path):
    """telemetry-parser's Rust panics surface as pyo3's PanicException, a BaseException."""
    import telemetry_parser

    class PanicException(BaseException):
        pass

    class Exploding:
        def __init__(self, path):
            raise PanicException("called `Result::unwrap()` on an `Err` value: ParseFloatError")

    monkeypatch.setattr(telemetry_parser, "Parser", Exploding)
    d = tmp_path
    (d / "x.bin").write_bytes(b"\x00\x01binary log")
    with pytest.raises(FusedStabError, match="ParseFloatError") as exc:
        load_gyro(Path("v.mp4"), d / "x.bin")
    assert exc.value.hint
