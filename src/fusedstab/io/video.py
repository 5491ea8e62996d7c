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
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from ..errors import InputError, OutputError
from ..validation import OUTPUT_EXTENSIONS

__all__ = ["VideoInfo", "probe_video", "iter_frames", "prefetch", "VideoWriter", "check_output_path",
           "container_format"]


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

    @property
    def frame_count(self) -> int:
        return int(len(self.pts))

    @property
    def duration_s(self) -> float:
        if self.frame_count == 0:
            return 0.0
        return float(self.frame_times_s[-1] + 1.0 / self.fps)

    @property
    def frame_period_s(self) -> float:
        return 1.0 / self.fps

    def as_dict(self) -> dict:
        return {
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
        }


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
            raise InputError(f"{path} has no video stream", "give a video file")
        vs = container.streams.video[0]
        pts_list = []
        for packet in container.demux(vs):
            if packet.pts is not None and packet.size > 0:
                pts_list.append(packet.pts)
        if not pts_list:
            raise InputError(f"{path} has no video frames", "give a video with frames")
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
        try:
            container.seek(0)
            first = next(container.decode(video=0))
            rotation = int(round(getattr(first, "rotation", 0) or 0))
        except (StopIteration, av.error.FFmpegError):
            rotation = 0
        audio = container.streams.audio[0] if container.streams.audio else None
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
        )
    except av.error.FFmpegError as exc:
        raise InputError(f"cannot read {path}: {exc}", "check that the file is a complete video") from None
    finally:
        container.close()


def iter_frames(path: str | os.PathLike) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(pts, frame_bgr)`` for every frame in presentation order.

    ``frame_bgr`` is (H, W, 3) uint8 in the coded orientation (display rotation not applied:
    the writer keeps the rotation as metadata instead).
    """
    container = _open(Path(path))
    try:
        for frame in container.decode(video=0):
            yield int(frame.pts if frame.pts is not None else 0), frame.to_ndarray(format="bgr24")
    except av.error.FFmpegError as exc:
        raise InputError(f"decoding {path} failed: {exc}", "check that the file is not truncated") from None
    finally:
        container.close()


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
_LOOKAHEAD_BUDGET_BYTES = 300e6


def x264_lookahead(preset: str, width_px: int, height_px: int) -> int:
    """x264 rate-control lookahead [frames]: the preset's, capped so the queue stays near 300 MB.

    x264 keeps every lookahead frame in full (about 3 bytes per pixel with its half-resolution
    planes and macroblock-tree data): 40 frames of 4K (medium's default) are 1.2 GB, most of
    what a 4K run used. The cap changes nothing up to about 1600x900 and keeps 12 frames at 4K.
    """
    default = _X264_LOOKAHEAD.get(preset, 40)
    cap = max(8, int(_LOOKAHEAD_BUDGET_BYTES / (3.0 * max(1, width_px * height_px))))
    return min(default, cap)


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
    copy_audio_from : file whose audio tracks (all of them, with their tags) and data tracks
        (timecode, camera metadata) are copied packet by packet; a track the container cannot
        hold is left out and named in :attr:`notes`.
    crf : x264 constant rate factor (lower is better quality).
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
    ):
        self.output = Path(output)
        self.format = container_format(self.output)
        self.info = info
        self.width_px = int(width_px) // 2 * 2
        self.height_px = int(height_px) // 2 * 2
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
            self._container = av.open(str(self._tmp), "w", format=self.format)
            self._add_video_stream()
            if self.copy_audio_from is not None:
                self._add_copied_streams()
        except BaseException as exc:
            self._abort()
            if isinstance(exc, (av.error.FFmpegError, OSError)):
                raise OutputError(f"cannot write {self.output}: {exc}", "choose a writable output path") from None
            raise
        return self

    def _add_video_stream(self) -> None:
        rate = Fraction(self.info.fps).limit_denominator(100000)
        vs = self._container.add_stream("libx264", rate=rate)
        vs.width = self.width_px
        vs.height = self.height_px
        vs.pix_fmt = "yuv420p"
        vs.time_base = self.info.time_base
        vs.codec_context.time_base = self.info.time_base
        vs.options = {"crf": str(self.crf), "preset": self.preset,
                      "rc-lookahead": str(x264_lookahead(self.preset, self.width_px, self.height_px))}
        vs.codec_context.colorspace = av.video.reformatter.Colorspace.ITU601
        vs.codec_context.color_range = av.video.reformatter.ColorRange.MPEG
        if self.info.rotation_deg:
            vs.set_display_rotation(self.info.rotation_deg)
        self._vs = vs

    def _add_copied_streams(self) -> None:
        try:
            self._copy_in = av.open(str(self.copy_audio_from))
        except (av.error.FFmpegError, OSError) as exc:
            raise InputError(f"cannot read the audio of {self.copy_audio_from}: {exc}", "check the input file") from None
        for s in list(self._copy_in.streams.audio) + list(self._copy_in.streams.data):
            label = f"{s.type} track {s.index} ({s.codec_context.name if s.codec_context else s.metadata.get('handler_name', '').strip() or 'data'})"
            if s.type == "data" and s.name is None:
                if s.metadata.get("timecode"):  # a timecode track: the muxer rebuilds it from the tag
                    self._vs.metadata["timecode"] = s.metadata["timecode"]
                else:
                    self.notes.append(f"{label} has a data format FFmpeg cannot copy and was left out")
                continue
            if not _can_hold(self.format, s):
                alt = " (a .mov output keeps it)" if self.format != "mov" and _can_hold("mov", s) else ""
                self.notes.append(f"{label} cannot be stored in a {self.output.suffix} file and was left out{alt}")
                continue
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

    def write(self, frame_bgr: np.ndarray, pts: int) -> None:
        """Encode one (H, W, 3) uint8 BGR frame with presentation timestamp ``pts``."""
        h, w = self.height_px, self.width_px
        if frame_bgr.shape[0] != h or frame_bgr.shape[1] != w:
            frame_bgr = np.ascontiguousarray(frame_bgr[:h, :w])
        # OpenCV's BGR -> I420 (BT.601, limited range, rounded) is exact on greys, unlike
        # swscale's default fast path, which darkens every frame by 2-5 levels.
        yuv = cv2.cvtColor(np.ascontiguousarray(frame_bgr), cv2.COLOR_BGR2YUV_I420)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.colorspace = av.video.reformatter.Colorspace.ITU601
        frame.color_range = av.video.reformatter.ColorRange.MPEG
        frame.pts = int(pts)
        frame.time_base = self.info.time_base
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
