"""Ground-truth camera simulator: rolling shutter, OIS, focus breathing, motion blur.

A synthetic camera turns (pure rotation) inside a procedural textured environment at
infinity. Its body angular velocity is a smooth, seeded function of time; integrating it
finely gives the true orientation ``R_world_cam(t)``. Every pixel of every frame is rendered
at its own row time through the lens model, so the video, the gyro log, the lens-motion
log and the truth file describe exactly the same camera.

Files written for ``PREFIX``
----------------------------
``PREFIX.mp4``
    H.264 video (CRF 16), frame ``i`` shown at ``t_i = i / fps`` on the **video clock**
    (``pts = 1000 i`` in a time base of ``1 / round(1000 fps)``).
``PREFIX.gcsv``
    Gyroflow gcsv IMU log (gyro + accelerometer) on the **log clock**: log ``t = 0`` is
    ``lead_s`` before the first frame, so a sample read at log time ``T`` belongs to video
    time ``T + gyro_offset_s`` with ``gyro_offset_s = -lead_s``. The raw columns are in the
    camera frame (x right, y down, z forward); gyro in rad/s (``gscale,1.0``), accelerometer
    in g (``ascale,1.0``), time in microseconds (``tscale,0.000001``). The header line
    ``orientation,yxz`` tells Gyroflow / telemetry-parser how to reach its normalized IMU
    frame (x up, y left, z back): ``normalized = (-raw_y, -raw_x, -raw_z)``, so the package's
    conversion ``w_cam = radians((-w_y, -w_x, -w_z))`` returns the raw camera-frame values.
    (telemetry-parser subtracts the first timestamp, so the first row is written at t = 0.)
``PREFIX.lens.json``
    Gyroflow lens profile of the simulated lens (pinhole = ``opencv_standard`` with zero
    coefficients, or ``opencv_fisheye`` with mild k1..k4), ``frame_readout_time`` in ms.
``PREFIX.lens.csv`` (only with OIS or focus breathing)
    Lens-motion log, one row per sample (1 kHz), on the same **log clock** as the gcsv::

        t_s,ois_x_px,ois_y_px,focus_pos,focal_scale

    * ``t_s``: log time [s] (video time = ``t_s - lead_s``).
    * ``ois_x_px, ois_y_px``: OIS lens shift [px at the video resolution], **added to the
      principal point**: ``cx' = cx + ois_x_px``, ``cy' = cy + ois_y_px``.
    * ``focus_pos``: focus position, 0 (one end of travel) .. 1 (other end), unitless.
    * ``focal_scale``: multiplies ``fx`` and ``fy`` (1.0 = the lens profile's focal length).

    See ``docs/LENS_MOTION_CSV.md``.
``PREFIX.truth.npz``
    ``times_s`` (M,) fine times on the video clock (4 kHz, covering the whole log span),
    ``quat_wxyz`` (M, 4) true ``R_world_cam``, ``omega_rad_s`` (M, 3) true body angular
    velocity, ``frame_times_s`` (N,), ``readout_s``, ``exposure_s`` (0 when motion blur is
    off), ``gyro_offset_s``, ``gyro_bias_rad_s`` (3,), ``intent`` (N,) labels,
    ``ois_shift_px`` (M, 2), ``focus_pos`` (M,), ``focal_scale`` (M,), ``camera_matrix``
    (3, 3), ``dist_coeffs``, ``lens_model``, ``params_json``, and with ``--in-camera-eis``
    ``eis_quat_wxyz`` (M, 4). Read it with :func:`load_truth`.
    Intent labels: ``still`` (tripod-like jitter), ``walk``, ``run``, ``pan``, and ``turn``
    during the 90 deg turn of the 'turn' scenario (``walk`` before and after it).

In-camera stabilization (``--in-camera-eis``)
---------------------------------------------
The frames are what an ideal in-camera EIS outputs: every frame shows the scene from a
*smoothed* orientation ``R_eis(t_i)`` (the true body orientation Gaussian-smoothed with
sigma ``EIS_SIGMA_S``), through a global shutter (the EIS corrects the rolling shutter:
sensor row ``v``, read at ``t_i + readout_s * v / H``, is warped with
``R_body(t_row)^T R_eis(t_i)``). The gyro log still records the real body, and nothing in
the gcsv, lens profile or metadata says that EIS was on (as with many real files): the
video alone must reveal it. In the truth file ``quat_wxyz`` / ``omega_rad_s`` stay the
**body** (what the gyro measures) and ``readout_s`` the sensor's readout; what the frames
show is ``eis_quat_wxyz`` (:attr:`Truth.eis_track`), sampled on the same ``times_s`` (frame
``i`` shows ``R_eis(t_i)`` on every row). With motion blur, each sub-frame at ``t_row + d``
sees ``R_body(t_row + d) R_body(t_row)^T R_eis(t_i)`` (the blur of the real shake stays).
OIS together with in-camera EIS is not simulated.

Rendering
---------
Pixel ``(u, v)`` of frame ``i`` is seen at row time ``t = t_i + readout_s * v / H``
(mid-exposure of the row); its ray is
``R_world_cam(t) @ camera.unproject((u, v), principal_offset_px=ois(t), focal_scale=s(t))``,
looked up in an equirectangular panorama. With motion blur each frame averages sub-frames
spread over ``[t - exposure_s / 2, t + exposure_s / 2]``. Orientation between the fine truth
samples is SLERP, exactly what :class:`fusedstab.types.OrientationTrack` built from the truth
file returns.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..camera import CameraModel
from ..errors import InputError, OutputError
from ..io.lens import lens_profile_dict
from ..io.lens_motion import write_lens_motion
from ..io.video import VideoInfo, VideoWriter
from ..types import LensMotion, OrientationTrack

__all__ = [
    "SCENARIOS",
    "SimConfig",
    "SimResult",
    "Truth",
    "simulate",
    "load_truth",
    "make_camera",
    "gravity_up_world",
]

SCENARIOS = ("still", "walk", "run", "pan", "turn")
LENSES = ("pinhole", "fisheye")
FISHEYE_COEFFS = (0.05, 0.02, -0.01, 0.002)
GCSV_ORIENTATION = "yxz"

_TRUTH_RATE_HZ = 4000.0
_LENS_CSV_RATE_HZ = 1000.0
_TAIL_S = 0.2  # the gyro log runs this long past the last frame
_PAD_S = 0.1  # the truth covers this much beyond the log on both sides
_OIS_LIMIT_DEG = 1.5
_OIS_HIGHPASS_HZ = 0.3
_OIS_KNEE = 0.6  # the limiter is linear up to this share of the range
_BREATHING = 0.02  # focal_scale = 1 + _BREATHING * focus_pos
_G = 9.80665
#: Gaussian sigma [s] of the simulated in-camera EIS's smoothed orientation
EIS_SIGMA_S = 0.4
_EIS_GRID_HZ = 200.0  # the EIS smoothing runs on this grid, then SLERP to the truth times


# ============================================================================ config
@dataclass
class SimConfig:
    """Everything that defines a simulated clip (same config + seed = same files).

    Attributes
    ----------
    scenario : 'still' | 'walk' | 'run' | 'pan' | 'turn'.
    width_px, height_px : frame size (even numbers).
    fps : frame rate [1/s]; frame ``i`` is at ``i / fps`` on the video clock.
    duration_s : clip length [s].
    readout_s : rolling-shutter readout, top row to bottom row [s] (0 = global shutter).
    hfov_deg : horizontal field of view [deg] (the fisheye lens keeps the same HFOV).
    lens : 'pinhole' | 'fisheye'.
    gyro_rate_hz : gyro sample rate [Hz].
    gyro_noise_rad_s : white gyro noise, standard deviation per axis per sample [rad/s].
    gyro_bias_rad_s : constant gyro bias (3,) [rad/s]; ``None`` = random by seed with norm
        ``0.005``.
    lead_s : the gyro log starts this long before the first frame [s].
    ois : simulate an OIS lens shift (and write ``PREFIX.lens.csv``).
    focus_breathing : simulate focus pulls with focal-length breathing.
    motion_blur : average sub-frames over ``exposure_s``.
    exposure_s : exposure time [s] (used when ``motion_blur``).
    seed : random seed for motion, scene and noise.
    shake_scale : multiplies hand shake and footstep jolts (not pans/turns).
    roll_drift_deg : a slow roll about the optical axis, this many degrees over the clip
        (constant rate; tests horizon lock).
    held_roll_deg : the camera held turned this much about its optical axis against gravity,
        clockwise as seen from behind it (90: a phone held in portrait, its frames stored
        sideways). Only the accelerometer sees it; a multiple of 90 is also written as the
        video's display rotation, so that players show it upright.
    crf : x264 quality of the video.
    in_camera_eis : render the frames as an in-camera EIS outputs them (smoothed orientation,
        global shutter; see the module docstring); the gyro log still records the body.
    """

    scenario: str = "walk"
    width_px: int = 640
    height_px: int = 360
    fps: float = 30.0
    duration_s: float = 4.0
    readout_s: float = 0.0
    hfov_deg: float = 70.0
    lens: str = "pinhole"
    gyro_rate_hz: float = 200.0
    gyro_noise_rad_s: float = 0.002
    gyro_bias_rad_s: tuple[float, float, float] | None = None
    lead_s: float = 0.0
    ois: bool = False
    focus_breathing: bool = False
    motion_blur: bool = False
    exposure_s: float = 1.0 / 120.0
    seed: int = 0
    shake_scale: float = 1.0
    crf: int = 16
    roll_drift_deg: float = 0.0
    held_roll_deg: float = 0.0
    in_camera_eis: bool = False

    def validate(self) -> None:
        """Raise :class:`~fusedstab.errors.InputError` for values the simulator cannot use."""
        if self.scenario not in SCENARIOS:
            raise InputError(f"unknown scenario {self.scenario!r}", f"use one of {', '.join(SCENARIOS)}")
        if self.lens not in LENSES:
            raise InputError(f"unknown lens {self.lens!r}", f"use one of {', '.join(LENSES)}")
        if self.width_px < 32 or self.height_px < 32 or self.width_px % 2 or self.height_px % 2:
            raise InputError(
                f"frame size {self.width_px}x{self.height_px} is not usable",
                "give even width and height of at least 32 px, e.g. --size 640x360",
            )
        if not 1.0 <= self.fps <= 1000.0:
            raise InputError(f"frame rate {self.fps} is out of range", "give --fps between 1 and 1000")
        if not 0.0 < self.duration_s <= 3600.0:
            raise InputError(f"duration {self.duration_s} s is out of range", "give --duration in (0, 3600] seconds")
        if not 0.0 <= self.readout_s < 1.0 / self.fps + 1e-9:
            raise InputError(
                f"readout {self.readout_s * 1000:.3g} ms is longer than a frame period",
                f"give --readout-ms between 0 and {1000.0 / self.fps:.2f}",
            )
        if not 1.0 < self.hfov_deg < 150.0:
            raise InputError(f"horizontal FOV {self.hfov_deg} deg is out of range", "give an FOV in (1, 150) degrees")
        if not 10.0 <= self.gyro_rate_hz <= 10000.0:
            raise InputError(f"gyro rate {self.gyro_rate_hz} Hz is out of range", "give --gyro-rate in [10, 10000] Hz")
        if not 0.0 <= self.lead_s <= 60.0:
            raise InputError(f"gyro lead {self.lead_s} s is out of range", "give --lead-ms in [0, 60000]")
        if self.motion_blur and not 0.0 < self.exposure_s <= 1.0 / self.fps + 1e-9:
            raise InputError(
                f"exposure {self.exposure_s * 1000:.3g} ms does not fit in a frame period",
                f"give an exposure between 0 and {1000.0 / self.fps:.2f} ms",
            )
        if not (0.0 <= self.gyro_noise_rad_s <= 10.0 and 0.0 <= self.shake_scale <= 100.0):
            raise InputError(
                f"gyro noise {self.gyro_noise_rad_s} rad/s or shake scale {self.shake_scale} is out of range",
                "give --gyro-noise in [0, 10] and --shake-scale in [0, 100]",
            )
        if self.in_camera_eis and self.ois:
            raise InputError("OIS together with in-camera EIS is not simulated", "give --ois or --in-camera-eis, not both")

    @property
    def frame_count(self) -> int:
        return max(1, int(math.floor(self.duration_s * self.fps + 1e-9)))


@dataclass(frozen=True)
class SimResult:
    """Paths of the files :func:`simulate` wrote, and the config that made them.

    ``lens_csv`` is ``None`` when neither OIS nor focus breathing was simulated.
    """

    video: Path
    gcsv: Path
    lens_json: Path
    truth: Path
    lens_csv: Path | None
    config: SimConfig
    frame_count: int = 0
    seconds: float = 0.0

    def paths(self) -> list[Path]:
        return [p for p in (self.video, self.gcsv, self.lens_json, self.lens_csv, self.truth) if p is not None]


# ============================================================================ motion
class _Sines:
    """Sum of sinusoids per axis: ``sum_k a_k sin(2 pi f_k t + p_k)`` (3 axes)."""

    def __init__(self, amps: np.ndarray, freqs_hz: np.ndarray, phases: np.ndarray):
        self.a = np.asarray(amps, dtype=np.float64)  # (3, K) [rad/s]
        self.f = np.asarray(freqs_hz, dtype=np.float64)  # (3, K)
        self.p = np.asarray(phases, dtype=np.float64)  # (3, K)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        arg = 2 * np.pi * self.f[None] * t[:, None, None] + self.p[None]
        return np.einsum("tak,ak->ta", np.sin(arg), self.a)


def _hand_shake(rng: np.random.Generator, rms_deg_s: float, fmin=0.5, fmax=11.0, k=14, axis_w=(1.0, 1.0, 0.6)) -> _Sines:
    """Hand shake: log-uniform frequencies in [fmin, fmax], per-axis RMS angular rate."""
    freqs = np.exp(rng.uniform(np.log(fmin), np.log(fmax), size=(3, k)))
    phases = rng.uniform(0, 2 * np.pi, size=(3, k))
    amps = freqs**-0.3 * rng.uniform(0.5, 1.0, size=(3, k))
    rms = np.sqrt(0.5 * np.sum(amps**2, axis=1, keepdims=True))
    amps = amps / rms * math.radians(rms_deg_s) * np.asarray(axis_w)[:, None]
    return _Sines(amps, freqs, phases)


class _Motion:
    """Body angular velocity ``omega(t)`` [rad/s] (camera axes) and per-time intent labels.

    Times are on the video clock. Deterministic for a given config (seeded).
    """

    def __init__(self, cfg: SimConfig, t_start_s: float, t_end_s: float):
        rng = np.random.default_rng([cfg.seed, 1])
        s = cfg.shake_scale
        self.cfg = cfg
        self.parts: list[Callable[[np.ndarray], np.ndarray]] = []
        self.turn_window: tuple[float, float] | None = None
        sc = cfg.scenario
        if sc == "still":
            self.parts.append(_hand_shake(rng, 0.12 * s, fmin=1.0, fmax=14.0))
        elif sc in ("walk", "turn"):
            self._add_walk(rng, s)
        elif sc == "run":
            self._add_run(rng, s, t_start_s, t_end_s)
        elif sc == "pan":
            rate = math.radians(rng.uniform(20.0, 30.0)) * rng.choice([-1.0, 1.0])
            self.parts.append(lambda t, r=rate: np.stack([0 * t, 0 * t + r, 0 * t], axis=-1))
            self.parts.append(_hand_shake(rng, 1.5 * s))
        if cfg.roll_drift_deg:
            rate_z = math.radians(cfg.roll_drift_deg) / cfg.duration_s
            self.parts.append(lambda t, r=rate_z: np.stack([0 * t, 0 * t, 0 * t + r], axis=-1))
        if sc == "turn":
            T = min(1.5, 0.4 * cfg.duration_s)
            t0 = 0.5 * cfg.duration_s - 0.5 * T
            sign = rng.choice([-1.0, 1.0])
            peak = sign * math.pi / T  # raised cosine integrating to pi/2
            self.turn_window = (t0, t0 + T)

            def turn(t, t0=t0, T=T, peak=peak):
                x = np.clip((t - t0) / T, 0.0, 1.0)
                w = peak * 0.5 * (1 - np.cos(2 * np.pi * x))
                return np.stack([0 * t, w, 0 * t], axis=-1)

            self.parts.append(turn)

    def _add_walk(self, rng, s):
        f = rng.uniform(1.8, 2.2)  # steps per second
        amps = np.zeros((3, 3))
        freqs = np.ones((3, 3))
        phases = rng.uniform(0, 2 * np.pi, size=(3, 3))
        # pitch bob at the step rate (+ harmonic), yaw and roll sway at half of it
        amps[0, :2] = np.radians([4.0, 1.2]) * s
        freqs[0, :2] = [f, 2 * f]
        amps[1, 0] = math.radians(3.0) * s
        freqs[1, 0] = f / 2
        amps[2, 0] = math.radians(3.0) * s
        freqs[2, 0] = f / 2
        self.parts.append(_Sines(amps, freqs, phases))
        self.parts.append(_hand_shake(rng, 1.5 * s))

    def _add_run(self, rng, s, t_start_s, t_end_s):
        f = rng.uniform(2.7, 3.2)
        period = 1.0 / f
        k0 = int(math.floor((t_start_s - 1.0) / period))
        k1 = int(math.ceil((t_end_s + 1.0) / period))
        ks = np.arange(k0, k1 + 1)
        steps = (ks + rng.uniform(0, 1) + 0.06 * rng.standard_normal(len(ks))) * period
        peak = math.radians(rng.uniform(35.0, 50.0)) * s
        gains = np.stack(
            [
                peak * rng.uniform(0.8, 1.1, len(ks)),
                0.25 * peak * np.where(ks % 2 == 0, 1.0, -1.0) * rng.uniform(0.7, 1.1, len(ks)),
                0.4 * peak * np.where(ks % 2 == 0, 1.0, -1.0) * rng.uniform(0.7, 1.1, len(ks)),
            ],
            axis=-1,
        )  # (K, 3)
        sigma = 0.03

        def jolts(t, steps=steps, gains=gains, sigma=sigma):
            idx = np.searchsorted(steps, t)
            out = np.zeros((len(t), 3))
            for d in range(-3, 3):
                j = np.clip(idx + d, 0, len(steps) - 1)
                tau = (t - steps[j]) / sigma
                # derivative-of-Gaussian pulse: peak 1 at tau = 1, zero mean (angle returns)
                h = tau * np.exp(0.5 - 0.5 * tau * tau)
                valid = (idx + d >= 0) & (idx + d < len(steps))
                out += np.where(valid, h, 0.0)[:, None] * gains[j]
            return out

        self.parts.append(jolts)
        amps = np.zeros((3, 1))
        amps[0, 0] = math.radians(8.0) * s
        self.parts.append(_Sines(amps, np.full((3, 1), f), rng.uniform(0, 2 * np.pi, (3, 1))))
        self.parts.append(_hand_shake(rng, 4.0 * s))

    def omega(self, t_s: np.ndarray) -> np.ndarray:
        """(n, 3) body angular velocity [rad/s] at video times ``t_s`` (n,)."""
        t = np.asarray(t_s, dtype=np.float64).reshape(-1)
        out = np.zeros((len(t), 3))
        for part in self.parts:
            out += part(t)
        return out

    def intent(self, t_s: np.ndarray) -> np.ndarray:
        """(n,) intent labels at video times."""
        t = np.asarray(t_s, dtype=np.float64).reshape(-1)
        sc = self.cfg.scenario
        if sc == "turn":
            a, b = self.turn_window
            return np.where((t >= a) & (t <= b), "turn", "walk").astype("<U8")
        return np.full(len(t), sc, dtype="<U8")


def _integrate(times_s: np.ndarray, motion: _Motion, t_ref_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Integrate body rates with exact exponential steps at the midpoint of each interval.

    Returns ``(quat_wxyz (M, 4), omega_rad_s (M, 3))``; the world frame is chosen so that
    ``R_world_cam(t_ref_s) = I`` (the camera at the first frame).
    """
    t = times_s
    mids = 0.5 * (t[1:] + t[:-1])
    w_mid = motion.omega(mids)
    dt = np.diff(t)
    rv = w_mid * dt[:, None]
    ang = np.linalg.norm(rv, axis=1)
    half = 0.5 * ang
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(ang > 1e-12, np.sin(half) / np.where(ang > 0, ang, 1.0), 0.5)
    dq = np.concatenate([np.cos(half)[:, None], rv * k[:, None]], axis=1)  # (M-1, 4)
    q = np.empty((len(t), 4))
    w, x, y, z = 1.0, 0.0, 0.0, 0.0
    q[0] = (w, x, y, z)
    dql = dq.tolist()
    for i, (bw, bx, by, bz) in enumerate(dql, start=1):
        w, x, y, z = (
            w * bw - x * bx - y * by - z * bz,
            w * bx + x * bw + y * bz - z * by,
            w * by - x * bz + y * bw + z * bx,
            w * bz + x * by - y * bx + z * bw,
        )
        n = 1.0 / math.sqrt(w * w + x * x + y * y + z * z)
        w, x, y, z = w * n, x * n, y * n, z * n
        q[i] = (w, x, y, z)
    # re-base the world so that R(t_ref) = I: q <- conj(q_ref) (x) q (left multiplication keeps body rates)
    track = OrientationTrack(t, q)
    q_ref = track.quats_at(np.array([t_ref_s]))[0]
    rw, rx, ry, rz = q_ref[0], -q_ref[1], -q_ref[2], -q_ref[3]
    bw, bx, by, bz = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    q = np.stack(
        [
            rw * bw - rx * bx - ry * by - rz * bz,
            rw * bx + rx * bw + ry * bz - rz * by,
            rw * by - rx * bz + ry * bw + rz * bx,
            rw * bz + rx * by - ry * bx + rz * bw,
        ],
        axis=1,
    )
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q, motion.omega(t)


