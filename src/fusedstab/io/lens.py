"""Gyroflow lens-profile JSON in and out.

A profile holds the intrinsics at ``calib_dimension`` (``fisheye_params.camera_matrix`` and
``distortion_coeffs``), a model and optionally ``frame_readout_time`` (ms). Most public
profiles name no model and mean ``opencv_fisheye``; ``use_opencv_standard: true`` or
``distortion_model: "opencv_standard"`` selects Brown-Conrady. The profile is scaled to the
clip's resolution when the aspect ratio matches.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..camera import CameraModel
from ..errors import LensError

__all__ = ["FOV_MATCH", "FOV_MISMATCH", "LENS_ALTERNATIVES_MAX", "LENS_DIR_ENV", "LensChoice", "camera_key",
           "diagonal_fov", "find_lens_profile", "lens_profile_dict", "load_lens_profile", "write_lens_profile"]

_MODEL_ALIASES = {
    None: "opencv_fisheye",
    "": "opencv_fisheye",
    "opencv_fisheye": "opencv_fisheye",
    "opencv_standard": "opencv_standard",
    "pinhole": "pinhole",
    "none": "pinhole",
}


#: Distortion coefficients each model accepts (OpenCV's counts).
_COEFF_COUNTS = {"opencv_fisheye": (4,), "opencv_standard": (4, 5, 8, 12, 14), "pinhole": None}

#: A lens profile is a few KB; anything this large is not one.
_MAX_PROFILE_BYTES = 16 * 1024 * 1024


def _dims(d: dict | None) -> tuple[int, int] | None:
    if isinstance(d, dict) and d.get("w") and d.get("h"):
        try:
            w, h = float(d["w"]), float(d["h"])
        except (TypeError, ValueError):
            return None
        if not (w.is_integer() and h.is_integer() and 1 <= w <= 65536 and 1 <= h <= 65536):
            return None
        return int(w), int(h)
    return None


def _finite(x) -> float:
    """A JSON number as a finite float (bools, strings, NaN and inf refused with ValueError)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(x)
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(x)
    return v


