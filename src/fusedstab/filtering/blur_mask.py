"""Stage 2D: motion-blur masking, fitted so the picture stays steady.

A frame exposed while the camera turns is blurred along the motion. If the stabilized output
holds perfectly still on such a frame, the viewer sees a sharp-blurred-sharp flicker; letting
the output move a little along the real motion where the gyro says the frame is blurred makes
the blur read as motion blur again (the Pixel 2 design). Every bit of real motion blended back
is shake, though, so the amount is fitted on simulated clips (``bench/fit_blur_mask.py``,
parameters in ``blur_mask_params.json``) and capped.

Per frame ``i`` (ALGORITHM.md, 2D):

* blur ``b_i`` [px]: for a 3 x 3 grid of source points ``p``, each at its own row time
  ``t(y)``, the distance between ``p`` and where the same ray lands at the end of the exposure
  when it was at ``p`` at its start: ``max_p |project(R(t + e/2)^T R(t - e/2) unproject(p)) - p|``
  (OIS shift and focal scale at the row time included);
* ``beta_i = beta_max * clip((b_i - start) / ramp, 0, 1)`` with ``start`` and ``ramp`` given at
  1920 px width (scaled with the frame width), then smoothed by a Gaussian of
  ``smooth_sigma_s`` (a slowly varying ``beta`` adds little motion of its own);
* ``V_i <- slerp(V_i, R_i, beta_i)``;
* cap (offline): ``beta`` is scaled down until the high-frequency jitter of the virtual path
  (angle, RMS of the path minus its 0.5 s Gaussian smoothing) is at most ``jitter_cap`` (1.3)
  times that of the unmasked path.

:func:`sharpness_consistency_px` measures what the masking is for: per frame, how much the
output's apparent motion during the exposure disagrees with the blur streak in the frame
(``fusedstab.measure.metrics.evaluate`` reports it against the simulator's truth).

It runs after the Gaussian (and intent) stages and before the crop, which still guarantees
no undefined pixels.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..rotation import log_so3
from ..synthesis.plan import WarpPlanner
from .crop import slerp_matrix

__all__ = ["frame_blur_px", "blur_weights", "apply_blur_masking", "load_params", "hf_jitter_deg",
           "centre_motion_px", "sharpness_consistency_px", "PARAMS_PATH"]

PARAMS_PATH = Path(__file__).with_name("blur_mask_params.json")
_FALLBACK = {"beta_max": 0.5, "start_px": 1.0, "ramp_px": 7.0, "smooth_sigma_s": 0.1, "jitter_cap": 1.3}


@lru_cache(maxsize=2)
def _load(path: str) -> dict:
    p = Path(path)
    data = dict(_FALLBACK)
    if p.exists():
        data.update(json.loads(p.read_text(encoding="utf-8"))["params"])
    return data


def load_params(path: str | Path | None = None) -> dict:
    """The fitted masking parameters (``blur_mask_params.json`` beside this module)."""
    return dict(_load(str(path or PARAMS_PATH)))


def frame_blur_px(planner: WarpPlanner, frame_times_s: np.ndarray, exposure_s: float) -> np.ndarray:
    """Gyro-predicted motion blur of each frame [px], (N,), for an exposure of ``exposure_s``."""
    cam = planner.camera
    if exposure_s <= 0:
        return np.zeros(len(frame_times_s))
    u = np.array([0.1, 0.5, 0.9]) * (cam.width_px - 1)
    v = np.array([0.1, 0.5, 0.9]) * (cam.height_px - 1)
    p = np.stack(np.meshgrid(u, v), -1).reshape(-1, 2)  # (9, 2)
    t_row = np.asarray(frame_times_s, dtype=np.float64)[:, None] + planner.readout_s * p[None, :, 1] / cam.height_px
    t0, t1 = t_row - 0.5 * exposure_s, t_row + 0.5 * exposure_s
    R0 = planner.track.matrices_at(t0)
    R1 = planner.track.matrices_at(t1)
    kw0, kw1 = {}, {}
    if planner.lens_motion is not None:
        o0, s0 = planner.lens_motion.at(t0)
        o1, s1 = planner.lens_motion.at(t1)
        kw0 = {"principal_offset_px": o0, "focal_scale": s0}
        kw1 = {"principal_offset_px": o1, "focal_scale": s1}
    rays = cam.unproject(np.broadcast_to(p, t0.shape + (2,)), **kw0)
    rel = np.einsum("...ji,...jk->...ik", R1, R0)  # R(t1)^T R(t0)
    moved = cam.project(np.einsum("...ij,...j->...i", rel, rays), **kw1)
    d = np.linalg.norm(moved - p[None], axis=-1)
    return np.nanmax(np.where(np.isfinite(d), d, 0.0), axis=1)


def blur_weights(blur_px: np.ndarray, width_px: int, *, beta_max: float | None = None,
                 start_px: float | None = None, ramp_px: float | None = None,
                 smooth_frames: float | None = None) -> np.ndarray:
    """Blend weights beta (N,) in [0, beta_max] from per-frame blur; thresholds are for
    1920 px wide frames and scale with ``width_px``. Defaults: :func:`load_params`.
    ``smooth_frames``: Gaussian sigma in frames (default 2; 0 = none)."""
    prm = load_params()
    beta_max = prm["beta_max"] if beta_max is None else beta_max
    start_px = prm["start_px"] if start_px is None else start_px
    ramp_px = prm["ramp_px"] if ramp_px is None else ramp_px
    s = width_px / 1920.0
    beta = beta_max * np.clip((np.asarray(blur_px, dtype=np.float64) - start_px * s) / (ramp_px * s), 0.0, 1.0)
    sf = 2.0 if smooth_frames is None else smooth_frames
    if len(beta) >= 3 and sf > 0:
        beta = gaussian_filter1d(beta, sigma=sf, mode="nearest")
    return beta


def hf_jitter_deg(R: np.ndarray, t: np.ndarray, sigma_s: float = 0.5) -> float:
    """RMS [deg] of the path's frame-to-frame rotation minus its Gaussian smoothing (per axis)."""
    if len(R) < 4:
        return 0.0
    d = log_so3(np.einsum("nji,njk->nik", R[:-1], R[1:]))  # body-frame steps [rad]
    path = np.cumsum(d, axis=0)
    period = float(np.median(np.diff(t)))
    hp = path - gaussian_filter1d(path, sigma=sigma_s / period, axis=0, mode="nearest")
    return float(np.degrees(np.sqrt(np.mean(np.sum(hp**2, axis=1)))))


