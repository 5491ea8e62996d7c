"""Video quality metrics for stabilized clips.

Pure functions on frames and arrays plus one streaming driver, :func:`evaluate`.

Conventions
-----------
* Frames are (H, W, 3) uint8 BGR or (H, W) uint8 grey. Pixel (u, v), origin top-left.
* Feature tracking runs on a grey copy whose long side is at most ``WORK_LONG_SIDE_PX``;
  every point and homography returned is in **full-resolution pixels** of its own video.
* Units are in the names: ``_px`` pixels, ``_deg`` degrees, ``_s`` seconds.

Metric definitions (what :func:`evaluate` reports)
--------------------------------------------------
* **stability** (Liu et al. 2013, as in the DIFRINT / DUT / Google 2022 evaluation scripts):
  inter-frame homographies ``M_i`` (frame i -> i+1) of one video are chained
  ``P_i = P_{i-1} @ M_i``; the translation path ``|P_i[:2, 2]|`` [px] and the rotation path
  ``atan2(P_i[1, 0], P_i[0, 0])`` [deg] are Fourier transformed; with power spectrum
  ``|F|^2``, DC removed and only the first half kept, the score of one path is the energy
  in its 5 lowest non-DC bins (bins 2-6 counting DC as 1) over its total energy. Stability
  is the mean of the translation and rotation scores (1 = all motion is slow). A path whose
  spread is below a noise floor (``STABILITY_FLOOR_PX`` / ``STABILITY_FLOOR_DEG``) counts as
  perfectly steady (1.0): the ratio is undefined for a constant path.
* **cropping**: per frame, homography ``H`` from ORIGINAL frame i to STABILIZED frame i
  (stabilized pixel coordinates rescaled by ``W_orig / W_stab`` so a smaller output frame
  counts as field of view lost); scale ``s = sqrt(H00^2 + H01^2)``; cropping ratio ``1 / s``.
  A stabilizer cannot show more than its input, so a per-frame ratio above
  ``1 + CROPPING_TOLERANCE`` means the match is wrong (e.g. a lens change the homography
  cannot describe): that frame is left out and counted in ``cropping_implausible_frames``;
  ratios up to the tolerance are clipped to 1. ``cropping`` (mean) and ``cropping_min`` are
  taken over the same per-frame values, so ``cropping_min <= cropping <= 1``. Higher is better
  (more of the field of view kept).
* **distortion**: per frame ``|lambda_min| / |lambda_max|`` of the eigenvalues of
  ``H[:2, :2]``; reported as the minimum over frames (1 = no anisotropic distortion).
* **jitter_px / jitter_deg**: inter-frame similarity transforms (tx, ty, angle) about the
  frame centre are summed into a path; the high-pass part is the path minus its Gaussian
  smoothing (sigma ``sigma_s`` = 0.5 s by default, converted to frames with the fps);
  ``jitter_px = sqrt(mean(hx^2 + hy^2))`` and ``jitter_deg = sqrt(mean(ha^2))``.
* **rs_residual_px**: per frame pair, one homography fitted (RANSAC with a wide 8 px gate,
  then least squares on the inliers) to forward-backward checked tracks; RMS of the point
  residuals; median over pairs. Rolling-shutter wobble ("jello") cannot be explained by a
  single homography and raises it; a global-shutter rotation or shift gives ~0.
* **undefined_share**: per output frame, the share of pixels that are black (all channels
  <= ``BLACK_LEVEL``) and 4-connected to the frame border; mean and max over frames.
* **truth metrics** (simulated clips): see :func:`truth_rotation_metrics`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np
from scipy.optimize import minimize_scalar

from ..camera import CameraModel
from ..errors import InputError
from ..rotation import exp_so3, kabsch, log_so3
from ..types import LensMotion
from .simulate import Truth, load_truth

__all__ = [
    "WORK_LONG_SIDE_PX",
    "BLACK_LEVEL",
    "PairMotion",
    "to_grey",
    "track_pair",
    "iter_pair_motion",
    "match_frames",
    "stability_score",
    "cropping_distortion",
    "similarity_params",
    "gaussian_smooth",
    "high_pass_jitter",
    "rs_residual_px",
    "undefined_mask",
    "undefined_share",
    "load_truth",
    "fit_output_orientations",
    "smooth_rotations",
    "truth_rotation_metrics",
    "evaluate",
]

WORK_LONG_SIDE_PX = 960
BLACK_LEVEL = 3
STABILITY_FLOOR_PX = 0.02
STABILITY_FLOOR_DEG = 0.002
_MIN_POINTS = 12
#: a per-frame cropping ratio above 1 + this is an implausible match (left out)
CROPPING_TOLERANCE = 0.05


# ---------------------------------------------------------------------------- frames
def to_grey(frame: np.ndarray, long_side_px: int | None = WORK_LONG_SIDE_PX) -> tuple[np.ndarray, float]:
    """Grey working copy of a frame.

    Parameters
    ----------
    frame : (H, W, 3) uint8 BGR or (H, W) uint8.
    long_side_px : downscale so the long side is at most this (None: keep size).

    Returns
    -------
    grey : (h, w) uint8.
    scale : full-resolution pixels per working pixel (>= 1).
    """
    g = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    scale = 1.0
    if long_side_px is not None and max(g.shape) > long_side_px:
        scale = max(g.shape) / float(long_side_px)
        g = cv2.resize(g, (round(g.shape[1] / scale), round(g.shape[0] / scale)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(g), scale


def undefined_mask(frame: np.ndarray, black_level: int = BLACK_LEVEL) -> np.ndarray:
    """Pixels that are black borders: black (every channel <= ``black_level``) and 4-connected
    to the frame's edge, so dark scene content inside the picture is not counted.

    Parameters
    ----------
    frame : (H, W, 3) or (H, W) uint8.

    Returns
    -------
    (H, W) bool mask.
    """
    black = (frame.max(axis=2) if frame.ndim == 3 else frame) <= black_level
    if not black.any():
        return black
    n, labels = cv2.connectedComponents(black.astype(np.uint8), connectivity=4)
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    edge_labels = np.unique(edge[edge > 0])
    if len(edge_labels) == 0:
        return np.zeros_like(black)
    return np.isin(labels, edge_labels)


def undefined_share(frame: np.ndarray, black_level: int = BLACK_LEVEL) -> float:
    """Share (0..1) of a frame's pixels that are border-connected black (see :func:`undefined_mask`)."""
    return float(undefined_mask(frame, black_level).mean())


