"""Command-line interface: a thin layer over the library.

One ``rich`` console is passed around so ``--quiet`` and tests control all output. Errors
derived from :class:`~fusedstab.errors.FusedStabError` print one message with its fix and
exit non-zero, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.markup import escape
from rich.table import Table

from .. import __version__
from ..errors import FusedStabError, Interrupted
from ..pipeline import DEFAULT_FOV_DEG, StabilizeOptions
from ..validation import X264_PRESETS, check_stabilize_options

__all__ = ["main", "build_parser"]


_FRAME_STAGES = {"render", "simulate", "sync", "track", "filter", "evaluate"}


class _FpsColumn(TextColumn):
    def __init__(self):
        super().__init__("")

    def render(self, task):  # noqa: D401 - rich API
        from rich.text import Text

        if task.description.strip() not in _FRAME_STAGES:  # e.g. the crop search counts passes, not frames
            return Text("")
        speed = task.finished_speed or task.speed
        return Text(f"{speed:6.1f} fps" if speed else "    -- fps", style="cyan")


@contextmanager
def progress_reporter(console: Console, quiet: bool):
    """Yield a ``(stage, done, total)`` callback that drives a rich progress bar."""
    if quiet:
        yield None
        return
    columns = [
        TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), _FpsColumn(),
        TextColumn("ETA"), TimeRemainingColumn(), TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as prog:
        tasks: dict[str, int] = {}

        def cb(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = prog.add_task(stage, total=total)
            prog.update(tasks[stage], completed=done, total=total)

        yield cb


def _positive_float(text: str) -> float:
    """Parse a number for argparse; ranges (and NaN / inf) are checked by :mod:`fusedstab.validation`."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


_number = _positive_float


