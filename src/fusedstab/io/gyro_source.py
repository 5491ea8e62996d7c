"""Where the gyro comes from: a camera file, a log telemetry-parser reads, or a plain-text log.

Shared by ``fusedstab stabilize`` and ``fusedstab sync`` so both read a log the same way.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import TelemetryError
from .gyro_text import read_gyro_text, start_offset_from_frame_timestamps
from .telemetry import UnreadableLog, find_sidecar_log, is_gcsv, read_imu

__all__ = ["load_gyro", "start_offset_ms", "MAX_GYRO_RATE_HZ"]

#: gyro logs faster than this (a flight controller's 4-8 kHz blackbox log) are averaged down to
#: it as they are read (:meth:`~fusedstab.types.ImuSamples.averaged_down`): every later stage
#: costs time and memory in proportion to the samples, and a 0.5 ms step still resolves a
#: rolling-shutter frame's rows (a 5 s 640x360 clip with an 8 kHz log from 50 s before it:
#: peak 450 -> 324 MB, plan 5.2 -> 3.7 s, sync 1.2 -> 0.4 s, the same offset and predicted jitter)
MAX_GYRO_RATE_HZ = 2000.0


def load_gyro(video: Path, gyro: Path | None = None, *, columns: str | None = None, gyro_units: str = "rad/s",
              time_units: str = "s"):
    """Gyro samples from ``gyro`` (or INPUT / its .gcsv), at most :data:`MAX_GYRO_RATE_HZ`.
    Returns ``(imu, is_text_log)``.

    ``columns`` given: a plain-text log. Otherwise telemetry-parser first; a file it cannot read
    (and which is not the video itself) is tried as a ``t,x,y,z`` text log.
    """
    imu, is_text = _load_gyro(video, gyro, columns=columns, gyro_units=gyro_units, time_units=time_units)
    return imu.averaged_down(MAX_GYRO_RATE_HZ), is_text


def _load_gyro(video: Path, gyro: Path | None, *, columns: str | None, gyro_units: str, time_units: str):
    if columns:
        if gyro is None:
            raise TelemetryError("--gyro-columns describes a text log, but no --gyro was given", "add --gyro LOG")
        return read_gyro_text(gyro, columns, gyro_units, time_units), True
    if gyro is None:
        sidecar = find_sidecar_log(video)
        try:
            return read_imu(sidecar if sidecar is not None else video), False
        except TelemetryError as exc:
            raise TelemetryError(
                f"{video.name} carries no gyro data that telemetry-parser can read ({exc.message})",
                f"give a gyro log with --gyro, or put {video.with_suffix('.gcsv').name} beside the video",
            ) from None
    try:
        return read_imu(gyro), False
    except UnreadableLog as first:
        # not a format telemetry-parser knows: maybe a plain t,x,y,z text log
        if not gyro.is_file() or is_gcsv(gyro):
            raise
        try:
            return read_gyro_text(gyro, "t,x,y,z", gyro_units, time_units), True
        except TelemetryError as second:
            raise TelemetryError(
                f"{gyro} is not a format telemetry-parser reads ({first.message}), and read as a t,x,y,z text log: "
                f"{second.message.replace('but --gyro-columns names', 'but a t,x,y,z log has')}",
                f"{second.hint}; a text log with other columns needs --gyro-columns (e.g. x,y,z,t) and "
                "--gyro-units / --time-units",
            ) from None


def start_offset_ms(gyro_offset_ms: float | None, frame_timestamps: Path | None, first_frame: int,
                    time_units: str = "s") -> tuple[float, str]:
    """Starting offset [ms] and where it came from."""
    if gyro_offset_ms is not None:
        return float(gyro_offset_ms), "--gyro-offset-ms"
    if frame_timestamps is not None:
        return start_offset_from_frame_timestamps(frame_timestamps, first_frame, time_units) * 1000.0, "frame timestamps"
    return 0.0, "default 0"
