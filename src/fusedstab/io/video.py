"""Video in and out through PyAV (FFmpeg).

Frames are streamed: nothing here holds more than a few frames in memory. Every frame keeps
its presentation timestamp; the writer reuses the input's time base and pts, copies audio
packets unchanged and keeps the display rotation. Output goes to a temporary file beside the
target and is renamed into place only when everything succeeded.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from ..errors import InputError, OutputError

__all__ = ["VideoInfo", "probe_video", "iter_frames", "prefetch", "VideoWriter", "check_output_path"]


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
            "data_streams": list(self.data_streams),
        }


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise InputError(f"video file not found: {path}", "check the path")
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


def check_output_path(output: str | os.PathLike, *inputs: str | os.PathLike) -> Path:
    """Validate an output path: not one of the inputs, its folder exists and is writable."""
    out = Path(output)
    for src in inputs:
        if src is None:
            continue
        src_p = Path(src)
        if out.resolve() == src_p.resolve() or (out.exists() and src_p.exists() and os.path.samefile(out, src_p)):
            raise OutputError(
                f"output {out} is the same file as input {src_p}",
                "choose another output name: inputs are never overwritten",
            )
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"output folder {parent} does not exist", "create it or choose another output path")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output folder {parent} is not writable", "choose a folder you can write to")
    if out.is_dir():
        raise OutputError(f"output {out} is a folder", "give a file name such as out.mp4")
    return out


class VideoWriter:
    """H.264 MP4 writer that keeps the source's timestamps, audio and rotation.

    Use as a context manager. Frames are written to a temporary file in the output folder;
    on a clean exit it is renamed to ``output``; on an exception it is deleted.

    Parameters
    ----------
    output : target path.
    info : the source's :class:`VideoInfo` (time base, pts, rate, rotation).
    width_px, height_px : output frame size.
    copy_audio_from : file whose first audio stream is copied packet by packet.
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
        self.info = info
        self.width_px = int(width_px) // 2 * 2
        self.height_px = int(height_px) // 2 * 2
        self.copy_audio_from = copy_audio_from
        self.crf = crf
        self.preset = preset
        self._tmp: Path | None = None
        self._container = None
        self._audio_in = None
        self._audio_iter = None
        self._audio_pending = None
        self._frames_written = 0

    def __enter__(self) -> "VideoWriter":
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.output.stem}.", suffix=".partial.mp4", dir=self.output.parent or ".")
        except OSError as exc:
            raise OutputError(f"cannot write into {self.output.parent}: {exc.strerror}", "choose a writable output folder") from None
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the output should be an ordinary file
        self._tmp = Path(tmp)
        try:
            self._container = av.open(str(self._tmp), "w", format="mp4")
        except (av.error.FFmpegError, OSError) as exc:
            self._cleanup()
            raise OutputError(f"cannot write {self.output}: {exc}", "choose a writable output path") from None
        rate = Fraction(self.info.fps).limit_denominator(100000)
        vs = self._container.add_stream("libx264", rate=rate)
        vs.width = self.width_px
        vs.height = self.height_px
        vs.pix_fmt = "yuv420p"
        vs.time_base = self.info.time_base
        vs.codec_context.time_base = self.info.time_base
        vs.options = {"crf": str(self.crf), "preset": self.preset}
        vs.codec_context.colorspace = av.video.reformatter.Colorspace.ITU601
        vs.codec_context.color_range = av.video.reformatter.ColorRange.MPEG
        if self.info.rotation_deg:
            vs.set_display_rotation(self.info.rotation_deg)
        self._vs = vs
        if self.copy_audio_from is not None and self.info.has_audio:
            self._audio_in = av.open(str(self.copy_audio_from))
            ain = self._audio_in.streams.audio[0]
            self._as = self._container.add_stream_from_template(ain)
            self._audio_iter = self._audio_in.demux(ain)
        return self

    def _mux_audio_until(self, t_s: float | None) -> None:
        if self._audio_iter is None:
            return
        while True:
            pkt = self._audio_pending
            if pkt is None:
                try:
                    pkt = next(self._audio_iter)
                except StopIteration:
                    self._audio_iter = None
                    return
            if pkt.dts is None:
                self._audio_pending = None
                continue
            pkt_t = float(pkt.pts * pkt.time_base) if pkt.pts is not None else 0.0
            if t_s is not None and pkt_t > t_s:
                self._audio_pending = pkt
                return
            self._audio_pending = None
            pkt.stream = self._as
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
        self._mux_audio_until(float((pts - self.info.pts[0]) * self.info.time_base))
        for packet in self._vs.encode(frame):
            self._container.mux(packet)
        self._frames_written += 1

    def _cleanup(self) -> None:
        if self._audio_in is not None:
            self._audio_in.close()
            self._audio_in = None
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                for packet in self._vs.encode(None):
                    self._container.mux(packet)
                self._mux_audio_until(None)
                self._container.close()
            except (av.error.FFmpegError, OSError) as err:
                self._cleanup()
                raise OutputError(f"writing {self.output} failed: {err}", "check free disk space and permissions") from None
            if self._audio_in is not None:
                self._audio_in.close()
                self._audio_in = None
            os.replace(self._tmp, self.output)
            self._tmp = None
        else:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the original exception matters, not this one
                pass
            self._cleanup()
