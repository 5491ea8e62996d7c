"""The HTML report (opened in headless Chromium) and ``fusedstab batch`` (local and on Ray)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from fusedstab.cli import main

from chromium_page import check_page, open_in_chromium

matplotlib = pytest.importorskip("matplotlib", reason="the report needs matplotlib: pip install 'fusedstab[report]'")


def _simulate(prefix: Path, scenario: str = "walk", duration_s: float = 2.0) -> Path:
    assert main(["simulate", str(prefix), "--scenario", scenario, "--size", "320x180", "--duration", f"{duration_s:g}"]) == 0
    return prefix.with_suffix(".mp4")


@pytest.fixture(scope="module")
def walk_sim(tmp_path_factory) -> Path:
    """The 2 s walk (``walk.mp4``, ``.gcsv``, ``.lens.json``), simulated once for both report tests (they
    simulated the same clip, same options, each on its own)."""
    return _simulate(tmp_path_factory.mktemp("walk") / "walk")


@pytest.fixture(scope="module")
def walk_report(walk_sim):
    """``stabilize --report`` on the walk, once: (exit code, output, report folder). The page is judged
    in Chromium; ``fusedstab report`` makes a page for the same output after the fact."""
    out, rep = walk_sim.with_name("walk.stab.mp4"), walk_sim.with_name("rep")
    rc = main(["stabilize", str(walk_sim), "-o", str(out), "--lens", str(walk_sim.with_suffix(".lens.json")),
               "--preset", "ultrafast", "--report", str(rep), "-q"])
    return rc, out, rep


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Three good 1 s clips (with their .gcsv and lens) and one broken file in one folder.

    1 s (30 frames), not 2 s: the batch tests judge each clip's status, outputs and logs, which do
    not depend on the length; each clip is stabilized up to four times here (local, Ray, fake Ray).
    """
    d = tmp_path_factory.mktemp("clips")
    for s in ("walk", "run", "pan"):
        _simulate(d / s, s, duration_s=1.0)
        (d / f"{s}.truth.npz").unlink()
    (d / "broken.mp4").write_bytes(random.Random(0).randbytes(4000))  # fixed bytes: one outcome
    return d


def test_report_simulated_clip_in_chromium(walk_report, tmp_path):
    """``stabilize --report`` on a 2 s clip: the page works offline in a real browser."""
    rc, _, rep = walk_report
    assert rc == 0
    page = rep / "index.html"
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # nothing fetched when viewed
    assert text.count("data:image/png;base64,") == 7
    assert (rep / "before.mp4").is_file() and (rep / "after.mp4").is_file()
    assert json.loads((rep / "report.json").read_text())["metrics"]["frames"] == 60
    for key in ("smoothness_s", "fov_keep", "residual", "corridor"):  # the plan's choices are on the page
        assert f"<th>{key}</th>" in text
    check_page(open_in_chromium(page, tmp_path / "shot.png"), tmp_path / "shot.png")


def test_report_after_the_fact(walk_sim, walk_report):
    """``fusedstab report INPUT OUTPUT``: the plan is made again; metrics can be skipped."""
    rc, out, _ = walk_report  # the stabilized walk (its own --report folder is elsewhere)
    assert rc == 0
    vid, lens = walk_sim, str(walk_sim.with_suffix(".lens.json"))
    assert main(["report", str(vid), str(out), "--lens", lens, "--no-metrics", "-q"]) == 0
    page = Path(str(out) + ".report") / "index.html"
    assert page.is_file() and "metrics skipped" in page.read_text()
    # the plan made again is described as the run described it (one constructor for both)
    _, _, rep = walk_report
    before = json.loads((rep / "report.json").read_text())["run"]
    after = json.loads((page.parent / "report.json").read_text())["run"]
    assert set(after) == set(before)
    for key in ("frames", "zoom", "fov_kept", "fov_keep", "smoothness_s", "residual", "corridor", "motion_source",
                "gyro_bias_rad_s", "offset_ms", "lens", "lens_motion", "predicted_jitter"):
        assert after[key] == before[key], key
    assert after["fps"] == 0.0 and after["timings"] is None and before["timings"]["render_s"] > 0


def test_report_without_matplotlib_says_how(monkeypatch, tmp_path, capsys):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    vid = tmp_path / "x.mp4"
    vid.write_bytes(b"")
    assert main(["stabilize", str(vid), "-o", str(tmp_path / "o.mp4"), "--report", str(tmp_path / "r")]) == 2
    assert "fusedstab[report]" in capsys.readouterr().err


