"""Camera telemetry (gyro) through telemetry-parser, converted once to the camera frame.

telemetry-parser's ``normalized_imu()`` gives gyro in deg/s in Gyroflow's IMU frame
(lens forward and level: **x up, y left, z back**). This module converts, at this edge
only, to the package's camera frame (x right, y down, z forward) in rad/s::

    w_cam = radians((-w_y, -w_x, -w_z))

Timestamps stay on the *gyro clock* (seconds, as the log writes them); the pipeline moves
them onto the video clock with the gyro-video offset.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import TelemetryError
from ..types import ImuSamples

__all__ = [
    "read_imu",
    "find_sidecar_log",
    "validate_imu",
    "gyroflow_to_camera",
    "camera_to_gyroflow",
    "read_camera_metadata",
    "camera_identity",
    "camera_metadata",
    "camera_name",
    "check_gcsv",
    "UnreadableLog",
]

#: Rotation taking Gyroflow-normalized IMU axes (x up, y left, z back) to camera axes.
GYROFLOW_TO_CAMERA = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])

_SIDECAR_EXTS = (".gcsv", ".GCSV")
_GCSV_MAGIC = "GYROFLOW IMU LOG"
_GCSV_HINT = ("re-export the .gcsv (a header, a column line such as t,gx,gy,gz,ax,ay,az, then one numeric row per "
              "sample), or remove the lines named")


#: Exceptions that must pass through the "anything the extension raises" handlers.
_STOP = (KeyboardInterrupt, SystemExit, GeneratorExit)


class UnreadableLog(TelemetryError):
    """The file is not in a format telemetry-parser reads (as opposed to a readable log with bad values)."""


def gyroflow_to_camera(v: np.ndarray) -> np.ndarray:
    """Vectors (..., 3) in Gyroflow's normalized IMU frame to the camera frame."""
    with np.errstate(invalid="ignore", over="ignore"):  # NaN / inf are reported by validate_imu
        return np.asarray(v, dtype=np.float64) @ GYROFLOW_TO_CAMERA.T


def camera_to_gyroflow(v: np.ndarray) -> np.ndarray:
    """Vectors (..., 3) in the camera frame to Gyroflow's normalized IMU frame."""
    return np.asarray(v, dtype=np.float64) @ GYROFLOW_TO_CAMERA


def find_sidecar_log(video: str | os.PathLike) -> Path | None:
    """A gyro log beside the video with the same stem (``clip.gcsv`` for ``clip.mp4``)."""
    video = Path(video)
    for ext in _SIDECAR_EXTS:
        cand = video.with_suffix(ext)
        if cand.exists():
            return cand
    return None


