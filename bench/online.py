#!/usr/bin/env python3
"""Online mode (``--lookahead``) against offline: the adaptive zoom on simulated clips, and
every real clip of ../shared/data with the defaults.

Usage (from the repository root, with the package installed)::

    python bench/online.py                     # simulated: walk, run, turn (480x270, 4 s; ~1 min)
    python bench/online.py --budget 0.97 --max-zoom 1.3 --scenarios turn
    python bench/online.py --real              # the real clips (~5 min on 2 cores)

**Simulated** (the adaptive zoom offline and online: field of view kept and the output camera's
jitter by the simulator's truth, against the fixed zoom of the same crop budget). Each clip is a ``fusedstab simulate`` clip (seed 3) in a scratch folder outside git. The plans
use the clip's gyro log at its true offset (``--motion gyro``, no automatic sync, intent off), so
the rows differ only in the crop: ``--fov-keep BUDGET`` with a fixed zoom or ``--zoom adaptive
--max-zoom Z``, offline and online (``--lookahead``). Columns: truth jitter = high-pass RMS of
the output camera's orientation in the truth's world [deg] (input: the real camera's), mean
fraction of the width kept, the largest zoom, the zoom's largest change per second, the mean
pull-back toward the real camera. Plans only: nothing is rendered.

**Real** (``--real``): the clips and options of ``bench/quality.py`` (defaults plus the lens
profile or gyro log the quality table gives them), planned offline and online with lookaheads
``--lookahead`` (default 0.5 and 1 s) with the fixed and the adaptive zoom. Columns: the motion
the plan uses (``none`` = the frames written as they are: the never-worse check), the mean
fraction of the width kept, and the jitter the tracks predict for the input and the output
[px]; where the check wrote the input, the plan's own prediction from its warning. Plans only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def main(argv=None) -> int:
    from fusedstab.filtering.blur_mask import hf_jitter_deg
    from fusedstab.measure.simulate import SimConfig, load_truth, simulate
    from fusedstab.pipeline import StabilizeOptions, plan_stabilization
    from fusedstab.types import OrientationTrack

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenarios", default="walk,run,turn")
    ap.add_argument("--budget", type=float, default=0.97, help="--fov-keep of every row (default 0.97)")
    ap.add_argument("--max-zoom", type=float, default=1.3, help="--max-zoom of the adaptive rows (default 1.3)")
    ap.add_argument("--lookahead", default=None, help="online lookaheads [s] (default 0.5,0.2; --real: 0.5,1)")
    ap.add_argument("--real", action="store_true", help="the real clips of ../shared/data instead (defaults)")
    ap.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "fusedstab-bench-online-zoom")
    args = ap.parse_args(argv)
    args.scratch.mkdir(parents=True, exist_ok=True)
    if args.real:
        return real(args)
    rows = [("offline", "fixed", dict()), ("offline", "adaptive", dict(zoom_mode="adaptive", max_zoom=args.max_zoom))]
    for la in (float(x) for x in (args.lookahead or "0.5,0.2").split(",")):
        rows += [(f"online {la:g} s", "fixed", dict(lookahead_s=la)),
                 (f"online {la:g} s", "adaptive", dict(lookahead_s=la, zoom_mode="adaptive", max_zoom=args.max_zoom))]
    print(f"budget {args.budget:g}, adaptive up to {args.max_zoom:g}\n")
    print("| clip | mode | zoom | truth jitter deg (input) | width kept | zoom max | zoom rate /s | pull-back mean | plan s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for scen in args.scenarios.split(","):
        prefix = args.scratch / scen
        if not Path(f"{prefix}.mp4").exists():
            simulate(prefix, SimConfig(scenario=scen, width_px=480, height_px=270, duration_s=4.0, seed=3))
        truth = load_truth(f"{prefix}.truth.npz")
        T = OrientationTrack(truth.times_s, truth.quat_wxyz)
        for mode, zoom, kw in rows:
            opts = StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json", auto_sync=False, motion="gyro",
                                    force=True, intent=False, gyro_offset_ms=truth.gyro_offset_s * 1e3,
                                    fov_keep=args.budget, **kw)
            t0 = time.perf_counter()
            plan = plan_stabilization(f"{prefix}.mp4", opts)
            dt = time.perf_counter() - t0
            tc = plan.planner.centre_time_s(plan.frame_times_s)
            Tt = T.matrices_at(tc)
            out = hf_jitter_deg(Tt @ np.swapaxes(plan.R_real, 1, 2) @ plan.R_virt, tc)
            z = plan.crop.zoom_per_frame
            rate = float(np.max(np.abs(np.diff(z)) / np.diff(plan.frame_times_s))) if z is not None else 0.0
            print(f"| {scen} | {mode} | {zoom} | {out:.3f} ({hf_jitter_deg(Tt, tc):.3f}) | {plan.crop.fov_kept:.3f} | "
                  f"{plan.crop.zoom:.3f} | {rate:.3f} | {plan.crop.pullback.mean():.3f} | {dt:.1f} |", flush=True)
    return 0


def real(args) -> int:
    """The real-clip table (see the module docstring)."""
    import re

    sys.path.insert(0, str(HERE))
    import quality  # the clips and their options

    from fusedstab.cli.options import add_stabilize_options, options_from_args
    from fusedstab.pipeline import plan_stabilization

    lens = quality.write_phone_lens(args.scratch)
    looks = [float(x) for x in (args.lookahead or "0.5,1").split(",")]
    rows = [("offline", [])] + [(f"online {la:g} s{z}", ["--lookahead", str(la)] + (["--zoom", "adaptive"] if z else []))
                                for la in looks for z in ("", " adaptive")]
    print("| clip | mode | motion | width kept | jitter px in -> out (planned) | plan s |")
    print("|---|---|---|---|---|---|")
    for clip in quality.real_clips(quick=False):
        if clip.get("fusedstab") is None:
            continue
        base = [a.replace("{scratch}/phone_cc9pro.lens.json", str(lens)) for a in clip["fusedstab"]]
        for mode, extra in rows:
            parser = argparse.ArgumentParser()
            add_stabilize_options(parser)
            opts = options_from_args(parser.parse_args(base + extra))
            t0 = time.perf_counter()
            plan = plan_stabilization(clip["video"], opts)
            dt = time.perf_counter() - t0
            pr = plan.predicted or {}
            out = f"{pr.get('output_px', float('nan')):.2f}"
            if plan.passthrough:  # what the rejected plan predicted, from its warning
                m = re.search(r"shakier than the input \(([0-9.]+) px", " ".join(plan.warnings))
                out = f"input kept ({m.group(1)} planned)" if m else "input kept"
            print(f"| {clip['name']} | {mode} | {plan.motion_source.split(' (')[0]} | {plan.crop.fov_kept:.3f} | "
                  f"{pr.get('input_px', float('nan')):.2f} -> {out} | {dt:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
