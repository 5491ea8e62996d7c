"""The public API is pinned: renaming or dropping a name is a visible decision."""

import fusedstab

EXPECTED = {
    "__version__", "stabilize", "plan_stabilization", "render", "StabilizeOptions", "StabilizationPlan",
    "StabilizeReport", "estimate_sync", "SyncResult", "evaluate", "simulate", "SimConfig", "load_truth",
    "CameraModel", "load_lens_profile", "read_imu", "ImuSamples", "OrientationTrack", "LensMotion", "ClockMap",
    "FusedStabError", "InputError", "OutputError", "TelemetryError", "LensError",
}


def test_public_api_is_pinned():
    assert set(fusedstab.__all__) == EXPECTED
    for name in fusedstab.__all__:
        assert getattr(fusedstab, name) is not None


def test_cli_modules_do_not_shadow_api_functions():
    from fusedstab.cli import build_parser

    build_parser()  # imports the sub-command modules
    assert callable(fusedstab.evaluate) and callable(fusedstab.simulate) and callable(fusedstab.stabilize)
