"""Gyroflow lens-profile JSON in and out.

A profile holds the intrinsics at ``calib_dimension`` (``fisheye_params.camera_matrix`` and
``distortion_coeffs``), a model and optionally ``frame_readout_time`` (ms). Most public
profiles name no model and mean ``opencv_fisheye``; ``use_opencv_standard: true`` or
``distortion_model: "opencv_standard"`` selects Brown-Conrady. The profile is scaled to the
clip's resolution when the aspect ratio matches.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from ..camera import CameraModel
from ..errors import LensError

__all__ = ["load_lens_profile", "lens_profile_dict", "write_lens_profile"]

_MODEL_ALIASES = {
    None: "opencv_fisheye",
    "": "opencv_fisheye",
    "opencv_fisheye": "opencv_fisheye",
    "opencv_standard": "opencv_standard",
    "pinhole": "pinhole",
    "none": "pinhole",
}


def _dims(d: dict | None) -> tuple[int, int] | None:
    if isinstance(d, dict) and d.get("w") and d.get("h"):
        return int(d["w"]), int(d["h"])
    return None


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
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LensError(f"lens profile not found: {path}", "check the path given with --lens") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LensError(f"lens profile {path} does not parse as JSON: {exc}", hint) from None
    if not isinstance(data, dict):
        raise LensError(f"lens profile {path} is not a JSON object", hint)

    model_name = data.get("distortion_model")
    if data.get("use_opencv_standard") and not model_name:
        model_name = "opencv_standard"
    if model_name not in _MODEL_ALIASES:
        raise LensError(
            f"lens profile {path} uses distortion model {model_name!r}, which fusedstab does not support",
            "use a profile with opencv_fisheye or opencv_standard, or omit --lens and give --fov",
        )
    model = _MODEL_ALIASES[model_name]
    params = data.get("fisheye_params") or {}
    if model == "opencv_standard" and (data.get("calib_params") or {}).get("camera_matrix"):
        params = data["calib_params"]
    try:
        K = params["camera_matrix"]
        fx, fy, cx, cy = float(K[0][0]), float(K[1][1]), float(K[0][2]), float(K[1][2])
        coeffs = tuple(float(c) for c in (params.get("distortion_coeffs") or []))
    except (KeyError, IndexError, TypeError, ValueError):
        raise LensError(f"lens profile {path} has no valid camera_matrix", hint) from None
    if not (fx > 0 and fy > 0):
        raise LensError(f"lens profile {path} has non-positive focal lengths ({fx}, {fy})", hint)
    calib = _dims(data.get("calib_dimension"))
    if calib is None:
        raise LensError(f"lens profile {path} has no calib_dimension", hint)
    readout_ms = data.get("frame_readout_time")
    readout_s = float(readout_ms) / 1000.0 if isinstance(readout_ms, (int, float)) and readout_ms > 0 else None
    cam = CameraModel(
        calib[0], calib[1], fx, fy, cx, cy,
        model=model,
        coeffs=coeffs if model != "pinhole" else (),
        readout_s=readout_s,
        name=str(data.get("name") or path.stem),
    )
    if width_px is None or height_px is None:
        return cam
    if abs(width_px / height_px - calib[0] / calib[1]) > 0.01 * (calib[0] / calib[1]):
        raise LensError(
            f"lens profile {path.name} is for {calib[0]}x{calib[1]} (aspect {calib[0] / calib[1]:.3f}) but the "
            f"video is {width_px}x{height_px} (aspect {width_px / height_px:.3f})",
            "use a profile calibrated for this aspect ratio (e.g. 16:9 vs 4:3 modes differ)",
        )
    return replace(cam.scaled(width_px, height_px), readout_s=_readout_for(data, calib, readout_s, width_px, height_px, fps))


def _same_fps(a, b) -> bool:
    return a is None or b is None or abs(float(a) - float(b)) <= 0.01 * float(b)


def _readout_for(data: dict, calib, readout_s, width_px: int, height_px: int, fps: float | None) -> float | None:
    """Readout time [s] for this size and frame rate, or None when the profile does not say."""
    if (width_px, height_px) == calib and _same_fps(data.get("fps"), fps):
        return readout_s
    matches = [
        s for s in (data.get("compatible_settings") or [])
        if isinstance(s, dict) and s.get("width") == width_px and s.get("height") == height_px
        and isinstance(s.get("frame_readout_time"), (int, float)) and s["frame_readout_time"] > 0
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
    params = {"RMS_error": 0.0, "camera_matrix": camera.K.tolist(), "distortion_coeffs": coeffs,
              "radial_distortion_limit": None}
    empty = {"RMS_error": 0.0, "camera_matrix": [], "distortion_coeffs": [], "radial_distortion_limit": None}
    dim = {"w": camera.width_px, "h": camera.height_px}
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
        "frame_readout_time": (camera.readout_s or 0.0) * 1000.0,
        "frame_readout_direction": "TopToBottom",
        "input_horizontal_stretch": 1.0,
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
