#!/usr/bin/env python3
"""Quality benchmark: fusedstab against ffmpeg vid.stab and python ``vidstab``.

Usage (from the repository root, with the package installed)::

    python bench/quality.py            # full set: 3 scenarios x 2 sizes, 60 fps and turn clips + real clips
    python bench/quality.py --quick    # walk at 1280x720 + the GoPro clip

What it does
------------
1. Simulates clips with ``fusedstab simulate`` (scenarios walk, run, pan; 1280x720 and
   1920x1080; 4 s; 30 fps; 10 ms rolling-shutter readout; seed 0; and at 1280x720 the walk,
   run and pan at 60 fps and the turn at 30 fps: :data:`EXTRA_SIMS`) into a scratch folder
   outside git (``--scratch``, default ``$TMPDIR/fusedstab-bench-quality``).
2. Stabilizes every clip (simulated + real clips in ``../shared/data``) with
   * fusedstab: ``fusedstab stabilize IN -o OUT --gyro IN.gcsv --lens IN.lens.json --quiet``
     (GoPro: embedded gyro, ``--lens "../shared/lens_profiles/GoPro_HERO5 Black_Wide_NO-EIS_16by9.json"``);
   * ffmpeg vid.stab, two passes: ``vidstabdetect=shakiness=5:accuracy=15:result=T.trf`` then
     ``vidstabtransform=input=T.trf:smoothing=S:zoom=0:optzoom=1,unsharp=5:5:0.8:3:3:0.4``
     with S = round(0.5 s * fps) frames, libx264 ``-crf 18 -preset medium``;
   * python ``vidstab`` (``VidStab().stabilize(IN, OUT, smoothing_window=W,
     border_type='black')``, W = round(0.5 s * fps), MJPG AVI) in its own venv
     ``bench/.venv-vidstab`` (created on first use: ``python3 -m venv`` +
     ``pip install vidstab 'opencv-python-headless<5'``).
3. Scores every output with :func:`fusedstab.measure.metrics.evaluate` (truth metrics for
   simulated clips) and writes a markdown table into ``docs/BENCHMARKS.md`` between
   ``<!-- quality:start -->`` and ``<!-- quality:end -->`` (the rest of the file is kept).
   Raw results go to ``SCRATCH/quality.json``.

A tool that fails is reported as ``failed`` with its error; one that cannot run on a clip
(e.g. fusedstab without a gyro log) as ``n/a``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchdoc import write_section  # noqa: E402

SHARED = Path(os.environ.get("FUSEDSTAB_SHARED", REPO / ".." / "shared")).resolve()
DATA = SHARED / "data"
GOPRO_LENS = SHARED / "lens_profiles" / "GoPro_HERO5 Black_Wide_NO-EIS_16by9.json"
VENV_VIDSTAB = REPO / "bench" / ".venv-vidstab"
DOC = REPO / "docs" / "BENCHMARKS.md"
START, END = "<!-- quality:start -->", "<!-- quality:end -->"

SCENARIOS = ("walk", "run", "pan")
SIZES = ("1280x720", "1920x1080")
#: the other simulated clips issue 10 names: (scenario, size, fps), same length, readout and seed
EXTRA_SIMS = (("walk", "1280x720", 60), ("run", "1280x720", 60), ("pan", "1280x720", 60), ("turn", "1280x720", 30))
DURATION_S = 4.0
READOUT_MS = 10.0
SMOOTH_S = 0.5
TOOLS = ("fusedstab", "ffmpeg-vidstab", "python-vidstab")

sys.path.insert(0, str(REPO / "src"))


def _fusedstab_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("fusedstab")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "fusedstab"]


def _run(cmd: list[str], log: Path, timeout_s: float = 1800) -> tuple[bool, str, float]:
    """Run a command; returns (ok, last error line, seconds)."""
    t0 = time.perf_counter()
    with open(log, "a") as fh:
        fh.write("$ " + shlex.join(cmd) + "\n")
        fh.flush()
        try:
            p = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s, cwd=REPO)
        except subprocess.TimeoutExpired:
            return False, f"timed out after {timeout_s:.0f} s", time.perf_counter() - t0
        except OSError as exc:
            return False, str(exc), time.perf_counter() - t0
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        return False, f"exit {p.returncode}: {lines[-1][:160] if lines else ''}", dt
    return True, "", dt


# ---------------------------------------------------------------------------- clips
def simulate_clips(scratch: Path, quick: bool, only: list[str] | None = None) -> list[dict]:
    combos = [("walk", "1280x720", 30)] if quick else [(s, z, 30) for z in SIZES for s in SCENARIOS] + list(EXTRA_SIMS)
    names = {c: f"sim {c[0]} {c[1]}" + (f" {c[2]} fps" if c[2] != 30 else "") for c in combos}
    if only:  # simulate only what will be run
        combos = [c for c in combos if any(o in names[c] for o in only)]
    clips = []
    for scen, size, fps in combos:
        prefix = scratch / "sim" / (f"{scen}_{size}" + (f"_{fps}fps" if fps != 30 else ""))
        prefix.parent.mkdir(parents=True, exist_ok=True)
        video = prefix.with_suffix(".mp4")
        truth = prefix.with_name(prefix.name + ".truth.npz")
        if not (video.exists() and truth.exists()):
            ok, err, _ = _run(
                _fusedstab_cmd() + ["simulate", str(prefix), "--scenario", scen, "--size", size, "--fps", str(fps),
                                    "--duration", str(DURATION_S), "--readout-ms", str(READOUT_MS), "--seed", "0"],
                scratch / "simulate.log",
            )
            if not ok:
                print(f"simulate {scen} {size} {fps} fps failed: {err}", file=sys.stderr)
                continue
        clips.append({
            "name": names[(scen, size, fps)],
            "video": video,
            "truth": truth,
            "fusedstab": ["--gyro", str(prefix.with_name(prefix.name + ".gcsv")),
                          "--lens", str(prefix.with_name(prefix.name + ".lens.json"))],
        })
    return clips


def real_clips(quick: bool) -> list[dict]:
    """Every clip in ../shared/data with fusedstab's defaults (plus the lens profile where one
    exists; the MAX's is planned against the lens its file states, as every run given a profile
    is), the GoPro MAX again with its profile kept as given (``--keep-lens``) and without its
    profile (the lens its file states), and the phone capture a second time with its external
    gyro log."""
    lenses = SHARED / "lens_profiles"
    clips = [{
        "name": "GoPro HERO5 (Karma gimbal)",
        "video": DATA / "gopro_hero5_karma.mp4",
        "truth": None,
        "fusedstab": ["--lens", str(GOPRO_LENS)],
    }]
    if not quick:
        phone = DATA / "phone_cc9pro_ois_off"
        clips += [{
            "name": "GoPro MAX (HyperSmooth on)",
            "video": DATA / "gopro_max_heromode.mp4",
            "truth": None,
            "fusedstab": ["--lens", str(lenses / "GoPro_Max_Wide_HS EIS_1080p_16by9_1920x1080-50.00fps.json")],
        }, {
            "name": "GoPro MAX (its profile kept: --keep-lens)",
            "video": DATA / "gopro_max_heromode.mp4",
            "truth": None,
            "fusedstab": ["--lens", str(lenses / "GoPro_Max_Wide_HS EIS_1080p_16by9_1920x1080-50.00fps.json"),
                          "--keep-lens"],
        }, {
            # without a profile: the lens the file states (its diagonal field of view, GPMF ZFOV)
            "name": "GoPro MAX (defaults: no profile)",
            "video": DATA / "gopro_max_heromode.mp4",
            "truth": None,
            "fusedstab": [],
        }, {
            "name": "Insta360 One R (no readable gyro)",
            "video": DATA / "insta360_oner_sample_1s.insv",
            "truth": None,
            "fusedstab": [],
        }, {
            "name": "phone CC9 Pro (defaults: no gyro)",
            "video": phone / "frames_099-150.mp4",
            "truth": None,
            "fusedstab": [],
        }, {
            "name": "phone CC9 Pro (OIS off, gyro.txt)",
            "video": phone / "frames_099-150.mp4",
            "truth": None,
            # external gyro.txt on the boot clock, placed by framestamp.txt line 99, axes and
            # readout found by the automatic sync; intrinsics from the data's authors (MANIFEST)
            "fusedstab": ["--gyro", str(phone / "gyro.txt"), "--gyro-columns", "x,y,z,t",
                          "--frame-timestamps", str(phone / "framestamp.txt"), "--first-frame", "99",
                          "--imu-orientation", "auto", "--lens", "{scratch}/phone_cc9pro.lens.json"],
        }]
    return [c for c in clips if Path(c["video"]).exists()]


def write_phone_lens(scratch: Path) -> Path:
    """The phone's intrinsics (MANIFEST: K for 800x600, no distortion) as a lens profile."""
    from fusedstab.camera import CameraModel
    from fusedstab.io.lens import write_lens_profile

    cam = CameraModel(800, 600, 573.85, 575.04, 406.01, 309.01, model="pinhole", name="Xiaomi CC9 Pro 800x600")
    scratch.mkdir(parents=True, exist_ok=True)
    return write_lens_profile(scratch / "phone_cc9pro.lens.json", cam)


