"""Lens-motion log: OIS shift and focus breathing over time (CSV).

Format (see docs/LENS_MOTION_CSV.md): a header row, then one row per sample::

    t_s,ois_x_px,ois_y_px,focus_pos,focal_scale

``t_s`` is on the gyro log's clock (the same offset places both on the video clock);
``ois_x_px, ois_y_px`` are added to the principal point (pixels at the lens profile's
resolution after scaling to the video); ``focal_scale`` multiplies both focal lengths.
``focus_pos`` is informational when ``focal_scale`` is present. Lines starting with ``#``
are comments. Missing OIS columns mean no shift; a missing ``focal_scale`` means 1.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ..errors import TelemetryError
from ..types import LensMotion

__all__ = ["read_lens_motion", "write_lens_motion", "find_lens_motion_sidecar", "COLUMNS"]

COLUMNS = ("t_s", "ois_x_px", "ois_y_px", "focus_pos", "focal_scale")


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def find_lens_motion_sidecar(video: str | os.PathLike) -> Path | None:
    """``clip.lens.csv`` beside ``clip.mp4``, if present."""
    cand = Path(video).with_suffix(".lens.csv")
    return cand if cand.exists() else None


def read_lens_motion(path: str | os.PathLike, *, scale_xy: tuple[float, float] = (1.0, 1.0)) -> LensMotion:
    """Read a lens-motion CSV. ``scale_xy`` rescales OIS pixels to another resolution.

    Times stay on the log clock; shift with :meth:`LensMotion.shifted`.
    """
    path = Path(path)
    hint = f"write the lens-motion log as CSV with columns {','.join(COLUMNS)} (see docs/LENS_MOTION_CSV.md)"
    if not path.is_file():
        what = "not found" if not path.exists() else "not a regular file"
        raise TelemetryError(f"lens-motion log {path} is {what}", "check the path given with --lens-motion")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if r and not r[0].lstrip().startswith("#")]
    except OSError as exc:
        raise TelemetryError(f"cannot read lens-motion log {path}: {exc}", "check the path") from None
    except UnicodeDecodeError as exc:
        raise TelemetryError(f"lens-motion log {path} is not UTF-8 text (byte {exc.start})", hint) from None
    except csv.Error as exc:
        raise TelemetryError(f"lens-motion log {path} is not CSV: {exc}", hint) from None
    if len(rows) < 3:
        raise TelemetryError(f"lens-motion log {path} has fewer than 2 samples", hint)
    header = [h.strip() for h in rows[0]]
    if "t_s" not in header:
        raise TelemetryError(f"lens-motion log {path} has no t_s column (header: {str(header)[:120]})", hint)
    if len(set(header)) != len(header):
        raise TelemetryError(f"lens-motion log {path} names a column twice (header: {str(header)[:120]})", hint)
    values = []
    for k, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise TelemetryError(f"lens-motion log {path}: data row {k - 1} has {len(r)} values, the header "
                                 f"names {len(header)} columns", hint)
        try:
            values.append([float(v) for v in r])
        except ValueError:
            bad = next(v for v in r if not _is_float(v))
            raise TelemetryError(f"lens-motion log {path}: data row {k - 1}: {bad[:30]!r} is not a number", hint) from None
    data = np.array(values, dtype=np.float64)
    col = {name: data[:, i] for i, name in enumerate(header)}
    t = col["t_s"]
    if not np.all(np.isfinite(data)):
        raise TelemetryError(f"lens-motion log {path} holds NaN or infinite values", hint)
    if np.any(np.diff(t) <= 0):
        raise TelemetryError(f"lens-motion log {path}: times are not strictly increasing", hint)
    n = len(t)
    ois = np.stack([col.get("ois_x_px", np.zeros(n)) * scale_xy[0], col.get("ois_y_px", np.zeros(n)) * scale_xy[1]], -1)
    scale = col.get("focal_scale", np.ones(n))
    if np.any(scale <= 0.5) or np.any(scale >= 2.0):
        raise TelemetryError(f"lens-motion log {path}: focal_scale outside (0.5, 2)", "focal_scale is a ratio near 1.0")
    return LensMotion(t, ois, scale)


def write_lens_motion(path: str | os.PathLike, times_s, ois_shift_px, focus_pos, focal_scale) -> Path:
    """Write a lens-motion CSV (times on the gyro log clock)."""
    path = Path(path)
    arr = np.column_stack([times_s, np.asarray(ois_shift_px)[:, 0], np.asarray(ois_shift_px)[:, 1], focus_pos, focal_scale])
    with path.open("w", newline="", encoding="utf-8") as fh:
        fh.write(",".join(COLUMNS) + "\n")
        for r in arr:
            fh.write(f"{r[0]:.6f},{r[1]:.6f},{r[2]:.6f},{r[3]:.6f},{r[4]:.8f}\n")
    return path
