"""Options shared by sub-commands, and their parsing.

``stabilize``'s options (also offered by ``report`` and ``batch``), the description of a
plain-text gyro log and its clock (``stabilize``, ``info``, ``sync``) and the sync search
(``stabilize``, ``sync``). Ranges and names are checked by :mod:`fusedstab.validation`, the
same rules as the library's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..io.lens import LENS_DIR_ENV
from ..pipeline import DEFAULT_FOV_DEG, StabilizeOptions
from ..validation import FOV_KEEP_POLICIES, X264_PRESETS, check_stabilize_options

__all__ = [
    "add_gyro_source_arguments",
    "add_stabilize_option_group",
    "add_stabilize_options",
    "add_sync_arguments",
    "fov_keep",
    "number",
    "options_from_args",
]


def number(text: str) -> float:
    """Parse a number for argparse; ranges (and NaN / inf) are checked by :mod:`fusedstab.validation`."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def fov_keep(text: str) -> float | str:
    """Parse ``--fov-keep``: a fraction of the width, or a crop policy (``auto``, ``steady``)."""
    if text.strip().lower() in FOV_KEEP_POLICIES:
        return text.strip().lower()
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction of the width (e.g. 0.92), auto or steady, got {text!r}") from None


def add_gyro_source_arguments(p: argparse.ArgumentParser) -> None:
    """Options describing a plain-text gyro log and its clock (shared with ``stabilize``)."""
    p.add_argument("--imu-orientation", default=None, metavar="MAPPING",
                   help="IMU axis mapping: 3 letters, letter i = the IMU axis that becomes camera axis i (x right, "
                   "y down, z forward), uppercase as is, lowercase negated (e.g. XYZ, yXZ); 'auto' tries the 24 "
                   "proper mappings and keeps the one that fits the video best. Default: XYZ for logs "
                   "telemetry-parser reads (their axes are known), auto for plain-text logs; where the picture "
                   "follows such a log on other axes (a camera mounted upside down that does not say so), the "
                   "plan is made again with auto and kept where it is steadier, with a warning")
    p.add_argument("--gyro-columns", default=None, metavar="COLS",
                   help="read --gyro as a plain-text log whose columns are, in order, these names: t (time), x, y, z "
                   "(angular velocity), _ (ignored), e.g. t,x,y,z or x,y,z,t. Without it, text logs that "
                   "telemetry-parser cannot read are tried as t,x,y,z")
    p.add_argument("--gyro-units", default="auto", choices=["auto", "rad/s", "deg/s"],
                   help="angular velocity units of a plain-text log. auto (default): rad/s, unless a value is beyond "
                   "what any camera turns at (then deg/s) or, when stabilizing, the picture shows a log in deg/s "
                   "(it moves 1/57 as much as read as rad/s: then the log is read again as deg/s, with a warning)")
    p.add_argument("--time-units", default="s", choices=["s", "ms", "us", "ns"],
                   help="time units of a plain-text log and of --frame-timestamps (default s)")
    p.add_argument("--frame-timestamps", type=Path, default=None, metavar="FILE",
                   help="per-frame timestamps on the gyro log's clock (one per line, line k = frame k; or "
                   "frame,timestamp columns): the starting offset becomes -timestamp(--first-frame)")
    p.add_argument("--first-frame", type=int, default=1, metavar="N",
                   help="number (1-based) of the video's first frame in --frame-timestamps (default 1)")


#: how the default search reaches a log that starts long before the video (shared help text)
WIDE_SEARCH_HELP = ("with neither this nor a start given, a log reaching further is screened at every offset by "
                    "its rotation speed, and the search moves to a clearly better match")


