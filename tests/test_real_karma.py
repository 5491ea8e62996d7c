"""The GoPro HERO5 Karma clip end to end: one ``fusedstab stabilize --report`` run judged twice.

Needs ../shared (skips, saying why, without it).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil

import numpy as np
import pytest

from fusedstab.io.video import probe_video

from chromium_page import check_page, open_in_chromium


KARMA_LENS = "GoPro_HERO5 Black_Wide_NO-EIS_16by9.json"


@pytest.fixture(scope="module")
def karma_run(shared_data, lens_profiles, tmp_path_factory) -> dict:
    """The GoPro Karma clip stabilized once, for every test that judges it.

    the end-to-end check (frames, timestamps, audio, metrics) and the report page below both
    judge the same run (one module, so that a parallel test run, which hands out whole files, makes it once): ``fusedstab stabilize`` with the HERO5 lens profile,
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


def test_gopro_real_clip_end_to_end(karma_run):
    """The Karma run: frames, timestamps and audio kept, not shakier than the input, no undefined pixel."""
    assert karma_run["rc"] == 0
    src, out, rep, m = karma_run["src"], karma_run["out"], karma_run["run"], karma_run["metrics"]
    a, b = probe_video(src), probe_video(out)
    assert b.frame_count == a.frame_count == 362
    assert np.array_equal(b.pts, a.pts)
    assert b.has_audio and b.audio_codec == "aac"
    assert m["original"] == str(src) and m["stabilized"] == str(out)  # evaluate(src, out)
    assert m["undefined_share_max"] == 0.0
    # the gimbal clip moves little: the tool must not make it worse
    assert m["jitter_px"] <= m["original_jitter_px"] * 1.05
    assert rep["fov_kept"] > 0.8



@pytest.mark.slow
def test_report_gopro_in_chromium(karma_run, tmp_path):
    """The judged case: a GoPro clip's report in headless Chromium, both videos and >= 5 plots.

    The run (``stabilize --report``, ultrafast) is ``karma_run``, shared with the end-to-end check
    above. Slow: the first of the two stabilizes and evaluates the 362-frame clip (about a minute).
    """
    assert karma_run["rc"] == 0
    rep = karma_run["report_dir"]
    shot = tmp_path / "gopro_report.png"
    state = open_in_chromium(rep / "index.html", shot)
    check_page(state, shot)
    assert state["metrics"] >= 8
    if os.environ.get("FUSEDSTAB_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["FUSEDSTAB_KEEP_SCREENSHOT"])
