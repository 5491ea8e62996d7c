"""fusedstab: fused gyro + video stabilization.

The three stages of Google's Pixel 2 Fused Video Stabilization (motion analysis -> motion
filtering -> frame synthesis) on real video (PyAV), real telemetry (telemetry-parser) and
Gyroflow lens profiles. Start with :func:`stabilize`::

    from fusedstab import stabilize, StabilizeOptions
    report = stabilize("clip.mp4", "clip.stab.mp4", StabilizeOptions(lens="lens.json"))

See docs/ARCHITECTURE.md for the stages, data and conventions.
"""

__version__ = "0.1.0"

from .analysis.sync import SyncResult, estimate_sync
from .camera import CameraModel
from .errors import FusedStabError, InputError, LensError, OutputError, TelemetryError
from .io.lens import load_lens_profile
from .io.telemetry import read_imu
from .measure.metrics import evaluate
from .pipeline import StabilizationPlan, StabilizeOptions, StabilizeReport, plan_stabilization, render, stabilize
from .measure.simulate import SimConfig, load_truth, simulate
from .types import ClockMap, ImuSamples, LensMotion, OrientationTrack

__all__ = [
    "__version__",
    "stabilize",
    "plan_stabilization",
    "render",
    "StabilizeOptions",
    "StabilizationPlan",
    "StabilizeReport",
    "estimate_sync",
    "SyncResult",
    "evaluate",
    "simulate",
    "SimConfig",
    "load_truth",
    "CameraModel",
    "load_lens_profile",
    "read_imu",
    "ImuSamples",
    "OrientationTrack",
    "LensMotion",
    "ClockMap",
    "FusedStabError",
    "InputError",
    "OutputError",
    "TelemetryError",
    "LensError",
]