# ============================================================================ lens motion
def _ois_shift(times_s: np.ndarray, motion: "_Motion", f_px: float, preroll_s: float = 8.0) -> np.ndarray:
    """OIS lens shift (M, 2) [px] that cancels high-frequency shake within about +-1.5 deg.

    The small-angle rotation about x and y (integrated body rates) is high-passed (causal
    2nd-order Butterworth at 0.3 Hz, as a module's controller would, so slow pans pass) and turned into the
    principal-point shift that keeps the image still: a yaw ``theta_y`` moves the scene by
    ``-f theta_y`` in x, so ``o_x = +f theta_y``; a pitch ``theta_x`` moves it by
    ``+f theta_x`` in y, so ``o_y = -f theta_x``. A limiter (linear up to 60 % of the range, then
    tanh) saturates the shift softly at ``f tan(1.5 deg)``.
    """
    from scipy.signal import butter, sosfilt

    # the module has been running for a while: filter from a pre-roll so that no start-up
    # transient (e.g. of a pan already under way) shows in the clip
    dt_s = float(np.median(np.diff(times_s)))
    n_pre = int(round(preroll_s / dt_s))
    t = np.concatenate([times_s[0] - dt_s * np.arange(n_pre, 0, -1), times_s])
    omega = motion.omega(t)
    dt = np.diff(t)
    ang = np.concatenate([np.zeros((1, 2)), np.cumsum(0.5 * (omega[1:, :2] + omega[:-1, :2]) * dt[:, None], axis=0)])
    fs = 1.0 / dt_s
    sos = butter(2, _OIS_HIGHPASS_HZ, btype="highpass", fs=fs, output="sos")
    hp = sosfilt(sos, ang, axis=0)[n_pre:]
    lim = f_px * math.tan(math.radians(_OIS_LIMIT_DEG))
    raw = np.stack([f_px * hp[:, 1], -f_px * hp[:, 0]], axis=1)
    knee = _OIS_KNEE * lim
    mag = np.abs(raw)
    soft = knee + (lim - knee) * np.tanh((mag - knee) / (lim - knee))
    return np.sign(raw) * np.where(mag <= knee, mag, soft)


