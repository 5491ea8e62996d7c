"""How an :func:`~fusedstab.measure.metrics.evaluate` result is shown.

The rows of ``fusedstab evaluate``'s table and of the HTML report's metrics table
(:mod:`fusedstab.measure.report`): one list, so both show the same metrics with the same
labels and formats. Metric definitions live in :mod:`fusedstab.measure.metrics`.
"""

from __future__ import annotations

__all__ = ["METRIC_ROWS", "TRUTH_ROWS", "format_table", "format_value"]

# (key, label, format, better) for the table; original_* counterparts are shown beside.
METRIC_ROWS = [
    ("stability", "Stability (Liu 2013, 0..1)", "{:.3f}", "higher"),
    ("cropping", "Cropping ratio (mean)", "{:.3f}", "higher"),
    ("cropping_min", "Cropping ratio (min)", "{:.3f}", "higher"),
    ("distortion", "Distortion (min eig ratio)", "{:.3f}", "higher"),
    ("jitter_px", "High-pass jitter [px RMS]", "{:.3f}", "lower"),
    ("jitter_deg", "High-pass jitter [deg RMS]", "{:.4f}", "lower"),
    ("rs_residual_px", "RS residual [px, median]", "{:.3f}", "lower"),
    ("undefined_share_mean", "Undefined pixels (mean %)", "{:.2%}", "lower"),
    ("undefined_share_max", "Undefined pixels (max %)", "{:.2%}", "lower"),
]
TRUTH_ROWS = [
    ("truth_output_jitter_deg", "Truth: output jitter [deg RMS]", "{:.4f}"),
    ("truth_input_jitter_deg", "Truth: input jitter [deg RMS]", "{:.4f}"),
    ("truth_residual_deg", "Truth: output vs smoothed truth [deg RMS]", "{:.4f}"),
    ("truth_residual_offset_removed_deg", "  same, constant offset removed [deg]", "{:.4f}"),
    ("truth_fit_rms_deg", "Truth: per-frame ray fit RMS [deg]", "{:.4f}"),
    ("truth_f_out_px", "Truth: output focal [px]", "{:.1f}"),
]


def format_value(v, fmt: str) -> str:
    """``v`` formatted with ``fmt``; ``n/a`` for None, ``str(v)`` when the format does not apply."""
    if v is None:
        return "n/a"
    try:
        return fmt.format(v)
    except (ValueError, TypeError):
        return str(v)


def format_table(res: dict):
    """A ``rich.table.Table`` of an :func:`~fusedstab.measure.metrics.evaluate` result."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"fusedstab evaluate: {res.get('frames')} frames @ {res.get('fps')} fps")
    t.add_column("metric")
    t.add_column("original", justify="right")
    t.add_column("stabilized", justify="right")
    t.add_column("better", justify="center")
    for key, label, fmt, better in METRIC_ROWS:
        orig = res.get("original_" + key) if ("original_" + key) in res else None
        t.add_row(escape(label), format_value(orig, fmt) if ("original_" + key) in res else "", format_value(res.get(key), fmt), better)
    if res.get("cropping_implausible_frames"):
        t.caption = (f"{res['cropping_implausible_frames']} frame(s) left out of the cropping ratio: their match "
                     "implied a wider view than the original's (see docs/METRICS.md)")
    if "truth_residual_deg" in res:
        for key, label, fmt in TRUTH_ROWS:
            label = escape(label)
            if key == "truth_input_jitter_deg":
                t.add_row(label, format_value(res.get(key), fmt), "", "lower")
            else:
                t.add_row(label, "", format_value(res.get(key), fmt), "" if key in ("truth_f_out_px", "truth_fit_rms_deg") else "lower")
    return t

