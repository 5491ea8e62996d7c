"""Peak memory of ``fusedstab stabilize`` against clip length and frame size (frames must be streamed).

For each ``--config SIZE:DURATIONS:PRESET`` it simulates walk clips of those lengths,
stabilizes each in a fresh child process (automatic sync included unless ``--no-sync``) and
records the child's peak resident memory (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``)
and wall time. Large sizes are simulated at ``--sim-size`` and scaled up with ffmpeg (x264
ultrafast, CRF 18): the simulator renders every pixel in Python-driven NumPy and would take
hours at 4K; the gyro log and lens profile stay valid (the profile is scaled to the video).
A streaming pipeline shows a flat line in length. Writes ``docs/BENCHMARKS.md`` between
``<!-- memory:start -->`` and ``<!-- memory:end -->``.

    python bench/memory.py [--config 640x360:5,20,40:medium] [--config 3840x2160:3:medium] ...
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import shutil
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


def _loop_gcsv(src: Path, dst: Path, period_s: float, duration_s: float) -> None:
    """Repeat a Gyroflow .gcsv's samples every ``period_s`` seconds up to ``duration_s`` (copy k
    keeps the samples of [0, period_s) shifted by k * period_s; the last copy keeps its tail)."""
    lines = src.read_text().splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.startswith("t,"))
    tscale = float(next(ln.split(",")[1] for ln in lines[:k] if ln.startswith("tscale,")))
    rows = [ln.split(",", 1) for ln in lines[k + 1:] if ln.strip()]
    period = period_s / tscale
    copies = max(1, int(round(duration_s / period_s)))
    out = lines[:k + 1]
    for c in range(copies):
        for t, rest in rows:
            tv = float(t)
            if tv < period or c == copies - 1:
                out.append(f"{tv + c * period:.0f},{rest}")
    dst.write_text("\n".join(out) + "\n")


def _make_clip(exe: list[str], prefix: Path, size: str, duration: float, sim_size: str, loop_s: float = 0.0) -> None:
    """Simulate a walk clip of ``duration`` seconds at ``size`` (simulated at ``sim_size`` and scaled
    up when larger). ``loop_s`` > 0 and shorter than ``duration``: only ``loop_s`` seconds are
    simulated and repeated (video and gyro log alike): a memory run needs the length, not new
    motion, and simulating 10 minutes takes longer than stabilizing them. The picture jumps back
    at each repeat, the gyro log's motion is continuous in rate; both are valid inputs."""
    w, h = (int(v) for v in size.split("x"))
    sw, sh = (int(v) for v in sim_size.split("x"))
    loop = 0.0 < loop_s < duration
    direct = w * h <= sw * sh and not loop
    sim_prefix = prefix if direct else prefix.with_name(prefix.name + "_sim")
    subprocess.run(exe + ["simulate", str(sim_prefix), "--scenario", "walk", "--duration", str(loop_s if loop else duration),
                          "--size", size if w * h <= sw * sh else sim_size, "--seed", "0"], check=True, capture_output=True)
    if direct:
        return
    loop_args = ["-stream_loop", "-1"] if loop else []
    subprocess.run(["ffmpeg", "-v", "error", "-y", *loop_args, "-i", f"{sim_prefix}.mp4", "-t", f"{duration:g}",
                    "-vf", f"scale={w}:{h}:flags=bicubic", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18",
                    f"{prefix}.mp4"], check=True)
    if loop:
        _loop_gcsv(Path(f"{sim_prefix}.gcsv"), Path(f"{prefix}.gcsv"), loop_s, duration)
    else:
        shutil.copy(f"{sim_prefix}.gcsv", f"{prefix}.gcsv")
    shutil.copy(f"{sim_prefix}.lens.json", f"{prefix}.lens.json")
    for p in Path(prefix).parent.glob(f"{sim_prefix.name}.*"):
        p.unlink()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", action="append", default=None, metavar="SIZE:DURATIONS:PRESET",
                    help="frame size, clip lengths in seconds (comma list) and x264 preset; repeatable "
                    "(default 640x360:5,20,40:medium)")
    ap.add_argument("--sim-size", default="640x360", help="larger sizes are simulated at this size and scaled up")
    ap.add_argument("--no-sync", action="store_true", help="give --gyro-offset-ms 0 (skip the automatic sync)")
    ap.add_argument("--loop-s", type=float, default=0.0, metavar="S",
                    help="clips longer than S seconds: simulate S seconds and repeat them (video and gyro log)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/BENCHMARKS.md")
    args = ap.parse_args(argv)
    configs = args.config or ["640x360:5,20,40:medium"]
    exe = [sys.executable, "-m", "fusedstab"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="fusedstab-mem-") as tmp:
        for cfg in configs:
            size, durations, preset = cfg.split(":")
            for d in [float(x) for x in durations.split(",") if x.strip()]:
                prefix = Path(tmp) / f"walk_{size}_{d:g}"
                _make_clip(exe, prefix, size, d, args.sim_size, args.loop_s)
                frames = int(round(d * 30))
                cmd = exe + ["stabilize", f"{prefix}.mp4", "-o", f"{prefix}.stab.mp4", "--quiet", "--preset", preset]
                if args.no_sync:
                    cmd += ["--gyro-offset-ms", "0"]
                kb, sec = _child_peak_kb(cmd)
                rows.append((size, preset, d, frames, kb / 1024.0, sec))
                print(f"{size} {preset} {d:g} s ({frames} frames): peak {kb / 1024:.0f} MiB, {sec:.1f} s", flush=True)
                for p in Path(tmp).glob(f"{prefix.name}*"):
                    p.unlink()
    lines = []
    for size in dict.fromkeys(r[0] for r in rows):
        for preset in dict.fromkeys(r[1] for r in rows if r[0] == size):
            rs = [r for r in rows if r[0] == size and r[1] == preset]
            if len(rs) > 1:
                g = (rs[-1][4] - rs[0][4]) / max(1, rs[-1][3] - rs[0][3]) * 1024
                lines.append(f"- {size}, {preset}: **{g:+.1f} KB per frame** from {rs[0][3]} to {rs[-1][3]} frames")
    table = "\n".join(f"| {s} | {p} | {d:g} | {n} | {mb:.0f} | {sec:.1f} |" for s, p, d, n, mb, sec in rows)
    config_args = " ".join(f"--config {c}" for c in configs)
    section = f"""{START}
## Memory against clip length and size (`bench/memory.py`)

- Date: {_dt.datetime.now().isoformat(timespec='seconds')}; command: `python bench/memory.py {config_args}{' --no-sync' if args.no_sync else ''}{f' --loop-s {args.loop_s:g}' if args.loop_s else ''}`
- Machine: `{' '.join(platform.uname())}`, {os.cpu_count()} CPUs
- Each run: `fusedstab stabilize` ({'--gyro-offset-ms 0, no sync' if args.no_sync else 'automatic sync'}, opencv, the preset shown) on a simulated walk clip (sizes above {args.sim_size} simulated at {args.sim_size} and scaled up with ffmpeg{f'; clips longer than {args.loop_s:g} s: {args.loop_s:g} s simulated and repeated, video and gyro log' if args.loop_s else ''}), in a fresh process; peak resident memory of that process.

| size | x264 preset | clip length s | frames | peak RSS MiB | wall s |
|---|---|---:|---:|---:|---:|
{table}

Growth with length:
{chr(10).join(lines) if lines else '- (one length per size)'}
{END}"""
    print(section)
    if not args.no_write:
        write_section(DOC, START, END, section)
        print(f"updated {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
