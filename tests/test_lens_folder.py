"""A folder of Gyroflow lens profiles (``--lens DIR``, or ``$FUSEDSTAB_LENS_DIR``): the camera's
profile is chosen by what the file says (camera, in-camera stabilization, size, frame rate), and
a run with the folder plans as a run with that profile; where the folder has none for the
camera, the run says so and goes on with the pinhole guess."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import small_sim

from fusedstab.camera import CameraModel
from fusedstab.errors import LensError
from fusedstab.io.lens import (
    LENS_DIR_ENV,
    camera_key,
    find_lens_profile,
    lens_profile_dict,
)
from fusedstab.pipeline import StabilizeOptions, plan_stabilization

HERO5_WIDE = "GoPro_HERO5 Black_Wide_NO-EIS_16by9.json"
HERO5_COMMUNITY = "GoPro_HERO5 Black__NO-EIS_1080p_16by9_1920x1080-29.97fps.json"
MAX_HS = "GoPro_Max_Wide_HS EIS_1080p_16by9_1920x1080-50.00fps.json"
MAX_NO_EIS = "GoPro_Max_Wide_NO-EIS_1080p_16by9_1920x1080-50.00fps.json"


def _profile(folder: Path, name: str, *, brand="Acme", model="Cam 1", size=(1920, 1080), fps=30.0, **fields) -> Path:
    """A profile of a pinhole-ish fisheye at ``size``; ``fields`` override the JSON's."""
    cam = CameraModel(size[0], size[1], 0.5 * size[0], 0.5 * size[0], size[0] / 2 - 0.5, size[1] / 2 - 0.5,
                      model="opencv_fisheye", coeffs=(0.01, 0.0, 0.0, 0.0), name=name)
    data = lens_profile_dict(cam)
    data.update({"camera_brand": brand, "camera_model": model, "fps": fps, "official": False, "note": "",
                 "identifier": "", **fields})
    path = folder / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_camera_key_matches_how_telemetry_and_profiles_name_a_camera():
    assert camera_key("GoPro", "GoPro Max") == camera_key("GoPro", "Max") == "gopromax"
    assert camera_key("GoPro", "HERO5 Black") == camera_key("gopro", "HERO5-Black") == "goprohero5black"
    assert camera_key("GoPro", "") == "" and camera_key("", None) == ""


def test_gyroflow_profiles_are_chosen_by_the_files_camera_and_stabilization(lens_profiles):
    # a HERO5 clip at 854x480 29.97 fps, EIS off, lens mode unknown: the official Wide profile over
    # the community 1080p one (both NO-EIS, 16:9, 29.97 fps), which differs (82 deg across against
    # 118) and is handed on for the plan to try against the picture
    c = find_lens_profile(lens_profiles, "GoPro", "HERO5 Black", 854, 480, 29.97, False)
    assert c.path.name == HERO5_WIDE and c.candidates == 2 and "official" in c.reason and not c.mismatch
    assert [p.name for p, _ in c.alternatives] == [HERO5_COMMUNITY]
    # the Karma clip's own mode (GPMF VFOV "M": Medium): the profile that names no mode ranks
    # before the Wide one, which comes with the warning that it is for another mode
    c = find_lens_profile(lens_profiles, "GoPro", "HERO5 Black", 854, 480, 29.97, False, "Medium")
    assert c.path.name == HERO5_COMMUNITY and not c.mismatch
    (alt, note), = c.alternatives
    assert alt.name == HERO5_WIDE and "Medium" in note and "--lens" in note
    # the MAX in HERO mode: HyperSmooth on picks the profile calibrated with it on, off the other
    assert find_lens_profile(lens_profiles, "GoPro", "GoPro Max", 848, 480, 29.97, True).path.name == MAX_HS
    assert find_lens_profile(lens_profiles, "GoPro", "GoPro Max", 848, 480, 29.97, False).path.name == MAX_NO_EIS
    # the MAX's diagonal field of view (GPMF ZFOV 137.4 deg) is what its HS EIS profile spans at
    # 848x480 (135.9; the NO-EIS one 130.0): it decides where the EIS state is not known, and
    # a field of view no profile spans comes with a warning
    c = find_lens_profile(lens_profiles, "GoPro", "GoPro Max", 848, 480, 29.97, None, "Wide", 137.39)
    assert c.path.name == MAX_HS and "135.9 deg across the diagonal" in c.reason and not c.mismatch
    assert find_lens_profile(lens_profiles, "GoPro", "GoPro Max", 848, 480, 29.97, None, "Wide", 130.5).path.name \
        == MAX_NO_EIS
    c = find_lens_profile(lens_profiles, "GoPro", "GoPro Max", 848, 480, 29.97, True, "Wide", 155.0)
    assert c.path.name == MAX_HS and "155.0 deg" in c.mismatch and "135.9 deg" in c.mismatch
    # a 4:3 clip: the camera's 16:9 profiles do not fit, and the reason says so
    c = find_lens_profile(lens_profiles, "GoPro", "HERO5 Black", 800, 600, 29.97, False)
    assert c.path is None and "800x600" in c.reason and "aspect" in c.reason and "--lens" in c.reason
    # a camera the folder has no profile for, and a file that names none
    assert find_lens_profile(lens_profiles, "Sony", "ILCE-7SM3", 1920, 1080, 25.0).path is None
    c = find_lens_profile(lens_profiles, "", "", 1920, 1080, 25.0)
    assert c.path is None and "does not name its camera" in c.reason


