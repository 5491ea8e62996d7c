"""Plain-text gyro logs (CSV / whitespace separated) and frame-timestamp files.

Log format
----------
One sample per line; values separated by commas, semicolons, tabs or spaces. Lines that
start with ``#``, ``//``, ``;`` or ``%`` are comments, blank lines are skipped, and a first
line that is not numeric (a header such as ``t,gx,gy,gz``) is skipped too.

``columns`` names every column of the file, in order, from ``t`` (time), ``x``, ``y``, ``z``
(angular velocity about the log's own axes) and ``_`` (a column to ignore), e.g.
``"t,x,y,z"`` or ``"x,y,z,t"`` (the Xiaomi CC9 Pro capture in the shared data).

* Timestamps are kept as written (only converted to seconds with ``time_units``): they are on
  the *log clock*; the gyro-video offset (``--gyro-offset-ms``, ``--frame-timestamps`` or the
  automatic sync) moves them onto the video clock.
* The axes are taken as given: x, y, z become camera x, y, z (right, down, forward). A log
  whose axes differ is remapped afterwards by the IMU orientation mapping
  (:func:`fusedstab.analysis.sync.apply_imu_orientation`, ``--imu-orientation``, or
  ``auto``).

Frame timestamps
----------------
:func:`start_offset_from_frame_timestamps` turns a per-frame timestamp file on the log's clock
(e.g. the phone capture's ``framestamp.txt``: line k = start-of-frame time of frame k,
1-based) and the number of the video's first frame into the starting gyro offset
``-t(first frame)``: the video clock is 0 at that frame, so a gyro sample read at log time
``T`` belongs to video time ``T - t(first frame)``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import TelemetryError
from ..types import ImuSamples
from .telemetry import validate_imu

__all__ = [
    "read_gyro_text",
    "parse_columns",
    "read_frame_timestamps",
    "start_offset_from_frame_timestamps",
    "GYRO_UNITS",
    "TIME_UNITS",
]

#: Accepted gyro units and their factor to rad/s.
GYRO_UNITS = {"rad/s": 1.0, "rad": 1.0, "deg/s": np.pi / 180.0, "deg": np.pi / 180.0, "dps": np.pi / 180.0,
              "auto": 1.0}
#: ``auto`` reads rad/s unless a value exceeds this (no camera turns at 3400 deg/s): then deg/s
#: (a log in deg/s whose camera turned slower is told by the picture: the pipeline reads it again)
AUTO_DEG_ABOVE_RAD_S = 60.0
#: Accepted time units and their factor to seconds.
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}

_COMMENT = ("#", "//", ";", "%")
_SPLIT = re.compile(r"[,;\s]+")
_NAMES = {"t": "t", "time": "t", "x": "x", "gx": "x", "y": "y", "gy": "y", "z": "z", "gz": "z", "_": "_", "-": "_", "skip": "_"}


def parse_columns(columns: str) -> list[str]:
    """``"x,y,z,t"`` -> ``['x', 'y', 'z', 't']``; raises :class:`TelemetryError` when invalid."""
    parts = [p.strip().lower() for p in re.split(r"[,\s]+", str(columns).strip()) if p.strip()]
    bad = [p for p in parts if p not in _NAMES]
    if bad:
        raise TelemetryError(
            f"unknown gyro column name(s) {', '.join(map(repr, bad))} in --gyro-columns {columns!r}",
            "name every column of the log in order with t, x, y, z, or _ for a column to ignore (e.g. t,x,y,z)",
        )
    names = [_NAMES[p] for p in parts]
    for need in ("t", "x", "y", "z"):
        n = names.count(need)
        if n != 1:
            raise TelemetryError(
                f"--gyro-columns {columns!r} names column {need!r} {n} times",
                "name each of t, x, y, z exactly once (use _ for columns to ignore), e.g. x,y,z,t",
            )
    return names


def _unit(value: str, table: dict, what: str, option: str) -> float:
    key = str(value).strip().lower()
    if key not in table:
        raise TelemetryError(
            f"unknown {what} unit {value!r}", f"use {option} with one of: {', '.join(sorted(set(table)))}"
        )
    return table[key]


def _numeric_rows(path: Path) -> tuple[list[list[str]], list[int]]:
    rows, lines = [], []
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            s = line.strip()
            if not s or s.startswith(_COMMENT):
                continue
            rows.append([p for p in _SPLIT.split(s) if p])
            lines.append(lineno)
    return rows, lines


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def read_gyro_text(
    path: str | os.PathLike,
    columns: str = "t,x,y,z",
    gyro_units: str = "rad/s",
    time_units: str = "s",
) -> ImuSamples:
    """Read a plain-text gyro log (see the module docstring for the format).

    Parameters
    ----------
    path : the log.
    columns : names of the file's columns in order (``t``, ``x``, ``y``, ``z``, ``_``).
    gyro_units : ``'rad/s'``, ``'deg/s'`` or ``'auto'`` (rad/s unless a value exceeds
        :data:`AUTO_DEG_ABOVE_RAD_S`, then deg/s; ``meta['gyro_units']`` says which).
    time_units : ``'s'``, ``'ms'``, ``'us'`` or ``'ns'``.

    Returns
    -------
    ImuSamples on the log's clock [s], gyro [rad/s] with x, y, z as given.

    Raises
    ------
    TelemetryError : missing file, wrong column count, non-numeric values, unknown units,
        a sample rate no gyro has (wrong ``time_units``), NaN, time going backwards.

    Examples
    --------
    >>> imu = read_gyro_text("gyro.txt", columns="x,y,z,t")  # doctest: +SKIP
    """
    path = Path(path)
    names = parse_columns(columns)
    g_scale = _unit(gyro_units, GYRO_UNITS, "gyro", "--gyro-units")
    t_scale = _unit(time_units, TIME_UNITS, "time", "--time-units")
    if not path.is_file():
        raise TelemetryError(f"gyro log not found: {path}", "check the path given with --gyro")
    rows, lines = _numeric_rows(path)
    if rows and not all(_is_number(v) for v in rows[0]):
        rows, lines = rows[1:], lines[1:]  # a header line
    if not rows:
        raise TelemetryError(f"{path} holds no gyro samples", "give a text log with one sample per line")
    ncol = len(names)
    for row, ln in zip(rows, lines):
        if len(row) != ncol:
            raise TelemetryError(
                f"{path}:{ln}: {len(row)} values but --gyro-columns names {ncol} ({','.join(names)})",
                "name every column of the log in order with --gyro-columns (use _ for columns to ignore)",
            )
    try:
        data = np.array(rows, dtype=np.float64)
    except ValueError:
        for row, ln in zip(rows, lines):
            bad = [v for v in row if not _is_number(v)]
            if bad:
                raise TelemetryError(
                    f"{path}:{ln}: {bad[0]!r} is not a number", "remove or comment out (#) lines that are not samples"
                ) from None
        raise
    t = data[:, names.index("t")] * t_scale
    g = np.stack([data[:, names.index(a)] for a in "xyz"], axis=-1) * g_scale
    if str(gyro_units).strip().lower() == "auto":
        finite = np.isfinite(g)
        fast = bool(finite.any() and np.max(np.abs(g[finite])) > AUTO_DEG_ABOVE_RAD_S)
        g, gyro_units = (g * (np.pi / 180.0), "deg/s (auto: values beyond any camera's rad/s)") if fast else (g, "rad/s (auto)")
    samples = validate_imu(
        ImuSamples(t, g, None, str(path), {"format": "text", "columns": ",".join(names), "gyro_units": gyro_units,
                                          "time_units": time_units})
    )
    rate = samples.rate_hz
    if not 10.0 <= rate <= 50_000.0:
        raise TelemetryError(
            f"{path}: the timestamps give a sample rate of {rate:.4g} Hz, which no gyro has",
            f"check --time-units (now {time_units!r}) and that --gyro-columns puts t on the time column",
        )
    return samples


def read_frame_timestamps(path: str | os.PathLike, time_units: str = "s") -> dict[int, float]:
    """Frame number -> timestamp [s] from a frame-timestamp file.

    One value per line: line k (1-based, comments and a header excluded) is frame k. Two or more
    columns: column 1 is the frame number, column 2 the timestamp (``frames.csv`` style).
    """
    path = Path(path)
    t_scale = _unit(time_units, TIME_UNITS, "time", "--time-units")
    if not path.is_file():
        raise TelemetryError(f"frame-timestamp file not found: {path}", "check the path given with --frame-timestamps")
    rows, lines = _numeric_rows(path)
    if rows and not all(_is_number(v) for v in rows[0]):
        rows, lines = rows[1:], lines[1:]
    out: dict[int, float] = {}
    for k, (row, ln) in enumerate(zip(rows, lines), start=1):
        try:
            if len(row) == 1:
                frame, value = k, float(row[0]) * t_scale
            else:
                number = float(row[0])
                if not number.is_integer():
                    raise ValueError
                frame, value = int(number), float(row[1]) * t_scale
        except (ValueError, OverflowError):
            raise TelemetryError(f"{path}:{ln}: {' '.join(row)[:40]!r} is not a timestamp line",
                                 "one timestamp per line, or frame,timestamp (remove or comment out other lines)") from None
        if not np.isfinite(value):
            raise TelemetryError(f"{path}:{ln}: timestamp is NaN or infinite", "repair or re-export the timestamp file")
        if frame in out:
            raise TelemetryError(f"{path}:{ln}: frame {frame} appears twice", "give each frame number once")
        out[frame] = value
    if not out:
        raise TelemetryError(f"{path} holds no frame timestamps", "one timestamp per line, or frame,timestamp")
    return out


def start_offset_from_frame_timestamps(path: str | os.PathLike, first_frame: int = 1, time_units: str = "s") -> float:
    """Starting gyro offset [s] for a video whose first frame is frame ``first_frame`` of the file.

    The offset is ``-t(first_frame)``: a log sample at log time ``T`` belongs to video time
    ``T - t(first_frame)`` (the video clock starts at 0 at that frame). The timestamps must be
    on the gyro log's clock.

    Examples
    --------
    >>> start_offset_from_frame_timestamps("framestamp.txt", first_frame=99)  # doctest: +SKIP
    -4328043.6242709998
    """
    stamps = read_frame_timestamps(path, time_units)
    if first_frame not in stamps:
        lo, hi = min(stamps), max(stamps)
        raise TelemetryError(
            f"frame {first_frame} is not in {path} (frames {lo}..{hi})",
            "give the number of the video's first frame with --first-frame (1-based line number)",
        )
    return -float(stamps[first_frame])
