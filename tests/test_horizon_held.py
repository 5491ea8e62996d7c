"""Horizon lock as the clip is held: a phone in portrait or a camera upside down stays as it is
shown (level means the horizon as the viewer sees it); a tilt the crop cannot level is named
with the zoom it needs, and the named fix levels it; a tilt that would make the output shakier
than the input is not applied; a camera looking straight down has no horizon to level. Every
bound is against the simulator's truth (its gravity turned by ``held_roll_deg``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_maps_inside, small_sim

from fusedstab.filtering.horizon import upright_quarter_deg
from fusedstab.io.video import probe_video
from fusedstab.measure.simulate import SimConfig, gravity_up_world, load_truth
from fusedstab.pipeline import StabilizeOptions, plan_stabilization
from fusedstab.types import OrientationTrack


def _opts(prefix, **kw):
    return StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json", gyro_offset_ms=0.0, **kw)


def _clip(tmp_path_factory, name, held_roll_deg):
    """A 4 s walk drifting 10 deg in roll (as the horizon test in test_virtual_camera), held turned."""
    return small_sim(tmp_path_factory, name, scenario="walk", duration_s=4.0, roll_drift_deg=10.0, seed=3,
                     held_roll_deg=held_roll_deg)


def _output_roll_deg(plan, prefix, held_roll_deg):
    """The output camera's roll against the truth's gravity, per frame [deg]: 0 = up along the
    frame's -y (the stored frame level)."""
    tr = load_truth(f"{prefix}.truth.npz")
    T = OrientationTrack(tr.times_s, tr.quat_wxyz)
    Tt = T.matrices_at(plan.planner.centre_time_s(plan.frame_times_s))
    O = Tt @ np.swapaxes(plan.R_real, 1, 2) @ plan.R_virt
    u = np.einsum("nji,j->ni", O, gravity_up_world(SimConfig(held_roll_deg=held_roll_deg)))
    return np.degrees(np.arctan2(u[:, 0], -u[:, 1]))


def _off(roll_deg, quarter_deg):
    return np.abs((np.asarray(roll_deg) - quarter_deg + 180.0) % 360.0 - 180.0)


def test_upright_quarter_is_the_nearest_quarter_turn_of_the_mean_roll():
    def up(phi_deg):  # up in the camera at roll phi: atan2(x, -y) = phi
        a = np.radians(np.asarray(phi_deg, dtype=float))
        return np.stack([np.sin(a), -np.cos(a), 0.1 * np.ones_like(a)], -1)

    assert upright_quarter_deg(up([3.0, -8.0, 12.0])) == 0.0
    assert upright_quarter_deg(up([-95.0, -100.0, -84.0])) == -90.0
    assert upright_quarter_deg(up([80.0, 99.0])) == 90.0
    assert upright_quarter_deg(up([175.0, -170.0, 179.0])) == 180.0  # across the +-180 seam
    assert upright_quarter_deg(up([30.0, 40.0])) == 0.0  # a tilt is levelled, not turned a quarter
    assert upright_quarter_deg(np.array([[0.01, 0.0, -1.0], [-0.01, 0.01, -1.0]])) == 0.0  # looking straight down


@pytest.mark.parametrize("held", [90.0, 180.0])
def test_portrait_and_upside_down_clips_stay_as_shown(tmp_path_factory, held):
    """Held a quarter or a half turn, the lock levels the horizon within 0.5 deg of that quarter
    (before: it levelled the stored frame, so a portrait clip could not fit at all and was left
    unsteadied, and an upside-down one came out turned against its display rotation)."""
    prefix = _clip(tmp_path_factory, f"held{int(held)}", held)
    assert probe_video(f"{prefix}.mp4").rotation_deg % 360 == held  # players show it upright
    free = plan_stabilization(f"{prefix}.mp4", _opts(prefix, max_zoom=1.5))
    quarter = -held  # the simulator's camera turned clockwise by `held` sees up at roll -held
    assert _off(_output_roll_deg(free, prefix, held), quarter).max() > 8.0  # the drift
    locked = plan_stabilization(f"{prefix}.mp4", _opts(prefix, horizon_lock=True, max_zoom=1.5))
    assert _off(_output_roll_deg(locked, prefix, held), quarter).max() < 0.5
    assert locked.predicted["ratio"] < 0.5  # steadied, not pulled back to the real camera
    assert_maps_inside(locked)
    assert np.abs(locked.horizon_roll_deg).max() < 0.5  # the plan reports the roll against that quarter
    if held == 90.0:  # online: the quarter from what a live pipeline has seen
        online = plan_stabilization(f"{prefix}.mp4", _opts(prefix, horizon_lock=True, lookahead_s=0.5, fov_keep=0.7,
                                                           max_zoom=1.5, intent=False))
        assert _off(_output_roll_deg(online, prefix, held), quarter).max() < 0.5


