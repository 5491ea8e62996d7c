"""Video in and out through PyAV (FFmpeg).

Frames are streamed: nothing here holds more than a few frames in memory. Every frame keeps
its presentation timestamp; the writer reuses the input's time base and pts, copies every
audio track (and every data track the container can hold) packet by packet with its tags, and
keeps the display rotation. The container follows the output's extension (``.mp4``/``.m4v``,
``.mov``, ``.mkv``). Output goes to a temporary file beside the target and is renamed into
place only when everything succeeded; only a new path or an existing regular file is ever
replaced (never a device, FIFO, socket, folder or read-only file).
"""

from __future__ import annotations

import errno
import io
import os
import stat
import tempfile
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from ..errors import InputError, OutputError
from ..validation import OUTPUT_EXTENSIONS

__all__ = ["VideoInfo", "probe_video", "iter_frames", "prefetch", "VideoWriter", "check_output_path",
           "container_format", "CODECS", "check_codec", "encoder_options", "pick_encoder", "encoder_works"]


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, read without decoding pixels.

    Attributes
    ----------
    path : source file.
    width_px, height_px : coded frame size.
    pts : (N,) int64 presentation timestamps of every video frame, in ``time_base`` units,
        sorted, as the container stores them.
    time_base : seconds per pts unit.
    frame_times_s : (N,) frame times [s] relative to the first frame (``(pts - pts[0]) *
        time_base``). This is the *video clock* used everywhere in the package.
    """

    path: Path
    width_px: int
    height_px: int
    pts: np.ndarray
    time_base: Fraction
    frame_times_s: np.ndarray
    fps: float
    codec: str
    pix_fmt: str
    rotation_deg: int
    has_audio: bool
    audio_codec: str | None
    data_streams: list[str] = field(default_factory=list)
    audio_streams: list[dict] = field(default_factory=list)
    #: FFmpeg colour tags of the video stream (AVColorRange, AVColorPrimaries,
    #: AVColorTransferCharacteristic, AVColorSpace codes; 0 / 2 = unspecified)
    color_range: int = 0
    color_primaries: int = 2
    color_trc: int = 2
    colorspace: int = 2
    #: bits per colour sample of the coded frames (8, 10, 12)
    bit_depth: int = 8
    #: frames a decoder does not output: the pre-roll before an edit list's start (a clip
    #: cut without re-encoding keeps the frames from the keyframe before the cut). They stay
    #: on the video clock (``pts``) but are never written.
    discarded_frames: int = 0
    #: width / height of one pixel as the file declares it (its sample aspect ratio: 4/3 for
    #: 1440x1080 HDV shown 1920 wide; 1 when square or not stated). Kept on the output.
    sample_aspect: Fraction = Fraction(1)
    #: the frames are interlaced: two fields, captured half a frame period apart, woven into
    #: one picture (the stream's field order, or the first frame's flag)
    interlaced: bool = False
    #: the frame rate the frames were captured at, where the file says it differs from the one it
    #: plays at (an Android slow-motion clip: ``com.android.capture.fps``); None otherwise
    capture_fps: float | None = None

    @property
    def slow_motion(self) -> float:
        """How many times slower than life the clip plays: ``capture_fps / fps`` where the file
        states a capture rate of at least :data:`SLOW_MOTION_MIN_FPS` and at least
        :data:`SLOW_MOTION_MIN` times its playback rate, else 1. The video clock runs this much
        slower than a sensor's clock. (A phone's ordinary clip also states its nominal rate,
        and in dim light its frames come at half of it or less: a rate of 30 or 60 against 15
        played is that, not slow motion.)"""
        if (self.capture_fps and self.fps > 0 and self.capture_fps >= SLOW_MOTION_MIN_FPS
                and self.capture_fps >= SLOW_MOTION_MIN * self.fps):
            return float(self.capture_fps / self.fps)
        return 1.0

    @property
    def time_lapse(self) -> float:
        """How many times faster than life the clip plays: ``fps / capture_fps`` where the file
        states a capture rate below ``1 / SLOW_MOTION_MIN`` of its playback rate (a phone's
        time-lapse: 1 frame a second played at 30), else 1."""
        if self.capture_fps and self.fps > 0 and self.capture_fps * SLOW_MOTION_MIN <= self.fps:
            return float(self.fps / self.capture_fps)
        return 1.0

    def on_capture_clock(self) -> VideoInfo:
        """The clip with its frame times on the camera's real clock: a slow-motion clip's
        ``frame_times_s / slow_motion`` and ``fps * slow_motion`` (its ``slow_motion`` then 1;
        ``pts`` unchanged); any other clip as it is."""
        k = self.slow_motion
        return self if k == 1.0 else replace(self, frame_times_s=self.frame_times_s / k, fps=self.fps * k)

    @property
    def color(self) -> dict:
        """The colour tags as a dict (see :data:`COLOR_NAMES` for the codes' names)."""
        return {"range": self.color_range, "primaries": self.color_primaries, "transfer": self.color_trc,
                "matrix": self.colorspace}

    @property
    def full_range(self) -> bool:
        """Full-range (JPEG) levels: tagged so, or a ``yuvj`` pixel format."""
        return self.color_range == 2 or self.pix_fmt.startswith("yuvj")

    @property
    def frame_count(self) -> int:
        return int(len(self.pts))

    @property
    def shown_frame_count(self) -> int:
        """Frames a decoder outputs (and a render writes): ``frame_count`` less the pre-roll."""
        return self.frame_count - int(self.discarded_frames)

    @property
    def duration_s(self) -> float:
        if self.frame_count == 0:
            return 0.0
        return float(self.frame_times_s[-1] + 1.0 / self.fps)

    @property
    def frame_period_s(self) -> float:
        return 1.0 / self.fps

    def as_dict(self) -> dict:
        d = {
            "path": str(self.path),
            "width_px": self.width_px,
            "height_px": self.height_px,
            "frame_count": self.frame_count,
            "fps": round(self.fps, 4),
            "duration_s": round(self.duration_s, 4),
            "time_base": str(self.time_base),
            "codec": self.codec,
            "pix_fmt": self.pix_fmt,
            "rotation_deg": self.rotation_deg,
            "audio": self.audio_codec if self.has_audio else None,
            "audio_streams": [dict(a) for a in self.audio_streams],
            "data_streams": list(self.data_streams),
            "bit_depth": self.bit_depth,
            "sample_aspect": f"{self.sample_aspect.numerator}:{self.sample_aspect.denominator}",
            "interlaced": self.interlaced,
            "color": {k: COLOR_NAMES[k].get(v, str(v)) for k, v in self.color.items()},
        }
        if self.discarded_frames:
            d["frames_shown"] = self.shown_frame_count  # the rest: an edit list's pre-roll
        if self.capture_fps:
            d["capture_fps"] = round(self.capture_fps, 4)
            d["slow_motion"] = round(self.slow_motion, 4)
            d["time_lapse"] = round(self.time_lapse, 4)
        return d


#: a capture rate this many times the playback rate or more, and at least ``SLOW_MOTION_MIN_FPS``,
#: makes a clip slow motion (phones' slow-motion modes: 120, 240, 480, 960 fps played at 30)
SLOW_MOTION_MIN = 1.9
SLOW_MOTION_MIN_FPS = 100.0
#: the container tags that state a clip's capture rate (Android's camera writes the first)
CAPTURE_FPS_TAGS = ("com.android.capture.fps",)

#: container tags that describe how the source file was written, not what it holds: not carried
#: over (the output's muxer writes its own)
_SOURCE_ONLY_TAGS = {"encoder", "major_brand", "minor_version", "compatible_brands", "handler_name", "duration"}
#: container tags FFmpeg's MP4 / MOV muxer writes by itself; any other (a phone's
#: ``com.apple.quicktime.location.ISO6709``, a GoPro's ``firmware``) needs its
#: ``use_metadata_tags`` flag
_MOV_NATIVE_TAGS = {"title", "artist", "author", "album_artist", "album", "composer", "date", "comment", "genre",
                    "copyright", "grouping", "lyrics", "description", "synopsis", "show", "episode_id", "network",
                    "track", "disc", "location", "creation_time", "language", "keywords", "rating"}


def carried_tags(metadata: dict) -> dict:
    """The source container's tags an output keeps: its date (``creation_time``), place
    (``location``, a phone's ``com.apple.quicktime.*`` / ``com.android.*``), camera (``make``,
    ``model``, ``firmware``) and titles, as ``ffmpeg`` keeps them; not the ones that describe
    the source's own encoding (:data:`_SOURCE_ONLY_TAGS`)."""
    return {k: v for k, v in metadata.items() if k.lower() not in _SOURCE_ONLY_TAGS and isinstance(v, str)}


def _capture_fps(container, vs) -> float | None:
    """The capture frame rate a file states (:data:`CAPTURE_FPS_TAGS`), or None."""
    for meta in (container.metadata, vs.metadata):
        for key in CAPTURE_FPS_TAGS:
            try:
                v = float(meta.get(key, "nan"))
            except (TypeError, ValueError):
                continue
            if np.isfinite(v) and v > 0:
                return v
    return None


#: names of the FFmpeg colour codes that occur in camera files (others print as numbers)
COLOR_NAMES = {
    "range": {0: "unspecified", 1: "tv (limited)", 2: "pc (full)"},
    "primaries": {1: "bt709", 2: "unspecified", 5: "bt470bg", 6: "smpte170m", 9: "bt2020", 12: "smpte432 (P3)"},
    "transfer": {1: "bt709", 2: "unspecified", 6: "smpte170m", 13: "iec61966-2-1 (sRGB)", 14: "bt2020-10",
                 16: "smpte2084 (PQ)", 18: "arib-std-b67 (HLG)"},
    "matrix": {0: "rgb", 1: "bt709", 2: "unspecified", 5: "bt470bg", 6: "smpte170m", 9: "bt2020nc"},
}


def _bit_depth(fmt) -> int:
    try:
        return max(int(c.bits) for c in fmt.components) if fmt is not None and fmt.components else 8
    except (AttributeError, ValueError):
        return 8


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _open(path: Path) -> av.container.InputContainer:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"video file not found: {path}", "check the path") from None
    except OSError as exc:
        raise InputError(f"cannot open video {path}: {exc.strerror}", "check the path") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path} is {_kind(st.st_mode)}, not a video file", "give the path of a video file")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(
            f"cannot read {path} as a video ({exc.__class__.__name__}: {exc})",
            "give a video file FFmpeg can decode (MP4/MOV/MKV ...)",
        ) from None


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read stream properties and all frame timestamps by demuxing (no decoding)."""
    path = Path(path)
    container = _open(path)
    try:
        if not container.streams.video:
            raise InputError(f"cannot read {path} as a video: it has no video stream", "give a video file")
        vs = container.streams.video[0]
        pts_list = []
        discarded = 0
        for packet in container.demux(vs):
            if packet.pts is not None and packet.size > 0:
                pts_list.append(packet.pts)
                discarded += bool(packet.is_discard)
        if not pts_list:
            raise InputError(f"cannot read {path} as a video: it has no video frames", "give a video with frames")
        pts = np.sort(np.asarray(pts_list, dtype=np.int64))
        tb = Fraction(vs.time_base) if vs.time_base is not None else Fraction(1, 90000)
        times = (pts - pts[0]).astype(np.float64) * float(tb)
        rate = vs.average_rate or vs.guessed_rate
        if rate:
            fps = float(rate)
        elif len(times) > 1:
            fps = (len(times) - 1) / max(times[-1], 1e-9)
        else:
            fps = 30.0
        rotation = 0
        interlaced = int(getattr(vs.codec_context, "field_order", 0) or 0) in _INTERLACED_FIELD_ORDERS
        try:
            container.seek(0)
            first = next(container.decode(video=0))
            rotation = int(round(getattr(first, "rotation", 0) or 0))
            interlaced = interlaced or bool(getattr(first, "interlaced_frame", False))
        except (StopIteration, av.error.FFmpegError):
            rotation = 0
        audio = container.streams.audio[0] if container.streams.audio else None
        cc = vs.codec_context
        return VideoInfo(
            path=path,
            width_px=int(vs.codec_context.width),
            height_px=int(vs.codec_context.height),
            pts=pts,
            time_base=tb,
            frame_times_s=times,
            fps=fps,
            codec=vs.codec_context.name,
            pix_fmt=str(vs.codec_context.pix_fmt),
            rotation_deg=rotation,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            data_streams=[s.metadata.get("handler_name", "data").strip() for s in container.streams.data],
            audio_streams=[{"codec": a.codec_context.name, "language": a.metadata.get("language")}
                           for a in container.streams.audio],
            color_range=int(cc.color_range or 0), color_primaries=int(cc.color_primaries or 2),
            color_trc=int(cc.color_trc or 2), colorspace=int(cc.colorspace or 2),
            bit_depth=_bit_depth(cc.format), discarded_frames=discarded,
            sample_aspect=_sample_aspect(vs), interlaced=interlaced, capture_fps=_capture_fps(container, vs),
        )
    except av.error.FFmpegError as exc:
        raise InputError(f"cannot read {path}: {exc}", "check that the file is a complete video") from None
    finally:
        container.close()


#: FFmpeg's AVFieldOrder codes of interlaced video (top or bottom field first, coded either way)
_INTERLACED_FIELD_ORDERS = (2, 3, 4, 5)


def _sample_aspect(vs) -> Fraction:
    """The stream's sample aspect ratio (the container's, else the codec's), 1 where unstated
    or outside [1/10, 10] (a damaged tag)."""
    for sar in (vs.sample_aspect_ratio, vs.codec_context.sample_aspect_ratio):
        if sar is not None and sar.numerator > 0 and sar.denominator > 0:
            sar = Fraction(sar)
            return sar if Fraction(1, 10) <= sar <= 10 else Fraction(1)
    return Fraction(1)


def _decode_args(fmt_name: str, color_range: int, colorspace: int, deep: bool) -> dict:
    """``VideoFrame.reformat`` arguments that turn a decoded frame into BGR (8 or 16 bit).

    The source matrix and range come from the stream's tags (swscale assumes limited-range
    BT.601 for an untagged frame, and ignores a full-range tag on ``yuv420p`` unless told).
    """
    from av.video.reformatter import ColorRange

    args: dict = {"format": "bgr48le" if deep else "bgr24"}
    if color_range == 2 and not fmt_name.startswith("yuvj"):
        args["src_color_range"] = ColorRange.JPEG
        args["dst_color_range"] = ColorRange.JPEG
    if colorspace in _SWS_MATRIX:
        args["src_colorspace"] = _SWS_MATRIX[colorspace]
    return args


#: AVColorSpace code -> swscale matrix name
_SWS_MATRIX = {1: "ITU709", 5: "ITU601", 6: "ITU601", 9: "BT2020", 7: "SMPTE240M", 4: "FCC"}


#: frames of at least this many pixels (about 4K) are decoded with one frame thread per core
#: (FFmpeg's automatic count has one more, each holding a frame: 32 MB less at 4K)
LARGE_FRAME_PX = 6_000_000


def available_cpus() -> int:
    """CPU cores this process may run on (honours ``taskset`` / cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


#: 8-bit 4:2:0 pixel formats whose frames can be warped and encoded plane by plane
PLANAR_420 = ("yuv420p", "yuvj420p")
#: the 10-bit 4:2:0 format that travels as its planes too (16-bit little-endian samples)
PLANAR_420_10 = "yuv420p10le"


def plane_view(plane, dtype=np.uint8) -> np.ndarray:
    """(height, width) view (no copy) of one plane of an ``av.VideoFrame`` (``dtype``: uint8
    for 8-bit formats, uint16 for 10-bit little-endian ones), its rows' padding skipped;
    valid while the frame lives."""
    dtype = np.dtype(dtype)
    per_row = plane.line_size // dtype.itemsize
    rows = np.frombuffer(plane, dtype, count=plane.height * per_row)
    return rows.reshape(plane.height, per_row)[:, :plane.width]


def yuv420_planes(frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views (:func:`plane_view`) of the Y (H, W), U and V (H / 2, W / 2) planes of a 4:2:0
    ``av.VideoFrame`` (uint8, or uint16 for ``yuv420p10le``): valid while the frame lives,
    and writable (for a frame made to be filled, :meth:`VideoWriter.planar_frame`)."""
    dtype = np.uint16 if frame.format.name == PLANAR_420_10 else np.uint8
    return tuple(plane_view(p, dtype) for p in frame.planes)


def iter_frames(path: str | os.PathLike, *, deep: bool = False, threads: bool = True,
                planar: bool = False, raw: bool = False) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(pts, frame_bgr)`` for every frame in presentation order.

    ``frame_bgr`` is (H, W, 3) uint8 in the coded orientation (display rotation not applied:
    the writer keeps the rotation as metadata instead); with ``deep`` it is uint16 (full
    16-bit scale), for sources with more than 8 bits per sample. The YUV -> RGB conversion
    uses the stream's matrix and range tags (limited-range BT.601 or untagged 4:2:0:
    OpenCV's, which :class:`VideoWriter` inverts exactly). ``threads``: FFmpeg's frame + slice decoding
    threads (the same pixels, faster).

    ``planar``: yield the decoder's 4:2:0 planes instead, unconverted: (H * 3 / 2, W) uint8,
    Y then U then V (for a source in :data:`PLANAR_420`; see :func:`planar_source`; with
    ``deep``, a :data:`PLANAR_420_10` source's, uint16). A frame that comes out of the decoder
    in another format is converted to 4:2:0 in its own range.
    ``raw`` (with ``planar``): yield the decoder's ``av.VideoFrame`` itself (read its planes in
    place with :func:`yuv420_planes`).
    """
    container = _open(Path(path))
    try:
        stream = container.streams.video[0]
        cc = stream.codec_context
        if threads:
            stream.thread_type = "AUTO"
            if cc.width * cc.height >= LARGE_FRAME_PX:  # FFmpeg's auto is one frame thread more
                cc.thread_count = available_cpus()
        args = None
        for frame in container.decode(stream):
            if planar:
                pts = int(frame.pts if frame.pts is not None else 0)
                if deep and frame.format.name != PLANAR_420_10:  # a mid-stream format change
                    frame = frame.reformat(format=PLANAR_420_10)
                elif not deep and frame.format.name not in PLANAR_420:
                    frame = frame.reformat(format="yuvj420p" if frame.color_range == 2 else "yuv420p")
                yield pts, (frame if raw else frame.to_ndarray())
                continue
            if args is None:
                rng, matrix = int(cc.color_range or frame.color_range or 0), int(cc.colorspace or 2)
                args = _decode_args(frame.format.name, rng, matrix, deep)
                plain = args == {"format": "bgr24"}
                # limited-range BT.601 (or untagged) 8-bit 4:2:0: OpenCV's conversion, the exact
                # inverse of the writer's (swscale's, every mode tried, darkens Y by ~1 level)
                bt601 = (not deep and rng != 2 and matrix in (2, 5, 6) and frame.width % 2 == 0
                         and frame.height % 2 == 0)
            pts = int(frame.pts if frame.pts is not None else 0)
            if bt601 and frame.format.name == "yuv420p":
                yield pts, cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
            elif plain:
                yield pts, frame.to_ndarray(format="bgr24")
            else:
                yield pts, frame.reformat(**args).to_ndarray()
    except av.error.FFmpegError as exc:
        raise decode_error(path, exc) from None
    finally:
        container.close()


def decode_error(path, exc: Exception) -> InputError:
    """The :class:`InputError` for a video FFmpeg fails to decode (damaged, truncated, or a
    stream this FFmpeg cannot read)."""
    return InputError(f"decoding {path} failed: {exc}",
                      "check that the file plays (ffplay) and is not truncated; if FFmpeg plays it with errors, "
                      "re-encode it first: ffmpeg -i IN -c:v libx264 -crf 16 -c:a copy OUT.mp4")


def planar_source(info: VideoInfo) -> bool:
    """Whether the source's frames can go through the render as 4:2:0 planes (8-bit
    ``yuv420p`` / ``yuvj420p`` or 10-bit ``yuv420p10le``, even width and height): no colour
    conversion on the way."""
    depth = getattr(info, "bit_depth", 8)
    fmt_ok = (info.pix_fmt in PLANAR_420 and depth == 8) or (info.pix_fmt == PLANAR_420_10 and depth == 10)
    return fmt_ok and info.width_px % 2 == 0 and info.height_px % 2 == 0


def prefetch(items, depth: int = 4):
    """Run an iterator (e.g. :func:`iter_frames`) in a background thread, ``depth`` items ahead.

    Decoding then overlaps with the warp and the encoder (FFmpeg and OpenCV release the GIL).
    Memory stays bounded by ``depth`` items; an exception in the producer is re-raised here;
    leaving the loop early stops the producer.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=produce, name="fusedstab-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def container_format(output: str | os.PathLike) -> str:
    """FFmpeg muxer for an output path's extension; :class:`OutputError` listing the accepted ones."""
    ext = Path(output).suffix.lower()
    if ext not in OUTPUT_EXTENSIONS:
        got = f"extension {Path(output).suffix!r}" if ext else "no extension"
        raise OutputError(
            f"output {output} has {got}; fusedstab writes {', '.join(OUTPUT_EXTENSIONS)}",
            f"name the output with one of {', '.join(OUTPUT_EXTENSIONS)} (the container follows the extension)",
        )
    return OUTPUT_EXTENSIONS[ext]


def _check_target(out: Path) -> Path:
    """Refuse an existing output that is not a writable regular file; return the path to replace.

    A symbolic link to a regular file is followed (the file is replaced, the link kept).
    """
    try:
        st_link = os.lstat(out)
    except FileNotFoundError:
        return out
    except OSError as exc:
        raise OutputError(f"cannot check output {out}: {exc.strerror}", "choose another output path") from None
    target = out
    if stat.S_ISLNK(st_link.st_mode):
        try:
            st = os.stat(out)
        except OSError:
            raise OutputError(f"output {out} is a broken symbolic link", "remove the link or choose another output name") from None
        target = Path(os.path.realpath(out))
    else:
        st = st_link
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"output {out} is a folder", "give a file name such as out.mp4")
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(
            f"output {out} exists and is {_kind(st.st_mode)}; only a new file or an existing regular file is replaced",
            "give the path of a new video file, e.g. -o clip.stab.mp4",
        )
    if not (st.st_mode & 0o222) or not os.access(target, os.W_OK):
        raise OutputError(f"output {out} is a read-only file", "choose another output name, or make it writable (chmod u+w)")
    return target


def check_output_path(output: str | os.PathLike, *inputs: str | os.PathLike) -> Path:
    """Validate an output path before any work is done; return the path to write.

    The extension names a supported container; the output is not one of the inputs; an
    existing output is a writable regular file (a device, FIFO, socket, folder or read-only
    file is never replaced; a symlink to a regular file is followed); its folder exists and is
    writable.
    """
    out = Path(output)
    try:
        for src in inputs:
            if src is None:
                continue
            src_p = Path(src)
            if os.path.realpath(out) == os.path.realpath(src_p) or (
                    out.exists() and src_p.exists() and os.path.samefile(out, src_p)):
                raise OutputError(
                    f"output {out} is the same file as input {src_p}",
                    "choose another output name: inputs are never overwritten",
                )
    except OSError as exc:
        raise OutputError(f"cannot use output path {out}: {exc.strerror}",
                          "choose a shorter or plainer output path") from None
    target = _check_target(out)
    container_format(out)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"output folder {parent} does not exist", "create it or choose another output path")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output folder {parent} is not writable", "choose a folder you can write to")
    return out if target == out else target


