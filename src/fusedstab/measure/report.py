"""The HTML report: one page that explains a stabilization run.

The page (``DIR/index.html``) is static and self-contained: the plots are PNG images embedded
as base64, the two videos sit beside it in ``DIR`` (hard-linked or copied; transcoded to an
H.264 MP4 preview when the browser could not play the file as it is), and one small inline
script plays them in step. Nothing is fetched from the network when it is viewed.

Plots (matplotlib, needs ``pip install 'fusedstab[report]'``): real vs virtual orientation per
axis, angular velocity, the sync cost curve with the chosen offset and its confidence,
per-segment gyro/video agreement, zoom / crop margin / pull-back per frame, blur and masking
per frame, intent probabilities. Then the metrics table (``fusedstab evaluate``) and every
warning.

Library use: ``stabilize(..., on_plan=plans.append)`` then
``write_report(plans[0], report, outdir, options=opts)``; ``fusedstab stabilize --report DIR``
does exactly this, and ``fusedstab report INPUT OUTPUT`` (:mod:`fusedstab.cli.report`) plans a
finished run again to explain it.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError

__all__ = ["write_report", "make_plots", "require_matplotlib", "report_after_stabilize", "report_from_plan",
           "evaluate_for_report", "PLAYABLE_CODECS"]

#: codecs Chromium / Firefox play in an MP4 without help; others are transcoded to a preview
PLAYABLE_CODECS = {"h264", "vp9", "av1"}
_PLAYABLE_SUFFIXES = {".mp4", ".m4v", ".webm"}
#: the longest side of a transcoded preview [px]
PREVIEW_LONG_SIDE_PX = 1280

_AXES = ("x (tilt / pitch)", "y (pan / yaw)", "z (roll)")


def require_matplotlib() -> None:
    """Raise :class:`InputError` with the install command when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError("the HTML report needs matplotlib, which is not installed",
                         "pip install 'fusedstab[report]' (or pip install matplotlib)") from None


# ---------------------------------------------------------------------------- plots
def _fig(n_rows: int = 1, height: float = 2.6, sharex: bool = True):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(n_rows, 1, figsize=(9.0, height * n_rows), sharex=sharex, squeeze=False)
    return fig, [a[0] for a in axes]


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _empty(title: str, why: str) -> str:
    fig, (ax,) = _fig(1, 1.6)
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_axis_off()
    return _png(fig)


def _rel_rotvec_deg(R_ref: np.ndarray, R: np.ndarray) -> np.ndarray:
    from ..rotation import log_so3

    rv = np.degrees(log_so3(np.swapaxes(R_ref, -1, -2)[None] @ R))
    return np.unwrap(np.radians(rv), axis=0) * 180.0 / np.pi


