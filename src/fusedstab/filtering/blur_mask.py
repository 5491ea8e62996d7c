"""Stage 2D: motion-blur masking.

A frame exposed while the camera turns is blurred along the motion. If the stabilized output
holds perfectly still on such a frame, the viewer sees a sharp-blurred-sharp flicker; letting
the output move a little along the real motion where the gyro says the frame is blurred makes
the blur look like motion blur again (the Pixel 2 design).

Per frame ``i`` (ALGORITHM.md, 2D):

* blur ``b_i`` [px]: for a 3 x 3 grid of source points ``p``, each at its own row time
  ``t(y)``, the distance between ``p`` and where the same ray lands at the end of the exposure
  when it was at ``p`` at its start: ``max_p |project(R(t + e/2)^T R(t - e/2) unproject(p)) - p|``
  (OIS shift and focal scale at the row time included);
* ``beta_i = beta_max * clip((b_i - b0) / b1, 0, 1)`` with ``b0 = 1 px`` and ``b1 = 7 px`` at
  1920 px width (scaled with the frame width), then smoothed over +-2 frames;
* ``V_i <- slerp(V_i, R_i, beta_i)``.

It runs after the Gaussian (and intent) stages and before the crop, which still guarantees
no undefined pixels.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from ..synthesis.plan import WarpPlanner
from .crop import slerp_matrix

__all__ = ["frame_blur_px", "blur_weights", "apply_blur_masking"]


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


def blur_weights(blur_px: np.ndarray, width_px: int, *, beta_max: float = 0.5,
                 start_px: float = 1.0, ramp_px: float = 7.0) -> np.ndarray:
    """Blend weights beta (N,) in [0, beta_max] from per-frame blur; thresholds are for
    1920 px wide frames and scale with ``width_px``."""
    s = width_px / 1920.0
    beta = beta_max * np.clip((np.asarray(blur_px) - start_px * s) / (ramp_px * s), 0.0, 1.0)
    if len(beta) >= 5:
        beta = uniform_filter1d(beta, size=5, mode="nearest")
    return beta


def apply_blur_masking(planner: WarpPlanner, R_real: np.ndarray, R_virt: np.ndarray, frame_times_s: np.ndarray,
                       exposure_s: float, **kw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(R_virt', beta, blur_px)``: the virtual camera moved toward the real one on blurred frames."""
    blur = frame_blur_px(planner, frame_times_s, exposure_s)
    beta = blur_weights(blur, planner.camera.width_px, **kw)
    V = np.array(R_virt, copy=True)
    on = beta > 0
    if np.any(on):
        V[on] = slerp_matrix(R_virt[on], R_real[on], beta[on])
    return V, beta, blur