# ---------------------------------------------------------------------------- tools
def _fps(video: Path) -> float:
    from fusedstab.io.video import probe_video

    return probe_video(video).fps


def run_fusedstab(clip: dict, out: Path, log: Path) -> dict:
    if clip.get("fusedstab") is None:
        return {"status": "n/a", "error": clip.get("fusedstab_na", "no gyro")}
    args = [a.replace("{scratch}", str(log.parent)) for a in clip["fusedstab"]]
    if any("phone_cc9pro.lens.json" in a for a in args):
        write_phone_lens(log.parent)
    ok, err, dt = _run(_fusedstab_cmd() + ["stabilize", str(clip["video"]), "-o", str(out)] + args + ["--quiet"], log)
    return {"status": "ok" if ok else "failed", "error": err, "seconds": dt}


def run_ffmpeg_vidstab(clip: dict, out: Path, log: Path) -> dict:
    ff = shutil.which("ffmpeg")
    if ff is None:
        return {"status": "n/a", "error": "ffmpeg not installed (apt-get install -y ffmpeg)"}
    filters = subprocess.run([ff, "-hide_banner", "-filters"], capture_output=True, text=True).stdout
    if "vidstabdetect" not in filters:
        return {"status": "n/a", "error": "this ffmpeg has no vid.stab filters"}
    trf = out.with_suffix(".trf")
    smoothing = max(1, round(SMOOTH_S * _fps(clip["video"])))
    t0 = time.perf_counter()
    ok, err, _ = _run([ff, "-y", "-hide_banner", "-loglevel", "error", "-i", str(clip["video"]), "-vf",
                       f"vidstabdetect=shakiness=5:accuracy=15:result={trf}", "-f", "null", "-"], log)
    if ok:
        ok, err, _ = _run([ff, "-y", "-hide_banner", "-loglevel", "error", "-i", str(clip["video"]), "-vf",
                           f"vidstabtransform=input={trf}:smoothing={smoothing}:zoom=0:optzoom=1,unsharp=5:5:0.8:3:3:0.4",
                           "-an", "-c:v", "libx264", "-crf", "18", "-preset", "medium", "-pix_fmt", "yuv420p", str(out)], log)
    return {"status": "ok" if ok else "failed", "error": err, "seconds": time.perf_counter() - t0}