def _frame_rate_deg_s(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Angular velocity per frame [deg/s] in the camera's own axes, (N, 3) (finite differences)."""
    from ..rotation import log_so3

    if len(R) < 2:
        return np.zeros((len(R), 3))
    rel = np.swapaxes(R[:-1], -1, -2) @ R[1:]
    w = np.degrees(log_so3(rel)) / np.maximum(np.diff(t), 1e-6)[:, None]
    return np.vstack([w, w[-1:]])


def make_plots(plan, options=None) -> list[tuple[str, str, str]]:
    """The report's plots: ``[(title, caption, png_base64), ...]`` (one per figure)."""
    require_matplotlib()
    t = np.asarray(plan.frame_times_s, dtype=np.float64)
    out: list[tuple[str, str, str]] = []
    R_real, R_virt = np.asarray(plan.R_real), np.asarray(plan.R_virt)

    # 1. orientation
    fig, axes = _fig(3, 1.9)
    a_real = _rel_rotvec_deg(R_real[0], R_real)
    a_virt = _rel_rotvec_deg(R_real[0], R_virt)
    for k, ax in enumerate(axes):
        ax.plot(t, a_real[:, k], color="#c0392b", lw=1.0, label="real camera")
        ax.plot(t, a_virt[:, k], color="#2471a3", lw=1.6, label="virtual (output) camera")
        ax.set_ylabel(f"{_AXES[k].split()[0]} [deg]")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[0].set_title("Orientation per axis, relative to the first frame (camera axes: x right, y down, z forward)")
    axes[-1].set_xlabel("video time [s]")
    out.append(("Orientation: real vs virtual", f"Motion source: {plan.motion_source}. The virtual camera is what "
                "the output shows; the gap between the curves is the correction applied per frame.", _png(fig)))

    # 2. angular velocity
    fig, axes = _fig(3, 1.9)
    w_real, w_virt = _frame_rate_deg_s(R_real, t), _frame_rate_deg_s(R_virt, t)
    imu = plan.imu
    gyro_v = None
    if imu is not None and len(imu.times_s) > 1:
        try:
            gyro_v = imu.on_clock(plan.clock)
        except Exception:  # noqa: BLE001 - a plot must not end the report
            gyro_v = None
    for k, ax in enumerate(axes):
        if gyro_v is not None:
            m = (gyro_v.times_s >= t[0] - 0.1) & (gyro_v.times_s <= t[-1] + 0.1)
            ax.plot(gyro_v.times_s[m], np.degrees(gyro_v.gyro_rad_s[m, k]), color="#aaaaaa", lw=0.6,
                    label="gyro samples (on the video clock)")
        ax.plot(t, w_real[:, k], color="#c0392b", lw=1.0, label="real camera (per frame)")
        ax.plot(t, w_virt[:, k], color="#2471a3", lw=1.6, label="virtual camera (per frame)")
        ax.set_ylabel(f"{_AXES[k].split()[0]} [deg/s]")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[0].set_title("Angular velocity")
    axes[-1].set_xlabel("video time [s]")
    out.append(("Angular velocity", "Per frame from the real and virtual orientations; grey: the raw gyro samples "
                "(bias not removed) after the sync.", _png(fig)))

    # 3. sync
    sync = plan.sync
    curve = sync.scores.get("_cost_curve") if sync is not None else None
    if curve is not None and len(curve[0]) > 1:
        n_rows = 2 if sync.points and len(sync.points) > 1 else 1
        fig, axes = _fig(n_rows, 2.6, sharex=False)
        ax = axes[0]
        ax.plot(curve[0], curve[1], color="#555555", lw=1.2, label="coarse cost (lower = better fit)")
        ax.axvline(sync.offset_ms, color="#27ae60", lw=1.5,
                   label=f"chosen {sync.offset_ms:.1f} ms" if sync.reliable else f"unreliable best {sync.offset_ms:.1f} ms")
        ax.axvline(plan.offset_s * 1000.0, color="#8e44ad", ls="--", lw=1.0, label=f"used {plan.offset_s * 1000:.1f} ms")
        ax.set_xlabel("gyro offset [ms]")
        ax.set_ylabel("cost")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
        ax.set_title(f"Sync: confidence {sync.confidence:.2f} ({'reliable' if sync.reliable else 'unreliable'}), "
                     f"IMU orientation {sync.imu_orientation}")
        if n_rows == 2:
            ax2 = axes[1]
            pts = sync.points
            ax2.plot([p.time_s for p in pts], [p.offset_ms for p in pts], "o-", color="#27ae60")
            ax2.set_xlabel("video time [s] (sync window centre)")
            ax2.set_ylabel("offset [ms]")
            ax2.set_title(f"per-window offsets, drift {sync.drift_ppm:.0f} ppm")
            ax2.grid(alpha=0.3)
        scores = ", ".join(f"{k} {v:.2f}" for k, v in sync.scores.items()
                           if not k.startswith("_") and isinstance(v, (int, float)))
        out.append(("Gyro-video sync", f"{sync.message}. Scores: {scores}.", _png(fig)))
    elif sync is not None:
        out.append(("Gyro-video sync", sync.message, _empty("Sync", f"no cost curve recorded; {sync.message}")))
    else:
        out.append(("Gyro-video sync", f"offset source: {plan.offset_source}",
                    _empty("Sync", f"no automatic sync ran (offset: {plan.offset_source})")))

    # 4. agreement
    check = plan.gyro_check
    if check is not None and check.segments:
        fig, (ax,) = _fig(1, 2.6)
        for sg in check.segments:
            ax.bar(sg.start_s, sg.agreement, width=sg.end_s - sg.start_s, align="edge", edgecolor="white",
                   color="#27ae60" if sg.source == "gyro" else "#e67e22")
        ax.axhline(check.agreement, color="#333333", ls="--", lw=1.0, label=f"whole clip {check.agreement:.2f}")
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color="#27ae60", label="gyro used"), Patch(color="#e67e22", label="video used"),
                           ax.get_lines()[0]], loc="lower right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("video time [s]")
        ax.set_ylabel("agreement (0..1)")
        ax.set_title("Gyro / video agreement per segment (share of the picture's motion the gyro explains)")
        ax.grid(alpha=0.3, axis="y")
        cap = check.cause or "the gyro explains the picture in every segment" if not check.video_segments else check.cause
        out.append(("Gyro / video agreement", cap, _png(fig)))
    else:
        why = ("no gyro: the motion comes from the video alone" if plan.motion_source.startswith("video")
               or not len(plan.imu.times_s) else "the gyro was not checked against the video (--motion gyro)")
        out.append(("Gyro / video agreement", why, _empty("Gyro / video agreement", why)))

    # 5. zoom / crop margin / pull-back
    crop = plan.crop
    fig, axes = _fig(2, 2.2)
    n = len(t)
    zoom = np.asarray(crop.zoom_per_frame, dtype=float) if crop.zoom_per_frame is not None else np.full(n, crop.zoom)
    if crop.required_zoom is None:  # measured here, not while planning (only this chart reads it)
        from ..filtering.crop import with_required_zoom

        crop = with_required_zoom(crop, plan.planner, plan.frame_times_s)
    need = np.asarray(crop.required_zoom, dtype=float)
    ax = axes[0]
    ax.plot(t, zoom, color="#2471a3", lw=1.6, label="zoom used")
    ax.plot(t, need, color="#c0392b", lw=1.0, label="zoom needed (no undefined pixels)")
    ax.fill_between(t, need, zoom, where=zoom >= need, color="#2471a3", alpha=0.15, label="crop margin")
    ax.set_ylabel("zoom")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(f"Crop: zoom {crop.zoom:.3f} (field of view kept {100 * crop.fov_kept:.1f} %)")
    ax = axes[1]
    ax.plot(t, np.asarray(crop.pullback, dtype=float), color="#8e44ad", lw=1.2)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("pull-back")
    ax.set_xlabel("video time [s]")
    ax.grid(alpha=0.3)
    out.append(("Zoom, crop margin and pull-back", "Pull-back 0 = the smooth path is kept, 1 = the real camera (the "
                "smooth camera would have left the picture).", _png(fig)))

    # 6. blur and masking
    fig, axes = _fig(2, 2.2)
    exposure_s = 0.0
    if options is not None and getattr(options, "exposure_ms", None) is not None:
        exposure_s = options.exposure_ms / 1000.0
    elif plan.imu is not None:
        exposure_s = float(plan.imu.meta.get("exposure_s") or 0.0)
    speed = np.linalg.norm(np.radians(w_real), axis=1)
    ax = axes[0]
    if exposure_s > 0:
        ax.plot(t, speed * exposure_s * plan.camera.fx_px, color="#c0392b", lw=1.0)
        ax.set_title(f"Motion blur: streak at the centre during the exposure ({exposure_s * 1000:.1f} ms)")
    else:
        ax.plot(t, speed * plan.camera.fx_px / max(plan.info.fps, 1e-9), color="#c0392b", lw=1.0)
        ax.set_title("Motion blur: exposure unknown (no masking); shown: image motion per frame period")
    ax.set_ylabel("[px]")
    ax.grid(alpha=0.3)
    ax = axes[1]
    beta = np.asarray(plan.blur_beta, dtype=float) if plan.blur_beta is not None else np.zeros(n)
    ax.plot(t, beta, color="#e67e22", lw=1.2)
    ax.set_ylim(-0.03, max(1.03, float(beta.max()) + 0.03) if len(beta) else 1.03)
    ax.set_ylabel("masking")
    ax.set_xlabel("video time [s]")
    ax.set_title("Blur masking: share of the real motion blended back on blurred frames")
    ax.grid(alpha=0.3)
    out.append(("Blur and masking", "Masking is 0 where the frame is sharp or masking is off.", _png(fig)))

    # 7. intent
    intent_on = options is None or (getattr(options, "intent", True) and getattr(options, "lookahead_s", None) is None)
    probs = None
    if intent_on and len(R_real) >= 3 and not plan.passthrough:
        try:
            from ..filtering.gaussian import gaussian_smooth_orientations
            from ..filtering.intent import apply_intent

            tc = plan.planner.centre_time_s(t)
            sm = getattr(options, "smoothness_s", 0.5) if options is not None else 0.5
            _, info = apply_intent(R_real, gaussian_smooth_orientations(R_real, tc, sm), tc)
            probs, classes = np.asarray(info["probs"]), list(info["classes"])
        except Exception as exc:  # noqa: BLE001
            probs, why = None, f"intent model failed: {exc}"
    if probs is not None and probs.size:
        fig, (ax,) = _fig(1, 2.6)
        ax.stackplot(t, probs.T, labels=classes, alpha=0.85)
        ax.set_ylim(0, 1)
        ax.set_xlabel("video time [s]")
        ax.set_ylabel("probability")
        ax.legend(loc="upper right", fontsize=8, ncol=len(classes))
        ax.set_title("Intent model: what the camera operator is doing, per frame")
        out.append(("Intent probabilities", "The intent path (pan-axis following, tripod hold) is used where it is "
                    "confident and not shakier than plain smoothing.", _png(fig)))
    else:
        why = locals().get("why") or ("the intent model is off (--no-intent or --lookahead)" if not intent_on
                                      else "no intent model for this plan (input kept as is)")
        out.append(("Intent probabilities", why, _empty("Intent probabilities", why)))
    return out


