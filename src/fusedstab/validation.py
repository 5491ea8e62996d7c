"""Up-front checks of numeric and named options, shared by the CLI and the library.

Every option that reaches the pipeline is checked here before any file is read: a number
must be finite and inside a range that makes sense (a Gaussian sigma of 1e9 s is not a
setting, it is a typo that would keep the filter busy for hours), a name must be one of the
known ones. Problems raise :class:`~fusedstab.errors.InputError` whose message names the
option as the user wrote it (``--smoothness`` on the command line, ``smoothness_s`` in
:class:`~fusedstab.pipeline.StabilizeOptions`) and whose hint gives the accepted range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError

__all__ = [
    "NumberRange",
    "STABILIZE_RANGES",
    "X264_PRESETS",
    "OUTPUT_EXTENSIONS",
    "check_number",
    "check_choice",
    "check_stabilize_options",
]

#: x264's speed presets, fastest first.
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")

#: Output file extensions and the container each one writes (see :class:`fusedstab.io.video.VideoWriter`).
OUTPUT_EXTENSIONS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


@dataclass(frozen=True)
class NumberRange:
    """An accepted interval for one option: ``lo <= x <= hi`` (``lo_open``: ``lo < x``)."""

    flag: str
    lo: float
    hi: float
    unit: str = ""
    example: str = ""
    lo_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        lo = f"{self.lo:g}"
        op = "<" if self.lo_open else "<="
        unit = f" {self.unit}" if self.unit else ""
        return f"{lo} {op} value <= {self.hi:g}{unit}"


#: Ranges of :class:`~fusedstab.pipeline.StabilizeOptions` fields; ``flag`` is the CLI option.
STABILIZE_RANGES: dict[str, NumberRange] = {
    "smoothness_s": NumberRange("--smoothness", 0.0, 10.0, "s", "--smoothness 0.5"),
    "fov_deg": NumberRange("--fov", 1.0, 179.0, "deg", "--fov 75"),
    "gyro_offset_ms": NumberRange("--gyro-offset-ms", -1e13, 1e13, "ms", "--gyro-offset-ms -12.5"),
    "readout_ms": NumberRange("--readout-ms", -1000.0, 1000.0, "ms", "--readout-ms 20"),
    "max_zoom": NumberRange("--max-zoom", 1.0, 10.0, "", "--max-zoom 1.25"),
    "lookahead_s": NumberRange("--lookahead", 0.0, 60.0, "s", "--lookahead 1"),
    "exposure_ms": NumberRange("--exposure-ms", 0.0, 1000.0, "ms", "--exposure-ms 8"),
    "sync_search_ms": NumberRange("--sync-search-ms", 0.0, 60000.0, "ms", "--sync-search-ms 1000", lo_open=True),
    "crf": NumberRange("--crf", 0, 51, "", "--crf 18", integer=True),
    "first_frame": NumberRange("--first-frame", 1, 1e12, "", "--first-frame 1", integer=True),
    "grid_step_px": NumberRange("grid_step_px", 2, 256, "px", "grid_step_px=16", integer=True),
}

#: ``fov_keep`` when it is a number (else one of :data:`FOV_KEEP_POLICIES`)
FOV_KEEP_RANGE = NumberRange("--fov-keep", 0.0, 1.0, "", "--fov-keep 0.92", lo_open=True)
#: the crop policies ``fov_keep`` takes besides a number (:func:`fusedstab.pipeline.choose_fov_keep`)
FOV_KEEP_POLICIES = ("auto", "steady")


def _name(field: str, rng: NumberRange, cli: bool) -> str:
    return rng.flag if cli else field


def check_number(value, field: str, rng: NumberRange, *, cli: bool = False) -> float | int | None:
    """``value`` if it is a finite number inside ``rng`` (None passes), else :class:`InputError`."""
    if value is None:
        return None
    name = _name(field, rng, cli)
    fix = f"give {name} as a number with {rng.describe()}" + (f", e.g. {rng.example}" if rng.example and cli else "")
    if isinstance(value, bool):
        raise InputError(f"{name} must be a number, got {value!r}", fix)
    if rng.integer:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            try:
                import numpy as np

                if isinstance(value, np.integer):
                    value = int(value)
            except ImportError:  # pragma: no cover
                pass
        if not isinstance(value, int):
            raise InputError(f"{name} must be a whole number, got {value!r}", fix)
    else:
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be a number, got {value!r}", fix) from None
        if not math.isfinite(value):
            raise InputError(f"{name} must be a finite number, got {value}", fix)
    below = value <= rng.lo if rng.lo_open else value < rng.lo
    if below or value > rng.hi:
        unit = f" {rng.unit}" if rng.unit else ""
        raise InputError(f"{name} {value:g}{unit} is out of range ({rng.describe()})", fix)
    return value


def check_choice(value, field: str, choices, flag: str | None = None, *, cli: bool = False) -> str:
    """``value`` if it is one of ``choices``, else :class:`InputError` listing them."""
    name = flag if (cli and flag) else field
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"unknown {name} {value!r}", f"use one of: {', '.join(choices)}")
    return value


def check_stabilize_options(opts, *, cli: bool = False) -> None:
    """Check every number and name of a :class:`~fusedstab.pipeline.StabilizeOptions`.

    ``cli`` names options by their command-line flags in the messages. Raises
    :class:`InputError` on the first problem; reads no files.
    """
    for field, rng in STABILIZE_RANGES.items():
        if hasattr(opts, field):
            check_number(getattr(opts, field), field, rng, cli=cli)
    fov_keep = getattr(opts, "fov_keep", None)
    if isinstance(fov_keep, str):
        check_choice(fov_keep, "fov_keep", FOV_KEEP_POLICIES, "--fov-keep", cli=cli)
    else:
        check_number(fov_keep, "fov_keep", FOV_KEEP_RANGE, cli=cli)
    check_choice(opts.preset, "preset", X264_PRESETS, "--preset", cli=cli)
    check_choice(opts.backend, "backend", ("opencv", "torch"), "--backend", cli=cli)
    check_choice(opts.device, "device", ("auto", "cpu", "cuda"), "--device", cli=cli)
    check_choice(opts.interpolation, "interpolation", ("bilinear", "bicubic"), "--interpolation", cli=cli)
    check_choice(opts.residual, "residual", ("auto", "on", "off"), "--residual", cli=cli)
    if opts.gyro_units is not None:
        check_choice(str(opts.gyro_units).lower(), "gyro_units", ("auto", "rad/s", "rad", "deg/s", "deg", "dps"),
                     "--gyro-units", cli=cli)
    if opts.time_units is not None:
        check_choice(str(opts.time_units).lower(), "time_units", ("s", "ms", "us", "ns"), "--time-units", cli=cli)