#: x264's rc-lookahead per preset (frames), and the memory its queue may take [bytes].
_X264_LOOKAHEAD = {"ultrafast": 0, "superfast": 0, "veryfast": 10, "faster": 20, "fast": 30, "medium": 40,
                   "slow": 50, "slower": 60, "veryslow": 60, "placebo": 60}
_LOOKAHEAD_BUDGET_BYTES = 100e6


def _capped_lookahead(default: int, least: int, bytes_per_px: float, width_px: int, height_px: int) -> int:
    """An encoder's lookahead [frames]: ``default``, capped so its frames (``bytes_per_px``
    each pixel) stay near :data:`_LOOKAHEAD_BUDGET_BYTES`, never below ``least``."""
    cap = max(least, int(_LOOKAHEAD_BUDGET_BYTES / (bytes_per_px * max(1, width_px * height_px))))
    return min(default, cap)


def x264_lookahead(preset: str, width_px: int, height_px: int, deep: bool = False) -> int:
    """x264 rate-control lookahead [frames]: the preset's, capped so the queue stays near 100 MB.

    x264 keeps every lookahead frame in full (about 3 bytes per pixel with its half-resolution
    planes and macroblock-tree data; 8 -> 4 frames of 4K measured 100 MB less): 40 frames of
    4K (medium's default) are 1.2 GB, most of what a 4K run used (plain ffmpeg at 4K medium:
    1.7 GB). The cap keeps 36 frames at 1280x720, 16 at 1080p and 4 at 4K. Measured
    (docs/BENCHMARKS.md): a 4K medium render peaks at 1164 MiB with 8 frames and x264's
    threaded lookahead, 977 MiB with 4 and none (:func:`x264_params`), at the same speed; 60
    4K frames at CRF 18 made a 3.6 % smaller file at SSIM 0.9933 against 0.9935; a 6 s 1080p
    render took the same time with 16 frames as with 32 (12.5-12.9 s). ``deep`` (a 10-bit
    encode, 16-bit samples inside x264): twice the bytes per frame, half the frames.
    """
    return _capped_lookahead(_X264_LOOKAHEAD.get(preset, 40), 4, 6.0 if deep else 3.0, width_px, height_px)