# ---------------------------------------------------------------------------- videos
def _playable(path: Path) -> bool:
    from ..io.video import probe_video

    if path.suffix.lower() not in _PLAYABLE_SUFFIXES:
        return False
    try:
        info = probe_video(path)
    except Exception:  # noqa: BLE001
        return False
    return info.codec in PLAYABLE_CODECS and info.rotation_deg == 0


def _transcode_preview(src: Path, dst: Path) -> None:
    """An H.264 MP4 any browser plays: long side at most PREVIEW_LONG_SIDE_PX, no audio."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        w, h = vin.codec_context.width, vin.codec_context.height
        s = min(1.0, PREVIEW_LONG_SIDE_PX / max(w, h))
        ow, oh = max(2, int(w * s) // 2 * 2), max(2, int(h * s) // 2 * 2)
        rate = vin.average_rate or 30
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = ow, oh, "yuv420p"
        vout.options = {"preset": "veryfast", "crf": "23"}
        for frame in inp.decode(vin):
            img = frame.reformat(width=ow, height=oh, format="yuv420p")
            img.pts = None
            for pkt in vout.encode(img):
                out.mux(pkt)
        for pkt in vout.encode():
            out.mux(pkt)


def place_video(src: Path, outdir: Path, stem: str) -> tuple[str, str]:
    """Put ``src`` into ``outdir`` for the page: ``(file name, how)``; how = linked / copied / preview."""
    src = Path(src)
    if _playable(src):
        dst = outdir / f"{stem}{src.suffix.lower()}"
        if dst.exists() or dst.is_symlink():
            dst.unlink()
        try:
            os.link(src, dst)
            return dst.name, "hard link"
        except OSError:
            shutil.copyfile(src, dst)
            return dst.name, "copy"
    dst = outdir / f"{stem}.preview.mp4"
    if dst.exists():
        dst.unlink()
    _transcode_preview(src, dst)
    return dst.name, "H.264 preview (the original is not playable in a browser as it is)"


# ---------------------------------------------------------------------------- page
_SCRIPT = r"""
(function () {
  var a = document.getElementById('before'), b = document.getElementById('after');
  var btn = document.getElementById('play'), seek = document.getElementById('seek');
  var clock = document.getElementById('clock'), rate = document.getElementById('rate');
  var vids = [a, b];
  function fmt(s) { return (isFinite(s) ? s : 0).toFixed(2) + ' s'; }
  function dur() { return Math.min(a.duration || 0, b.duration || 0) || (a.duration || b.duration || 0); }
  function draw() {
    clock.textContent = fmt(a.currentTime) + ' / ' + fmt(dur());
    if (dur() > 0 && !seek.dragging) { seek.value = String(1000 * a.currentTime / dur()); }
    btn.textContent = a.paused ? 'Play' : 'Pause';
  }
  function follow() {  // b follows a: the master clock is the original
    if (Math.abs(b.currentTime - a.currentTime) > 0.04) { b.currentTime = a.currentTime; }
    draw();
    if (!a.paused) { window.requestAnimationFrame(follow); }
  }
  window.fsPlay = function () {
    var p = vids.map(function (v) { return v.play(); });
    window.requestAnimationFrame(follow);
    return Promise.all(p);
  };
  window.fsPause = function () { vids.forEach(function (v) { v.pause(); }); b.currentTime = a.currentTime; draw(); };
  btn.addEventListener('click', function () { if (a.paused) { window.fsPlay().catch(function () {}); } else { window.fsPause(); } });
  seek.addEventListener('input', function () {
    var tt = dur() * Number(seek.value) / 1000; vids.forEach(function (v) { v.currentTime = tt; }); draw();
  });
  rate.addEventListener('change', function () { vids.forEach(function (v) { v.playbackRate = Number(rate.value); }); });
  a.addEventListener('ended', function () { b.pause(); draw(); });
  a.addEventListener('loadedmetadata', draw);
  document.addEventListener('keydown', function (e) {
    if (e.code === 'Space' && e.target === document.body) { e.preventDefault(); btn.click(); }
  });
  draw();
})();
"""

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.2em auto;max-width:1400px;padding:0 1em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
.player{display:flex;gap:1em;flex-wrap:wrap}.player figure{flex:1 1 45%;margin:0;min-width:280px}
.player video{width:100%;background:#000}figcaption{font-size:.9em;color:#555}
.controls{display:flex;gap:.8em;align-items:center;margin:.6em 0}.controls input[type=range]{flex:1}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(620px,1fr));gap:1em}
.plot img{width:100%;border:1px solid #ddd}.plot p{font-size:.9em;color:#444;margin:.3em 0}
table{border-collapse:collapse;font-size:.92em}td,th{border-bottom:1px solid #e5e5e5;padding:.25em .7em;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}td,th{overflow-wrap:anywhere}
.warn li{color:#8a5300}
"""