def is_gcsv(path: Path) -> bool:
    """Whether ``path`` is a Gyroflow .gcsv log (by its first line, or its extension)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_GCSV_MAGIC) + 3)
    except OSError:
        return False
    return head.lstrip(b"\xef\xbb\xbf").startswith(_GCSV_MAGIC.encode()) or path.suffix.lower() == ".gcsv"


def check_gcsv(path: str | os.PathLike) -> None:
    """Check a Gyroflow .gcsv line by line; :class:`TelemetryError` naming the first bad line.

    telemetry-parser skips rows it cannot read without saying so and fails on an empty file
    with a generic message; this names the line and what is wrong with it.
    """
    path = Path(path)
    src = path.name
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as fh:
            _check_gcsv_lines(src, fh)  # line by line: a long log is never held whole
    except OSError as exc:
        raise TelemetryError(f"cannot read {path}: {exc.strerror}", "check the path given with --gyro") from None


def _check_gcsv_lines(src: str, fh) -> None:
    lines = (piece for raw in fh for piece in raw.splitlines() or [""])  # splitlines' line breaks, as before
    first = next(lines, "")
    if not first.strip():
        first = next((l for l in lines if l.strip()), None)
        if first is None:
            raise TelemetryError(f"{src} is empty",
                                 "give the .gcsv the camera or app recorded (it has a header and samples)")
        first = ""  # a blank first line: not the magic line
    if not first.lstrip("\ufeff").strip().startswith(_GCSV_MAGIC):
        raise TelemetryError(f"{src}:1: a .gcsv starts with the line {_GCSV_MAGIC!r}, this one with {first[:40]!r}",
                             _GCSV_HINT)
    cols = None
    rows = 0
    for ln, raw in enumerate(itertools.chain([first], lines), start=1):
        line = raw.strip()
        if not line or ln == 1:
            continue
        parts = [p.strip() for p in line.split(",")]
        if cols is None:
            if parts[0] == "t":
                cols = parts
                if len(cols) < 4 or cols[1:4] != ["gx", "gy", "gz"]:
                    raise TelemetryError(f"{src}:{ln}: column line {line[:60]!r} does not start with t,gx,gy,gz",
                                         _GCSV_HINT)
                continue
            if parts[0] in ("tscale", "gscale", "ascale", "mscale"):
                try:
                    v = float(parts[1])
                except (IndexError, ValueError):
                    v = float("nan")
                if not (v > 0 and v < float("inf")):
                    raise TelemetryError(f"{src}:{ln}: {parts[0]} must be a positive number, got {line[:60]!r}",
                                         _GCSV_HINT)
            continue
        if len(parts) != len(cols):
            raise TelemetryError(
                f"{src}:{ln}: {len(parts)} values but the column line names {len(cols)} ({','.join(cols)}): {line[:60]!r}",
                _GCSV_HINT)
        for p in parts:
            try:
                float(p)
            except ValueError:
                raise TelemetryError(f"{src}:{ln}: {p[:30]!r} is not a number ({line[:60]!r})", _GCSV_HINT) from None
        rows += 1
    if cols is None:
        raise TelemetryError(f"{src} has no column line (t,gx,gy,gz,...) and no samples", _GCSV_HINT)
    if rows == 0:
        raise TelemetryError(f"{src} has a header but no gyro samples", "give a .gcsv recorded during the clip")


def _brand_model(parser) -> tuple[str, str]:
    """telemetry-parser's ``(camera, model)`` of a parsed file, as strings ("" where unknown)."""
    return str(getattr(parser, "camera", "") or ""), str(getattr(parser, "model", "") or "")


def camera_name(brand: str, model: str) -> str:
    """The camera as one name, the brand not repeated: telemetry-parser names the MAX
    ``"GoPro"`` / ``"GoPro Max"``: ``"GoPro Max"``; ``"GoPro"`` / ``"HERO5 Black"``:
    ``"GoPro HERO5 Black"``."""
    brand, model = str(brand or ""), str(model or "")
    if brand and model.lower().startswith(brand.lower() + " "):
        model = model[len(brand) + 1:]
    return " ".join(x for x in (brand, model) if x)


def camera_identity(path: str | os.PathLike) -> tuple[str, str]:
    """``(brand, model)`` of the camera that wrote a file, as telemetry-parser names it
    (``("GoPro", "HERO5 Black")``); ``("", "")`` where it cannot tell (a file it does not know)."""
    try:
        return _brand_model(_parser(Path(path)))
    except UnreadableLog:
        return "", ""


def camera_metadata(path: str | os.PathLike) -> dict:
    """:func:`read_camera_metadata` of a camera file and the camera's brand and model, without
    reading its IMU (``--motion video`` still needs the lens the file states); ``{}`` where
    telemetry-parser cannot read the file."""
    try:
        parser = _parser(Path(path))
    except UnreadableLog:
        return {}
    try:
        meta = read_camera_metadata(parser)
    except _STOP:
        raise
    except BaseException:  # noqa: BLE001 - metadata is a bonus, never a reason to fail (not even a panic)
        return {}
    brand, model = _brand_model(parser)
    return {**meta, "camera_brand": brand, "camera_model": model}


def _parser(path: Path, shown: Path | None = None):
    import telemetry_parser

    try:
        return telemetry_parser.Parser(str(path))
    except _STOP:
        raise
    except BaseException as exc:  # plain ValueError/OSError/RuntimeError, or a Rust panic (a BaseException)
        raise UnreadableLog(
            f"no readable gyro data in {shown or path} (telemetry-parser: {exc})",
            "give a gyro log with --gyro (e.g. a Gyroflow .gcsv), or use a camera file with embedded gyro",
        ) from None


#: a .gcsv longer than this many sample lines is read in pieces of this many (telemetry-parser
#: returns one Python dict per sample, ~4 KB each: a 10-minute 200 Hz log peaked at 577 MB)
_GCSV_CHUNK_ROWS = 20000


