"""`sleepbench report`: one self-contained HTML page per protocol, rendered by headless Chromium."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from sleepbench.benchmark import cli
from tests.test_paper import fake_results

#: Chromium's flags for a sandboxed CI run: no network, no GPU, a fresh profile per call.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-extensions", "--hide-scrollbars", "--mute-audio")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = fake_results(tmp_path_factory.mktemp("results"))
    assert cli.main(["report", "--results", str(root), "--reference", "vivit"]) == 0
    page = root / "tables" / "quick.html"
    assert page.is_file()
    return root, page


class _Parse(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.srcs, self.links, self.tables = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.tables += tag == "table"
        if tag in ("img", "script", "iframe", "video", "audio", "source") and a.get("src"):
            self.srcs.append(a["src"])
        if tag == "link" and a.get("href"):
            self.links.append(a["href"])


@pytest.mark.slow
def test_page_is_self_contained(report):
    root, page = report
    text = page.read_text(encoding="utf-8")
    p = _Parse()
    p.feed(text)
    assert "script" not in p.tags and not p.links  # no script, no external stylesheet
    assert p.srcs and all(s.startswith("data:image/png;base64,") for s in p.srcs)
    assert not re.search(r"(?:src|href)=\"(?:https?:|//|file:)", text)
    assert "url(" not in text  # no fonts or images pulled by CSS
    figures = sorted((root / "tables" / "figures" / "quick").glob("*.png"))
    assert len(p.srcs) == len(figures) >= 7  # every figure of the protocol, embedded
    embedded = {base64.b64decode(s.split(",", 1)[1]) for s in p.srcs}
    assert {f.read_bytes() for f in figures} == embedded
    # tables: main, contrasts, full table and blocks, entries; provenance and citation
    assert p.tables >= 4
    for needle in ("Main results", "Contrasts", "Provenance", "Protocol hash", "@article{kemp2000sleepedf",
                   "TinySleepNet", "not comparable: 2/3 folds", "Surrogate data", "abc123"):
        assert needle in text, needle
    # the authors' figures (tinysleepnet declares them): a section of their own, after the measured
    # tables, never in them
    assert text.index('id="main-table"') < text.index('<h2 id="reported">Reported by the authors (not measured here)')
    section = text[text.index('id="reported"'):text.index('<h2 id="figures">')]
    assert 'id="reported-table"' in section and "not measured here" in section
    for needle in ("<td>TinySleepNet</td><td>tinysleepnet</td>", "<td>85.4</td><td>80.5</td><td>0.80</td>",
                   "[supratak2020tinysleepnet]", "30 min before the first and after the last sleep epoch"):
        assert needle in section, needle
    measured = text[:text.index('id="reported"')]
    assert "<td>85.4</td>" not in measured and "Supratak &amp; Guo 2020" not in measured
    # the paper files were written too
    paper = root / "tables" / "paper"
    assert {f.name for f in paper.iterdir()} >= {"quick-main.tex", "quick-stats.tex", "quick.bib",
                                                 "quick-reported.tex"}


@pytest.mark.slow
def test_report_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["report", "--results", str(tmp_path / "missing")]) == 2
    root = fake_results(tmp_path / "r", seeds=(0,))
    assert cli.main(["report", "--results", str(root), "--protocol", "quik"]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and "quik" in err and "Traceback" not in err


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")


def _run_chromium(exe: str, profile: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_page_renders_in_headless_chromium(report, tmp_path):
    exe = _chromium()
    _, page = report
    # a probe (test-only copy of the page) reports what the browser actually decoded and laid out
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const shown = imgs.filter(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0);
  const tables = [...document.querySelectorAll('table')].filter(t => t.rows.length > 1 && t.offsetHeight > 0);
  document.body.setAttribute('data-images', imgs.length);
  document.body.setAttribute('data-images-shown', shown.length);
  document.body.setAttribute('data-tables-shown', tables.length);
  document.body.setAttribute('data-main-rows', document.getElementById('main-table').rows.length - 1);
});
</script></body>"""), encoding="utf-8")
    proc = _run_chromium(exe, tmp_path / "profile1", "--virtual-time-budget=10000", "--dump-dom",
                         probe.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", proc.stdout).group(1)
    attrs = dict(re.findall(r'data-([\w-]+)="(\d+)"', body))
    assert attrs, f"the page did not load in Chromium: {proc.stderr[-1000:]}"
    assert int(attrs["images"]) >= 7 and attrs["images-shown"] == attrs["images"], attrs
    assert int(attrs["tables-shown"]) >= 4 and attrs["main-rows"] == "6", attrs

    # and a screenshot of the page itself (no probe) is a real rendering, not a blank page
    shot = tmp_path / "page.png"
    proc = _run_chromium(exe, tmp_path / "profile2", "--window-size=1400,2000", f"--screenshot={shot}",
                         page.as_uri())
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1400, 2000)
        px = np.asarray(im.convert("L"), dtype=float)
    assert px.std() > 20  # text, tables and figures, not an empty white page
    assert (px < 128).mean() > 0.01