def _metrics_rows(metrics: dict) -> list[tuple[str, str, str, str]]:
    from .table import METRIC_ROWS, format_value

    rows = []
    for key, label, fmt, better in METRIC_ROWS:
        if key not in metrics and "original_" + key not in metrics:
            continue
        orig = format_value(metrics.get("original_" + key), fmt) if ("original_" + key) in metrics else ""
        rows.append((label, orig, format_value(metrics.get(key), fmt), better))
    return rows


def render_html(plan, report, plots, videos: dict, metrics: dict | None, metrics_note: str = "") -> str:
    """The page as a string (see :func:`write_report`)."""
    e = html.escape
    d = report.as_dict() if hasattr(report, "as_dict") else dict(report)
    summary_keys = ("input", "output", "frames", "width_px", "height_px", "motion_source", "gyro_agreement",
                    "smoothness_s", "fov_keep", "residual", "corridor", "zoom", "fov_kept", "width_kept", "gyro_source", "gyro_rate_hz", "offset_ms", "offset_source", "sync_confidence",
                    "imu_orientation", "readout_ms", "readout_source", "lens", "lens_motion", "gyro_bias_rad_s",
                    "backend", "seconds", "fps")
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(d.get(k)))}</td></tr>" for k in summary_keys if k in d)
    pj = d.get("predicted_jitter")
    if pj:
        rows += (f"<tr><th>predicted jitter</th><td>{pj['input_px']:.2f} px -&gt; {pj['output_px']:.2f} px "
                 "(input -&gt; output, from the tracks)</td></tr>")
    if metrics:
        mrows = "".join(f"<tr><td>{e(lab)}</td><td class=num>{e(o)}</td><td class=num>{e(s)}</td><td>{e(b)}</td></tr>"
                        for lab, o, s, b in _metrics_rows(metrics))
        mtable = (f"<table id=metrics><tr><th>metric</th><th>original</th><th>stabilized</th><th>better</th></tr>"
                  f"{mrows}</table><p>{e(metrics_note)}</p>")
    else:
        mtable = f"<p id=metrics>{e(metrics_note or 'metrics not computed')}</p>"
    warnings = d.get("warnings") or []
    wl = ("<ul class=warn>" + "".join(f"<li>{e(w)}</li>" for w in warnings) + "</ul>") if warnings else "<p>none</p>"
    figs = "".join(
        f"<div class=plot><h3>{e(title)}</h3><img alt=\"{e(title)}\" src=\"data:image/png;base64,{b64}\">"
        f"<p>{e(cap)}</p></div>" for title, cap, b64 in plots)
    bv, av_ = videos["before"], videos["after"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>fusedstab report: {e(Path(d.get('input', '')).name)}</title><style>{_CSS}</style></head>
<body>
<h1>fusedstab report: {e(Path(d.get('input', '')).name)}</h1>
<p>{e(str(d.get('input')))} &rarr; {e(str(d.get('output')))}; written {e(time.strftime('%Y-%m-%d %H:%M'))}</p>
<h2>Before / after</h2>
<div class=player>
<figure><video id=before src="{e(bv[0])}" muted playsinline preload=auto></video><figcaption>before: {e(Path(d.get('input', '')).name)} ({e(bv[1])})</figcaption></figure>
<figure><video id=after src="{e(av_[0])}" muted playsinline preload=auto></video><figcaption>after: {e(Path(d.get('output', '')).name)} ({e(av_[1])})</figcaption></figure>
</div>
<div class=controls><button id=play type=button>Play</button><input id=seek type=range min=0 max=1000 value=0 aria-label="position">
<span id=clock>0.00 s</span><label>speed <select id=rate><option value=0.25>0.25x</option><option value=0.5>0.5x</option><option value=1 selected>1x</option><option value=2>2x</option></select></label></div>
<h2>Warnings ({len(warnings)})</h2>{wl}
<h2>Run</h2><table id=summary>{rows}</table>
<h2>Metrics</h2>{mtable}
<h2>Plots</h2><div class=plots>{figs}</div>
<script>{_SCRIPT}</script>
</body></html>
"""


def write_report(plan, report, outdir, *, options=None, metrics: dict | None = None, metrics_note: str = "",
                 input_path=None, output_path=None) -> Path:
    """Write ``outdir/index.html`` (and the two videos, ``report.json``); returns the page's path.

    Parameters
    ----------
    plan : the :class:`~fusedstab.pipeline.StabilizationPlan` of the run.
    report : its :class:`~fusedstab.pipeline.StabilizeReport` (or the dict of one).
    outdir : folder, created if needed.
    options : the :class:`~fusedstab.pipeline.StabilizeOptions` used (exposure, intent, smoothness).
    metrics : an :func:`fusedstab.measure.metrics.evaluate` result for the table, or None.
    input_path, output_path : the videos; default: the report's ``input`` / ``output``.
    """
    require_matplotlib()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    d = report.as_dict() if hasattr(report, "as_dict") else dict(report)
    src = Path(input_path or d["input"])
    dst = Path(output_path or d["output"])
    videos = {"before": place_video(src, outdir, "before"), "after": place_video(dst, outdir, "after")}
    plots = make_plots(plan, options)
    page = outdir / "index.html"
    tmp = outdir / ".index.html.tmp"
    tmp.write_text(render_html(plan, d, plots, videos, metrics, metrics_note), encoding="utf-8")
    os.replace(tmp, page)
    (outdir / "report.json").write_text(json.dumps({"run": d, "metrics": metrics}, indent=1, default=str),
                                        encoding="utf-8")
    return page


def evaluate_for_report(input_path, output_path, progress: Callable[[str, int, int], None] | None = None):
    """``(metrics or None, note)``: the evaluate metrics, or why they are missing."""
    from ..errors import FusedStabError
    from .metrics import evaluate

    t0 = time.perf_counter()
    try:
        cb = (lambda done, total: progress("evaluate", done, total)) if progress else None
        res = evaluate(input_path, output_path, progress=cb)
    except FusedStabError as exc:
        return None, f"metrics not computed: {exc.message}"
    return res, (f"fusedstab evaluate over {res['frames']} frames ({time.perf_counter() - t0:.1f} s); "
                 "definitions: fusedstab evaluate --help and docs/METRICS.md")


def report_after_stabilize(plan, report, outdir, opts, progress=None, *, console=None, metrics: bool = True) -> Path:
    """Evaluate (unless ``metrics`` is False) and write the page for a run just made."""
    m, note = evaluate_for_report(report.input, report.output, progress) if metrics else (None, "metrics skipped")
    page = write_report(plan, report, outdir, options=opts, metrics=m, metrics_note=note)
    if console is not None:
        console.print(f"report: {page}", highlight=False, soft_wrap=True)
    return page


def report_from_plan(plan, input_path, output_path, opts, seconds: float):
    """A :class:`~fusedstab.pipeline.StabilizeReport` for a plan that was not rendered here."""
    from ..pipeline import StabilizeReport

    return StabilizeReport.from_plan(plan, input_path, output_path, opts, seconds=seconds)