def _focus_track(times_s: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """Focus position (M,) in [0, 1]: a few smooth focus pulls inside the clip."""
    rng = np.random.default_rng([cfg.seed, 3])
    n = max(1, int(round(cfg.duration_s / 1.5)))
    starts = np.sort(rng.uniform(0.05, 0.85, n)) * cfg.duration_s
    lengths = rng.uniform(0.3, 0.7, n) * min(1.0, cfg.duration_s / 2)
    levels = rng.uniform(0.0, 1.0, n + 1)
    levels[1] = levels[0] + (0.6 if levels[0] < 0.5 else -0.6)  # at least one clear pull
    levels = np.clip(levels, 0.0, 1.0)
    pos = np.full(len(times_s), levels[0])
    for k in range(n):
        x = np.clip((times_s - starts[k]) / lengths[k], 0.0, 1.0)
        smooth = x * x * (3 - 2 * x)
        pos += (levels[k + 1] - levels[k]) * smooth
    return pos


def _eis_track(times_s: np.ndarray, track: OrientationTrack) -> OrientationTrack:
    """The in-camera EIS's smoothed orientation: the body Gaussian-smoothed (``EIS_SIGMA_S``).

    Smoothed on a ``_EIS_GRID_HZ`` grid over the truth span (the shake above a few Hz is gone
    after a 0.4 s sigma, so the grid loses nothing), returned as a SLERP track.
    """
    from ..filtering.gaussian import gaussian_smooth_orientations
    from ..rotation import matrix_to_quat

    n = max(3, int(math.ceil((times_s[-1] - times_s[0]) * _EIS_GRID_HZ)) + 1)
    tg = np.linspace(times_s[0], times_s[-1], n)
    R = gaussian_smooth_orientations(track.matrices_at(tg), tg, EIS_SIGMA_S)
    return OrientationTrack(tg, matrix_to_quat(R))


# ============================================================================ scene
def _seamless_noise(rng, low_h: int, low_w: int, out_h: int, out_w: int, channels: int = 3) -> np.ndarray:
    """Smooth random field (out_h, out_w, channels) float32 in [-1, 1], periodic in x."""
    low = rng.uniform(-1.0, 1.0, size=(low_h, low_w, channels)).astype(np.float32)
    pad = 3
    padded = np.concatenate([low[:, -pad:], low, low[:, :pad]], axis=1)
    sx = out_w / low_w
    big = cv2.resize(padded, (int(round((low_w + 2 * pad) * sx)), out_h), interpolation=cv2.INTER_CUBIC)
    x0 = int(round(pad * sx))
    big = big[:, x0 : x0 + out_w]
    if big.ndim == 2:
        big = big[:, :, None]
    return big


_WORDS = ["FUSED", "STAB", "GYRO", "OIS", "42", "ROLL", "PITCH", "YAW", "SYNC", "LENS", "2024", "XYZ", "KLT", "FOCUS"]


def _panorama(cfg: SimConfig, px_per_deg: float) -> np.ndarray:
    """Equirectangular environment (Hp, Wp, 3) uint8: longitude across, latitude down.

    Column ``x`` covers longitude ``(x + 0.5) / Wp * 360 - 180`` deg; row ``y`` covers
    latitude ``(y + 0.5) / Hp * 180 - 90`` deg (positive = world +y, i.e. down). The content
    is defined in degrees, so a seed gives the same scene at every resolution.
    """
    rng = np.random.default_rng([cfg.seed, 2])
    Wp = int(min(10240, max(1024, 64 * math.ceil(360 * px_per_deg / 64))))
    Hp = Wp // 2
    ppd = Wp / 360.0
    # background: sky-to-ground gradient and smooth colour noise at two scales (made at a
    # quarter of the resolution: it is smooth, and full-size float images cost gigabytes)
    Hq, Wq = Hp // 4, Wp // 4
    lat = (np.arange(Hq, dtype=np.float32) + 0.5) / Hq * 180.0 - 90.0
    grad = np.stack([0.55 - 0.25 * np.tanh(lat / 30.0)] * 3, axis=-1)  # (Hq, 3)
    grad[:, 0] += 0.08 * np.tanh(-lat / 30.0)  # bluish sky (BGR)
    low = np.broadcast_to(grad[:, None, :], (Hq, Wq, 3)).astype(np.float32)
    low = low + 0.18 * _seamless_noise(rng, 18, 36, Hq, Wq) + 0.10 * _seamless_noise(rng, 90, 180, Hq, Wq)
    low = np.clip(low * 255.0, 0, 255).astype(np.uint8)
    img = cv2.resize(low, (Wp, Hp), interpolation=cv2.INTER_LINEAR)

    shift = 4  # sub-pixel drawing
    mul = 1 << shift

    def to_px(lon_deg, lat_deg):
        return (lon_deg + 180.0) * ppd - 0.5, (lat_deg + 90.0) * ppd - 0.5

    # big shapes (0.6-7 deg) and a population of small ones (0.2-0.8 deg) for fine detail
    n_big, n_small = 4500, 8000
    n = n_big + n_small
    lon0 = rng.uniform(-180.0, 180.0, n)
    lat0 = np.degrees(np.arcsin(rng.uniform(-0.985, 0.985, n)))
    size = np.concatenate(
        [np.exp(rng.uniform(np.log(0.6), np.log(7.0), n_big)), np.exp(rng.uniform(np.log(0.2), np.log(0.8), n_small))]
    )
    order = np.argsort(-size)
    kinds = np.concatenate(
        [
            rng.choice(["rect", "ellipse", "poly", "bar", "text"], size=n_big, p=[0.34, 0.2, 0.26, 0.12, 0.08]),
            rng.choice(["rect", "ellipse", "poly"], size=n_small, p=[0.4, 0.3, 0.3]),
        ]
    )
    # every random choice drawn and every vertex computed up front (vectorized); the loop
    # only draws. Vertices: (n, 32, 2) local offsets [deg], n_used per shape.
    colors = rng.integers(0, 256, (n, 3))
    gray = rng.uniform(size=n) < 0.35  # some strongly dark or bright shapes for contrast
    colors[gray] = np.where(rng.uniform(size=int(gray.sum())) < 0.5, 15, 240)[:, None]
    rots = rng.uniform(0, np.pi, n)
    aspect = np.where(kinds == "bar", 0.12, rng.uniform(0.3, 1.0, n))
    ell = rng.uniform(0.4, 1.0, n)
    n_vert = rng.integers(3, 7, n)
    poly_ang = np.sort(rng.uniform(0, 2 * np.pi, (n, 6)), axis=1)
    poly_rad = rng.uniform(0.5, 1.0, (n, 6))
    words = rng.integers(0, len(_WORDS), n)
    nv = 32
    local = np.zeros((n, nv, 2))
    used = np.full(n, nv)
    box = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    is_box = (kinds == "rect") | (kinds == "bar")
    local[is_box, :4] = box[None] * np.stack([np.ones(n), aspect], axis=1)[is_box, None, :]
    local[is_box, 4:] = local[is_box, 3:4]
    used[is_box] = 4
    ang = np.linspace(0, 2 * np.pi, nv, endpoint=False)
    is_ell = kinds == "ellipse"
    local[is_ell] = np.stack([np.cos(ang)[None].repeat(is_ell.sum(), 0), ell[is_ell, None] * np.sin(ang)[None]], axis=-1)
    is_poly = kinds == "poly"
    pa, pr = poly_ang[is_poly], poly_rad[is_poly]
    local[is_poly, :6] = np.stack([np.cos(pa) * pr, np.sin(pa) * pr], axis=-1)
    used[is_poly] = n_vert[is_poly]
    local *= 0.5 * size[:, None, None]
    cr, sr = np.cos(rots)[:, None], np.sin(rots)[:, None]
    lx = local[..., 0] * cr - local[..., 1] * sr
    ly = local[..., 0] * sr + local[..., 1] * cr
    cos_lat = np.maximum(np.cos(np.radians(lat0)), 0.15)[:, None]
    vx, vy = to_px(lon0[:, None] + lx / cos_lat, lat0[:, None] + ly)
    verts = np.round(np.stack([vx, vy], axis=-1) * mul).astype(np.int32)
    x_lo, x_hi = vx.min(axis=1), vx.max(axis=1)
    color_list = [tuple(int(v) for v in c) for c in colors]
    shift_vec = np.array([Wp * mul, 0], dtype=np.int32)
    for i in order.tolist():
        color = color_list[i]
        if kinds[i] == "text":
            s = float(size[i])
            word = _WORDS[int(words[i])]
            scale = s * ppd / 22.0
            thick = max(1, int(round(scale * 2)))
            (tw, th_), _ = cv2.getTextSize(word, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
            x, y = to_px(lon0[i], lat0[i])
            for off in (-Wp, 0, Wp):
                org = (int(x + off - tw / 2), int(y + th_ / 2))
                if -tw <= org[0] < Wp:
                    cv2.putText(img, word, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)
            continue
        p = verts[i, : used[i]]
        polys = [p]
        if x_lo[i] < 0:
            polys.append(p + shift_vec)
        if x_hi[i] >= Wp - 1:
            polys.append(p - shift_vec)
        cv2.fillPoly(img, polys, color, cv2.LINE_AA, shift)
    # a little blur against aliasing when the camera samples the panorama
    return cv2.GaussianBlur(img, (0, 0), 0.6)


class _Renderer:
    """Renders frames of the simulated camera into the panorama."""

    def __init__(self, cfg: SimConfig, camera: CameraModel, pano: np.ndarray, track: OrientationTrack, lens: LensMotion | None,
                 eis_track: OrientationTrack | None = None):
        self.cfg = cfg
        self.eis_track = eis_track
        self.camera = camera
        self.pano = pano
        self.track = track
        self.lens = lens
        W, H = cfg.width_px, cfg.height_px
        self.H, self.W = H, W
        u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
        self.grid = np.stack([u, v], axis=-1)  # (H, W, 2)
        self.rays0 = None if lens is not None else self._rays(None, None)
        self.sx = pano.shape[1] / (2 * np.pi)
        self.sy = pano.shape[0] / np.pi

    def _rays(self, offset, scale):
        """Camera rays (3 x (H, W) float32) with a per-row OIS offset (H, 1, 2) / focal scale (H, 1)."""
        cam = self.camera
        if offset is None and scale is None:
            r = cam.unproject(self.grid, principal_offset_px=None, focal_scale=None)
            return [np.ascontiguousarray(r[..., k], dtype=np.float32) for k in range(3)]
        # fast path, same maths as CameraModel.unproject (the fisheye inverse by a dense table)
        s = np.ones((self.H, 1)) if scale is None else np.asarray(scale, dtype=np.float64).reshape(self.H, 1)
        o = np.zeros((self.H, 1, 2)) if offset is None else np.asarray(offset, dtype=np.float64).reshape(self.H, 1, 2)
        xs = (np.arange(self.W, dtype=np.float64)[None, :] - cam.cx_px - o[..., 0]) / (cam.fx_px * s)
        ys = (np.arange(self.H, dtype=np.float64)[:, None] - cam.cy_px - o[..., 1]) / (cam.fy_px * s)
        xd = xs.astype(np.float32)
        yd = np.broadcast_to(ys, xs.shape).astype(np.float32)
        if cam.model == "pinhole":
            return [xd, yd, np.ones_like(xd)]
        if cam.model != "opencv_fisheye":  # pragma: no cover - the simulator makes only these two
            r = cam.unproject(self.grid, principal_offset_px=offset, focal_scale=scale)
            return [np.ascontiguousarray(r[..., k], dtype=np.float32) for k in range(3)]
        if not hasattr(self, "_fish_table"):
            th = np.linspace(0.0, cam._fisheye_theta_max(), 16384)
            k1, k2, k3, k4 = (tuple(cam.coeffs) + (0.0,) * 4)[:4]
            t2 = th * th
            self._fish_table = (th * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))), th)
        td = np.hypot(xd, yd)
        theta = np.interp(td, *self._fish_table, right=np.nan).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.where(td > 1e-12, np.sin(theta) / td, np.float32(1.0)).astype(np.float32)
        return [xd * k, yd * k, np.cos(theta)]

    def _subframe(self, row_times_s: np.ndarray, R_rows: np.ndarray | None = None) -> np.ndarray:
        R = (self.track.matrices_at(row_times_s) if R_rows is None else R_rows).astype(np.float32)  # (H, 3, 3)
        if self.rays0 is not None:
            rx, ry, rz = self.rays0
        else:
            o, s = self.lens.at(row_times_s)
            rx, ry, rz = self._rays(o[:, None, :], s[:, None])
        Rc = [[R[:, i, j][:, None] for j in range(3)] for i in range(3)]
        wx = Rc[0][0] * rx + Rc[0][1] * ry + Rc[0][2] * rz
        wy = Rc[1][0] * rx + Rc[1][1] * ry + Rc[1][2] * rz
        wz = Rc[2][0] * rx + Rc[2][1] * ry + Rc[2][2] * rz
        lon = np.arctan2(wx, wz)
        lat = np.arctan2(wy, np.hypot(wx, wz))
        map_x = (lon + np.float32(np.pi)) * np.float32(self.sx) - np.float32(0.5)
        map_y = (lat + np.float32(np.pi / 2)) * np.float32(self.sy) - np.float32(0.5)
        bad = ~np.isfinite(map_x) | ~np.isfinite(map_y)
        if bad.any():
            map_x[bad] = -1e5
            map_y[bad] = -1e5
        out = cv2.remap(self.pano, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        if bad.any():
            out[bad] = 0
        return out

    def blur_subframes(self, t_frame_s: float) -> int:
        """Sub-frames for a blurred frame: about one per pixel of blur, 4..16."""
        cfg = self.cfg
        e = cfg.exposure_s
        tt = np.linspace(t_frame_s - e / 2, t_frame_s + cfg.readout_s + e / 2, 5)
        R = self.track.matrices_at(np.stack([tt - e / 2, tt + e / 2]))
        rel = np.einsum("nji,njk->nik", R[0], R[1])
        ang = np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)).max()
        blur_px = ang * self.camera.fx_px * 1.3
        return int(np.clip(math.ceil(blur_px), 4, 16))

    def frame(self, t_frame_s: float) -> np.ndarray:
        """(H, W, 3) uint8 BGR frame whose row ``v`` is centred at ``t + readout * v / H``."""
        cfg = self.cfg
        rows = t_frame_s + cfg.readout_s * np.arange(self.H) / self.H
        eis = None
        if self.eis_track is not None:  # in-camera EIS: sensor row -> smoothed global-shutter view
            eis = np.einsum("nji,jk->nik", self.track.matrices_at(rows),
                            self.eis_track.matrices_at(np.array([t_frame_s]))[0])  # R_body(t_row)^T R_eis(t_i)

        def sub(d):
            if eis is None:
                return self._subframe(rows + d)
            # d = 0: R_body(t_row) R_body(t_row)^T R_eis(t_i) = R_eis(t_i) on every row
            return self._subframe(rows + d, self.track.matrices_at(rows + d) @ eis)

        if not cfg.motion_blur:
            return sub(0.0)
        n = self.blur_subframes(t_frame_s)
        offs = ((np.arange(n) + 0.5) / n - 0.5) * cfg.exposure_s
        acc = np.zeros((self.H, self.W, 3), np.float32)
        for d in offs:
            acc += sub(float(d))
        return np.clip(acc / n + 0.5, 0, 255).astype(np.uint8)


