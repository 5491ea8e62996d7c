"""Issue 11: the concurrent render, the batched planner, codecs and colour tags."""

import json
import subprocess

import numpy as np
import pytest

from fusedstab.io.video import VideoWriter, check_codec, chroma_layout, encoder_options, iter_frames, probe_video
from fusedstab.errors import OutputError
from fusedstab.pipeline import StabilizeOptions, plan_stabilization, render
from fusedstab.measure.simulate import SimConfig, simulate


@pytest.fixture(scope="module")
def small_plan(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("render") / "walk"
    simulate(prefix, SimConfig(scenario="walk", duration_s=1.0, width_px=320, height_px=180, seed=2))
    opts = StabilizeOptions(gyro_offset_ms=0.0, auto_sync=False, motion="gyro", force=True, preset="ultrafast")
    return plan_stabilization(prefix.with_suffix(".mp4"), opts), opts


def test_batched_planner_matches_frame_by_frame(small_plan):
    plan, _ = small_plan
    n = min(plan.info.frame_count, 12)
    zooms = [plan.zoom_at(i) for i in range(n)]
    batch = plan.planner.frame_warps(plan.R_virt[:n], zooms, plan.frame_times_s[:n])
    for i in range(n):
        one = plan.planner.frame_warp(plan.R_virt[i], zooms[i], plan.frame_times_s[i])
        np.testing.assert_allclose(batch[i].coarse_map_px, one.coarse_map_px, rtol=0, atol=1e-3)


def test_concurrent_render_equals_sequential(small_plan, tmp_path):
    plan, opts = small_plan
    seq, con = tmp_path / "seq.mkv", tmp_path / "con.mkv"
    opts = StabilizeOptions(**{**opts.__dict__, "codec": "ffv1"})  # lossless: the frames themselves
    t_seq, t_con = {}, {}
    render(plan, seq, opts, concurrent=False, timings=t_seq)
    render(plan, con, opts, concurrent=True, timings=t_con)
    a = list(iter_frames(seq))
    b = list(iter_frames(con))
    assert len(a) == len(b) == plan.info.frame_count
    for (pa, fa), (pb, fb) in zip(a, b):
        assert pa == pb
        assert np.array_equal(fa, fb)
    for t in (t_seq, t_con):
        assert {"decode_s", "plan_s", "warp_s", "encode_s", "render_s"} <= set(t)


def test_concurrent_x264_equals_sequential(small_plan, tmp_path):
    """x264 with frame threads is deterministic: the same bytes either way."""
    plan, opts = small_plan
    seq, con = tmp_path / "seq.mp4", tmp_path / "con.mp4"
    render(plan, seq, opts, concurrent=False)
    render(plan, con, opts, concurrent=True)
    fa = [f for _, f in iter_frames(seq)]
    fb = [f for _, f in iter_frames(con)]
    assert len(fa) == len(fb)
    assert max(np.abs(x.astype(int) - y.astype(int)).max() for x, y in zip(fa, fb)) == 0


def test_planar_render_agrees_with_bgr_render(small_plan, tmp_path):
    """The default render warps the decoder's 4:2:0 planes directly; the BGR route (the torch
    backend's, and 10-bit sources') gives the same picture to colour-conversion rounding."""
    plan, opts = small_plan
    opts = StabilizeOptions(**{**opts.__dict__, "codec": "ffv1"})  # lossless: the frames themselves
    planar, bgr = tmp_path / "planar.mkv", tmp_path / "bgr.mkv"
    t_planar, t_bgr = {}, {}
    render(plan, planar, opts, timings=t_planar)
    render(plan, bgr, opts, planar=False, timings=t_bgr)
    assert t_planar["planar"] is True and t_bgr["planar"] is False
    a = [f for _, f in iter_frames(planar, planar=True)]
    b = [f for _, f in iter_frames(bgr, planar=True)]
    assert len(a) == len(b) == plan.info.frame_count
    h = plan.info.height_px
    d = np.stack([x.astype(int) - y.astype(int) for x, y in zip(a, b)])
    assert abs(d[:, :h].mean()) < 0.2 and np.abs(d[:, :h]).mean() < 1.0  # no level shift either way
    assert np.abs(d[:, h:]).mean() < 3.0
    # and the picture moved: neither route copied the input
    src = [f for _, f in iter_frames(plan.info.path, planar=True)]
    assert np.mean([np.abs(x[:h].astype(int) - y[:h].astype(int)).mean() for x, y in zip(a, src)]) > 3.0


def test_ten_bit_planar_render_agrees_with_bgr_render(small_plan, tmp_path):
    """A 10-bit 4:2:0 source goes through the render as its 16-bit planes (no BGR48 frames:
    a quarter of the bytes) and comes out 10-bit, the same picture as the BGR route to
    colour-conversion rounding (the 8-bit bounds, x4 for 10-bit levels)."""
    plan, opts = small_plan
    src10 = tmp_path / "walk10.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(plan.info.path), "-c:v", "ffv1", "-pix_fmt", "yuv420p10le",
                    str(src10)], check=True)
    info10 = probe_video(src10)
    assert (info10.pix_fmt, info10.bit_depth) == ("yuv420p10le", 10)
    from dataclasses import replace

    plan10 = replace(plan, info=info10)  # the same plan, the 10-bit copy of its frames
    opts = StabilizeOptions(**{**opts.__dict__, "codec": "ffv1"})
    planar, bgr = tmp_path / "planar10.mkv", tmp_path / "bgr10.mkv"
    t_planar, t_bgr = {}, {}
    render(plan10, planar, opts, timings=t_planar)
    render(plan10, bgr, opts, planar=False, timings=t_bgr)
    assert t_planar["planar"] is True and t_bgr["planar"] is False
    assert probe_video(planar).pix_fmt == "yuv420p10le" and probe_video(planar).bit_depth == 10
    a = np.stack([f for _, f in iter_frames(planar, deep=True, planar=True)]).astype(int)
    b = np.stack([f for _, f in iter_frames(bgr, deep=True, planar=True)]).astype(int)
    assert a.shape == b.shape and a.shape[0] == plan.info.frame_count and a.max() > 255  # 10-bit values
    h = plan.info.height_px
    d = a - b
    assert abs(d[:, :h].mean()) < 0.8 and np.abs(d[:, :h]).mean() < 4.0
    assert np.abs(d[:, h:]).mean() < 12.0
    src = np.stack([f for _, f in iter_frames(src10, deep=True, planar=True)]).astype(int)
    assert np.abs(a[:, :h] - src[:, :h]).mean() > 12.0  # the picture moved