def add_sync_arguments(p: argparse.ArgumentParser, *, stabilize: bool = False) -> None:
    """The search option (shared with ``stabilize``)."""
    if stabilize:
        p.add_argument("--sync-search-ms", type=number, default=None, metavar="MS",
                       help="search the gyro offset in ±MS around the start: --gyro-offset-ms, else the "
                       "--frame-timestamps offset, else 0 (default 1000; " + WIDE_SEARCH_HELP + ")")
        p.add_argument("--no-auto-sync", dest="auto_sync", action="store_false",
                       help="do not estimate the gyro offset from the video: use --gyro-offset-ms (or the "
                       "--frame-timestamps offset, or 0) as is; --imu-orientation auto still searches the axes")
    else:
        p.add_argument("--sync-search-ms", type=number, default=None, metavar="MS",
                       help="search the offset in ±MS around the starting offset (default 1000; " + WIDE_SEARCH_HELP
                       + ")")


def frame_size(text: str) -> tuple[int, int | None]:
    """``--size``: ``"1920x1080"`` -> (1920, 1080); ``"1920"`` -> (1920, None)."""
    parts = str(text).lower().replace("*", "x").split("x")
    try:
        if len(parts) == 1:
            return int(parts[0]), None
        if len(parts) == 2:
            return int(parts[0]), int(parts[1])
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT or WIDTH in pixels, e.g. 1920x1080, got {text!r}")


