#!/usr/bin/env python3
"""Crop budget sweep: field of view kept and jitter of fusedstab at several ``--fov-keep``
values, against ffmpeg vid.stab two-pass on the same clips (the settings of bench/quality.py).

Usage (from the repository root)::

    python bench/crop_budget.py                          # sim walk, run, pan 30/60 fps, turn (640x360)
    python bench/crop_budget.py --fov 0.9,0.92,0.95 --clips walk,pan60 --real
    python bench/crop_budget.py --fov auto,steady,0.98      # the crop policies beside fixed budgets

Clips: ``fusedstab simulate`` 640x360, 4 s, 10 ms readout, seed 0 (``pan60``: 60 fps), and
with ``--real`` the clips of ``../shared/data`` (GoPro HERO5 Karma, phone CC9 Pro). Every
output is scored by :func:`fusedstab.measure.metrics.evaluate` (``cropping`` = field of view kept,
``jitter_px`` = high-frequency jitter, ``undefined_share_max``). Results go to
``SCRATCH/crop_budget.json`` and a markdown table to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import quality  # noqa: E402  (vid.stab runner, real clips)

SIM = {
    "walk": dict(scenario="walk"), "run": dict(scenario="run"), "pan": dict(scenario="pan"),
    "pan60": dict(scenario="pan", fps=60.0), "turn": dict(scenario="turn"),
}


def sim_clip(scratch: Path, name: str) -> dict:
    from fusedstab.measure.simulate import SimConfig, simulate

    prefix = scratch / f"sim_{name}"
    if not prefix.with_suffix(".mp4").exists():
        simulate(prefix, SimConfig(width_px=640, height_px=360, duration_s=4.0, readout_s=0.010, seed=0, **SIM[name]))
    return {"name": f"sim {name} 640x360", "video": prefix.with_suffix(".mp4"),
            "truth": Path(f"{prefix}.truth.npz"),
            "opts": {"gyro": f"{prefix}.gcsv", "lens": f"{prefix}.lens.json"}}


def real_clip_opts(clip: dict, scratch: Path) -> dict:
    args = clip["fusedstab"]
    o = {}
    it = iter(args)
    for a in it:
        v = next(it)
        v = v.replace("{scratch}", str(scratch))
        key = {"--gyro": "gyro", "--lens": "lens", "--gyro-columns": "gyro_columns", "--frame-timestamps": "frame_timestamps",
               "--first-frame": "first_frame", "--imu-orientation": "imu_orientation"}[a]
        o[key] = int(v) if key == "first_frame" else v
    if any("phone_cc9pro" in str(v) for v in o.values()):
        quality.write_phone_lens(scratch)
    return o


def run_fusedstab(clip: dict, out: Path, fov_keep: float | str, extra: dict) -> dict:
    from fusedstab.pipeline import StabilizeOptions, stabilize

    t0 = time.perf_counter()
    rep = stabilize(clip["video"], out, StabilizeOptions(**clip["opts"], fov_keep=fov_keep, preset="veryfast", **extra))
    return {"seconds": time.perf_counter() - t0, "zoom": rep.zoom, "fov_kept": rep.fov_kept}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "fusedstab-crop-budget")
    ap.add_argument("--clips", default="walk,run,pan,pan60,turn")
    ap.add_argument("--fov", default="0.9,0.92,0.95", help="comma-separated --fov-keep values: fractions, auto, steady")
    ap.add_argument("--real", action="store_true", help="also the clips in ../shared/data")
    ap.add_argument("--no-vidstab", action="store_true")
    ap.add_argument("--extra", default="{}", help="JSON of further StabilizeOptions fields")
    a = ap.parse_args(argv)
    from fusedstab.measure.metrics import evaluate

    scratch = a.scratch.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    clips = [sim_clip(scratch, c) for c in a.clips.split(",") if c]
    if a.real:
        for c in quality.real_clips(False):
            c["opts"] = real_clip_opts(c, scratch)
            clips.append(c)
    extra = json.loads(a.extra)
    res_path = scratch / "crop_budget.json"
    results = json.loads(res_path.read_text()) if res_path.exists() else {}
    rows = []
    for clip in clips:
        slug = "".join(ch if ch.isalnum() else "_" for ch in clip["name"])
        key = f"{clip['name']}|vid.stab"
        if not a.no_vidstab and key not in results:
            out = scratch / f"{slug}.vidstab.mp4"
            r = quality.run_ffmpeg_vidstab(clip, out, scratch / "tools.log")
            if r["status"] == "ok":
                m = evaluate(clip["video"], out, clip["truth"])
                results[key] = {"cropping": m["cropping"], "jitter_px": m["jitter_px"],
                                "undefined_max": m["undefined_share_max"], "input_jitter_px": m["original_jitter_px"]}
        for fk in [x if x in ("auto", "steady") else float(x) for x in a.fov.split(",") if x]:
            label = fk if isinstance(fk, str) else f"{fk:g}"
            key = f"{clip['name']}|fusedstab fov {label} {json.dumps(extra, sort_keys=True) if extra else ''}".strip()
            if key in results:
                continue
            out = scratch / f"{slug}.fs{label}.mp4"
            r = run_fusedstab(clip, out, fk, extra)
            m = evaluate(clip["video"], out, clip["truth"])
            results[key] = {**r, "cropping": m["cropping"], "jitter_px": m["jitter_px"],
                            "undefined_max": m["undefined_share_max"], "input_jitter_px": m["original_jitter_px"],
                            "truth_jitter_deg": m.get("truth_output_jitter_deg")}
            print(key, json.dumps(results[key]), flush=True)
            res_path.write_text(json.dumps(results, indent=1))
        res_path.write_text(json.dumps(results, indent=1))
    print("| clip / tool | cropping (FOV kept) | jitter px | undefined max % |")
    print("|---|---:|---:|---:|")
    for k, v in sorted(results.items()):
        print(f"| {k} | {v['cropping']:.3f} | {v['jitter_px']:.3f} | {100 * (v['undefined_max'] or 0):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