def load_lens_profile(
    path: str | os.PathLike, width_px: int | None = None, height_px: int | None = None, fps: float | None = None
) -> CameraModel:
    """Read a Gyroflow lens profile and scale it to ``width_px`` x ``height_px``.

    The readout time is the profile's own when the video has the calibration's size (and
    frame rate, when both are known), else the ``compatible_settings`` entry for that size
    and frame rate, else unknown (None): a readout belongs to one sensor mode and is not
    scaled.

    Raises
    ------
    LensError : unreadable JSON, missing camera matrix, unknown model, or an aspect ratio
        that does not match the video's.
    """
    path = Path(path)
    hint = "give a Gyroflow lens profile (.json) for this camera and resolution"
    if not path.exists():
        raise LensError(f"lens profile not found: {path}", "check the path given with --lens")
    if not path.is_file():
        raise LensError(f"lens profile {path} is not a regular file", "give the path of a lens profile .json")
    try:
        if path.stat().st_size > _MAX_PROFILE_BYTES:
            raise LensError(f"lens profile {path} is {path.stat().st_size / 1e6:.0f} MB, far too large for a profile", hint)
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as exc:
        if isinstance(exc, LensError):
            raise
        reason = "nesting too deep" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise LensError(f"lens profile {path} does not parse as JSON: {reason}", hint) from None
    if not isinstance(data, dict):
        raise LensError(f"lens profile {path} is not a JSON object", hint)

    model_name = data.get("distortion_model")
    if data.get("use_opencv_standard") and not model_name:
        model_name = "opencv_standard"
    if not (model_name is None or isinstance(model_name, str)) or model_name not in _MODEL_ALIASES:
        raise LensError(
            f"lens profile {path} uses distortion model {model_name!r}, which fusedstab does not support",
            "use a profile with opencv_fisheye or opencv_standard, or omit --lens and give --fov",
        )
    model = _MODEL_ALIASES[model_name]
    digital = data.get("digital_lens")
    if isinstance(digital, str) and digital.strip():
        # GoPro's SuperView / HyperView modes stretch the sensor's 4:3 picture to 16:9 non-linearly
        # after the optics; the profile's camera matrix is for the picture before that stretch
        raise LensError(
            f"lens profile {path} applies the digital lens {digital.strip()!r} (a non-linear stretch the camera "
            "makes after the optics), which fusedstab does not model: its picture would not follow the gyro",
            "record in a mode without it (GoPro Wide or Linear instead of SuperView / HyperView), or omit --lens "
            "(the gyro is then checked against the picture with a pinhole guess)",
        )
    params = data.get("fisheye_params") or {}
    calib_params = data.get("calib_params") or {}
    if model == "opencv_standard" and isinstance(calib_params, dict) and calib_params.get("camera_matrix"):
        params = calib_params
    if not isinstance(params, dict):
        raise LensError(f"lens profile {path}: fisheye_params is not a JSON object", hint)
    try:
        K = params["camera_matrix"]
        fx, fy, cx, cy = _finite(K[0][0]), _finite(K[1][1]), _finite(K[0][2]), _finite(K[1][2])
    except (KeyError, IndexError, TypeError, ValueError):
        raise LensError(f"lens profile {path} has no valid camera_matrix (3x3 finite numbers)", hint) from None
    raw = params.get("distortion_coeffs") or []
    if not isinstance(raw, list):
        raise LensError(f"lens profile {path}: distortion_coeffs is not a list of numbers ({str(raw)[:40]})", hint)
    try:
        coeffs = tuple(_finite(c) for c in raw)
    except ValueError as exc:
        raise LensError(f"lens profile {path}: distortion coefficient {str(exc.args[0])[:30]!r} is not a finite number",
                        "the coefficients must be numbers, e.g. \"distortion_coeffs\": [0.05, -0.01, 0.002, 0.0]") from None
    counts = _COEFF_COUNTS[model]
    if counts is not None and coeffs and len(coeffs) not in counts:
        raise LensError(
            f"lens profile {path}: the {model} model takes {' or '.join(map(str, counts))} distortion coefficients, "
            f"the profile has {len(coeffs)}",
            "use a profile written for this model (Gyroflow's lens_profiles), or name the right distortion_model",
        )
    if not (fx > 0 and fy > 0):
        raise LensError(f"lens profile {path} has non-positive focal lengths ({fx}, {fy})", hint)
    calib = _dims(data.get("calib_dimension"))
    if calib is None:
        raise LensError(f"lens profile {path} has no valid calib_dimension ({{\"w\": width, \"h\": height}} in pixels)", hint)
    # an anamorphic profile: calibrated on frames stretched by these factors to square pixels
    # (Gyroflow's input_horizontal_stretch / input_vertical_stretch); back to the video's pixels
    hs, vs = _stretch(data, "input_horizontal_stretch"), _stretch(data, "input_vertical_stretch")
    if (hs, vs) != (1.0, 1.0):
        calib = (int(round(calib[0] / hs)), int(round(calib[1] / vs)))
        fx, cx = fx / hs, (cx + 0.5) / hs - 0.5
        fy, cy = fy / vs, (cy + 0.5) / vs - 0.5
    readout_ms = data.get("frame_readout_time")
    readout_s = (float(readout_ms) / 1000.0 if isinstance(readout_ms, (int, float)) and not isinstance(readout_ms, bool)
                 and math.isfinite(readout_ms) and 0 < readout_ms < 1000 else None)
    cam = CameraModel(
        calib[0], calib[1], fx, fy, cx, cy,
        model=model,
        coeffs=coeffs if model != "pinhole" else (),
        readout_s=readout_s,
        name=str(data.get("name") or path.stem)[:200],
        pixel_aspect=hs / vs,
    )
    if width_px is None or height_px is None:
        return cam
    if abs(width_px / height_px - calib[0] / calib[1]) > 0.01 * (calib[0] / calib[1]):
        raise LensError(
            f"lens profile {path.name} is for {calib[0]}x{calib[1]} (aspect {calib[0] / calib[1]:.3f}) but the "
            f"video is {width_px}x{height_px} (aspect {width_px / height_px:.3f})",
            "use a profile calibrated for this aspect ratio (e.g. 16:9 vs 4:3 modes differ)",
        )
    readout_s = _readout_for(data, calib, readout_s, width_px, height_px, fps)
    return replace(cam.scaled(width_px, height_px), readout_s=_readout_direction(data, readout_s))


