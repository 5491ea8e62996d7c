"""The output container follows the extension and keeps every audio track, its tags and the rotation."""

from __future__ import annotations

import shutil
import subprocess

import av
import pytest

from fusedstab.io.video import probe_video
from fusedstab.measure.simulate import SimConfig, simulate
from fusedstab.pipeline import StabilizeOptions, stabilize

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command to build the source")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A tiny clip with two audio tracks (AAC English, MP3 French) and 90 deg display rotation."""
    d = tmp_path_factory.mktemp("containers")
    simulate(d / "clip", SimConfig(scenario="walk", width_px=160, height_px=96, duration_s=1.0, seed=4))
    src = d / "multi.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(d / "clip.mp4"),
         "-f", "lavfi", "-i", "sine=f=440:d=1", "-f", "lavfi", "-i", "sine=f=660:d=1",
         "-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "copy", "-c:a:0", "aac", "-c:a:1", "libmp3lame",
         "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra", "-metadata:s:v:0", "rotate=90",
         str(src)],
        check=True,
    )
    info = probe_video(src)
    assert [a["language"] for a in info.audio_streams] == ["eng", "fra"] and info.rotation_deg % 360 == 90
    return d, src


@pytest.mark.parametrize("ext, fmt", [(".mp4", "mp4"), (".mov", "mov"), (".mkv", "matroska"), (".MKV", "matroska")])
def test_container_follows_extension_and_keeps_tracks(source, tmp_path, ext, fmt):
    d, src = source
    out = tmp_path / f"out{ext}"
    rep = stabilize(src, out, StabilizeOptions(gyro=d / "clip.gcsv", lens=d / "clip.lens.json", gyro_offset_ms=0,
                                               preset="ultrafast"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    with av.open(str(out)) as c:
        assert fmt in c.format.name.split(",")
        assert [s.codec_context.name for s in c.streams.video] == ["h264"]
    a, b = probe_video(src), probe_video(out)
    assert b.frame_count == a.frame_count
    assert [(s["codec"], s["language"]) for s in b.audio_streams] == [("aac", "eng"), ("mp3float", "fra")]
    assert b.rotation_deg % 360 == 90
    assert not rep.warnings or all("track" not in w for w in rep.warnings)
    # the audio is copied, not re-encoded: same packet count per track
    def packets(path, k):
        with av.open(str(path)) as c:
            return sum(1 for p in c.demux(c.streams.audio[k]) if p.size)
    for k in range(2):
        assert packets(out, k) == packets(src, k)


def test_gopro_data_tracks_are_kept_where_the_container_allows(shared_data, tmp_path):
    """GPMF (gpmd) metadata and the timecode survive in MP4; Matroska cannot hold gpmd: a warning says so."""
    from fusedstab.io.video import VideoWriter, iter_frames

    src = shared_data / "gopro_hero5_karma.mp4"
    info = probe_video(src)
    for ext in (".mp4", ".mkv"):
        out = tmp_path / f"g{ext}"
        with VideoWriter(out, info, info.width_px, info.height_px, copy_audio_from=src, preset="ultrafast") as w:
            for k, (pts, frame) in enumerate(iter_frames(src)):
                if k >= 10:
                    break
                w.write(frame, pts)
        back = probe_video(out)
        assert [s["codec"] for s in back.audio_streams] == ["aac"]
        if ext == ".mp4":
            assert "GoPro MET" in back.data_streams
        else:
            assert any("GoPro MET" in n and "left out" in n and ".mov" in n for n in w.notes), w.notes


def test_subtitle_tracks_are_kept_where_the_container_allows(source, tmp_path):
    """An SRT track survives into Matroska; MP4 cannot hold SRT: a warning names the container that can."""
    d, _ = source
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,100 --> 00:00:00,800\nhello there\n")
    src = tmp_path / "subs.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(d / "clip.mp4"), "-i", str(srt), "-map", "0:v",
                    "-map", "1:s", "-c:v", "copy", "-c:s", "srt", "-metadata:s:s:0", "language=deu", str(src)],
                   check=True)
    opts = StabilizeOptions(gyro=d / "clip.gcsv", lens=d / "clip.lens.json", gyro_offset_ms=0, preset="ultrafast")
    out = tmp_path / "out.mkv"
    rep = stabilize(src, out, opts)
    assert not any("subtitle" in w for w in rep.warnings), rep.warnings
    with av.open(str(out)) as c:
        (s,) = c.streams.subtitles
        assert s.codec_context.name in ("srt", "subrip") and s.metadata.get("language") == "deu"
        texts = [bytes(p).decode() for p in c.demux(s) if p.size]
    assert texts == ["hello there"]
    rep = stabilize(src, tmp_path / "out.mp4", opts)
    assert any("subtitle" in w and "left out" in w and ".mkv" in w for w in rep.warnings), rep.warnings