def test_input_kept_and_re_encoded_is_the_input(small_plan, tmp_path):
    """A plan that keeps the input, written in another codec (so its packets cannot be
    copied): the decoder's planes go to the encoder as they are; lossless, the frames are
    the input's exactly."""
    from dataclasses import replace

    plan, opts = small_plan
    kept = replace(plan, passthrough=True)
    t = {}
    render(kept, tmp_path / "kept.mkv", StabilizeOptions(**{**opts.__dict__, "codec": "ffv1"}), timings=t)
    assert t["planar"] is True and not t.get("copied")
    a = [f for _, f in iter_frames(plan.info.path, planar=True)]
    b = [f for _, f in iter_frames(tmp_path / "kept.mkv", planar=True)]
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_torch_render_takes_the_planes_too(small_plan, tmp_path):
    """The torch backend (CPU here; the GPU render's route) renders plane by plane as well,
    to the same frames as OpenCV's within interpolation rounding."""
    pytest.importorskip("torch", reason="PyTorch not installed: pip install 'fusedstab[gpu]'")
    plan, opts = small_plan
    base = {**opts.__dict__, "codec": "ffv1"}
    t_torch = {}
    render(plan, tmp_path / "torch.mkv", StabilizeOptions(**{**base, "backend": "torch", "device": "cpu"}),
           timings=t_torch)
    render(plan, tmp_path / "opencv.mkv", StabilizeOptions(**base))
    assert t_torch["planar"] is True
    a = np.stack([f for _, f in iter_frames(tmp_path / "torch.mkv", planar=True)]).astype(int)
    b = np.stack([f for _, f in iter_frames(tmp_path / "opencv.mkv", planar=True)]).astype(int)
    assert a.shape == b.shape and np.abs(a - b).mean() < 0.5 and np.percentile(np.abs(a - b), 99.9) <= 3