def _gcsv_pieces(path: Path, tmp_dir: Path) -> list[Path] | None:
    """A long .gcsv split into files in ``tmp_dir``, its header repeated in each (None when short)."""
    if os.path.getsize(path) <= 64 * _GCSV_CHUNK_ROWS:
        return None
    pieces: list[Path] = []
    with open(path, "r", encoding="utf-8-sig", errors="replace") as fh:
        header = []
        for line in fh:
            header.append(line)
            if line.strip().lower().startswith("t,"):
                break
        else:
            return None
        # one piece at a time (the rows of a long log are never all held as strings)
        first = None
        while True:
            rows = list(itertools.islice(fh, _GCSV_CHUNK_ROWS))
            if not rows:
                break
            if first is None:
                first = rows[0]
                if len(rows) < _GCSV_CHUNK_ROWS:
                    return None  # short: read as it is
            piece = tmp_dir / f"part{len(pieces):05d}.gcsv"
            # telemetry-parser counts a .gcsv's time from its first sample: every later piece starts
            # with the file's first sample (dropped after reading) so its times are the whole file's
            anchor = [first] if pieces else []
            piece.write_text("".join(header + anchor + rows), encoding="utf-8")
            pieces.append(piece)
    return pieces if len(pieces) > 1 else None


def _imu_arrays(parser, path: Path):
    """``(t_ms (N,), gyro_deg_s (N, 3), accel_t_ms (M,), accel (M, 3))`` of a parser's normalized IMU."""
    try:
        imu = parser.normalized_imu()
    except _STOP:
        raise
    except BaseException as exc:  # noqa: BLE001 - extension errors are untyped; a Rust panic is a BaseException
        raise UnreadableLog(
            f"telemetry-parser could not read the IMU in {path}: {exc}",
            "give a gyro log with --gyro",
        ) from None
    rows = [s for s in (imu or []) if s.get("gyro") is not None and s.get("timestamp_ms") is not None]
    t = np.array([s["timestamp_ms"] for s in rows], dtype=np.float64)
    g = np.array([s["gyro"] for s in rows], dtype=np.float64).reshape(-1, 3)
    acc = [(s["timestamp_ms"], s["accl"]) for s in rows if s.get("accl") is not None]
    at = np.array([a for a, _ in acc], dtype=np.float64)
    aa = np.array([v for _, v in acc], dtype=np.float64).reshape(-1, 3)
    return t, g, at, aa


def read_imu(path: str | os.PathLike) -> ImuSamples:
    """Read gyro (and accelerometer) from a camera file or a log telemetry-parser knows.

    Parameters
    ----------
    path : camera video with embedded telemetry (GoPro GPMF, Sony, Insta360, DJI, ...) or a
        log file (Gyroflow ``.gcsv``, Betaflight blackbox, ...).

    Returns
    -------
    ImuSamples with ``times_s`` on the log's clock and ``gyro_rad_s`` in camera axes.

    Raises
    ------
    TelemetryError : nothing readable, no gyro, too few / NaN / non-monotonic samples.
    """
    path = Path(path)
    if not path.exists():
        raise TelemetryError(f"gyro source not found: {path}", "check the path given with --gyro")
    if not path.is_file():
        raise TelemetryError(f"gyro source {path} is not a regular file", "give the path of a gyro log or camera file")
    gcsv = is_gcsv(path)
    if gcsv:
        check_gcsv(path)
    parts = []
    parser = None
    with tempfile.TemporaryDirectory(prefix="fusedstab-gcsv-") as tmp:
        pieces = _gcsv_pieces(path, Path(tmp)) if gcsv else None
        for k, piece in enumerate(pieces or [path]):
            parser = _parser(piece, shown=path)
            t, g, at, aa = _imu_arrays(parser, path)
            if k > 0:  # the anchor sample (see _gcsv_pieces)
                ka = int(np.searchsorted(at, t[0], side="right")) if len(at) else 0
                t, g, at, aa = t[1:], g[1:], at[ka:], aa[ka:]
            parts.append((t, g, at, aa))
    t_ms = np.concatenate([q[0] for q in parts])
    if len(t_ms) == 0:
        raise UnreadableLog(
            f"{path} has no gyro samples",
            "give a gyro log with --gyro, or a camera file recorded with gyro metadata",
        )
    t_s = t_ms / 1000.0
    gyro_deg_s = np.concatenate([q[1] for q in parts])
    acc_t = np.concatenate([q[2] for q in parts])
    acc = np.concatenate([q[3] for q in parts])
    accel = None
    if len(acc_t) == len(t_ms) and np.array_equal(acc_t, t_ms):
        accel = gyroflow_to_camera(acc)
    elif len(acc_t) >= 10:  # an accelerometer at another rate (GoPro HERO5: half the gyro's): onto the gyro's times
        ta, aa = acc_t / 1000.0, acc
        order = np.argsort(ta, kind="stable")
        ta, aa = ta[order], aa[order]
        keep = np.concatenate([[True], np.diff(ta) > 0])
        if keep.sum() >= 10 and np.all(np.isfinite(aa)):
            ta, aa = ta[keep], aa[keep]
            accel = gyroflow_to_camera(np.stack([np.interp(t_s, ta, aa[:, k]) for k in range(3)], axis=1))
    brand, model = _brand_model(parser)
    meta = {"camera": camera_name(brand, model), "camera_brand": brand, "camera_model": model}
    try:
        meta.update(read_camera_metadata(parser))
    except _STOP:
        raise
    except BaseException:  # noqa: BLE001 - metadata is a bonus, never a reason to fail (not even a panic)
        pass
    samples = ImuSamples(
        times_s=t_s,
        gyro_rad_s=gyroflow_to_camera(np.radians(gyro_deg_s)),
        accel_m_s2=accel,
        source=str(path),
        meta=meta,
    )
    return validate_imu(samples)