def test_clip_cut_without_reencoding_counts_the_frames_it_shows(source, tmp_path):
    """A cut with -c copy keeps the GOP's pre-roll behind an edit list: those frames are on the
    clock but never shown; the output, the progress and the report count the shown ones."""
    d, _ = source
    cut = tmp_path / "cut.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "0.4", "-i", str(d / "clip.mp4"), "-c", "copy", str(cut)],
                   check=True)
    info = probe_video(cut)
    with av.open(str(cut)) as c:
        shown = sum(1 for _ in c.decode(video=0))
    assert info.discarded_frames > 0 and info.shown_frame_count == shown < info.frame_count
    seen = []
    out = tmp_path / "out.mp4"
    rep = stabilize(cut, out, StabilizeOptions(gyro=d / "clip.gcsv", lens=d / "clip.lens.json", preset="ultrafast"),
                    progress=lambda stage, done, total: seen.append((stage, done, total)))
    with av.open(str(out)) as c:
        written = sum(1 for _ in c.decode(video=0))
    assert rep.frames == written == shown
    assert [x for x in seen if x[0] == "render"][-1] == ("render", shown, shown)


def test_a_second_video_track_is_named_when_left_out(source, tmp_path):
    d, _ = source
    src = tmp_path / "two.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(d / "clip.mp4"), "-f", "lavfi", "-i",
                    "testsrc2=s=64x48:d=1:r=10", "-map", "0:v", "-map", "1:v", "-c:v:0", "copy", "-c:v:1", "mpeg4",
                    str(src)], check=True)
    out = tmp_path / "out.mkv"
    rep = stabilize(src, out, StabilizeOptions(gyro=d / "clip.gcsv", lens=d / "clip.lens.json", gyro_offset_ms=0,
                                               preset="ultrafast"))
    assert any("video track 1 (mpeg4)" in w and "left out" in w for w in rep.warnings), rep.warnings
    with av.open(str(out)) as c:
        assert len(c.streams.video) == 1 and c.streams.video[0].codec_context.width == 160


def test_interlaced_source_is_named_with_the_fix(source, tmp_path):
    """An interlaced clip (a camcorder's 1080i) is warped as one picture: the run says so
    and how to deinterlace first; a progressive clip gets no such warning."""
    d, _ = source
    src = tmp_path / "interlaced.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(d / "clip.mp4"), "-vf", "interlace", "-c:v", "libx264",
                    "-flags", "+ildct+ilme", str(src)], check=True)
    assert probe_video(src).interlaced and not probe_video(d / "clip.mp4").interlaced
    opts = StabilizeOptions(gyro=d / "clip.gcsv", preset="ultrafast")
    rep = stabilize(src, tmp_path / "out.mp4", opts)
    said = [w for w in rep.warnings if "interlaced" in w]
    assert len(said) == 1 and "bwdif" in said[0] and "33.3 ms" in said[0]  # 30 fps woven into 15
    assert not any("interlaced" in w for w in stabilize(d / "clip.mp4", tmp_path / "p.mp4", opts).warnings)


