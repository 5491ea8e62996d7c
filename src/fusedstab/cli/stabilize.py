"""``fusedstab stabilize INPUT -o OUTPUT``: the three stages end to end on one clip."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .options import add_stabilize_options, options_from_args
from .progress import progress_reporter

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "stabilize a video with its gyro data, or from the video alone"
DESCRIPTION = ("Stabilize INPUT with gyro data (embedded in the file, a .gcsv beside it, or --gyro) checked against "
               "the video's own motion (or the video alone, --motion video), and write an H.264 MP4 with the same "
               "frame count, timestamps and audio.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``fusedstab stabilize``."""
    p.add_argument("input", type=Path, help="video to stabilize")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output video: .mp4, .m4v, .mov or .mkv, the container follows the extension (never the "
                   "input, never a device or other special file; written to a temporary file and renamed)")
    add_stabilize_options(p)
    p.add_argument("--report", type=Path, default=None, metavar="DIR",
                   help="also write DIR/index.html: before/after player, plots of the plan, metrics, warnings "
                   "(needs the 'report' extra; fusedstab report INPUT OUTPUT does it after the fact)")
    p.add_argument("--json", action="store_true", help="print the run's report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary (errors still print)")


def _print_report(console: Console, report) -> None:
    t = Table(show_header=False, box=None)
    d = report.as_dict()
    for key in ("output", "frames", "motion_source", "residual", "corridor", "smoothness_s", "gyro_agreement", "fov_keep", "zoom", "fov_kept", "width_kept", "gyro_source", "gyro_rate_hz", "offset_ms", "offset_source",
                "sync_confidence", "imu_orientation", "readout_ms", "readout_source", "lens", "lens_profile", "lens_motion", "gyro_bias_rad_s", "backend", "seconds", "fps"):
        t.add_row(key, str(d[key]))
    if d.get("predicted_jitter"):
        pj = d["predicted_jitter"]
        t.add_row("predicted_jitter", f"{pj['input_px']:.2f} -> {pj['output_px']:.2f} px (input -> output)")
    console.print(t)


def run(args: argparse.Namespace, console: Console) -> int:
    """Stabilize INPUT into OUTPUT; print the run's report (a table, or JSON with ``--json``)."""
    from ..pipeline import stabilize

    opts = options_from_args(args)
    plans: list = []
    if args.report is not None:
        from ..measure.report import require_matplotlib

        require_matplotlib()  # before the long run, not after it
    with progress_reporter(console, args.quiet or args.json) as cb:
        report = stabilize(args.input, args.output, opts, progress=cb, on_plan=plans.append)
        if args.report is not None:
            from ..measure.report import report_after_stabilize

            report_after_stabilize(plans[0], report, args.report, opts, cb, console=None if (args.json or args.quiet) else console)
    err = Console(stderr=True)  # warnings never mix with the report on stdout (--json)
    for w in report.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
    if args.json:
        console.print_json(json.dumps(report.as_dict()))
    elif not args.quiet:
        _print_report(console, report)
    return 0
