"""Long fuzz run of every file reader (the release check; CI runs a short one).

Runs ``tests/test_fuzz_readers.py`` with ``--examples`` random (not derandomized) examples per
reader and a per-call time limit, then writes the per-reader counts (examples, valid results,
FusedStabErrors) and the outcome to ``docs/TESTING.md`` between ``<!-- fuzz:start -->`` and
``<!-- fuzz:end -->``. Any other exception or a hang fails the run (exit 1) and is printed
with hypothesis' minimal failing input.

    python bench/fuzz.py [--examples 1000] [--timeout-s 10]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "TESTING.md"
START, END = "<!-- fuzz:start -->", "<!-- fuzz:end -->"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchdoc import write_section  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=1000, help="examples per reader (default 1000)")
    ap.add_argument("--timeout-s", type=float, default=10.0, help="a reader call longer than this is a hang (default 10)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/TESTING.md")
    args = ap.parse_args(argv)
    report = Path(tempfile.mkdtemp(prefix="fusedstab-fuzz-report-")) / "counts.json"
    env = dict(os.environ, FUSEDSTAB_FUZZ_EXAMPLES=str(args.examples), FUSEDSTAB_FUZZ_RANDOM="1",
               FUSEDSTAB_FUZZ_TIMEOUT_S=str(args.timeout_s), FUSEDSTAB_FUZZ_REPORT=str(report))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=short",
                        str(REPO / "tests" / "test_fuzz_readers.py")], env=env, cwd=REPO)
    seconds = time.perf_counter() - t0
    counts = json.loads(report.read_text()) if report.exists() else {}
    rows = "\n".join(f"| {name} | {c['examples']} | {c['valid']} | {c['fusedstab_error']} |" for name, c in counts.items())
    total = sum(c["examples"] for c in counts.values())
    outcome = ("**0 unexpected exceptions, 0 hangs**" if r.returncode == 0
               else f"**FAILED** (pytest exit {r.returncode}): see the run's output")
    section = f"""{START}
## Reader fuzzing (`bench/fuzz.py`)

- Date: {_dt.datetime.now().isoformat(timespec='seconds')}; command: `python bench/fuzz.py --examples {args.examples} --timeout-s {args.timeout_s:g}`
- Machine: `{' '.join(platform.uname())}`, {os.cpu_count()} CPUs; {seconds:.0f} s in all
- Each example: a mutated seed file (byte flips, inserts, deletions, NaN / inf / huge / empty numbers, duplicated, swapped or dropped lines, truncation; random JSON values at any depth of a lens profile) or random text / bytes, read by the reader; it must return a valid result or raise a `FusedStabError` with a message and a fix, within {args.timeout_s:g} s. Counts include hypothesis' own replays (so they can exceed `--examples`).

| reader | examples | valid result | FusedStabError |
|---|---:|---:|---:|
{rows}

{total} files in all: {outcome}.
{END}"""
    print(section)
    if not args.no_write and counts:
        write_section(DOC, START, END, section, heading="")
        print(f"updated {DOC}")
    return 0 if r.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