def _stretch(data: dict, key: str) -> float:
    """A profile's input stretch factor: a number in [0.1, 10], else 1 (Gyroflow reads 0 and
    missing as 1)."""
    v = data.get(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0.1 <= v <= 10.0:
        return float(v)
    return 1.0


#: Gyroflow's readout directions (profile strings, .gcsv codes): rows top to bottom (the
#: default), bottom to top (a camera that turns its picture upside down), or columns
_DIRECTIONS = {"toptobottom": 1, "0": 1, "bottomtotop": -1, "1": -1, "lefttoright": 0, "2": 0,
               "righttoleft": 0, "3": 0}


def _readout_direction(data: dict, readout_s: float | None) -> float | None:
    """The readout with its direction as fusedstab's sign: negative when the profile's
    ``frame_readout_direction`` is BottomToTop (row ``y`` read at ``t + readout * y / H``
    holds either way); None (unknown: the sync estimates it) for a column readout, which
    the row model cannot describe."""
    if readout_s is None:
        return None
    sign = _DIRECTIONS.get(str(data.get("frame_readout_direction", "TopToBottom")).strip().lower(), 1)
    return None if sign == 0 else sign * readout_s


def _same_fps(a, b) -> bool:
    """Whether two frame rates match within 1 % (an unknown or non-numeric one matches anything)."""
    try:
        return a is None or b is None or abs(_finite(a) - float(b)) <= 0.01 * float(b)
    except ValueError:
        return True


def _readout_for(data: dict, calib, readout_s, width_px: int, height_px: int, fps: float | None) -> float | None:
    """Readout time [s] for this size and frame rate, or None when the profile does not say."""
    if (width_px, height_px) == calib and _same_fps(data.get("fps"), fps):
        return readout_s
    settings = data.get("compatible_settings")
    matches = [
        s for s in (settings if isinstance(settings, list) else [])
        if isinstance(s, dict) and s.get("width") == width_px and s.get("height") == height_px
        and isinstance(s.get("frame_readout_time"), (int, float)) and not isinstance(s["frame_readout_time"], bool)
        and math.isfinite(s["frame_readout_time"]) and 0 < s["frame_readout_time"] < 1000
    ]
    if fps is not None:
        matches = [s for s in matches if _same_fps(s.get("fps"), fps)]
    values = {round(float(s["frame_readout_time"]), 6) for s in matches}
    if len(values) == 1:
        return values.pop() / 1000.0
    return None


def lens_profile_dict(
    camera: CameraModel,
    *,
    name: str = "",
    brand: str = "fusedstab",
    model: str = "simulator",
    lens_model: str = "",
    fps: float | None = None,
    note: str = "",
) -> dict:
    """A Gyroflow-format lens profile for ``camera`` (pinhole is written as opencv_standard
    with zero coefficients, so Gyroflow and fusedstab read it the same way)."""
    fisheye = camera.model == "opencv_fisheye"
    if camera.model == "pinhole":
        coeffs = [0.0] * 5
    else:
        coeffs = list(camera.coeffs)
    # non-square pixels are written as Gyroflow writes an anamorphic profile: the camera matrix
    # and size of the frames stretched across to square pixels, and the stretch
    a = float(camera.pixel_aspect)
    K = camera.K
    if a != 1.0:
        K[0, 0], K[0, 2] = K[0, 0] * a, (K[0, 2] + 0.5) * a - 0.5
    params = {"RMS_error": 0.0, "camera_matrix": K.tolist(), "distortion_coeffs": coeffs,
              "radial_distortion_limit": None}
    empty = {"RMS_error": 0.0, "camera_matrix": [], "distortion_coeffs": [], "radial_distortion_limit": None}
    dim = {"w": int(round(camera.width_px * a)), "h": camera.height_px}
    name = name or camera.name or "fusedstab"
    return {
        "name": name,
        "note": note,
        "calibrated_by": "fusedstab",
        "camera_brand": brand,
        "camera_model": model,
        "lens_model": lens_model,
        "camera_setting": "",
        "calib_dimension": dim,
        "orig_dimension": dim,
        "output_dimension": dim,
        "frame_readout_time": abs(camera.readout_s or 0.0) * 1000.0,
        "frame_readout_direction": "BottomToTop" if (camera.readout_s or 0.0) < 0 else "TopToBottom",
        "input_horizontal_stretch": a,
        "num_images": 0,
        "fps": fps,
        "official": False,
        "distortion_model": "opencv_fisheye" if fisheye else "opencv_standard",
        "use_opencv_fisheye": fisheye,
        "use_opencv_standard": not fisheye,
        "fisheye_params": params,
        "calib_params": empty if fisheye else dict(params),
        "identifier": name.lower().replace(" ", "-").replace("_", "-"),
        "calibrator_version": "fusedstab",
        "date": "",
    }


def write_lens_profile(path: str | os.PathLike, camera: CameraModel, **kw) -> Path:
    """Write :func:`lens_profile_dict` as JSON."""
    path = Path(path)
    path.write_text(json.dumps(lens_profile_dict(camera, **kw), indent=2), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- a folder of profiles
#: environment variable naming a folder of Gyroflow lens profiles (e.g. a copy of
#: gyroflow/lens_profiles) that is searched when no ``--lens`` is given
LENS_DIR_ENV = "FUSEDSTAB_LENS_DIR"

#: candidates besides the first that a folder search hands the plan to try against the picture
LENS_ALTERNATIVES_MAX = 2

#: JSON files a folder search reads at most (the public collection holds about 10,000)
_MAX_FOLDER_PROFILES = 50_000


#: entries (files and folders) a folder search visits at most: a profile collection, not a disk
_MAX_FOLDER_ENTRIES = 200_000


def _profile_files(folder: Path) -> list[Path]:
    """The ``.json`` files below ``folder`` (symbolic links to folders not followed), sorted.

    Raises
    ------
    LensError : the folder cannot be read, or holds more than :data:`_MAX_FOLDER_ENTRIES`
        entries (a home folder or a disk given by mistake).
    """
    files: list[Path] = []
    seen = 0
    errors: list[OSError] = []
    for root, dirs, names in os.walk(folder, onerror=errors.append):
        seen += len(dirs) + len(names)
        if seen > _MAX_FOLDER_ENTRIES:
            raise LensError(f"{folder} holds more than {_MAX_FOLDER_ENTRIES:,} files and folders: a folder of lens "
                            "profiles was expected (the public collection has about 10,000)",
                            "give the folder of lens profiles itself (e.g. a copy of gyroflow/lens_profiles), or "
                            "a profile .json")
        files += [Path(root) / n for n in names if n.lower().endswith(".json")]
    if errors and not files:
        raise LensError(f"lens profile folder {folder} cannot be read: {errors[0].strerror or errors[0]}",
                        "check the folder's permissions")
    return sorted(files)[:_MAX_FOLDER_PROFILES]


def _norm(text) -> str:
    """Lower-case letters and digits only: ``"HERO5 Black"`` -> ``"hero5black"``."""
    return re.sub(r"[^a-z0-9]", "", str(text or "").lower())


def camera_key(brand, model) -> str:
    """The key a camera is matched by: brand and model normalized (:func:`_norm`), the brand
    not repeated (telemetry-parser names the MAX ``GoPro`` / ``GoPro Max``, its profiles
    ``GoPro`` / ``Max``: both ``"gopromax"``). Empty when the model is unknown."""
    b, m = _norm(brand), _norm(model)
    if b and m.startswith(b) and len(m) > len(b):
        m = m[len(b):]
    return b + m if m else ""


def _profile_eis(data: dict) -> bool | None:
    """Whether a profile was calibrated with in-camera stabilization on, from its note, name,
    identifier and setting (``NO-EIS`` / ``HS EIS``, HyperSmooth); None where they do not say."""
    text = _norm(" ".join(str(data.get(k) or "") for k in ("note", "name", "identifier", "camera_setting")))
    if "noeis" in text or "eisoff" in text:
        return False
    if "eis" in text or "hypersmooth" in text or "rocksteady" in text:
        return True
    return None


#: lens modes (field-of-view settings) profiles and camera metadata name, longest first
_LENS_MODES = ("superview", "hyperview", "medium", "narrow", "linear", "wide")


def _profile_mode(data: dict) -> str | None:
    """The lens mode a profile was calibrated in (``"wide"``, ``"linear"``, ...), from its
    ``lens_model``, else its name and note; None where they do not say."""
    for text in (_norm(data.get("lens_model")),
                 _norm(" ".join(str(data.get(k) or "") for k in ("name", "note", "camera_setting")))):
        for mode in _LENS_MODES:
            if mode in text:
                return mode
    return None


@dataclass(frozen=True)
class LensChoice:
    """The profile a folder search chose, or why it chose none.

    Attributes
    ----------
    path : the chosen profile, or None.
    reason : one line for the user: the camera, what was matched, or what was missing.
    candidates : profiles of this camera that fit the video (aspect ratio, a supported model).
    mismatch : where the chosen profile does not span the diagonal field of view the file
        states, or is for another lens mode than the file's (none for them fits), a line that
        says so for a warning; else "".
    alternatives : the next candidates in rank whose lens differs (up to
        :data:`LENS_ALTERNATIVES_MAX`), each ``(path, mismatch)``: the metadata cannot tell a
        good calibration from a poor one, or a mode it does not record, so the plan tries
        them against the picture (:func:`~fusedstab.pipeline.plan_stabilization`).
    """

    path: Path | None
    reason: str
    candidates: int = 0
    mismatch: str = ""
    alternatives: tuple[tuple[Path, str], ...] = ()


def find_lens_profile(folder: str | os.PathLike, brand: str | None, model: str | None, width_px: int, height_px: int,
                      fps: float | None, in_camera_stabilization: bool | None = None,
                      lens_mode: str | None = None, diagonal_fov_deg: float | None = None) -> LensChoice:
    """Choose the Gyroflow lens profile for a camera from a folder of profiles (searched
    recursively, as a copy of gyroflow/lens_profiles is laid out).

    A profile is a candidate when its ``camera_brand`` / ``camera_model`` name the camera
    (:func:`camera_key`) and it loads for the video (the same aspect ratio, a supported model,
    no digital lens: :func:`load_lens_profile`). Among candidates, in this order: the diagonal
    field of view the file reports (GoPro ZFOV: a profile whose lens at the video's size spans
    it within :data:`FOV_MATCH` ranks first, one off by more than :data:`FOV_MISMATCH` last),
    the lens mode the file reports (GoPro's Wide / Medium / Linear ...: each a different crop of
    the sensor, so another focal length), the in-camera stabilization state the file reports (a
    profile calibrated with EIS on describes the cropped, re-scaled picture EIS writes), the
    video's exact size (the calibration or one of its ``compatible_settings``), its frame rate,
    Gyroflow's ``official`` mark, more calibration images, the newer date; then the file name,
    so the choice is reproducible.

    Parameters
    ----------
    folder : a folder of ``.json`` profiles.
    brand, model : the camera as its metadata names it (telemetry-parser's ``camera`` / ``model``).
    width_px, height_px, fps : the video's frame size and frame rate (camera clock).
    in_camera_stabilization : the file's EIS state; None = unknown.
    lens_mode : the file's lens mode (``"Wide"``, ``"Linear"``, ...); None = unknown.
    diagonal_fov_deg : the file's diagonal field of view [deg]; None = unknown.

    Returns
    -------
    :class:`LensChoice`; ``path`` None when the camera is unknown or no profile fits.

    Raises
    ------
    LensError : ``folder`` is not a readable folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise LensError(f"lens profile folder not found: {folder}", "give a lens profile .json, or a folder of them")
    key = camera_key(brand, model)
    from .telemetry import camera_name

    camera = camera_name(brand, model) or "unknown"
    if not key:
        return LensChoice(None, f"the file does not name its camera ({camera}), so no profile in {folder} can be "
                                "matched to it; give the profile with --lens PROFILE.json")
    files = _profile_files(folder)
    # the public collection names files and folders after the camera: read those first, and
    # every profile only where none does
    model_part = key[len(_norm(brand)):] if key.startswith(_norm(brand)) and len(key) > len(_norm(brand)) else key
    named = [p for p in files if model_part in _norm(p.relative_to(folder))]
    named_set = set(named)
    fitting, unfit = [], []
    for group in (named, [p for p in files if p not in named_set]):
        for p in group:
            try:
                if p.stat().st_size > _MAX_PROFILE_BYTES:
                    continue
                data = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError, RecursionError):
                continue
            if not isinstance(data, dict) or camera_key(data.get("camera_brand"), data.get("camera_model")) != key:
                continue
            try:
                cam = load_lens_profile(p, width_px, height_px, fps)
            except LensError as exc:
                unfit.append(f"{p.name}: {exc.message}")
                continue
            fitting.append((p, data, cam))
        if fitting or unfit:
            break
    if not fitting:
        why = f"; {len(unfit)} for it do not fit the video ({unfit[0]})" if unfit else ""
        return LensChoice(None, f"no lens profile in {folder} is for the {camera} at {width_px}x{height_px}{why}; "
                                "give one with --lens PROFILE.json (Gyroflow's lens_profiles, or calibrate the lens "
                                "in Gyroflow)")

    def score(item):
        data = item[1]
        calib = _dims(data.get("calib_dimension"))
        settings = data.get("compatible_settings") if isinstance(data.get("compatible_settings"), list) else []
        sizes = [(s.get("width"), s.get("height"), s.get("fps")) for s in settings if isinstance(s, dict)]
        same_size = calib == (width_px, height_px) or any((w, h) == (width_px, height_px) for w, h, _ in sizes)
        same_fps = fps is not None and (
            (data.get("fps") is not None and _same_fps(data.get("fps"), fps))
            or any((w, h) == (width_px, height_px) and f is not None and _same_fps(f, fps) for w, h, f in sizes))
        eis = _profile_eis(data)
        eis_score = 0 if in_camera_stabilization is None or eis is None else (1 if eis == in_camera_stabilization else -1)
        mode = _profile_mode(data)
        mode_score = 0 if not file_mode or mode is None else (1 if mode == file_mode else -1)
        images = data.get("num_images")
        images = images if isinstance(images, int) and not isinstance(images, bool) else 0
        return (fov_score(item), mode_score, eis_score, same_size, same_fps, data.get("official") is True, images,
                str(data.get("date") or ""))

    def fov_of(item) -> float:
        return diagonal_fov(item[2])

    def fov_score(item) -> int:
        if not diagonal_fov_deg:
            return 0
        err = abs(fov_of(item) - diagonal_fov_deg) / diagonal_fov_deg
        return 1 if err <= FOV_MATCH else (-1 if not err <= FOV_MISMATCH else 0)  # NaN: a mismatch

    file_mode = _norm(lens_mode) or None
    ranked = sorted(fitting, key=lambda it: (score(it), [-ord(c) for c in it[0].name]), reverse=True)

    def mismatch(item) -> str:
        sc = score(item)
        if sc[0] < 0:
            return (f"the file says its picture spans {diagonal_fov_deg:.1f} deg across the diagonal, but no profile in "
                    f"{folder} for the {camera} does: {item[0].name} spans {fov_of(item):.1f} deg and is used, so "
                    f"the picture's focal length may differ from it; give the profile for this mode with --lens "
                    f"PROFILE.json")
        if sc[0] > 0 or sc[1] >= 0:
            return ""
        return (f"the file was recorded in the {lens_mode} lens mode, but no profile in {folder} for the {camera} "
                f"fits the picture in that mode: {item[0].name} ({_profile_mode(item[1])}) is used, and the "
                f"picture's focal length may differ from it; give the {lens_mode} profile with --lens PROFILE.json")

    best_path = ranked[0][0]
    sc = score(ranked[0])
    said = [f"{fov_of(ranked[0]):.1f} deg across the diagonal, as the file's {diagonal_fov_deg:.1f}" if sc[0] > 0 else "",
            f"{lens_mode} as the file" if sc[1] > 0 else "",
            ("in-camera stabilization " + ("on" if in_camera_stabilization else "off") + " as the file")
            if sc[2] > 0 else "", f"calibrated at {width_px}x{height_px}" if sc[3] else "",
            "the same frame rate" if sc[4] else "", "official" if sc[5] else ""]
    said = [s for s in said if s]
    # the next ones in rank whose lens differs from every one before (another focal length or
    # distortion at this size), for the plan to try against the picture
    lenses = [ranked[0][2]]
    others = []
    for item in ranked[1:]:
        if len(others) >= LENS_ALTERNATIVES_MAX:
            break
        if all(_differs(item[2], cam) for cam in lenses):
            lenses.append(item[2])
            others.append((item[0], mismatch(item)))
    return LensChoice(best_path, f"lens profile {best_path.name} for the {camera}, chosen from {len(fitting)} in "
                                 f"{folder}" + (f" ({', '.join(said)})" if said else ""), len(fitting),
                      mismatch(ranked[0]), tuple(others))


#: a profile spans the file's diagonal field of view when within this share of it (GoPro
#: MAX, HyperSmooth: its HS EIS profile 135.9 deg against the file's 137.4; the NO-EIS one 130.0)
FOV_MATCH = 0.03
#: and does not when further than this share
FOV_MISMATCH = 0.08


def diagonal_fov(camera: CameraModel) -> float:
    """The angle [deg] between the rays of a frame's opposite corners (NaN where the lens
    model cannot image a corner)."""
    W, H = camera.width_px - 1.0, camera.height_px - 1.0
    r = camera.unproject(np.array([[0.0, 0.0], [W, H]]))
    r = r / np.linalg.norm(r, axis=1, keepdims=True)
    return float(np.degrees(np.arccos(np.clip(np.dot(r[0], r[1]), -1.0, 1.0))))


def _differs(a: CameraModel, b: CameraModel) -> bool:
    """Two lenses (at the video's size) that map the picture differently: focal lengths more
    than 1 % apart, or distortion coefficients more than 0.01 apart."""
    if abs(a.fx_px - b.fx_px) > 0.01 * b.fx_px or abs(a.fy_px - b.fy_px) > 0.01 * b.fy_px:
        return True
    ca, cb = np.asarray(a.coeffs, float), np.asarray(b.coeffs, float)
    return ca.shape != cb.shape or bool(np.any(np.abs(ca - cb) > 0.01))