def _vidstab_python(log: Path) -> Path | None:
    py = VENV_VIDSTAB / "bin" / "python"
    if py.exists():
        chk = subprocess.run([str(py), "-c", "import vidstab, cv2"], capture_output=True)
        if chk.returncode == 0:
            return py
    ok, _, _ = _run(["python3", "-m", "venv", str(VENV_VIDSTAB)], log)
    if ok:
        ok, _, _ = _run([str(py), "-m", "pip", "install", "-q", "vidstab", "opencv-python-headless<5"], log)
    return py if ok else None


# vidstab calls cv2.destroyAllWindows() at the end even without a preview window, which the
# headless OpenCV build refuses: neutralise it (no effect on the output).
_VIDSTAB_SNIPPET = (
    "import sys, cv2\n"
    "cv2.destroyAllWindows = lambda: None\n"
    "from vidstab import VidStab\n"
    "VidStab().stabilize(input_path=sys.argv[1], output_path=sys.argv[2], "
    "smoothing_window=int(sys.argv[3]), border_type='black')\n"
)


def run_python_vidstab(clip: dict, out: Path, log: Path) -> dict:
    py = _vidstab_python(log)
    if py is None:
        return {"status": "n/a", "error": "could not create bench/.venv-vidstab (see log)"}
    window = max(2, round(SMOOTH_S * _fps(clip["video"])))
    ok, err, dt = _run([str(py), "-c", _VIDSTAB_SNIPPET, str(clip["video"]), str(out), str(window)], log)
    if ok and not out.exists():
        ok, err = False, "no output written"
    return {"status": "ok" if ok else "failed", "error": err, "seconds": dt}