def _valid_mask(grey: np.ndarray, margin_px: int = 6) -> np.ndarray | None:
    """uint8 mask for feature detection: defined pixels, eroded away from black borders."""
    und = undefined_mask(grey)
    if not und.any():
        return None
    valid = (~und).astype(np.uint8) * 255
    return cv2.erode(valid, np.ones((2 * margin_px + 1, 2 * margin_px + 1), np.uint8))


# ---------------------------------------------------------------------------- tracking
@dataclass
class PairMotion:
    """Motion between two frames.

    Attributes
    ----------
    pts_a_px, pts_b_px : (n, 2) float64 matched points in full-resolution pixels of each frame
        (forward-backward checked; all tracks, not only homography inliers).
    H : (3, 3) homography a -> b in full-resolution pixels, or None when it failed.
    inliers : (n,) bool RANSAC inliers of ``H``.
    """

    pts_a_px: np.ndarray
    pts_b_px: np.ndarray
    H: np.ndarray | None
    inliers: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    @property
    def ok(self) -> bool:
        return self.H is not None and int(self.inliers.sum()) >= _MIN_POINTS


def _detect(grey: np.ndarray, max_corners: int, mask: np.ndarray | None = None) -> np.ndarray:
    min_dist = max(5, int(min(grey.shape) / 60))
    pts = cv2.goodFeaturesToTrack(grey, maxCorners=max_corners, qualityLevel=0.005, minDistance=min_dist, blockSize=7, mask=mask)
    if pts is None:
        return np.zeros((0, 1, 2), np.float32)
    return pts.astype(np.float32)


_LK = dict(winSize=(15, 15), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.01))


def _lk_fb(ga: np.ndarray, gb: np.ndarray, p0: np.ndarray, guess: np.ndarray | None = None, fb_px: float = 0.5):
    """Forward-backward checked LK tracks p0 (n,1,2) in ga -> gb; returns (pa, pb) (m, 2)."""
    if len(p0) == 0:
        return np.zeros((0, 2)), np.zeros((0, 2))
    flags = 0
    p1 = None
    if guess is not None:
        p1 = guess.astype(np.float32).reshape(-1, 1, 2).copy()
        flags = cv2.OPTFLOW_USE_INITIAL_FLOW
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(ga, gb, p0, p1, flags=flags, **_LK)
    p0r, st2, _ = cv2.calcOpticalFlowPyrLK(gb, ga, p1, p0.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **_LK)
    fb = np.linalg.norm((p0 - p0r).reshape(-1, 2), axis=1)
    h, w = gb.shape
    q = p1.reshape(-1, 2)
    good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < fb_px)
    good &= (q[:, 0] >= 0) & (q[:, 1] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] <= h - 1)
    return p0.reshape(-1, 2)[good].astype(np.float64), q[good].astype(np.float64)


def _homography(pa: np.ndarray, pb: np.ndarray, thresh_px: float) -> tuple[np.ndarray | None, np.ndarray]:
    if len(pa) < _MIN_POINTS:
        return None, np.zeros(len(pa), bool)
    H, inl = cv2.findHomography(pa, pb, cv2.RANSAC, thresh_px, maxIters=2000, confidence=0.999)
    if H is None:
        return None, np.zeros(len(pa), bool)
    inl = inl.ravel().astype(bool)
    if inl.sum() >= _MIN_POINTS:  # least-squares refinement on the inliers
        H2, _ = cv2.findHomography(pa[inl], pb[inl], 0)
        if H2 is not None:
            H = H2
    return H / H[2, 2], inl


def track_pair(
    ga: np.ndarray,
    gb: np.ndarray,
    scale: float = 1.0,
    *,
    max_corners: int = 400,
    ransac_px: float = 2.0,
    mask: np.ndarray | None = None,
) -> PairMotion:
    """Track corners from working-resolution grey frame ``ga`` to ``gb`` (consecutive frames).

    goodFeaturesToTrack + pyramidal LK, forward-backward check (0.5 working px), RANSAC
    homography (``ransac_px`` full-resolution px) refined by least squares on the inliers.

    Parameters
    ----------
    ga, gb : (h, w) uint8 working-resolution grey frames.
    scale : full-resolution px per working px (from :func:`to_grey`).
    mask : optional uint8 detection mask for ``ga``.
    """
    pa, pb = _lk_fb(ga, gb, _detect(ga, max_corners, mask))
    pa, pb = pa * scale, pb * scale
    H, inl = _homography(pa, pb, ransac_px)
    return PairMotion(pa, pb, H, inl)


