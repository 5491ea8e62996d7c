"""``fusedstab evaluate ORIGINAL STABILIZED``: quality metrics of a stabilized video.

Metric definitions live in :mod:`fusedstab.measure.metrics`, the table in
:mod:`fusedstab.measure.table`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError
from ..measure.table import format_table
from .progress import progress_reporter

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "measure stability, crop, distortion and jitter of a result"
DESCRIPTION = "``fusedstab evaluate ORIGINAL STABILIZED``: quality metrics of a stabilized video."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``evaluate`` subcommand's arguments to ``parser``."""
    parser.add_argument("original", type=Path, help="the original (unstabilized) video")
    parser.add_argument("stabilized", type=Path, help="the stabilized video to score")
    parser.add_argument("--truth", type=Path, default=None, metavar="PREFIX.truth.npz",
                        help="simulator ground truth PREFIX.truth.npz (written by fusedstab simulate)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N", help="evaluate only the first N frames")
    parser.add_argument("--sigma", type=float, default=0.5, metavar="SECONDS",
                        help="Gaussian sigma [s] separating jitter from intended motion (default 0.5)")
    parser.add_argument("--per-frame", action="store_true", help="include per-frame series in the JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace, console) -> int:
    """Run the subcommand; returns the exit code. Bad inputs raise :class:`InputError`."""
    from ..measure.metrics import evaluate

    for p in (args.original, args.stabilized):
        if not Path(p).is_file():
            raise InputError(f"video file not found: {p}", "check the path")
    if args.truth is not None and not Path(args.truth).is_file():
        raise InputError(f"truth file not found: {args.truth}", "give PREFIX.truth.npz written by `fusedstab simulate`")
    if args.max_frames is not None and args.max_frames < 3:
        raise InputError(f"--max-frames must be at least 3, got {args.max_frames}", "give a larger N")
    if not 0 < args.sigma <= 10:
        raise InputError(f"--sigma must be in (0, 10] seconds, got {args.sigma}", "give seconds, e.g. --sigma 0.5")
    with progress_reporter(console, args.json or getattr(args, "quiet", False)) as cb:
        res = evaluate(
            args.original,
            args.stabilized,
            args.truth,
            max_frames=args.max_frames,
            sigma_s=args.sigma,
            per_frame=getattr(args, "per_frame", False),
            progress=(lambda done, total: cb("evaluate", done, total)) if cb else None,
        )
    if args.json:
        console.print_json(json.dumps(res)) if hasattr(console, "print_json") else print(json.dumps(res))
    else:
        console.print(format_table(res))
    return 0
