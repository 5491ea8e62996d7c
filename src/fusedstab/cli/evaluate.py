"""``fusedstab evaluate ORIGINAL STABILIZED``: quality metrics of a stabilized video.

The CLI imports :func:`add_arguments` and :func:`run`; metric definitions live in
:mod:`fusedstab.measure.metrics`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError

__all__ = ["add_arguments", "run", "format_table"]

# (key, label, format, better) for the table; original_* counterparts are shown beside.
_ROWS = [
    ("stability", "Stability (Liu 2013, 0..1)", "{:.3f}", "higher"),
    ("cropping", "Cropping ratio (mean)", "{:.3f}", "higher"),
    ("cropping_min", "Cropping ratio (min)", "{:.3f}", "higher"),
    ("distortion", "Distortion (min eig ratio)", "{:.3f}", "higher"),
    ("jitter_px", "High-pass jitter [px RMS]", "{:.3f}", "lower"),
    ("jitter_deg", "High-pass jitter [deg RMS]", "{:.4f}", "lower"),
    ("rs_residual_px", "RS residual [px, median]", "{:.3f}", "lower"),
    ("undefined_share_mean", "Undefined pixels (mean %)", "{:.2%}", "lower"),
    ("undefined_share_max", "Undefined pixels (max %)", "{:.2%}", "lower"),
]
METRIC_ROWS = _ROWS
_TRUTH_ROWS = [
    ("truth_output_jitter_deg", "Truth: output jitter [deg RMS]", "{:.4f}"),
    ("truth_input_jitter_deg", "Truth: input jitter [deg RMS]", "{:.4f}"),
    ("truth_residual_deg", "Truth: output vs smoothed truth [deg RMS]", "{:.4f}"),
    ("truth_residual_offset_removed_deg", "  same, constant offset removed [deg]", "{:.4f}"),
    ("truth_fit_rms_deg", "Truth: per-frame ray fit RMS [deg]", "{:.4f}"),
    ("truth_f_out_px", "Truth: output focal [px]", "{:.1f}"),
]


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


def _fmt(v, fmt: str) -> str:
    if v is None:
        return "n/a"
    try:
        return fmt.format(v)
    except (ValueError, TypeError):
        return str(v)


def format_table(res: dict):
    """A ``rich.table.Table`` of an :func:`fusedstab.measure.metrics.evaluate` result."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"fusedstab evaluate: {res.get('frames')} frames @ {res.get('fps')} fps")
    t.add_column("metric")
    t.add_column("original", justify="right")
    t.add_column("stabilized", justify="right")
    t.add_column("better", justify="center")
    for key, label, fmt, better in _ROWS:
        orig = res.get("original_" + key) if ("original_" + key) in res else None
        t.add_row(escape(label), _fmt(orig, fmt) if ("original_" + key) in res else "", _fmt(res.get(key), fmt), better)
    if res.get("cropping_implausible_frames"):
        t.caption = (f"{res['cropping_implausible_frames']} frame(s) left out of the cropping ratio: their match "
                     "implied a wider view than the original's (see docs/METRICS.md)")
    if "truth_residual_deg" in res:
        for key, label, fmt in _TRUTH_ROWS:
            label = escape(label)
            if key == "truth_input_jitter_deg":
                t.add_row(label, _fmt(res.get(key), fmt), "", "lower")
            else:
                t.add_row(label, "", _fmt(res.get(key), fmt), "" if key in ("truth_f_out_px", "truth_fit_rms_deg") else "lower")
    return t


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
    from . import progress_reporter

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