def validate_imu(samples: ImuSamples, *, min_samples: int = 10) -> ImuSamples:
    """Check a gyro series and drop exact duplicate timestamps.

    Raises :class:`TelemetryError` for NaN/inf values, too few samples, time going
    backwards, or angular rates no camera produces (a units mistake).
    """
    t = np.asarray(samples.times_s, dtype=np.float64)
    g = np.asarray(samples.gyro_rad_s, dtype=np.float64)
    src = samples.source or "gyro log"
    if g.ndim != 2 or g.shape[1] != 3 or len(t) != len(g):
        raise TelemetryError(f"{src}: expected N x 3 gyro values with N timestamps", "check the log's columns")
    if len(t) < min_samples:
        raise TelemetryError(f"{src}: only {len(t)} gyro samples", "give a longer gyro log that covers the video")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(g))):
        bad = int(np.count_nonzero(~np.isfinite(g).all(axis=1) | ~np.isfinite(t)))
        raise TelemetryError(f"{src}: {bad} gyro samples are NaN or infinite", "repair or re-export the gyro log")
    dt = np.diff(t)
    if np.any(dt < 0):
        i = int(np.argmax(dt < 0))
        raise TelemetryError(
            f"{src}: timestamps go backwards at sample {i + 1} ({t[i]:.6f} s -> {t[i + 1]:.6f} s)",
            "sort the log by time or check its time column and --time-units",
        )
    keep = np.concatenate([[True], dt > 0])
    if not keep.all():
        t, g = t[keep], g[keep]
        if len(t) < min_samples:
            raise TelemetryError(
                f"{src}: only {len(t)} distinct timestamps among {len(keep)} gyro samples "
                f"({t[0]:.6f}..{t[-1]:.6f} s)",
                "check the log's time column (and --time-units / tscale): every sample needs its own time",
            )
    accel = samples.accel_m_s2[keep] if samples.accel_m_s2 is not None else None
    peak = float(np.max(np.abs(g)))
    if peak > 60.0:  # ~3400 deg/s: beyond any camera gyro's range
        raise TelemetryError(
            f"{src}: gyro peaks at {peak:.0f} rad/s, far beyond any camera's range",
            "the values are probably in deg/s or raw counts: check the log's units (--gyro-units) and scale",
        )
    return ImuSamples(t, g, accel, samples.source, dict(samples.meta))


def _fourcc(key: str) -> str | None:
    if key.startswith("0x") and len(key) == 10:
        try:
            return bytes.fromhex(key[2:]).decode("latin1")
        except ValueError:
            return None
    return None


#: GoPro's field-of-view setting (GPMF ``VFOV``) as the lens mode Gyroflow profiles name
_GOPRO_LENS_MODES = {"W": "Wide", "M": "Medium", "N": "Narrow", "L": "Linear", "S": "SuperView", "H": "HyperView"}