def test_preferences_after_the_camera_size_then_rate_then_official(tmp_path):
    d = tmp_path / "profiles"
    _profile(d / "Acme" / "Cam 1", "a_4k", size=(3840, 2160), fps=30.0, official=True)
    _profile(d / "Acme" / "Cam 1", "b_1080p_60", size=(1920, 1080), fps=60.0)
    _profile(d / "Acme" / "Cam 1", "c_4by3", size=(1440, 1080), fps=30.0)  # another aspect: never a candidate
    _profile(d / "Other", "d_other_camera", brand="Other", model="Cam 1", size=(1920, 1080), fps=30.0)
    (d / "notes.json").write_text("{not json")  # unreadable files are passed over
    (d / "list.json").write_text("[1, 2]")
    # the exact size wins over the official mark
    assert find_lens_profile(d, "Acme", "Cam 1", 1920, 1080, 30.0).path.name == "b_1080p_60.json"
    # a size neither was calibrated at: the frame rate, then the official mark
    assert find_lens_profile(d, "Acme", "Cam 1", 1280, 720, 60.0).path.name == "b_1080p_60.json"
    assert find_lens_profile(d, "Acme", "Cam 1", 1280, 720, 25.0).path.name == "a_4k.json"
    # a compatible setting names the size: it counts as calibrated there
    _profile(d / "Acme" / "Cam 1", "e_settings", size=(3840, 2160), fps=24.0,
             compatible_settings=[{"width": 1280, "height": 720, "fps": 25.0, "frame_readout_time": 10.0}])
    c = find_lens_profile(d, "Acme", "Cam 1", 1280, 720, 25.0)
    assert c.path.name == "e_settings.json" and c.candidates == 3 and "calibrated at 1280x720" in c.reason
    # a profile with a digital lens (SuperView) is not a candidate
    shutil.rmtree(d / "Acme")
    _profile(d / "Acme", "f_superview", digital_lens="gopro_superview")
    c = find_lens_profile(d, "Acme", "Cam 1", 1920, 1080, 30.0)
    assert c.path is None and "digital lens" in c.reason


def test_a_folder_that_is_not_one_is_refused(tmp_path, monkeypatch):
    with pytest.raises(LensError, match="folder not found"):
        find_lens_profile(tmp_path / "missing", "Acme", "Cam 1", 1920, 1080, 30.0)
    # a home folder or a disk given by mistake: refused after a bounded walk, with the fix
    from fusedstab.io import lens

    monkeypatch.setattr(lens, "_MAX_FOLDER_ENTRIES", 50)
    for k in range(60):
        (tmp_path / f"note{k}.txt").write_text("x")
    with pytest.raises(LensError, match="more than 50 files") as e:
        find_lens_profile(tmp_path, "Acme", "Cam 1", 1920, 1080, 30.0)
    assert "folder of lens profiles itself" in e.value.hint


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return small_sim(tmp_path_factory, "lensdir", scenario="walk", duration_s=2.0)