RUNNERS = {"fusedstab": (run_fusedstab, ".mp4"), "ffmpeg-vidstab": (run_ffmpeg_vidstab, ".mp4"),
           "python-vidstab": (run_python_vidstab, ".avi")}


# ---------------------------------------------------------------------------- table
def _f(v, fmt="{:.3f}") -> str:
    return "–" if v is None else fmt.format(v)


COLS = ["clip", "tool", "stability ↑", "cropping ↑", "distortion ↑", "jitter px ↓", "jitter deg ↓",
        "jitter ratio px ↓", "RS resid px ↓", "undefined % mean / max ↓", "truth jitter deg ↓",
        "truth resid deg ↓", "time s"]


def _cropping(m: dict) -> str:
    """The cropping mean, with "(n of N frames)" where more than a tenth of the frames had no
    plausible homography (left out of the mean: a fisheye drawn rectilinear is not one)."""
    c = _f(m.get("cropping"))
    bad, n = m.get("cropping_implausible_frames") or 0, m.get("frames") or 0
    return f"{c} ({n - bad} of {n} frames)" if n and bad > 0.1 * n else c


def _und(m: dict, prefix: str = "") -> str:
    """Undefined share "mean / max" in %, or "–"."""
    mean, mx = m.get(f"{prefix}undefined_share_mean"), m.get(f"{prefix}undefined_share_max")
    return "–" if mean is None else f"{100 * mean:.2f} / {100 * mx:.2f}"


def table(results: list[dict]) -> str:
    rows = ["| " + " | ".join(COLS) + " |", "|" + "---|" * len(COLS)]
    for r in results:
        if r["tool"] == "(input)":
            m = r["metrics"]
            rows.append("| " + " | ".join([
                r["clip"], "*input*", _f(m.get("original_stability")), "1", "1", _f(m.get("original_jitter_px")),
                _f(m.get("original_jitter_deg"), "{:.4f}"), "1", _f(m.get("original_rs_residual_px")), _und(m, "original_"),
                _f(m.get("truth_input_jitter_deg"), "{:.4f}"), "–", "–"]) + " |")
            continue
        if r["status"] != "ok":
            err = (r.get("error") or "").replace("|", "/")
            rows.append(f"| {r['clip']} | {r['tool']} | **{r['status']}**: {err} |" + " |" * (len(COLS) - 3))
            continue
        m = r["metrics"]
        und = _und(m)
        rows.append("| " + " | ".join([
            r["clip"], r["tool"], _f(m.get("stability")), _cropping(m), _f(m.get("distortion")),
            _f(m.get("jitter_px")), _f(m.get("jitter_deg"), "{:.4f}"), _f(m.get("jitter_ratio_px")),
            _f(m.get("rs_residual_px")), und, _f(m.get("truth_output_jitter_deg"), "{:.4f}"),
            _f(m.get("truth_residual_deg"), "{:.4f}"), _f(r.get("seconds"), "{:.1f}")]) + " |")
    return "\n".join(rows)


def write_doc(section: str) -> None:
    write_section(DOC, START, END, section, heading="## Quality")


