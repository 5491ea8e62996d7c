"""Peak memory of ``fusedstab stabilize`` against clip length (frames must be streamed).

Simulates walk clips of a few lengths at one size, stabilizes each in a child process
(automatic sync included) and records the child's peak resident memory
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``, one fresh process per run) and wall time.
A streaming pipeline shows a near-flat line; holding frames would grow ~0.7 MB per 640x360
frame. Writes ``docs/BENCHMARKS.md`` between ``<!-- memory:start -->`` and
``<!-- memory:end -->``.

    python bench/memory.py [--durations 5,20,40] [--size 640x360]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "BENCHMARKS.md"
START, END = "<!-- memory:start -->", "<!-- memory:end -->"
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchdoc import write_section  # noqa: E402


def _child_peak_kb(cmd: list[str]) -> tuple[int, float]:
    """Run ``cmd`` in a fresh helper process that reports the command's own peak RSS."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t, r.returncode)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, check=True)
    kb, sec, rc = out.stdout.split()[-3:]
    if int(rc) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr[-400:]}")
    return int(kb), float(sec)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--durations", default="5,20,40", help="clip lengths in seconds (comma list)")
    ap.add_argument("--size", default="640x360", help="frame size WxH")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/BENCHMARKS.md")
    args = ap.parse_args(argv)
    exe = [sys.executable, "-m", "fusedstab"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="fusedstab-mem-") as tmp:
        for d in [float(x) for x in args.durations.split(",") if x.strip()]:
            prefix = Path(tmp) / f"walk_{d:g}"
            subprocess.run(exe + ["simulate", str(prefix), "--scenario", "walk", "--duration", str(d), "--size",
                                  args.size, "--seed", "0"], check=True, capture_output=True)
            frames = int(round(d * 30))
            kb, sec = _child_peak_kb(exe + ["stabilize", f"{prefix}.mp4", "-o", f"{prefix}.stab.mp4", "--quiet"])
            rows.append((d, frames, kb / 1024.0, sec))
            print(f"{d:g} s ({frames} frames): peak {kb / 1024:.0f} MB, {sec:.1f} s", flush=True)
    growth = (rows[-1][2] - rows[0][2]) / max(1, rows[-1][1] - rows[0][1]) * 1024 if len(rows) > 1 else 0.0
    table = "\n".join(f"| {d:g} | {n} | {mb:.0f} | {s:.1f} |" for d, n, mb, s in rows)
    section = f"""{START}
## Memory against clip length (`bench/memory.py`)

- Date: {_dt.datetime.now().isoformat(timespec='seconds')}; command: `python bench/memory.py --durations {args.durations} --size {args.size}`
- Machine: `{' '.join(platform.uname())}`, {os.cpu_count()} CPUs
- Each run: `fusedstab stabilize` with its defaults (automatic sync, opencv, x264 medium) on a simulated walk clip, in a fresh process; peak resident memory of that process.

| clip length s | frames | peak RSS MB | wall s |
|---:|---:|---:|---:|
{table}

Growth: **{growth:.1f} KB per frame** (a decoded {args.size} frame is {int(args.size.split('x')[0]) * int(args.size.split('x')[1]) * 3 // 1024} KB): frames are streamed; what grows is per-frame motion data and the sync's tracked points.
{END}"""
    print(section)
    if not args.no_write:
        write_section(DOC, START, END, section)
        print(f"updated {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
