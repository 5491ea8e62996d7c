"""``fusedstab info INPUT``: what a video holds (streams, timing, telemetry), without decoding pixels."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import FusedStabError
from .options import add_gyro_source_arguments

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "what a video holds: streams, timing, telemetry"
DESCRIPTION = ("Print the streams, duration, frame rate and the telemetry found in INPUT (kind, IMU rate, units), "
               "and the readout time and in-camera stabilization when the file says so.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``fusedstab info``."""
    p.add_argument("input", type=Path, help="video file")
    p.add_argument("--gyro", type=Path, help="a separate gyro log to inspect as well (any log stabilize reads)")
    add_gyro_source_arguments(p)  # plain-text logs: --gyro-columns, units, --frame-timestamps
    p.add_argument("--lens", type=Path, default=None, metavar="PROFILE|DIR",
                   help="a lens profile to check against the video (aspect ratio, model, readout), or a folder of "
                   "them: the one the file's metadata ranks first for this camera, and the others stabilize plans "
                   "too and keeps where the picture follows them clearly better")
    p.add_argument("--json", action="store_true", help="print JSON")


def _motion_hint(meta: dict) -> str:
    """What ``stabilize --motion auto`` will do with this file's gyro, in one line."""
    from ..pipeline import motion_hint

    return motion_hint(meta)


def run(args: argparse.Namespace, console: Console) -> int:
    """Print what INPUT holds (a table, or JSON with ``--json``)."""
    from ..io.gyro_source import load_gyro, start_offset_ms
    from ..io.telemetry import find_sidecar_log
    from ..io.video import probe_video

    info = probe_video(args.input)
    out = {"video": info.as_dict()}
    source = args.gyro or find_sidecar_log(args.input) or args.input
    try:
        imu, is_text = load_gyro(args.input, args.gyro, columns=args.gyro_columns, gyro_units=args.gyro_units,
                                 time_units=args.time_units)
        t0, t1 = float(imu.times_s[0]), float(imu.times_s[-1])
        start_ms, start_source = start_offset_ms(None, args.frame_timestamps, args.first_frame, args.time_units)
        out["telemetry"] = {
            "source": str(source),
            "kind": imu.meta.get("camera") or ("plain-text log" if is_text else Path(source).suffix.lstrip(".")),
            "samples": int(len(imu.times_s)),
            "imu_rate_hz": round(imu.rate_hz, 2),
            "duration_s": round(t1 - t0, 4),
            # on the video's clock when the log's clock is known (--frame-timestamps), else the log's own
            "span_s": [round(t0 + start_ms / 1000.0, 4), round(t1 + start_ms / 1000.0, 4)],
            "span_clock": ("video (log clock + offset from --frame-timestamps)" if args.frame_timestamps
                           else "the log's own clock" + (" (not the video's: give --frame-timestamps)"
                                                         if abs(t0) > max(60.0, 10 * info.duration_s) else "")),
            "gyro_units": "rad/s (camera frame: x right, y down, z forward; read as deg/s, Gyroflow frame)",
            "accelerometer": imu.accel_m_s2 is not None,
            "readout_ms": round(imu.meta["readout_s"] * 1000.0, 3) if "readout_s" in imu.meta else None,
            "exposure_ms": round(imu.meta["exposure_s"] * 1000.0, 3) if "exposure_s" in imu.meta else None,
            "in_camera_stabilization": imu.meta.get("in_camera_stabilization"),
            "lens_mode": imu.meta.get("lens_mode"),  # GoPro's field-of-view setting (Wide, Medium, Linear, ...)
            "diagonal_fov_deg": imu.meta.get("diagonal_fov_deg"),  # GoPro ZFOV
            "motion": _motion_hint(imu.meta),
        }
    except FusedStabError as exc:
        out["telemetry"] = None
        out["telemetry_error"] = exc.message
        out["motion"] = "no gyro: --motion auto stabilizes from the video's own motion"
    if args.lens is not None:
        out["lens"] = _lens_report(args, info, imu if out.get("telemetry") else None)
    if args.json:
        console.print_json(json.dumps(out))
        return 0
    # never truncate: long paths fold onto the next line instead of ending in "..."
    t = Table(title=str(args.input), show_header=False, title_justify="left")
    t.add_column("key", no_wrap=True)
    t.add_column("value", overflow="fold")
    for k, v in out["video"].items():
        t.add_row(k, escape(str(v)))
    if out["telemetry"]:
        for k, v in out["telemetry"].items():
            t.add_row(f"telemetry.{k}", escape(str(v)))
    else:
        t.add_row("telemetry", escape(f"none ({out['telemetry_error']})"))
        t.add_row("motion", out["motion"])
    for k, v in (out.get("lens") or {}).items():
        t.add_row(f"lens.{k}", escape(str(v)))
    console.print(t)
    return 0


def _lens_report(args: argparse.Namespace, info, imu) -> dict:
    """``--lens``: the profile the metadata gives this video and what fusedstab reads from it (a
    folder: the first in rank and the candidates stabilize also plans against the picture, which
    info does not: it decodes no pixels; a file: its fit). A profile that does not fit is
    reported, not raised."""
    from ..errors import LensError
    from ..io.lens import load_lens_profile
    from ..pipeline import resolve_lens

    notes: list[str] = []
    path, alternatives = resolve_lens(args.input, info, imu, args.lens, None, notes)
    rep: dict = {"ranked_first" if args.lens.is_dir() else "profile": str(path) if path else None}
    if path is not None:
        try:
            cam = load_lens_profile(path, info.width_px, info.height_px, info.fps * info.slow_motion)
            rep.update(name=cam.name, model=cam.model, focal_px=round(float(cam.fx_px), 2),
                       readout_ms=round(cam.readout_s * 1000.0, 3) if cam.readout_s else None)
        except LensError as exc:
            rep["error"] = f"{exc.message} (fix: {exc.hint})"
    if alternatives:
        rep["stabilize_also_tries"] = [str(p) if p is not None else "the file's own lens (its field of view)"
                                       for p, _ in alternatives]
    if notes:
        rep["notes"] = notes
    return rep