# ---------------------------------------------------------------------------- batch
def _batch(args, capsys):
    rc = main(["batch", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_batch_folder_three_good_one_broken(clips, tmp_path, capsys):
    out = tmp_path / "out"
    rc, stdout, err = _batch([str(clips), "-o", str(out), "-j", "2", "--preset", "ultrafast"], capsys)
    assert rc == 1
    assert sorted(p.name for p in out.glob("*.stab.mp4")) == ["pan.stab.mp4", "run.stab.mp4", "walk.stab.mp4"]
    fails = [ln for ln in err.splitlines() if ln.startswith("failed:")]
    assert len(fails) == 1 and "broken" in fails[0] and "cannot read" in fails[0] and "broken.log" in fails[0]
    assert "cannot read" in (out / "broken.log").read_text()
    assert "status: ok" in (out / "walk.log").read_text()
    # a second run skips the three; --json gives the same results
    rc, stdout, err = _batch([str(clips / "*.mp4"), "-o", str(out), "--json", "--preset", "ultrafast"], capsys)
    assert rc == 1
    res = json.loads(stdout)
    assert (res["ok"], res["skipped"], res["failed"]) == (0, 3, 1)
    assert {r["name"]: r["status"] for r in res["results"]} == {"broken": "failed", "pan": "skipped",
                                                                 "run": "skipped", "walk": "skipped"}
    # --overwrite redoes one clip; all good -> exit 0
    rc, stdout, err = _batch([str(clips / "walk.mp4"), "-o", str(out), "--overwrite", "--json", "--preset",
                              "ultrafast"], capsys)
    assert rc == 0 and json.loads(stdout)["ok"] == 1


def test_batch_refuses_nothing_and_per_clip_logs(clips, tmp_path, capsys):
    rc, _, err = _batch([str(tmp_path / "nothing*.mp4"), "-o", str(tmp_path / "o")], capsys)
    assert rc == 2 and "matches no file" in err
    rc, _, err = _batch([str(clips), "-o", str(tmp_path / "o"), "--gyro", str(clips / "walk.gcsv")], capsys)
    assert rc == 2 and "--gyro" in err


def test_batch_same_stem_gets_distinct_outputs(tmp_path):
    from fusedstab.batch import plan_jobs

    jobs = plan_jobs([tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.MOV"], tmp_path / "o")
    assert [j["name"] for j in jobs] == ["clip", "clip-2"]


class _FakeRay:
    """A stand-in for the ``ray`` module: tasks run at once, in this process."""

    def __init__(self):
        self.inited, self.calls = None, 0

    def is_initialized(self):
        return self.inited is not None

    def init(self, **kw):
        self.inited = kw

    def shutdown(self):
        self.inited = None

    def remote(self, **_):
        def wrap(fn):
            outer = self

            class Task:
                @staticmethod
                def remote(*a):
                    outer.calls += 1
                    if a[0]["name"] == "lost":
                        return _Ref(RuntimeError("node died"))
                    return _Ref(fn(*a))

            return Task

        return wrap

    def wait(self, refs, num_returns=1):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        if isinstance(ref.value, Exception):
            raise ref.value
        return ref.value


class _Ref:
    def __init__(self, value):
        self.value = value


def test_run_ray_code_path_with_a_fake(clips, tmp_path):
    from fusedstab.batch import plan_jobs, run_ray

    jobs = plan_jobs([clips / "walk.mp4", clips / "broken.mp4"], tmp_path / "o")
    jobs.append(dict(jobs[0], name="lost"))
    fake = _FakeRay()
    res = run_ray(jobs, {"preset": "ultrafast"}, num_cpus=2, ray_module=fake)
    assert [r["status"] for r in res] == ["ok", "failed", "failed"]
    assert "node died" in res[2]["error"] and fake.calls == 3 and fake.inited is None


@pytest.mark.slow
def test_batch_on_local_ray(clips, tmp_path, capsys):
    """The same batch on a real local Ray instance (2 CPUs)."""
    pytest.importorskip("ray", reason="pip install 'fusedstab[cluster]' for the Ray test")
    out = tmp_path / "out"
    rc, stdout, err = _batch([str(clips), "-o", str(out), "--ray", "-j", "2", "--json", "--preset", "ultrafast"],
                             capsys)
    assert rc == 1, err
    res = json.loads(stdout)
    assert (res["ok"], res["failed"]) == (3, 1)
    assert sorted(p.name for p in out.glob("*.stab.mp4")) == ["pan.stab.mp4", "run.stab.mp4", "walk.stab.mp4"]
    assert len([ln for ln in err.splitlines() if ln.startswith("failed:")]) == 1
    rc, stdout, err = _batch([str(clips), "-o", str(out), "--ray", "-j", "2", "--json"], capsys)
    assert rc == 1 and json.loads(stdout)["skipped"] == 3