@pytest.fixture(scope="module")
def level_clip(tmp_path_factory):
    return _clip(tmp_path_factory, "held0", 0.0)


def test_lock_budget_covers_a_level_horizon_and_names_what_it_needs(level_clip):
    """Without a --fov-keep the crop budget is at least the zoom a level horizon needs, up to
    --max-zoom (1.25): the 10 deg drift is levelled to within 2 deg, where a budget given at
    0.98 holds it far less level. The warning names the zoom a level horizon needs, and that
    fix levels it within 0.5 deg."""
    given = plan_stabilization(f"{level_clip}.mp4", _opts(level_clip, horizon_lock=True, fov_keep=0.98))
    plan = plan_stabilization(f"{level_clip}.mp4", _opts(level_clip, horizon_lock=True))
    assert plan.zoom == pytest.approx(1.25, abs=1e-3)
    off_given = _off(_output_roll_deg(given, level_clip, 0.0), 0.0)
    off = _off(_output_roll_deg(plan, level_clip, 0.0), 0.0)
    assert off_given.max() > 6.0 and off.max() < 2.5
    assert plan.predicted["output_px"] < 0.7 * given.predicted["output_px"]  # and it shakes less
    assert any("--fov-keep" in w for w in given.warnings if w.startswith("--horizon-lock:"))
    msg = [w for w in plan.warnings if w.startswith("--horizon-lock:")]
    assert len(msg) == 1, plan.warnings
    need = float(re.search(r"needs a ([0-9.]+)x zoom", msg[0]).group(1))
    assert 1.25 < need < 1.45  # 10 deg of a 16:9 frame: cos 10 + 16/9 sin 10 = 1.29, plus the shake
    fix = float(re.search(r"--max-zoom ([0-9.]+)", msg[0]).group(1))
    assert fix == pytest.approx(need)
    followed = plan_stabilization(f"{level_clip}.mp4", _opts(level_clip, horizon_lock=True, max_zoom=fix))
    assert _off(_output_roll_deg(followed, level_clip, 0.0), 0.0).max() < 0.5
    assert not any(w.startswith("--horizon-lock") for w in followed.warnings)
    assert_maps_inside(followed)


def test_a_tilt_no_crop_levels_is_not_applied_and_the_clip_is_still_steadied(tmp_path_factory, level_clip):
    """Held 30 deg off level, a level horizon needs ~1.9x: with the lock the pulled-back camera
    would shake more than the input, so the clip is stabilized without it and the warning says so."""
    prefix = _clip(tmp_path_factory, "held30", 30.0)
    plan = plan_stabilization(f"{prefix}.mp4", _opts(prefix, horizon_lock=True))
    assert plan.motion_source == "gyro" and not plan.passthrough
    assert plan.predicted["ratio"] < 0.6
    msg = [w for w in plan.warnings if w.startswith("--horizon-lock is not applied")]
    assert len(msg) == 1, plan.warnings
    assert 1.7 < float(re.search(r"needs a ([0-9.]+)x zoom", msg[0]).group(1)) < 2.2
    free = plan_stabilization(f"{prefix}.mp4", _opts(prefix))
    np.testing.assert_allclose(plan.R_virt, free.R_virt, atol=1e-12)


def test_lock_is_not_applied_to_a_camera_looking_straight_down(tmp_path_factory):
    """A top-down shot (gravity along the optical axis) has no horizon: the lock would turn the
    picture with the heading. It is left off with a warning, and the plan is the lock-free one."""
    prefix = _clip(tmp_path_factory, "nadir", 0.0)
    gcsv = Path(f"{prefix}.gcsv")
    lines = gcsv.read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        p = line.split(",")
        if len(p) == 7 and p[0].isdigit():  # t, gx, gy, gz, ax, ay, az: up behind the camera (-z)
            p[4:7] = ["0.002", "-0.001", "-1.0"]
        out.append(",".join(p))
    gcsv.write_text("\n".join(out) + "\n", encoding="utf-8")
    plan = plan_stabilization(f"{prefix}.mp4", _opts(prefix, horizon_lock=True, zoom_mode="fixed"))
    assert any("looks within" in w and "straight down or up" in w for w in plan.warnings), plan.warnings
    free = plan_stabilization(f"{prefix}.mp4", _opts(prefix))
    np.testing.assert_allclose(plan.R_virt, free.R_virt, atol=1e-12)


def test_lock_with_the_video_s_motion_says_why_it_is_not_applied(level_clip):
    """--motion video does not read the log, so there is no gravity: the warning names that, not a
    missing accelerometer (the log has one)."""
    plan = plan_stabilization(f"{level_clip}.mp4", _opts(level_clip, horizon_lock=True, motion="video"))
    assert any("--motion video does not read the log" in w for w in plan.warnings), plan.warnings
    assert not any("this gyro source has none" in w for w in plan.warnings)
