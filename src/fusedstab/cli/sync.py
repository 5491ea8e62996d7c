"""Estimate the gyro-video time offset, rolling-shutter readout and IMU axis mapping from the video.

``fusedstab sync INPUT [--gyro LOG] ...`` tracks features between frames, compares the image
motion with the gyro and prints the offset (the gyro sample read at log time T belongs to
video time T + offset), the readout when it was estimated, the IMU orientation used and a
confidence. Use the printed values with ``fusedstab stabilize --gyro-offset-ms ... --readout-ms
... --imu-orientation ...``. See :mod:`fusedstab.analysis.sync` for the algorithm.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from rich.console import Console

from ..errors import InputError
from ..io.gyro_source import load_gyro, start_offset_ms
from ..io.lens import LENS_DIR_ENV
from .options import add_gyro_source_arguments, add_sync_arguments, number
from .progress import progress_reporter

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "estimate the gyro-video offset and readout time from the video"
DESCRIPTION = "Estimate the gyro-video time offset, rolling-shutter readout and IMU axis mapping from the video."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``fusedstab sync``."""
    from ..pipeline import DEFAULT_FOV_DEG

    parser.add_argument("input", type=Path, help="video to synchronize with its gyro log")
    parser.add_argument("--gyro", type=Path, default=None, metavar="LOG",
                        help="gyro log (Gyroflow .gcsv, any format telemetry-parser reads, or a plain-text log); "
                        "default: embedded in INPUT, or INPUT's name with .gcsv beside it")
    parser.add_argument("--lens", type=Path, default=None, metavar="PROFILE",
                        help="Gyroflow lens profile JSON, or a folder of them searched for this camera's; default: a pinhole "
                        f"lens with --fov (or the folder ${{{LENS_DIR_ENV}}} names)")
    parser.add_argument("--fov", type=number, default=None, metavar="DEG",
                        help="horizontal field of view when no --lens is given; default: estimated from the video, "
                        f"starting from {DEFAULT_FOV_DEG:g}")
    parser.add_argument("--gyro-offset-ms", type=number, default=None, metavar="START",
                        help="starting offset of the search [ms] (default: from --frame-timestamps, else 0)")
    add_sync_arguments(parser)
    parser.add_argument("--readout-ms", type=number, default=None, metavar="R",
                        help="known rolling-shutter readout [ms] (negative: rows read bottom to top); default: lens "
                        "profile, then file metadata, else estimated (up to one frame period, either direction)")
    add_gyro_source_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON (no progress)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress")
    parser.set_defaults(func=run)


