"""``fusedstab report INPUT OUTPUT``: the HTML page of a run made earlier.

The page itself is built by :mod:`fusedstab.measure.report`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import InputError
from ..measure.report import (
    evaluate_for_report,
    report_from_plan,
    require_matplotlib,
    write_report,
)
from .options import add_stabilize_option_group, options_from_args
from .progress import progress_reporter

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "an HTML page explaining a run: before/after player, plots, metrics"
DESCRIPTION = "``fusedstab report INPUT OUTPUT``: an HTML page that explains a stabilization run."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``fusedstab report INPUT OUTPUT [-d DIR] [stabilize options]``."""
    parser.add_argument("input", type=Path, help="the original video")
    parser.add_argument("output", type=Path, help="its stabilized version (fusedstab stabilize INPUT -o OUTPUT)")
    parser.add_argument("-d", "--dir", type=Path, default=None, metavar="DIR",
                        help="where to write index.html and the two videos (default: OUTPUT's name + .report)")
    parser.add_argument("--no-metrics", action="store_true", help="skip the evaluate metrics table (faster)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress")
    parser.epilog = ("The plan is computed again from INPUT (stages 1-2, no rendering): give the same stabilize "
                     "options as the run that wrote OUTPUT so the plots describe it.")
    add_stabilize_option_group(parser, "stabilize options (the same as the run that wrote OUTPUT)")


def run(args: argparse.Namespace, console) -> int:
    """Re-plan INPUT with the given options, then write the page next to OUTPUT."""
    from ..pipeline import plan_stabilization

    require_matplotlib()
    for p in (args.input, args.output):
        if not Path(p).is_file():
            raise InputError(f"video file not found: {p}", "check the path")
    opts = options_from_args(args)
    outdir = args.dir or Path(str(args.output) + ".report")
    t0 = time.perf_counter()
    with progress_reporter(console, args.quiet) as cb:
        plan = plan_stabilization(args.input, opts, progress=cb)
        metrics, note = (None, "metrics skipped (--no-metrics)") if args.no_metrics else \
            evaluate_for_report(args.input, args.output, cb)
    rep = report_from_plan(plan, args.input, args.output, opts, time.perf_counter() - t0)
    page = write_report(plan, rep, outdir, options=opts, metrics=metrics, metrics_note=note)
    if not args.quiet:
        console.print(f"report: {page}", highlight=False, soft_wrap=True)
    return 0
