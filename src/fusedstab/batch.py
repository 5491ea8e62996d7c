"""``fusedstab batch INPUTS... -o OUTDIR``: stabilize many clips with the same options.

INPUTS are files, folders (their videos, not recursive) and globs (quoted, e.g.
``'footage/**/*.MP4'``). Each clip is stabilized in its own process (``-j N`` at a time) or,
with ``--ray [ADDRESS]``, as one Ray task per clip; a clip that fails does not stop the
others. For clip ``NAME.ext`` OUTDIR gets ``NAME.stab.mp4``, ``NAME.log`` (the run's messages),
``NAME.json`` (its result, written last: the marker that the clip is done) and with
``--report`` ``NAME.report/index.html``. A second run skips clips already done
(``--overwrite`` redoes them). The summary table (or ``--json``) lists every clip; the exit
status is 1 when any clip failed.

This module runs the clips (also from Python: :func:`collect_inputs`, :func:`plan_jobs`,
:func:`run_local`, :func:`run_ray`); the command's arguments and table are in
:mod:`fusedstab.cli.batch`.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, fields
from pathlib import Path
from typing import Callable, Iterable

from .errors import InputError

__all__ = ["VIDEO_SUFFIXES", "collect_inputs", "plan_jobs", "is_done", "process_clip", "run_local", "run_ray",
           "options_to_dict", "options_from_dict"]

#: what a folder given as input contributes (case-insensitive)
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".insv", ".360")
#: per-clip files other than the video that share the clip's stem in a folder (skipped)
_OUTPUT_SUFFIX = ".stab.mp4"
_PATH_FIELDS = {"gyro", "lens", "lens_motion", "frame_timestamps"}


# ---------------------------------------------------------------------------- inputs
def collect_inputs(items: Iterable[str | os.PathLike]) -> tuple[list[Path], list[str]]:
    """Videos named by files, folders and globs: ``(sorted unique paths, problems)``."""
    found: list[Path] = []
    problems: list[str] = []
    for item in items:
        s = str(item)
        p = Path(s)
        if p.is_dir():
            vids = [q for q in sorted(p.iterdir()) if q.is_file() and q.suffix.lower() in VIDEO_SUFFIXES
                    and not q.name.lower().endswith(_OUTPUT_SUFFIX)]
            if not vids:
                problems.append(f"{s}: a folder with no videos ({', '.join(VIDEO_SUFFIXES)})")
            found += vids
        elif p.is_file():
            found.append(p)
        elif glob.has_magic(s):
            hits = [Path(h) for h in sorted(glob.glob(s, recursive=True)) if Path(h).is_file()]
            if not hits:
                problems.append(f"{s}: the pattern matches no file")
            found += hits
        else:
            problems.append(f"{s}: no such file or folder")
    seen: set[Path] = set()
    unique = []
    for p in found:
        r = p.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(r)
    return unique, problems


def plan_jobs(inputs: list[Path], outdir: Path) -> list[dict]:
    """One job per input: ``{'input', 'name', 'output', 'log', 'result', 'report'}`` (absolute paths).

    Names are the input's stem; two inputs with the same stem get ``-2``, ``-3`` ... in order.
    """
    outdir = Path(outdir).resolve()
    jobs, used = [], {}
    for p in inputs:
        name = p.stem
        k = used.get(name.lower(), 0) + 1
        used[name.lower()] = k
        if k > 1:
            name = f"{name}-{k}"
        jobs.append({"input": str(p), "name": name, "output": str(outdir / f"{name}{_OUTPUT_SUFFIX}"),
                     "log": str(outdir / f"{name}.log"), "result": str(outdir / f"{name}.json"),
                     "report": str(outdir / f"{name}.report")})
    return jobs


def is_done(job: dict, want_report: bool) -> bool:
    """The clip's result file says ok, its output exists, and its report too when one is wanted."""
    try:
        res = json.loads(Path(job["result"]).read_text())
    except (OSError, ValueError):
        return False
    if res.get("status") != "ok" or not Path(job["output"]).is_file():
        return False
    return not want_report or (Path(job["report"]) / "index.html").is_file()


