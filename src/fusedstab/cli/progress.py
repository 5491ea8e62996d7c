"""Progress bars for the sub-commands: one rich console, off with ``--quiet``."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["progress_reporter"]


_FRAME_STAGES = {"render", "simulate", "sync", "track", "filter", "evaluate"}


class _FpsColumn(TextColumn):
    def __init__(self):
        super().__init__("")

    def render(self, task):  # noqa: D401 - rich API
        from rich.text import Text

        if task.description.strip() not in _FRAME_STAGES:  # e.g. the crop search counts passes, not frames
            return Text("")
        speed = task.finished_speed or task.speed
        return Text(f"{speed:6.1f} fps" if speed else "    -- fps", style="cyan")


@contextmanager
def progress_reporter(console: Console, quiet: bool):
    """Yield a ``(stage, done, total)`` callback that drives a rich progress bar."""
    if quiet:
        yield None
        return
    columns = [
        TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), _FpsColumn(),
        TextColumn("ETA"), TimeRemainingColumn(), TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as prog:
        tasks: dict[str, int] = {}

        def cb(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = prog.add_task(stage, total=total)
            prog.update(tasks[stage], completed=done, total=total)

        yield cb