def _plan(sim, **kw):
    return plan_stabilization(f"{sim}.mp4", StabilizeOptions(gyro=f"{sim}.gcsv", gyro_offset_ms=0.0, **kw))


def test_a_run_with_the_folder_plans_as_with_its_profile(sim, tmp_path, monkeypatch):
    """The simulator's clip (its .gcsv names the camera) among a decoy for another camera and one
    for another aspect: the folder gives the plan the profile itself gives, and says which."""
    d = tmp_path / "lens_profiles"
    (d / "fusedstab").mkdir(parents=True)
    shutil.copy(f"{sim}.lens.json", d / "fusedstab" / "sim.json")
    _profile(d, "decoy_other_camera", size=(320, 180))
    _profile(d, "decoy_4by3", brand="fusedstab", model="simulator", size=(320, 240))
    given = _plan(sim, lens=f"{sim}.lens.json")
    found = _plan(sim, lens=str(d))
    assert found.lens_profile == str(d / "fusedstab" / "sim.json")
    assert found.camera.name == given.camera.name and found.readout_s == given.readout_s
    np.testing.assert_allclose(found.R_virt, given.R_virt, atol=1e-12)
    # the same folder from the environment, no --lens
    monkeypatch.setenv(LENS_DIR_ENV, str(d))
    env = _plan(sim)
    assert env.lens_profile == found.lens_profile and not any("lens profile" in w for w in env.warnings)
    # --fov names the lens: the environment's folder is not searched
    assert _plan(sim, fov_deg=70.0).lens_profile is None


def test_a_lens_the_metadata_ranks_first_gives_way_to_the_one_the_picture_follows(sim, tmp_path):
    """A profile for the same camera and size, marked official but for another lens (a fisheye of
    half the focal length): the metadata ranks it first, the plans are compared against the
    tracks, and the simulator's own lens is used, with a warning that says so."""
    d = tmp_path / "ranked"
    (d / "fusedstab").mkdir(parents=True)
    shutil.copy(f"{sim}.lens.json", d / "fusedstab" / "sim.json")
    _profile(d / "fusedstab", "official_other_lens", brand="fusedstab", model="simulator", size=(320, 180),
             official=True)
    given = _plan(sim, lens=f"{sim}.lens.json")
    found = _plan(sim, lens=str(d))
    assert Path(found.lens_profile).name == "sim.json"
    np.testing.assert_allclose(found.R_virt, given.R_virt, atol=1e-12)
    assert any("sim.json explains the picture better than official_other_lens.json" in w for w in found.warnings)


def test_a_folder_without_the_cameras_profile_says_so_and_goes_on(sim, tmp_path, monkeypatch):
    d = tmp_path / "other"
    _profile(d, "decoy_other_camera", size=(320, 180))
    plan = _plan(sim, lens=str(d))
    assert plan.lens_profile is None and plan.camera.model == "pinhole"
    assert any(f"no lens profile in {d}" in w and "fusedstab simulator" in w for w in plan.warnings), plan.warnings
    # from the environment: quietly
    monkeypatch.setenv(LENS_DIR_ENV, str(d))
    assert not any("lens profile in" in w for w in _plan(sim).warnings)


def test_the_karma_clip_with_the_folder_plans_as_with_the_wide_profile(shared_data, lens_profiles):
    """The HERO5 on the Karma says it recorded in the Medium lens mode, for which the folder has
    no profile: the metadata ranks the community profile that names no mode first, whose plan
    (82 deg across) cannot steady the clip; the Wide profile, tried against the picture, can,
    and is used, with a warning that names the mode and the fix."""
    from fusedstab.io.telemetry import read_imu

    src = shared_data / "gopro_hero5_karma.mp4"
    assert read_imu(src).meta["lens_mode"] == "Medium"
    given = plan_stabilization(src, StabilizeOptions(lens=lens_profiles / HERO5_WIDE))
    found = plan_stabilization(src, StabilizeOptions(lens=lens_profiles))
    assert Path(found.lens_profile).name == HERO5_WIDE
    np.testing.assert_allclose(found.R_virt, given.R_virt, atol=1e-9)
    assert found.predicted["output_px"] == pytest.approx(given.predicted["output_px"], abs=1e-9)
    assert any("Medium lens mode" in w for w in found.warnings), found.warnings
    assert any(f"{HERO5_WIDE} explains the picture better than {HERO5_COMMUNITY}" in w for w in found.warnings)