def run(args, console) -> int:
    """``fusedstab sync``: print the estimated offset, readout, IMU orientation and confidence."""
    from ..analysis.sync import estimate_sync
    from ..io.video import probe_video
    from ..pipeline import (
        check_imu_orientation,
        file_lens,
        resolve_lens,
        source_camera,
        source_lens_motion,
    )
    from ..validation import STABILIZE_RANGES, check_number

    for field, value in (("fov_deg", args.fov), ("gyro_offset_ms", args.gyro_offset_ms),
                         ("sync_search_ms", args.sync_search_ms), ("readout_ms", args.readout_ms),
                         ("first_frame", args.first_frame)):
        check_number(value, field, STABILIZE_RANGES[field], cli=True)
    info = probe_video(args.input)
    if info.frame_count < 5:
        raise InputError(f"{args.input} has only {info.frame_count} frames", "give a clip of at least a second")
    imu, is_text = load_gyro(args.input, args.gyro, columns=args.gyro_columns, gyro_units=args.gyro_units,
                             time_units=args.time_units)
    lens_motion = source_lens_motion(args.input)
    if info.slow_motion > 1.0:  # a slow-motion clip: the logs on the clip's clock, as stabilize has them
        imu = imu.slowed(info.slow_motion)
        lens_motion = lens_motion.slowed(info.slow_motion) if lens_motion is not None else None
    lens_notes: list[str] = []
    args.lens = resolve_lens(args.input, info, imu, args.lens, args.fov, lens_notes)[0]  # a folder: its first
    for note in lens_notes:
        Console(stderr=True).print(f"[yellow]warning:[/] {note}", highlight=False)
    # no profile: the lens the file states (its field of view), as stabilize draws it
    own = file_lens(info, imu.meta) if args.lens is None and args.fov is None else None
    camera, readout_s, readout_source = source_camera(info, imu, lens=args.lens, fov_deg=args.fov,
                                                      readout_ms=args.readout_ms, lens_camera=own)
    readout_ms = None if readout_source.startswith("unknown") else readout_s * 1000.0
    orientation = check_imu_orientation(args.imu_orientation or ("auto" if is_text else "XYZ"))
    start_ms, start_source = start_offset_ms(args.gyro_offset_ms, args.frame_timestamps, args.first_frame,
                                             args.time_units)
    with progress_reporter(console, getattr(args, "quiet", False) or getattr(args, "json", False)) as cb:
        res = estimate_sync(args.input, imu, camera, start_offset_ms=start_ms,
                            search_ms=args.sync_search_ms if args.sync_search_ms is not None else 1000.0,
                            wide_search=args.sync_search_ms is None and start_source == "default 0",
                            readout_ms=readout_ms, imu_orientation=orientation, info=info,
                            estimate_focal=args.lens is None and args.fov is None and own is None,
                            lens_motion=lens_motion, progress=cb)
    hfov_deg = None
    if res.reliable and res.focal_scale != 1.0:
        hfov_deg = math.degrees(2 * math.atan(info.width_px / (2 * camera.fx_px * res.focal_scale)))
    out = {
        "offset_ms": round(res.offset_ms, 3),
        "offset_source": "auto-sync" if res.reliable else f"{start_source} (sync unreliable)",
        "start_offset_ms": round(start_ms, 3),
        # what the sync found relative to where it started (a log on another clock, such as a
        # phone's boot clock, gives offsets of hours; this is the part that is the sync's)
        "offset_from_start_ms": round(res.offset_ms - start_ms, 3),
        "readout_ms": round(res.readout_ms if res.readout_estimated else readout_ms, 3)
        if (res.readout_estimated or readout_ms is not None) else None,
        "readout_source": "estimated" if res.readout_estimated else readout_source,
        "imu_orientation": res.imu_orientation,
        "confidence": res.confidence,
        "reliable": res.reliable,
        "drift_ppm": round(res.drift_ppm, 2),
        "hfov_deg_estimated": round(hfov_deg, 2) if hfov_deg is not None else None,
        "residual_px": round(res.residual_px, 3) if res.residual_px is not None else None,
        "raw_motion_px": round(res.raw_motion_px, 3) if res.raw_motion_px is not None else None,
        "points": [{"time_s": round(p.time_s, 3), "offset_ms": round(p.offset_ms, 3),
                    "offset_from_start_ms": round(p.offset_ms - start_ms, 3), "used": p.used,
                    "residual_px": round(p.residual_px, 3)} for p in res.points],
        "message": res.message,
        "seconds": round(res.seconds, 2),
    }
    if getattr(args, "json", False):
        console.print_json(json.dumps(out))
        return 0 if res.reliable else 1
    if not res.reliable:
        console.print(f"[yellow]warning:[/] {res.message}; keeping the starting offset {start_ms:.3f} ms "
                      f"({start_source})", highlight=False)
    console.print(f"offset_ms        {out['offset_ms']:.3f}   ({out['offset_source']})", highlight=False)
    if start_ms != 0.0:
        console.print(f"                 = start {start_ms:.3f} ({start_source}) {out['offset_from_start_ms']:+.3f}",
                      highlight=False)
    if res.readout_estimated:
        console.print(f"readout_ms       {out['readout_ms']:.3f}   (estimated)", highlight=False)
    elif out["readout_ms"] is not None:
        console.print(f"readout_ms       {out['readout_ms']:.3f}   ({readout_source})", highlight=False)
    console.print(f"imu_orientation  {res.imu_orientation}", highlight=False)
    if hfov_deg is not None:
        console.print(f"hfov_deg         {hfov_deg:.2f}   (estimated; pinhole lens)", highlight=False)
    console.print(f"confidence       {res.confidence:.2f}" + ("" if res.reliable else "   (unreliable)"), highlight=False)
    if len(res.points) > 1:
        console.print(f"drift_ppm        {res.drift_ppm:.1f}   over {len(res.points)} sync points", highlight=False)
    if res.residual_px is not None:
        console.print(f"residual_px      {res.residual_px:.3f}   (raw inter-frame motion {res.raw_motion_px:.3f} px)",
                      highlight=False)
    return 0 if res.reliable else 1