def x264_params(preset: str, width_px: int, height_px: int, deep: bool = False) -> str | None:
    """``x264-params`` where the lookahead is capped: ``sync-lookahead=0``, no threaded
    lookahead buffer (its frames come on top of the lookahead's: 80 MB at 4K, and no slower
    on 2 cores); None where the preset's lookahead is kept (x264's defaults)."""
    if x264_lookahead(preset, width_px, height_px, deep) < _X264_LOOKAHEAD.get(preset, 40):
        return "sync-lookahead=0"
    return None


#: x265's (rc-lookahead, bframes) per preset (its documented defaults)
_X265_LOOKAHEAD = {"ultrafast": (5, 3), "superfast": (10, 3), "veryfast": (15, 4), "faster": (15, 4),
                   "fast": (15, 4), "medium": (20, 4), "slow": (25, 4), "slower": (40, 8), "veryslow": (40, 8),
                   "placebo": (60, 8)}


def x265_lookahead(preset: str, width_px: int, height_px: int, deep: bool = False) -> int:
    """x265 rc-lookahead [frames]: the preset's, capped like x264's (:func:`x264_lookahead`) so
    its queue stays near 100 MB, and longer than the preset's B-frame run. Measured on a 3 s
    4K 10-bit clip with plain ffmpeg (libx265 medium, CRF 23): 20 frames peaked at 2.53 GB,
    5 frames at 1.74 GB (~53 MB a frame: ~6.3 bytes a pixel at 10 bits, taken as 3.2 at 8),
    and encoded faster (29 against 35 s), the file 11 % smaller at the same CRF."""
    default, bframes = _X265_LOOKAHEAD.get(preset, (20, 4))
    return _capped_lookahead(default, bframes + 1, 6.3 if deep else 3.2, width_px, height_px)


