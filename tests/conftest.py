"""Shared fixtures: the real-clip folder (../shared) and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FUSEDSTAB_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
LENSES = SHARED / "lens_profiles"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real clips not available: {DATA} is absent (set FUSEDSTAB_SHARED to the shared folder)")
    return DATA


@pytest.fixture(scope="session")
def lens_profiles() -> Path:
    if not LENSES.is_dir():
        pytest.skip(f"lens profiles not available: {LENSES} is absent")
    return LENSES