class _Parser(argparse.ArgumentParser):
    """argparse with the package's error style: ``error: ...`` and ``fix: ...``, exit 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(f"[bold red]error:[/] {escape(self.prog)}: {escape(message)}")
        err.print(f"[bold]fix:[/] see the accepted values with `{escape(self.prog)} --help`")
        self.exit(2)


# ---------------------------------------------------------------------------- stabilize
def _add_stabilize(sub) -> None:
    p = sub.add_parser(
        "stabilize",
        help="stabilize a video with its gyro data, or from the video alone",
        description="Stabilize INPUT with gyro data (embedded in the file, a .gcsv beside it, or --gyro) checked "
        "against the video's own motion (or the video alone, --motion video), and write an H.264 MP4 with the same "
        "frame count, timestamps and audio.",
    )
    p.add_argument("input", type=Path, help="video to stabilize")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output video: .mp4, .m4v, .mov or .mkv, the container follows the extension (never the "
                   "input, never a device or other special file; written to a temporary file and renamed)")
    p.add_argument("--gyro", type=Path, help="gyro log (Gyroflow .gcsv or any format telemetry-parser reads); "
                   "default: embedded in INPUT, or INPUT's name with .gcsv beside it")
    p.add_argument("--lens", type=Path, help="Gyroflow lens profile JSON (opencv_fisheye or opencv_standard), "
                   "scaled to the video's resolution; default: a pinhole lens with --fov")
    p.add_argument("--fov", type=_number, default=None, metavar="DEG",
                   help="horizontal field of view of a pinhole lens (1..179) when no --lens is given; default: estimated "
                   f"from the video by the automatic sync, starting from {DEFAULT_FOV_DEG:g}")
    p.add_argument("--smoothness", type=_positive_float, default=None, metavar="SECONDS",
                   help="Gaussian sigma of the smoothed camera path in seconds (0..10); larger is steadier where the "
                   "crop leaves room. Default: chosen per clip among 0.5, 1 and 2 s, the one whose planned output "
                   "is predicted steadiest (0.5 in online mode)")
    p.add_argument("--gyro-offset-ms", type=_number, default=None, metavar="D",
                   help="gyro-video time offset: the gyro sample read at time T belongs to video time T + D; the "
                   "automatic sync refines it (it is the search's centre; --no-auto-sync uses it as is). Default: "
                   "estimated from the video (fusedstab sync), falling back to 0 with a warning")
    p.add_argument("--readout-ms", type=_positive_float, default=None, metavar="R",
                   help="rolling-shutter readout time, top row to bottom row (0..1000 ms, below two frame periods); default: lens profile, then file "
                   "metadata (GoPro SROT), else 0 (global shutter)")
    from .sync import add_gyro_source_arguments, add_sync_arguments

    add_sync_arguments(p, stabilize=True)
    add_gyro_source_arguments(p)
    p.add_argument("--motion", choices=["auto", "gyro", "video"], default="auto",
                   help="where the camera motion comes from: auto = the gyro where it explains the picture and the "
                   "video's own motion where it does not (in-camera stabilization, an OIS lens without its log, wrong "
                   "units or axes, a failed sync), or no gyro at all; never a plan predicted to be shakier than the "
                   "input. gyro = the gyro only (an error if the output would be shakier than the input, unless "
                   "--force). video = feature tracks only, no gyro needed (default auto)")
    p.add_argument("--projection", choices=["rectilinear", "lens"], default="rectilinear",
                   help="output lens: rectilinear = the lens distortion removed (straight lines straight), lens = "
                   "the source's lens model kept (default rectilinear)")
    p.add_argument("--force", action="store_true",
                   help="with --motion gyro: render even when the check predicts an output shakier than the input")
    p.add_argument("--lens-motion", type=Path, default=None, metavar="CSV",
                   help="OIS shift / focus breathing log (docs/LENS_MOTION_CSV.md); default: INPUT.lens.csv if present")
    p.add_argument("--ignore-lens-motion", action="store_true", help="do not use any OIS / focus log")
    p.add_argument("--fov-keep", type=_positive_float, default=None, metavar="FRACTION",
                   help="crop budget: the fraction of the width to keep (zoom 1/FRACTION); where the smoothed camera "
                   "would leave the picture it is pulled toward the real one, gradually, never showing undefined "
                   "pixels (default 0.92, chosen from measurements: docs/BENCHMARKS.md)")
    p.add_argument("--zoom", choices=["fixed", "adaptive"], default="fixed", dest="zoom_mode",
                   help="fixed: one zoom for the clip (the budget); adaptive: a per-frame zoom that rises above the "
                   "budget only where needed, up to --max-zoom, changing at most 0.1 per second (offline) (default fixed)")
    p.add_argument("--max-zoom", type=_number, default=1.25, metavar="Z",
                   help="largest crop zoom (1..10): caps the budget's zoom and the adaptive zoom "
                   "(default 1.25 = at least 80%% of the width kept)")
    p.add_argument("--horizon-lock", nargs="?", type=_positive_float, const=0.0, default=None, metavar="DEG_PER_S",
                   help="hold the horizon level (gravity from the accelerometer fused with the gyro by VQF); "
                   "optional DEG_PER_S limits how fast the level correction may change; needs accelerometer data "
                   "and crop room (e.g. --zoom adaptive); default off")
    p.add_argument("--exposure-ms", type=_positive_float, default=None, metavar="MS",
                   help="exposure time (0..1000 ms), for motion-blur masking (the output follows the real motion a little on "
                   "frames the gyro says are blurred); default: the file's metadata (GoPro), else no masking")
    p.add_argument("--no-blur-masking", action="store_true", help="never blend real motion back on blurred frames")
    p.add_argument("--no-intent", action="store_true",
                   help="no intent model: plain Gaussian smoothing, no pan-axis following or tripod hold")
    p.add_argument("--lookahead", type=_positive_float, default=None, metavar="SECONDS",
                   help="online mode: the filter sees at most SECONDS (0..60) ahead (bounded latency, as a live camera "
                   "pipeline); the crop is then the fixed budget (--fov-keep) and the intent model is off. Default: offline, the whole clip")
    p.add_argument("--backend", choices=["opencv", "torch"], default="opencv",
                   help="pixel backend: opencv (CPU) or torch (CPU or CUDA, needs the 'gpu' extra) (default opencv)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="device for --backend torch; auto picks CUDA when present (default auto)")
    p.add_argument("--interpolation", choices=["bilinear", "bicubic"], default="bilinear",
                   help="pixel interpolation (default bilinear)")
    p.add_argument("--crf", type=int, default=18, metavar="0..51", help="x264 quality, lower is better (default 18)")
    p.add_argument("--preset", default="medium", choices=X264_PRESETS, metavar="PRESET",
                   help=f"x264 speed preset: {', '.join(X264_PRESETS)} (default medium)")
    p.add_argument("--codec", default="h264", metavar="CODEC",
                   help="h264 (default), hevc, av1, vp9, prores (.mov/.mkv), ffv1 (.mkv, lossless), or an FFmpeg "
                   "encoder name such as h264_nvenc; --crf/--preset are mapped to its scale")
    p.add_argument("--hw-encode", action="store_true",
                   help="use the codec's hardware encoder (NVENC, QSV, AMF) when one works here, else the software one")
    p.add_argument("--sequential", action="store_true",
                   help="decode, warp and encode one after the other (default: concurrently; same output)")
    p.add_argument("--report", type=Path, default=None, metavar="DIR",
                   help="also write DIR/index.html: before/after player, plots of the plan, metrics, warnings "
                   "(needs the 'report' extra; fusedstab report INPUT OUTPUT does it after the fact)")
    p.add_argument("--json", action="store_true", help="print the run's report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary (errors still print)")
    p.set_defaults(func=_run_stabilize)


def _options_from_args(args) -> StabilizeOptions:
    opts = StabilizeOptions(
        gyro=args.gyro, lens=args.lens, fov_deg=args.fov, smoothness_s=args.smoothness,
        gyro_offset_ms=args.gyro_offset_ms, readout_ms=args.readout_ms, lens_motion=args.lens_motion,
        use_lens_motion=not args.ignore_lens_motion, max_zoom=args.max_zoom, lookahead_s=args.lookahead,
        fov_keep=args.fov_keep, zoom_mode=args.zoom_mode, horizon_lock=args.horizon_lock is not None,
        horizon_rate_deg_s=args.horizon_lock or None,
        exposure_ms=args.exposure_ms, blur_masking=not args.no_blur_masking, intent=not args.no_intent,
        backend=args.backend,
        device=args.device, interpolation=args.interpolation, crf=args.crf, preset=args.preset,
        codec=args.codec, hw_encode=args.hw_encode, concurrent=not args.sequential,
        imu_orientation=args.imu_orientation, gyro_columns=args.gyro_columns, gyro_units=args.gyro_units,
        time_units=args.time_units, frame_timestamps=args.frame_timestamps, first_frame=args.first_frame,
        sync_search_ms=args.sync_search_ms, auto_sync=args.auto_sync, motion=args.motion, force=args.force,
        projection=args.projection,
    )
    check_stabilize_options(opts, cli=True)  # every number and name, before any file is read
    return opts


def _print_report(console: Console, report) -> None:
    t = Table(show_header=False, box=None)
    d = report.as_dict()
    for key in ("output", "frames", "motion_source", "smoothness_s", "gyro_agreement", "zoom", "fov_kept", "gyro_source", "gyro_rate_hz", "offset_ms", "offset_source",
                "sync_confidence", "imu_orientation", "readout_ms", "readout_source", "lens", "lens_motion", "gyro_bias_rad_s", "backend", "seconds", "fps"):
        t.add_row(key, str(d[key]))
    if d.get("predicted_jitter"):
        pj = d["predicted_jitter"]
        t.add_row("predicted_jitter", f"{pj['input_px']:.2f} -> {pj['output_px']:.2f} px (input -> output)")
    console.print(t)


def _run_stabilize(args, console: Console) -> int:
    from ..pipeline import stabilize

    opts = _options_from_args(args)
    plans: list = []
    if args.report is not None:
        from ..measure.report import require_matplotlib

        require_matplotlib()  # before the long run, not after it
    with progress_reporter(console, args.quiet or args.json) as cb:
        report = stabilize(args.input, args.output, opts, progress=cb, on_plan=plans.append)
        if args.report is not None:
            from ..measure.report import report_after_stabilize

            report_after_stabilize(plans[0], report, args.report, opts, cb, console=None if (args.json or args.quiet) else console)
    err = Console(stderr=True)  # warnings never mix with the report on stdout (--json)
    for w in report.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
    if args.json:
        console.print_json(json.dumps(report.as_dict()))
    elif not args.quiet:
        _print_report(console, report)
    return 0


# ---------------------------------------------------------------------------- info
def _add_info(sub) -> None:
    p = sub.add_parser("info", help="what a video holds: streams, timing, telemetry",
                       description="Print the streams, duration, frame rate and the telemetry found in INPUT "
                       "(kind, IMU rate, units), and the readout time and in-camera stabilization when the file says so.")
    p.add_argument("input", type=Path, help="video file")
    p.add_argument("--gyro", type=Path, help="a separate gyro log to inspect as well (any log stabilize reads)")
    from .sync import add_gyro_source_arguments

    add_gyro_source_arguments(p)  # plain-text logs: --gyro-columns, units, --frame-timestamps
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run_info)


def _motion_hint(meta: dict) -> str:
    """What ``stabilize --motion auto`` will do with this file's gyro, in one line."""
    if meta.get("in_camera_stabilization"):
        iori = " (the file has the EIS's image-orientation quaternions, IORI, but undoing them is not implemented)" \
            if meta.get("image_orientation_quaternions") else " (no image-orientation quaternions to undo it)"
        return ("in-camera stabilization is on: the frames are already stabilized, so the gyro (the body's motion) "
                f"does not describe them{iori}; --motion auto uses the video's own motion")
    return "gyro, checked against the video's own motion (--motion auto)"