def read_camera_metadata(parser) -> dict:
    """Facts from the raw telemetry that matter to stabilization.

    Returns a dict with, where the file says so: ``readout_s`` (GoPro SROT, ms in file),
    ``in_camera_stabilization`` (bool; GoPro EISE / EISA), ``lens_mode`` (GoPro VFOV: ``"Wide"``,
    ``"Medium"``, ``"Narrow"``, ``"Linear"``, ``"SuperView"``, ``"HyperView"``),
    ``diagonal_fov_deg`` (GoPro ZFOV: the picture's diagonal field of view), ``exposure_s`` (median),
    ``image_orientation_quaternions`` (GoPro IORI present: HERO8 and later, MAX), and with
    both CORI and IORI, one per video frame: ``frame_q_world_cam`` (K, 4) the camera body's
    orientation and ``frame_q_cam_image`` (K, 4) the in-camera stabilizer's rotation of the
    written image relative to the body (w-x-y-z, camera axes; see :func:`_frame_quaternions`).
    """
    out: dict = {}
    exposures = []
    quats: dict[str, list] = {"CameraOrientation": [], "ImageOrientation": []}
    for group in parser.telemetry() or []:
        for name, entry in group.items():
            if not isinstance(entry, dict):
                continue
            if name == "ImageOrientation":
                out["image_orientation_quaternions"] = True  # GoPro IORI: the EIS's per-frame rotation
            if name in quats:
                quats[name].append(entry)
            if name == "Exposure" and isinstance(entry.get("Data"), list):
                exposures.extend(float(x) for x in entry["Data"] if isinstance(x, (int, float)))
            for key, value in entry.items():
                cc = _fourcc(key)
                if cc == "SROT" and "readout_s" not in out:
                    try:
                        out["readout_s"] = float(value) / 1000.0
                    except (TypeError, ValueError):
                        pass
                elif cc == "EISE":
                    out["in_camera_stabilization"] = str(value).strip().upper().startswith("Y")
                elif cc == "ZFOV" and "diagonal_fov_deg" not in out:
                    try:
                        zfov = float(value)
                    except (TypeError, ValueError):
                        zfov = float("nan")
                    if 10.0 < zfov < 360.0:
                        out["diagonal_fov_deg"] = zfov
                elif cc == "VFOV" and "lens_mode" not in out:
                    code = str(value).strip().upper()
                    # a code not known here (a later camera's mode) is kept as it is: no lens is
                    # drawn from the field of view of a mode whose projection is unknown
                    out["lens_mode"] = _GOPRO_LENS_MODES.get(code, f"unknown ({code})" if code else None)
                elif cc == "EISA" and "in_camera_stabilization" not in out:
                    out["in_camera_stabilization"] = str(value).strip().upper() not in ("N", "", "NONE")
                    out["in_camera_stabilization_mode"] = str(value)
    if exposures:
        out["exposure_s"] = float(np.median(exposures))
    cori, iori = _frame_quaternions(quats["CameraOrientation"]), _frame_quaternions(quats["ImageOrientation"])
    if cori is not None and iori is not None and len(cori) == len(iori) and len(cori) >= 2:
        out["frame_q_world_cam"], out["frame_q_cam_image"] = cori, iori
    return out


def _frame_quaternions(entries: list) -> np.ndarray | None:
    """GoPro CORI / IORI blocks -> (K, 4) unit quaternions, w-x-y-z, in fusedstab's convention.

    The file stores ``(w, x, y, z)`` as int16 over ``Scale``, one per frame, in the camera's
    axes (x right, y down, z forward) but as the inverse rotation of fusedstab's
    ``R_world_cam`` (measured: frame-to-frame CORI steps are the negated gyro steps, r = 0.95
    per axis on a GoPro MAX); the conjugate is returned. None when a value is missing or not
    finite.
    """
    rows = []
    for entry in entries:
        data, scale = entry.get("Data"), entry.get("Scale") or 1
        if not isinstance(data, list):
            return None
        for q in data:
            if not isinstance(q, dict) or not all(isinstance(q.get(k), (int, float)) for k in "wxyz"):
                return None
            rows.append([q["w"], -q["x"], -q["y"], -q["z"]])
    if not rows:
        return None
    q = np.asarray(rows, dtype=np.float64) / float(scale)
    n = np.linalg.norm(q, axis=1, keepdims=True)
    if not np.all(np.isfinite(q)) or np.any(n < 0.5):
        return None
    return q / n