#: ``--codec`` names: (software encoder, hardware encoders tried first with ``hw_encode``).
CODECS = {
    "h264": ("libx264", ("h264_nvenc", "h264_qsv", "h264_amf")),
    "hevc": ("libx265", ("hevc_nvenc", "hevc_qsv", "hevc_amf")),
    "av1": ("libsvtav1", ("av1_nvenc", "av1_qsv", "av1_amf")),
    "vp9": ("libvpx-vp9", ()),
    "prores": ("prores_ks", ()),
    "ffv1": ("ffv1", ()),
}

_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")


def encoder_options(encoder: str, crf: int, preset: str, width_px: int, height_px: int, deep: bool = False,
                    repeatable: bool = False) -> dict:
    """FFmpeg options for ``encoder`` from the x264-scale ``crf`` (0..51) and x264 ``preset``.

    The quality is mapped so that one ``--crf`` means about the same picture everywhere:
    x265 CRF = x264 CRF + 5 (x265's 28 ~ x264's 23); AV1 / VP9 CRF (0..63) = 1.2 CRF + 8
    (x264 18 -> 30, 23 -> 36, SVT-AV1's default 35); ProRes profile HQ up to CRF 20, standard
    up to 30, else LT; NVENC constant quality ``cq`` = CRF, QSV ``global_quality`` = CRF, AMF
    constant QP = CRF. FFV1 is lossless. The preset maps to each encoder's speed scale. x264's
    and x265's rate-control lookahead is capped by frame size (and ``deep``: a 10-bit encode)
    so their frame queues stay near 100 MB (:func:`x264_lookahead`, :func:`x265_lookahead`).
    ``repeatable``: x264 without its macroblock tree (``mbtree=0``), so the same frames give the
    same bytes on every run (:class:`VideoWriter`'s ``repeatable``).
    """
    k = _PRESETS.index(preset) if preset in _PRESETS else 5
    crf = int(crf)
    if encoder == "libx264":
        opts = {"crf": str(crf), "preset": preset,
                "rc-lookahead": str(x264_lookahead(preset, width_px, height_px, deep))}
        params = x264_params(preset, width_px, height_px, deep)
        if repeatable:
            params = "mbtree=0" if params is None else params + ":mbtree=0"
        return opts if params is None else {**opts, "x264-params": params}
    if encoder == "libx265":
        params = "log-level=error"
        lookahead = x265_lookahead(preset, width_px, height_px, deep)
        if lookahead < _X265_LOOKAHEAD.get(preset, (20, 4))[0]:
            params += f":rc-lookahead={lookahead}"
        return {"crf": str(min(51, crf + 5)), "preset": preset, "x265-params": params}
    q63 = str(int(min(63, round(1.2 * crf + 8))))
    if encoder == "libsvtav1":
        return {"crf": q63, "preset": str(max(0, min(13, 12 - k)))}
    if encoder == "libvpx-vp9":
        return {"crf": q63, "b": "0", "deadline": "good", "cpu-used": str(max(0, min(8, 8 - k))), "row-mt": "1"}
    if encoder == "prores_ks":
        return {"profile": "3" if crf <= 20 else "2" if crf <= 30 else "1", "vendor": "apl0"}
    if encoder == "ffv1":
        return {"level": "3", "slices": "16", "slicecrc": "1"}
    if encoder.endswith("_nvenc"):
        return {"preset": f"p{1 + round(k * 6 / 9)}", "rc": "vbr", "cq": str(crf), "b": "0"}
    if encoder.endswith("_qsv"):
        return {"global_quality": str(crf), "preset": {0: "veryfast", 1: "veryfast", 2: "veryfast", 3: "faster", 4: "fast",
                                                       5: "medium", 6: "slow", 7: "slower"}.get(k, "veryslow")}
    if encoder.endswith("_amf"):
        return {"rc": "cqp", "qp_i": str(crf), "qp_p": str(crf), "qp_b": str(crf)}
    return {}