def _run_info(args, console: Console) -> int:
    from ..io.gyro_source import load_gyro, start_offset_ms
    from ..io.telemetry import find_sidecar_log
    from ..io.video import probe_video

    info = probe_video(args.input)
    out = {"video": info.as_dict()}
    source = args.gyro or find_sidecar_log(args.input) or args.input
    try:
        imu, is_text = load_gyro(args.input, args.gyro, columns=args.gyro_columns, gyro_units=args.gyro_units,
                                 time_units=args.time_units)
        words = (imu.meta.get("camera") or "").split()
        if len(words) > 1 and words[1].lower() == words[0].lower():  # telemetry-parser: "GoPro" + "GoPro Max"
            words = words[1:]
        t0, t1 = float(imu.times_s[0]), float(imu.times_s[-1])
        start_ms, start_source = start_offset_ms(None, args.frame_timestamps, args.first_frame, args.time_units)
        out["telemetry"] = {
            "source": str(source),
            "kind": " ".join(words) or ("plain-text log" if is_text else Path(source).suffix.lstrip(".")),
            "samples": int(len(imu.times_s)),
            "imu_rate_hz": round(imu.rate_hz, 2),
            "duration_s": round(t1 - t0, 4),
            # on the video's clock when the log's clock is known (--frame-timestamps), else the log's own
            "span_s": [round(t0 + start_ms / 1000.0, 4), round(t1 + start_ms / 1000.0, 4)],
            "span_clock": ("video (log clock + offset from --frame-timestamps)" if args.frame_timestamps
                           else "the log's own clock" + (" (not the video's: give --frame-timestamps)"
                                                         if abs(t0) > max(60.0, 10 * info.duration_s) else "")),
            "gyro_units": "rad/s (camera frame: x right, y down, z forward; read as deg/s, Gyroflow frame)",
            "accelerometer": imu.accel_m_s2 is not None,
            "readout_ms": round(imu.meta["readout_s"] * 1000.0, 3) if "readout_s" in imu.meta else None,
            "exposure_ms": round(imu.meta["exposure_s"] * 1000.0, 3) if "exposure_s" in imu.meta else None,
            "in_camera_stabilization": imu.meta.get("in_camera_stabilization"),
            "motion": _motion_hint(imu.meta),
        }
    except FusedStabError as exc:
        out["telemetry"] = None
        out["telemetry_error"] = exc.message
        out["motion"] = "no gyro: --motion auto stabilizes from the video's own motion"
    if args.json:
        console.print_json(json.dumps(out))
        return 0
    # never truncate: long paths fold onto the next line instead of ending in "..."
    t = Table(title=str(args.input), show_header=False, title_justify="left")
    t.add_column("key", no_wrap=True)
    t.add_column("value", overflow="fold")
    for k, v in out["video"].items():
        t.add_row(k, escape(str(v)))
    if out["telemetry"]:
        for k, v in out["telemetry"].items():
            t.add_row(f"telemetry.{k}", escape(str(v)))
    else:
        t.add_row("telemetry", escape(f"none ({out['telemetry_error']})"))
        t.add_row("motion", out["motion"])
    console.print(t)
    return 0