# ============================================================================ camera
def make_camera(cfg: SimConfig) -> CameraModel:
    """The simulated lens at the clip's resolution (fisheye: same HFOV as the pinhole)."""
    W, H = cfg.width_px, cfg.height_px
    if cfg.lens == "pinhole":
        return CameraModel.from_fov(W, H, cfg.hfov_deg, readout_s=cfg.readout_s, name="fusedstab simulator pinhole")
    th = math.radians(cfg.hfov_deg) / 2
    k1, k2, k3, k4 = FISHEYE_COEFFS
    t2 = th * th
    theta_d = th * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
    f = (W / 2.0) / theta_d
    return CameraModel(
        W, H, f, f, (W - 1) / 2.0, (H - 1) / 2.0, model="opencv_fisheye", coeffs=FISHEYE_COEFFS,
        readout_s=cfg.readout_s, name="fusedstab simulator fisheye",
    )


def gravity_up_world(cfg: SimConfig) -> np.ndarray:
    """Up in the simulator's world (3,): world y is down, and a camera held turned by
    ``held_roll_deg`` clockwise about its optical axis (world z at the start) sees up turned the
    other way: 90 deg puts up along the frame's -x (its left edge is the top)."""
    a = math.radians(float(cfg.held_roll_deg))
    return np.array([-math.sin(a), -math.cos(a), 0.0])


