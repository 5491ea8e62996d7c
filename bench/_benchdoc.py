"""Shared by the bench scripts: replace one marked section of docs/BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path


def write_section(doc: Path, start: str, end: str, body: str, *, heading: str = "") -> None:
    """Put ``body`` between the ``start`` / ``end`` markers of ``doc`` (markers added when the
    body lacks them); other sections stay as they are. A missing section is appended, after
    ``heading`` when one is given."""
    block = body.strip()
    if not block.startswith(start):
        block = f"{start}\n{block}\n{end}"
    doc.parent.mkdir(parents=True, exist_ok=True)
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + (f"{heading}\n\n" if heading else "") + block + "\n"
    doc.write_text(text)
