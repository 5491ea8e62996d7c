"""The three stages end to end: motion analysis -> motion filtering -> frame synthesis.

:func:`plan_stabilization` does stages 1 and 2 (no pixels touched: gyro, lens, timing,
smoothing, crop) and returns a :class:`StabilizationPlan`; :func:`render` streams the
frames through stage 3; :func:`stabilize` does both.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .analysis.integrate import estimate_gyro_bias, integrate_gyro
from .camera import CameraModel
from .errors import FusedStabError, InputError, TelemetryError
from .filtering.crop import CropResult, fit_crop
from .filtering.gaussian import gaussian_smooth_orientations
from .io.lens import load_lens_profile
from .io.lens_motion import find_lens_motion_sidecar, read_lens_motion
from .io.gyro_source import load_gyro, start_offset_ms
from .io.video import (
    VideoInfo, VideoWriter, check_codec, check_output_path, iter_frames, prefetch, probe_video, yuv420_planes,
)
from .synthesis.backends import get_backend
from .synthesis.plan import WarpPlanner
from .analysis.sync import SyncResult
from .analysis.tracking import FramePairs, track_frame_pairs
from .analysis.verify import GyroCheck
from .types import ClockMap, ImuSamples, LensMotion
from .validation import FOV_KEEP_POLICIES, check_stabilize_options

__all__ = ["StabilizeOptions", "StabilizationPlan", "StabilizeReport", "plan_stabilization", "render", "stabilize"]

log = logging.getLogger("fusedstab")

#: Horizontal field of view assumed when no lens profile is given [deg] (a typical phone
#: main camera is 65-80 deg).
DEFAULT_FOV_DEG = 75.0

#: Progress callback: (stage name, done, total).
Progress = Callable[[str, int, int], None]


@dataclass
class StabilizeOptions:
    """What the user can set (CLI options map 1:1).

    Every number and name is checked by :func:`fusedstab.validation.check_stabilize_options`
    when ``stabilize`` / ``plan_stabilization`` / ``render`` start (NaN, inf, out of range or an
    unknown preset raise :class:`~fusedstab.errors.InputError`; ranges in
    ``fusedstab.validation.STABILIZE_RANGES``).

    Attributes
    ----------
    gyro : gyro log; None = embedded in the video, or ``<video>.gcsv`` beside it.
    lens : Gyroflow lens profile; None = pinhole with ``fov_deg``.
    fov_deg : horizontal FOV without a lens profile; None = start from ``DEFAULT_FOV_DEG`` and
        let the automatic sync estimate the focal length from the video.
    smoothness_s : Gaussian sigma of the virtual camera [s]; None = chosen per clip (offline):
        of :data:`AUTO_SMOOTHNESS_S`, the one whose plan has the lowest predicted output jitter
        (tracks through the planned warps, :func:`~fusedstab.analysis.verify.predicted_jitter`);
        the crop budget and pull-back bound how far a smoother path may stray. Online mode, or
        no tracks to predict with: :data:`DEFAULT_SMOOTHNESS_S`.
    gyro_offset_ms : the gyro sample read at time T belongs to video time T + offset. Given,
        it is used as is (no sync) unless ``sync_search_ms`` is also given, in which case it is
        the centre of the sync search. None: with ``auto_sync`` the offset is estimated from
        the video (search ``sync_search_ms``, default 1000, around 0 or the
        ``frame_timestamps`` offset); if that is unreliable the start value is kept and a
        warning is added.
    readout_ms : rolling-shutter readout; None = lens profile, then file metadata, else 0.
    lens_motion : OIS / focus CSV; None = ``<video>.lens.csv`` if present.
    max_zoom : largest crop zoom (1.25 keeps 80 % of the width): caps the crop budget's zoom
        and the adaptive zoom.
    fov_keep : crop budget, the fraction of the source width kept (zoom ``1 / fov_keep``, at
        most ``max_zoom``); None or ``"auto"`` = chosen per clip by :func:`choose_fov_keep`: the
        most picture (of :data:`FOV_KEEP_CHOICES`) whose plan leaves at most
        :data:`SHAKE_LEFT_MAX` of the input's jitter; ``"steady"`` = the steadiest budget of
        :data:`STEADY_FOV_KEEP_CHOICES` unless a wider one is nearly as steady (offline; online:
        :data:`fusedstab.filtering.crop.DEFAULT_FOV_KEEP`). Where the
        smoothed camera would leave the source at that zoom it is pulled toward the real one
        (:mod:`fusedstab.filtering.crop`).
    zoom_mode : ``"fixed"`` (one zoom for the clip) or ``"adaptive"`` (per-frame zoom that rises
        only where needed, at most ``zoom_rate_per_s`` per second, up to ``max_zoom``; offline).
    horizon_lock : hold the virtual camera's roll level (gravity from the accelerometer fused
        with the gyro, :mod:`fusedstab.filtering.horizon`).
    horizon_rate_deg_s : with ``horizon_lock``, the most the level correction may change per
        second [deg/s]; None = no limit (full lock).
    exposure_ms : exposure time for motion-blur masking; None = the file's metadata, else no
        masking.
    intent : learned intent model (:mod:`fusedstab.filtering.intent`; offline mode): during a
        deliberate pan or turn, follow a long smooth along the pan axis and reject motion
        orthogonal to it; hold the camera still where the whole window is still.
    blur_masking : let the output follow the real motion a little on frames the gyro says are
        blurred (:mod:`fusedstab.filtering.blur_mask`).
    corridor : where the crop pulls the chosen plan back (offline, either zoom), also plan the
        steadiest path inside the crop's room (:mod:`fusedstab.filtering.corridor`), and keep it
        where the tracks predict it steadier (:func:`corridor_steadier`), or wherever the crop
        pulls back when nothing is tracked (``motion='gyro'``); online with a fixed
        zoom, every frame leaves on the steadiest path inside the room of the frames held
        (:class:`~fusedstab.filtering.online.OnlineFilter`).
    lookahead_s : None = offline (the filter sees the whole clip); a number = online mode: the
        filter sees at most this far ahead (bounded latency, :mod:`fusedstab.filtering.online`)
        with the same fixed crop budget.
    imu_orientation : IMU axis mapping (``'XYZ'``, ``'yXZ'``, ... or ``'auto'``; see
        :mod:`fusedstab.analysis.sync`); None = XYZ for telemetry-parser logs, auto for text logs
        (auto needs the sync to run; without it XYZ is used).
    gyro_columns, gyro_units, time_units : plain-text gyro log format (``read_gyro_text``);
        ``gyro_columns`` given = read ``gyro`` as text. ``gyro_units='auto'``: rad/s unless the
        values are beyond any camera's rad/s, or the gyro check finds the picture moving 1/57 as
        much (:func:`~fusedstab.analysis.verify.diagnose_gyro`): then the plan is made again
        with the log read as deg/s, and a warning says so.
    frame_timestamps, first_frame : per-frame timestamps on the gyro clock; the starting offset
        becomes ``-timestamp(first_frame)``.
    sync_search_ms : search half-width of the automatic sync [ms].
    auto_sync : estimate the offset (and an unknown readout) from the video; a given
        ``gyro_offset_ms`` (or ``frame_timestamps``) is the centre of the search. False: the
        offset is used as given (``imu_orientation='auto'`` still searches the axes there).
    motion : where the camera motion comes from. ``'gyro'``: the gyro alone (an error when the
        planned output would be shakier than the input, unless ``force``). ``'video'``: the
        video alone (feature tracks, :mod:`fusedstab.analysis.video_motion`; no gyro needed).
        ``'auto'`` (default): the gyro where it explains the picture and the video where it
        does not, per segment (:mod:`fusedstab.analysis.verify`); without a gyro, the video;
        and never a plan predicted to be shakier than the input.
    force : with ``motion='gyro'``, render even when the check predicts a shakier output.
    projection : the output lens: ``'rectilinear'`` (distortion removed) or ``'lens'`` (the
        source's lens model kept, see :class:`~fusedstab.synthesis.plan.WarpPlanner`).
    crf, preset : quality and speed on x264's scales, mapped per codec
        (:func:`fusedstab.io.video.encoder_options`).
    codec : ``h264`` (default), ``hevc``, ``av1``, ``vp9``, ``prores``, ``ffv1``, or an FFmpeg
        encoder name (:data:`fusedstab.io.video.CODECS`).
    hw_encode : try the codec's hardware encoders (NVENC, QSV, AMF) first.
    concurrent : decode, plan, warp and encode in parallel threads (same output; False runs
        them one after the other).
    lens_search : look beyond the lens given: with no ``lens`` and no ``fov_deg``, search the
        folder ``$FUSEDSTAB_LENS_DIR`` names; with a profile (and ``keep_lens`` False), also plan
        the other lenses :func:`resolve_lens` names. The planner's own re-plans of other lenses
        turn it off.
    keep_lens : the profile given (a file, or a folder's first choice) is used as it is, with no
        other lens planned against it (``--keep-lens``). Default False: a folder's next
        candidates and, where the file states its lens (GoPro: diagonal field of view and lens
        mode), that lens are planned on the same tracks, and one is used where it predicts
        clearly less jitter (:data:`LENS_ALTERNATIVE_GAIN`), with a warning.
    out_size : ``(width, height)`` of the written frames [px], the same picture (field of view,
        aspect ratio) at another resolution in the same pass (:func:`render`); ``height`` None: from the
        source's aspect ratio (:func:`output_size`). None (default): the source's size.
    residual : hybrid residual (offline, with a gyro or a camera record, and tracked video):
        the virtual camera also turns against the high-frequency image motion the rotation
        track does not explain (translation, vibration; :mod:`fusedstab.filtering.residual`).
        ``'auto'`` (default): used where it lowers the predicted output jitter by at least
        :data:`RESIDUAL_GAIN`; ``'on'``: always; ``'off'``: never (measured in docs/BENCHMARKS.md).
    """

    gyro: Path | None = None
    lens: Path | None = None
    fov_deg: float | None = None
    smoothness_s: float | None = None
    gyro_offset_ms: float | None = None
    readout_ms: float | None = None
    lens_motion: Path | None = None
    use_lens_motion: bool = True
    max_zoom: float = 1.25
    fov_keep: float | str | None = None
    zoom_mode: str = "fixed"
    zoom_rate_per_s: float = 0.1
    horizon_lock: bool = False
    horizon_rate_deg_s: float | None = None
    lookahead_s: float | None = None
    exposure_ms: float | None = None
    blur_masking: bool = True
    intent: bool = True
    corridor: bool = True
    residual: str = "auto"
    backend: str = "opencv"
    device: str = "auto"
    interpolation: str = "bilinear"
    grid_step_px: int = 16
    crf: int = 18
    preset: str = "medium"
    codec: str = "h264"
    hw_encode: bool = False
    concurrent: bool = True
    imu_orientation: str | None = None
    gyro_columns: str | None = None
    gyro_units: str = "auto"
    time_units: str = "s"
    frame_timestamps: Path | None = None
    first_frame: int = 1
    sync_search_ms: float | None = None
    auto_sync: bool = True
    motion: str = "auto"
    force: bool = False
    projection: str = "rectilinear"
    out_size: tuple[int, int | None] | None = None
    lens_search: bool = True
    keep_lens: bool = False


MOTION_SOURCES = ("auto", "gyro", "video")

#: Gaussian sigmas [s] tried when no ``smoothness_s`` is given (offline), and the one used
#: online or without tracks. A smoother path removes more shake where the crop leaves room;
#: where it does not, the pull-back toward the real camera makes it shakier, so the clip
#: decides (docs/BENCHMARKS.md, "Smoothness chosen per clip").
AUTO_SMOOTHNESS_S = (0.5, 1.0, 2.0)
DEFAULT_SMOOTHNESS_S = 0.5
#: crop budgets tried when ``--fov-keep`` is not given (offline): the most picture whose plan
#: leaves at most :data:`SHAKE_LEFT_MAX` of the input's jitter. Widest first; 1 is no crop beyond
#: what the real camera's own warp needs. The budgets above :data:`FOV_KEEP_FIRST` are for a
#: tripod or a gimbal (:data:`WIDER_FLOOR_PX`); until 2026-12-07 the widest was 0.98, so such a
#: clip lost 2 % of its width for nothing (docs/BENCHMARKS.md, "The widest budgets")
FOV_KEEP_CHOICES = (1.0, 0.99, 0.98, 0.96, 0.94, 0.92, 0.88)
#: the budget the scan starts at. Where its smoothed path halves the shake, the wider budgets are
#: tried (:data:`WIDER_FLOOR_PX`); where it does not, the narrower ones until one does (the
#: predicted jitter grows as the budget widens, so this finds the widest that halves it with
#: fewer plans than a scan from the widest); where none does, the steady rule chooses among this
#: budget and the narrower ones only: a budget without room leaves the corridor and the residual
#: nothing to work with (over all seven it took 1 for the GoPro MAX with ``--horizon-lock``:
#: 8.25 px predicted against 3.17 unlocked)
FOV_KEEP_FIRST = 0.98
#: a budget wider than :data:`FOV_KEEP_FIRST` (no bisection there) is taken only where, like the
#: first, its smoothed path halves the shake without the crop corridor's help, and its plan after
#: the smoothness choice (:func:`nearly_as_steady`) stays within :data:`CROP_SLACK` x the first
#: budget's plus this floor [px] (motion under a tenth of a pixel is not seen). Measured
#: (docs/BENCHMARKS.md, "The widest budgets"): wider budgets taken wherever they halve the shake
#: gave 0.4-1.8 % of the width for 40-100 % more jitter (0.80 -> 1.46 px, 1.02 -> 1.52, 4.41 ->
#: 6.41); the slack judged on the first sigma's plans let a 240 fps walk slowed 8x keep 0.73 of
#: its true jitter instead of 0.44; the corridor's plans at the wider budgets, compared with the
#: first budget's before its own corridor, took the 6.41 px again. Trying the wider budgets on
#: clips whose first budget needs the corridor cost a 120 s walk 20 % more time for nothing
WIDER_FLOOR_PX = 0.1
#: the default crop keeps the most picture that still removes at least half of the input's
#: high-frequency jitter (predicted through the planned warps). ffmpeg vid.stab with its usual
#: settings leaves 53-82 % of it on the bench clips (docs/BENCHMARKS.md), so this keeps about
#: its field of view and less of its shake; ``--fov-keep steady`` trades picture for more
SHAKE_LEFT_MAX = 0.5
#: bisection steps between the first budget that removes enough shake and the wider one
#: before it (0.02 apart: to 0.005; none above :data:`FOV_KEEP_FIRST`)
FOV_KEEP_REFINE_STEPS = 2
#: crop budgets tried with ``--fov-keep steady``, and where no budget meets :data:`SHAKE_LEFT_MAX`
STEADY_FOV_KEEP_CHOICES = (0.96, 0.92, 0.88)
#: a tighter crop is taken only while it buys steadiness: the widest budget whose predicted
#: output jitter is within ``CROP_SLACK`` x the steadiest budget's
CROP_SLACK = 1.25
#: the video alone stabilizes a clip only where it tracks at least this share of the frame pairs
MIN_TRACKED_SHARE = 0.5
#: points the whole-clip tracking pass keeps (about 48 bytes each, and as much again for the
#: check's world directions): a clip with more pairs than this over the tracker's 150 corners
#: per frame (about 44 s at 30 fps) keeps a share of its tracks, at least a quarter, so the
#: plan's memory stays bounded as clips grow (:func:`~fusedstab.analysis.tracking.track_frame_pairs`)
TRACKED_POINTS_MAX = 200_000


def leaves_little_shake(output_px: float, input_px: float) -> bool:
    """Whether a plan's predicted output jitter is at most :data:`SHAKE_LEFT_MAX` of the input's."""
    return output_px <= SHAKE_LEFT_MAX * input_px + 1e-12


def nearly_as_steady(output_px: float, first_px: float, input_px: float) -> bool:
    """Whether a budget wider than :data:`FOV_KEEP_FIRST` is taken: its predicted jitter ``output_px``
    halves the input's (``input_px``) too and is within :data:`CROP_SLACK` x the first budget's
    (``first_px``) plus :data:`WIDER_FLOOR_PX` [px]."""
    return leaves_little_shake(output_px, input_px) and output_px <= CROP_SLACK * first_px + WIDER_FLOOR_PX + 1e-12


def choose_fov_keep(output_px: dict[float, float], input_px: float | None = None, *, policy: str = "auto") -> float:
    """The crop budget for a clip from the predicted output jitter of each budget.

    Parameters
    ----------
    output_px : {fov_keep: predicted output jitter [px]} (:func:`~fusedstab.analysis.verify.predicted_jitter`).
    input_px : the input's predicted jitter [px] (same estimator); None = policy ``"steady"``.
    policy : ``"auto"``: the widest budget whose jitter is at most :data:`SHAKE_LEFT_MAX` x
        ``input_px`` (keep the picture, remove at least half the shake; the planner tries
        :data:`FOV_KEEP_CHOICES` from :data:`FOV_KEEP_FIRST`: where it removes enough, the wider
        ones while their finished plans stay nearly as steady (:func:`nearly_as_steady`); where
        it does not, the narrower ones until one does, then bisects :data:`FOV_KEEP_REFINE_STEPS` times between
        it and the wider one beside it; a budget's jitter is its plain plan's, or where that
        is too much and its crop pulls back, its crop corridor's plan's); where none is,
        ``"steady"``: the widest budget whose jitter is at most :data:`CROP_SLACK` x the
        steadiest budget's (a clip whose shake a wide crop already removes keeps more picture;
        one that needs the margin gets it, up to the tightest budget tried).

    Returns
    -------
    The chosen ``fov_keep``. Measured (predicted px, 0.98 / 0.96 / 0.94 / 0.92 / 0.88; input):
    simulated walk 3.70 / 1.50 / 0.41 / 0.14 / 0.15 (7.63): auto 0.98, steady 0.92; run 15.8 /
    11.6 / 8.1 / 5.6 / 2.9 (20.0): auto 0.94, steady 0.88 (docs/BENCHMARKS.md). Wider (1 / 0.99
    / 0.98, fixed budgets): the walk 7.04 / 5.39 / 2.88 (7.61): auto 0.98; the cameras bench's
    tripod 0.101 / 0.012 / 0.012 (0.213): auto 0.99 (2026-12-07).
    """
    if not output_px:
        raise ValueError("no crop budget to choose from")
    if policy not in FOV_KEEP_POLICIES:
        raise ValueError(f"unknown crop policy {policy!r}")
    if policy == "auto" and input_px is not None and np.isfinite(input_px):
        enough = [f for f, j in output_px.items() if leaves_little_shake(j, input_px)]
        if enough:
            return max(enough)
    best = min(output_px.values())
    return max(f for f, j in output_px.items() if j <= CROP_SLACK * best + 1e-12)

#: ``residual='auto'`` keeps the hybrid residual only where the predicted output jitter falls
#: below this share of the plan's without it (the prediction reads the same tracks the residual
#: comes from, so a small gain is not trusted)
RESIDUAL_GAIN = 0.8

#: the crop-corridor path (``corridor``) replaces the chosen plan only where its predicted
#: high-frequency jitter is below this share of the plan's (:func:`corridor_steadier`)
CORRIDOR_GAIN = 0.97


def corridor_steadier(corridor: dict, plain: dict) -> bool:
    """Whether the crop corridor's plan replaces the plan pulled back by the crop.

    Its predicted output jitter (:func:`~fusedstab.analysis.verify.predicted_jitter`) is below
    :data:`CORRIDOR_GAIN` x the plan's in pixels; or it is no larger in pixels and below
    :data:`CORRIDOR_GAIN` x the plan's in image rotation. An intended turn or pan fills the pixel
    jitter of both plans alike, and the shake the corridor keeps out of the other axes shows in
    the rotation: on the bench's simulated 90 deg turn at 0.98, 128.7 -> 127.3 px (1 %) and
    0.280 -> 0.099 deg, where the plain plan's pull-back to the real camera during the turn gives
    its roll and pitch shake back (docs/BENCHMARKS.md, "The corridor on a turn").
    """
    px, plain_px = corridor["output_px"], plain["output_px"]
    if px < CORRIDOR_GAIN * plain_px:
        return True
    return px <= plain_px and corridor["output_deg"] < CORRIDOR_GAIN * plain["output_deg"]


#: a plan counts as shakier than the input when its predicted high-frequency jitter exceeds
#: the input's by more than this factor (2 %: the spread of the track-based estimate between
#: two encodes of the same frames)
SHAKIER_RATIO = 1.02

#: ``--motion auto`` with a gyro the check found no fault in: the video's own motion replaces
#: it only when its plan predicts less than this share of the gyro plan's jitter (a tight crop
#: budget limits both paths alike, and the video's motion is the less robust sensor)
UNFLAGGED_SWITCH_GAIN = 0.9


@dataclass
class StabilizationPlan:
    """Everything stage 3 needs, computed before any pixel is touched."""

    info: VideoInfo
    camera: CameraModel
    imu: ImuSamples
    planner: WarpPlanner
    frame_times_s: np.ndarray
    R_real: np.ndarray
    R_virt: np.ndarray
    crop: CropResult
    offset_s: float
    clock: ClockMap
    readout_s: float
    readout_source: str
    lens_motion: LensMotion | None
    warnings: list[str] = field(default_factory=list)
    offset_source: str = "--gyro-offset-ms"
    imu_orientation: str = "XYZ"
    sync: SyncResult | None = None
    blur_beta: np.ndarray | None = None
    gyro_bias_rad_s: np.ndarray | None = None
    motion_source: str = "gyro"
    gyro_check: "GyroCheck | None" = None
    predicted: dict | None = None
    #: no path steadier than the input was found: frames are written as they are
    passthrough: bool = False
    horizon_roll_deg: np.ndarray | None = None
    smoothness_s: float = DEFAULT_SMOOTHNESS_S
    #: the crop budget used (given, or chosen per clip among :data:`FOV_KEEP_CHOICES`)
    fov_keep: float | None = None
    #: the virtual camera also follows the video's residual motion (:mod:`fusedstab.filtering.residual`)
    residual: bool = False
    #: the lens profile file used (given with ``--lens``, or found in a folder of profiles), or None
    lens_profile: str | None = None
    #: ``predicted`` of the chosen plan before the hybrid residual and the crop corridor: the
    #: residual comes from the tracks the prediction reads (with a wrong lens it takes up the
    #: misfit and the prediction with it), so plans of different lenses compare on this
    predicted_plain: dict | None = None

    @property
    def corridor(self) -> bool:
        """The virtual path is the steadiest inside the crop's room (:mod:`fusedstab.filtering.corridor`)."""
        return bool(self.crop.corridor)

    @property
    def zoom(self) -> float:
        return self.crop.zoom

    def zoom_at(self, i: int) -> float:
        """Output zoom of frame ``i`` (per frame with ``zoom_mode='adaptive'``)."""
        return self.crop.zoom_at(i)


@dataclass
class StabilizeReport:
    """Summary of a run (printed by the CLI, returned by the API)."""

    input: str
    output: str
    #: frames written (a clip cut without re-encoding: its edit list's pre-roll is not shown, nor written)
    frames: int
    width_px: int
    height_px: int
    zoom: float
    fov_kept: float
    #: share of the source's width the output shows at rest (:meth:`WarpPlanner.width_kept`):
    #: ``fov_kept`` for a pinhole lens, less for a fisheye drawn rectilinear (its magnified
    #: periphery falls outside the frame)
    width_kept: float | None
    gyro_source: str
    gyro_rate_hz: float
    offset_ms: float
    readout_ms: float
    readout_source: str
    lens: str
    lens_motion: str | None
    backend: str
    seconds: float
    fps: float
    warnings: list[str]
    offset_source: str = ""
    sync_confidence: float | None = None
    imu_orientation: str = "XYZ"
    gyro_bias_rad_s: list[float] | None = None
    motion_source: str = "gyro"
    smoothness_s: float | None = None
    gyro_agreement: float | None = None
    gyro_segments: list[dict] | None = None
    predicted_jitter: dict | None = None
    #: the hybrid residual was used (``--residual``)
    residual: bool = False
    #: the virtual path is the steadiest inside the crop's room (``--no-corridor`` turns it off)
    corridor: bool = False
    #: the crop budget planned (``--fov-keep``, given or chosen per clip); ``fov_kept`` is the
    #: width the output shows (above the budget where it already leaves room)
    fov_keep: float | None = None
    #: seconds per stage: plan_s (stages 1-2, sync_s of it the automatic sync), render_s, and
    #: the render's busy time per stage (decode_s, plan_s, warp_s, encode_s; they overlap)
    timings: dict | None = None
    encoder: str | None = None
    #: the lens profile file used (``--lens``, or the one found in a folder of profiles)
    lens_profile: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_plan(cls, plan: StabilizationPlan, input_path, output_path, opts: StabilizeOptions, *,
                  seconds: float, frames: int | None = None, timings: dict | None = None,
                  encoder: str | None = None, size: tuple[int, int] | None = None) -> StabilizeReport:
        """The report of ``plan`` (planned with ``opts``) for ``output_path``: ``frames`` written
        in ``seconds`` when it was rendered here; None when it was not (``fusedstab report``:
        the clip's shown frames, ``fps`` 0). ``size``: the written ``(width, height)`` (default:
        the planned output's)."""
        rendered = frames is not None
        frames = int(frames) if rendered else plan.info.shown_frame_count
        if plan.lens_motion is None:
            lens_motion = None
        else:
            lens_motion = str(opts.lens_motion) if opts.lens_motion else "sidecar .lens.csv"
        check = plan.gyro_check
        return cls(
            input=str(input_path), output=str(output_path), frames=frames,
            width_px=int(size[0]) if size else plan.planner.out_width_px,
            height_px=int(size[1]) if size else plan.planner.out_height_px,
            zoom=round(plan.zoom, 4), fov_kept=round(plan.crop.fov_kept, 4), width_kept=_width_kept(plan),
            gyro_source=plan.imu.source or "none", gyro_rate_hz=round(plan.imu.rate_hz, 2),
            offset_ms=round(plan.offset_s * 1000.0, 3), readout_ms=round(plan.readout_s * 1000.0, 3),
            readout_source=plan.readout_source, lens=plan.camera.name, lens_motion=lens_motion,
            backend=opts.backend, seconds=round(seconds, 3),
            fps=round(frames / max(seconds, 1e-9), 2) if rendered else 0.0,
            warnings=plan.warnings, offset_source=plan.offset_source,
            sync_confidence=plan.sync.confidence if plan.sync is not None else None,
            imu_orientation=plan.imu_orientation,
            gyro_bias_rad_s=([round(float(b), 6) for b in plan.gyro_bias_rad_s]
                             if plan.gyro_bias_rad_s is not None else None),
            motion_source=plan.motion_source, smoothness_s=plan.smoothness_s,
            gyro_agreement=check.agreement if check is not None else None,
            gyro_segments=[asdict(sg) for sg in check.segments] if check is not None else None,
            predicted_jitter=plan.predicted, residual=plan.residual, corridor=plan.corridor, timings=timings,
            encoder=encoder, fov_keep=plan.fov_keep, lens_profile=plan.lens_profile,
        )


def resolve_lens(video: Path, info: VideoInfo, imu: ImuSamples | None, lens, fov_deg: float | None,
                 warnings: list[str], *, search_env: bool = True, check_given: bool = True,
                 meta: dict | None = None) -> tuple[Path | None, tuple]:
    """The lens profile file to use, or None (a pinhole lens, or the file's own: :func:`file_lens`),
    and the lenses to plan against it: a folder's next candidates whose lens differs
    (``LensChoice.alternatives``: ``(path, warning)`` each), and ``(None, "")`` for the file's
    own lens where it describes one (after a folder's choice or a profile given as a file);
    none with ``check_given`` False (the profile as it is). ``meta``: the file's camera metadata
    (default: ``imu.meta``).

    ``lens`` a file: itself. A folder (``--lens DIR``), or the folder named by
    :data:`~fusedstab.io.lens.LENS_DIR_ENV` when neither ``lens`` nor ``fov_deg`` is given, is
    searched for the camera's profile (:func:`~fusedstab.io.lens.find_lens_profile`: the camera
    the video's metadata names, else the gyro log's; the file's in-camera stabilization state;
    the video's size and frame rate on the camera's clock; its lens mode and diagonal field of
    view). A folder given that holds none adds a warning, and the file's own lens or the pinhole
    guess is used; a folder from the environment is searched quietly. A profile that does not
    span the file's field of view, or is for another lens mode than the file's, adds a warning.
    """
    from .io.lens import LENS_DIR_ENV, find_lens_profile
    from .io.telemetry import camera_identity

    given = lens is not None
    env = os.environ.get(LENS_DIR_ENV) if search_env else None
    folder = Path(lens) if given else (Path(env) if env and fov_deg is None else None)
    if meta is None:  # what the file says of its camera: the gyro log's metadata
        meta = imu.meta if imu is not None else {}
    if folder is None or (given and not folder.is_dir()):
        own = ((None, ""),) if given and check_given and file_lens(info, meta) is not None else ()
        return (Path(lens) if given else None), own
    if not folder.is_dir():
        warnings.append(f"{LENS_DIR_ENV} names {folder}, which is not a folder: no lens profile was searched for")
        return None, ()
    brand, model = camera_identity(video)
    if not model:  # the video does not say: the gyro log may (a camera's own log beside it)
        brand, model = meta.get("camera_brand", ""), meta.get("camera_model", "")
    eis = meta.get("in_camera_stabilization")
    mode = meta.get("lens_mode")
    mode = None if str(mode).startswith("unknown") else mode  # a code not known here ranks nothing
    choice = find_lens_profile(folder, brand, model, info.width_px, info.height_px, info.fps * info.slow_motion,
                               None if eis is None else bool(eis), mode, meta.get("diagonal_fov_deg"))
    if choice.path is None and given:
        warnings.append(choice.reason)
    else:
        log.info("%s", choice.reason)
    if choice.mismatch:
        warnings.append(choice.mismatch)
    if not check_given:  # the folder's first choice as it is
        return choice.path, ()
    own = ((None, ""),) if choice.path is not None and file_lens(info, meta) is not None else ()
    return choice.path, choice.alternatives + own


def _load_imu(video: Path, opts: "StabilizeOptions") -> ImuSamples:
    imu, is_text = load_gyro(video, Path(opts.gyro) if opts.gyro is not None else None, columns=opts.gyro_columns,
                             gyro_units=opts.gyro_units, time_units=opts.time_units)
    return ImuSamples(imu.times_s, imu.gyro_rad_s, imu.accel_m_s2, imu.source, {**imu.meta, "text_log": is_text})


#: horizon lock: an output roll beyond this many degrees from level is reported (with the zoom a
#: level horizon needs)
HORIZON_LEVEL_TOL_DEG = 1.0
#: horizon lock is not applied to a camera that looks within this many degrees of straight down
#: or up (median over the clip: a drone's top-down shot): no horizon is in view, and the roll of
#: the frame about gravity is its heading
HORIZON_VERTICAL_DEG = 20.0
#: horizon lock in online mode: the quarter turn the clip is held at (a phone in portrait) is
#: read from the gravity of this first stretch of the clip (or the lookahead, if longer) [s]
HORIZON_UPRIGHT_SEEN_S = 1.0


#: a gyro log that stops early (a flight controller's log full, a battery out) still steadies
#: the part it covers, and the video's own motion the rest, where it covers at least this share
#: of the clip; less is taken for the wrong log or a wrong offset, and refused
MIN_GYRO_COVERAGE = 0.5


def _check_coverage(imu: ImuSamples, t0: float, t1: float, warnings: list[str], tolerance_s: float, *,
                    video_fills: bool = False) -> list[tuple[float, float]]:
    """The parts of the video ``[t0, t1]`` (video clock) the gyro log misses, as intervals
    for the video's own motion to fill (``video_fills``: the whole clip was tracked). A short
    miss (at most 0.5 s and 10 % of the clip) holds the nearest orientation; a longer one is
    filled by the video where the log covers at least :data:`MIN_GYRO_COVERAGE` of the clip,
    else (or without the video) it is a :class:`TelemetryError`."""
    span = t1 - t0
    a, b = float(imu.times_s[0]), float(imu.times_s[-1])
    missing_start = max(0.0, a - t0)
    missing_end = max(0.0, t1 - b)
    if missing_start + missing_end > max(0.5, 0.1 * span):
        if not video_fills or missing_start + missing_end > (1.0 - MIN_GYRO_COVERAGE) * span:
            raise TelemetryError(
                f"the gyro log covers {a:.3f}..{b:.3f} s of video time but the video "
                f"runs {t0:.3f}..{t1:.3f} s (after the gyro offset)",
                "give a gyro log recorded during the whole clip, or check --gyro-offset-ms",
            )
        warnings.append(
            f"the gyro log covers only {max(a, t0):.2f}..{min(b, t1):.2f} s of the video's {t0:.2f}..{t1:.2f} s "
            "(after the gyro offset): the video's own motion is used outside it (fix: a gyro log recorded during "
            "the whole clip, or check --gyro-offset-ms)")
        gaps = [(t0 - 1.0, a)] if missing_start > 0 else []
        return gaps + ([(b, t1 + 1.0)] if missing_end > 0 else [])
    if missing_start + missing_end > tolerance_s:
        warnings.append(
            f"gyro log misses {missing_start * 1000:.0f} ms at the start and {missing_end * 1000:.0f} ms at the end; "
            "the nearest orientation is held there"
        )
    return []


def _merged(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Intervals sorted and joined where they overlap or touch."""
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


#: a pause between gyro samples counts as a gap (dropped samples) when it is this many times the
#: log's usual sample interval and at least ``GYRO_GAP_MIN_S``
GYRO_GAP_FACTOR = 5.0
GYRO_GAP_MIN_S = 0.02


def _check_gaps(imu: ImuSamples, t0: float, t1: float, warnings: list[str]) -> None:
    """Warn about gaps in the gyro log inside the video's span (video clock): the angular
    velocity is interpolated across them, which the check against the video then judges."""
    t = imu.times_s
    if len(t) < 3:
        return
    dt = np.diff(t)
    usual = float(np.median(dt))
    gap = (dt > max(GYRO_GAP_FACTOR * usual, GYRO_GAP_MIN_S)) & (t[1:] > t0) & (t[:-1] < t1)
    if not np.any(gap):
        return
    k = int(np.argmax(np.where(gap, dt, 0.0)))
    warnings.append(
        f"the gyro log has {int(gap.sum())} gap(s) in the clip, {float(dt[gap].sum()):.2f} s in all (the longest "
        f"{dt[k]:.2f} s at video time {t[k]:.2f} s): the rotation is interpolated across them and checked against "
        "the video, whose motion replaces it where it does not fit")


def source_camera(info: VideoInfo, imu: ImuSamples | None, *, lens=None, fov_deg: float | None = None,
                  readout_ms: float | None = None, lens_camera: CameraModel | None = None) -> tuple[CameraModel, float, str]:
    """The source lens at the video's size and its readout: ``(camera, readout_s, source)``.

    Lens: the Gyroflow profile, else ``lens_camera`` (the file's own, :func:`file_lens`), else a
    pinhole with ``fov_deg`` (default ``DEFAULT_FOV_DEG``).
    Readout: ``readout_ms``, else the profile's (for this size and frame rate), else the file's
    metadata (GoPro SROT), else 0 with source ``"unknown ..."`` (the sync may estimate it). On
    the video clock: a slow-motion clip's (:attr:`VideoInfo.slow_motion`) is slowed with it
    (the file's, with ``imu``: :meth:`ImuSamples.slowed`).
    """
    sar = float(info.sample_aspect)
    if lens is not None:
        camera = load_lens_profile(lens, info.width_px, info.height_px, info.fps * info.slow_motion)
        if camera.pixel_aspect == 1.0 and sar != 1.0:
            camera = replace(camera, pixel_aspect=sar)  # the file's pixels are not square
    elif lens_camera is not None and fov_deg is None:
        camera = lens_camera
    else:
        fov = fov_deg if fov_deg is not None else DEFAULT_FOV_DEG
        camera = CameraModel.from_fov(info.width_px, info.height_px, fov, pixel_aspect=sar,
                                      name=f"pinhole {fov:g} deg")
    if readout_ms is not None:
        readout_s, source = readout_ms / 1000.0 * info.slow_motion, "--readout-ms"
    elif camera.readout_s:
        readout_s, source = camera.readout_s * info.slow_motion, "lens profile"
    elif imu is not None and imu.meta.get("readout_s"):  # slowed with the log (ImuSamples.slowed)
        readout_s, source = float(imu.meta["readout_s"]), "file metadata"
    else:
        readout_s, source = 0.0, "unknown (global shutter assumed)"
    if not abs(readout_s) < 2.0 * info.frame_period_s:
        raise InputError(
            f"readout time {abs(readout_s) * 1000:.1f} ms is longer than two frame periods ({info.frame_period_s * 2000:.1f} ms)",
            "give the readout in milliseconds with --readout-ms (it is at most one frame period)",
        )
    return camera, readout_s, source


#: lens modes whose picture the file's field of view describes: GoPro's Linear is dewarped in
#: the camera (a pinhole), Wide / Medium / Narrow are the fisheye or a crop of it; SuperView and
#: HyperView stretch the picture non-linearly, which no lens model here describes
_FILE_LENS_PINHOLE = ("linear",)
_FILE_LENS_UNMODELLED = ("superview", "hyperview")


def file_lens(info: VideoInfo, meta: dict | None) -> CameraModel | None:
    """The lens as the file describes its picture, for a clip given no lens profile.

    A GoPro states the picture's diagonal field of view (GPMF ZFOV) and its lens mode (VFOV):
    a Linear picture is a pinhole spanning that diagonal; Wide, Medium, Narrow (or no mode
    stated) an equidistant fisheye spanning it (``r = f theta``, OpenCV's fisheye model with no
    further coefficients). Measured on the GoPro MAX sample (137.4 deg): the plan's predicted
    jitter ratio 0.35 against 0.92 with the pinhole guess, and 0.43 with its community HS EIS
    profile (docs/BENCHMARKS.md). None where the file says nothing of it, for SuperView /
    HyperView or a mode code not known here, and for non-square pixels.
    """
    fov = (meta or {}).get("diagonal_fov_deg")
    mode = str((meta or {}).get("lens_mode") or "").lower()
    if (not fov or not 10.0 < float(fov) < 250.0 or mode in _FILE_LENS_UNMODELLED or mode.startswith("unknown")
            or info.sample_aspect != 1):
        return None
    W, H = info.width_px, info.height_px
    half_diag = 0.5 * float(np.hypot(W - 1.0, H - 1.0))
    half = np.radians(float(fov)) / 2.0
    cx, cy = (W - 1) / 2.0, (H - 1) / 2.0
    if mode in _FILE_LENS_PINHOLE:
        if not half < np.radians(85.0):
            return None
        f = half_diag / np.tan(half)
        return CameraModel(W, H, f, f, cx, cy, name=f"pinhole spanning the file's {float(fov):.1f} deg diagonal "
                                                    f"({meta.get('lens_mode')})")
    f = half_diag / half
    return CameraModel(W, H, f, f, cx, cy, model="opencv_fisheye", coeffs=(0.0, 0.0, 0.0, 0.0),
                       name=f"equidistant fisheye spanning the file's {float(fov):.1f} deg diagonal"
                            + (f" ({meta.get('lens_mode')})" if meta.get("lens_mode") else ""))


def _lens_fov_note(camera: CameraModel, meta: dict | None) -> str:
    """A warning where a lens profile given does not span the diagonal field of view the file
    states (GoPro ZFOV) within :data:`~fusedstab.io.lens.FOV_MISMATCH`: a profile for another
    lens mode or camera; "" where it does, or where the file states none."""
    from .io.lens import FOV_MISMATCH, diagonal_fov

    fov = (meta or {}).get("diagonal_fov_deg")
    if not fov:
        return ""
    span = diagonal_fov(camera)
    if abs(span - fov) <= FOV_MISMATCH * fov:  # NaN (a corner the model cannot image) falls through
        return ""
    mode = (meta or {}).get("lens_mode")
    spans = (f"spans {span:.1f} deg across the picture's diagonal" if np.isfinite(span)
             else "cannot image the picture's corners")
    return (f"the lens profile ({camera.name}) {spans}, but the file states {float(fov):.1f} deg across it"
            + (f" ({mode} lens mode)" if mode else "") + ": it is probably for "
            "another lens mode or camera, and rotations will not move the picture as they should; give the "
            "profile for this mode, or omit --lens (the lens is then drawn through the field of view the file "
            "states)")


def source_lens_motion(video: Path, path=None) -> LensMotion | None:
    """OIS / focus log on the gyro log's clock: ``path``, else ``<video>.lens.csv``, else None."""
    path = path if path is not None else find_lens_motion_sidecar(video)
    return read_lens_motion(path) if path is not None else None


def check_imu_orientation(orientation: str) -> str:
    """``orientation`` if it is 'auto' or a valid mapping, else an InputError with the fix."""
    from .analysis.sync import parse_imu_orientation

    if orientation.lower() != "auto":
        try:
            parse_imu_orientation(orientation)
        except ValueError as exc:
            raise InputError(str(exc), "use --imu-orientation auto, or e.g. XYZ / yXZ") from None
    return orientation


def _resolve_sync(video, info, imu, camera, opts, readout_s, readout_source, warnings, progress, lens_motion_log=None,
                  pairs=None, *, estimate_focal: bool):
    """Gyro offset, readout and IMU orientation: given, or estimated from the video.

    Rule: with ``auto_sync`` the offset is estimated from the video, the search centred on the
    given ``gyro_offset_ms``, else the ``frame_timestamps`` offset, else 0; an unreliable
    estimate keeps that start with a warning. Without ``auto_sync`` the start is used as is
    (``imu_orientation='auto'`` still searches the axes at that offset). The readout is
    estimated too when no source gave it. ``pairs``: tracks already made (skips tracking).
    Returns ``(imu_mapped, offset_s, offset_source, readout_s, readout_source, sync, orientation)``.
    """
    from .analysis.sync import apply_imu_orientation, estimate_sync

    orientation = check_imu_orientation(opts.imu_orientation or ("auto" if imu.meta.get("text_log") else "XYZ"))
    start_ms, start_source = start_offset_ms(opts.gyro_offset_ms, opts.frame_timestamps, opts.first_frame, opts.time_units)
    axes_only = not opts.auto_sync
    if axes_only and orientation.lower() != "auto":
        return (apply_imu_orientation(imu, orientation), start_ms / 1000.0, start_source, readout_s, readout_source,
                None, orientation)
    readout_known = not readout_source.startswith("unknown")
    if axes_only:  # a short search around the given offset, for the axes only (the offset stays)
        search_ms = max(100.0, 3000.0 * info.frame_period_s)
    else:
        search_ms = opts.sync_search_ms if opts.sync_search_ms is not None else 1000.0
    sync = estimate_sync(
        video, imu, camera, start_offset_ms=start_ms, search_ms=search_ms,
        readout_ms=readout_s * 1000.0 if readout_known else None, imu_orientation=orientation, info=info,
        progress=progress, estimate_focal=estimate_focal, lens_motion=lens_motion_log,
        pairs=pairs, wide_search=not axes_only and opts.sync_search_ms is None and start_source == "default 0",
    )
    orientation = sync.imu_orientation
    if "better_outside_ms" in sync.scores and not axes_only:
        warnings.append(f"the gyro's rotation speed matches the picture's better at an offset of "
                        f"{sync.scores['better_outside_ms']:.0f} ms, outside the ±{search_ms:.0f} ms searched around "
                        f"{start_ms:.0f} ms ({start_source}): if the result shakes, widen --sync-search-ms or give "
                        "--gyro-offset-ms near it")
    if sync.reliable and not axes_only:
        offset_s, offset_source = sync.offset_ms / 1000.0, "auto-sync"
        if start_source != "default 0":
            offset_source = f"auto-sync around {start_source}"
        if sync.readout_estimated and sync.readout_ms is not None:
            readout_s, readout_source = sync.readout_ms / 1000.0, "auto-sync"
        if abs(sync.drift_ppm) * 1e-6 * info.duration_s > 0.001:
            warnings.append(f"gyro clock drifts {sync.drift_ppm:.0f} ppm against the video; the drift is corrected")
    elif axes_only:
        offset_s, offset_source = start_ms / 1000.0, start_source
        if not sync.reliable:
            warnings.append(f"--imu-orientation auto could not find the axes ({sync.message}); using {orientation}")
    else:
        offset_s = start_ms / 1000.0
        offset_source = "default 0 (sync unreliable)" if start_source == "default 0" else f"{start_source} (sync unreliable)"
        reason = sync.message.removeprefix("sync unreliable").strip()
        reason = f" {reason}" if reason.startswith("(") else f": {reason}"  # "(confidence ..." or a cause in words
        warnings.append(f"automatic gyro sync unreliable{reason}; using the gyro offset {start_ms:.1f} ms ({start_source}) and the log's axes as "
                        f"given ({orientation}); give --gyro-offset-ms (and --imu-orientation) if the result shakes")
    return apply_imu_orientation(imu, orientation), offset_s, offset_source, readout_s, readout_source, sync, orientation


def plan_stabilization(
    input_path: str | os.PathLike,
    options: StabilizeOptions | None = None,
    *,
    progress: Progress | None = None,
    imu: ImuSamples | None = None,
    tracks: FramePairs | None = None,
) -> StabilizationPlan:
    """Stages 1 and 2: read motion data, check it against the picture, smooth it, choose the crop.

    Parameters
    ----------
    input_path : the video.
    options : user settings.
    progress : optional callback ``(stage, done, total)``.
    imu : gyro samples already read (camera frame, gyro clock); skips reading.
    tracks : the whole clip's feature tracks already made for this video
        (:func:`~fusedstab.analysis.tracking.track_frame_pairs` with ``max_points``
        :data:`TRACKED_POINTS_MAX`), as when the plan is made again; skips tracking.
    """
    opts = options or StabilizeOptions()
    check_stabilize_options(opts)
    if opts.motion not in MOTION_SOURCES:
        raise InputError(f"unknown motion source {opts.motion!r}", f"use --motion {' | '.join(MOTION_SOURCES)}")
    if opts.projection not in WarpPlanner.PROJECTIONS:
        raise InputError(f"unknown output projection {opts.projection!r}",
                         f"use --projection {' | '.join(WarpPlanner.PROJECTIONS)}")
    video = Path(input_path)
    info = probe_video(video)
    output_size(info, opts.out_size)  # a size that does not fit the picture: say so before planning
    if info.frame_count < 2:
        raise InputError(f"{video} has only {info.frame_count} frame(s)", "give a clip of at least two frames")
    warnings: list[str] = []
    if info.interlaced:
        warnings.append(
            f"{video.name} is interlaced: each frame weaves two fields captured {500.0 / info.fps:.1f} ms apart, "
            "and they are warped as one picture, so moving edges keep their combing and may ripple; deinterlace "
            "it first (e.g. ffmpeg -i IN -vf bwdif -c:a copy OUT) and stabilize that")

    # --- motion analysis: the gyro ---------------------------------------------------
    read_here = imu is None  # the log is read here (and can be read again in other units)
    if imu is None and opts.motion != "video":
        try:
            imu = _load_imu(video, opts)
        except TelemetryError as exc:
            if opts.motion == "gyro" or opts.gyro is not None or opts.gyro_columns:
                raise
            warnings.append(f"no gyro: {exc.message}; the camera motion is estimated from the video alone")
    lens_dir = opts.lens is not None and Path(opts.lens).is_dir()  # a folder of profiles to search
    lens_given = opts.lens is not None and not lens_dir  # a profile given as a file
    # what the file says of its camera and picture (with --motion video, read without the IMU:
    # the lens it states, and the field of view a profile given must span)
    if imu is not None:
        file_meta = imu.meta
    elif (opts.motion == "video" and opts.fov_deg is None) or lens_dir:
        from .io.telemetry import camera_metadata

        file_meta = camera_metadata(video)
    else:
        file_meta = {}
    if opts.keep_lens and opts.lens is None:
        warnings.append("--keep-lens keeps a profile given with --lens; none was given, so it has no effect")
    lens_path, lens_alternatives = resolve_lens(video, info, imu, opts.lens, opts.fov_deg, warnings,
                                                search_env=opts.lens_search,
                                                check_given=opts.lens_search and not opts.keep_lens, meta=file_meta)
    opts_given = opts  # the re-plans returned as they are resolve the lens again, as the user gave it
    opts = replace(opts, lens=lens_path)
    if imu is not None and info.time_lapse > 1.0 and opts.motion == "auto":
        # frames seconds apart: a log on the camera's clock runs that much faster than the clip, and
        # the pictures between two frames are not in it to check against
        warnings.append(f"time-lapse: {video.name} was captured at {info.capture_fps:g} fps and plays at "
                        f"{info.fps:g} fps, {info.time_lapse:.0f}x faster than life; the gyro log is not matched "
                        "to it, and the video's own motion is used (--motion gyro uses the log as it is)")
        imu = None
    if opts.motion == "video":
        imu = None
    slow = info.slow_motion
    if slow > 1.0 and imu is not None:
        imu = imu.slowed(slow)
        warnings.append(f"slow motion: {video.name} was captured at {info.capture_fps:g} fps and plays at "
                        f"{info.fps:g} fps, {slow:.2f}x slower than life; the gyro log's clock, the readout and "
                        f"the exposure are slowed to match (--gyro-offset-ms is on the clip's clock)")
    eis = bool(imu is not None and imu.meta.get("in_camera_stabilization"))
    own_lens = file_lens(info, file_meta) if opts.lens is None and opts.fov_deg is None else None
    if own_lens is not None:
        log.info("no lens profile: the lens is the file's own, %s", own_lens.name)
    # a lens given, or the file's own: its focal length is not estimated from the video
    lens_known = opts.lens is not None or opts.fov_deg is not None or own_lens is not None
    camera, readout_s, readout_source = source_camera(info, imu, lens=opts.lens, fov_deg=opts.fov_deg,
                                                      readout_ms=opts.readout_ms, lens_camera=own_lens)
    if lens_given:  # a profile given as a file: does it span the picture?
        note = _lens_fov_note(camera, file_meta)
        if note:
            warnings.append(note)
    lens_motion_log = source_lens_motion(video, opts.lens_motion) if opts.use_lens_motion else None
    if slow > 1.0 and lens_motion_log is not None:
        lens_motion_log = lens_motion_log.slowed(slow)

    # --- motion analysis: the video ----------------------------------------------------
    pairs = None
    if opts.motion != "gyro":
        pairs = tracks if tracks is not None else track_frame_pairs(video, info=info, progress=progress, stage="track",
                                                                    max_points=TRACKED_POINTS_MAX)

    gyro = None  # (imu on the video clock, bias-corrected), track, sync facts
    uncovered: list[tuple[float, float]] = []  # where the gyro log does not reach (video clock)
    sync = None
    offset_s, offset_source, orientation, clock = 0.0, "none (no gyro)", "-", ClockMap(0.0)
    bias = None
    if imu is not None:
        sync_pairs = _pairs_in_sync_windows(pairs, info) if pairs is not None else None
        imu, offset_s, offset_source, readout_s, readout_source, sync, orientation = _resolve_sync(
            video, info, imu, camera, opts, readout_s, readout_source, warnings, progress, lens_motion_log,
            pairs=sync_pairs, estimate_focal=not lens_known,
        )
        if sync is not None and sync.reliable and sync.focal_scale != 1.0:
            camera = replace(
                camera, fx_px=camera.fx_px * sync.focal_scale, fy_px=camera.fy_px * sync.focal_scale,
                name=f"pinhole, focal estimated from the video: hfov {2 * np.degrees(np.arctan(info.width_px / (2 * camera.fx_px * sync.focal_scale))):.1f} deg",
            )
        clock = ClockMap(offset_s)
        if sync is not None and sync.reliable and len(sync.points) >= 2:
            clock = ClockMap(offset_s, sync.drift_ppm * 1e-6, float(sync.scores.get("_t_mid_s", 0.0)))
        imu_v = imu.on_clock(clock)
        rows_t0, rows_t1 = info.frame_times_s[0] + min(readout_s, 0.0), info.frame_times_s[-1] + max(readout_s, 0.0)
        uncovered = _check_coverage(imu_v, rows_t0, rows_t1, warnings, info.frame_period_s,
                                    video_fills=opts.motion == "auto" and pairs is not None)
        _check_gaps(imu_v, rows_t0, rows_t1, warnings)
        bias = estimate_gyro_bias(imu_v)
        if sync is not None and sync.reliable:
            bias = bias + np.asarray(sync.gyro_bias_rad_s)  # what the video shows is left (drift, horizon)
        imu_c = ImuSamples(imu_v.times_s, imu_v.gyro_rad_s - bias, imu_v.accel_m_s2, imu_v.source, imu_v.meta)
        gyro = (imu_c, integrate_gyro(imu_c))
    elif lens_motion_log is not None and opts.gyro_offset_ms is not None:
        clock = ClockMap(opts.gyro_offset_ms / 1000.0)
    lens_motion = lens_motion_log.on_clock(clock) if lens_motion_log is not None else None

    vm = None
    if pairs is not None and gyro is None and readout_source.startswith("unknown") and not eis:
        # no gyro to sync against: the rolling shutter's readout from the tracks alone, where
        # they show one (a shaky clip read row by row)
        from .analysis.video_motion import estimate_readout_from_video

        est, diag = estimate_readout_from_video(pairs, camera, info.frame_period_s)
        if est is not None:
            readout_s = est
            readout_source = f"estimated from the video (t {diag['t_stat']:.0f} on {diag['pairs']} frame pairs)"
            log.info("readout %.1f ms estimated from the video: %s", 1e3 * est, diag)
    video_readout_s = readout_s
    if pairs is not None:
        if gyro is None and not lens_known:
            from .analysis.video_motion import estimate_focal_from_video

            hfov, _ = estimate_focal_from_video(pairs, camera, readout_s=readout_s)
            if hfov is not None:
                camera = CameraModel.from_fov(info.width_px, info.height_px, hfov, pixel_aspect=camera.pixel_aspect,
                                              name=f"pinhole, focal estimated from the video: hfov {hfov:.1f} deg")
        if eis or (gyro is None and readout_source.startswith("unknown")):
            video_readout_s = 0.0  # in-camera EIS renders rolling-shutter-corrected frames
        from .analysis.video_motion import estimate_video_motion

        vm = estimate_video_motion(pairs, camera, readout_s=video_readout_s, lens_motion=lens_motion)

    # --- in-camera stabilization with its own record (GoPro CORI/IORI): undo it ------------
    eis_track, eis_camera = None, camera
    if eis and opts.motion != "video" and "frame_q_world_cam" in imu.meta:
        eis_track, eis_camera, eis_note = written_image_track(
            info, imu.meta, camera, vm, fit_focal=not lens_known)
        warnings.append(eis_note)

    # horizon lock: the written frames of an in-camera-stabilized clip are turned against the body
    # by the camera's stabilizer; its record (IORI) says by how much, and without it their horizon
    # is unknown
    image_from_body = None
    if opts.horizon_lock and eis:
        image_from_body = "unknown"
        if "frame_q_cam_image" in imu.meta:
            from .rotation import quat_to_matrix

            R_ci = quat_to_matrix(np.asarray(imu.meta["frame_q_cam_image"], dtype=np.float64))
            keep = np.minimum(np.arange(info.frame_count), len(R_ci) - 1)  # frames past the record hold its last
            image_from_body = R_ci[keep] if len(R_ci) else "unknown"

    # --- which motion, where -------------------------------------------------------------
    check = None
    from .analysis.verify import diagnose_gyro, gyro_agreement

    # --motion gyro tracks only the sync's windows: the check uses those tracks
    check_pairs = pairs if pairs is not None else (sync.pairs_used if sync is not None else None)
    check_vm = vm
    if gyro is not None and check_vm is None and check_pairs is not None and check_pairs.n_pairs >= 3:
        from .analysis.video_motion import estimate_video_motion

        check_vm = estimate_video_motion(check_pairs, camera, readout_s=0.0 if eis else readout_s,
                                         lens_motion=lens_motion)
    if eis_track is not None and check_vm is not None:
        check = gyro_agreement(check_pairs, check_vm, eis_track, eis_camera, readout_s=0.0)
        if check.video_segments:
            n_bad, n_all = len(check.video_segments), len(check.segments)
            check.cause = "the camera's orientation record (CORI/IORI) does not explain the picture"
            check.fix = "use --motion video"
            warnings.append(f"the camera's orientation record does not explain the picture in {n_bad} of {n_all} "
                            f"segments (agreement {check.agreement:.2f}); the video's own motion is compared with it")
    elif gyro is not None and check_vm is not None:
        check = gyro_agreement(check_pairs, check_vm, gyro[1], camera, readout_s=readout_s, lens_motion=lens_motion)
        # where the log does not reach, the video is used and the coverage warning said why
        misfits = [sg for sg in check.video_segments
                   if not any(a <= 0.5 * (sg.start_s + sg.end_s) < b for a, b in uncovered)]
        if misfits:
            check.cause, check.fix, check.diagnosis = diagnose_gyro(
                check_vm, gyro[0], mapping_used=orientation, in_camera_stabilization=eis)
            n_bad = len(misfits)
            n_all = len(check.segments) - (len(check.video_segments) - n_bad)
            if opts.motion == "auto":
                warnings.append(f"the gyro does not explain the picture in {n_bad} of {n_all} segments (agreement "
                                f"{check.agreement:.2f}): {check.cause}; the video's own motion is used there "
                                f"(fix: {check.fix})")
            else:
                warnings.append(f"the gyro does not explain the picture in {n_bad} of {n_all} segments (agreement "
                                f"{check.agreement:.2f}): {check.cause} (fix: {check.fix})")
    elif eis and opts.motion == "gyro":
        warnings.append("the camera stabilized this clip itself (in-camera EIS/HyperSmooth is on): gyro stabilization "
                        "on top of it can add motion; record with in-camera stabilization off, or use --motion auto")
    if (check is not None and check.diagnosis.get("units") == "deg/s" and read_here and imu.meta.get("text_log")
            and str(opts.gyro_units).strip().lower() == "auto"):
        # a text log in deg/s read as rad/s: the picture says which; plan again with the log in deg/s
        again = plan_stabilization(input_path, replace(opts_given, gyro_units="deg/s"), progress=progress,
                                   tracks=pairs)
        again.warnings.insert(0, f"the gyro log's values are deg/s, not rad/s: read as rad/s the gyro predicts about "
                                 f"{1.0 / max(check.diagnosis.get('scale', 1.0), 1e-12):.0f}x the motion the picture "
                                 "shows, so it was read again as deg/s (--gyro-units chooses)")
        return again

    candidates: list[tuple] = []  # (name, OrientationTrack, readout[, camera])
    if eis_track is not None:
        candidates.append(("camera orientation record (in-camera stabilization undone)", eis_track, 0.0, eis_camera))
    elif gyro is not None:
        bad = check.video_segments if check is not None else []
        if opts.motion == "auto" and vm is not None and (bad or uncovered):
            from .analysis.video_motion import splice_imu

            intervals = _merged([(sg.start_s, sg.end_s) for sg in bad] + uncovered)
            if check is not None and len(bad) == len(check.segments):
                candidates.append(("video", integrate_gyro(vm.as_imu()), video_readout_s))
            else:
                spliced = splice_imu(gyro[0], vm.as_imu(), intervals)
                share = sum(min(b, info.duration_s) - max(a, 0.0) for a, b in intervals) / max(info.duration_s, 1e-9)
                candidates.append((f"gyro+video ({100 * share:.0f} % of the clip from the video)",
                                   integrate_gyro(spliced), readout_s))
        else:
            candidates.append(("gyro", gyro[1], readout_s))
    too_little_texture = None  # the video's motion covers too little of the clip to stabilize by
    if vm is not None:
        usable = int(np.count_nonzero((vm.confidence >= 0.2) & np.all(np.isfinite(vm.omega_rad_s), axis=1)))
        if usable < MIN_TRACKED_SHARE * max(1, info.frame_count - 1):
            too_little_texture = (f"too little texture to track the camera's motion: {usable} of "
                                  f"{info.frame_count - 1} frame pairs could be tracked")
    if vm is not None and not any(c[0] == "video" for c in candidates) and too_little_texture and gyro is not None:
        warnings.append(too_little_texture + "; only the gyro is used")
    elif vm is not None and not any(c[0] == "video" for c in candidates):
        try:
            candidates.append(("video", integrate_gyro(vm.as_imu()), video_readout_s))
        except ValueError:
            if gyro is None:
                raise InputError(f"{video.name}: too little texture to track the camera's motion, and no gyro",
                                 "give a gyro log with --gyro, or a clip with a visible, textured scene") from None
            warnings.append("the video has too little texture to track; only the gyro is used")

    exposure_s = (opts.exposure_ms / 1000.0 * slow if opts.exposure_ms is not None
                  else float(imu.meta.get("exposure_s") or 0.0) if imu is not None else 0.0)

    planners: dict = {}

    def planner_for(track, ro, cam):
        """One planner per real camera (track, readout, lens), shared by its candidate plans:
        its row tables (2.4 KB per frame with a rolling shutter) are made once, not once per
        candidate kept for comparison."""
        key = (id(track), float(ro), id(cam))  # the planner holds both: the ids stay theirs
        if key not in planners:
            planners[key] = WarpPlanner(cam, track, readout_s=ro, lens_motion=lens_motion,
                                        grid_step_px=opts.grid_step_px, projection=opts.projection)
        return planners[key]

    def build(track, ro, cam=None, passthrough=False, sigma_s=DEFAULT_SMOOTHNESS_S, fov_keep=None, residual=False,
              intent=None, corridor=False):
        planner = planner_for(track, ro, cam or camera)
        R_real, crop, beta, roll = _virtual_camera(planner, info, opts, sigma_s, exposure_s, progress, warnings,
                                                   gyro_imu=gyro[0] if gyro is not None else None,
                                                   image_from_body=image_from_body,
                                                   passthrough=passthrough, fov_keep=fov_keep,
                                                   video_motion=vm if residual else None, intent=intent,
                                                   corridor=corridor)
        predicted = None
        if not passthrough and check_pairs is not None and check_pairs.n_pairs >= 3:
            from .analysis.verify import predicted_jitter

            predicted = predicted_jitter(check_pairs, planner, crop.R_world_virt,
                                         crop.zoom if crop.zoom_per_frame is None else crop.zoom_per_frame,
                                         info.frame_times_s, info.fps)
        return planner, R_real, crop, (beta, roll), predicted

    if opts.smoothness_s is not None:
        sigmas = [float(opts.smoothness_s)]
    else:
        sigmas = list(AUTO_SMOOTHNESS_S) if opts.lookahead_s is None else [DEFAULT_SMOOTHNESS_S]

    from .filtering.crop import DEFAULT_FOV_KEEP

    fov_given = opts.fov_keep if isinstance(opts.fov_keep, (int, float)) else None
    policy = opts.fov_keep if isinstance(opts.fov_keep, str) else "auto"  # checked up front
    # a crop is chosen per clip offline, and only where plans can be compared (tracked pairs)
    choose_crop = (fov_given is None and opts.lookahead_s is None and check_pairs is not None
                   and check_pairs.n_pairs >= 3)
    fov_default = fov_given if fov_given is not None else DEFAULT_FOV_KEEP

    residual_possible = vm is not None and opts.residual in ("on", "auto")
    corridor_possible = opts.corridor and opts.lookahead_s is None  # offline (online: the filter's own)
    res_always = residual_possible and opts.residual == "on"
    if opts.residual == "on" and not residual_possible:
        warnings.append("--residual on needs the tracked video (not --motion gyro): the hybrid residual is not used")

    def steadiest_sigma(track, ro, cam, fov, res, tried=None):
        """The plan of the sigma with the lowest predicted output jitter at crop budget ``fov``
        (``tried``: a plan already built at one sigma). build's tuple + (sigma, fov, res)."""
        best = tried
        for sg in sigmas:
            if tried is not None and sg == tried[5]:
                continue
            b = build(track, ro, cam, sigma_s=sg, fov_keep=fov, residual=res)
            if b[4] is None:  # nothing to predict with: the first sigma
                return b + (sg, fov, res)
            if best is None or b[4]["output_px"] < best[4]["output_px"] - 1e-9:
                best = b + (sg, fov, res)
        return best

    level_zooms: dict = {}

    def level_zoom_of(planner):
        """Horizon lock: the least zoom at which this planner's real camera turned level fits
        (:func:`_level_zoom`; the same for every candidate plan on it, so made once), or None
        where the lock cannot apply."""
        if id(planner) not in level_zooms:  # planners live as long as this plan (``planners``)
            t_c = planner.centre_time_s(info.frame_times_s)
            up, upright = _horizon_up(opts, gyro[0] if gyro is not None else None, image_from_body, t_c, [])
            level_zooms[id(planner)] = (None if up is None else
                                        _level_zoom(planner, planner.track.matrices_at(t_c), up, upright,
                                                    info.frame_times_s))
        return level_zooms[id(planner)]

    def level_fov(track, ro, cam):
        """Horizon lock: the widest budget at which the real camera turned level fits (at most
        ``max_zoom``'s), 1 without the lock."""
        need = level_zoom_of(planner_for(track, ro, cam or camera)) if opts.horizon_lock else None
        return 1.0 if need is None else float(np.floor(1e4 / min(need, opts.max_zoom)) / 1e4)

    def build_best(track, ro, cam=None, *, video_track=False):
        """The plan of the chosen crop budget (:func:`choose_fov_keep`) and the steadiest sigma
        there (by predicted output jitter), then with or without the hybrid residual: build's
        tuple + (sigma, fov_keep, residual used, the prediction before the residual and the
        corridor: :attr:`StabilizationPlan.predicted_plain`)."""
        res = res_always and not video_track
        plain_at: dict = {}  # budget -> its plain plan's prediction, where the scan took the corridor's
        # horizon lock, budget not given: no budget narrower than the level real camera needs
        cap = level_fov(track, ro, cam) if fov_given is None and opts.zoom_mode == "fixed" else 1.0
        fov_start = min(fov_default, cap)
        if not choose_crop:
            best = steadiest_sigma(track, ro, cam, fov_start, res)
        elif policy == "steady":
            best = steadiest_sigma(track, ro, cam, fov_start, res)
            by_fov = {fov_start: best}
            for f in dict.fromkeys(min(f, cap) for f in STEADY_FOV_KEEP_CHOICES):
                if f not in by_fov:
                    by_fov[f] = build(track, ro, cam, sigma_s=best[5], fov_keep=f, residual=res) + (best[5], f, res)
            best = by_fov[choose_fov_keep({k: v[4]["output_px"] for k, v in by_fov.items()}, policy="steady")]
        else:
            # widest first, at the first sigma and with plain smoothing; the first budget that
            # removes enough shake is taken (refined toward the wider one that did not), and only
            # then are the other sigmas, and the intent model, tried there: the budget does not
            # depend on the intent model, which at a given budget is kept only where it is steadier.
            # Where a budget's plain plan leaves too much and its crop pulls back, the corridor's
            # path there (the plan that budget would get) is asked too
            sg0 = sigmas[0]
            by_fov = {}

            def enough(b):
                return leaves_little_shake(b[4]["output_px"], b[4]["input_px"])

            def scan(f, corridor_too=True):
                """The first sigma's plain plan at budget ``f``; where it leaves too much and its
                crop pulls back, the corridor's plan there instead if that leaves little enough
                (``corridor_too``; a budget wider than the first is judged on its plain plan alone)."""
                b = build(track, ro, cam, sigma_s=sg0, fov_keep=f, residual=res, intent=False)
                if corridor_too and not enough(b) and corridor_possible and np.any(b[2].pullback > 0):
                    bc = build(track, ro, cam, sigma_s=sg0, fov_keep=f, residual=res, intent=False, corridor=True)
                    if enough(bc):
                        log.info("budget %.4f: the corridor's path leaves little enough shake (%.3f px, plain %.3f)",
                                 f, bc[4]["output_px"], b[4]["output_px"])
                        plain_at[f] = b[4]
                        b = bc
                by_fov[f] = b + (sg0, f, res)
                return b

            choices = list(dict.fromkeys(min(f, cap) for f in FOV_KEEP_CHOICES))  # widest first
            k0 = choices.index(min(FOV_KEEP_FIRST, cap))
            first = scan(choices[k0])
            wider: list = []  # budgets wider than the first, tried once its plan is made
            if enough(first):
                chosen = choices[k0]
                # only where the smoothed path halves the shake here without the corridor's help:
                # a clip that needs the corridor at this budget is not nearly as steady with less room
                if not first[2].corridor:
                    wider = choices[:k0][::-1]
            else:  # narrower, until one removes enough
                k_pass, k_fail = None, k0  # the widest budget tried that removes enough, the wider one beside it
                for k in range(k0 + 1, len(choices)):
                    if enough(scan(choices[k])):
                        k_pass = k
                        break
                    k_fail = k
                if k_pass is not None:  # bisect toward the wider budget that left too much
                    lo, hi = choices[k_pass], choices[k_fail]
                    for _ in range(FOV_KEEP_REFINE_STEPS):
                        mid = round(0.5 * (lo + hi), 4)
                        lo, hi = (mid, hi) if enough(scan(mid)) else (lo, mid)
                    chosen = lo
                else:  # none halves it: the steady rule
                    chosen = choose_fov_keep({k: v[4]["output_px"] for k, v in by_fov.items()},
                                             first[4]["input_px"])

            def finished(f):
                """The plan at budget ``f`` after the sigmas (and the intent model where it acts)."""
                # the scan's plan stands for the first sigma unless the intent model would act there
                # (the model's path, when it acts, is tried beside it)
                t_c = by_fov[f][0].centre_time_s(info.frame_times_s)
                intent_acts = opts.intent and len(_smoothed_paths(by_fov[f][1], t_c, sg0, True)) > 1
                b = steadiest_sigma(track, ro, cam, f, res, tried=None if intent_acts else by_fov[f])
                if f in plain_at and not enough(b):  # the budget was taken for the corridor's path
                    b = by_fov[f]
                return b

            best = finished(chosen)
            # wider (no bisection): taken while each halves the shake in the scan without the
            # corridor and its finished plan stays nearly as steady as the first budget's
            # (:data:`WIDER_FLOOR_PX`; the corridor, applied below to whichever budget is chosen,
            # would make the first budget's plan steadier still)
            ref = best
            for f in wider:
                if not enough(scan(f, corridor_too=False)):  # as at the first: halved by the smoothed path itself
                    break
                b = finished(f)
                if not nearly_as_steady(b[4]["output_px"], ref[4]["output_px"], b[4]["input_px"]):
                    break
                log.info("budget %.4f: nearly as steady as %.4f (%.3f px against %.3f)", f, ref[6],
                         b[4]["output_px"], ref[4]["output_px"])
                best = b
        # before the residual and the corridor
        plain = plain_at[best[6]] if best[2].corridor and best[6] in plain_at else best[4]
        if residual_possible and not res and not video_track:  # 'auto': kept only where it clearly helps
            b = build(track, ro, cam, sigma_s=best[5], fov_keep=best[6], residual=True)
            if b[4] is not None and b[4]["output_px"] < RESIDUAL_GAIN * best[4]["output_px"]:
                log.info("hybrid residual: predicted jitter %.3f -> %.3f px", best[4]["output_px"], b[4]["output_px"])
                best = b + (best[5], best[6], True)
        if corridor_possible and not best[2].corridor and np.any(best[2].pullback > 0):
            # the crop pulled the chosen plan back: the steadiest path inside its room, kept where
            # the tracks say it is steadier (the same budget, smoothness and residual); without
            # tracks to judge by (--motion gyro) it is kept, as online: by the simulator's truth it
            # is the steadier path wherever the crop pulls back (docs/BENCHMARKS.md, "The corridor
            # without tracks")
            b = build(track, ro, cam, sigma_s=best[5], fov_keep=best[6], residual=best[7], corridor=True)
            if best[4] is None:
                log.info("crop corridor: kept without tracks to judge it by (--motion gyro)")
                best = b + best[5:]
            elif b[4] is not None and corridor_steadier(b[4], best[4]):
                log.info("crop corridor: predicted jitter %.3f -> %.3f px, %.4f -> %.4f deg", best[4]["output_px"],
                         b[4]["output_px"], best[4]["output_deg"], b[4]["output_deg"])
                best = b + best[5:]
        return best + (plain,)

    # --- motion filtering, and the never-worse check ---------------------------------------
    passthrough = False
    name, track, ro, cam = (tuple(candidates[0]) + (None,))[:4]
    planner, R_real, crop, blur_beta, predicted, sigma_used, fov_used, residual_used, plain = build_best(
        track, ro, cam, video_track=name == "video")
    if predicted is not None:
        log.info("%s: predicted jitter %.3f -> %.3f px", name, predicted["input_px"], predicted["output_px"])
    if predicted is not None and opts.motion == "auto" and len(candidates) > 1 and predicted["ratio"] > 0.5:
        alt = (tuple(candidates[1]) + (None,))[:4]
        alt_built = build_best(alt[1], alt[2], alt[3], video_track=alt[0] == "video")
        flagged = check is not None and bool(check.cause)  # the gyro check named a fault
        if alt_built[4] is not None and not flagged and alt_built[4]["output_px"] >= UNFLAGGED_SWITCH_GAIN * predicted["output_px"]:
            # the gyro agrees with the picture and the video path is not clearly steadier: what
            # limits both is the crop budget (or the shake itself), not the gyro; keep the gyro
            log.info("%s path kept: the video's own motion predicts %.3f px against %.3f px, within %.0f %% and "
                     "the gyro check found no fault", name, alt_built[4]["output_px"], predicted["output_px"],
                     100 * (1 - UNFLAGGED_SWITCH_GAIN))
        elif alt_built[4] is not None and alt_built[4]["output_px"] < predicted["output_px"]:
            why = ""
            if check is not None:
                if not check.cause:  # the segments passed, yet the gyro path is the shakier one: say why
                    check.cause, check.fix, check.diagnosis = diagnose_gyro(
                        check_vm, gyro[0], mapping_used=orientation, in_camera_stabilization=eis)
                why = f"; likely cause: {check.cause} (fix: {check.fix})"
            warnings.append(f"the {name} path would leave {predicted['output_px']:.2f} px of jitter, the video's own "
                            f"motion {alt_built[4]['output_px']:.2f} px (input {predicted['input_px']:.2f} px): using "
                            f"the video's motion{why}")
            name, track, ro, cam = alt
            planner, R_real, crop, blur_beta, predicted, sigma_used, fov_used, residual_used, plain = alt_built
    keep_input = None  # the name of the plan when the frames are written as they are
    if name == "video" and too_little_texture:
        # a path bridged over most of the clip is a guess, and so is its predicted jitter
        warnings.append(f"{too_little_texture}, and there is no gyro: the frames are written as they are (no "
                        "stabilization; give a gyro log with --gyro)")
        keep_input = "none (input kept; too little texture)"
    elif predicted is not None and predicted["ratio"] > SHAKIER_RATIO:
        msg = (f"the planned output would be shakier than the input ({predicted['output_px']:.2f} px against "
               f"{predicted['input_px']:.2f} px of high-frequency jitter, motion from the {name})")
        roll = blur_beta[1]
        if roll is not None and np.max(np.abs(roll)) > HORIZON_LEVEL_TOL_DEG and opts.motion != "gyro":
            # levelling is what shakes it (the pull-back toward the real camera where a level frame
            # does not fit): steady the clip without the lock, and say what the lock needs
            again = plan_stabilization(input_path, replace(opts_given, horizon_lock=False), progress=progress,
                                       tracks=pairs)
            need = level_zoom_of(planner)
            fix = _horizon_fix(need, opts)
            again.warnings.insert(0, f"--horizon-lock is not applied: with it the output would be shakier than the "
                                     f"input ({predicted['output_px']:.2f} px against {predicted['input_px']:.2f} px "
                                     f"of high-frequency jitter), because a level horizon needs a {_zoom_up(need):.2f}x "
                                     f"zoom here and where a level frame does not fit, the camera is pulled back "
                                     f"toward its real, tilted orientation; the clip is stabilized without the lock "
                                     f"({fix})")
            return again
        if opts.motion == "gyro" and not opts.force:
            cause = f": {check.cause}" if check is not None and check.cause else ""
            raise InputError(msg + cause, "use --motion auto (the video checks the gyro), fix the gyro input, or "
                             "--force to render anyway")
        if opts.motion == "gyro" and opts.force:
            warnings.append(msg + "; rendered anyway (--force)")
        else:
            warnings.append(msg + "; the frames are written as they are (no stabilization)" + _online_hint(opts, sigma_used))
            keep_input = f"none (input kept; {name} rejected)"
    if keep_input is not None:
        planner, R_real, crop, blur_beta, _ = build(track, ro, cam, passthrough=True)
        fov_used, residual_used = 1.0, False
        if predicted is not None:
            predicted = dict(predicted, output_px=predicted["input_px"], output_deg=predicted["input_deg"], ratio=1.0)
        name, passthrough = keep_input, True
    blur_beta, horizon_roll = blur_beta
    if horizon_roll is not None and np.max(np.abs(horizon_roll)) > HORIZON_LEVEL_TOL_DEG and not passthrough:
        off = np.abs(horizon_roll)
        level_zoom = level_zoom_of(planner)
        fix = _horizon_fix(level_zoom, opts)
        warnings.append(
            f"--horizon-lock: the horizon is held level within {HORIZON_LEVEL_TOL_DEG:g} deg on "
            f"{100 * np.mean(off <= HORIZON_LEVEL_TOL_DEG):.0f} % of the frames, and strays up to {off.max():.1f} deg, "
            f"where levelling it would leave the source at this crop; a level horizon needs a "
            f"{_zoom_up(level_zoom):.2f}x zoom here ({fix})")
    # the lens misfits where the plain smoothed path leaves more than half the shake (the crop
    # corridor can still halve it: the hint stands)
    fit = plain if plain is not None and not passthrough else predicted
    if (not lens_known and fit is not None and fit["input_px"] > 0
            and (keep_input is None or "rejected" in keep_input)
            and fit["output_px"] > SHAKE_LEFT_MAX * fit["input_px"]):
        # a wide or fisheye lens drawn as a pinhole: rotations do not explain its picture
        share = max(0.0, 1.0 - predicted["output_px"] / predicted["input_px"])
        warnings.append(f"no lens profile ({planner.camera.name}): the plan removes {100 * share:.0f} % of the "
                        "high-frequency jitter; if this is a wide or fisheye lens (action cameras, drones), give its "
                        "Gyroflow lens profile with --lens PROFILE.json")
    from .filtering.crop import budget_zoom

    budget = budget_zoom(fov_used, opts.max_zoom)
    # (a budget chosen here that the real camera cannot keep is the widest that fits: no warning)
    if not passthrough and crop.zoom > budget + 1e-6 and opts.zoom_mode == "fixed" and fov_given is not None:
        warnings.append(
            f"even the real camera leaves the source at zoom {budget:.3f} (--fov-keep, --max-zoom "
            f"{opts.max_zoom:g}): zoom {crop.zoom:.3f} is used so that no frame shows undefined pixels"
        )
    plan = StabilizationPlan(
        info=info, camera=planner.camera, imu=imu if imu is not None else ImuSamples(np.zeros(0), np.zeros((0, 3)), None, ""),
        planner=planner, frame_times_s=info.frame_times_s, R_real=R_real,
        R_virt=crop.R_world_virt, crop=crop, offset_s=offset_s, clock=clock, readout_s=planner.readout_s,
        readout_source=readout_source if planner.readout_s == readout_s else "0 (in-camera EIS: frames already corrected)",
        lens_motion=lens_motion, warnings=warnings,
        offset_source=offset_source, imu_orientation=orientation, sync=sync, blur_beta=blur_beta,
        gyro_bias_rad_s=bias, motion_source=name, gyro_check=check, predicted=predicted, passthrough=passthrough,
        horizon_roll_deg=horizon_roll, smoothness_s=sigma_used, fov_keep=fov_used, residual=residual_used,
        lens_profile=str(opts.lens) if opts.lens is not None else None,
        predicted_plain=predicted if passthrough else plain,
    )
    remap = check.diagnosis.get("axes") if check is not None else None
    if (remap and read_here and opts.imu_orientation is None and orientation.lower() != "auto"
            and opts.motion == "auto" and predicted is not None):
        # the picture follows the gyro on other axes (a camera mounted upside down or sideways whose
        # log does not say so): plan again searching the axes, and keep that plan where it is steadier
        # (the lens as chosen here: other lenses are planned against the plan kept, below)
        again = plan_stabilization(input_path, replace(opts, imu_orientation="auto", lens_search=False),
                                   progress=progress, tracks=pairs)
        if (again.motion_source.startswith("gyro") and again.predicted is not None
                and again.predicted["output_px"] < predicted["output_px"]):
            again.warnings.insert(0, f"the gyro log's axes do not match the camera's as read ({orientation}): the "
                                     f"picture follows the gyro as {again.imu_orientation}, which is used (its plan "
                                     f"leaves {again.predicted['output_px']:.2f} px of jitter against "
                                     f"{predicted['output_px']:.2f} px with the {name}; give --imu-orientation "
                                     f"{again.imu_orientation} to skip the search)")
            plan = again
    if lens_alternatives and read_here and pairs is not None and predicted is not None:
        plan = _steadiest_lens(plan, input_path, opts, lens_alternatives, progress, pairs, given=lens_given)
    return plan


#: a folder's next candidate lens, or the lens the file states, replaces the first (the folder's
#: choice, or the profile given) where its plan's angular jitter is below this share of the
#: first's (the first stands unless the picture clearly disagrees)
LENS_ALTERNATIVE_GAIN = 0.9


def _angular_jitter(plan: StabilizationPlan) -> float:
    """The plan's predicted high-frequency output jitter as an angle [rad], before the hybrid
    residual (:attr:`StabilizationPlan.predicted_plain`): px over the output's focal length (the
    source's times the zoom), so that plans with different lenses compare."""
    pred = plan.predicted_plain or plan.predicted
    if pred is None:
        return float("inf")
    return float(pred["output_px"]) / (plan.planner.base_focal_px * (1.0 if plan.passthrough else plan.zoom))


def _steadiest_lens(plan: StabilizationPlan, input_path, opts: StabilizeOptions, alternatives, progress,
                    pairs: FramePairs, *, given: bool = False) -> StabilizationPlan:
    """``plan`` (with a folder's first lens, or the profile given: ``given``) or the plan of one of
    ``alternatives`` (a folder's next candidates, :attr:`~fusedstab.io.lens.LensChoice.alternatives`,
    and the lens the file states), whichever the tracks predict clearly steadier
    (:data:`LENS_ALTERNATIVE_GAIN`, by :func:`_angular_jitter`); the tracks are reused."""
    best, best_rad = plan, _angular_jitter(plan)
    first = Path(plan.lens_profile).name if plan.lens_profile else plan.camera.name
    for path, note in alternatives:
        try:  # None: the file's own lens (its field of view); no folder searched, no lens tried again
            other = plan_stabilization(input_path, replace(opts, lens=path, lens_search=False),
                                       progress=progress, tracks=pairs)
        except FusedStabError as exc:
            log.info("lens %s: no plan (%s)", path, exc)
            continue
        name = f"lens profile {Path(path).name}" if path is not None else f"the file's own lens ({other.camera.name})"
        rad = _angular_jitter(other)
        log.info("%s: predicted jitter %.3g mrad (%s: %.3g)", name, 1e3 * rad, first, 1e3 * best_rad)
        if rad < LENS_ALTERNATIVE_GAIN * best_rad:
            if given:
                why = (f"{name} explains the picture better than the lens profile given, {first} (predicted "
                       f"jitter {1e3 * rad:.2f} against {1e3 * best_rad:.2f} mrad): it is used; the profile fits "
                       "this clip less well (a poorer calibration, or one for another lens mode, resolution or "
                       "camera; --keep-lens uses it as it is)")
            else:
                why = (f"{name} explains the picture better than {first}, which the file's metadata ranked first "
                       f"in the folder (predicted jitter {1e3 * rad:.2f} against {1e3 * best_rad:.2f} mrad): it is "
                       "used")
            other.warnings[:0] = [note, why] if note else [why]
            best, best_rad = other, rad
    return best


def motion_hint(meta: dict) -> str:
    """What ``--motion auto`` does with a file's gyro, in one line (``fusedstab info``)."""
    if meta.get("in_camera_stabilization"):
        if "frame_q_world_cam" in meta:
            return ("in-camera stabilization is on; the file records the body's and the image's orientation per frame "
                    "(CORI/IORI): --motion auto undoes the camera's stabilization with that record, checks it against "
                    "the picture, and uses the video's own motion where that is steadier")
        return ("in-camera stabilization is on: the frames are already stabilized, so the gyro (the body's motion) "
                "does not describe them (no per-frame image orientation to undo it); --motion auto uses the video's "
                "own motion")
    return "gyro, checked against the video's own motion (--motion auto)"


def written_image_track(info: VideoInfo, meta: dict, camera: CameraModel, vm, *, fit_focal: bool = True):
    """The orientation of each written frame of an in-camera-stabilized clip, from its own record.

    A camera that stabilizes in the camera (GoPro HyperSmooth on HERO8 and later, MAX) writes
    per frame the body's orientation (CORI, ``R_world_cam``) and the rotation its stabilizer
    gave the image relative to the body (IORI, ``R_cam_image``). The written frame is then the
    picture of a virtual camera at ``R_world_image = R_world_cam · R_cam_image``, corrected for
    rolling shutter: stabilizing that track (readout 0) applies our filter to the real optics
    and keeps what the camera already did.

    Parameters
    ----------
    info : the video (frame k has record k; a record longer or shorter than the clip is cut to
        the common part, the frames past it hold the last orientation).
    meta : :func:`~fusedstab.io.telemetry.read_camera_metadata` facts with ``frame_q_world_cam``
        and ``frame_q_cam_image`` (K, 4) w-x-y-z.
    camera : the lens model in use (a pinhole guess unless a profile or --fov was given).
    vm : the video's own motion (:class:`~fusedstab.analysis.video_motion.VideoMotion`) or None.
    fit_focal : scale the focal length so the record's rotations explain the tracked image
        motion (pan and tilt; roll does not depend on it). Off when the lens is known.

    Returns
    -------
    (OrientationTrack or None, CameraModel, note) : None when the record does not match the
    picture (steps that disagree with the tracked motion), with the note saying so.
    """
    from .rotation import log_so3, quat_multiply
    from .types import OrientationTrack

    q = quat_multiply(np.asarray(meta["frame_q_world_cam"]), np.asarray(meta["frame_q_cam_image"]))
    k = min(len(q), info.frame_count)
    track = OrientationTrack(info.frame_times_s[:k], q[:k])
    if vm is None:
        return track, camera, ("in-camera stabilization is on: it is undone with the camera's own orientation "
                               "record (CORI/IORI), not checked against the picture (--motion gyro)")
    ok = (vm.confidence >= 0.3) & np.all(np.isfinite(vm.omega_rad_s), axis=1) & (vm.frame_a + 1 < k)
    if ok.sum() < 10:
        return None, camera, ("in-camera stabilization is on, and too few frames track to check the camera's "
                              "orientation record against the picture: the video's own motion is used")
    Ra, Rb = track.matrices_at(vm.t_a[ok]), track.matrices_at(vm.t_b[ok])
    rec = log_so3(np.swapaxes(Ra, -1, -2) @ Rb)  # (M, 3) the record's step in the camera's axes
    seen = vm.omega_rad_s[ok] * (vm.t_b[ok] - vm.t_a[ok])[:, None]
    scale = float(np.sum(rec[:, :2] * seen[:, :2]) / max(np.sum(rec[:, :2] ** 2), 1e-18)) if fit_focal else 1.0
    fitted = rec * np.array([scale, scale, 1.0])
    err = float(np.sqrt(np.sum((seen - fitted) ** 2) / max(np.sum(seen**2), 1e-18)))
    if not (0.25 <= scale <= 4.0) or err > 0.6:
        return None, camera, (f"in-camera stabilization is on, and the camera's orientation record does not match "
                              f"the picture (misfit {err:.2f}, scale {scale:.2f}): the video's own motion is used")
    cam = camera
    if fit_focal and abs(scale - 1.0) > 0.02:
        f = camera.fx_px * scale
        hfov = 2 * np.degrees(np.arctan(info.width_px / (2 * f)))
        cam = replace(camera, fx_px=f, fy_px=camera.fy_px * scale,
                      name=f"pinhole, focal fitted to the camera's orientation record: hfov {hfov:.1f} deg")
    return track, cam, (f"in-camera stabilization is on: it is undone with the camera's own orientation record "
                        f"(CORI/IORI; it explains the tracked motion with misfit {err:.2f})")


def _pairs_in_sync_windows(pairs, info):
    """The tracks inside the sync windows (all of them on a short clip)."""
    from .analysis.tracking import sync_windows

    windows = sync_windows(float(info.frame_times_s[-1] + info.frame_period_s))
    if len(windows) == 1:
        return pairs
    keep = np.zeros(pairs.n_pairs, bool)
    for wa, wb in windows:
        keep |= (pairs.t_a >= wa - 1e-9) & (pairs.t_b <= wb + 1e-9)
    return pairs.subset(keep)


def _smoothed_paths(R_real: np.ndarray, t_centre: np.ndarray, sigma_s: float, intent: bool) -> list[np.ndarray]:
    """The paths the virtual camera is proposed from: ``[R_gauss]``, plus the intent model's
    path where ``intent`` is on and the model acts somewhere (where it does not act,
    :func:`~fusedstab.filtering.intent.apply_intent` returns ``R_gauss`` exactly, and a second
    candidate would be the same work twice). Each (N, 3, 3) ``R_world_virt`` at ``t_centre``."""
    R_gauss = gaussian_smooth_orientations(R_real, t_centre, sigma_s)
    paths = [R_gauss]
    if intent and len(R_real) >= 3:
        from .filtering.intent import apply_intent

        R_intent = apply_intent(R_real, R_gauss, t_centre)[0]
        if not np.array_equal(R_intent, R_gauss):
            paths.append(R_intent)
    return paths


def _horizon_up(opts: StabilizeOptions, gyro_imu: ImuSamples | None, image_from_body, t_centre: np.ndarray,
                warnings: list[str]) -> tuple[np.ndarray | None, float]:
    """Horizon lock: ``(up_cam, upright_deg)``, the up direction in the written frames at each
    frame's centre time (N, 3) and the quarter turn the clip is held at
    (:func:`~fusedstab.filtering.horizon.upright_quarter_deg`); ``(None, 0)`` where the lock
    cannot apply (no accelerometer; in-camera stabilization without its record; a camera looking
    straight down or up), with a warning saying why. ``image_from_body``: as in
    :func:`_virtual_camera`."""
    from .filtering.horizon import gravity_up_in_camera, upright_quarter_deg

    upright = 0.0
    up_cam = gravity_up_in_camera(gyro_imu, t_centre) if gyro_imu is not None else None
    msg = None
    if up_cam is None and gyro_imu is None and opts.motion == "video":
        msg = ("--horizon-lock needs the gyro log's accelerometer, and --motion video does not read the log, so the "
               "horizon is not locked (use --motion auto)")
    elif up_cam is None:
        msg = "--horizon-lock needs accelerometer data; this gyro source has none, so the horizon is not locked"
    elif isinstance(image_from_body, str):
        msg = ("--horizon-lock is not applied: the camera stabilized this clip itself (in-camera EIS) and wrote "
               "no record of how it turned each frame, so the gyro's gravity does not give the frames' horizon "
               "(record with in-camera stabilization off, or use the camera's own horizon levelling)")
    else:
        if image_from_body is not None:
            up_cam = np.einsum("nji,nj->ni", image_from_body, up_cam)  # up in the written frame: R_cam_image^T up
        vertical = float(np.median(np.abs(up_cam[:, 2])))
        if vertical > np.cos(np.radians(HORIZON_VERTICAL_DEG)):
            msg = (f"--horizon-lock is not applied: the camera looks within "
                   f"{np.degrees(np.arccos(min(1.0, vertical))):.0f} deg of straight down or up (median over the "
                   f"clip), so the horizon is out of view and holding its roll would turn the picture with the "
                   f"camera's heading")
    if msg is not None:
        if msg not in warnings:
            warnings.append(msg)
        up_cam = None
    else:
        # offline from the whole clip; online from what a live pipeline has seen by its first output
        seen = (slice(None) if opts.lookahead_s is None
                else t_centre <= t_centre[0] + max(HORIZON_UPRIGHT_SEEN_S, float(opts.lookahead_s)))
        upright = upright_quarter_deg(up_cam[seen])
    return up_cam, upright


def _level_zoom(planner: WarpPlanner, R_real: np.ndarray, up_cam: np.ndarray, upright_deg: float,
                frame_times_s: np.ndarray) -> float:
    """The least fixed zoom at which the real camera turned level fits in every frame (inf if none
    up to 10): what holding the horizon level costs at the least."""
    from .filtering.crop import required_zoom
    from .filtering.horizon import level_target

    need = required_zoom(planner, level_target(R_real, R_real, up_cam, upright_deg), frame_times_s,
                         planner.border_points(), lo=1.0, hi=10.0)
    return float(np.max(need))


def _zoom_up(z: float) -> float:
    """A zoom rounded up to 0.01 (inf stays inf)."""
    return float(np.ceil(z * 100.0 - 1e-9) / 100.0) if np.isfinite(z) else np.inf


def _online_hint(opts: StabilizeOptions, sigma_s: float) -> str:
    """What to try where an online plan (``--lookahead``) is shakier than the input: online the
    smoothness is one and the intent model is offline only; the crop corridor is off with
    ``--no-corridor``; and a lookahead shorter than twice the smoothness cuts the Gaussian short. Measured on the real clips of
    ../shared/data (docs/BENCHMARKS.md, "Online mode on the real clips" and "The crop corridor
    online"): without the corridor the Karma clip was shakier than its input at a 0.5 s
    lookahead and steadier at 1 s; with it, steadied at 0.5 s."""
    if opts.lookahead_s is None:
        return ""
    longer = (f"a lookahead of at least twice the smoothness (--lookahead {2 * sigma_s:g}) or "
              if opts.lookahead_s < 2 * sigma_s - 1e-9 else "")
    off = "intent model is off"
    if not opts.corridor:
        off = "crop corridor (--no-corridor) and intent model are off"
    return (f"; online (--lookahead {opts.lookahead_s:g} s) the smoothness is fixed at {sigma_s:g} s and the "
            f"{off}: {longer}offline mode (no --lookahead) may steady it")


def _horizon_fix(level_zoom: float, opts: StabilizeOptions) -> str:
    """What gives the horizon lock the zoom ``level_zoom`` it needs, in words."""
    z = _zoom_up(level_zoom)
    if not z <= 10.0:
        return "no zoom up to 10 holds it: the camera is turned too far from upright"
    fov_given = isinstance(opts.fov_keep, (int, float)) and opts.zoom_mode == "fixed"
    if fov_given and 1.0 / float(opts.fov_keep) < z:  # the user's budget is what holds it back
        f = np.floor(100.0 / z) / 100.0
        return f"fix: --fov-keep {f:.2f}" + (f" --max-zoom {_zoom_up(1.0 / f):.2f}" if 1.0 / f > opts.max_zoom else "")
    if z > opts.max_zoom:
        return f"fix: --max-zoom {z:.2f}; it allows {opts.max_zoom:g}"
    if opts.zoom_mode == "adaptive":
        return "the adaptive zoom rises at most 0.1 per second; --horizon-lock DEG_PER_S levels more gradually"
    return "the crop pulls the camera back toward the real one there; a smaller --fov-keep leaves more room"


def _virtual_camera(planner: WarpPlanner, info: VideoInfo, opts: StabilizeOptions, sigma_s: float, exposure_s: float,
                    progress: Progress | None, warnings: list[str], *, gyro_imu: ImuSamples | None = None,
                    image_from_body=None, passthrough: bool = False, fov_keep: float | None = None, video_motion=None,
                    intent: bool | None = None, corridor: bool = False):
    """Stage 2 for one real-camera track: ``(R_real, CropResult, blur_beta, horizon_roll_deg)``;
    ``horizon_roll_deg`` (horizon lock, else None): the output's roll after the crop [deg] (N,).

    ``intent``: try the intent model's path beside plain smoothing (None: ``opts.intent``).

    ``corridor``: replace each proposed path by the steadiest path inside the crop's room
    (:func:`~fusedstab.filtering.corridor.corridor_path`; offline; with ``--zoom adaptive`` inside
    the room of the adaptive zoom each proposal gets, which the crop then keeps); the planner asks
    for it where the chosen plan's crop pulled back, and keeps it where the tracks agree.

    ``video_motion``: the clip's :class:`~fusedstab.analysis.video_motion.VideoMotion` for the
    hybrid residual (offline; ignored when the track is the video's own motion).

    ``gyro_imu``: the gyro (and accelerometer) on the video clock, bias removed, for the
    horizon lock; ``image_from_body``: where in-camera stabilization turned the written frames
    against the body, ``R_cam_image`` per frame (N, 3, 3) from its record, or ``"unknown"``
    (no record: the lock is not applied). ``passthrough``: the virtual camera is the real one (the input's motion kept).
    ``fov_keep``: the crop budget (default: ``opts.fov_keep``, else the default budget).
    """
    from .filtering.crop import DEFAULT_FOV_KEEP, budget_zoom

    frame_times = info.frame_times_s
    planner.remember_frames(frame_times)  # the crop fits ask for the frames' row tables many times
    t_centre = planner.centre_time_s(frame_times)
    R_real = planner.track.matrices_at(t_centre)
    n = len(frame_times)
    if passthrough:  # the renderer copies the frames; this only describes them
        return R_real, CropResult(R_real.copy(), 1.0, np.ones(n), np.ones(n)), np.zeros(n), None
    if fov_keep is None:
        fov_keep = opts.fov_keep if isinstance(opts.fov_keep, (int, float)) else DEFAULT_FOV_KEEP
    if not 0.0 < fov_keep <= 1.0:
        raise InputError(f"--fov-keep must be in (0, 1], got {fov_keep:g}", "give the fraction of the width to keep, e.g. 0.92")
    if opts.zoom_mode not in ("fixed", "adaptive"):
        raise InputError(f"--zoom must be fixed or adaptive, got {opts.zoom_mode!r}", "use --zoom fixed or --zoom adaptive")
    up_cam, upright = None, 0.0  # horizon lock: up in the frames, the quarter turn the clip is held at
    horizon_roll = None  # roll after the crop [deg] (N,)
    if opts.horizon_lock:
        up_cam, upright = _horizon_up(opts, gyro_imu, image_from_body, t_centre, warnings)
    blur_beta = np.zeros(n)
    residual_phi = None  # the hybrid residual's path, offline and online
    if video_motion is not None and video_motion.n_pairs >= 2:
        from .filtering.residual import residual_path

        residual_phi = residual_path(video_motion, R_real, frame_times)
    if opts.lookahead_s is None:
        from .filtering.blur_mask import hf_jitter_deg
        from .filtering.residual import apply_residual

        candidates = _smoothed_paths(R_real, t_centre, sigma_s, opts.intent if intent is None else intent)

        def finish(R_virt, zoom_per_frame=None):
            """Blur masking, horizon and the crop for one proposed path: (jitter, crop, beta, roll);
            ``zoom_per_frame``: the adaptive zoom the corridor's room was made at."""
            beta = np.zeros(n)
            if opts.blur_masking and exposure_s > 0:
                from .filtering.blur_mask import apply_blur_masking

                R_virt, beta, _ = apply_blur_masking(planner, R_real, R_virt, frame_times, exposure_s)
            pull_target = None
            roll = None
            if up_cam is not None:
                from .filtering.horizon import level_roll, level_target

                R_virt, roll = level_roll(R_real, R_virt, up_cam, t_centre, max_rate_deg_s=opts.horizon_rate_deg_s,
                                          upright_deg=upright)
                # pulling back must not bring the roll back
                pull_target = level_target(R_real, R_real, up_cam, upright)
            c = fit_crop(
                planner, R_real, R_virt, frame_times, fov_keep=fov_keep, max_zoom=opts.max_zoom, mode=opts.zoom_mode,
                zoom_rate_per_s=opts.zoom_rate_per_s, pull_target=pull_target, measure_need=False,
                zoom_per_frame=zoom_per_frame, progress=(lambda d, k: progress("crop", d, k)) if progress else None,
            )
            return hf_jitter_deg(c.R_world_virt, t_centre), c, beta, roll

        best = None
        room = None  # the crop's room (corridor), at the zoom the real camera fits at
        adaptive = opts.zoom_mode == "adaptive"
        if corridor and not adaptive:  # the zoom fit_crop will use
            from .filtering.crop import fixed_zoom

            zoom_c = fixed_zoom(planner, R_real, frame_times, budget_zoom(fov_keep, opts.max_zoom),
                                planner.border_points())
        for R_virt in candidates[::-1]:  # intent first
            if residual_phi is not None:
                R_virt = apply_residual(R_virt, residual_phi, t_centre)[0]
            zf = None
            if corridor:  # the steadiest path inside the crop's room
                from .filtering.corridor import corridor_path, corridor_room

                if adaptive:  # at the adaptive zoom this proposal gets (its need, spread and rate-bound)
                    from .filtering.crop import adaptive_zoom_of

                    R_need = R_virt
                    if up_cam is not None:  # the proposal as the horizon lock will turn it
                        from .filtering.horizon import level_roll

                        R_need = level_roll(R_real, R_virt, up_cam, t_centre, max_rate_deg_s=opts.horizon_rate_deg_s,
                                            upright_deg=upright)[0]
                    zoom_c = zf = adaptive_zoom_of(planner, R_real, R_need, frame_times,
                                                   budget_zoom(fov_keep, opts.max_zoom), opts.max_zoom,
                                                   rate_per_s=opts.zoom_rate_per_s)
                    room = corridor_room(planner, R_real, zf, frame_times)
                elif room is None:  # the same for every proposed path
                    room = corridor_room(planner, R_real, zoom_c, frame_times)
                R_virt = corridor_path(planner, R_real, R_virt, frame_times, zoom_c, sigma_s, room=room)
            r = finish(R_virt, zf)
            if corridor:
                r = (r[0], replace(r[1], corridor=True)) + r[2:]
            # intent is kept only if the final path is not shakier than plain smoothing
            if best is None or r[0] < best[0] - 1e-9:
                best = r
        _, crop, blur_beta, _ = best
    else:
        crop = _online_crop(planner, frame_times, opts, sigma_s, info.frame_period_s, progress,
                            exposure_s if opts.blur_masking else 0.0, zoom=budget_zoom(fov_keep, opts.max_zoom),
                            up_cam=up_cam, t_centre=t_centre, upright_deg=upright, residual_phi=residual_phi)
    if up_cam is not None:
        from .filtering.horizon import roll_deg

        horizon_roll = roll_deg(R_real, crop.R_world_virt, up_cam, upright)  # what the output shows, after the crop
    return R_real, crop, blur_beta, horizon_roll


def _online_crop(planner: WarpPlanner, frame_times: np.ndarray, opts: StabilizeOptions, sigma_s: float, period_s: float,
                 progress: Progress | None, exposure_s: float = 0.0, *, zoom: float | None = None,
                 up_cam: np.ndarray | None = None, t_centre: np.ndarray | None = None,
                 upright_deg: float = 0.0, residual_phi: np.ndarray | None = None) -> CropResult:
    """Run the bounded-lookahead filter over the frames (as a live pipeline would); with
    ``--zoom adaptive`` its per-frame zoom rises from the budget's toward ``--max-zoom`` where the
    frames in the queue need it (:class:`~fusedstab.filtering.online.OnlineFilter`)."""
    from .filtering.crop import fits, required_zoom
    from .filtering.online import OnlineFilter

    if opts.lookahead_s < 0:
        raise InputError(f"--lookahead must not be negative, got {opts.lookahead_s}", "give seconds, e.g. 0.5")
    n = len(frame_times)
    zoom = float(opts.max_zoom if zoom is None else zoom)
    filt = OnlineFilter(planner, sigma_s=sigma_s, lookahead_frames=int(round(opts.lookahead_s / period_s)),
                        zoom=zoom, frame_period_s=period_s, exposure_s=exposure_s, up_cam=up_cam,
                        horizon_rate_deg_s=opts.horizon_rate_deg_s, upright_deg=upright_deg,
                        max_zoom=opts.max_zoom if opts.zoom_mode == "adaptive" else None, residual_phi=residual_phi,
                        corridor=opts.corridor)
    V = np.empty((n, 3, 3))
    lam = np.zeros(n)
    for k, t in enumerate(frame_times):
        for j, Vj, lj in filt.push(t):
            V[j], lam[j] = Vj, lj
        if progress:
            progress("filter", k + 1, n)
    for j, Vj, lj in filt.flush():
        V[j], lam[j] = Vj, lj
    border = planner.border_points()
    need = required_zoom(planner, V, frame_times, border, lo=0.5)
    if filt.adaptive:  # each frame was checked at its own zoom as it left the queue
        zf = np.array([filt.zooms[j] for j in range(n)])
        return CropResult(V, float(zf.max()), lam, need, zf, corridor=filt.corridor)
    # the crop is fixed up front; only if even the real camera does not fit is it widened
    if not np.all(fits(planner, V, zoom, frame_times, border)):
        zoom = float(np.max(need[np.isfinite(need)])) if np.any(np.isfinite(need)) else 4.0
    return CropResult(V, zoom, lam, need, corridor=filt.corridor)


def _supersampling(source_width_px: int, out_width_px: int, zoom: float) -> int:
    """``k`` for an output ``out_width_px`` wide (``--size``): the warp runs at ``k`` times the
    output's size, the least that samples the source at its own scale or finer (1 where the
    output already does, up to 4), and is then area-averaged ``k x k``."""
    ratio = source_width_px / (out_width_px * max(zoom, 1e-9))
    return int(min(4, max(1, np.ceil(ratio - 0.05))))


def _scaled(frame: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    """A frame at ``width_px`` x ``height_px``: area-averaged down (k x k blocks exactly, for a
    warp made at k times the size), bilinear up."""
    import cv2

    smaller = width_px < frame.shape[1]
    return cv2.resize(frame, (width_px, height_px), interpolation=cv2.INTER_AREA if smaller else cv2.INTER_LINEAR)


#: the largest output side ``--size`` takes [px]
MAX_OUTPUT_SIDE_PX = 16384


def output_size(info: VideoInfo, out_size) -> tuple[int, int]:
    """The written frame size for ``StabilizeOptions.out_size`` (None: the source's).

    A height not given follows the source's aspect ratio, rounded to an even number (4:2:0
    video). The size must keep the source's aspect ratio (its height within 1 % or a pixel of
    the width's, whichever is more: the output is the planned picture drawn at another
    resolution) and be even.

    Raises
    ------
    InputError : a size out of range, odd, or of another aspect ratio.
    """
    W0, H0 = info.width_px, info.height_px
    if out_size is None:
        return W0, H0
    try:
        w, h = out_size
        W = int(w)
        H = int(h) if h is not None else 2 * max(1, round(W * H0 / W0 / 2.0))
    except (TypeError, ValueError):
        raise InputError(f"--size must be WIDTHxHEIGHT or WIDTH in pixels, got {out_size!r}",
                         f"e.g. --size {W0}x{H0} or --size {W0}") from None
    if w is None or W != w or (h is not None and H != h):
        raise InputError(f"--size must be whole pixels, got {out_size!r}", f"e.g. --size {W0}x{H0}")
    We = W - W % 2
    fix_h = 2 * max(1, round(We * H0 / W0 / 2.0))
    fix = f"give --size {We}x{fix_h} (the source's {W0}x{H0} aspect ratio), or --size {We} for that height"
    if not (16 <= W <= MAX_OUTPUT_SIDE_PX and 16 <= H <= MAX_OUTPUT_SIDE_PX):
        raise InputError(f"--size {W}x{H} is out of range: each side 16..{MAX_OUTPUT_SIDE_PX} px",
                         f"give a size such as --size {W0}x{H0}")
    if W % 2 or H % 2:
        raise InputError(f"--size {W}x{H} is odd: 4:2:0 video needs an even width and height", fix)
    if abs(H - W * H0 / W0) > max(1.0, 0.01 * W * H0 / W0):
        raise InputError(f"--size {W}x{H} has another aspect ratio than the source's {W0}x{H0}: the output is "
                         "the stabilized picture at another resolution, not a new crop", fix)
    return W, H


#: frames planned per vectorized planner call in :func:`render`
PLAN_BATCH = 8
#: grid nodes planned per call at most (their per-node rotations and the row search's
#: temporaries, ~1 KB a node): 8 frames of 1080p, 2 of 4K (at 4K with a rolling shutter, 8
#: frames a call held about 75 MB more at the render's peak)
PLAN_BATCH_NODES = 65536
#: frames each stage of the concurrent render may run ahead of the next (memory: about
#: 3 x QUEUE_DEPTH decoded / warped frames in flight); fewer for large frames (below)
QUEUE_DEPTH = 4
#: bytes of frames one queue may hold: 4 frames of 1080p, 1 of 4K
QUEUE_BYTES = 32e6


def _planned_warps(plan: StabilizationPlan, timer: dict, planner: WarpPlanner | None = None):
    """``(index, FrameWarp)`` for every frame in order, planned ``PLAN_BATCH`` frames at a time
    (fewer for large frames: :data:`PLAN_BATCH_NODES`; by ``planner``: the plan's own, or it resized for ``--size``)."""
    n = plan.info.frame_count
    planner = planner or plan.planner
    batch = max(1, min(PLAN_BATCH, PLAN_BATCH_NODES // int(np.prod(planner.grid_px.shape[:2]))))
    for a in range(0, n, batch):
        t = time.perf_counter()
        b = min(n, a + batch)
        warps = planner.frame_warps(plan.R_virt[a:b], np.array([plan.zoom_at(i) for i in range(a, b)]),
                                         plan.frame_times_s[a:b])
        timer["plan_s"] = timer.get("plan_s", 0.0) + time.perf_counter() - t
        yield from zip(range(a, b), warps)


def _timed(items, timer: dict, key: str):
    """Pass ``items`` through, adding the time spent producing each to ``timer[key]``."""
    it = iter(items)
    while True:
        t = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return
        finally:
            timer[key] = timer.get(key, 0.0) + time.perf_counter() - t
        yield item


class _EncodeThread:
    """``write(frame, pts)`` (a writer's ``write`` or ``write_planar``) in a background thread
    behind a bounded queue (FFmpeg releases the GIL).

    :meth:`put` re-raises an error the encoder hit; :meth:`close` drains the queue and waits.
    """

    def __init__(self, write: Callable, timer: dict, depth: int):
        import queue
        import threading

        self._q: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._write, self._timer = write, timer
        self._thread = threading.Thread(target=self._run, name="fusedstab-encode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            if self._error is not None:
                continue  # drain after a failure
            t = time.perf_counter()
            try:
                self._write(*item)
            except BaseException as exc:  # noqa: BLE001 - handed to the producer
                self._error = exc
            self._timer["encode_s"] = self._timer.get("encode_s", 0.0) + time.perf_counter() - t

    def put(self, frame: np.ndarray, pts: int) -> None:
        if self._error is not None:
            raise self._error
        self._q.put((frame, pts))

    def close(self) -> None:
        self._q.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


def _width_kept(plan) -> float | None:
    """:attr:`StabilizeReport.width_kept` of a plan (at its mean zoom), rounded; None where the
    lens cannot image the output's edge."""
    w = plan.planner.width_kept(1.0 / plan.crop.fov_kept)
    return round(w, 4) if np.isfinite(w) else None


def render(
    plan: StabilizationPlan,
    output_path: str | os.PathLike,
    options: StabilizeOptions | None = None,
    *,
    progress: Progress | None = None,
    concurrent: bool = True,
    timings: dict | None = None,
    planar: bool | None = None,
) -> float:
    """Stage 3: stream every frame through its warp and encode. Returns seconds spent.

    ``planar`` (default None: wherever it can): frames go from the decoder through the warp
    to the encoder as their 4:2:0 planes, each plane warped at its own sample positions, with
    no conversion to BGR and back (8-bit ``yuv420p`` sources and an 8-bit 4:2:0 encoder, see
    :meth:`VideoWriter.takes_planar`; either backend, which on a GPU also halves the bytes
    uploaded). False: through BGR, as 10-bit sources always go. The two agree to
    colour-conversion rounding (tests).

    ``concurrent`` (default): decoding, warp planning (``PLAN_BATCH`` frames per vectorized
    call), the remap and the encoder run at the same time in four threads joined by bounded
    queues (``QUEUE_DEPTH`` frames), so the wall time approaches the slowest stage. False:
    the same steps one after the other in this thread; the output is the same (the tests
    compare the two). ``timings``: a dict that receives the seconds spent in each stage
    (``decode_s``, ``plan_s``, ``warp_s``, ``encode_s``; busy time of each, which overlap when
    concurrent), ``render_s`` and ``frames`` (frames written).
    """
    opts = options or StabilizeOptions()
    check_stabilize_options(opts)
    backend = get_backend(opts.backend, device=opts.device, interpolation=opts.interpolation)
    info = plan.info
    t_start = time.perf_counter()
    n = info.frame_count
    n_shown = max(1, info.shown_frame_count)  # what the decoder outputs (an edit list's pre-roll is not)
    timer: dict = {}
    out_w, out_h = output_size(info, getattr(opts, "out_size", None))
    resize = (out_w, out_h) != (info.width_px, info.height_px)
    # an output smaller than the source's picture is warped at k times its size (at least the
    # source's scale) and area-averaged k x k: a bilinear sample of every other source pixel
    # would alias fine detail
    k = _supersampling(info.width_px, out_w, float(plan.zoom)) if resize and not plan.passthrough else 1
    planner = plan.planner.resized(out_w * k, out_h * k)
    if plan.passthrough and not resize:
        copier = VideoWriter(output_path, info, info.width_px, info.height_px, copy_audio_from=info.path,
                             codec=getattr(opts, "codec", "h264"), hw_encode=False, copy_video=True)
        if copier.can_copy_video():  # the input kept: its packets copied, nothing decoded or re-encoded
            with copier:
                copier.copy_all()
            if progress:
                progress("render", n_shown, n_shown)
            plan.warnings.extend(copier.notes)
            seconds = time.perf_counter() - t_start
            if timings is not None:
                timings.update(render_s=round(seconds, 3), copied=True, frames=info.shown_frame_count)
            return seconds
    deep = getattr(info, "bit_depth", 8) > 8 and not plan.passthrough
    with VideoWriter(
        output_path, info, out_w, out_h,
        copy_audio_from=info.path, crf=opts.crf, preset=opts.preset, codec=getattr(opts, "codec", "h264"),
        hw_encode=getattr(opts, "hw_encode", False), deep=deep,
    ) as writer:
        # 10-bit planes go only where they are read and written in place (the OpenCV backend)
        can_planar = writer.takes_planar() and not (plan.passthrough and resize) and k == 1 and (
            plan.passthrough or hasattr(backend, "warp_yuv420_planes" if deep else "warp_yuv420"))
        if planar and not can_planar:
            raise ValueError("this source, backend or encoder cannot be rendered plane by plane (planar=True)")
        planar = can_planar if planar is None else bool(planar)
        # sized by BGR frames either way: the planar route's smaller frames save memory, not deepen the queues
        depth = int(max(1, min(QUEUE_DEPTH, QUEUE_BYTES // (info.width_px * info.height_px * 3 * (2 if deep else 1)))))
        # the OpenCV backend reads the decoder's planes and writes the encoder frame's in place
        in_place = planar and hasattr(backend, "warp_yuv420_planes")
        frames = _timed(iter_frames(info.path, deep=deep, planar=planar, raw=in_place), timer, "decode_s")
        warps = None if plan.passthrough else _planned_warps(plan, timer, planner)
        if concurrent:
            frames = prefetch(frames, depth=depth)
            warps = prefetch(warps, depth=2) if warps is not None else None
        full_range = info.full_range
        write = writer.write_planar if planar else writer.write
        encoder = _EncodeThread(write, timer, depth) if concurrent else None
        try:
            pts_to_index = {int(p): i for i, p in enumerate(info.pts)}
            done = 0
            next_warp = (-1, None)
            for pts, frame in frames:
                i = pts_to_index.get(pts)
                if i is None:  # a frame the demuxer did not list: place it by time
                    i = int(np.clip(np.searchsorted(info.pts, pts), 0, n - 1))
                if not plan.passthrough:
                    while next_warp[0] < i:
                        next_warp = next(warps, (n, None))
                    if next_warp[0] == i:
                        warp = next_warp[1]
                    else:  # out of order (a repeated or unlisted frame): plan it on its own
                        warp = planner.frame_warps(plan.R_virt[i:i + 1], [plan.zoom_at(i)],
                                                   plan.frame_times_s[i:i + 1])[0]
                    t = time.perf_counter()
                    if in_place:
                        out, planes = writer.planar_frame()
                        backend.warp_yuv420_planes(yuv420_planes(frame), planes, warp, full_range=full_range)
                        frame = out
                    elif planar:
                        frame = backend.warp_yuv420(frame, warp, full_range=full_range)
                    else:
                        frame = backend.warp(frame, warp)
                        if k > 1:  # k x k area average down to the size asked
                            frame = _scaled(frame, out_w, out_h)
                    timer["warp_s"] = timer.get("warp_s", 0.0) + time.perf_counter() - t
                elif resize:  # the input kept, at another size (--size): scaled as it is
                    t = time.perf_counter()
                    frame = _scaled(frame, out_w, out_h)
                    timer["warp_s"] = timer.get("warp_s", 0.0) + time.perf_counter() - t
                elif in_place:  # the input kept, re-encoded: its planes copied into a fresh frame
                    out, planes = writer.planar_frame()
                    for dst, src in zip(planes, yuv420_planes(frame)):
                        np.copyto(dst, src)
                    frame = out
                if encoder is not None:
                    encoder.put(frame, pts)
                else:
                    t = time.perf_counter()
                    write(frame, pts)
                    timer["encode_s"] = timer.get("encode_s", 0.0) + time.perf_counter() - t
                done += 1
                if progress:
                    progress("render", done, n_shown)
        finally:
            if encoder is not None:
                encoder.close()
            for it in (frames, warps):
                if hasattr(it, "close"):
                    it.close()
        t = time.perf_counter()
    timer["encode_s"] = timer.get("encode_s", 0.0) + time.perf_counter() - t  # the encoder's flush
    plan.warnings.extend(writer.notes)  # tracks the output container cannot hold
    seconds = time.perf_counter() - t_start
    if timings is not None:
        timings.update({k: round(v, 3) for k, v in timer.items()}, render_s=round(seconds, 3), planar=planar,
                       frames=done, size=(writer.width_px, writer.height_px))
    return seconds


def stabilize(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    options: StabilizeOptions | None = None,
    *,
    progress: Progress | None = None,
    on_plan: Callable[[StabilizationPlan], None] | None = None,
) -> StabilizeReport:
    """Stabilize ``input_path`` into ``output_path`` (H.264 MP4, audio and timestamps kept).

    ``on_plan``: called with the :class:`StabilizationPlan` once the output is written (e.g.
    :func:`fusedstab.measure.report.write_report` needs it).

    Examples
    --------
    >>> from fusedstab.pipeline import stabilize, StabilizeOptions
    >>> report = stabilize("clip.mp4", "clip.stab.mp4", StabilizeOptions(smoothness_s=0.5))  # doctest: +SKIP
    """
    opts = options or StabilizeOptions()
    check_stabilize_options(opts)
    inputs = [input_path, opts.gyro, opts.lens, opts.lens_motion, opts.frame_timestamps]
    out = check_output_path(output_path, *[p for p in inputs if p is not None])
    get_backend(opts.backend, device=opts.device, interpolation=opts.interpolation)  # no torch / GPU: say so now
    encoder = check_codec(opts.codec, out, opts.hw_encode)  # an unknown codec or container: say so now
    t0 = time.perf_counter()
    plan = plan_stabilization(input_path, opts, progress=progress)
    t_plan = time.perf_counter() - t0
    stages: dict = {}
    render(plan, out, opts, progress=progress, concurrent=opts.concurrent, timings=stages)
    seconds = time.perf_counter() - t0
    frames = int(stages.pop("frames", plan.info.shown_frame_count))
    size = stages.pop("size", None)  # as written: a subsampled chroma plane needs an even size
    timings = {"plan_s": round(t_plan, 3),
               "sync_s": round(float(plan.sync.seconds), 3) if plan.sync is not None else None,
               "render_s": stages.pop("render_s", None), "render": stages}
    if on_plan is not None:
        on_plan(plan)
    return StabilizeReport.from_plan(plan, input_path, out, opts, seconds=seconds, frames=frames, timings=timings,
                                     encoder=encoder, size=size)
