"""``fusedstab simulate PREFIX``: write a synthetic shaky clip with its gyro log, lens profile and truth.

The simulator itself is :mod:`fusedstab.measure.simulate` (what each file holds is described there).
"""

from __future__ import annotations

import argparse
import re

from ..errors import InputError
from ..measure.simulate import LENSES, SCENARIOS, SimConfig, simulate

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "config_from_args", "run"]

HELP = "write a synthetic shaky clip with gyro log, lens and truth"
DESCRIPTION = "Ground-truth camera simulator: rolling shutter, OIS, focus breathing, motion blur."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fusedstab simulate``."""
    parser.add_argument("prefix", help="output prefix: writes PREFIX.mp4, PREFIX.gcsv, PREFIX.lens.json, PREFIX.truth.npz (+ PREFIX.lens.csv)")
    parser.add_argument("--scenario", choices=SCENARIOS, default="walk", help="camera motion: still (tripod), walk, run, pan, turn (default: walk)")
    parser.add_argument("--size", default="640x360", help="frame size WxH in pixels, even numbers (default: 640x360)")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate (default: 30)")
    parser.add_argument("--duration", type=float, default=4.0, help="clip length in seconds (default: 4)")
    parser.add_argument("--readout-ms", type=float, default=0.0, help="rolling-shutter readout time, top to bottom row, in ms (default: 0 = global shutter)")
    parser.add_argument("--lens", choices=LENSES, default="pinhole", help="lens model: pinhole or fisheye (OpenCV fisheye, mild distortion) (default: pinhole)")
    parser.add_argument("--hfov", type=float, default=70.0, help="horizontal field of view in degrees (default: 70)")
    parser.add_argument("--gyro-rate", type=float, default=200.0, help="gyro sample rate in Hz (default: 200)")
    parser.add_argument("--gyro-noise", type=float, default=0.002, help="gyro white noise per sample in rad/s (default: 0.002)")
    parser.add_argument("--ois", action="store_true", help="simulate an OIS lens shift (writes PREFIX.lens.csv)")
    parser.add_argument("--focus-breathing", action="store_true", help="simulate focus pulls with focal-length breathing (writes PREFIX.lens.csv)")
    parser.add_argument("--motion-blur", action="store_true", help="average sub-frames over the exposure time")
    parser.add_argument("--exposure-ms", type=float, default=1000.0 / 120.0, help="exposure time in ms for --motion-blur (default: 8.33)")
    parser.add_argument("--lead-ms", type=float, default=0.0, help="the gyro log starts this many ms before the first frame (default: 0)")
    parser.add_argument("--in-camera-eis", action="store_true", help="render the frames as an in-camera EIS outputs them (smoothed orientation, global shutter); the gyro log still records the body")
    parser.add_argument("--shake-scale", type=float, default=1.0, help="multiplies hand shake and footstep jolts (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for motion, scene and sensor noise (default: 0)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary")


def _parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX*]\s*(\d+)\s*", str(text))
    if not m:
        raise InputError(f"--size {text!r} is not WxH", "give the frame size as WIDTHxHEIGHT, e.g. --size 1920x1080")
    w, h = int(m.group(1)), int(m.group(2))
    if w < 32 or h < 32 or w % 2 or h % 2 or w > 8192 or h > 8192:
        raise InputError(f"--size {text} is not usable", "give even width and height between 32 and 8192, e.g. --size 1280x720")
    return w, h


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """Build a :class:`SimConfig` from parsed CLI arguments."""
    w, h = _parse_size(args.size)
    cfg = SimConfig(
        scenario=args.scenario,
        width_px=w,
        height_px=h,
        fps=float(args.fps),
        duration_s=float(args.duration),
        readout_s=float(args.readout_ms) / 1000.0,
        hfov_deg=float(getattr(args, "hfov", 70.0)),
        lens=args.lens,
        gyro_rate_hz=float(args.gyro_rate),
        gyro_noise_rad_s=float(getattr(args, "gyro_noise", 0.002)),
        lead_s=float(args.lead_ms) / 1000.0,
        ois=bool(args.ois),
        focus_breathing=bool(args.focus_breathing),
        motion_blur=bool(args.motion_blur),
        exposure_s=float(getattr(args, "exposure_ms", 1000.0 / 120.0)) / 1000.0,
        seed=int(args.seed),
        shake_scale=float(getattr(args, "shake_scale", 1.0)),
        in_camera_eis=bool(getattr(args, "in_camera_eis", False)),
    )
    cfg.validate()
    return cfg


def run(args: argparse.Namespace, console) -> int:
    """Run ``fusedstab simulate``; returns the exit code (errors raise FusedStabError)."""
    cfg = config_from_args(args)
    if getattr(args, "quiet", False):
        simulate(args.prefix, cfg)
        return 0
    try:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        prog = Progress(TextColumn("rendering"), BarColumn(), TextColumn("{task.completed}/{task.total} frames"), TimeRemainingColumn(), console=console, transient=True)
    except ImportError:  # pragma: no cover
        prog = None
    if prog is None:
        res = simulate(args.prefix, cfg)
    else:
        with prog:
            task = prog.add_task("render", total=cfg.frame_count)
            res = simulate(args.prefix, cfg, progress=lambda done, total: prog.update(task, completed=done, total=total))
    console.print(
        f"simulated [bold]{cfg.scenario}[/bold]: {res.frame_count} frames {cfg.width_px}x{cfg.height_px} @ {cfg.fps:g} fps "
        f"in {res.seconds:.1f} s (seed {cfg.seed})"
    )
    labels = {"video": res.video, "gyro log": res.gcsv, "lens profile": res.lens_json, "lens motion": res.lens_csv, "truth": res.truth}
    for label, p in labels.items():
        if p is not None:
            console.print(f"  {label:13s} {p}")
    return 0
