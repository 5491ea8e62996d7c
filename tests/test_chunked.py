"""Long clips: per-point work done in bounded chunks (or only where it is needed) gives the same
numbers as all at once."""

from __future__ import annotations

import numpy as np
import pytest

from fusedstab.analysis import video_motion as vmod
from fusedstab.analysis.tracking import track_frame_pairs
from fusedstab.measure.simulate import SimConfig, load_truth, simulate


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("chunk") / "walk"
    simulate(prefix, SimConfig(width_px=320, height_px=180, duration_s=1.5, readout_s=0.01, scenario="walk", seed=2))
    return prefix, track_frame_pairs(f"{prefix}.mp4"), load_truth(f"{prefix}.truth.npz")


def test_slice_equals_subset(clip):
    _, pairs, _ = clip
    a, b = 5, 17
    m = np.zeros(pairs.n_pairs, bool)
    m[a:b] = True
    s1, s2 = pairs.slice(a, b), pairs.subset(m)
    for f in ("frame_a", "t_a", "t_b", "pair_index", "xa", "xb"):
        assert np.array_equal(getattr(s1, f), getattr(s2, f)), f


def test_video_motion_in_chunks_equals_whole(clip, monkeypatch):
    _, pairs, truth = clip
    whole = vmod.estimate_video_motion(pairs, truth.camera, readout_s=0.01)
    monkeypatch.setattr(vmod, "CHUNK_PAIRS", 7)
    chunked = vmod.estimate_video_motion(pairs, truth.camera, readout_s=0.01)
    assert pairs.n_pairs > 3 * 7
    for f in ("frame_a", "omega_rad_s", "confidence", "residual_px", "shift_px", "inliers", "points"):
        assert np.allclose(getattr(whole, f), getattr(chunked, f), equal_nan=True, atol=1e-12), f


def test_predicted_jitter_in_chunks_equals_whole(clip, monkeypatch):
    from fusedstab.analysis import verify
    from fusedstab.pipeline import StabilizeOptions, plan_stabilization

    prefix, pairs, _ = clip
    plan = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json",
                                                                smoothness_s=0.5, fov_keep=0.92))
    args = (plan.planner, plan.R_virt, plan.crop.zoom, plan.frame_times_s, plan.info.fps)
    whole = verify.predicted_jitter(pairs, *args)
    monkeypatch.setattr(verify, "_CHUNK_POINTS", 97)
    fresh = track_frame_pairs(f"{prefix}.mp4")  # no cached input steps
    assert verify.predicted_jitter(fresh, *args) == whole
    assert verify.predicted_jitter(fresh, *args) == whole  # cached input steps: the same
    monkeypatch.setattr(verify, "_CACHE_POINTS", 0)  # world directions per chunk, not kept
    assert verify.predicted_jitter(track_frame_pairs(f"{prefix}.mp4"), *args) == whole


def test_similarity_steps_in_blocks_equal_one_block(clip, monkeypatch):
    from fusedstab.analysis import verify

    _, pairs, _ = clip
    xa = pairs.xa.copy()
    xa[::5] = np.nan  # pairs with fewer points than the widest, and some below 6
    xa[pairs.pair_index == 3] = np.nan
    whole = verify.pair_steps(xa, pairs.xb, pairs.pair_index, pairs.n_pairs)
    width = np.bincount(pairs.pair_index).max()
    monkeypatch.setattr(verify, "_STEP_BLOCK_VALUES", 3 * width)  # three pairs per block
    blocks = verify.pair_steps(xa, pairs.xb, pairs.pair_index, pairs.n_pairs)
    assert np.isnan(whole[3]).all() and np.isfinite(whole).sum() > 30
    assert np.array_equal(whole, blocks, equal_nan=True)


def test_candidate_plans_share_one_planner_per_real_camera(clip, monkeypatch):
    """The budget scan's candidates (budgets, sigmas, the corridor) use one planner per real
    camera, so its row tables (2.4 KB per frame) are made once, not once per candidate kept."""
    from fusedstab import pipeline
    from fusedstab.synthesis.plan import WarpPlanner

    prefix, _, _ = clip
    made = []

    class Counting(WarpPlanner):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append((id(self.track), self.readout_s))

    monkeypatch.setattr(pipeline, "WarpPlanner", Counting)
    opts = pipeline.StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json", motion="gyro")
    plan = pipeline.plan_stabilization(f"{prefix}.mp4", opts)
    assert len(made) == len(set(made)) and len(made) <= 2, made  # the gyro's camera (and the check's)
    assert isinstance(plan.planner, Counting)