_PIX_FMT_CACHE: dict = {}


def chroma_layout(pix_fmt: str) -> str:
    """``'420'``, ``'422'`` or ``'444'``: how a YUV pixel format samples colour. RGB, grey and
    unknown formats give ``'420'``: an RGB source (a screen capture, a PNG sequence) is written
    as 4:2:0 YUV, which every player decodes."""
    try:
        fmt = av.VideoFormat(str(pix_fmt), 16, 16)
    except Exception:  # noqa: BLE001 - a format this FFmpeg does not name
        return "420"
    comps = fmt.components
    if len(comps) < 3 or fmt.is_rgb:
        return "420"
    w, h = comps[1].width, comps[1].height
    return "444" if (w, h) == (16, 16) else "422" if (w, h) == (8, 16) else "420"


def _encoder_pix_fmt(encoder: str, deep: bool, chroma: str = "420") -> str:
    """The pixel format fed to ``encoder``: the source's colour sampling (``chroma``: 4:2:0,
    4:2:2 or 4:4:4) and depth (10-bit for a ``deep`` source) where the encoder takes them, else
    10-bit 4:2:0 for a deep source, else 8-bit 4:2:0; ProRes is 10-bit 4:2:2, or 4:4:4 from a
    4:4:4 source."""
    key = (encoder, deep, chroma)
    if key not in _PIX_FMT_CACHE:
        try:
            fmts = [f.name for f in (av.codec.Codec(encoder, "w").video_formats or [])]
        except Exception:  # noqa: BLE001 - unknown encoder: let opening it say so
            fmts = []
        same = [] if chroma == "420" else ([f"yuv{chroma}p10le"] if deep else []) + [f"yuv{chroma}p"]
        if encoder == "prores_ks":
            same = ["yuv444p10le"] if chroma == "444" else []
        wanted = same + (["yuv420p10le", "p010le", "yuv422p10le"] if deep else []) + ["yuv420p", "nv12", "yuv422p10le"]
        _PIX_FMT_CACHE[key] = next((f for f in wanted if f in fmts), "yuv420p")
    return _PIX_FMT_CACHE[key]


_WORKS_CACHE: dict = {}


def encoder_works(encoder: str) -> bool:
    """Whether ``encoder`` is in this FFmpeg build *and* opens here (a hardware encoder needs its
    device and driver): one 64x64 frame is encoded in memory. Cached per process."""
    if encoder not in _WORKS_CACHE:
        ok = False
        try:
            ctx = av.codec.CodecContext.create(encoder, "w")
            ctx.width, ctx.height, ctx.pix_fmt = 256, 256, _encoder_pix_fmt(encoder, False)
            ctx.time_base = Fraction(1, 30)
            ctx.open()
            frame = av.VideoFrame(256, 256, ctx.pix_fmt)
            frame.pts = 0
            ctx.encode(frame)
            ctx.encode(None)
            ok = True
        except Exception:  # noqa: BLE001 - any failure means "not usable here"
            ok = False
        _WORKS_CACHE[encoder] = ok
    return _WORKS_CACHE[encoder]