# ============================================================================ writers
def _write_gcsv(path: Path, cfg: SimConfig, log_t_us: np.ndarray, gyro: np.ndarray, accel_g: np.ndarray, video_name: str) -> None:
    lines = [
        "GYROFLOW IMU LOG",
        "version,1.3",
        "id,fusedstab_simulator",
        f"orientation,{GCSV_ORIENTATION}",
        f"note,fusedstab simulator scenario={cfg.scenario} seed={cfg.seed}; raw axes = camera frame (x right y down z forward)",
        "vendor,fusedstab",
        f"videofilename,{video_name}",
        f"frame_readout_time,{cfg.readout_s * 1000.0:.6f}",
        "frame_readout_direction,0",
        "tscale,0.000001",
        "gscale,1.0",
        "ascale,1.0",
        "t,gx,gy,gz,ax,ay,az",
    ]
    body = np.column_stack([gyro, accel_g])
    with open(path, "w", encoding="ascii", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
        for t, row in zip(log_t_us.tolist(), body.tolist()):
            fh.write(f"{t},{row[0]:.8f},{row[1]:.8f},{row[2]:.8f},{row[3]:.6f},{row[4]:.6f},{row[5]:.6f}\n")


# ============================================================================ truth
@dataclass
class Truth:
    """Ground truth of a simulated clip (see the module docstring for the fields).

    Attributes
    ----------
    times_s : (M,) fine sample times [s], video clock.
    quat_wxyz : (M, 4) true ``R_world_cam``.
    omega_rad_s : (M, 3) true body angular velocity, camera axes [rad/s].
    frame_times_s : (N,) frame times [s] (row 0, mid-exposure), video clock.
    readout_s, exposure_s : rolling-shutter readout and exposure [s].
    gyro_offset_s : gyro log time ``T`` belongs to video time ``T + gyro_offset_s``.
    gyro_bias_rad_s : (3,) constant gyro bias added to the log, camera axes.
    intent : (N,) per-frame intent labels.
    ois_shift_px : (M, 2) principal-point shift [px]; zeros when OIS is off.
    focus_pos : (M,) focus position in [0, 1].
    focal_scale : (M,) focal-length factor; ones when breathing is off.
    camera : the simulated lens (:class:`~fusedstab.camera.CameraModel`).
    params : the :class:`SimConfig` as a dict.
    track : :class:`~fusedstab.types.OrientationTrack` of ``times_s``/``quat_wxyz`` (the body).
    eis_quat_wxyz : (M, 4) with ``in_camera_eis``: the smoothed orientation the frames show
        (frame ``i``: ``R_eis(frame_times_s[i])`` on every row); None otherwise.
    """

    times_s: np.ndarray
    quat_wxyz: np.ndarray
    omega_rad_s: np.ndarray
    frame_times_s: np.ndarray
    readout_s: float
    exposure_s: float
    gyro_offset_s: float
    gyro_bias_rad_s: np.ndarray
    intent: np.ndarray
    ois_shift_px: np.ndarray
    focus_pos: np.ndarray
    focal_scale: np.ndarray
    camera: CameraModel
    params: dict
    track: OrientationTrack = field(repr=False, default=None)
    eis_quat_wxyz: np.ndarray | None = field(repr=False, default=None)

    def __post_init__(self):
        if self.track is None:
            self.track = OrientationTrack(self.times_s, self.quat_wxyz)

    @property
    def eis_track(self) -> OrientationTrack | None:
        """What the frames of an in-camera-EIS clip show (None without ``in_camera_eis``)."""
        if self.eis_quat_wxyz is None:
            return None
        return OrientationTrack(self.times_s, self.eis_quat_wxyz)

    @property
    def lens_motion(self) -> LensMotion:
        """OIS + breathing on the video clock."""
        return LensMotion(self.times_s, self.ois_shift_px, self.focal_scale)

    def row_times_s(self, frame_index, v_px) -> np.ndarray:
        """Video time at which row ``v_px`` of frame ``frame_index`` was exposed (mid-exposure)."""
        return self.frame_times_s[np.asarray(frame_index)] + self.readout_s * np.asarray(v_px, dtype=np.float64) / self.camera.height_px


def load_truth(path: str | Path) -> Truth:
    """Read ``PREFIX.truth.npz`` written by :func:`simulate`.

    Raises :class:`~fusedstab.errors.InputError` for a missing or unreadable file.
    """
    hint = "give PREFIX.truth.npz written by `fusedstab simulate`"
    if not Path(path).exists():
        raise InputError(f"truth file not found: {path}", hint)
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        params = json.loads(str(d["params_json"]))
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"cannot read truth file {path}: {exc}", hint) from None
    K = d["camera_matrix"]
    model = str(d["lens_model"])
    cam = CameraModel(
        int(params["width_px"]), int(params["height_px"]), float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]),
        model=model, coeffs=tuple(float(c) for c in d["dist_coeffs"]), readout_s=float(d["readout_s"]),
        name="fusedstab simulator",
    )
    return Truth(
        times_s=d["times_s"],
        quat_wxyz=d["quat_wxyz"],
        omega_rad_s=d["omega_rad_s"],
        frame_times_s=d["frame_times_s"],
        readout_s=float(d["readout_s"]),
        exposure_s=float(d["exposure_s"]),
        gyro_offset_s=float(d["gyro_offset_s"]),
        gyro_bias_rad_s=d["gyro_bias_rad_s"],
        intent=d["intent"].astype(str),
        ois_shift_px=d["ois_shift_px"],
        focus_pos=d["focus_pos"],
        focal_scale=d["focal_scale"],
        camera=cam,
        params=params,
        eis_quat_wxyz=d.get("eis_quat_wxyz"),
    )