# ---------------------------------------------------------------------------- demo
def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="simulate a shaky clip, stabilize it, write a side-by-side video",
                       description="Simulate a short shaky clip with its gyro log and lens profile, stabilize it, "
                       "and write input, output and a side-by-side comparison video into OUTDIR.")
    p.add_argument("--outdir", type=Path, default=Path("fusedstab-demo"), help="where to write (default ./fusedstab-demo)")
    p.add_argument("--scenario", default="walk", help="simulated motion: still, walk, run, pan, turn (default walk)")
    p.add_argument("--duration", type=float, default=4.0, help="clip length in seconds (default 4)")
    p.add_argument("--size", default="640x360", help="frame size WxH (default 640x360)")
    p.add_argument("--readout-ms", type=float, default=0.0, help="simulated rolling-shutter readout (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_run_demo)


def _run_demo(args, console: Console) -> int:
    from .demo import run_demo

    return run_demo(args, console)


# ---------------------------------------------------------------------------- optional sub-commands
def _add_module_command(sub, name: str, module: str, help_text: str) -> None:
    """Sub-commands whose arguments live in their own module (``add_arguments`` + ``run``)."""
    import importlib

    mod = importlib.import_module(f"fusedstab.{module}")
    p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip().split("\n")[0])
    mod.add_arguments(p)
    p.set_defaults(func=mod.run)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fusedstab",
        description="Fused gyro + video stabilization: rolling shutter, OIS and focus breathing aware.",
    )
    parser.add_argument("--version", action="version", version=f"fusedstab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_stabilize(sub)
    _add_info(sub)
    _add_demo(sub)
    _add_module_command(sub, "simulate", "measure.simulate", "write a synthetic shaky clip with gyro log, lens and truth")
    _add_module_command(sub, "evaluate", "cli.evaluate", "measure stability, crop, distortion and jitter of a result")
    _add_module_command(sub, "sync", "cli.sync", "estimate the gyro-video offset and readout time from the video")
    _add_module_command(sub, "report", "measure.report", "an HTML page explaining a run: before/after player, plots, metrics")
    _add_module_command(sub, "batch", "batch", "stabilize many clips with the same options (locally or on Ray)")
    return parser


_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


@contextmanager
def _stop_signals_raise():
    """SIGTERM and SIGHUP end the run like Ctrl-C: an :class:`Interrupted` is raised in the main
    thread, so the writer removes its temporary file. Later signals are ignored while cleaning up."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, frame):
        for name in _STOP_SIGNALS:  # the cleanup must not be cut short by a second signal
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
        raise Interrupted(signum, signal.Signals(signum).name)

    for name in _STOP_SIGNALS:
        if hasattr(signal, name):
            num = getattr(signal, name)
            previous[num] = signal.getsignal(num)
            if previous[num] is signal.SIG_IGN and name != "SIGINT":
                continue  # e.g. started under nohup: keep ignoring SIGHUP
            signal.signal(num, handler)
    try:
        yield
    finally:
        for num, old in previous.items():
            signal.signal(num, old if old is not None else signal.SIG_DFL)


def main(argv: list[str] | None = None, *, console: Console | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = console or Console(stderr=False)
    err = Console(stderr=True, soft_wrap=True)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        with _stop_signals_raise():
            return int(args.func(args, console) or 0)
    except FusedStabError as exc:
        # messages carry paths and hints such as pip install 'fusedstab[gpu]': never markup
        err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.hint:
            err.print(f"[bold]fix:[/] {escape(exc.hint)}", highlight=False)
        return exc.exit_code
    except OSError as exc:  # a path problem no reader anticipated (e.g. a name longer than the file system allows)
        where = f": {exc.filename}" if exc.filename else ""
        err.print(f"[bold red]error:[/] {escape(exc.strerror or str(exc))}{escape(str(where))}", highlight=False)
        err.print("[bold]fix:[/] check the paths given (name length, permissions, free space)", highlight=False)
        return 2
    except MemoryError:
        err.print("[bold red]error:[/] out of memory", highlight=False)
        err.print("[bold]fix:[/] close other programs, or use a smaller --preset (e.g. veryfast) or a shorter clip",
                  highlight=False)
        return 2
    except KeyboardInterrupt as exc:
        name = exc.name if isinstance(exc, Interrupted) else "SIGINT"
        err.print(f"[bold red]error:[/] stopped by {name}; the unfinished output was removed", highlight=False)
        err.print("[bold]fix:[/] run the command again to completion", highlight=False)
        return exc.exit_code if isinstance(exc, Interrupted) else 130


if __name__ == "__main__":
    sys.exit(main())