def test_candidate_plans_share_world_directions_only_for_the_same_real_camera(clip, monkeypatch):
    """The world directions kept on the tracks for the next candidate plan: the same numbers
    as computed afresh for another virtual camera, and recomputed for another real camera."""
    from fusedstab.analysis import verify
    from fusedstab.pipeline import StabilizeOptions, plan_stabilization
    from fusedstab.rotation import exp_so3, matrix_to_quat
    from fusedstab.synthesis.plan import WarpPlanner
    from fusedstab.types import OrientationTrack

    prefix, pairs, _ = clip
    plan = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json",
                                                                smoothness_s=0.5, fov_keep=0.92))
    p = plan.planner
    tilted = plan.R_virt @ exp_so3(np.array([0.0, 0.004, 0.0]))
    verify.predicted_jitter(pairs, p, plan.R_virt, plan.crop.zoom, plan.frame_times_s, plan.info.fps)
    kept = verify.predicted_jitter(pairs, p, tilted, plan.crop.zoom, plan.frame_times_s, plan.info.fps)
    monkeypatch.setattr(verify, "_CACHE_POINTS", 0)
    fresh = verify.predicted_jitter(pairs, p, tilted, plan.crop.zoom, plan.frame_times_s, plan.info.fps)
    assert kept == fresh
    monkeypatch.undo()
    # another real camera (a 5 Hz, 0.5 deg wobble about y added), the same virtual camera: not the kept directions
    tr = p.track
    wobble = np.zeros((len(tr.times_s), 3))
    wobble[:, 1] = 0.009 * np.sin(2 * np.pi * 5.0 * tr.times_s)
    turned = matrix_to_quat(tr.matrices_at(tr.times_s) @ exp_so3(wobble))
    other = WarpPlanner(p.camera, OrientationTrack(tr.times_s, turned),
                        readout_s=p.readout_s, lens_motion=p.lens_motion, projection=p.projection)
    via_cache = verify.predicted_jitter(pairs, other, plan.R_virt, plan.crop.zoom, plan.frame_times_s, plan.info.fps)
    assert via_cache["output_px"] > 1.5 * kept["output_px"]  # the wobble shows
    monkeypatch.setattr(verify, "_CACHE_POINTS", 0)
    assert via_cache == verify.predicted_jitter(pairs, other, plan.R_virt, plan.crop.zoom, plan.frame_times_s,
                                                plan.info.fps)


def test_a_plan_shakier_than_the_input_keeps_the_input(clip, monkeypatch):
    """``auto`` keeps the input when every path is predicted shakier (forced here by a ratio of
    0): the frames are described as the real camera, the warning says so."""
    import fusedstab.pipeline as P

    prefix, _, _ = clip
    monkeypatch.setattr(P, "SHAKIER_RATIO", 0.0)
    plan = P.plan_stabilization(f"{prefix}.mp4", P.StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json",
                                                                    smoothness_s=0.5, fov_keep=0.92))
    assert plan.passthrough and plan.motion_source.startswith("none (input kept;") and "rejected" in plan.motion_source
    assert plan.predicted["ratio"] == 1.0 and plan.fov_keep == 1.0 and plan.zoom == 1.0
    assert np.allclose(plan.R_virt, plan.R_real)
    assert any("written as they are" in w for w in plan.warnings)


def test_crop_fit_check_in_chunks_equals_whole(clip, monkeypatch):
    """``crop.fits`` checks frames in chunks (all 18,000 frames of a 10-minute clip at once took
    3.6 GB): the same answer, for a clip's frames of which some fit and some do not."""
    from fusedstab.filtering import crop
    from fusedstab.pipeline import StabilizeOptions, plan_stabilization

    prefix, _, _ = clip
    plan = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json",
                                                                smoothness_s=2.0, fov_keep=0.98, residual="off"))
    border, t = plan.planner.border_points(), plan.frame_times_s
    zoom = np.linspace(0.95, 1.1, len(t))  # per-frame zooms: some frames cannot fit
    whole = crop.fits(plan.planner, plan.R_real, zoom, t, border)
    monkeypatch.setattr(crop, "_CHUNK", 7)
    chunked = crop.fits(plan.planner, plan.R_real, zoom, t, border)
    assert len(t) > 3 * 7 and 0 < whole.sum() < len(t)
    assert np.array_equal(whole, chunked)
    assert np.array_equal(crop.fits(plan.planner, plan.R_real, 1.02, t, border),
                          crop.fits(plan.planner, plan.R_real, np.full(len(t), 1.02), t, border))