def test_bgr_route_keeps_levels(tmp_path):
    """A limited-range BT.601 clip decoded to BGR and written back (lossless): the same planes
    to rounding, no level shift (swscale's decode to BGR darkened Y by about 1 level)."""
    src = tmp_path / "bt601.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x96:d=0.3:r=10",
                    "-pix_fmt", "yuv420p", "-colorspace", "bt470bg", "-color_range", "tv",
                    "-c:v", "libx264", "-crf", "4", str(src)], check=True)
    info = probe_video(src)
    out = tmp_path / "out.mkv"
    with VideoWriter(out, info, info.width_px, info.height_px, codec="ffv1") as w:
        for pts, f in iter_frames(src):
            w.write(f, pts)
    a = np.stack([f for _, f in iter_frames(src, planar=True)]).astype(int)
    b = np.stack([f for _, f in iter_frames(out, planar=True)]).astype(int)
    assert abs((b - a)[:, :96].mean()) < 0.3 and np.abs(b - a)[:, :96].mean() < 0.5  # clipped saturated colours
    assert np.abs(b - a)[:, 96:].mean() < 0.5


def test_planar_write_keeps_levels_and_tags(tmp_path):
    """Full-range BT.709 planes written as they are: tags kept, values unchanged (lossless)."""
    src = _full_range_bt709_clip(tmp_path, 0.3)
    info = probe_video(src)
    out = tmp_path / "out.mkv"
    with VideoWriter(out, info, info.width_px, info.height_px, codec="ffv1") as w:
        assert w.takes_planar()
        for pts, f in iter_frames(src, planar=True):
            assert f.shape == (96 * 3 // 2, 160) and f.dtype == np.uint8
            w.write_planar(f, pts)
    st = _ffprobe(out)
    assert st["color_range"] == "pc" and st["color_space"] == "bt709"
    a = [f for _, f in iter_frames(src, planar=True)]
    b = [f for _, f in iter_frames(out, planar=True)]
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_planar_only_where_the_values_keep_their_meaning(tmp_path):
    """A full-range source the writer would tag limited (``yuvj420p`` without a range tag),
    10-bit sources and odd sizes go through BGR."""
    from dataclasses import replace

    src = tmp_path / "s.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x96:d=0.2:r=10",
                    "-pix_fmt", "yuv420p", "-c:v", "libx264", str(src)], check=True)
    info = probe_video(src)
    cases = {"plain": (info, True), "yuvj untagged": (replace(info, pix_fmt="yuvj420p", color_range=0), False),
             "odd width": (replace(info, width_px=161), False), "10-bit": (replace(info, bit_depth=10), False)}
    for name, (inf, expected) in cases.items():
        with VideoWriter(tmp_path / f"{name}.mkv", inf, 160, 96, codec="ffv1") as w:
            assert w.takes_planar() is expected, name