def pick_encoder(codec: str, hw_encode: bool = False) -> tuple[str, str | None]:
    """``(encoder, note)`` for a ``--codec`` name (or an FFmpeg encoder name such as
    ``h264_nvenc``). With ``hw_encode`` the codec's hardware encoders are tried first (the first
    that opens here is used); the note says when none did and the software encoder is used."""
    if codec not in CODECS:
        return codec, None
    software, hardware = CODECS[codec]
    if hw_encode:
        for name in hardware:
            if encoder_works(name):
                return name, None
        if hardware:
            return software, f"no hardware {codec} encoder works here ({', '.join(hardware)} tried); {software} was used"
    return software, None


#: codecs each output container stores (checked by writing a short clip of each)
CONTAINER_CODECS = {"mp4": ("h264", "hevc", "av1", "vp9"), "mov": ("h264", "hevc", "prores", "av1"),
                    "matroska": ("h264", "hevc", "av1", "vp9", "prores", "ffv1")}


def check_codec(codec: str, output: str | os.PathLike, hw_encode: bool = False) -> str:
    """The encoder that will write ``output`` with ``codec``; :class:`OutputError` when this
    FFmpeg has no such encoder or the output's container cannot hold the codec."""
    encoder, _ = pick_encoder(codec, hw_encode)
    try:
        codec_name = av.codec.Codec(encoder, "w").canonical_name
    except Exception:  # noqa: BLE001 - not in this FFmpeg build
        raise OutputError(f"encoder {encoder!r} is not in this FFmpeg build",
                          f"use --codec {' | '.join(CODECS)}") from None
    fmt = container_format(output)
    if codec_name not in CONTAINER_CODECS.get(fmt, (codec_name,)):
        holders = [ext for ext, f in OUTPUT_EXTENSIONS.items() if codec_name in CONTAINER_CODECS.get(f, ())]
        raise OutputError(f"a {Path(output).suffix} file cannot hold {codec_name} video",
                          f"name the output {' or '.join(sorted(set(holders)))}, or use another --codec")
    return encoder


def _write_error(output: Path, exc: BaseException) -> OutputError:
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(f"no space left on the device while writing {output}",
                           "free some disk space or write to another folder; nothing was left behind")
    if code == errno.EFBIG:
        return OutputError(f"{output} grew beyond the largest file this file system allows",
                           "write to another file system (e.g. not FAT32)")
    reason = getattr(exc, "strerror", None) or str(exc)
    return OutputError(f"writing {output} failed: {reason}", "check free disk space and permissions of the output folder")


def _can_hold(fmt: str, template) -> bool:
    """Whether the muxer ``fmt`` accepts a stream copied from ``template`` (a dry run in memory)."""
    try:
        with av.open(io.BytesIO(), "w", format=fmt) as probe:
            vs = probe.add_stream("mpeg4", rate=25)
            vs.width, vs.height, vs.pix_fmt = 16, 16, "yuv420p"
            probe.add_stream_from_template(template)
            probe.start_encoding()
        return True
    except Exception:  # noqa: BLE001 - any refusal means "cannot hold"
        return False


