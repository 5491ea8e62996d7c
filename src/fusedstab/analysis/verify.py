"""Checking the motion sources against the picture.

Two checks, both from the feature tracks of :mod:`fusedstab.analysis.tracking`:

* :func:`gyro_agreement` — after the sync, does the gyro explain the image motion? Every
  tracked point is moved from frame a to frame b by the gyro's rotation at the point's own
  row times (OIS shift and focal scale included, exactly like the warp) and counts as
  explained when it lands within ``tol_px`` of where it was tracked. Per segment (about a
  second), the agreement is the share the gyro explains divided by the share the best
  rotation fitted to the video itself explains (:mod:`~fusedstab.analysis.video_motion`),
  so parallax and moving objects, which no rotation explains, do not count against the
  gyro. When the gyro disagrees, :func:`diagnose_gyro` names the likely cause by comparing
  per-pair angular velocities of gyro and video over time lags, axis mappings and scale:
  wrong units (scale ~57), wrong axes, a failed sync (a better lag), or a picture that moves
  less than the body (in-camera stabilization, OIS or IBIS without its log).

* :func:`predicted_jitter` — the "never worse than the input" check: the tracked points are
  pushed through the planned output warps (the exact inverse of the map the renderer
  samples), and the high-frequency jitter of the output's image motion is compared with the
  input's, before a single frame is rendered. The jitter is the one ``fusedstab evaluate``
  reports (:func:`fusedstab.measure.metrics.high_pass_jitter`: RMS of the inter-frame similarity path
  minus its 0.5 s Gaussian smooth).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..camera import CameraModel
from ..rotation import log_so3
from ..types import ImuSamples, LensMotion, OrientationTrack
from .sync import parse_imu_orientation, proper_orientations
from .tracking import FramePairs
from .video_motion import VideoMotion

__all__ = ["Segment", "GyroCheck", "gyro_agreement", "diagnose_gyro", "predicted_jitter", "pair_steps"]

#: deg -> rad factor: a deg/s log read as rad/s predicts this many times the real motion
_DEG = 180.0 / np.pi


@dataclass
class Segment:
    """Agreement of the gyro with the picture over one stretch of the clip."""

    start_s: float
    end_s: float
    agreement: float  # gyro-explained share / video-explained share, 0..1
    gyro_share: float
    video_share: float
    video_motion_px: float  # median inter-frame rotation the video shows [px]
    gyro_motion_px: float  # the same predicted by the gyro [px]
    source: str = "gyro"  # what the stabilizer uses here: 'gyro' or 'video'


@dataclass
class GyroCheck:
    """What :func:`gyro_agreement` found (see the module docstring)."""

    segments: list[Segment] = field(default_factory=list)
    agreement: float = 1.0  # over the whole clip
    tolerance_px: float = 0.0
    cause: str = ""  # one line for the user when the gyro disagrees, else ''
    fix: str = ""
    diagnosis: dict = field(default_factory=dict)

    @property
    def video_segments(self) -> list[Segment]:
        return [s for s in self.segments if s.source == "video"]

    def as_dict(self) -> dict:
        return asdict(self)


def _pair_ids(pairs: FramePairs):
    return pairs.pair_index


#: pairs per chunk of :func:`_gyro_prediction` (a 10-minute clip's ~2.7 million points at once
#: made per-point rotation matrices and their interpolation temporaries of ~1 GB)
_CHUNK_PAIRS = 600


def _gyro_prediction(pairs: FramePairs, camera: CameraModel, track: OrientationTrack, readout_s: float,
                     lens_motion: LensMotion | None) -> np.ndarray:
    """Predicted positions (P, 2) in frame b of the points of frame a, by the gyro, per row time
    (:data:`_CHUNK_PAIRS` pairs at a time)."""
    if pairs.n_pairs > _CHUNK_PAIRS:
        return np.concatenate([_gyro_prediction_part(part, camera, track, readout_s, lens_motion)
                               for part in pairs.chunks(_CHUNK_PAIRS)]).reshape(-1, 2)
    return _gyro_prediction_part(pairs, camera, track, readout_s, lens_motion)


def _gyro_prediction_part(pairs: FramePairs, camera: CameraModel, track: OrientationTrack, readout_s: float,
                          lens_motion: LensMotion | None) -> np.ndarray:
    ta, _ = pairs.row_times(readout_s)
    if lens_motion is not None:
        o, s = lens_motion.at(ta)
        ra = camera.unproject(pairs.xa, principal_offset_px=o, focal_scale=s)
    else:
        ra = camera.unproject(pairs.xa)
    d_world = np.einsum("pij,pj->pi", track.matrices_at(ta), ra)
    y = pairs.xb[:, 1].copy()
    x = np.full_like(pairs.xb, np.nan)
    tb_frame = pairs.t_b[pairs.pair_index]
    for _ in range(2):  # the row of the predicted point sets its capture time
        tb = tb_frame + readout_s * y / camera.height_px
        rb = np.einsum("pji,pj->pi", track.matrices_at(tb), d_world)
        if lens_motion is not None:
            o, s = lens_motion.at(tb)
            x = camera.project(rb, principal_offset_px=o, focal_scale=s)
        else:
            x = camera.project(rb)
        y = np.where(np.isfinite(x[:, 1]), x[:, 1], y)
    return x


def gyro_omega(vm: VideoMotion, track: OrientationTrack) -> np.ndarray:
    """(M, 3) the gyro's mean angular velocity over each pair of ``vm`` (centre-row times)."""
    ca = vm.t_a + 0.5 * vm.readout_s
    cb = vm.t_b + 0.5 * vm.readout_s
    Ra, Rb = track.matrices_at(ca), track.matrices_at(cb)
    return log_so3(np.swapaxes(Ra, -1, -2) @ Rb) / (cb - ca)[:, None]


