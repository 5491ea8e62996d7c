"""Errors that reach the user as one clear message and a non-zero exit.

Every error names the problem (``message``) and the fix (``hint``). The CLI prints both and
exits with :attr:`FusedStabError.exit_code`; no traceback is shown for these.

Exit codes: 0 success, 1 ``sync`` found no reliable offset, 2 bad input (including bad
options), 3 output problems (unwritable, disk full, special file), 128 + N stopped by signal
N (130 SIGINT, 143 SIGTERM, 129 SIGHUP; the unfinished output is removed).
"""

from __future__ import annotations

__all__ = [
    "FusedStabError", "InputError", "OutputError", "TelemetryError", "LensError", "DependencyError", "Interrupted",
]


class FusedStabError(Exception):
    """Base class: a problem with what the user gave us, not a bug."""

    exit_code = 2

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.hint})" if self.hint else self.message


class InputError(FusedStabError):
    """Unreadable or unsuitable input video."""


class OutputError(FusedStabError):
    """Output path problems: same as input, not writable, encode failed."""

    exit_code = 3


class TelemetryError(FusedStabError):
    """Missing, short, non-monotonic, NaN or mis-scaled gyro data."""


class LensError(FusedStabError):
    """Lens profile that does not parse, has an unknown model, or does not fit the video."""


class DependencyError(FusedStabError):
    """An optional dependency (e.g. torch for the GPU backend) is not installed."""


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGINT, SIGTERM, SIGHUP).

    A :class:`KeyboardInterrupt` so that everything that cleans up after Ctrl-C (the video
    writer's temporary file) cleans up after these too. ``exit_code`` is 128 + the signal number.
    """

    def __init__(self, signum: int, name: str):
        super().__init__(name)
        self.signum = int(signum)
        self.name = name
        self.exit_code = 128 + int(signum)