class VideoWriter:
    """H.264 writer that keeps the source's timestamps, audio, data tracks and rotation.

    Use as a context manager. Frames are written to a temporary file in the output folder;
    on a clean exit it is renamed to ``output``; on an exception (including Ctrl-C and the
    signals the CLI turns into :class:`~fusedstab.errors.Interrupted`) it is deleted. A full
    disk or an output that cannot be renamed into place raises :class:`OutputError`, with the
    temporary file removed.

    Parameters
    ----------
    output : target path; its extension picks the container (``.mp4``/``.m4v`` MP4, ``.mov``
        QuickTime, ``.mkv`` Matroska).
    info : the source's :class:`VideoInfo` (time base, pts, rate, rotation).
    width_px, height_px : output frame size.
    copy_audio_from : file whose audio tracks (all of them, with their tags), subtitle tracks and data tracks
        (timecode, camera metadata) are copied packet by packet; a track the container cannot
        hold is left out and named in :attr:`notes`.
    crf : quality on x264's constant-rate-factor scale (lower is better), mapped per codec
        (:func:`encoder_options`).
    preset : x264 speed preset, mapped per codec.
    codec : ``h264`` (default), ``hevc``, ``av1``, ``vp9``, ``prores``, ``ffv1`` (:data:`CODECS`)
        or an FFmpeg encoder name (``h264_nvenc``).
    hw_encode : try the codec's hardware encoders first (NVENC, QSV, AMF); the software encoder
        is used (and named in :attr:`notes`) when none opens.
    deep : frames are 16-bit (``uint16``) BGR from a source with more than 8 bits per sample:
        encoded as 10-bit where the encoder takes it.
    color : the source's colour tags (:attr:`VideoInfo.color`; default: the ``info``'s). The
        output carries them (range, primaries, transfer, matrix) and is converted to YUV with
        that matrix and range; an untagged source is written as limited-range BT.601, as
        FFmpeg reads it.
    threads : encoder threads; 0 = the encoder's choice (frame threads, fastest), 1 = one.
    repeatable : the same frames give the same bytes on every run (x264: ``mbtree=0``). x264's
        macroblock tree reads memory it has not written: with it, one 320x180 clip encoded
        with one thread came out different in most fresh processes and between encodes in one
        process (up to 56 levels on a pixel), and the same every time when glibc's
        ``MALLOC_PERTURB_`` filled the heap; without it, the same bytes in every run
        (2026-12-07, PyAV 18.1's libx264; plain PyAV frames, no fusedstab code, do the same).
        Off by default: the tree saves bitrate, and any run's frames are as good. The
        simulator writes its clips repeatable, so tests read the same pixels every run.
    copy_video : copy the source's video packets as they are (no decoding, no encoding: the
        output's frames are the input's, bit for bit) with its audio and data tracks; call
        :meth:`copy_all` instead of :meth:`write`. Only where :meth:`can_copy_video` says so.
    """

    def __init__(
        self,
        output: str | os.PathLike,
        info: VideoInfo,
        width_px: int,
        height_px: int,
        *,
        copy_audio_from: str | os.PathLike | None = None,
        crf: int = 18,
        preset: str = "medium",
        codec: str = "h264",
        hw_encode: bool = False,
        deep: bool = False,
        color: dict | None = None,
        threads: int = 0,
        copy_video: bool = False,
        repeatable: bool = False,
    ):
        self.threads = int(threads)
        self.repeatable = bool(repeatable)
        self.copy_video = bool(copy_video)
        self.output = Path(output)
        self.format = container_format(self.output)
        self.info = info
        self.copy_audio_from = copy_audio_from
        self.crf = crf
        self.preset = preset
        self.notes: list[str] = []
        self._tmp: Path | None = None
        self._container = None
        self._copy_in = None
        self._copy_iter = None
        self._copy_map: dict = {}
        self._pending = None
        self._frames_written = 0
        self.codec = codec
        self.hw_encode = hw_encode
        self.deep = bool(deep)
        self.color = dict(color) if color is not None else dict(getattr(info, "color", {}) or {})
        self.encoder, note = pick_encoder(codec, hw_encode)
        if note:
            self.notes.append(note)
        check_codec(self.encoder, self.output)
        self.codec_name = av.codec.Codec(self.encoder, "w").canonical_name
        self.pix_fmt = _encoder_pix_fmt(self.encoder, self.deep, chroma_layout(info.pix_fmt))
        self.bit_depth = 10 if "10" in self.pix_fmt else 8
        # a subsampled chroma plane needs an even size along it (4:2:0 both, 4:2:2 across);
        # 4:4:4 keeps an odd size as it is
        sub_w, sub_h = {"444": (1, 1), "422": (2, 1)}.get(chroma_layout(self.pix_fmt), (2, 2))
        self.width_px = int(width_px) // sub_w * sub_w
        self.height_px = int(height_px) // sub_h * sub_h

    def __enter__(self) -> "VideoWriter":
        target = _check_target(self.output)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".partial{target.suffix}",
                                       dir=target.parent or ".")
        except OSError as exc:
            raise OutputError(f"cannot write into {target.parent}: {exc.strerror}", "choose a writable output folder") from None
        self._tmp = Path(tmp)
        try:
            os.close(fd)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the output should be an ordinary file
            options = {}
            tags = {}
            if self.copy_audio_from is not None or self.copy_video:
                self._open_copy_source()
                tags = carried_tags(dict(self._copy_in.metadata))
            if self.info.capture_fps:
                tags[CAPTURE_FPS_TAGS[0]] = f"{self.info.capture_fps:.6f}"
            if self.format in ("mp4", "mov") and any(k.lower() not in _MOV_NATIVE_TAGS for k in tags):
                # a slow-motion clip's capture rate, a phone's place and make: players and galleries read them
                options["movflags"] = "use_metadata_tags"
            self._container = av.open(str(self._tmp), "w", format=self.format, options=options)
            for key, value in tags.items():
                self._container.metadata[key] = value
            if self.copy_video:
                self._add_copied_video_stream()
            else:
                self._add_video_stream()
            if self.copy_audio_from is not None or self.copy_video:
                self._add_copied_streams()
        except BaseException as exc:
            self._abort()
            if isinstance(exc, (av.error.FFmpegError, OSError)):
                raise OutputError(f"cannot write {self.output}: {exc}", "choose a writable output path") from None
            raise
        return self

    def _add_video_stream(self) -> None:
        rate = Fraction(self.info.fps).limit_denominator(100000)
        vs = self._container.add_stream(self.encoder, rate=rate)
        vs.width = self.width_px
        vs.height = self.height_px
        vs.pix_fmt = self.pix_fmt
        vs.time_base = self.info.time_base
        cc = vs.codec_context
        cc.time_base = self.info.time_base
        # frame threads as the ffmpeg CLI uses them (PyAV's default, slice threads, makes x264
        # slower and blocks the caller for the whole frame)
        cc.thread_type = "AUTO"
        cc.thread_count = self.threads  # 0 = as many as the encoder likes; 1 = one (see ``threads``)
        vs.options = encoder_options(self.encoder, self.crf, self.preset, self.width_px, self.height_px,
                                     deep=self.deep, repeatable=self.repeatable)
        if self.encoder == "prores_ks" and self.pix_fmt.startswith("yuv444"):
            vs.options = {**vs.options, "profile": "4"}  # ProRes 4444 (HQ and below are 4:2:2 profiles)
        if self.codec_name == "hevc" and self.format in ("mp4", "mov"):
            cc.codec_tag = "hvc1"  # what Apple players expect
        col = self.color
        matrix, rng = int(col.get("matrix", 2) or 2), int(col.get("range", 0) or 0)
        # the OpenCV path (BT.601 limited, exact on greys) unless the source says otherwise
        self._plain = (not self.deep and self.pix_fmt == "yuv420p" and matrix in (2, 5, 6) and rng in (0, 1))
        self._matrix = matrix if matrix in _SWS_MATRIX else 5
        self._range = 2 if rng == 2 and self.codec_name != "prores" else 1  # ProRes is limited range only
        cc.colorspace = self._matrix if matrix != 2 or not self._plain else 5
        cc.color_range = self._range
        if int(col.get("primaries", 2) or 2) != 2:
            cc.color_primaries = int(col["primaries"])
        if int(col.get("transfer", 2) or 2) != 2:
            cc.color_trc = int(col["transfer"])
        if self.info.rotation_deg:
            vs.set_display_rotation(self.info.rotation_deg)
        if self.info.sample_aspect != 1:
            cc.sample_aspect_ratio = self.info.sample_aspect
        self._vs = vs

    def can_copy_video(self) -> bool:
        """Whether the source's video stream can be copied as it is into this output: the
        same codec as the one asked for (``codec``), in a container that holds it."""
        try:
            with av.open(str(self.info.path)) as src:
                vs = src.streams.video[0]
                return vs.codec_context.name == self.codec_name and _can_hold(self.format, vs)
        except Exception:  # noqa: BLE001 - anything odd: re-encode instead
            return False

    def _open_copy_source(self) -> None:
        if self._copy_in is not None:
            return
        src = self.info.path if self.copy_video else self.copy_audio_from
        try:
            self._copy_in = av.open(str(src))
        except (av.error.FFmpegError, OSError) as exc:
            raise InputError(f"cannot read the audio of {src}: {exc}", "check the input file") from None

    def _add_copied_video_stream(self) -> None:
        self._open_copy_source()
        src = self._copy_in.streams.video[0]
        vs = self._container.add_stream_from_template(src)
        vs.time_base = src.time_base
        if self.info.rotation_deg:
            vs.set_display_rotation(self.info.rotation_deg)
        self._copy_map[src.index] = vs
        self._vs = vs

    def copy_all(self) -> None:
        """Copy every packet of the source (video, audio, data tracks) into the output, in the
        source's order (``copy_video`` mode)."""
        try:
            self._mux_copied_until(None)
        except (av.error.FFmpegError, OSError) as exc:
            raise _write_error(self.output, exc) from None
        self._frames_written = self.info.frame_count

    def _add_copied_streams(self) -> None:
        self._open_copy_source()
        streams = self._copy_in.streams
        for s in list(streams.video)[1:]:  # a second angle, a preview, a cover picture
            name = s.codec_context.name if s.codec_context else "video"
            self.notes.append(f"video track {s.index} ({name}) was left out: the first video track is the one "
                              "stabilized and written")
        for s in list(streams.audio) + list(streams.subtitles) + list(streams.data):
            label = f"{s.type} track {s.index} ({s.codec_context.name if s.codec_context else s.metadata.get('handler_name', '').strip() or 'data'})"
            if s.type == "data" and s.name is None:
                if s.metadata.get("timecode"):  # a timecode track: the muxer rebuilds it from the tag
                    self._vs.metadata["timecode"] = s.metadata["timecode"]
                else:
                    self.notes.append(f"{label} has a data format FFmpeg cannot copy and was left out")
                continue
            if not _can_hold(self.format, s):
                alt = next((f" (a {ext} output keeps it)" for fmt, ext in (("mov", ".mov"), ("matroska", ".mkv"))
                            if fmt != self.format and _can_hold(fmt, s)), "")
                self.notes.append(f"{label} cannot be stored in a {self.output.suffix} file and was left out{alt}")
                continue
            if (s.type == "audio" and self.format == "mp4" and s.codec_context is not None
                    and s.codec_context.name.startswith("pcm_")):
                self.notes.append(f"{label} is stored as MP4 'ipcm' audio, which many players and older FFmpeg "
                                  "cannot read (FFmpeg 5.1 plays 24-bit as noise); a .mov output keeps it as the "
                                  "camera wrote it")
            out = self._container.add_stream_from_template(s)
            for key, value in s.metadata.items():
                if key not in ("creation_time", "encoder"):
                    out.metadata[key] = value
            self._copy_map[s.index] = out
        if self._copy_map:
            wanted = [s for s in self._copy_in.streams if s.index in self._copy_map]
            self._copy_iter = self._copy_in.demux(*wanted)

    def _mux_copied_until(self, t_s: float | None) -> None:
        if self._copy_iter is None:
            return
        while True:
            pkt = self._pending
            if pkt is None:
                try:
                    pkt = next(self._copy_iter)
                except StopIteration:
                    self._copy_iter = None
                    return
            if pkt.dts is None or pkt.stream.index not in self._copy_map:
                self._pending = None
                continue
            pkt_t = float(pkt.pts * pkt.time_base) if pkt.pts is not None else 0.0
            if t_s is not None and pkt_t > t_s:
                self._pending = pkt
                return
            self._pending = None
            pkt.stream = self._copy_map[pkt.stream.index]
            self._container.mux(pkt)

    def takes_planar(self) -> bool:
        """Whether :meth:`write_planar` can take the source's own 4:2:0 planes: an 8-bit 4:2:0
        encoder format, the source's size (even) and a source range and matrix that this
        writer tags the output with unchanged (so the values mean what they meant)."""
        info = self.info
        wanted = PLANAR_420_10 if self.deep else "yuv420p"
        if self.pix_fmt != wanted or not planar_source(info) or (info.pix_fmt == PLANAR_420_10) != self.deep:
            return False
        if (self.width_px, self.height_px) != (info.width_px, info.height_px):
            return False
        matrix = int(self.color.get("matrix", 2) or 2)
        return info.full_range == (self._range == 2) and (matrix == 2 or matrix == self._matrix)

    def planar_frame(self):
        """``(frame, (Y, U, V))``: a new ``yuv420p`` (``yuv420p10le`` for a 10-bit encode) frame
        of the output's size and its planes as writable views (:func:`yuv420_planes`), to be
        filled and given to :meth:`write_planar`."""
        frame = av.VideoFrame(self.width_px, self.height_px, self.pix_fmt)
        return frame, yuv420_planes(frame)

    def write_planar(self, yuv, pts: int) -> None:
        """Encode one frame given as 4:2:0 planes in the source's range and matrix (only where
        :meth:`takes_planar`): (H * 3 / 2, W) uint8 (Y, U, V), or a frame from :meth:`planar_frame`."""
        if isinstance(yuv, av.VideoFrame):
            frame = yuv
        else:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(yuv), format=self.pix_fmt)
        frame.colorspace = self._vs.codec_context.colorspace
        frame.color_range = self._range
        self._encode(frame, pts)

    def write(self, frame_bgr: np.ndarray, pts: int) -> None:
        """Encode one (H, W, 3) uint8 BGR frame with presentation timestamp ``pts``."""
        h, w = self.height_px, self.width_px
        if frame_bgr.shape[0] != h or frame_bgr.shape[1] != w:
            frame_bgr = np.ascontiguousarray(frame_bgr[:h, :w])
        if self._plain:
            # OpenCV's BGR -> I420 (BT.601, limited range, rounded) is exact on greys, unlike
            # swscale's default fast path, which darkens every frame by 2-5 levels.
            yuv = cv2.cvtColor(np.ascontiguousarray(frame_bgr), cv2.COLOR_BGR2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.colorspace = av.video.reformatter.Colorspace.ITU601
            frame.color_range = av.video.reformatter.ColorRange.MPEG
        else:
            from av.video.reformatter import Interpolation

            src = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_bgr),
                                             format="bgr48le" if frame_bgr.dtype == np.uint16 else "bgr24")
            frame = src.reformat(format=self.pix_fmt, dst_colorspace=_SWS_MATRIX[self._matrix],
                                 src_color_range="JPEG", dst_color_range="JPEG" if self._range == 2 else "MPEG",
                                 interpolation=Interpolation.BILINEAR | Interpolation.ACCURATE_RND)
            frame.colorspace = self._matrix
            frame.color_range = self._range
        self._encode(frame, pts)

    def _encode(self, frame, pts: int) -> None:
        frame.pts = int(pts)
        frame.time_base = self.info.time_base
        # some encoders (ProRes) write each frame's tags, not the stream's
        frame.color_primaries = self._vs.codec_context.color_primaries
        frame.color_trc = self._vs.codec_context.color_trc
        try:
            self._mux_copied_until(float((pts - self.info.pts[0]) * self.info.time_base))
            for packet in self._vs.encode(frame):
                self._container.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            raise _write_error(self.output, exc) from None
        self._frames_written += 1

    def _abort(self) -> None:
        """Close everything and delete the temporary file (after a failure)."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the original problem matters, not this one
                pass
            self._container = None
        self._cleanup()

    def _cleanup(self) -> None:
        if self._copy_in is not None:
            self._copy_in.close()
            self._copy_in = None
        if self._tmp is not None:
            try:
                self._tmp.unlink()
            except FileNotFoundError:
                pass
            self._tmp = None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abort()
            return
        try:
            if not self.copy_video:
                for packet in self._vs.encode(None):
                    self._container.mux(packet)
            self._mux_copied_until(None)
            self._container.close()
            self._container = None
        except BaseException as err:
            self._abort()
            if isinstance(err, (av.error.FFmpegError, OSError)):
                raise _write_error(self.output, err) from None
            raise
        try:
            target = _check_target(self.output)  # it may have changed during the run
            os.replace(self._tmp, target)
        except BaseException as err:
            self._abort()
            if isinstance(err, OSError):
                raise OutputError(
                    f"the finished video could not be moved into place at {self.output}: {err.strerror or err}",
                    "check that the output is not a folder, busy or protected (chattr -i), or choose another name",
                ) from None
            raise
        self._tmp = None
        self._cleanup()