def gyro_agreement(
    pairs: FramePairs,
    vm: VideoMotion,
    track: OrientationTrack,
    camera: CameraModel,
    *,
    readout_s: float,
    lens_motion: LensMotion | None = None,
    segment_s: float = 1.0,
    min_agreement: float = 0.6,
    tol_px: float | None = None,
) -> GyroCheck:
    """Per-segment agreement of the gyro (``track``, on the video clock) with the tracks.

    Parameters
    ----------
    pairs : tracks; ``vm`` must be estimated from the same pairs.
    vm : the video's own rotation per pair (for the share any rotation can explain).
    track : gyro ``R_world_cam`` on the video clock (after sync, mapping and bias).
    camera, readout_s, lens_motion : the source lens as the warp uses it.
    segment_s : segment length [s].
    min_agreement : segments below it are marked ``source='video'``.
    tol_px : a point is explained within ``max(tol_px, 0.25 * the pair's image rotation)``;
        default ``max(1, 0.0015 * width)`` px (tracks are made ~480 px wide; a tolerance that
        grows with the motion keeps a small sync or focal error from counting, while a gyro
        that predicts 2x or 0.5x of the motion fails).
    """
    if camera.width_px != pairs.width_px or camera.height_px != pairs.height_px:
        camera = camera.scaled(pairs.width_px, pairs.height_px)
    tol = float(tol_px) if tol_px is not None else max(1.0, 0.0015 * pairs.width_px)
    n = pairs.n_pairs
    j = pairs.pair_index
    dt = vm.t_b - vm.t_a
    v_mot = np.linalg.norm(np.nan_to_num(vm.omega_rad_s), axis=1) * dt * vm.focal_px
    pred = _gyro_prediction(pairs, camera, track, readout_s, lens_motion)
    err = np.linalg.norm(pred - pairs.xb, axis=1)
    ok = np.isfinite(err) & (err <= np.maximum(tol, 0.25 * v_mot[j]))
    counts = np.maximum(np.bincount(j, minlength=n), 1).astype(np.float64)
    g_share = np.bincount(j, weights=ok.astype(np.float64), minlength=n) / counts
    v_share = vm.inliers / np.maximum(vm.points, 1)
    w_g = gyro_omega(vm, track)
    g_mot = np.linalg.norm(w_g, axis=1) * dt * vm.focal_px
    t_end = float(vm.t_b.max()) if n else 0.0
    n_seg = max(1, int(round(t_end / segment_s)))
    edges = np.linspace(0.0, t_end + 1e-9, n_seg + 1)
    seg_of = np.clip(np.searchsorted(edges, vm.t_a, side="right") - 1, 0, n_seg - 1)
    segments = []
    for s in range(n_seg):
        m = seg_of == s
        if not m.any():
            continue
        gs, vs = float(np.mean(g_share[m])), float(np.mean(v_share[m]))
        vmo, gmo = float(np.median(v_mot[m])), float(np.median(g_mot[m]))
        if vs < 0.2 or (vmo < 0.5 * tol and gmo < 0.5 * tol):
            agree = 1.0  # nothing to judge by (no texture, or the camera rests): keep the gyro
        else:
            agree = float(min(1.0, gs / max(vs, 1e-9)))
        segments.append(Segment(float(edges[s]), float(edges[s + 1]), round(agree, 4), round(gs, 4), round(vs, 4),
                                round(vmo, 3), round(gmo, 3), "gyro" if agree >= min_agreement else "video"))
    # agreement of the whole clip, weighted by how much there was to judge
    judged = [(s.agreement, s.end_s - s.start_s) for s in segments]
    total = float(sum(a * w for a, w in judged) / max(sum(w for _, w in judged), 1e-9)) if judged else 1.0
    return GyroCheck(segments=segments, agreement=round(total, 4), tolerance_px=tol)


