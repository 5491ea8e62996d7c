"""``fusedstab batch INPUTS... -o OUTDIR``: the command's arguments, progress lines and summary table.

The clips are found, planned and run by :mod:`fusedstab.batch` (the library side: one process
or one Ray task per clip, the per-clip files and what counts as done).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..batch import (
    collect_inputs,
    is_done,
    options_to_dict,
    plan_jobs,
    run_local,
    run_ray,
)
from ..errors import InputError
from .options import add_stabilize_option_group, options_from_args

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "stabilize many clips with the same options (locally or on Ray)"
DESCRIPTION = "``fusedstab batch INPUTS... -o OUTDIR``: stabilize many clips with the same options."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``fusedstab batch``: its own, then every ``stabilize`` option."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="video files, folders (their videos) and quoted globs ('clips/**/*.MP4')")
    parser.add_argument("-o", "--outdir", type=Path, required=True,
                        help="where NAME.stab.mp4, NAME.log, NAME.json (and NAME.report/) go")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                        help="clips at a time (default 1; each uses several cores already); with --ray and no "
                        "ADDRESS, the CPUs of the local Ray instance")
    parser.add_argument("--overwrite", action="store_true", help="redo clips already done (default: skip them)")
    parser.add_argument("--report", action="store_true", help="also write NAME.report/index.html per clip")
    parser.add_argument("--no-metrics", action="store_true", help="with --report: no evaluate metrics (faster)")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run one Ray task per clip: no ADDRESS = a local Ray instance (or the cluster "
                        "RAY_ADDRESS names), 'auto' = the cluster this machine belongs to, ray://HOST:10001 = a "
                        "remote one; paths must be on storage every node sees (needs the 'cluster' extra)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="only the summary")
    add_stabilize_option_group(parser, "stabilize options (the same for every clip)")


def _progress_line(r: dict, k: int, n: int) -> str:
    extra = f" ({r['seconds']} s)" if r.get("seconds") is not None else ""
    return f"[{k}/{n}] {r['status']:<6} {r['name']}{extra}" + (" (reason at the end)" if r["status"] == "failed" else "")


def run(args: argparse.Namespace, console) -> int:
    """Stabilize every clip not done yet; print the summary. Exit status 1 when any clip failed."""
    from rich.markup import escape
    from rich.table import Table

    if args.jobs < 1:
        raise InputError(f"-j must be at least 1, got {args.jobs}", "give the number of clips to run at a time")
    opts = options_from_args(args)  # every option checked once, before any clip starts
    inputs, problems = collect_inputs(args.inputs)
    if not inputs:
        raise InputError("no videos to stabilize: " + "; ".join(problems), "give video files, folders or globs")
    per_clip = [n for n, v in (("--gyro", opts.gyro), ("--frame-timestamps", opts.frame_timestamps),
                               ("--lens-motion", opts.lens_motion)) if v is not None]
    if per_clip and len(inputs) > 1:
        raise InputError(f"{', '.join(per_clip)} name one clip's file, but {len(inputs)} clips were given",
                         "put each clip's log beside it (NAME.gcsv, NAME.lens.csv) or run stabilize per clip")
    if args.report:
        from ..measure.report import require_matplotlib

        require_matplotlib()
    args.outdir.mkdir(parents=True, exist_ok=True)
    err = console if getattr(console, "stderr", False) else None
    from rich.console import Console

    err = err or Console(stderr=True, highlight=False, soft_wrap=True)
    for p in problems:
        err.print(f"[yellow]warning:[/] {escape(p)}")
    jobs = plan_jobs(inputs, args.outdir)
    todo, results = [], {}
    for i, job in enumerate(jobs):
        if not args.overwrite and is_done(job, args.report):
            r = json.loads(Path(job["result"]).read_text())
            results[i] = dict(r, status="skipped", seconds=0.0)
        else:
            todo.append(i)
    quiet = args.quiet or args.json
    if not quiet:
        err.print(f"{len(jobs)} clips: {len(todo)} to stabilize, {len(jobs) - len(todo)} already done"
                  + (f" ({'Ray' if args.ray is not None else 'local'}, " + (f"{args.jobs} at a time)" if args.ray is None
                                                                           else "one task per clip)") if todo else ""))

    finished = [0]

    def on_result(r):
        finished[0] += 1
        if not quiet:
            err.print(escape(_progress_line(r, finished[0], len(todo))))

    options = options_to_dict(opts)
    t0 = time.perf_counter()
    if todo:
        sub = [jobs[i] for i in todo]
        if args.ray is not None:
            out = run_ray(sub, options, address=args.ray or None, num_cpus=args.jobs if args.jobs > 1 else None,
                          want_report=args.report, metrics=not args.no_metrics, on_result=on_result)
        else:
            out = run_local(sub, options, workers=args.jobs, want_report=args.report, metrics=not args.no_metrics,
                            on_result=on_result)
        results.update(zip(todo, out))
    ordered = [results[i] for i in range(len(jobs))]
    failed = [r for r in ordered if r["status"] == "failed"]
    summary = {"clips": len(ordered), "ok": sum(r["status"] == "ok" for r in ordered),
               "skipped": sum(r["status"] == "skipped" for r in ordered), "failed": len(failed),
               "seconds": round(time.perf_counter() - t0, 2), "outdir": str(args.outdir.resolve()), "results": ordered}
    if args.json:
        console.print_json(json.dumps(summary, default=str))
    else:
        t = Table(title=f"fusedstab batch: {summary['ok']} done, {summary['skipped']} skipped, "
                  f"{summary['failed']} failed ({summary['seconds']} s)")
        for col in ("clip", "status", "frames", "zoom", "motion", "seconds", "output / error"):
            t.add_column(col, overflow="fold")
        for r in ordered:
            t.add_row(escape(r["name"]), r["status"], str(r.get("frames", "")), str(r.get("zoom", "")),
                      escape(str(r.get("motion_source", ""))), str(r.get("seconds", "")),
                      escape(r["output"] if r["status"] != "failed" else "see the failure line below"))
        console.print(t)
    for r in failed:
        err.print(f"[bold red]failed:[/] {escape(r['name'])}: {escape(str(r['error']))} (log: {escape(r['log'])})")
    return 1 if failed else 0