def test_pcm_audio_is_kept_and_an_mp4_output_says_where_it_plays(source, tmp_path):
    """24-bit PCM (a cinema camera's or a recorder's .mov): copied sample for sample; an .mp4
    output stores it as 'ipcm', which older players misread, and says so and names .mov."""
    import numpy as np

    d, _ = source
    src = tmp_path / "pcm.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(d / "clip.mp4"), "-f", "lavfi", "-i", "sine=f=440:d=1",
                    "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "pcm_s24le", "-shortest", str(src)], check=True)

    def samples(path):
        with av.open(str(path)) as c:
            a = c.streams.audio[0]
            return a.codec_context.name, np.concatenate([f.to_ndarray().ravel() for f in c.decode(a)])

    opts = StabilizeOptions(gyro=d / "clip.gcsv", preset="ultrafast")
    name, want = samples(src)
    for ext, noted in ((".mp4", True), (".mov", False)):
        rep = stabilize(src, tmp_path / f"out{ext}", opts)
        got_name, got = samples(tmp_path / f"out{ext}")
        assert got_name == name == "pcm_s24le" and np.array_equal(got, want)
        said = [w for w in rep.warnings if "ipcm" in w]
        assert bool(said) == noted and (not said or ".mov" in said[0]), rep.warnings


@pytest.mark.parametrize("pix_fmt, codec, want", [("yuv444p", "libx264", (161, 97)), ("yuvj422p", "mjpeg", (160, 97))],
                         ids=["4:4:4 keeps odd", "4:2:2 even across"])
def test_odd_sizes_are_kept_where_the_chroma_allows(source, tmp_path, pix_fmt, codec, want):
    """An odd-sized source (a screen recording, a crop): 4:4:4 is written at its size, 4:2:2
    one pixel narrower (its chroma needs an even width); the report gives the written size."""
    d, _ = source
    src = tmp_path / f"odd.{'mkv' if codec == 'libx264' else 'avi'}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(d / "clip.mp4"), "-vf", "scale=161:97", "-c:v", codec,
                    "-pix_fmt", pix_fmt, str(src)], check=True)
    rep = stabilize(src, tmp_path / "out.mkv", StabilizeOptions(gyro=d / "clip.gcsv", preset="ultrafast"))
    info = probe_video(tmp_path / "out.mkv")
    assert (info.width_px, info.height_px) == want == (rep.width_px, rep.height_px)
    assert info.frame_count == probe_video(src).frame_count


@pytest.mark.parametrize("ext, tags", [
    (".mov", {"creation_time": "2026-05-01T10:00:00.000000Z", "com.apple.quicktime.make": "Apple",
              "com.apple.quicktime.model": "iPhone 15",
              "com.apple.quicktime.location.ISO6709": "+37.7749-122.4194+010.000/"}),
    (".mp4", {"creation_time": "2026-06-01T12:00:00.000000Z", "location": "+48.8584+002.2945/",
              "com.android.version": "14"}),
    (".mkv", {"creation_time": "2026-06-01T12:00:00.000000Z", "title": "ride", "location": "+48.8584+002.2945/"}),
])
def test_the_files_date_place_and_camera_tags_are_kept(source, tmp_path, ext, tags):
    """A phone's clip: its recording date, place and make stay on the stabilized file (as ffmpeg
    keeps them), so galleries sort and map it as the original; what described the source's own
    encoding (its encoder, brand) does not."""
    d, _ = source
    src = tmp_path / f"phone{ext}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(d / "clip.mp4"), "-c", "copy", "-movflags",
                    "use_metadata_tags"] + [a for k, v in tags.items() for a in ("-metadata", f"{k}={v}")] + [str(src)],
                   check=True)
    out = tmp_path / f"out{ext}"
    stabilize(src, out, StabilizeOptions(gyro=d / "clip.gcsv", lens=d / "clip.lens.json", gyro_offset_ms=0,
                                         preset="ultrafast"))
    with av.open(str(src)) as a, av.open(str(out)) as b:
        given, kept = {k.lower(): v for k, v in a.metadata.items()}, {k.lower(): v for k, v in b.metadata.items()}
    for k, v in tags.items():
        assert kept.get(k.lower()) == given.get(k.lower()), (k, given, kept)
    assert kept.get("encoder") != given.get("encoder")