def diagnose_gyro(
    vm: VideoMotion,
    imu_video_clock: ImuSamples,
    *,
    mapping_used: str = "XYZ",
    in_camera_stabilization: bool = False,
    lag_search_s: float = 1.0,
) -> tuple[str, str, dict]:
    """Why the gyro does not explain the picture: ``(cause, fix, numbers)``.

    Per pair, the video's angular velocity is compared with the gyro's (the same mapping,
    bias and offset the stabilizer used, ``imu_video_clock``) by normalized correlation over
    time lags (5 ms steps within ``±lag_search_s``) and the 24 proper axis re-mappings; at
    the best (lag, mapping) the least-squares scale video = s * gyro tells units apart from a
    stabilized picture. Only pairs whose video rotation is confident are used.
    """
    ok = (vm.confidence > 0.4) & np.all(np.isfinite(vm.omega_rad_s), axis=1)
    out: dict = {"pairs": int(ok.sum())}
    if ok.sum() < 10:
        return ("the video has too little texture to say why the gyro disagrees",
                "check the gyro log, its --gyro-units and --imu-orientation", out)
    wv = vm.omega_rad_s[ok]
    ca = vm.t_a[ok] + 0.5 * vm.readout_s
    cb = vm.t_b[ok] + 0.5 * vm.readout_s
    dt = cb - ca
    t = imu_video_clock.times_s
    g = imu_video_clock.gyro_rad_s
    th = np.zeros_like(g)
    th[1:] = np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(t)[:, None], axis=0)
    lags = np.arange(-lag_search_s, lag_search_s + 1e-9, 0.005)
    # gyro per pair at each lag: (L, M, 3)
    wg = np.stack([
        np.stack([np.interp(cb - lag, t, th[:, k]) - np.interp(ca - lag, t, th[:, k]) for k in range(3)], -1)
        / dt[:, None] for lag in lags
    ])
    nv = float(np.sqrt(np.sum(wv * wv)))
    best = (-np.inf, 0.0, "XYZ")
    corr_used = None
    for mapping in proper_orientations():
        M = parse_imu_orientation(mapping)
        wm = wg @ M.T
        num = np.einsum("lmk,mk->l", wm, wv)
        den = nv * np.sqrt(np.einsum("lmk,lmk->l", wm, wm)) + 1e-300
        r = num / den
        k = int(np.argmax(r))
        if mapping == "XYZ":
            corr_used = float(r[int(np.argmin(np.abs(lags)))])
        if r[k] > best[0]:
            best = (float(r[k]), float(lags[k]), mapping)
    r_best, lag_best, map_best = best
    M = parse_imu_orientation(map_best)
    wb = wg[int(np.argmin(np.abs(lags - lag_best)))] @ M.T
    scale = float(np.sum(wb * wv) / max(np.sum(wb * wb), 1e-300))
    rms_ratio = float(np.sqrt(np.mean(np.sum(wv * wv, 1))) / max(np.sqrt(np.mean(np.sum(wg[len(lags) // 2] ** 2, 1))), 1e-300))
    out.update(correlation_as_used=round(corr_used, 3) if corr_used is not None else None,
               correlation_best=round(r_best, 3), best_lag_ms=round(lag_best * 1000.0, 1),
               best_remap=map_best, scale=round(scale, 4), video_to_gyro_rms=round(rms_ratio, 4))
    if in_camera_stabilization and (rms_ratio < 0.6 or scale < 0.6):
        return ("the camera stabilized this clip itself (in-camera EIS/HyperSmooth is on): the picture moves "
                f"{rms_ratio:.2f}x as much as the body the gyro measures",
                "record with in-camera stabilization off for gyro stabilization; the video's own motion is "
                "used here", out)
    if r_best >= 0.6 and abs(np.log(max(scale, 1e-12) * _DEG)) < np.log(1.6):
        out["units"] = "deg/s"  # for the pipeline: a text log in auto units is read again as deg/s
        return (f"the gyro predicts about {1 / max(scale, 1e-12):.0f}x the motion the picture shows: a log in deg/s "
                "read as rad/s",
                "give --gyro-units deg/s", out)
    if r_best >= 0.6 and abs(np.log(max(scale, 1e-12) / _DEG)) < np.log(1.6):
        return (f"the gyro predicts about 1/{scale:.0f} of the motion the picture shows: a log in rad/s read as "
                "deg/s", "give --gyro-units rad/s", out)
    if r_best >= 0.6 and map_best != "XYZ" and (corr_used is None or r_best > corr_used + 0.2):
        out["axes"] = map_best  # for the pipeline: plan again searching the axes
        return (f"the gyro's axes do not match the camera's: the picture follows the gyro re-mapped as {map_best} "
                f"(correlation {r_best:.2f} against {corr_used:.2f} as given)",
                f"give --imu-orientation {mapping_used if mapping_used.lower() == 'auto' else 'auto'} (or the mapping "
                "that composes with the one used)", out)
    if r_best >= 0.6 and abs(lag_best) > 0.02 and (corr_used is None or r_best > corr_used + 0.15):
        return (f"the gyro is out of step with the video by about {lag_best * 1000:.0f} ms (sync failed)",
                "give --gyro-offset-ms (the sync's starting point) or --sync-search-ms", out)
    if rms_ratio < 0.6 or scale < 0.6:
        return (f"the picture moves {rms_ratio:.2f}x as much as the gyro says: in-camera stabilization (EIS), or an "
                "OIS/IBIS lens that moved without its log",
                "give the lens-motion log with --lens-motion, or record with in-camera stabilization off; the "
                "video's own motion is used here", out)
    if rms_ratio > 1.6:
        return (f"the picture moves {rms_ratio:.1f}x as much as the gyro's rotation explains: the camera moves "
                "sideways (a drone, a vehicle) and near things shift, which no gyro measures",
                "nothing to fix in the input; the video's own motion follows it", out)
    return ("the gyro does not explain the picture (a moving scene, a wrong lens profile, or another camera's log)",
            "check --gyro, --lens and --imu-orientation; the video's own motion is used here", out)


# ============================================================================ never worse
def _row_median(x: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median along axis 1 of rows whose first ``counts[i]`` entries are values and the rest NaN
    padding (NaN sorts last): (m, k, ...) -> (m, ...), the same numbers as ``np.median``."""
    s = np.sort(x, axis=1)
    rows = np.arange(len(x))
    return 0.5 * (s[rows, (counts - 1) // 2] + s[rows, counts // 2])


def pair_steps(xa: np.ndarray, xb: np.ndarray, pair_index: np.ndarray, n_pairs: int,
               width: int | None = None) -> np.ndarray:
    """Inter-frame similarity steps (n_pairs, 3): (tx px, ty px, angle deg); NaN without points.

    Translation is the median displacement; the angle the least-squares rotation of the
    centred points that move within 3 MAD of the median (outliers, moving objects, left out).
    A pair needs 6 finite points, and 6 kept. Pairs in blocks: each pair's points are laid in
    one row of a NaN-padded (pairs, ``width``, 2) array; ``width`` (default: the most points
    of a pair here) at least that, the same numbers for any (a caller taking a clip's pairs in
    pieces passes the clip's widest, and gets the numbers of one call).
    """
    out = np.full((n_pairs, 3), np.nan)
    ok = np.all(np.isfinite(xa), axis=1) & np.all(np.isfinite(xb), axis=1)
    j = np.asarray(pair_index)[ok]
    if len(j) == 0:
        return out
    order = np.argsort(j, kind="stable")
    j = j[order]
    a_pts, b_pts = xa[ok][order], xb[ok][order]
    counts = np.bincount(j, minlength=n_pairs)
    col = np.arange(len(j)) - np.repeat(np.cumsum(counts) - counts, counts)[: len(j)]
    width = max(int(counts.max()), int(width or 0))
    starts = np.cumsum(counts) - counts
    # pairs in blocks: the padded work arrays stay a few MB on a long clip; every block is laid
    # at the clip's widest pair, so each pair's numbers are the same as in one block
    block = max(1, _STEP_BLOCK_VALUES // max(width, 1))
    for lo in range(0, n_pairs, block):
        hi = min(n_pairs, lo + block)
        a, b = starts[lo], starts[hi - 1] + counts[hi - 1]
        _pair_steps_block(out, lo, j[a:b] - lo, col[a:b], a_pts[a:b], b_pts[a:b], counts[lo:hi], width)
    return out


#: padded values per block of :func:`pair_steps` (pairs x the widest pair's points)
_STEP_BLOCK_VALUES = 65_536


def _pair_steps_block(out, lo, j, col, a_pts, b_pts, counts, width) -> None:
    """:func:`pair_steps` for pairs ``lo .. lo + len(counts)`` (``j`` relative to ``lo``)."""
    n = len(counts)
    A = np.full((n, width, 2), np.nan)
    B = np.full((n, width, 2), np.nan)
    A[j, col], B[j, col] = a_pts, b_pts
    D = B - A
    use = counts >= 6
    if not use.any():
        return
    A, B, D, c = A[use], B[use], D[use], counts[use]
    with np.errstate(invalid="ignore"):
        med = _row_median(D, c)  # (m, 2)
        r = np.linalg.norm(D - med[:, None, :], axis=2)  # NaN on the padding
        keep = r <= 3.0 * _row_median(r, c)[:, None] + 0.5
    n_keep = keep.sum(axis=1)
    w = keep[..., None]
    Az, Bz = np.where(w, A, 0.0), np.where(w, B, 0.0)
    nk = np.maximum(n_keep, 1)[:, None, None]
    ac = np.where(w, Az - Az.sum(axis=1, keepdims=True) / nk, 0.0)
    bc = np.where(w, Bz - Bz.sum(axis=1, keepdims=True) / nk, 0.0)
    cross = np.sum(ac[..., 0] * bc[..., 1] - ac[..., 1] * bc[..., 0], axis=1)
    dot = np.sum(ac * bc, axis=(1, 2))
    ang = np.degrees(np.arctan2(cross, dot))
    rows = lo + np.flatnonzero(use)
    good = n_keep >= 6
    if good.any():
        out[rows[good]] = np.stack([med[good, 0], med[good, 1], ang[good]], axis=-1)


#: tracked points mapped through the planned warp at once
_CHUNK_POINTS = 25_000


#: tracked points up to which the world directions of a clip's tracks are kept between
#: candidate plans (two (P, 3) float64 arrays: 48 MB at this bound); longer clips recompute them
_CACHE_POINTS = 1_000_000


def _world_directions(pairs: FramePairs, planner, frame_times_s: np.ndarray):
    """(da, db): the world directions of every track's two points under ``planner``'s real
    camera, kept on ``pairs`` while the real camera (track, camera, readout, lens motion) and
    the frame times stay the same: every candidate plan of a clip shares them, only the
    virtual camera differs. None above ``_CACHE_POINTS`` (computed per chunk instead)."""
    if len(pairs.pair_index) > _CACHE_POINTS:
        return None
    objects = (planner.track, planner.camera, planner.lens_motion)  # compared by identity
    readout_s = float(planner.readout_s)
    hit = getattr(pairs, "_world_dirs", None)
    if (hit is not None and all(a is b for a, b in zip(hit[0], objects)) and hit[1] == readout_s
            and np.array_equal(hit[2], frame_times_s)):
        return hit[3]
    fa = pairs.frame_a[pairs.pair_index]
    da, db = np.empty((len(fa), 3)), np.empty((len(fa), 3))
    for lo in range(0, len(fa), _CHUNK_POINTS):  # bounded work arrays while building
        sl = slice(lo, lo + _CHUNK_POINTS)
        da[sl] = planner.world_directions(pairs.xa[sl], frame_times_s[fa[sl]])
        db[sl] = planner.world_directions(pairs.xb[sl], frame_times_s[fa[sl] + 1])
    pairs._world_dirs = (objects, readout_s, np.array(frame_times_s, copy=True), (da, db))
    return da, db


def predicted_jitter(pairs: FramePairs, planner, R_world_virt: np.ndarray, zoom, frame_times_s: np.ndarray,
                     fps: float, *, sigma_s: float = 0.5) -> dict:
    """High-frequency jitter of the input and of the planned output, from the tracks.

    Every tracked point is mapped to the output frame by the planned warp
    (:meth:`~fusedstab.synthesis.plan.WarpPlanner.output_points`), so the output's image
    motion is known before rendering (``zoom``: scalar or per frame). Pairs are laid on the frame index (untracked pairs count
    as no motion, in both). Returns ``input_px``, ``output_px``, ``ratio`` (output / input)
    and the same in degrees of image rotation.
    """
    from ..measure.metrics import high_pass_jitter

    n_frames = len(frame_times_s)
    j = pairs.pair_index
    z = np.broadcast_to(np.asarray(zoom, dtype=np.float64), (n_frames,))  # scalar or per frame
    dirs = _world_directions(pairs, planner, frame_times_s)
    # pairs in pieces of about _CHUNK_POINTS points (a pair's points are consecutive): mapped
    # and reduced to steps piece by piece, so no array of the whole clip's points is made; the
    # steps are laid at the clip's widest pair, the numbers of one call
    counts = np.bincount(j, minlength=pairs.n_pairs)
    ends = np.cumsum(counts)
    width = int(counts.max()) if len(counts) else 0
    grouped = bool(np.all(np.diff(j) >= 0))
    out = np.full((pairs.n_pairs, 3), np.nan)
    cached = getattr(pairs, "_input_steps", None)  # the input's steps: the same for every candidate plan
    steps_input = np.full((pairs.n_pairs, 3), np.nan) if cached is None else None
    p0 = 0
    while p0 < pairs.n_pairs:
        start = int(ends[p0 - 1]) if p0 else 0
        p1 = int(np.searchsorted(ends, start + _CHUNK_POINTS, side="right")) if grouped else pairs.n_pairs
        p1 = max(p1, p0 + 1)
        sl = slice(start, int(ends[p1 - 1]))
        fa = pairs.frame_a[j[sl]]
        if dirs is None:
            da = planner.world_directions(pairs.xa[sl], frame_times_s[fa])
            db = planner.world_directions(pairs.xb[sl], frame_times_s[fa + 1])
        else:
            da, db = dirs[0][sl], dirs[1][sl]
        ua = planner.project_world(da, R_world_virt[fa], z[fa])
        ub = planner.project_world(db, R_world_virt[fa + 1], z[fa + 1])
        out[p0:p1] = pair_steps(ua, ub, j[sl] - p0, p1 - p0, width=width)
        if steps_input is not None:
            steps_input[p0:p1] = pair_steps(pairs.xa[sl], pairs.xb[sl], j[sl] - p0, p1 - p0, width=width)
        p0 = p1
    if cached is None:
        cached = pairs._input_steps = steps_input
    steps_in = np.full((n_frames - 1, 3), np.nan)
    steps_out = np.full((n_frames - 1, 3), np.nan)
    steps_in[pairs.frame_a] = cached
    steps_out[pairs.frame_a] = out
    ji = high_pass_jitter(steps_in, fps, sigma_s)
    jo = high_pass_jitter(steps_out, fps, sigma_s)
    return {
        "input_px": round(ji["jitter_px"], 4), "output_px": round(jo["jitter_px"], 4),
        "ratio": round(jo["jitter_px"] / max(ji["jitter_px"], 1e-9), 4),
        "input_deg": round(ji["jitter_deg"], 5), "output_deg": round(jo["jitter_deg"], 5),
        "pairs": int(pairs.n_pairs),
    }