def test_info_names_the_profile_a_folder_ranks_first_and_what_stabilize_also_tries(shared_data, lens_profiles):
    import json

    from conftest import run_cli

    def info(*args):
        r = run_cli("info", *args, "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["lens"]

    lens = info(shared_data / "gopro_max_heromode.mp4", "--lens", lens_profiles)
    assert Path(lens["ranked_first"]).name == MAX_HS
    assert lens["stabilize_also_tries"][0].endswith(MAX_NO_EIS) and "own lens" in lens["stabilize_also_tries"][1]
    assert lens["model"] == "opencv_fisheye" and lens["focal_px"] > 0
    # a profile given as a file for a clip that states its lens: stabilize plans that lens against it
    lens = info(shared_data / "gopro_max_heromode.mp4", "--lens", lens_profiles / MAX_HS)
    assert lens["profile"].endswith(MAX_HS) and lens["stabilize_also_tries"] == ["the file's own lens (its field of view)"]
    # a profile that does not fit the clip is reported, not raised
    lens = info(shared_data / "phone_cc9pro_ois_off" / "frames_099-150.mp4", "--lens", lens_profiles / MAX_HS)
    assert "aspect" in lens["error"] and lens["profile"].endswith(MAX_HS)


def test_the_files_own_lens_from_its_field_of_view():
    """GoPro's ZFOV (diagonal field of view) and VFOV (lens mode) as a lens: Linear (dewarped in
    the camera) a pinhole spanning the diagonal, Wide an equidistant fisheye spanning it;
    SuperView (a non-linear stretch) and a file that states none: no lens."""
    from fusedstab.io.lens import diagonal_fov
    from fusedstab.pipeline import file_lens

    info = type("Info", (), {"width_px": 848, "height_px": 480, "sample_aspect": 1})()
    wide = file_lens(info, {"diagonal_fov_deg": 137.4, "lens_mode": "Wide"})
    linear = file_lens(info, {"diagonal_fov_deg": 100.0, "lens_mode": "Linear"})
    assert wide.model == "opencv_fisheye" and diagonal_fov(wide) == pytest.approx(137.4, abs=0.05)
    assert linear.model == "pinhole" and diagonal_fov(linear) == pytest.approx(100.0, abs=0.05)
    assert file_lens(info, {"diagonal_fov_deg": 137.4}).model == "opencv_fisheye"  # no mode stated
    assert file_lens(info, {"diagonal_fov_deg": 150.0, "lens_mode": "SuperView"}) is None
    assert file_lens(info, {"diagonal_fov_deg": 150.0, "lens_mode": "unknown (X)"}) is None  # a later camera's code
    assert file_lens(info, {"lens_mode": "Wide"}) is None and file_lens(info, None) is None


def test_a_folder_tries_the_files_own_lens_too(shared_data, lens_profiles):
    """The MAX with the folder: its HS EIS profile ranks first by the metadata, and the file's own
    lens (its stated field of view) is planned too; it explains the picture clearly better
    (7.1 against 9.5 mrad of predicted jitter, before the residual) and is used, with a warning
    that says so; the plan is the one without any profile."""
    src = shared_data / "gopro_max_heromode.mp4"
    found = plan_stabilization(src, StabilizeOptions(lens=lens_profiles))
    own = plan_stabilization(src, StabilizeOptions())
    assert found.lens_profile is None and found.camera.name == own.camera.name
    np.testing.assert_allclose(found.R_virt, own.R_virt, atol=1e-9)
    assert any("the file's own lens" in w and f"better than {MAX_HS}" in w for w in found.warnings), found.warnings


def test_a_profile_given_is_planned_against_the_lens_the_file_states(shared_data, lens_profiles, tmp_path):
    """The MAX given its community HS EIS profile as a file: the lens its file states (ZFOV 137.4
    deg, Wide) is planned on the same tracks and predicts clearly less jitter (7.1 against 9.5
    mrad before the residual), so it is used, with a warning naming the profile and
    ``--keep-lens``; the plan is the one without a profile. ``--keep-lens`` uses the profile as
    given, as is a folder's first choice; without a profile it has no effect, and a warning says
    so. A profile that is the file's own lens is kept, with no warning."""
    from fusedstab.cli import build_parser
    from fusedstab.cli.options import options_from_args
    from fusedstab.pipeline import _angular_jitter, file_lens

    src = shared_data / "gopro_max_heromode.mp4"
    given = plan_stabilization(src, StabilizeOptions(lens=lens_profiles / MAX_HS))
    own = plan_stabilization(src, StabilizeOptions())
    assert given.lens_profile is None and given.camera.name == own.camera.name
    np.testing.assert_allclose(given.R_virt, own.R_virt, atol=1e-9)
    own_kept = plan_stabilization(src, StabilizeOptions(keep_lens=True))
    np.testing.assert_allclose(own_kept.R_virt, own.R_virt, atol=1e-9)
    why = [w for w in given.warnings if "the lens profile given" in w]
    assert len(why) == 1 and MAX_HS in why[0] and "--keep-lens" in why[0], given.warnings

    args = build_parser().parse_args(["stabilize", str(src), "-o", str(tmp_path / "out.mp4"), "--lens", str(lens_profiles / MAX_HS), "--keep-lens"])
    kept = plan_stabilization(src, options_from_args(args))
    assert Path(kept.lens_profile).name == MAX_HS
    assert not [w for w in kept.warnings if "the lens profile given" in w]
    assert _angular_jitter(given) < 0.9 * _angular_jitter(kept)
    # a folder's first choice kept as it is: no other lens planned, whatever the folder holds
    first = plan_stabilization(src, StabilizeOptions(lens=lens_profiles, keep_lens=True))
    assert Path(first.lens_profile).name == MAX_HS
    np.testing.assert_allclose(first.R_virt, kept.R_virt, atol=1e-9)
    # nothing to keep: said, and no effect
    assert any("--keep-lens" in w and "no effect" in w for w in own_kept.warnings)

    # the file's own lens written as a profile: the two plans agree, and the profile stands
    info = own.info
    same = tmp_path / "max_own_lens.json"
    same.write_text(json.dumps(lens_profile_dict(file_lens(info, {"diagonal_fov_deg": 137.39, "lens_mode": "Wide"}))))
    plan = plan_stabilization(src, StabilizeOptions(lens=same))
    assert plan.lens_profile == str(same) and not [w for w in plan.warnings if "the lens profile given" in w]


def test_motion_video_reads_the_files_lens_beside_a_profile_given(shared_data, lens_profiles):
    """``--motion video`` reads no IMU, but the file's camera metadata is still read where a
    profile is given as a file: the MAX's own lens (ZFOV 137.4 deg, Wide) is planned beside its
    community HS EIS profile on the video's own motion, and used where it fits better, with
    the same warning as with the gyro (until 2026-12-07 the check ran only with a gyro)."""
    src = shared_data / "gopro_max_heromode.mp4"
    given = plan_stabilization(src, StabilizeOptions(lens=lens_profiles / MAX_HS, motion="video"))
    assert given.motion_source == "video"
    why = [w for w in given.warnings if "the lens profile given" in w]
    assert len(why) == 1 and MAX_HS in why[0] and "--keep-lens" in why[0], given.warnings
    assert given.lens_profile is None and "137.4 deg" in given.camera.name


def test_a_profile_given_that_does_not_span_the_files_field_of_view_is_named():
    """A profile given as a file is used as given; where the file states a diagonal field of
    view the profile does not span (beyond 8 %), a warning says it is probably for another mode."""
    from fusedstab.pipeline import _lens_fov_note, file_lens

    info = type("Info", (), {"width_px": 848, "height_px": 480, "sample_aspect": 1})()
    wide = file_lens(info, {"diagonal_fov_deg": 137.4, "lens_mode": "Wide"})
    assert _lens_fov_note(wide, {"diagonal_fov_deg": 140.0}) == ""  # within 8 %
    assert _lens_fov_note(wide, {}) == ""  # the file states none
    note = _lens_fov_note(wide, {"diagonal_fov_deg": 100.0, "lens_mode": "Linear"})
    assert "spans 137.4 deg" in note and "100.0 deg" in note and "Linear lens mode" in note and "omit --lens" in note
