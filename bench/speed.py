"""fusedstab's wall time against a plain transcode and ffmpeg vid.stab (issue 11).

For each ``--size`` it simulates a walk clip (sizes above ``--sim-size`` are simulated there
and scaled up with ffmpeg, as ``bench/memory.py`` does) and times, each in a fresh process,
one after the other:

* **transcode**: ``ffmpeg -i IN -c:v libx264 -preset medium -crf 18 OUT`` (the reference);
* **fusedstab**: ``fusedstab stabilize IN -o OUT --json`` (defaults: automatic sync, x264
  medium CRF 18), with its peak resident memory and the per-stage times of its ``--json``
  report (plan, sync, render and the render's busy time per stage: decode, plan, warp, encode;
  these overlap in the concurrent render);
* **vid.stab**: ``vidstabdetect`` then ``vidstabtransform`` + libx264 medium CRF 18.

Prints the table and the ratios to the transcode, and writes them to ``docs/BENCHMARKS.md``
between ``<!-- speed:start -->`` and ``<!-- speed:end -->``. The runs are sequential and the
machine's load average is recorded: on a shared machine compare ratios, not seconds.

    python bench/speed.py [--size 1280x720 --size 1920x1080 --size 3840x2160] [--duration 4]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "BENCHMARKS.md"
START, END = "<!-- speed:start -->", "<!-- speed:end -->"
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchdoc import write_section  # noqa: E402
from memory import _make_clip  # noqa: E402

_PROBE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "out = open(sys.argv[1], 'w'); r = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t, r.returncode)"
)


def timed(cmd: list[str], stdout_file: Path) -> tuple[float, int]:
    """(wall seconds, peak RSS KB) of ``cmd`` in a fresh process; its stdout goes to ``stdout_file``."""
    res = subprocess.run([sys.executable, "-c", _PROBE, str(stdout_file), *cmd], capture_output=True, text=True,
                         check=True)
    kb, sec, rc = res.stdout.split()[-3:]
    if int(rc) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with {rc}")
    return float(sec), int(kb)


def run_size(exe: list[str], tmp: Path, size: str, duration: float, sim_size: str, preset: str) -> dict:
    prefix = tmp / f"walk_{size}"
    _make_clip(exe, prefix, size, duration, sim_size)
    clip = f"{prefix}.mp4"
    log = tmp / "stdout.txt"
    row: dict = {"size": size, "duration_s": duration}
    row["transcode_s"], row["transcode_kb"] = timed(
        ["ffmpeg", "-v", "error", "-y", "-i", clip, "-c:v", "libx264", "-preset", preset, "-crf", "18",
         str(tmp / "t.mp4")], log)
    row["fusedstab_s"], row["fusedstab_kb"] = timed(
        exe + ["stabilize", clip, "-o", str(tmp / "s.mp4"), "--json", "--preset", preset, "-q"], log)
    rep = json.loads(log.read_text())
    row["timings"] = rep.get("timings") or {}
    trf = tmp / "t.trf"
    w1, _ = timed(["ffmpeg", "-v", "error", "-y", "-i", clip, "-vf",
                   f"vidstabdetect=shakiness=5:accuracy=15:result={trf}", "-f", "null", "-"], log)
    w2, _ = timed(["ffmpeg", "-v", "error", "-y", "-i", clip, "-vf", f"vidstabtransform=input={trf}:smoothing=15",
                   "-c:v", "libx264", "-preset", preset, "-crf", "18", str(tmp / "v.mp4")], log)
    row["vidstab_s"] = w1 + w2
    for f in Path(tmp).glob(f"walk_{size}*"):
        f.unlink()
    return row


def render_table(rows: list[dict]) -> str:
    lines = ["| size | clip s | transcode s | fusedstab s | **ratio** | vid.stab s | ratio | sync s | sync / clip s | "
             "plan s | render s | decode / plan / warp / encode busy s | fusedstab peak MiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        t = r["timings"]
        st = t.get("render") or {}
        sync = t.get("sync_s")
        per_s = "-" if sync is None else f"{sync / r['duration_s']:.2f}"
        busy = " / ".join(f"{st.get(k, 0):.1f}" for k in ("decode_s", "plan_s", "warp_s", "encode_s"))
        lines.append(
            f"| {r['size']} | {r['duration_s']:g} | {r['transcode_s']:.1f} | {r['fusedstab_s']:.1f} | "
            f"**{r['fusedstab_s'] / r['transcode_s']:.2f}x** | {r['vidstab_s']:.1f} | {r['vidstab_s'] / r['transcode_s']:.2f}x | "
            f"{sync if sync is not None else '-'} | {per_s} | "
            f"{t.get('plan_s', 0):.1f} | {t.get('render_s', 0) or 0:.1f} | {busy} | {r['fusedstab_kb'] / 1024:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", action="append", default=None, help="WxH, repeatable (default 720p, 1080p, 4K)")
    ap.add_argument("--duration", type=float, default=4.0, help="clip length [s] (default 4)")
    ap.add_argument("--sim-size", default="640x360", help="larger sizes are simulated at this size and scaled up")
    ap.add_argument("--preset", default="medium", help="x264 preset for every tool (default medium)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/BENCHMARKS.md")
    args = ap.parse_args(argv)
    sizes = args.size or ["1280x720", "1920x1080", "3840x2160"]
    exe = [sys.executable, "-m", "fusedstab"]
    load0 = os.getloadavg()
    t0 = _dt.datetime.now()
    rows = []
    with tempfile.TemporaryDirectory(prefix="fusedstab-speed-") as tmp:
        for size in sizes:
            rows.append(run_size(exe, Path(tmp), size, args.duration, args.sim_size, args.preset))
            print(render_table(rows[-1:]).splitlines()[-1], flush=True)
    load1 = os.getloadavg()
    table = render_table(rows)
    cmd = "python bench/speed.py" + "".join(f" --size {s}" for s in (args.size or [])) + (
        f" --duration {args.duration:g}" if args.duration != 4.0 else "")
    body = "\n".join([
        START,
        "## Speed against a plain transcode (`bench/speed.py`)",
        "",
        f"- Date: {t0.isoformat(timespec='seconds')}; command: `{cmd}`; "
        f"{(_dt.datetime.now() - t0).total_seconds() / 60:.1f} min",
        f"- Machine: `{platform.platform()}`, {os.cpu_count()} CPUs; load average before / after: "
        f"{' '.join(f'{x:.2f}' for x in load0)} / {' '.join(f'{x:.2f}' for x in load1)}",
        f"- Every tool: x264 {args.preset}, CRF 18; simulated walk clips (above {args.sim_size} scaled up with "
        "ffmpeg); fusedstab with its defaults (automatic sync, --motion auto, concurrent render). Ratio = wall "
        "time / the plain transcode's. Busy times of the render's stages overlap (four threads).",
        "",
        table,
        END,
    ])
    print(table)
    if not args.no_write:
        write_section(DOC, START, END, body)
        print(f"written to {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