def test_encoder_quality_mapping():
    assert encoder_options("libx264", 18, "medium", 1920, 1080)["crf"] == "18"
    # x264's lookahead capped near 100 MB of frames (and no threaded lookahead on top) where
    # frames are large; the preset's own where they are small or the preset has none
    uhd = encoder_options("libx264", 18, "medium", 3840, 2160)
    assert uhd["rc-lookahead"] == "4" and uhd["x264-params"] == "sync-lookahead=0"
    assert encoder_options("libx264", 18, "medium", 1920, 1080)["rc-lookahead"] == "16"
    assert encoder_options("libx264", 18, "medium", 640, 360)["rc-lookahead"] == "40"
    assert "x264-params" not in encoder_options("libx264", 18, "medium", 640, 360)
    assert "x264-params" not in encoder_options("libx264", 18, "ultrafast", 3840, 2160)
    # repeatable: no macroblock tree (alone, or after the capped lookahead's parameter)
    assert encoder_options("libx264", 18, "medium", 640, 360, repeatable=True)["x264-params"] == "mbtree=0"
    assert encoder_options("libx264", 18, "medium", 3840, 2160, repeatable=True)["x264-params"].endswith(":mbtree=0")
    # a 10-bit encode keeps 16-bit samples: half the frames in the same bytes
    assert encoder_options("libx264", 18, "medium", 1920, 1080, deep=True)["rc-lookahead"] == "8"
    assert encoder_options("libx265", 18, "medium", 1920, 1080)["crf"] == "23"
    # x265's lookahead capped the same way, never below its preset's B-frame run + 1
    assert encoder_options("libx265", 18, "medium", 1280, 720)["x265-params"] == "log-level=error"
    assert "rc-lookahead=15" in encoder_options("libx265", 18, "medium", 1920, 1080)["x265-params"]
    assert "rc-lookahead=5" in encoder_options("libx265", 18, "medium", 3840, 2160, deep=True)["x265-params"]
    assert "rc-lookahead=9" in encoder_options("libx265", 18, "slower", 3840, 2160)["x265-params"]
    assert "rc-lookahead=4" in encoder_options("libx265", 18, "ultrafast", 3840, 2160)["x265-params"]  # B-frames 3
    assert encoder_options("libsvtav1", 18, "medium", 1920, 1080)["crf"] == "30"
    assert encoder_options("prores_ks", 18, "medium", 1920, 1080)["profile"] == "3"
    assert encoder_options("h264_nvenc", 18, "medium", 1920, 1080)["cq"] == "18"


def test_codec_container_checks(tmp_path):
    assert check_codec("h264", tmp_path / "a.mp4") == "libx264"
    assert check_codec("prores", tmp_path / "a.mov") == "prores_ks"
    with pytest.raises(OutputError, match="cannot hold prores"):
        check_codec("prores", tmp_path / "a.mp4")
    with pytest.raises(OutputError, match="not in this FFmpeg"):
        check_codec("nosuchcodec", tmp_path / "a.mkv")


def _full_range_bt709_clip(folder, duration_s):
    """A 160x96 full-range BT.709 H.264 clip, every colour tag set."""
    src = folder / "full709.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s=160x96:d={duration_s}:r=10",
                    "-vf", "scale=out_range=full:out_color_matrix=bt709,format=yuv420p", "-color_range", "pc",
                    "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
                    "-c:v", "libx264", "-crf", "4", str(src)], check=True)
    return src


def _ffprobe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=codec_name,pix_fmt,color_range,color_space,color_primaries,color_transfer",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["streams"][0]


@pytest.mark.parametrize("codec,ext", [("h264", ".mp4"), ("hevc", ".mkv"), ("prores", ".mov")])
def test_full_range_bt709_tags_and_levels_are_kept(tmp_path, codec, ext):
    src = _full_range_bt709_clip(tmp_path, 0.4)
    info = probe_video(src)
    assert info.color == {"range": 2, "primaries": 1, "transfer": 1, "matrix": 1}
    out = tmp_path / f"out{ext}"
    with VideoWriter(out, info, info.width_px, info.height_px, crf=4, preset="ultrafast", codec=codec) as w:
        for pts, f in iter_frames(src):
            w.write(f, pts)
    st = _ffprobe(out)
    # ProRes is limited range only: the levels are converted and tagged so
    assert st["color_range"] == ("tv" if codec == "prores" else "pc") and st["color_space"] == "bt709"
    # ProRes writes the tags of each frame (x264 and x265 those of the stream)
    assert st["color_primaries"] == "bt709" and st["color_transfer"] == "bt709"
    a = [f for _, f in iter_frames(src)]
    b = [f for _, f in iter_frames(out)]
    assert np.mean([np.abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(a, b)]) < 3.0