def section(results: list[dict], cmd: str, elapsed_s: float) -> str:
    uname = " ".join(platform.uname())
    ff = shutil.which("ffmpeg")
    ffv = subprocess.run([ff, "-version"], capture_output=True, text=True).stdout.splitlines()[0] if ff else "not installed"
    return f"""Command: `{cmd}` ({elapsed_s / 60:.1f} min)
Machine: `{uname}`, {os.cpu_count()} CPUs; {ffv}; date {_dt.date.today().isoformat()}.

Clips: `fusedstab simulate` (seed 0, {DURATION_S:g} s, 30 fps unless named, {READOUT_MS:g} ms rolling-shutter
readout, pinhole 70° HFOV; the turn: one fast intended turn) and real clips from `../shared/data`. Settings: fusedstab
defaults (crop budget and smoothness chosen per clip: `--fov-keep auto`) with the clip's gcsv and lens json
(real clips: defaults plus the lens profile where one exists);
ffmpeg vid.stab `vidstabdetect=shakiness=5:accuracy=15` then
`vidstabtransform=smoothing=round(0.5 s·fps):zoom=0:optzoom=1,unsharp=5:5:0.8:3:3:0.4`,
libx264 crf 18; python `vidstab` `smoothing_window=round(0.5 s·fps), border_type='black'`.

Metrics (`fusedstab evaluate`, definitions in `src/fusedstab/measure/metrics.py`): stability,
cropping, distortion as Liu et al. 2013 (DIFRINT-style scripts: 5 lowest non-DC FFT bins;
cropping = mean 1/scale of the original→output homography, "(n of N frames)" where more
than a tenth of the frames had no plausible one and are left out; distortion = min eigenvalue
ratio); jitter = RMS of the similarity path minus its 0.5 s Gaussian smoothing (px in each
video's own pixels, deg); jitter ratio = output / input jitter px; RS resid = median RMS
residual under one homography per frame pair; undefined = black border pixels connected
to the frame edge (dark scene content at the edge counts too: the *input* row gives that
baseline; fusedstab's warp maps are checked exactly in the tests); truth jitter = high-pass
RMS of the output camera orientation fitted to the simulator's truth; truth resid = RMS angle to the truth smoothed with 0.5 s. The
*input* row is the unstabilized clip (truth column: the true camera's high-pass jitter).

{table(results)}
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one scenario at 720p + the GoPro clip")
    ap.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "fusedstab-bench-quality")
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"comma list of {', '.join(TOOLS)}")
    ap.add_argument("--only", default="", help="comma list of substrings: run only clips whose name contains one")
    ap.add_argument("--reuse", action="store_true",
                    help="tools not named in --tools keep their results from the last run in --scratch "
                    "(e.g. re-run fusedstab only, keep the peers' rows)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/BENCHMARKS.md")
    ap.add_argument("--max-frames", type=int, default=None, help="evaluate only the first N frames")
    args = ap.parse_args(argv)
    from fusedstab.measure.metrics import evaluate

    t_start = time.perf_counter()
    scratch = args.scratch.resolve()
    if REPO in scratch.parents:
        ap.error("--scratch must be outside the repository")
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "out").mkdir(exist_ok=True)
    log = scratch / "tools.log"
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    only = [o.strip() for o in args.only.split(",") if o.strip()]
    clips = simulate_clips(scratch, args.quick, only) + real_clips(args.quick)
    if only:
        clips = [c for c in clips if any(o in c["name"] for o in only)]
    cache_dir = scratch / "results"
    cache_dir.mkdir(exist_ok=True)
    results: list[dict] = []
    for clip in clips:
        name = clip["name"]
        slug = "".join(ch if ch.isalnum() else "_" for ch in name)
        input_row = {"clip": name, "tool": "(input)", "status": "ok", "metrics": {}}
        results.append(input_row)
        for tool in TOOLS:
            cached = cache_dir / f"{slug}.{tool}.json"
            if tool not in tools:
                if args.reuse and cached.exists():
                    r = json.loads(cached.read_text())
                    print(f"[{time.perf_counter() - t_start:6.0f} s] {name}: {tool} (reused)", flush=True)
                    if r.get("metrics") and not input_row["metrics"]:
                        input_row["metrics"] = r["metrics"]
                    results.append(r)
                continue
            runner, ext = RUNNERS[tool]
            out = scratch / "out" / f"{slug}.{tool}{ext}"
            if out.exists():
                out.unlink()
            print(f"[{time.perf_counter() - t_start:6.0f} s] {name}: {tool} ...", flush=True)
            r = {"clip": name, "tool": tool, **runner(clip, out, log)}
            if r["status"] == "ok":
                try:
                    r["metrics"] = evaluate(clip["video"], out, clip["truth"], max_frames=args.max_frames)
                    if not input_row["metrics"]:
                        input_row["metrics"] = r["metrics"]
                except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
                    r["status"], r["error"] = "failed", f"evaluate: {exc.__class__.__name__}: {exc}"
            print(f"    {r['status']} {r.get('error', '')}", flush=True)
            cached.write_text(json.dumps(r, default=str))
            results.append(r)
    (scratch / "quality.json").write_text(json.dumps(results, indent=1, default=str))
    cmd = "python bench/quality.py" + (" --quick" if args.quick else "") + (f' --only "{args.only}"' if args.only else "")
    if set(tools) != set(TOOLS):
        cmd += f" --tools {','.join(tools)}"
        if args.reuse:
            cmd += " --reuse  (other tools' rows from the previous full run)"
    sec = section(results, cmd, time.perf_counter() - t_start)
    print(sec)
    if not args.no_write:
        write_doc(sec)
        print(f"updated {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
