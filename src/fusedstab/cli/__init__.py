"""Command-line interface: a thin layer over the library.

``main`` parses the command line and runs one sub-command. Each sub-command is a module of
this package with ``HELP`` (its line in ``fusedstab --help``), ``DESCRIPTION``,
``add_arguments(parser)`` and ``run(args, console) -> exit code``; options shared by several
live in :mod:`.options`, the progress bars in :mod:`.progress`. The CLI imports the library,
never the other way round.

One ``rich`` console is passed around so ``--quiet`` and tests control all output. Errors
derived from :class:`~fusedstab.errors.FusedStabError` print one message with its fix and
exit non-zero, without a traceback; anything else (a bug) prints one line and exits 1
(``FUSEDSTAB_DEBUG=1`` re-raises it). FFmpeg's own log lines are off.
"""

from __future__ import annotations

import argparse
import os
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape

from .. import __version__
from ..errors import FusedStabError, Interrupted
from . import batch, demo, evaluate, info, report, simulate, stabilize, sync

__all__ = ["build_parser", "main"]

#: the sub-commands, in the order ``fusedstab --help`` lists them
COMMANDS = {"stabilize": stabilize, "info": info, "demo": demo, "simulate": simulate, "evaluate": evaluate,
            "sync": sync, "report": report, "batch": batch}


class _Parser(argparse.ArgumentParser):
    """argparse with the package's error style: ``error: ...`` and ``fix: ...``, exit 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(f"[bold red]error:[/] {escape(self.prog)}: {escape(message)}")
        err.print(f"[bold]fix:[/] see the accepted values with `{escape(self.prog)} --help`")
        self.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fusedstab",
        description="Fused gyro + video stabilization: rolling shutter, OIS and focus breathing aware.",
    )
    parser.add_argument("--version", action="version", version=f"fusedstab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in COMMANDS.items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.DESCRIPTION)
        mod.add_arguments(p)
        p.set_defaults(func=mod.run)
    return parser


_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


@contextmanager
def _stop_signals_raise():
    """SIGTERM and SIGHUP end the run like Ctrl-C: an :class:`Interrupted` is raised in the main
    thread, so the writer removes its temporary file. Later signals are ignored while cleaning up."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, frame):
        for name in _STOP_SIGNALS:  # the cleanup must not be cut short by a second signal
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
        raise Interrupted(signum, signal.Signals(signum).name)

    for name in _STOP_SIGNALS:
        if hasattr(signal, name):
            num = getattr(signal, name)
            previous[num] = signal.getsignal(num)
            if previous[num] is signal.SIG_IGN and name != "SIGINT":
                continue  # e.g. started under nohup: keep ignoring SIGHUP
            signal.signal(num, handler)
    try:
        yield
    finally:
        for num, old in previous.items():
            signal.signal(num, old if old is not None else signal.SIG_DFL)


def _quiet_ffmpeg() -> None:
    """FFmpeg's own log lines (a damaged packet's ``[h264 @ 0x...] ...``) off the terminal: the
    CLI says what went wrong once, in its own words."""
    try:
        import av.logging

        av.logging.set_libav_level(av.logging.FATAL)
    except Exception:  # noqa: BLE001 - an older PyAV: FFmpeg keeps its default level
        pass


def main(argv: list[str] | None = None, *, console: Console | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = console or Console(stderr=False)
    err = Console(stderr=True, soft_wrap=True)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    _quiet_ffmpeg()
    try:
        with _stop_signals_raise():
            return int(args.func(args, console) or 0)
    except FusedStabError as exc:
        # messages carry paths and hints such as pip install 'fusedstab[gpu]': never markup
        err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.hint:
            err.print(f"[bold]fix:[/] {escape(exc.hint)}", highlight=False)
        return exc.exit_code
    except OSError as exc:  # a path problem no reader anticipated (e.g. a name longer than the file system allows)
        where = f": {exc.filename}" if exc.filename else ""
        err.print(f"[bold red]error:[/] {escape(exc.strerror or str(exc))}{escape(str(where))}", highlight=False)
        err.print("[bold]fix:[/] check the paths given (name length, permissions, free space)", highlight=False)
        return 2
    except MemoryError:
        err.print("[bold red]error:[/] out of memory", highlight=False)
        err.print("[bold]fix:[/] close other programs, or use a smaller --preset (e.g. veryfast) or a shorter clip",
                  highlight=False)
        return 2
    except KeyboardInterrupt as exc:
        name = exc.name if isinstance(exc, Interrupted) else "SIGINT"
        err.print(f"[bold red]error:[/] stopped by {name}; the unfinished output was removed", highlight=False)
        err.print("[bold]fix:[/] run the command again to completion", highlight=False)
        return exc.exit_code if isinstance(exc, Interrupted) else 130
    except Exception as exc:  # noqa: BLE001 - the last resort: one message, no traceback
        if os.environ.get("FUSEDSTAB_DEBUG"):
            raise
        err.print(f"[bold red]error:[/] unexpected {escape(type(exc).__name__)}: {escape(str(exc))}", highlight=False)
        err.print("[bold]fix:[/] this is a fusedstab bug: please report it with the command line; "
                  "FUSEDSTAB_DEBUG=1 shows the traceback", highlight=False)
        return 1

