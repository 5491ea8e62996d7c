"""``fusedstab demo``: simulate, stabilize, compare side by side. No files needed."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console

from ..errors import InputError, OutputError
from ..io.video import VideoWriter, iter_frames, probe_video
from .progress import progress_reporter

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run", "side_by_side"]

HELP = "simulate a shaky clip, stabilize it, write a side-by-side video"
DESCRIPTION = ("Simulate a short shaky clip with its gyro log and lens profile, stabilize it, and write input, output "
               "and a side-by-side comparison video into OUTDIR.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``fusedstab demo``."""
    p.add_argument("--outdir", type=Path, default=Path("fusedstab-demo"), help="where to write (default ./fusedstab-demo)")
    p.add_argument("--scenario", default="walk", help="simulated motion: still, walk, run, pan, turn (default walk)")
    p.add_argument("--duration", type=float, default=4.0, help="clip length in seconds (default 4)")
    p.add_argument("--size", default="640x360", help="frame size WxH (default 640x360)")
    p.add_argument("--readout-ms", type=float, default=0.0, help="simulated rolling-shutter readout (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def side_by_side(left: str | Path, right: str | Path, output: str | Path, *, labels=("input", "fusedstab")) -> Path:
    """Write a video with ``left`` and ``right`` next to each other (streamed, labelled).

    Frames are paired by index; the shorter clip decides the length. ``right`` is resized to
    ``left``'s height when they differ.
    """
    info = probe_video(left)
    h, w = info.height_px, info.width_px
    with VideoWriter(output, info, 2 * w, h, copy_audio_from=None) as writer:
        for (pts, a), (_, b) in zip(iter_frames(left), iter_frames(right)):
            if b.shape[:2] != (h, w):
                b = cv2.resize(b, (w, h), interpolation=cv2.INTER_AREA)
            frame = np.hstack([a, b])
            for x0, text in ((0, labels[0]), (w, labels[1])):
                cv2.putText(frame, text, (x0 + 12, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 4, cv2.LINE_AA)
                cv2.putText(frame, text, (x0 + 12, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2, cv2.LINE_AA)
            writer.write(frame, pts)
    return Path(output)


def run(args: argparse.Namespace, console: Console) -> int:
    """Simulate, stabilize and compare into ``--outdir``; a failed run leaves nothing of its own there."""
    from ..measure.simulate import SimConfig

    try:
        width, height = (int(v) for v in str(args.size).lower().split("x"))
    except ValueError:
        raise InputError(f"--size must look like 640x360, got {args.size!r}", "give the size as WIDTHxHEIGHT") from None
    outdir = Path(args.outdir)
    cfg = SimConfig(
        scenario=args.scenario, width_px=width, height_px=height, duration_s=args.duration,
        readout_s=args.readout_ms / 1000.0, seed=0,
    )
    cfg.validate()  # before anything is written
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"--outdir {outdir} exists and is not a folder", "give a new or existing folder for the demo's files")
    created_dir = not outdir.exists()
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create --outdir {outdir}: {exc.strerror}", "give a folder you can write to") from None
    before = set(outdir.iterdir())
    try:
        return _run_demo_in(outdir, cfg, args, console)
    except BaseException:
        # a failed or interrupted demo leaves nothing of its own behind
        for p in set(outdir.iterdir()) - before:
            if p.is_file() or p.is_symlink():
                p.unlink()
        if created_dir and not any(outdir.iterdir()):
            outdir.rmdir()
        raise


def _run_demo_in(outdir: Path, cfg, args, console: Console) -> int:
    from ..measure.simulate import simulate
    from ..pipeline import StabilizeOptions, stabilize

    prefix = outdir / f"{args.scenario}"
    with progress_reporter(console, args.quiet) as cb:
        simulate(prefix, cfg, progress=(lambda d, n: cb("simulate", d, n)) if cb else None)
        video = Path(str(prefix) + ".mp4")
        out = outdir / f"{args.scenario}.stabilized.mp4"
        opts = StabilizeOptions(gyro=Path(str(prefix) + ".gcsv"), lens=Path(str(prefix) + ".lens.json"))
        report = stabilize(video, out, opts, progress=cb)
        sbs = side_by_side(video, out, outdir / f"{args.scenario}.side_by_side.mp4")
    if not args.quiet:
        console.print(f"simulated [bold]{args.scenario}[/] clip: {video}")
        console.print(f"gyro log: {prefix}.gcsv, lens profile: {prefix}.lens.json, truth: {prefix}.truth.npz")
        console.print(f"stabilized: {out}  (zoom {report.zoom:.3f}, {report.fps:.1f} fps)")
        console.print(f"side by side: {sbs}")
    return 0
