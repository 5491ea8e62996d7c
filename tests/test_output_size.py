"""``--size``: the stabilized picture written at another resolution in the same remap (the same
field of view and aspect ratio), with no undefined pixel at the new size either."""

from __future__ import annotations

from dataclasses import replace

import av
import cv2
import numpy as np
import pytest
from conftest import assert_maps_inside, small_sim

from fusedstab.errors import InputError
from fusedstab.io.video import probe_video
from fusedstab.pipeline import StabilizeOptions, output_size, plan_stabilization, render


def test_output_size_keeps_the_aspect_ratio_and_names_the_fix():
    info = type("Info", (), {"width_px": 1920, "height_px": 1080})()
    assert output_size(info, None) == (1920, 1080)
    assert output_size(info, (1280, None)) == (1280, 720)
    assert output_size(info, (854, None)) == (854, 480)  # 480.4: the nearest even height
    assert output_size(info, (854, 480)) == (854, 480)
    assert output_size(info, (3840, 2160)) == (3840, 2160)  # up too
    with pytest.raises(InputError, match="another aspect ratio") as e:
        output_size(info, (1080, 1080))
    assert "--size 1080x608" in e.value.hint
    with pytest.raises(InputError, match="odd") as e:
        output_size(info, (1281, 720))
    assert "--size 1280x720" in e.value.hint
    with pytest.raises(InputError, match="out of range"):
        output_size(info, (8, None))
    with pytest.raises(InputError, match="whole pixels"):
        output_size(info, (1280.5, 720))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    prefix = small_sim(tmp_path_factory, "outsize", scenario="walk", duration_s=1.0)
    plan = plan_stabilization(f"{prefix}.mp4", StabilizeOptions(gyro=f"{prefix}.gcsv", lens=f"{prefix}.lens.json",
                                                                 gyro_offset_ms=0.0, fov_keep=0.9))
    return prefix, plan


def _frames(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


@pytest.mark.parametrize("size", [(160, 90), (480, 270)])
def test_the_same_picture_at_another_size_with_no_undefined_pixel(clip, tmp_path, size):
    plan = clip[1]
    opts = StabilizeOptions(preset="ultrafast", crf=10, out_size=size)
    full_out, out = tmp_path / "full.mp4", tmp_path / "sized.mp4"
    render(plan, full_out, replace(opts, out_size=None))
    render(plan, out, opts)
    info = probe_video(out)
    assert (info.width_px, info.height_px) == size and info.frame_count == plan.info.frame_count
    np.testing.assert_array_equal(info.pts, plan.info.pts)
    # every output pixel at the new size samples the source (the exact check of the maps)
    assert_maps_inside(plan, plan.planner.resized(*size))
    # the same picture: the full-size output resized to this size, compared in luma (4:2:0
    # chroma at 80x45 differs by its own subsampling), within resampling and x264
    full, sized = _frames(full_out), _frames(out)
    for a, b in zip(full[::7], sized[::7]):
        ref = cv2.resize(a, size, interpolation=cv2.INTER_AREA if size[0] < a.shape[1] else cv2.INTER_LINEAR)
        ref, b = (cv2.cvtColor(x, cv2.COLOR_BGR2GRAY).astype(np.int16) for x in (ref, b))
        diff = np.abs(ref - b).mean()
        shifted = np.abs(np.roll(ref, 1, axis=1) - b).mean()
        # aligned, not just alike: 1 px off is clearly worse. Down: the warp at twice the size,
        # area-averaged, reads 0.8 levels here; every other source pixel sampled (aliased), 3.3
        assert diff < (1.5 if size[0] < 320 else 4.0) and diff < 0.5 * shifted, (diff, shifted)


def test_the_input_kept_is_written_at_the_size_asked(clip, tmp_path):
    """A plan that keeps the input (no path steadier than it) cannot be copied at another size:
    its frames are scaled as they are."""
    prefix, plan = clip
    kept = replace(plan, passthrough=True, R_virt=plan.R_real.copy())
    out = tmp_path / "kept.mp4"
    render(kept, out, StabilizeOptions(preset="ultrafast", crf=10, out_size=(160, None)))
    info = probe_video(out)
    assert (info.width_px, info.height_px) == (160, 90) and info.frame_count == plan.info.frame_count
    src, got = _frames(f"{prefix}.mp4"), _frames(out)
    for a, b in zip(src[::7], got[::7]):  # luma, as above
        ref, b = (cv2.cvtColor(x, cv2.COLOR_BGR2GRAY).astype(np.int16)
                  for x in (cv2.resize(a, (160, 90), interpolation=cv2.INTER_AREA), b))
        assert np.abs(ref - b).mean() < 2.0


def test_the_command_line_takes_a_width_or_a_size_and_names_a_wrong_one(clip, tmp_path):
    import json

    from conftest import run_cli

    prefix, _ = clip

    def run(*args):
        return run_cli("stabilize", f"{prefix}.mp4", "-o", tmp_path / "o.mp4", "--gyro", f"{prefix}.gcsv", "--lens",
                       f"{prefix}.lens.json", "--preset", "ultrafast", *args)

    r = run("--size", "160", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert (rep["width_px"], rep["height_px"]) == (160, 90)
    for bad, words in (("160x160", "another aspect ratio"), ("big", "WIDTHxHEIGHT")):
        r = run("--size", bad)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]  # the failed runs left nothing