# ============================================================================ main entry
def _prefix_paths(prefix: str | Path) -> dict[str, Path]:
    p = Path(prefix)
    name = p.name
    for ext in (".mp4", ".MP4"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    base = p.with_name(name)
    return {
        "video": base.with_name(name + ".mp4"),
        "gcsv": base.with_name(name + ".gcsv"),
        "lens_json": base.with_name(name + ".lens.json"),
        "lens_csv": base.with_name(name + ".lens.csv"),
        "truth": base.with_name(name + ".truth.npz"),
    }


def simulate(prefix: str | Path, config: SimConfig, progress: Callable[[int, int], None] | None = None) -> SimResult:
    """Render a synthetic clip with its gyro log, lens profile, lens-motion log and truth.

    Parameters
    ----------
    prefix : output path prefix (``PREFIX.mp4``, ``PREFIX.gcsv``, ... are written; a
        trailing ``.mp4`` is dropped). The folder must exist.
    config : what to simulate.
    progress : called as ``progress(frames_done, frames_total)`` while rendering.

    Returns
    -------
    :class:`SimResult` with the written paths.
    """
    import time

    t_wall = time.perf_counter()
    cfg = config
    cfg.validate()
    paths = _prefix_paths(prefix)
    folder = paths["video"].parent
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} does not exist", "create it or choose another prefix")

    camera = make_camera(cfg)
    N = cfg.frame_count
    tb = Fraction(1, int(round(cfg.fps * 1000)))
    pts = np.arange(N, dtype=np.int64) * 1000
    frame_times = pts.astype(np.float64) * float(tb)

    # --- clocks and spans (video clock) ---
    exposure = cfg.exposure_s if cfg.motion_blur else 0.0
    log_end_video = frame_times[-1] + cfg.readout_s + exposure + _TAIL_S
    # the fine grid has a sample exactly at the log start (video time -lead_s)
    n_before = int(math.ceil((_PAD_S + exposure) * _TRUTH_RATE_HZ))
    t0 = -cfg.lead_s - n_before / _TRUTH_RATE_HZ
    t1 = log_end_video + _PAD_S
    M = n_before + int(math.ceil((t1 + cfg.lead_s) * _TRUTH_RATE_HZ)) + 1
    times = -cfg.lead_s + (np.arange(M) - n_before) / _TRUTH_RATE_HZ

    motion = _Motion(cfg, t0, t1)
    quat, omega = _integrate(times, motion, t_ref_s=0.0)
    track = OrientationTrack(times, quat)

    # --- lens motion ---
    ois = np.zeros((M, 2))
    focus = np.zeros(M)
    if cfg.ois:
        ois = _ois_shift(times, motion, camera.fx_px)
    if cfg.focus_breathing:
        focus = _focus_track(times, cfg)
    scale = 1.0 + _BREATHING * focus
    lens = LensMotion(times, ois, scale) if (cfg.ois or cfg.focus_breathing) else None
    eis_track = _eis_track(times, track) if cfg.in_camera_eis else None

    # --- gyro log (log clock: T = t_video + lead_s, first row at T = 0) ---
    rng = np.random.default_rng([cfg.seed, 4])
    if cfg.gyro_bias_rad_s is None:
        b = rng.standard_normal(3)
        bias = 0.005 * b / np.linalg.norm(b)
    else:
        bias = np.asarray(cfg.gyro_bias_rad_s, dtype=np.float64).reshape(3)
    log_span = log_end_video + cfg.lead_s
    n_gyro = int(math.floor(log_span * cfg.gyro_rate_hz)) + 1
    log_t_us = np.round(np.arange(n_gyro) / cfg.gyro_rate_hz * 1e6).astype(np.int64)
    t_gyro_video = log_t_us * 1e-6 - cfg.lead_s
    gyro = motion.omega(t_gyro_video) + bias + cfg.gyro_noise_rad_s * rng.standard_normal((n_gyro, 3))
    Rg = track.matrices_at(t_gyro_video)
    up_world = gravity_up_world(cfg)  # specific force of gravity points up
    accel_g = np.einsum("nji,j->ni", Rg, up_world) + 0.003 * rng.standard_normal((n_gyro, 3))
    _write_gcsv(paths["gcsv"], cfg, log_t_us, gyro, accel_g, paths["video"].name)

    # --- lens profile and lens-motion log ---
    profile = lens_profile_dict(
        camera, name=f"fusedstab_simulator_{cfg.lens}_{cfg.width_px}x{cfg.height_px}_{cfg.fps:g}fps",
        lens_model=cfg.lens, fps=cfg.fps, note=f"synthetic lens of the fusedstab simulator, hfov {cfg.hfov_deg:g} deg",
    )
    paths["lens_json"].write_text(json.dumps(profile, indent=2) + "\n", encoding="utf-8")
    lens_csv = None
    if lens is not None:
        step = int(round(_TRUTH_RATE_HZ / _LENS_CSV_RATE_HZ))
        sel = np.arange(n_before, M, step)
        sel = sel[times[sel] <= log_end_video + 1e-9]
        lens_csv = paths["lens_csv"]
        write_lens_motion(lens_csv, times[sel] + cfg.lead_s, ois[sel], focus[sel], scale[sel])
    elif paths["lens_csv"].exists():
        paths["lens_csv"].unlink()  # a stale sidecar from an earlier run would lie

    # --- truth ---
    params = asdict(cfg)
    params["gyro_bias_rad_s"] = bias.tolist()
    np.savez_compressed(
        paths["truth"],
        times_s=times,
        quat_wxyz=quat,
        omega_rad_s=omega,
        frame_times_s=frame_times,
        readout_s=np.float64(cfg.readout_s),
        exposure_s=np.float64(exposure),
        gyro_offset_s=np.float64(-cfg.lead_s),
        gyro_bias_rad_s=bias,
        intent=motion.intent(frame_times),
        ois_shift_px=ois,
        focus_pos=focus,
        focal_scale=scale,
        camera_matrix=camera.K,
        dist_coeffs=np.asarray(camera.coeffs, dtype=np.float64),
        lens_model=np.str_(camera.model),
        params_json=np.str_(json.dumps(params)),
        **({"eis_quat_wxyz": eis_track.quats_at(times)} if eis_track is not None else {}),
    )

    # --- video ---
    ppd_cam = camera.fx_px * math.pi / 180.0
    pano = _panorama(cfg, 1.5 * ppd_cam)
    renderer = _Renderer(cfg, camera, pano, track, lens, eis_track=eis_track)
    info = VideoInfo(
        path=paths["video"], width_px=cfg.width_px, height_px=cfg.height_px, pts=pts, time_base=tb,
        frame_times_s=frame_times, fps=float(cfg.fps), codec="h264", pix_fmt="yuv420p",
        rotation_deg=int(cfg.held_roll_deg) % 360 if float(cfg.held_roll_deg) % 90.0 == 0.0 else 0,
        has_audio=False, audio_codec=None,
    )
    # the same config and seed give the same frames (hashed: identical) and, written repeatable
    # (x264 without its macroblock tree, which reads memory it has not written: VideoWriter's
    # ``repeatable``), the same bytes on every run, so tests read the same pixels every time
    with VideoWriter(paths["video"], info, cfg.width_px, cfg.height_px, crf=cfg.crf, preset="fast",
                     threads=1, repeatable=True) as writer:
        for i in range(N):
            writer.write(renderer.frame(float(frame_times[i])), int(pts[i]))
            if progress is not None:
                progress(i + 1, N)
    return SimResult(
        video=paths["video"], gcsv=paths["gcsv"], lens_json=paths["lens_json"], truth=paths["truth"],
        lens_csv=lens_csv, config=cfg, frame_count=N, seconds=time.perf_counter() - t_wall,
    )
