"""Shared fixtures: the real-clip folder (../shared), results shared between test modules, and
small helpers."""

from __future__ import annotations

import importlib.util
import io
import json
import os
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


KARMA_LENS = "GoPro_HERO5 Black_Wide_NO-EIS_16by9.json"


@pytest.fixture(scope="session")
def karma_run(shared_data, lens_profiles, tmp_path_factory) -> dict:
    """The GoPro Karma clip stabilized once, for every test that judges it.

    test_pipeline's end-to-end check (frames, timestamps, audio, metrics) and test_report_batch's
    report page both judge the same run: ``fusedstab stabilize`` with the HERO5 lens profile,
    ``--report`` (when matplotlib is installed), ``--json`` for the run's report. x264 preset
    ultrafast: neither test judges encoding quality. The report's metrics are exactly
    ``evaluate(src, out)`` (``measure.report.evaluate_for_report``); without matplotlib there is
    no page and ``evaluate`` is called here.

    Returns ``{"src", "out", "report_dir" (None without matplotlib), "run" (the
    StabilizeReport as a dict), "metrics" (evaluate's dict)}``.
    """
    from rich.console import Console

    from fusedstab.cli import main

    src = shared_data / "gopro_hero5_karma.mp4"
    d = tmp_path_factory.mktemp("karma")
    out = d / "karma.stab.mp4"
    report_dir = d / "rep" if importlib.util.find_spec("matplotlib") is not None else None
    args = ["stabilize", str(src), "-o", str(out), "--lens", str(lens_profiles / KARMA_LENS), "--preset", "ultrafast",
            "--json"]
    if report_dir is not None:
        args += ["--report", str(report_dir)]
    buf = io.StringIO()
    rc = main(args, console=Console(file=buf, width=200))
    res = {"src": src, "out": out, "report_dir": report_dir, "rc": rc}
    if rc != 0:
        return res  # each test asserts the exit code
    res["run"] = json.loads(buf.getvalue())
    if report_dir is not None:
        res["metrics"] = json.loads((report_dir / "report.json").read_text())["metrics"]
    else:
        from fusedstab.measure.metrics import evaluate

        res["metrics"] = evaluate(src, out)
    return res


def assert_maps_inside(plan) -> None:
    """Exact check of "no undefined pixels": every output pixel of every frame samples the source.

    Uses the same full-resolution map the OpenCV backend remaps with (bilinear samples need
    the position within [0, W-1] x [0, H-1]).
    """
    from fusedstab.synthesis.backends import OpenCVBackend

    backend = OpenCVBackend()
    W, H = plan.camera.width_px - 1.0, plan.camera.height_px - 1.0
    for i, t in enumerate(plan.frame_times_s):
        full = backend.full_map(plan.planner.frame_warp(plan.R_virt[i], plan.zoom_at(i) if hasattr(plan, "zoom_at") else plan.zoom, t))
        x, y = full[..., 0], full[..., 1]
        outside = ~((x >= 0) & (x <= W) & (y >= 0) & (y <= H))
        assert not outside.any(), f"frame {i}: {int(outside.sum())} output pixels map outside the source"
