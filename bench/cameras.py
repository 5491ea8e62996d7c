#!/usr/bin/env python3
"""Cameras we do not have: fusedstab against ffmpeg vid.stab on simulated cameras that differ
from the quality bench's (frame rate, size and orientation, lens, readout, gyro rate and noise,
gyro-log offset, OIS with and without its log, in-camera EIS, a tripod, heavy shake).

Usage (from the repository root, with the package installed)::

    python bench/cameras.py                 # all cameras below (~10 min on 2 cores)
    python bench/cameras.py --only fisheye  # cameras whose name contains "fisheye"

Each camera is a ``fusedstab simulate`` clip (4 s unless stated, seeds fixed) in a scratch
folder outside git (``--scratch``). fusedstab runs with its defaults plus the clip's gyro log
and lens profile (and the OIS / focus log where the camera writes one and the user would
have it); ffmpeg vid.stab runs as in ``bench/quality.py`` (two passes, smoothing 0.5 s,
``optzoom=1``, x264 medium CRF 18). Every output is scored by
:func:`fusedstab.measure.metrics.evaluate` against the simulator's truth, and the table goes
into ``docs/BENCHMARKS.md`` between ``<!-- cameras:start -->`` and ``<!-- cameras:end -->``.

The cameras are not tuned against: they were chosen to cover what real footage varies in, and
the table is meant to show where fusedstab's defaults lose, not to hide it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality as Q  # noqa: E402
from _benchdoc import write_section  # noqa: E402

START, END = "<!-- cameras:start -->", "<!-- cameras:end -->"

#: (name, ``fusedstab simulate`` arguments, the user has the OIS / focus log)
CAMERAS: tuple[tuple[str, list[str], bool], ...] = (
    ("run 24 fps fisheye, gyro log 300 ms early",
     "--scenario run --fps 24 --size 960x540 --readout-ms 25 --lead-ms 300 --lens fisheye --seed 3", False),
    ("walk 50 fps 800x600 (4:3), 90 deg",
     "--scenario walk --fps 50 --size 800x600 --readout-ms 8 --seed 4 --hfov 90", False),
    ("walk 120 fps 640x360, 1 kHz gyro (3 s)",
     "--scenario walk --fps 120 --size 640x360 --duration 3 --readout-ms 4 --seed 5 --gyro-rate 1000", False),
    ("walk, in-camera EIS on",
     "--scenario walk --size 960x540 --readout-ms 20 --in-camera-eis --seed 6", False),
    ("tripod (still), 30 ms readout",
     "--scenario still --size 960x540 --readout-ms 30 --seed 7", False),
    ("walk, OIS + focus breathing + blur, with their log",
     "--scenario walk --size 960x540 --readout-ms 15 --ois --focus-breathing --motion-blur --exposure-ms 16 --seed 8",
     True),
    ("walk, OIS without its log",
     "--scenario walk --size 960x540 --readout-ms 15 --ois --seed 11", False),
    ("pan 25 fps fisheye 100 deg, 33 ms readout",
     "--scenario pan --fps 25 --size 1024x576 --readout-ms 33 --hfov 100 --lens fisheye --seed 9 --gyro-noise 0.01",
     False),
    ("run, 3x shake",
     "--scenario run --size 960x540 --readout-ms 20 --shake-scale 3 --seed 10", False),
    ("walk portrait 540x960",
     "--scenario walk --size 540x960 --readout-ms 20 --seed 12 --lead-ms 80", False),
    ("run 60 fps, 16 ms readout",
     "--scenario run --fps 60 --size 960x540 --readout-ms 16 --seed 13 --lead-ms 15", False),
    ("turn 24 fps fisheye 120 deg",
     "--scenario turn --fps 24 --size 960x540 --readout-ms 30 --seed 14 --lens fisheye --hfov 120", False),
    ("walk 60 fps, 100 Hz gyro",
     "--scenario walk --fps 60 --size 960x540 --readout-ms 12 --gyro-rate 100 --seed 21 --lead-ms 55", False),
    ("run, noisy gyro (0.02 rad/s)",
     "--scenario run --size 960x540 --readout-ms 20 --gyro-noise 0.02 --seed 22 --lead-ms 130", False),
)
TOOLS = ("fusedstab", "ffmpeg-vidstab")


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")


def simulate(scratch: Path, name: str, sim_args: str, with_lens_log: bool) -> dict | None:
    prefix = scratch / "sim" / _slug(name)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    video, truth = prefix.with_suffix(".mp4"), prefix.with_name(prefix.name + ".truth.npz")
    if not (video.exists() and truth.exists()):
        ok, err, _ = Q._run(Q._fusedstab_cmd() + ["simulate", str(prefix), *sim_args.split()], scratch / "simulate.log")
        if not ok:
            print(f"simulate {name} failed: {err}", file=sys.stderr)
            return None
    args = ["--gyro", str(prefix.with_name(prefix.name + ".gcsv")), "--lens", str(prefix.with_name(prefix.name + ".lens.json"))]
    lens_log = prefix.with_name(prefix.name + ".lens.csv")
    if with_lens_log and lens_log.exists():
        args += ["--lens-motion", str(lens_log)]
    return {"name": name, "video": video, "truth": truth, "fusedstab": args}


def _g(m: dict | None, key: str):
    return None if not m else m.get(key)


def table(rows: list[dict]) -> tuple[str, int, int, int]:
    """Markdown table, and (cameras, steadier, steadier at no less picture)."""
    head = ["camera (simulate args in the script)", "input jitter px / truth deg",
            "fusedstab field of view / jitter px / truth deg", "vid.stab field of view / jitter px / truth deg",
            "fusedstab undefined % max", "steadier (px)", "and keeps at least vid.stab's picture"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    n = steadier = both = 0
    for r in rows:
        f, v = r.get("fusedstab"), r.get("ffmpeg-vidstab")
        m = f or v
        cells = [r["name"], f"{Q._f(_g(m, 'original_jitter_px'), '{:.2f}')} / {Q._f(_g(m, 'truth_input_jitter_deg'))}"]
        for x in (f, v):
            cells.append("failed" if x is None else
                         f"{Q._f(x.get('cropping'))} / {Q._f(x.get('jitter_px'), '{:.2f}')} / "
                         f"{Q._f(x.get('truth_output_jitter_deg'))}")
        cells.append("–" if f is None else f"{100 * (f.get('undefined_share_max') or 0):.2f}")
        s = b = None
        if f is not None and v is not None:
            n += 1
            s = f["jitter_px"] < v["jitter_px"]
            b = s and f["cropping"] >= v["cropping"]
            steadier += bool(s)
            both += bool(b)
        cells += ["–" if s is None else ("yes" if s else "**no**"), "–" if b is None else ("yes" if b else "no")]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out), n, steadier, both


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "fusedstab-bench-cameras")
    ap.add_argument("--only", default="", help="comma list of substrings of camera names")
    ap.add_argument("--tools", default=",".join(TOOLS),
                    help=f"comma list of {', '.join(TOOLS)} ('' with --reuse: re-render the last results)")
    ap.add_argument("--reuse", action="store_true", help="tools not in --tools keep their last results")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/BENCHMARKS.md")
    args = ap.parse_args(argv)
    from fusedstab.measure.metrics import evaluate

    t_start = time.perf_counter()
    scratch = args.scratch.resolve()
    if Q.REPO in scratch.parents:
        ap.error("--scratch must be outside the repository")
    (scratch / "out").mkdir(parents=True, exist_ok=True)
    (scratch / "results").mkdir(exist_ok=True)
    log = scratch / "tools.log"
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    only = [o.strip() for o in args.only.split(",") if o.strip()]
    rows = []
    for name, sim_args, lens_log in CAMERAS:
        if only and not any(o in name for o in only):
            continue
        clip = simulate(scratch, name, sim_args, lens_log)
        if clip is None:
            continue
        row = {"name": name}
        for tool in TOOLS:
            cached = scratch / "results" / f"{_slug(name)}.{tool}.json"
            if tool not in tools:
                if args.reuse and cached.exists():
                    row[tool] = json.loads(cached.read_text())
                continue
            out = scratch / "out" / f"{_slug(name)}.{tool}.mp4"
            if out.exists():
                out.unlink()
            print(f"[{time.perf_counter() - t_start:6.0f} s] {name}: {tool} ...", flush=True)
            runner = Q.run_fusedstab if tool == "fusedstab" else Q.run_ffmpeg_vidstab
            r = runner(clip, out, log)
            metrics = None
            if r["status"] == "ok":
                metrics = evaluate(clip["video"], out, clip["truth"])
                metrics["seconds"] = r.get("seconds")
            else:
                print(f"    {r['status']}: {r.get('error')}", flush=True)
            cached.write_text(json.dumps(metrics, default=str))
            row[tool] = metrics
        rows.append(row)
    body, n, steadier, both = table(rows)
    cmd = "python bench/cameras.py" + (f' --only "{args.only}"' if args.only else "")
    minutes = (time.perf_counter() - t_start) / 60
    if set(tools) == set(TOOLS):
        (scratch / "last_run.json").write_text(json.dumps({"cmd": cmd, "minutes": minutes}))
    elif not tools and args.reuse and (scratch / "last_run.json").exists():  # the last run, re-rendered
        last = json.loads((scratch / "last_run.json").read_text())
        cmd, minutes = last["cmd"] + "` (table re-rendered from its cached results: `--tools '' --reuse", last["minutes"]
    else:
        cmd += f" --tools {','.join(tools)}" + (" --reuse" if args.reuse else "")
    sec = (f"Command: `{cmd}` ({minutes:.1f} min); machine "
           f"`{platform.platform()}`, {os.cpu_count()} CPUs; date {_dt.date.today().isoformat()}.\n"
           f"fusedstab steadier than vid.stab on {steadier} of {n} cameras, and at no less picture on {both}.\n\n"
           f"{body}\n")
    print(sec)
    if not args.no_write:
        write_section(Q.DOC, START, END, sec, heading="## Cameras we do not have (`bench/cameras.py`)")
        print(f"updated {Q.DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