def test_ten_bit_source_stays_ten_bit(tmp_path):
    src = tmp_path / "deep.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x96:d=0.3:r=10",
                    "-pix_fmt", "yuv420p10le", "-c:v", "ffv1", str(src)], check=True)
    info = probe_video(src)
    assert info.bit_depth == 10
    out = tmp_path / "out.mkv"
    with VideoWriter(out, info, info.width_px, info.height_px, codec="ffv1", deep=True) as w:
        for pts, f in iter_frames(src, deep=True):
            assert f.dtype == np.uint16
            w.write(f, pts)
    assert _ffprobe(out)["pix_fmt"] == "yuv420p10le"


def test_chroma_layout_names_the_colour_sampling():
    assert [chroma_layout(f) for f in ("yuv420p", "nv12", "p010le", "yuvj420p")] == ["420"] * 4
    assert [chroma_layout(f) for f in ("yuv422p10le", "yuvj422p", "nv16")] == ["422"] * 3
    assert [chroma_layout(f) for f in ("yuv444p", "yuv444p12le", "yuvj444p")] == ["444"] * 3
    # RGB sources go to 4:2:0 YUV (every player decodes it); grey and unknown formats too
    assert [chroma_layout(f) for f in ("gbrp", "bgr0", "rgb24", "gray", "no-such-format")] == ["420"] * 5


@pytest.mark.parametrize("src_fmt, src_codec, codec, ext, want_fmt, want_profile", [
    ("yuv422p10le", "prores_ks", "h264", ".mkv", "yuv422p10le", "High 4:2:2"),
    ("yuv422p10le", "prores_ks", "hevc", ".mkv", "yuv422p10le", None),
    ("yuv444p", "libx264", "h264", ".mp4", "yuv444p", "High 4:4:4 Predictive"),
    ("yuv444p", "libx264", "prores", ".mov", "yuv444p12le", "4444"),  # FFmpeg's decoder reads 4444 as 12-bit
    ("yuv444p", "libx264", "av1", ".mkv", "yuv420p", None),  # SVT-AV1 takes 4:2:0 only
])
def test_colour_sampling_is_carried_where_the_encoder_takes_it(tmp_path, src_fmt, src_codec, codec, ext, want_fmt,
                                                               want_profile):
    # a 4:2:2 or 4:4:4 source (ProRes, pro cameras, screen captures) keeps its colour resolution
    src = tmp_path / ("src.mov" if src_codec == "prores_ks" else "src.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x96:d=0.3:r=10",
                    "-pix_fmt", src_fmt, "-c:v", src_codec, str(src)], check=True)
    info = probe_video(src)
    deep = info.bit_depth > 8
    out = tmp_path / f"out{ext}"
    with VideoWriter(out, info, info.width_px, info.height_px, crf=4, codec=codec, preset="ultrafast",
                     deep=deep) as w:
        for pts, f in iter_frames(src, deep=deep):
            w.write(f, pts)
    st = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=pix_fmt,profile",
                         "-of", "json", str(out)], capture_output=True, text=True, check=True)
    st = json.loads(st.stdout)["streams"][0]
    assert st["pix_fmt"] == want_fmt
    if want_profile:
        assert st["profile"] == want_profile
    a = [f for _, f in iter_frames(src)]
    b = [f for _, f in iter_frames(out)]
    err = np.mean([np.abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(a, b)])
    # the same picture, to the encoder's loss on testsrc2's sharp colour edges (measured 0.3-0.7
    # levels; x264's 10-bit 4:2:2 3.3, as from the ffmpeg command itself; 4:4:4 -> 4:2:0 4.7);
    # the range and matrix are checked tightly by the full-range BT.709 test above
    assert len(a) == len(b) and err < 7.0