def test_pullback_bisects_only_frames_that_do_not_fit(clip, monkeypatch):
    """``min_pullback`` searches only the frames that do not fit at ``lo`` (most frames, on most
    clips), to the width bisecting every frame would leave: the same lambdas to that width,
    each fitting, in fewer evaluations; and the crop's ``required_zoom``, left out while
    candidates are compared, is the same measured afterwards."""
    from fusedstab.filtering import crop
    from fusedstab.pipeline import StabilizeOptions, plan_stabilization

    prefix, _, _ = clip
    plan = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json",
                                                                smoothness_s=2.0, fov_keep=0.98, residual="off"))
    p, border, t = plan.planner, plan.planner.border_points(), plan.frame_times_s
    R = plan.R_real
    V = crop.slerp_matrix(R, np.broadcast_to(R[len(R) // 2], R.shape), 0.6)  # far from the real camera
    lo = np.linspace(0.0, 0.5, len(t))
    calls = []
    slack = crop.slack_px
    monkeypatch.setattr(crop, "slack_px", lambda *a, **k: calls.append(len(a[1])) or slack(*a, **k))
    lam = crop.min_pullback(p, V, R, 1.03, t, border, lo=lo)
    monkeypatch.undo()
    a, b = lo.copy(), np.ones(len(t))  # the reference: every frame bisected
    for _ in range(12):
        mid = 0.5 * (a + b)
        ok = crop.fits(p, crop.slerp_matrix(V, R, mid), 1.03, t, border)
        a, b = np.where(ok, a, mid), np.where(ok, mid, b)
    ok_lo = crop.fits(p, crop.slerp_matrix(V, R, lo), 1.03, t, border)
    assert 0 < ok_lo.sum() < len(t)  # some frames fit at lo, some are searched
    assert np.array_equal(lam[ok_lo], lo[ok_lo])
    tol = (1.0 - lo) / 2.0 ** 12
    assert np.all(np.abs(lam - b)[~ok_lo] <= tol[~ok_lo] + 1e-12)
    assert crop.fits(p, crop.slerp_matrix(V, R, lam), 1.03, t, border).all()
    n_chunks = -(-int((~ok_lo).sum()) // 128)
    assert sum(calls) < 12 * int((~ok_lo).sum()) and len(calls) < 12 * n_chunks  # fewer frame evaluations
    fitted = crop.fit_crop(p, R, V, t, fov_keep=0.97)
    later = crop.with_required_zoom(crop.fit_crop(p, R, V, t, fov_keep=0.97, measure_need=False), p, t)
    assert np.array_equal(fitted.required_zoom, later.required_zoom)
    assert plan.crop.required_zoom is None  # the plan leaves it to the report's chart


@pytest.mark.parametrize("blind_beyond_rad", [None, 0.15])
def test_pullback_search_finds_a_known_root(monkeypatch, blind_beyond_rad):
    """The pull-back search on a slack with a known root, ``lambda* = 1 - limit / angle``
    (slack falls with the virtual camera's angle from the real one), per frame: within the
    bisection width of the root, fitting, in fewer evaluations than bisection; also where the
    slack is -inf far from the real camera (rays a fisheye cannot image), which the secant
    cannot use."""
    from fusedstab.filtering import crop
    from fusedstab.rotation import exp_so3, log_so3

    n = 40
    rng = np.random.default_rng(5)
    angle = rng.uniform(0.05, 0.3, n)
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    R = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    V = exp_so3(axes * angle[:, None])
    limit = 0.04

    def slack(planner, V_c, zoom, t, border):
        a = np.linalg.norm(log_so3(V_c), axis=-1)  # the real camera is the identity
        s = 100.0 * (limit - a) + 3.0 * (limit - a) ** 2 * 100  # smooth, decreasing in the angle
        return s if blind_beyond_rad is None else np.where(a > blind_beyond_rad, -np.inf, s)

    calls = []
    monkeypatch.setattr(crop, "slack_px", lambda *a: calls.append(1) or slack(*a))
    lo = np.zeros(n)
    lam = crop._root_in_bracket(None, V, R, np.ones(n), np.zeros(n), None, lo, 12)
    root = np.clip(1.0 - limit / angle, 0.0, 1.0)
    assert np.all(lam >= root - 1e-12) and np.all(lam - root <= 1.0 / 4096 + 1e-12)
    assert len(calls) < 2 + 12


def test_gyro_check_in_chunks_equals_whole(clip, monkeypatch):
    """The gyro's predicted track positions (the agreement check) in chunks of pairs: the same."""
    from fusedstab.analysis import verify
    from fusedstab.analysis.integrate import integrate_gyro
    from fusedstab.io.gyro_source import load_gyro

    prefix, pairs, truth = clip
    imu, _ = load_gyro(f"{prefix}.mp4", f"{prefix}.gcsv")
    track = integrate_gyro(imu)
    whole = verify._gyro_prediction(pairs, truth.camera, track, 0.01, None)
    monkeypatch.setattr(verify, "_CHUNK_PAIRS", 7)
    chunked = verify._gyro_prediction(pairs, truth.camera, track, 0.01, None)
    assert pairs.n_pairs > 3 * 7 and whole.shape == (len(pairs.xa), 2)
    assert np.array_equal(whole, chunked, equal_nan=True)


def test_path_smoothing_in_chunks_equals_whole(monkeypatch):
    """``metrics.gaussian_smooth`` (the jitter's reference path) in chunks of rows: the same,
    NaN gaps and the ends included."""
    from fusedstab.measure import metrics

    rng = np.random.default_rng(1)
    y = np.cumsum(rng.normal(size=(500, 3)), axis=0)
    y[100:110] = np.nan
    y[-3:, 1] = np.nan
    whole = metrics.gaussian_smooth(y, 15.0)
    monkeypatch.setattr(metrics, "_SMOOTH_CHUNK_ROWS", 37)
    assert np.array_equal(metrics.gaussian_smooth(y, 15.0), whole, equal_nan=True)
    assert np.allclose(metrics.gaussian_smooth(y[:, 0], 15.0), whole[:, 0], rtol=1e-12, atol=1e-12, equal_nan=True)


def test_orientation_smoothing_in_batches_equals_one_offset_at_a_time(monkeypatch):
    """``gaussian_smooth_orientations`` evaluates several window offsets per step: the same
    path as one offset per step, with and without a bounded look-ahead."""
    from fusedstab.filtering import gaussian
    from fusedstab.rotation import exp_so3

    rng = np.random.default_rng(3)
    t = np.arange(200) / 30.0
    R = exp_so3(np.cumsum(rng.normal(0, 0.03, (200, 3)), axis=0))
    for look in (None, 4):
        batched = gaussian.gaussian_smooth_orientations(R, t, 0.4, lookahead_frames=look)
        monkeypatch.setattr(gaussian, "_BATCH_ROTATIONS", 1)
        single = gaussian.gaussian_smooth_orientations(R, t, 0.4, lookahead_frames=look)
        monkeypatch.undo()
        assert np.allclose(batched, single, atol=1e-14, rtol=0)


def test_orientation_smoothing_from_a_frame_on_equals_the_slice_of_the_whole():
    """``first_out``: only the frames from one on are smoothed (the online filter needs the
    frame leaving and the queue), each from the same neighbours: the slice of the whole path, at
    the ends too, with and without a bounded look-ahead."""
    from fusedstab.filtering.gaussian import gaussian_smooth_orientations
    from fusedstab.rotation import exp_so3

    rng = np.random.default_rng(4)
    t = np.cumsum(rng.uniform(0.03, 0.036, 120))  # a variable frame rate
    R = exp_so3(np.cumsum(rng.normal(0, 0.03, (120, 3)), axis=0))
    for look in (None, 4):
        whole = gaussian_smooth_orientations(R, t, 0.4, lookahead_frames=look)
        for first in (0, 1, 13, 60, 119, 120):
            part = gaussian_smooth_orientations(R, t, 0.4, lookahead_frames=look, first_out=first)
            assert part.shape == (120 - first, 3, 3)
            assert np.allclose(part, whole[first:], atol=1e-14, rtol=0)
    with pytest.raises(ValueError, match="first_out"):
        gaussian_smooth_orientations(R, t, 0.4, first_out=121)


def test_long_gcsv_read_in_pieces_equals_whole(tmp_path, monkeypatch):
    """A long .gcsv is read by telemetry-parser in pieces (one Python dict per sample made a
    10-minute 200 Hz log peak at 577 MB): the same samples, times, accelerometer and metadata."""
    from fusedstab.io import telemetry

    prefix = tmp_path / "g"
    simulate(prefix, SimConfig(width_px=160, height_px=90, duration_s=1.0, scenario="walk", seed=3))
    whole = telemetry.read_imu(f"{prefix}.gcsv")
    monkeypatch.setattr(telemetry, "_GCSV_CHUNK_ROWS", 37)
    (tmp_path / "split").mkdir()
    assert len(telemetry._gcsv_pieces(prefix.with_suffix(".gcsv"), tmp_path / "split")) > 3
    seen = []
    split = telemetry._gcsv_pieces
    monkeypatch.setattr(telemetry, "_gcsv_pieces", lambda p, d: seen.append(d) or split(p, d))
    pieces = telemetry.read_imu(f"{prefix}.gcsv")
    assert len(whole.times_s) > 3 * 37
    assert np.array_equal(whole.times_s, pieces.times_s)
    assert np.array_equal(whole.gyro_rad_s, pieces.gyro_rad_s)
    assert np.array_equal(whole.accel_m_s2, pieces.accel_m_s2)
    assert whole.meta == pieces.meta and pieces.source == whole.source
    assert len(seen) == 1 and not seen[0].exists()  # the pieces' folder is removed


def test_remembered_frame_rows_equal_fresh_ones(clip):
    """The planner keeps the row table of every frame once the clip's frames are named
    (``remember_frames``): source points for any subset of the frames, one frame, and times
    that are no frame (these take the old path) are bit-identical to a planner without it."""
    from fusedstab.pipeline import StabilizeOptions, plan_stabilization
    from fusedstab.synthesis.plan import WarpPlanner

    prefix, _, _ = clip
    plan = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json",
                                                                fov_keep=0.95, residual="off"))
    p0 = plan.planner
    assert p0.readout_s > 0
    fresh = WarpPlanner(p0.camera, p0.track, readout_s=p0.readout_s)
    kept = WarpPlanner(p0.camera, p0.track, readout_s=p0.readout_s)
    t = plan.frame_times_s
    kept.remember_frames(t)
    border = p0.border_points()
    rng = np.random.default_rng(3)
    sub = np.sort(rng.choice(len(t), size=len(t) // 3, replace=False))
    for idx in (sub, np.arange(len(t))[::-1], np.array([4])):
        V, tt = plan.R_real[idx], t[idx]
        assert np.array_equal(kept.source_points(border, V, 1.03, tt), fresh.source_points(border, V, 1.03, tt))
    assert kept.__dict__["_frames_table"][1] is not None  # the table was used
    assert np.array_equal(kept.source_points(border, plan.R_real[2], 1.03, t[2]),
                          fresh.source_points(border, plan.R_real[2], 1.03, t[2]))  # one frame, scalar time
    off = t[:5] + 1e-4  # not frame times: the direct path
    assert np.array_equal(kept.source_points(border, plan.R_real[:5], 1.03, off),
                          fresh.source_points(border, plan.R_real[:5], 1.03, off))


def test_row_interpolation_equals_its_formula():
    """``_rotation_at_rows`` (one flat gather per end) is ``A + w (B - A)`` between the two row
    samples bracketing each point's source row, for a batch of frames and for one frame."""
    from fusedstab.camera import CameraModel
    from fusedstab.synthesis.plan import WarpPlanner

    cam = CameraModel.from_fov(320, 180, 70.0)
    planner = WarpPlanner.__new__(WarpPlanner)
    planner.camera = cam
    rng = np.random.default_rng(5)
    K = 33
    for shape in ((6,), ()):
        rows = rng.normal(size=shape + (K, 3, 3))
        y = rng.uniform(0, 179, shape + (40,))
        y[..., 0], y[..., 1] = 0.0, 179.0  # the first and last rows
        f = y * ((K - 1) / 179.0)
        i0 = np.clip(np.floor(f).astype(int), 0, K - 2)
        A = np.take_along_axis(rows, i0[..., None, None], axis=-3)
        B = np.take_along_axis(rows, (i0 + 1)[..., None, None], axis=-3)
        want = A + (f - i0)[..., None, None] * (B - A)
        assert np.array_equal(planner._rotation_at_rows(rows, y), want)


def test_kept_tracks_keep_a_share_of_whole_tracks():
    from fusedstab.analysis.tracking import kept_tracks

    ids = np.arange(100_000)
    for share in (0.25, 0.37, 0.8):
        keep = kept_tracks(ids, share)
        assert abs(keep.mean() - share) < 1e-3
        # any run of consecutive ids (the tracks of one pair) keeps about the share too
        runs = keep[: 150 * 600].reshape(600, 150).mean(axis=1)
        assert np.all(np.abs(runs - share) < 0.05), (share, np.abs(runs - share).max())
    # a track is kept or dropped whole: the same answer wherever its id is asked
    shuffled = np.random.default_rng(0).permutation(ids)
    assert np.array_equal(kept_tracks(shuffled, 0.3), kept_tracks(ids, 0.3)[shuffled])


def test_a_points_budget_keeps_whole_tracks_of_the_same_tracking(clip):
    """Under ``max_points`` every point is still tracked; a share of the tracks is kept, each
    whole and at exactly the places the full tracking found; pairs are the same."""
    from fusedstab.analysis.tracking import MIN_KEPT_POINTS, MIN_KEPT_SHARE

    prefix, full, _ = clip
    n_points = len(full.xa)
    budget = n_points // 3
    thin = track_frame_pairs(f"{prefix}.mp4", max_points=budget)
    assert np.array_equal(thin.frame_a, full.frame_a) and np.array_equal(thin.t_b, full.t_b)
    assert 0.2 * n_points < len(thin.xa) < 0.5 * n_points  # about the budget, not all
    for j in range(full.n_pairs):
        f, t = full.pair_index == j, thin.pair_index == j
        assert t.sum() >= min(MIN_KEPT_POINTS, f.sum())
        common, i_f, i_t = np.intersect1d(full.track_id[f], thin.track_id[t], return_indices=True)
        assert len(common) == t.sum()  # only tracks the full tracking has, at the same places
        assert np.array_equal(full.xa[f][i_f], thin.xa[t][i_t]) and np.array_equal(full.xb[f][i_f], thin.xb[t][i_t])
    # a track kept in one pair is kept in the next one it reaches (strided pairs still find it)
    assert thin.strided(3).n_pairs == full.strided(3).n_pairs
    assert MIN_KEPT_SHARE <= 0.5
    # no budget, or one the clip fits in: every point
    roomy = track_frame_pairs(f"{prefix}.mp4", max_points=10 * n_points)
    assert np.array_equal(roomy.xa, full.xa) and np.array_equal(roomy.track_id, full.track_id)


def test_a_plan_from_kept_tracks_predicts_about_the_same(clip, monkeypatch):
    """A long clip's plan reads a share of its tracks: the check's prediction and the chosen
    plan stay those of all the tracks (here a short clip with the budget forced down)."""
    from fusedstab import pipeline

    prefix, full, _ = clip
    opts = pipeline.StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json")
    whole = pipeline.plan_stabilization(f"{prefix}.mp4", opts)
    monkeypatch.setattr(pipeline, "TRACKED_POINTS_MAX", len(full.xa) // 4)
    kept = pipeline.plan_stabilization(f"{prefix}.mp4", opts)
    assert kept.motion_source == whole.motion_source and kept.fov_keep == whole.fov_keep
    assert kept.predicted["input_px"] == pytest.approx(whole.predicted["input_px"], rel=0.1)
    assert kept.predicted["output_px"] == pytest.approx(whole.predicted["output_px"], rel=0.15)
    assert kept.predicted["pairs"] == whole.predicted["pairs"]
    assert kept.predicted != whole.predicted  # the check did read fewer points


def test_kept_tracks_keep_at_least_the_least_number_nested():
    from fusedstab.analysis.tracking import kept_tracks

    ids = np.arange(500, 540)  # a pair with 40 tracks
    few = kept_tracks(ids, 0.1, at_least=24)
    assert few.sum() == 24 and np.all(kept_tracks(ids, 0.1) <= few)  # the share's tracks among them
    assert kept_tracks(ids[:10], 0.1, at_least=24).all()  # fewer than that: all
    assert kept_tracks(ids, 0.9, at_least=24).sum() > 24


def test_intent_probabilities_in_chunks_equal_whole(monkeypatch):
    from fusedstab.filtering import intent

    model = intent.load_model()
    F = np.random.default_rng(3).normal(size=(50, len(intent.feature_names(tuple(model["windows_s"])))))
    whole = intent.predict_proba(F, model)
    monkeypatch.setattr(intent, "_PROBA_CHUNK_ROWS", 7)
    np.testing.assert_allclose(intent.predict_proba(F, model), whole, rtol=0, atol=1e-15)
    assert intent.predict_proba(F[:0], model).shape == (0, whole.shape[1])
