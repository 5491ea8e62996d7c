"""The crop corridor (filtering/corridor.py): the steadiest path inside the crop's room.

The solver against a dense bounded least-squares solution, the local-linear smoother and its
transpose against dense matrices, the room against the exact fit test, and the pipeline's plan against the
simulator's truth (steadier than the Gaussian path with its pull-back, never undefined)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_maps_inside, small_sim
from scipy.optimize import lsq_linear

from fusedstab.filtering.blur_mask import hf_jitter_deg
from fusedstab.filtering.corridor import (
    _LocalLinear,
    axis_room,
    smoothest_in_corridor,
    unwrap_path,
)
from fusedstab.filtering.crop import fits
from fusedstab.measure.simulate import load_truth
from fusedstab.pipeline import StabilizeOptions, plan_stabilization
from fusedstab.rotation import exp_so3
from fusedstab.types import OrientationTrack


@pytest.mark.parametrize("n, sigma", [(50, 3.0), (12, 7.0), (200, 0.7), (300, 25.0), (2000, 60.0), (40, 30.0)])
def test_local_linear_smoother_and_its_transpose_are_exact(n, sigma):
    """G is the Gaussian local-linear smoother (by FFT on long paths with wide kernels, directly
    otherwise): each row the intercept of a Gaussian-weighted line fit over the samples within
    4 sigma (checked against a dense least-squares fit per row); the Gaussian filter in the
    interior; a line is kept exactly, ends included; GT its exact transpose."""
    from scipy.ndimage import gaussian_filter1d

    op = _LocalLinear(sigma)
    E = np.eye(n)
    Gd = op.G(E)
    r = int(4.0 * sigma + 0.5)
    ref = np.zeros((n, n))
    for i in range(n):
        j = np.arange(max(0, i - r), min(n, i + r + 1))
        sw = np.sqrt(np.exp(-0.5 * ((j - i) / sigma) ** 2))
        X = np.stack([np.ones(len(j)), j - i], 1) * sw[:, None]
        ref[i, j] = (np.linalg.pinv(X) * sw[None, :])[0] if len(j) > 1 else 1.0
    np.testing.assert_allclose(Gd, ref, atol=1e-9)
    if n > 2 * r + 1:  # the interior: the Gaussian filter
        inner = slice(r, n - r)
        np.testing.assert_allclose(Gd[inner], gaussian_filter1d(E, sigma, axis=0, mode="constant", truncate=4.0)[inner],
                                   atol=1e-12)
    line = 0.3 + 0.01 * np.arange(n, dtype=np.float64)
    np.testing.assert_allclose(op.G(line), line, atol=1e-9)
    np.testing.assert_allclose(op.GT(E), Gd.T, atol=1e-12)


def _objective(v, g, sigma, mu):
    op = _LocalLinear(sigma)
    r = v - op.G(v)
    return float(np.sum(r * r) + mu * np.sum((v - g) ** 2))


@pytest.mark.parametrize("mu", [0.03, 0.3])
def test_smoothest_in_corridor_reaches_the_bounded_least_squares_optimum(mu):
    """A shaky path with a step (a turn) inside a narrow corridor: FISTA's answer stays in the
    corridor and matches the exact bounded least-squares optimum (dense BVLS)."""
    rng = np.random.default_rng(1)
    n, sigma = 90, 6.0
    phi = np.cumsum(rng.normal(0, 0.01, (n, 1)), axis=0) + np.where(np.arange(n)[:, None] > 45, 0.3, 0.0)
    room = 0.02 + 0.01 * rng.random((n, 1))
    g = phi.copy()
    lo, hi = phi - room, phi + room
    v = smoothest_in_corridor(g, lo, hi, sigma, mu=mu, iters=2000)
    assert np.all(v >= lo - 1e-12) and np.all(v <= hi + 1e-12)
    op = _LocalLinear(sigma)
    I = np.eye(n)
    A = np.vstack([np.sqrt(mu) * I, I - op.G(I)])
    b = np.concatenate([np.sqrt(mu) * g[:, 0], np.zeros(n)])
    exact = lsq_linear(A, b, bounds=(lo[:, 0], hi[:, 0]), method="bvls").x
    f_v, f_x = _objective(v, g, sigma, mu), _objective(exact[:, None], g, sigma, mu)
    assert f_v <= f_x * (1 + 1e-4) + 1e-12
    np.testing.assert_allclose(v[:, 0], exact, atol=2e-4)  # 0.01 deg
    # the default iterations get there too, to the precision that matters for a path
    v200 = smoothest_in_corridor(g, lo, hi, sigma, mu=mu)
    assert _objective(v200, g, sigma, mu) <= f_x * 1.01
    # and steadier than the shaky input, which lies inside the corridor too (the step's own
    # high frequencies cannot leave a corridor this narrow)
    assert _objective(v200, g, sigma, 0.0) < 0.7 * _objective(phi, g, sigma, 0.0)


_sim = small_sim


@pytest.fixture(scope="module")
def run_clip(tmp_path_factory):
    return _sim(tmp_path_factory, "corridor_run", scenario="run")


def _plan(prefix, **kw):
    return plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json",
                                                                gyro_offset_ms=0.0, **kw))


def test_axis_room_is_the_largest_single_axis_turn_that_fits(run_clip):
    """Turning the real camera by 97 % of a frame's room about one axis fits; by the room plus
    2 mrad it does not (checked on all border nodes, where the room itself was searched on
    every other node and the corners)."""
    plan = _plan(run_clip, fov_keep=0.95, corridor=False)
    planner, R, t = plan.planner, plan.R_real, plan.frame_times_s
    sel = np.arange(0, len(R), 7)
    room = axis_room(planner, R[sel], plan.zoom, t[sel])
    assert room.shape == (len(sel), 3, 2) and np.all(room > 0.005) and np.all(room < 0.3)
    border = planner.border_points()
    for k in range(3):
        for side, sign in ((0, 1.0), (1, -1.0)):
            e = np.zeros((len(sel), 3))
            e[:, k] = sign * room[:, k, side]
            assert np.all(fits(planner, R[sel] @ exp_so3(0.97 * e), plan.zoom, t[sel], border))
            e[:, k] += sign * 0.002
            assert not np.any(fits(planner, R[sel] @ exp_so3(e), plan.zoom, t[sel], border))


def test_unwrap_path_round_trips(run_clip):
    plan = _plan(run_clip, fov_keep=0.95, corridor=False)
    R, V = plan.R_real, plan.R_virt
    phi, v = unwrap_path(R), unwrap_path(V, R)
    np.testing.assert_allclose(R @ exp_so3(v - phi), V, atol=1e-12)
    np.testing.assert_allclose(phi[0], 0.0)


def test_corridor_plan_is_steadier_in_truth_and_never_undefined(run_clip):
    """At a tight budget the run needs the pull-back; the corridor's plan leaves the output
    camera (in the simulator's true world) with less high-frequency jitter than the Gaussian
    path pulled back, and every output pixel of every frame is defined."""
    off = _plan(run_clip, fov_keep=0.95, corridor=False)
    on = _plan(run_clip, fov_keep=0.95)
    assert off.crop.pullback.max() > 0 and on.zoom == pytest.approx(off.zoom)
    assert on.predicted["output_px"] < 0.97 * off.predicted["output_px"]  # adopted: the tracks agree
    assert on.corridor and not off.corridor  # and the plan says so (--json "corridor")
    tr = load_truth(f"{run_clip}.truth.npz")
    T = OrientationTrack(tr.times_s, tr.quat_wxyz)
    tc = on.planner.centre_time_s(on.frame_times_s)
    Tt = T.matrices_at(tc)

    def out_jitter(plan):
        return hf_jitter_deg(Tt @ np.swapaxes(plan.R_real, 1, 2) @ plan.R_virt, tc)

    print(f"truth jitter: input {hf_jitter_deg(Tt, tc):.4f} deg, gaussian {out_jitter(off):.4f}, "
          f"corridor {out_jitter(on):.4f}; predicted {off.predicted['output_px']:.3f} -> "
          f"{on.predicted['output_px']:.3f} px")
    assert out_jitter(on) < 0.9 * out_jitter(off)
    assert_maps_inside(on)
    # with room to spare nothing is pulled back, and the plan is the Gaussian one
    loose = _plan(run_clip, fov_keep=0.8, max_zoom=1.3)
    assert not np.any(loose.crop.pullback > 0) and not loose.corridor
    np.testing.assert_allclose(loose.R_virt, _plan(run_clip, fov_keep=0.8, max_zoom=1.3, corridor=False).R_virt)


def test_the_budget_scan_asks_the_corridor_where_the_plain_path_leaves_too_much(shared_data):
    """The phone clip without its gyro (the video's own motion): the Gaussian path pulled back
    halves the predicted jitter only at a 0.92 budget, the corridor's path at 0.945 (rendered:
    0.951 of the picture at 3.02 px, against 0.929 at 1.99 px; the rule keeps the most picture
    that halves the shake, docs/BENCHMARKS.md). The plan says the corridor is used, its ratio is
    within the rule while its plain path's is not, no pixel is undefined; with --no-corridor the
    scan keeps the plain path's budget."""
    from fusedstab.pipeline import SHAKE_LEFT_MAX

    src = shared_data / "phone_cc9pro_ois_off" / "frames_099-150.mp4"
    on = plan_stabilization(src, StabilizeOptions())
    off = plan_stabilization(src, StabilizeOptions(corridor=False))
    assert off.fov_keep <= 0.93 and on.fov_keep >= off.fov_keep + 0.01, (off.fov_keep, on.fov_keep)
    assert on.corridor and on.predicted["ratio"] <= SHAKE_LEFT_MAX
    assert on.predicted_plain["output_px"] > SHAKE_LEFT_MAX * on.predicted["input_px"]
    assert_maps_inside(on)