def iter_pair_motion(frames: Iterable[np.ndarray], **kw) -> Iterator[PairMotion]:
    """Stream :class:`PairMotion` for consecutive frames; keeps only the previous frame.

    Yields N-1 items for N frames. Black borders (see :func:`undefined_mask`) are excluded
    from feature detection so border corners do not count as scene motion.
    """
    prev = None
    prev_mask = None
    for frame in frames:
        g, s = to_grey(frame)
        if prev is not None:
            yield track_pair(prev[0], g, prev[1], mask=prev_mask, **kw)
        prev = (g, s)
        prev_mask = _valid_mask(g)


def match_frames(a: np.ndarray, b: np.ndarray, *, max_corners: int = 300, refine: bool = True) -> PairMotion:
    """Correspondences between two different views of the same instant (e.g. original frame i
    and stabilized frame i), robust to zoom, rotation and large shifts.

    ORB (1000 features) + ratio test (0.75) + RANSAC homography gives a coarse map; corners of
    ``a`` are then refined by LK in ``b`` starting from that map (sub-pixel, forward-backward
    checked). Points are in full-resolution pixels of each frame (frames may differ in size).

    Parameters
    ----------
    a, b : (H, W, 3) BGR or (H, W) grey uint8 frames.
    """
    ga, sa = to_grey(a)
    gb, sb = to_grey(b)
    orb = cv2.ORB_create(1000)
    ma, mb = _valid_mask(ga), _valid_mask(gb)
    ka, da = orb.detectAndCompute(ga, ma)
    kb, db = orb.detectAndCompute(gb, mb)
    empty = PairMotion(np.zeros((0, 2)), np.zeros((0, 2)), None)
    if da is None or db is None or len(ka) < _MIN_POINTS or len(kb) < _MIN_POINTS:
        return empty
    matches = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
    good = [m[0] for m in matches if len(m) == 2 and m[0].distance < 0.75 * m[1].distance]
    if len(good) < _MIN_POINTS:
        return empty
    pa = np.float64([ka[m.queryIdx].pt for m in good])
    pb = np.float64([kb[m.trainIdx].pt for m in good])
    Hw, inl = _homography(pa, pb, 3.0)
    if Hw is None:
        return empty
    if not refine:
        S_a, S_b = np.diag([sa, sa, 1.0]), np.diag([sb, sb, 1.0])
        H = S_b @ Hw @ np.linalg.inv(S_a)
        return PairMotion(pa[inl] * sa, pb[inl] * sb, H / H[2, 2], np.ones(int(inl.sum()), bool))
    p0 = _detect(ga, max_corners, ma)
    if len(p0) == 0:
        return empty
    # LK needs equal sizes: track into b resized to a's working size, then map back
    rs = np.array([gb.shape[1] / ga.shape[1], gb.shape[0] / ga.shape[0]])
    gb_r = gb if gb.shape == ga.shape else cv2.resize(gb, (ga.shape[1], ga.shape[0]), interpolation=cv2.INTER_AREA)
    Hr = np.diag([1 / rs[0], 1 / rs[1], 1.0]) @ Hw
    guess = cv2.perspectiveTransform(p0.astype(np.float64), Hr).astype(np.float32)
    qa, qb = _lk_fb(ga, gb_r, p0, guess)
    qb = qb * rs
    # loose gate: refined points may leave the coarse homography (lens, rolling shutter) a bit
    if len(qa):
        pred = cv2.perspectiveTransform(qa.reshape(-1, 1, 2), Hw).reshape(-1, 2)
        keep = np.linalg.norm(pred - qb, axis=1) < max(6.0, 0.01 * max(gb.shape))
        qa, qb = qa[keep], qb[keep]
    qa, qb = qa * sa, qb * sb
    H, inl2 = _homography(qa, qb, 2.0)
    return PairMotion(qa, qb, H, inl2)


