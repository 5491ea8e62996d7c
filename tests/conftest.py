"""Shared fixtures: the real-clip folder (../shared), results shared between test modules, and
small helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FUSEDSTAB_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
LENSES = SHARED / "lens_profiles"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real clips not available: {DATA} is absent (set FUSEDSTAB_SHARED to the shared folder)")
    return DATA


@pytest.fixture(scope="session")
def lens_profiles() -> Path:
    if not LENSES.is_dir():
        pytest.skip(f"lens profiles not available: {LENSES} is absent")
    return LENSES


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    """``python -m fusedstab ARGS`` in a fresh process: its exit code, stdout and stderr (text)."""
    return subprocess.run([sys.executable, "-m", "fusedstab", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          check=False)


def assert_maps_inside(plan, planner=None) -> None:
    """Exact check of "no undefined pixels": every output pixel of every frame samples the source.

    Uses the same full-resolution map the OpenCV backend remaps with (bilinear samples need
    the position within [0, W-1] x [0, H-1]). ``planner``: the plan's drawn by another one
    (its output at another size, ``WarpPlanner.resized``); default the plan's own.
    """
    from fusedstab.synthesis.backends import OpenCVBackend

    backend = OpenCVBackend()
    W, H = plan.camera.width_px - 1.0, plan.camera.height_px - 1.0
    for i, t in enumerate(plan.frame_times_s):
        full = backend.full_map((planner or plan.planner).frame_warp(plan.R_virt[i], plan.zoom_at(i) if hasattr(plan, "zoom_at") else plan.zoom, t))
        x, y = full[..., 0], full[..., 1]
        outside = ~((x >= 0) & (x <= W) & (y >= 0) & (y <= H))
        assert not outside.any(), f"frame {i}: {int(outside.sum())} output pixels map outside the source"


def truth_output_jitter_deg(plan, truth_npz) -> float:
    """High-frequency jitter [deg] of a plan's output camera against the simulator's truth: the
    true camera turned by the plan's real-to-virtual rotation (whatever track the plan used),
    :func:`~fusedstab.filtering.blur_mask.hf_jitter_deg` at the frames' centre-row times."""
    import numpy as np

    from fusedstab.filtering.blur_mask import hf_jitter_deg
    from fusedstab.measure.simulate import load_truth
    from fusedstab.types import OrientationTrack

    truth = load_truth(truth_npz)
    tc = plan.planner.centre_time_s(plan.frame_times_s)
    Tt = OrientationTrack(truth.times_s, truth.quat_wxyz).matrices_at(tc)
    return hf_jitter_deg(Tt @ np.swapaxes(plan.R_real, 1, 2) @ plan.R_virt, tc)


def adaptive_corridor_against_plain(on, plain, truth_npz, base_zoom, max_zoom, what) -> list[float]:
    """The adaptive zoom of ``on`` (a plan with the crop corridor) within ``[base_zoom, max_zoom]``
    and changing at most the default rate per second; returns the truth jitter [deg] of ``on``
    and ``plain`` (the same options without the corridor), printed with their pull-backs and
    picture kept under the label ``what``."""
    import numpy as np

    from fusedstab.filtering.crop import DEFAULT_ZOOM_RATE_PER_S

    assert on.corridor and not plain.corridor
    z, t = on.crop.zoom_per_frame, on.frame_times_s
    assert z.min() >= base_zoom - 1e-12 and z.max() <= max_zoom + 1e-12
    assert np.max(np.abs(np.diff(z)) / np.diff(t)) <= DEFAULT_ZOOM_RATE_PER_S * (1 + 1e-9)
    jit = [truth_output_jitter_deg(p, truth_npz) for p in (on, plain)]
    print(f"{what} truth jitter, corridor / pull-back: {jit[0]:.4f} / {jit[1]:.4f} deg; pull-back mean "
          f"{on.crop.pullback.mean():.4f} / {plain.crop.pullback.mean():.4f}; fov kept {on.crop.fov_kept:.3f} / "
          f"{plain.crop.fov_kept:.3f}")
    return jit


def small_sim(tmp_path_factory, name, **kw):
    """A simulated clip for the virtual-camera tests: 320x180, 3 s, 10 ms readout, seed 0
    unless ``kw`` says otherwise. Returns the prefix (``PREFIX.mp4``, ``.gcsv``, ...)."""
    from fusedstab.measure.simulate import SimConfig, simulate

    prefix = tmp_path_factory.mktemp(name) / name
    cfg = dict(width_px=320, height_px=180, duration_s=3.0, readout_s=0.01, seed=0)
    cfg.update(kw)
    simulate(prefix, SimConfig(**cfg))
    return prefix