def add_stabilize_options(p) -> None:
    """``stabilize``'s options other than INPUT, ``-o``, ``--report``, ``--json`` and ``-q``, added to ``p``
    (a parser or an argument group)."""
    p.add_argument("--gyro", type=Path, help="gyro log (Gyroflow .gcsv or any format telemetry-parser reads); "
                   "default: embedded in INPUT, or INPUT's name with .gcsv beside it")
    p.add_argument("--lens", type=Path, help="Gyroflow lens profile JSON (opencv_fisheye or opencv_standard), "
                   "scaled to the video's resolution, or a folder of profiles (e.g. a copy of gyroflow/lens_profiles) "
                   "searched for this camera's (by the camera the file names, its in-camera stabilization, size and "
                   f"frame rate); default: the folder ${LENS_DIR_ENV} names, if set and --fov is not given, else the "
                   "lens the file states (GoPro: its diagonal field of view and lens mode), else a pinhole lens with "
                   "--fov. A profile file given for a clip that states its lens is planned against that lens on the "
                   "same tracks, and the one predicted clearly steadier is used (a warning says so)")
    p.add_argument("--keep-lens", action="store_true",
                   help="use the --lens profile (a file, or a folder's first choice) as it is: plan no other lens "
                   "against it")
    p.add_argument("--fov", type=number, default=None, metavar="DEG",
                   help="horizontal field of view of a pinhole lens (1..179) when no --lens is given; default: estimated "
                   f"from the video by the automatic sync, starting from {DEFAULT_FOV_DEG:g}")
    p.add_argument("--smoothness", type=number, default=None, metavar="SECONDS",
                   help="Gaussian sigma of the smoothed camera path in seconds (0..10); larger is steadier where the "
                   "crop leaves room. Default: chosen per clip among 0.5, 1 and 2 s, the one whose planned output "
                   "is predicted steadiest (0.5 in online mode)")
    p.add_argument("--gyro-offset-ms", type=number, default=None, metavar="D",
                   help="gyro-video time offset: the gyro sample read at time T belongs to video time T + D; the "
                   "automatic sync refines it (it is the search's centre; --no-auto-sync uses it as is). Default: "
                   "estimated from the video (fusedstab sync), falling back to 0 with a warning")
    p.add_argument("--readout-ms", type=number, default=None, metavar="R",
                   help="rolling-shutter readout time, top row to bottom row (below two frame periods); negative: rows "
                   "read bottom to top (a camera that turns its picture upside down). Default: lens profile (with its "
                   "frame_readout_direction), then file metadata (GoPro SROT), else estimated by the automatic sync "
                   "(up to one frame period, either direction); without a gyro, from the video's tracks where they show "
                   "it clearly; else 0, a global shutter")
    add_sync_arguments(p, stabilize=True)
    add_gyro_source_arguments(p)
    p.add_argument("--motion", choices=["auto", "gyro", "video"], default="auto",
                   help="where the camera motion comes from: auto = the gyro where it explains the picture and the "
                   "video's own motion where it does not (in-camera stabilization, an OIS lens without its log, wrong "
                   "units or axes, a failed sync), or no gyro at all; never a plan predicted to be shakier than the "
                   "input. gyro = the gyro only (an error if the output would be shakier than the input, unless "
                   "--force). video = feature tracks only, no gyro needed (default auto)")
    p.add_argument("--projection", choices=["rectilinear", "lens"], default="rectilinear",
                   help="output lens: rectilinear = the lens distortion removed (straight lines straight; a "
                   "fisheye's periphery falls outside the frame), lens = the source's lens model kept (its whole "
                   "picture; the crop budget is then all the virtual camera's room) (default rectilinear)")
    p.add_argument("--force", action="store_true",
                   help="with --motion gyro: render even when the check predicts an output shakier than the input")
    p.add_argument("--lens-motion", type=Path, default=None, metavar="CSV",
                   help="OIS shift / focus breathing log (docs/LENS_MOTION_CSV.md); default: INPUT.lens.csv if present")
    p.add_argument("--ignore-lens-motion", action="store_true", help="do not use any OIS / focus log")
    p.add_argument("--fov-keep", type=fov_keep, default=None, metavar="FRACTION|auto|steady",
                   help="crop budget: the fraction of the width to keep (zoom 1/FRACTION; a fisheye drawn rectilinear "
                   "shows less, its periphery magnified out of the frame: the report's width_kept says how much); "
                   "where the smoothed camera "
                   "would leave the picture it is pulled toward the real one, gradually, never showing undefined "
                   "pixels. auto (default, offline): the most picture from 0.98 down to 0.88 (to 0.005) whose "
                   "planned output is predicted to keep at most half of the input's jitter (where none does, the widest "
                   "within 1.25x of the steadiest one's jitter); wider than 0.98 (0.99, 1: no "
                   "crop beyond what the warp needs) where the smoothed path alone halves it there and at 0.98, and "
                   "stays within 1.25x of 0.98's "
                   "jitter plus 0.1 px (a tripod, a gimbal); steady: the steadiest of 0.96, 0.92 and 0.88 unless "
                   "a wider one is within 1.25x of its jitter (more shake removed, less picture); online: 0.92. "
                   "docs/BENCHMARKS.md")
    p.add_argument("--zoom", choices=["fixed", "adaptive"], default="fixed", dest="zoom_mode",
                   help="fixed: one zoom for the clip (the budget); adaptive: a per-frame zoom that rises above the "
                   "budget only where needed, up to --max-zoom, changing at most 0.1 per second; where it runs out, the crop "
                   "corridor keeps the path inside each frame's room (online: the zoom starts to rise up to --lookahead "
                   "before the frames that need it, each frame's room at the zoom it can reach by then) (default fixed)")
    p.add_argument("--max-zoom", type=number, default=1.25, metavar="Z",
                   help="largest crop zoom (1..10): caps the budget's zoom and the adaptive zoom "
                   "(default 1.25 = at least 80%% of the width kept)")
    p.add_argument("--horizon-lock", nargs="?", type=number, const=0.0, default=None, metavar="DEG_PER_S",
                   help="hold the horizon level (gravity from the accelerometer fused with the gyro by VQF); "
                   "optional DEG_PER_S limits how fast the level correction may change; level means as the clip is "
                   "shown (a phone held in portrait stays portrait); needs accelerometer data and crop room: the chosen "
                   "crop budget is at least the zoom a level horizon needs, up to --max-zoom, and a warning names "
                   "that zoom where it is more; where levelling would leave the output shakier than the input, the "
                   "clip is stabilized without it; default off")
    p.add_argument("--exposure-ms", type=number, default=None, metavar="MS",
                   help="exposure time (0..1000 ms), for motion-blur masking (the output follows the real motion a little on "
                   "frames the gyro says are blurred); default: the file's metadata (GoPro), else no masking")
    p.add_argument("--no-blur-masking", action="store_true", help="never blend real motion back on blurred frames")
    p.add_argument("--no-intent", action="store_true",
                   help="no intent model: plain Gaussian smoothing, no pan-axis following or tripod hold")
    p.add_argument("--no-corridor", action="store_true",
                   help="where the crop pulls the smoothed camera back, do not also plan the steadiest path inside the "
                   "crop's room (by default, with either zoom, offline keeps it where the tracks predict it steadier, or "
                   "wherever the crop pulls back when nothing is tracked, and online every frame leaves on it)")
    p.add_argument("--residual", choices=["auto", "on", "off"], default="auto",
                   help="hybrid residual (gyro or camera record plus the tracked video; online its high-pass sees at most "
                   "--lookahead ahead): the output is also "
                   "steadied against the high-frequency image motion the rotation does not explain (a drone's "
                   "vibration, a car's bumps); auto: only where it lowers the predicted jitter by 20%% or more "
                   "(default auto)")
    p.add_argument("--lookahead", type=number, default=None, metavar="SECONDS",
                   help="online mode: the filter sees at most SECONDS (0..60) ahead (bounded latency, as a live camera "
                   "pipeline); the crop is then the budget (--fov-keep; --zoom adaptive per frame), the smoothness one "
                   "(0.5 s unless given), the crop corridor works over the frames held, and the "
                   "intent model is off. Default: offline, the whole clip")
    p.add_argument("--backend", choices=["opencv", "torch"], default="opencv",
                   help="pixel backend: opencv (CPU) or torch (CPU or CUDA, needs the 'gpu' extra) (default opencv)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="device for --backend torch; auto picks CUDA when present (default auto)")
    p.add_argument("--interpolation", choices=["bilinear", "bicubic"], default="bilinear",
                   help="pixel interpolation (default bilinear)")
    p.add_argument("--size", type=frame_size, default=None, metavar="WxH|W", dest="out_size",
                   help="size of the written frames: the stabilized picture (same field of view and aspect ratio) at "
                   "another resolution, in the same pass (a smaller size is warped at a multiple of it and area-averaged; "
                   "e.g. 1920x1080 from a 4K clip, or 1920: the height from "
                   "the aspect ratio, even); default: the source's size")
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


def add_stabilize_option_group(parser: argparse.ArgumentParser, title: str) -> None:
    """``stabilize``'s options (same names, defaults and checks) in a group of ``parser`` titled ``title``."""
    add_stabilize_options(parser.add_argument_group(title))


def options_from_args(args: argparse.Namespace) -> StabilizeOptions:
    """The :class:`~fusedstab.pipeline.StabilizeOptions` that :func:`add_stabilize_options`' arguments describe."""
    opts = StabilizeOptions(
        gyro=args.gyro, lens=args.lens, keep_lens=args.keep_lens, fov_deg=args.fov, smoothness_s=args.smoothness,
        gyro_offset_ms=args.gyro_offset_ms, readout_ms=args.readout_ms, lens_motion=args.lens_motion,
        use_lens_motion=not args.ignore_lens_motion, max_zoom=args.max_zoom, lookahead_s=args.lookahead,
        fov_keep=args.fov_keep, zoom_mode=args.zoom_mode, horizon_lock=args.horizon_lock is not None,
        horizon_rate_deg_s=args.horizon_lock or None,
        exposure_ms=args.exposure_ms, blur_masking=not args.no_blur_masking, intent=not args.no_intent,
        corridor=not args.no_corridor,
        residual=args.residual,
        backend=args.backend,
        device=args.device, interpolation=args.interpolation, crf=args.crf, preset=args.preset, out_size=args.out_size,
        codec=args.codec, hw_encode=args.hw_encode, concurrent=not args.sequential,
        imu_orientation=args.imu_orientation, gyro_columns=args.gyro_columns, gyro_units=args.gyro_units,
        time_units=args.time_units, frame_timestamps=args.frame_timestamps, first_frame=args.first_frame,
        sync_search_ms=args.sync_search_ms, auto_sync=args.auto_sync, motion=args.motion, force=args.force,
        projection=args.projection,
    )
    check_stabilize_options(opts, cli=True)  # every number and name, before any file is read
    return opts