# ---------------------------------------------------------------------------- Liu et al. 2013
def _spectral_low_share(path: np.ndarray, floor: float) -> float:
    p = np.asarray(path, dtype=np.float64)
    if len(p) < 4 or np.std(p) < floor:
        return 1.0
    e = np.abs(np.fft.fft(p)) ** 2
    e = e[1:]
    e = e[: len(e) // 2]
    total = e.sum()
    if total <= 0:
        return 1.0
    return float(e[:5].sum() / total)


def stability_score(inter_frame_H: Iterable[np.ndarray | None]) -> dict:
    """Liu et al. 2013 stability of a video from its inter-frame homographies.

    Parameters
    ----------
    inter_frame_H : sequence of (3, 3) homographies frame i -> i+1 [px]; None (failed pair)
        counts as identity.

    Returns
    -------
    dict with ``stability`` (mean of the two), ``stability_translation``,
    ``stability_rotation`` (each 0..1, higher = steadier).

    Notes
    -----
    Chain ``P_i = P_{i-1} @ M_i``; translation path ``|P_i[:2, 2]|`` [px], rotation path
    ``degrees(atan2(P_i[1, 0], P_i[0, 0]))``; power spectrum, DC dropped, first half kept;
    score = energy of the 5 lowest bins / total. Paths with std below 0.02 px / 0.002 deg
    score 1.0 (constant path).
    """
    P = np.eye(3)
    t, r = [], []
    for M in inter_frame_H:
        if M is not None:
            P = P @ M
        t.append(math.hypot(P[0, 2], P[1, 2]))
        r.append(math.degrees(math.atan2(P[1, 0], P[0, 0])))
    st = _spectral_low_share(np.array(t), STABILITY_FLOOR_PX)
    sr = _spectral_low_share(np.array(r), STABILITY_FLOOR_DEG)
    return {"stability": 0.5 * (st + sr), "stability_translation": st, "stability_rotation": sr}


def cropping_distortion(H_orig_to_stab: np.ndarray, size_scale: float = 1.0) -> tuple[float, float]:
    """Cropping ratio and distortion of one original -> stabilized homography.

    Parameters
    ----------
    H_orig_to_stab : (3, 3) homography from original pixels to stabilized pixels.
    size_scale : ``W_orig / W_stab``; stabilized coordinates are multiplied by it first.

    Returns
    -------
    cropping : ``1 / sqrt(H00^2 + H01^2)`` (1 = full field of view kept, 0.8 = zoom 1.25).
    distortion : ``|l_min| / |l_max|`` of the eigenvalues of ``H[:2, :2]`` (1 = none).
    """
    H = np.diag([size_scale, size_scale, 1.0]) @ np.asarray(H_orig_to_stab, dtype=np.float64)
    H = H / H[2, 2]
    s = math.hypot(H[0, 0], H[0, 1])
    w = np.abs(np.linalg.eigvals(H[:2, :2]))
    return (1.0 / s if s > 0 else 0.0), float(w.min() / w.max()) if w.max() > 0 else 0.0


# ---------------------------------------------------------------------------- jitter
def similarity_params(pm: PairMotion, width_px: int, height_px: int) -> tuple[float, float, float] | None:
    """Inter-frame similarity (tx [px], ty [px], angle [deg]) about the frame centre.

    Fitted with ``cv2.estimateAffinePartial2D`` (RANSAC 2 px) on the tracked pairs; None if
    too few points.
    """
    if len(pm.pts_a_px) < _MIN_POINTS:
        return None
    c = np.array([(width_px - 1) / 2.0, (height_px - 1) / 2.0])
    A, inl = cv2.estimateAffinePartial2D(pm.pts_a_px - c, pm.pts_b_px - c, method=cv2.RANSAC, ransacReprojThreshold=2.0)
    if A is None:
        return None
    return float(A[0, 2]), float(A[1, 2]), math.degrees(math.atan2(A[1, 0], A[0, 0]))


#: rows per chunk of :func:`gaussian_smooth`
_SMOOTH_CHUNK_ROWS = 512


def gaussian_smooth(y: np.ndarray, sigma_frames: float, truncate: float = 4.0) -> np.ndarray:
    """Gaussian-weighted local-linear smoothing of a path (NaN samples ignored).

    In the interior this equals a Gaussian filter (the slope term of a symmetric window is
    orthogonal to the mean); near the ends and over gaps it keeps a constant-velocity path
    exactly instead of bending it towards the end value, so a steady pan has no jitter.

    Parameters
    ----------
    y : (N,) or (N, d) samples, one per frame.
    sigma_frames : Gaussian sigma [frames]; window +-truncate*sigma.

    Returns
    -------
    Array of y's shape.
    """
    a = np.asarray(y, dtype=np.float64)
    flat = a.reshape(len(a), -1)
    n = len(flat)
    if n == 0 or sigma_frames <= 0:
        return a.copy()
    half = max(1, int(math.ceil(truncate * sigma_frames)))
    off = np.arange(-half, half + 1)
    g = np.exp(-0.5 * (off / sigma_frames) ** 2)[None, :, None]
    x = off[None, :, None].astype(np.float64)
    out = np.empty(flat.shape)
    # rows in chunks: the (rows, window, d) temporaries stay bounded on long clips
    for a0 in range(0, n, _SMOOTH_CHUNK_ROWS):
        idx = np.arange(a0, min(n, a0 + _SMOOTH_CHUNK_ROWS))[:, None] + off[None, :]
        inside = (idx >= 0) & (idx < n)
        vals = flat[np.clip(idx, 0, n - 1)]  # (rows, m, d)
        ok = inside[:, :, None] & np.isfinite(vals)
        w = g * ok
        v = np.where(ok, vals, 0.0)
        s0, s1, s2 = w.sum(1), (w * x).sum(1), (w * x * x).sum(1)
        t0, t1 = (w * v).sum(1), (w * x * v).sum(1)
        det = s0 * s2 - s1 * s1
        with np.errstate(divide="ignore", invalid="ignore"):
            lin = (s2 * t0 - s1 * t1) / det
            mean = t0 / s0
        out[a0:a0 + len(idx)] = np.where(np.abs(det) > 1e-9 * np.maximum(s0 * s2, 1e-300), lin, mean)
    return out.reshape(a.shape)


def high_pass_jitter(steps: np.ndarray, fps: float, sigma_s: float = 0.5) -> dict:
    """High-frequency jitter of a motion path.

    Parameters
    ----------
    steps : (N-1, 3) inter-frame (tx [px], ty [px], angle [deg]); NaN rows (failed pairs)
        count as zero motion.
    fps : frame rate [1/s].
    sigma_s : Gaussian smoothing sigma [s].

    Returns
    -------
    dict ``jitter_px`` = sqrt(mean(hx^2 + hy^2)), ``jitter_deg`` = sqrt(mean(ha^2)) where
    h = path - gaussian_smooth(path, sigma_s * fps) (see :func:`gaussian_smooth`: Gaussian
    filter with end correction), path = cumulative sum of steps starting at 0; plus the
    high-pass series ``hp`` (N, 3).
    """
    s = np.nan_to_num(np.asarray(steps, dtype=np.float64).reshape(-1, 3))
    path = np.vstack([np.zeros((1, 3)), np.cumsum(s, axis=0)])
    if len(path) < 3:
        return {"jitter_px": 0.0, "jitter_deg": 0.0, "hp": np.zeros_like(path)}
    hp = path - gaussian_smooth(path, sigma_s * fps)
    return {
        "jitter_px": float(np.sqrt(np.mean(hp[:, 0] ** 2 + hp[:, 1] ** 2))),
        "jitter_deg": float(np.sqrt(np.mean(hp[:, 2] ** 2))),
        "hp": hp,
    }


def rs_residual_px(pm: PairMotion, gate_px: float = 8.0) -> float | None:
    """RMS residual [px] of one frame pair's tracks under ONE least-squares homography.

    RANSAC with a wide gate (``gate_px``) keeps rolling-shutter wobble in the inlier set
    while dropping mismatches; the homography is refitted by least squares on the inliers.
    None when fewer than 12 points.
    """
    pa, pb = pm.pts_a_px, pm.pts_b_px
    if len(pa) < _MIN_POINTS:
        return None
    H, inl = cv2.findHomography(pa, pb, cv2.RANSAC, gate_px, maxIters=2000)
    if H is None or inl.sum() < _MIN_POINTS:
        return None
    inl = inl.ravel().astype(bool)
    H, _ = cv2.findHomography(pa[inl], pb[inl], 0)
    if H is None:
        return None
    pred = cv2.perspectiveTransform(pa[inl].reshape(-1, 1, 2), H).reshape(-1, 2)
    return float(np.sqrt(np.mean(np.sum((pred - pb[inl]) ** 2, axis=1))))


# ---------------------------------------------------------------------------- truth
def _row_times(truth: Truth, frame_index: np.ndarray, v_px, height_px: int) -> np.ndarray:
    """Capture time [s] of pixel row ``v_px`` (of a ``height_px`` tall frame) of ``frame_index``."""
    return truth.frame_times_s[frame_index] + truth.readout_s * np.asarray(v_px) / float(height_px)


def _lens_motion(truth: Truth) -> LensMotion | None:
    """The truth's OIS / breathing track, or None when the clip had neither."""
    if np.any(truth.ois_shift_px != 0) or np.any(truth.focal_scale != 1):
        return truth.lens_motion
    return None


def _out_rays(px: np.ndarray, f_px: float, w: int, h: int) -> np.ndarray:
    r = np.column_stack([(px[:, 0] - (w - 1) / 2.0) / f_px, (px[:, 1] - (h - 1) / 2.0) / f_px, np.ones(len(px))])
    return r / np.linalg.norm(r, axis=1, keepdims=True)


def _fit_frame(world: np.ndarray, px: np.ndarray, f_px: float, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust Kabsch: returns (O, residual angles [rad], kept mask)."""
    r = _out_rays(px, f_px, w, h)
    keep = np.ones(len(r), bool)
    O = np.eye(3)
    for _ in range(3):
        O = kabsch(r[keep], world[keep])
        ang = np.arccos(np.clip(np.einsum("ij,ij->i", world, r @ O.T), -1, 1))
        med = np.median(ang[keep])
        new = ang < max(4.0 * med, 1e-4)
        if new.sum() < 6 or np.array_equal(new, keep):
            break
        keep = new
    return O, ang, keep


def fit_output_orientations(
    world_rays: list[np.ndarray], out_px: list[np.ndarray], width_px: int, height_px: int, f_guess_px: float | None = None
) -> tuple[float, np.ndarray, np.ndarray]:
    """Orientation of a pinhole output camera per frame from world rays and output pixels.

    Parameters
    ----------
    world_rays : per frame (n_k, 3) unit world-frame rays (may be empty).
    out_px : per frame (n_k, 2) matching output pixels [px].
    width_px, height_px : output frame size; principal point at the centre.
    f_guess_px : start of the focal search (default: output width).

    Returns
    -------
    f_out_px : focal length [px], one for the clip, from a bounded 1-D search of the summed
        squared ray residual (on up to 40 evenly spaced frames).
    O : (N, 3, 3) ``R_world_outcam``; NaN for frames with fewer than 12 points.
    residual_deg : (N,) RMS ray residual per frame [deg] (NaN where not fitted).
    """
    n = len(world_rays)
    usable = [k for k in range(n) if len(world_rays[k]) >= _MIN_POINTS]
    if not usable:
        return float("nan"), np.full((n, 3, 3), np.nan), np.full(n, np.nan)
    sel = [usable[i] for i in np.unique(np.linspace(0, len(usable) - 1, min(40, len(usable))).astype(int))]
    f0 = float(f_guess_px or width_px)

    def cost(logf: float) -> float:
        f = math.exp(logf)
        tot = 0.0
        for k in sel:
            _, ang, keep = _fit_frame(world_rays[k], out_px[k], f, width_px, height_px)
            tot += float(np.mean(ang[keep] ** 2))
        return tot

    res = minimize_scalar(cost, bounds=(math.log(f0 / 4), math.log(f0 * 4)), method="bounded", options={"xatol": 1e-4})
    f = math.exp(res.x)
    O = np.full((n, 3, 3), np.nan)
    resid = np.full(n, np.nan)
    for k in usable:
        Ok, ang, keep = _fit_frame(world_rays[k], out_px[k], f, width_px, height_px)
        O[k] = Ok
        resid[k] = math.degrees(float(np.sqrt(np.mean(ang[keep] ** 2))))
    return f, O, resid


def smooth_rotations(R: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing of a rotation sequence in the local tangent space.

    For each k, with ``r_j = Log(R_k^T R_j)`` over +-3 sigma (NaN frames skipped), a
    Gaussian-weighted local-linear fit ``r_j ~ a + b (j - k)`` gives ``S_k = R_k Exp(a)``
    (the Gaussian mean in the interior; no bias towards the end values for a steady pan).

    Parameters
    ----------
    R : (N, 3, 3) rotation matrices (NaN rows allowed).
    sigma_frames : sigma in frames.
    """
    n = len(R)
    out = np.full_like(R, np.nan)
    valid = ~np.isnan(R).any(axis=(1, 2))
    half = max(1, int(math.ceil(3 * sigma_frames)))
    for k in range(n):
        if not valid[k]:
            continue
        lo, hi = max(0, k - half), min(n, k + half + 1)
        idx = np.arange(lo, hi)[valid[lo:hi]]
        x = (idx - k).astype(np.float64)
        w = np.exp(-0.5 * (x / max(sigma_frames, 1e-9)) ** 2)
        rel = log_so3(np.einsum("ji,njk->nik", R[k], R[idx]))
        s0, s1, s2 = w.sum(), (w * x).sum(), (w * x * x).sum()
        det = s0 * s2 - s1 * s1
        if det > 1e-9 * s0 * s2:  # local-linear value at x = 0
            est = (s2 * (w[:, None] * rel).sum(0) - s1 * (w[:, None] * x[:, None] * rel).sum(0)) / det
        else:
            est = (w[:, None] * rel).sum(0) / s0
        out[k] = R[k] @ exp_so3(est)
    return out


def _angles_deg(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Angle [deg] of A_k^T B_k for (N, 3, 3) stacks; NaN where either is NaN."""
    out = np.full(len(A), np.nan)
    ok = ~(np.isnan(A).any(axis=(1, 2)) | np.isnan(B).any(axis=(1, 2)))
    if ok.any():
        rel = np.einsum("nji,njk->nik", A[ok], B[ok])
        out[ok] = np.degrees(np.linalg.norm(log_so3(rel), axis=1))
    return out


def _rms(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(np.sqrt(np.mean(x**2))) if len(x) else float("nan")


def truth_rotation_metrics(
    truth: Truth,
    world_rays: list[np.ndarray],
    out_px: list[np.ndarray],
    out_width_px: int,
    out_height_px: int,
    orig_height_px: int,
    fps: float,
    *,
    sigma_s: float = 0.5,
    truth_sigma_s: float = 0.5,
    f_guess_px: float | None = None,
) -> dict:
    """Residual rotation of the output video against the simulator's truth.

    Each output frame k is modelled as a pinhole camera (focal ``f_out`` shared by the clip,
    principal point at the centre) with world orientation ``O_k`` solved by Kabsch on world
    rays (original pixel -> lens unprojection -> truth rotation at that pixel's row time) and
    output pixel rays; ``f_out`` by a bounded 1-D search.

    Returns
    -------
    dict with
    ``truth_output_jitter_deg``: RMS angle between O_k and its own Gaussian smoothing (sigma_s);
    ``truth_input_jitter_deg``: the same for the truth orientation at each frame's centre-row
    time; ``truth_residual_deg``: RMS angle between O_k and the truth smoothed with
    ``truth_sigma_s``; ``truth_residual_offset_removed_deg``: the same after removing the mean
    constant rotation offset; ``truth_fit_rms_deg``: mean per-frame ray fit residual;
    ``truth_f_out_px``; ``truth_frames_fitted``; and per-frame lists ``per_frame`` (residual
    angle vs smoothed truth [deg], fit RMS [deg]).
    """
    n = len(world_rays)
    f, O, fit_rms = fit_output_orientations(world_rays, out_px, out_width_px, out_height_px, f_guess_px)
    idx = np.arange(n)
    centre_t = _row_times(truth, np.minimum(idx, len(truth.frame_times_s) - 1), (orig_height_px - 1) / 2.0, orig_height_px)
    T = truth.track.matrices_at(centre_t)
    sig_f = sigma_s * fps
    out_jit = _angles_deg(O, smooth_rotations(O, sig_f))
    in_jit = _angles_deg(T, smooth_rotations(T, sig_f))
    T_s = smooth_rotations(T, truth_sigma_s * fps)
    resid = _angles_deg(T_s, O)
    ok = np.isfinite(resid)
    resid_off = np.full(n, np.nan)
    if ok.any():
        rel = np.einsum("nji,njk->nik", T_s[ok], O[ok])  # T_s^T O
        mean_off = exp_so3(np.mean(log_so3(rel), axis=0))
        resid_off[ok] = _angles_deg(T_s[ok] @ mean_off, O[ok])
    return {
        "truth_output_jitter_deg": _rms(out_jit),
        "truth_input_jitter_deg": _rms(in_jit),
        "truth_residual_deg": _rms(resid),
        "truth_residual_offset_removed_deg": _rms(resid_off),
        "truth_fit_rms_deg": float(np.nanmean(fit_rms)) if np.isfinite(fit_rms).any() else float("nan"),
        "truth_f_out_px": f,
        "truth_frames_fitted": int(ok.sum()),
        "per_frame": {
            "residual_deg": [None if not np.isfinite(x) else round(float(x), 5) for x in resid],
            "fit_rms_deg": [None if not np.isfinite(x) else round(float(x), 5) for x in fit_rms],
        },
    }


def _world_rays(truth: Truth, cam: CameraModel, k: int, px: np.ndarray) -> np.ndarray:
    """World-frame unit rays (n, 3) of original-frame pixels (n, 2) of frame k (NaN: unusable)."""
    t = _row_times(truth, np.full(len(px), min(k, len(truth.frame_times_s) - 1)), px[:, 1], cam.height_px)
    lens = _lens_motion(truth)
    if lens is not None:
        ois, fs = lens.at(t)
        sx = cam.width_px / truth.camera.width_px
        rays = cam.unproject(px, principal_offset_px=ois * sx, focal_scale=fs)
    else:
        rays = cam.unproject(px)
    rays = rays / np.linalg.norm(rays, axis=1, keepdims=True)
    good = np.isfinite(rays).all(axis=1)
    R = truth.track.matrices_at(t)
    w = np.einsum("nij,nj->ni", R, rays)
    w[~good] = np.nan
    return w


# ---------------------------------------------------------------------------- driver
def _nanstat(x, fn) -> float | None:
    a = np.asarray([v for v in x if v is not None], dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(fn(a)) if len(a) else None


class _VideoStats:
    """Streaming per-video accumulators (inter-frame motion)."""

    def __init__(self) -> None:
        self.prev: tuple[np.ndarray, float, np.ndarray | None] | None = None
        self.H: list[np.ndarray | None] = []
        self.steps: list[tuple[float, float, float]] = []
        self.rs: list[float | None] = []
        self.size: tuple[int, int] | None = None

    def add(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        self.size = (w, h)
        g, s = to_grey(frame)
        if self.prev is not None:
            pm = track_pair(self.prev[0], g, self.prev[1], mask=self.prev[2])
            self.H.append(pm.H if pm.ok else None)
            sp = similarity_params(pm, w, h)
            self.steps.append(sp if sp is not None else (np.nan, np.nan, np.nan))
            self.rs.append(rs_residual_px(pm))
        self.prev = (g, s, _valid_mask(g))

    def summary(self, fps: float, sigma_s: float) -> dict:
        st = stability_score(self.H)
        jit = high_pass_jitter(np.array(self.steps).reshape(-1, 3), fps, sigma_s)
        return {
            "stability": st["stability"],
            "stability_translation": st["stability_translation"],
            "stability_rotation": st["stability_rotation"],
            "jitter_px": jit["jitter_px"],
            "jitter_deg": jit["jitter_deg"],
            "rs_residual_px": _nanstat(self.rs, np.median),
            "pairs_failed": int(sum(h is None for h in self.H)),
        }


def evaluate(
    original: str | Path,
    stabilized: str | Path,
    truth: str | Path | None = None,
    *,
    max_frames: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    sigma_s: float = 0.5,
    truth_sigma_s: float = 0.5,
    per_frame: bool = False,
) -> dict:
    """Compute every metric for an original video and its stabilized version.

    Frames are streamed in lockstep (index alignment; the longer video is truncated to the
    shorter). See the module docstring for the definitions.

    Parameters
    ----------
    original, stabilized : video paths.
    truth : optional ``PREFIX.truth.npz`` from ``fusedstab simulate``.
    max_frames : evaluate only the first N frames.
    progress : called as ``progress(done_frames, total_frames)``.
    sigma_s : smoothing sigma [s] for jitter metrics.
    truth_sigma_s : smoothing sigma [s] applied to the truth for ``truth_residual_deg``.
    per_frame : include per-frame series (cropping, undefined share, truth residual).

    Returns
    -------
    JSON-serialisable dict: ``frames``, ``fps``, ``stability``, ``cropping``,
    ``cropping_min``, ``distortion``, ``jitter_px``, ``jitter_deg``, ``rs_residual_px``,
    ``undefined_share_mean``, ``undefined_share_max`` for the stabilized video, the same
    motion metrics and undefined shares with prefix ``original_`` for the original (black
    scene content touching the frame's edge counts there too: the original's share is that
    baseline), ``jitter_ratio_px`` /
    ``jitter_ratio_deg`` (stabilized / original), and ``truth_*`` keys when ``truth`` is given.
    """
    from ..io.video import iter_frames, probe_video

    info_o = probe_video(original)
    info_s = probe_video(stabilized)
    n = min(info_o.frame_count, info_s.frame_count)
    if max_frames is not None:
        n = min(n, int(max_frames))
    if n < 3:
        raise InputError(f"need at least 3 frames to evaluate, got {n}", "give longer videos")
    unrelated_hint = (f"give the original clip and its own stabilized version (e.g. fusedstab stabilize "
                      f"{Path(original).name} -o out.mp4; evaluate {Path(original).name} out.mp4)")
    if max_frames is None and abs(info_o.duration_s - info_s.duration_s) > max(0.5, 0.1 * info_o.duration_s):
        raise InputError(
            f"{stabilized} ({info_s.frame_count} frames, {info_s.duration_s:.2f} s) is not a stabilized version of "
            f"{original} ({info_o.frame_count} frames, {info_o.duration_s:.2f} s): the lengths differ",
            unrelated_hint,
        )
    fps = info_o.fps
    tr = load_truth(truth) if truth is not None else None
    cam = None
    if tr is not None:
        cam = tr.camera.scaled(info_o.width_px, info_o.height_px)
    so, ss = _VideoStats(), _VideoStats()
    crop, dist, und, und_o = [], [], [], []
    world_rays: list[np.ndarray] = []
    out_px: list[np.ndarray] = []
    size_scale = info_o.width_px / info_s.width_px
    k = 0
    for (_, fo), (_, fs) in zip(iter_frames(original), iter_frames(stabilized)):
        if k >= n:
            break
        so.add(fo)
        ss.add(fs)
        und.append(undefined_share(fs))
        und_o.append(undefined_share(fo))  # dark scene content at the edge scores here too
        pm = match_frames(fo, fs)
        if pm.ok:
            c, d = cropping_distortion(pm.H, size_scale)
            crop.append(c)
            dist.append(d)
        else:
            crop.append(None)
            dist.append(None)
        if tr is not None:
            if len(pm.pts_a_px) >= _MIN_POINTS and k < len(tr.frame_times_s):
                w = _world_rays(tr, cam, k, pm.pts_a_px)
                good = np.isfinite(w).all(axis=1)
                world_rays.append(w[good])
                out_px.append(pm.pts_b_px[good])
            else:
                world_rays.append(np.zeros((0, 3)))
                out_px.append(np.zeros((0, 2)))
        k += 1
        if progress is not None:
            progress(k, n)
    if k < 3:
        raise InputError(f"decoded only {k} frame pairs", "check that both videos decode")
    matched = sum(c is not None for c in crop)
    trackable = np.mean([h is not None for h in so.H]) if so.H else 0.0  # the original itself has texture
    if matched < max(1, 0.2 * k) and trackable > 0.5:
        raise InputError(
            f"{stabilized} does not show the scene of {original}: only {matched} of {k} frames match "
            "(the metrics would be meaningless)",
            unrelated_hint,
        )
    s_sum = ss.summary(fps, sigma_s)
    o_sum = so.summary(fps, sigma_s)
    implausible = sum(c is not None and c > 1.0 + CROPPING_TOLERANCE for c in crop)
    crop = [None if c is None or c > 1.0 + CROPPING_TOLERANCE else min(c, 1.0) for c in crop]
    crop_mean = _nanstat(crop, np.mean)
    res: dict = {
        "original": str(original),
        "stabilized": str(stabilized),
        "frames": k,
        "fps": round(fps, 4),
        "original_size_px": [info_o.width_px, info_o.height_px],
        "stabilized_size_px": [info_s.width_px, info_s.height_px],
        "stability": s_sum["stability"],
        "stability_translation": s_sum["stability_translation"],
        "stability_rotation": s_sum["stability_rotation"],
        "cropping": crop_mean,
        "cropping_min": _nanstat(crop, np.min),
        "distortion": _nanstat(dist, np.min),
        "jitter_px": s_sum["jitter_px"],
        "jitter_deg": s_sum["jitter_deg"],
        "rs_residual_px": s_sum["rs_residual_px"],
        "undefined_share_mean": float(np.mean(und)),
        "undefined_share_max": float(np.max(und)),
        "original_undefined_share_mean": float(np.mean(und_o)),
        "original_undefined_share_max": float(np.max(und_o)),
        "original_stability": o_sum["stability"],
        "original_jitter_px": o_sum["jitter_px"],
        "original_jitter_deg": o_sum["jitter_deg"],
        "original_rs_residual_px": o_sum["rs_residual_px"],
        "jitter_ratio_px": s_sum["jitter_px"] / o_sum["jitter_px"] if o_sum["jitter_px"] > 0 else None,
        "jitter_ratio_deg": s_sum["jitter_deg"] / o_sum["jitter_deg"] if o_sum["jitter_deg"] > 0 else None,
        "match_failed_frames": int(sum(c is None for c in crop)) - implausible,
        "cropping_implausible_frames": int(implausible),
        "pairs_failed": s_sum["pairs_failed"],
        "original_pairs_failed": o_sum["pairs_failed"],
        "sigma_s": sigma_s,
    }
    if tr is not None:
        f_guess = cam.fx_px * info_s.width_px / info_o.width_px / (crop_mean or 1.0)
        t = truth_rotation_metrics(
            tr, world_rays, out_px, info_s.width_px, info_s.height_px, info_o.height_px, fps,
            sigma_s=sigma_s, truth_sigma_s=truth_sigma_s, f_guess_px=f_guess,
        )
        pf = t.pop("per_frame")
        res.update(t)
        res["truth_sigma_s"] = truth_sigma_s
        res["truth_sharpness_consistency_px"] = _truth_sharpness_consistency(
            tr, cam, np.array(ss.steps).reshape(-1, 3), k, fps, info_s.width_px / info_o.width_px / (crop_mean or 1.0))
        if per_frame:
            res["per_frame_truth_residual_deg"] = pf["residual_deg"]
            res["per_frame_truth_fit_rms_deg"] = pf["fit_rms_deg"]
    if per_frame:
        res["per_frame_cropping"] = crop
        res["per_frame_undefined_share"] = und
    return _jsonable(res)


def _truth_sharpness_consistency(tr: Truth, cam: CameraModel, steps: np.ndarray, n: int, fps: float,
                                 out_scale: float) -> float | None:
    """Sharpness consistency [output px] (None without motion blur): per frame, the true blur
    streak at the image centre (the simulator's camera over the exposure, scaled to the output's
    pixels) against the output's apparent motion during the exposure (the tracked inter-frame
    translation, averaged over the two neighbouring pairs, times exposure / frame period); RMS over
    frames of ``min(|b - m|, |b + m|)`` (a streak has no sign). Lower is better; a perfectly still
    output scores the RMS blur."""
    from ..filtering.blur_mask import centre_motion_px, sharpness_consistency_px

    e = float(tr.exposure_s)
    if e <= 0 or n < 3:
        return None
    track = tr.track if hasattr(tr, "track") else None
    from ..types import OrientationTrack

    track = OrientationTrack(tr.times_s, tr.quat_wxyz) if track is None else track
    tc = tr.row_times_s(np.arange(n), (cam.height_px - 1) / 2.0)
    blur = centre_motion_px(track.matrices_at(tc - e / 2), track.matrices_at(tc + e / 2), cam.fx_px * out_scale)
    st = steps[:, :2]
    v = np.full((n, 2), np.nan)
    if len(st) >= 2:
        v[1:-1] = 0.5 * (st[:-1] + st[1:])[: n - 2]
        v[0], v[-1] = st[0], st[-1]
    val = sharpness_consistency_px(blur, v, e, 1.0 / fps)
    return val if math.isfinite(val) else None


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    return x