# ---------------------------------------------------------------------------- one clip
def options_to_dict(opts) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}


def options_from_dict(d: dict):
    from .pipeline import StabilizeOptions

    names = {f.name for f in fields(StabilizeOptions)}
    kw = {k: (Path(v) if k in _PATH_FIELDS and v is not None else v) for k, v in d.items() if k in names}
    return StabilizeOptions(**kw)


def process_clip(job: dict, options: dict, want_report: bool = False, report_metrics: bool = True) -> dict:
    """Stabilize one clip (in this process); never raises. Returns the result dict (also
    written to ``job['result']``): ``status`` ok / failed, ``error``, ``seconds`` and the run's
    summary. Messages go to ``job['log']``."""
    from .errors import FusedStabError

    t0 = time.perf_counter()
    Path(job["output"]).parent.mkdir(parents=True, exist_ok=True)
    res = {"input": job["input"], "name": job["name"], "output": job["output"], "log": job["log"],
           "report": None, "status": "failed", "error": None, "seconds": None, "host": os.uname().nodename}
    logger = logging.getLogger("fusedstab")
    handler = logging.FileHandler(job["log"], mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    log = open(job["log"], "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed below
    try:
        log.write(f"fusedstab batch: {job['input']} -> {job['output']}\n")
        from .pipeline import stabilize

        opts = options_from_dict(options)
        last = {}

        def progress(stage, done, total):  # one log line per stage and ~10 %
            step = max(1, total // 10)
            if done == total or done - last.get(stage, -step) >= step:
                last[stage] = done
                log.write(f"{time.strftime('%H:%M:%S')} {stage} {done}/{total}\n")

        plans: list = []
        rep = stabilize(job["input"], job["output"], opts, progress=progress, on_plan=plans.append)
        for w in rep.warnings:
            log.write(f"warning: {w}\n")
        d = rep.as_dict()
        res.update(status="ok", frames=d["frames"], zoom=d["zoom"], motion_source=d["motion_source"],
                   offset_ms=d["offset_ms"], sync_confidence=d["sync_confidence"], warnings=d["warnings"],
                   fps=d["fps"])
        if want_report:
            from .measure.report import report_after_stabilize

            try:
                page = report_after_stabilize(plans[0], rep, job["report"], opts, progress, metrics=report_metrics)
                res["report"] = str(page)
            except Exception as exc:  # noqa: BLE001 - the video is fine; say what the report lacks
                res["warnings"] = list(res["warnings"]) + [f"report not written: {exc}"]
                log.write(traceback.format_exc())
    except FusedStabError as exc:
        res["error"] = exc.message + (f" (fix: {exc.hint})" if exc.hint else "")
        log.write(f"error: {res['error']}\n")
    except KeyboardInterrupt:
        res["error"] = "interrupted"
        raise
    except Exception as exc:  # noqa: BLE001 - one clip's bug must not stop the batch
        res["error"] = f"{type(exc).__name__}: {exc}"
        log.write(traceback.format_exc())
    finally:
        res["seconds"] = round(time.perf_counter() - t0, 2)
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        handler.close()
        log.write(f"status: {res['status']} ({res['seconds']} s)\n")
        log.close()
        tmp = Path(job["result"] + ".tmp")
        tmp.write_text(json.dumps(res, indent=1, default=str))
        os.replace(tmp, job["result"])
    return res


def _worker_main() -> None:
    """``python -m fusedstab.batch --worker`` reads ``{job, options, report, metrics}`` from stdin."""
    spec = json.loads(sys.stdin.read())
    res = process_clip(spec["job"], spec["options"], spec["report"], spec["metrics"])
    sys.stdout.write(json.dumps(res, default=str))


def _run_in_subprocess(job: dict, options: dict, want_report: bool, metrics: bool) -> dict:
    """:func:`process_clip` in a fresh Python process: a crash (segfault, out of memory) of one
    clip is reported as that clip's failure."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    spec = json.dumps({"job": job, "options": options, "report": want_report, "metrics": metrics})
    p = subprocess.run([sys.executable, "-m", "fusedstab.batch", "--worker"], input=spec, capture_output=True,
                       text=True, env=env)
    if p.returncode == 0:
        try:
            return json.loads(p.stdout)
        except ValueError:
            pass
    with open(job["log"], "a", encoding="utf-8") as f:
        f.write(p.stderr)
    tail = (p.stderr.strip().splitlines() or ["no message"])[-1]
    return {"input": job["input"], "name": job["name"], "output": job["output"], "log": job["log"], "report": None,
            "status": "failed", "error": f"worker exited with code {p.returncode}: {tail}", "seconds": None}


def run_local(jobs: list[dict], options: dict, *, workers: int = 1, want_report: bool = False, metrics: bool = True,
              on_result: Callable[[dict], None] | None = None, isolate: bool = True) -> list[dict]:
    """Run ``jobs`` ``workers`` at a time; results in the jobs' order."""
    fn = _run_in_subprocess if isolate else process_clip
    results: dict[int, dict] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futs = {pool.submit(fn, job, options, want_report, metrics): i for i, job in enumerate(jobs)}
        for f in as_completed(futs):
            results[futs[f]] = r = f.result()
            if on_result:
                on_result(r)
    return [results[i] for i in range(len(jobs))]


def run_ray(jobs: list[dict], options: dict, *, address: str | None = None, num_cpus: int | None = None,
            want_report: bool = False, metrics: bool = True, on_result: Callable[[dict], None] | None = None,
            ray_module=None) -> list[dict]:
    """One Ray task per clip (``num_cpus=1`` each); results in the jobs' order.

    ``address``: None = ``ray.init()`` (a local instance, or the cluster ``RAY_ADDRESS``
    names), ``'auto'`` / ``'ray://host:10001'`` = that cluster. ``num_cpus`` caps a local
    instance. Paths must be visible to every node (shared storage). ``ray_module``: tests pass
    a stand-in.
    """
    if ray_module is None:
        try:
            import ray as ray_module
        except ImportError:
            raise InputError("--ray needs Ray, which is not installed",
                             "pip install 'fusedstab[cluster]' (on every node of the cluster)") from None
    ray = ray_module
    started_here = False
    if not ray.is_initialized():
        kw = {"address": address} if address else {}
        if not address and num_cpus:
            kw["num_cpus"] = num_cpus
        ray.init(logging_level=logging.WARNING, log_to_driver=False, **kw)
        started_here = True
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(process_clip)
        refs = {task.remote(job, options, want_report, metrics): i for i, job in enumerate(jobs)}
        results: dict[int, dict] = {}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                i = refs[ref]
                try:
                    r = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a lost worker or node: that clip failed
                    job = jobs[i]
                    r = {"input": job["input"], "name": job["name"], "output": job["output"], "log": job["log"],
                         "report": None, "status": "failed", "error": f"Ray task failed: {type(exc).__name__}: {exc}",
                         "seconds": None}
                results[i] = r
                if on_result:
                    on_result(r)
        return [results[i] for i in range(len(jobs))]
    finally:
        if started_here:
            ray.shutdown()


if __name__ == "__main__":  # run_local's worker process; the command is ``fusedstab batch``
    if sys.argv[1:] != ["--worker"]:
        print("usage: python -m fusedstab.batch --worker (one clip's job as JSON on stdin); "
              "to stabilize many clips run: fusedstab batch INPUTS... -o OUTDIR", file=sys.stderr)
        sys.exit(2)
    _worker_main()