def apply_blur_masking(planner: WarpPlanner, R_real: np.ndarray, R_virt: np.ndarray, frame_times_s: np.ndarray,
                       exposure_s: float, *, params: dict | None = None, cap: bool = True,
                       **kw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(R_virt', beta, blur_px)``: the virtual camera moved toward the real one on blurred frames,
    ``beta`` scaled so the path's jitter stays within ``jitter_cap`` of the unmasked path's."""
    prm = {**load_params(), **(params or {})}
    t = np.asarray(frame_times_s, dtype=np.float64)
    period = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
    blur = frame_blur_px(planner, t, exposure_s)
    kw.setdefault("smooth_frames", prm["smooth_sigma_s"] / period)
    beta = blur_weights(blur, planner.camera.width_px, beta_max=prm["beta_max"], start_px=prm["start_px"],
                        ramp_px=prm["ramp_px"], **kw)

    def masked(b):
        V = np.array(R_virt, copy=True)
        on = b > 0
        if np.any(on):
            V[on] = slerp_matrix(R_virt[on], R_real[on], b[on])
        return V

    V = masked(beta)
    if cap and np.any(beta > 0) and prm.get("jitter_cap"):
        limit = float(prm["jitter_cap"]) * hf_jitter_deg(R_virt, t)
        if hf_jitter_deg(V, t) > limit:
            lo, hi = 0.0, 1.0
            for _ in range(12):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if hf_jitter_deg(masked(mid * beta), t) <= limit else (lo, mid)
            beta = lo * beta
            V = masked(beta)
    return V, beta, blur


# ============================================================================ the measure
def centre_motion_px(A: np.ndarray, B: np.ndarray, f_px: float) -> np.ndarray:
    """Image motion [px] (N, 2) of the scene point seen at the image centre by camera ``A``
    (``R_world_cam``, (N, 3, 3)) as seen by camera ``B``, for a pinhole of focal ``f_px``."""
    ray = np.einsum("nji,nj->ni", B, A[:, :, 2])  # B^T A e_z
    return f_px * ray[:, :2] / ray[:, 2:3]


def sharpness_consistency_px(blur_px: np.ndarray, motion_px: np.ndarray, exposure_s: float,
                             period_s: float) -> float:
    """RMS over frames of ``min(|b - m|, |b + m|)``: the blur streak ``b_i`` (N, 2) [output px]
    against the output's apparent motion during the exposure, ``m_i = v_i * exposure / period``
    with ``v_i`` (N, 2) the output's motion per frame (a blur streak has no sign). 0 = every
    frame's blur matches how the picture moves; a perfectly still output scores RMS |b|."""
    b = np.asarray(blur_px, dtype=np.float64)
    m = np.asarray(motion_px, dtype=np.float64) * (exposure_s / period_s)
    good = np.isfinite(b).all(axis=1) & np.isfinite(m).all(axis=1)
    if not good.any():
        return float("nan")
    d = np.minimum(np.linalg.norm(b - m, axis=1), np.linalg.norm(b + m, axis=1))[good]
    return float(np.sqrt(np.mean(d**2)))
