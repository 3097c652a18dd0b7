"""The "Add a model" path: the worked entries in examples/, `sleepbench new-entry`, plugin errors,
the DeepEntry recipe hand-off and the per-job failure log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from sleepbench.benchmark import cli
from sleepbench.benchmark.registry import PluginError, discover, make_entry
from sleepbench.benchmark.training import DeepEntry, TrainRecipe
from tests.support.synthetic import macro_f1, synthetic_set

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SMALL_CNN = EXAMPLES / "small_cnn.py"
LOGREG = EXAMPLES / "bandpower_logreg.py"


@pytest.fixture(scope="module")
def data():
    return synthetic_set(4, 120, seed=1), synthetic_set(1, 120, seed=2), synthetic_set(2, 120, seed=3)


def test_examples_register_through_sleepbench_plugins(monkeypatch, capsys):
    monkeypatch.setenv("SLEEPBENCH_PLUGINS", os.pathsep.join([str(SMALL_CNN), str(LOGREG)]))
    entries = discover()
    assert entries["example-small-cnn"].kind == "deep"
    assert entries["example-bandpower-logreg"].kind == "classic"
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert "example-small-cnn" in out and "example-bandpower-logreg" in out
    # a folder of plugins works too
    monkeypatch.setenv("SLEEPBENCH_PLUGINS", str(EXAMPLES))
    assert {"example-small-cnn", "example-bandpower-logreg"} <= set(discover())


def test_classic_example_fits_and_beats_chance(data):
    train, valid, test = data
    discover([LOGREG])
    entry = make_entry("example-bandpower-logreg", 0, {"C": 0.5})
    assert entry.get_params() == {"C": 0.5, "class_weight": "balanced", "seed": 0}
    assert clone(entry).get_params() == entry.get_params()
    assert entry.n_params() is None  # unknown before fit
    proba = entry.fit(train, valid).predict_proba(test)
    assert proba.shape == (len(test), 5) and np.allclose(proba.sum(1), 1)
    assert entry.n_params() == 5 * 6 + 5  # 5 classes x (5 bands + total power) + intercepts
    from sleepbench.benchmark.reporting.bibliography import bib_keys, bibtex_for, display_name

    assert display_name("example-bandpower-logreg") == "Band power + logistic regression"
    assert "pedregosa2011sklearn" in bib_keys(bibtex_for(["example-bandpower-logreg"]))
    # the synthetic stages differ in their spectra, so band powers must separate them
    assert macro_f1(test.y, proba.argmax(1)) > 0.6


@pytest.mark.slow
def test_deep_example_fits_deterministically(data):
    train, valid, test = data
    discover([SMALL_CNN])
    params = {"max_passes": 3, "steps_per_pass": 10}
    entry = make_entry("example-small-cnn", 0, params)
    assert entry.max_passes == 3 and entry.filters == 16  # attributes named as the arguments
    assert entry.recipe().max_passes == 3 and entry.recipe().seq_len == 1
    p1 = entry.fit(train, valid).predict_proba(test)
    p2 = make_entry("example-small-cnn", 0, params).fit(train, valid).predict_proba(test)
    np.testing.assert_array_equal(p1, p2)  # a seed fixes everything on CPU
    assert p1.shape == (len(test), 5) and np.allclose(p1.sum(1), 1, atol=1e-5)
    assert entry.n_params() == sum(p.numel() for p in entry.module_.parameters()) > 1000
    assert macro_f1(test.y, p1.argmax(1)) > 0.3  # learnt something in 30 steps (chance ~0.2)


def test_deep_entry_init_takes_recipe_fields_and_names_unknown_ones():
    class Fixed(DeepEntry):
        def __init__(self, width=4, seed=0):
            self.width = width
            super().__init__(seed=seed, max_passes=2, lr=0.1)  # fixed here, not parameters

    e = Fixed(seed=5)
    assert (e.seed, e.max_passes, e.lr) == (5, 2, 0.1)
    assert e.recipe().max_passes == 2 and e.recipe().lr == 0.1  # not TrainRecipe's defaults
    assert e.recipe().batch_size == TrainRecipe().batch_size

    class Wrong(DeepEntry):
        def __init__(self, width=4, seed=0):
            super().__init__(seed=seed, width=width)

    with pytest.raises(TypeError, match=r"unknown \['width'\].*self.<name> = <name>"):
        Wrong()


@pytest.mark.parametrize("value, message", [
    ("examples/small_cnn.py,examples/bandpower_logreg.py", "not commas"),
    ("no_such_plugin_module", "no importable module"),
    ("no/such/file.py", "no such file or folder"),
    (str(REPO / "README.md"), "not a .py file"),
])
def test_bad_plugin_setting_is_one_clear_line(monkeypatch, capsys, value, message):
    monkeypatch.setenv("SLEEPBENCH_PLUGINS", value)
    with pytest.raises(PluginError, match=message):
        discover()
    assert cli.main(["models"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "os.pathsep" in err
    assert len(err.strip().splitlines()) == 1


def test_plugin_that_fails_to_import_is_named(tmp_path, monkeypatch):
    bad = tmp_path / "broken_entry.py"
    bad.write_text("import numpy as np\nraise RuntimeError('oops in the plugin')\n")
    monkeypatch.setenv("SLEEPBENCH_PLUGINS", str(bad))
    with pytest.raises(PluginError, match=r"broken_entry.py: importing it failed: RuntimeError: oops"):
        discover()


def test_plugin_module_name_is_imported(tmp_path, monkeypatch):
    (tmp_path / "h6_plugin_pkg").mkdir()
    (tmp_path / "h6_plugin_pkg" / "__init__.py").write_text("")
    (tmp_path / "h6_plugin_pkg" / "entries.py").write_text(LOGREG.read_text().replace(
        '"example-bandpower-logreg"', '"example-module-plugin"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SLEEPBENCH_PLUGINS", "h6_plugin_pkg.entries")
    assert "example-module-plugin" in discover()


@pytest.mark.subprocess
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["classic", "deep"])
def test_new_entry_writes_a_working_entry_and_test(tmp_path, kind, capsys):
    name = f"scaffolded-{kind}"
    assert cli.main(["new-entry", name, "--kind", kind, "--out", str(tmp_path)]) == 0
    entry, test = tmp_path / f"scaffolded_{kind}.py", tmp_path / f"test_scaffolded_{kind}.py"
    assert entry.is_file() and test.is_file()
    assert f"SLEEPBENCH_PLUGINS={entry}" in capsys.readouterr().out
    # the generated test passes as written (run from the repository root, as the file says)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout
    # and the entry is a registered entry of the chosen kind
    assert discover([entry])[name].kind == kind
    # nothing is overwritten, and a taken or malformed name is refused with a clear message
    assert cli.main(["new-entry", name, "--kind", kind, "--out", str(tmp_path)]) == 2
    assert cli.main(["new-entry", "majority", "--out", str(tmp_path)]) == 2
    assert cli.main(["new-entry", "My_Model", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is taken" in err and "lowercase letters" in err and "Traceback" not in err


def test_failed_job_names_a_log_with_the_full_traceback(toy_plugin, quick_cache, tmp_path):
    from sleepbench.benchmark.runner import failure_log_path, list_jobs, run

    jobs = list_jobs("quick", {"toy-broken": {}}, [0], tmp_path / "results", cache_dir=quick_cache)
    results = run(jobs, workers=1, progress=False)
    failed = [r for r in results if r.status == "failed"]
    assert len(failed) == 1
    log = failure_log_path(failed[0].job)
    assert log == tmp_path / "results/logs/quick/toy-broken/seed-0" / f"fold-{failed[0].job.fold}.log"
    assert f"full traceback: {log}" in failed[0].error
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: toy failure" in text
    assert "toy_entries.py" in text  # the frame that raised


def test_example_suite_is_valid(monkeypatch):
    from sleepbench.benchmark.suites import load_suite

    monkeypatch.setenv("SLEEPBENCH_PLUGINS", str(EXAMPLES))
    suite = load_suite(str(EXAMPLES / "suite.yaml"))
    entries = discover()
    assert set(suite["models"]) <= set(entries)
    for name, params in suite["models"].items():  # every override is a parameter of the entry
        assert make_entry(name, 0, params).get_params()["seed"] == 0
    assert ("example-small-cnn", "majority") in suite["contrasts"]


def test_new_entry_default_layout_is_models_and_tests(tmp_path):
    from sleepbench.benchmark.scaffold import write_entry

    entry, test = write_entry("layout-check", "classic", repo=tmp_path)
    assert entry == tmp_path / "models" / "layout_check.py"
    assert test == tmp_path / "tests" / "test_entry_layout_check.py"
    text = test.read_text()
    assert "PLUGIN = []" in text  # models/ is discovered without SLEEPBENCH_PLUGINS
    assert 'make_entry(\'layout-check\'' in text and "class LayoutCheck(Entry)" in entry.read_text()
    compile(entry.read_text(), str(entry), "exec")
    compile(text, str(test), "exec")


def test_entry_authors_get_their_api_from_the_sleepbench_package(tmp_path):
    """The examples, the files `new-entry` writes and the README import the entry API from
    ``sleepbench`` itself, not from the harness's modules."""
    written = []
    for kind in ("classic", "deep"):
        assert cli.main(["new-entry", f"api-check-{kind}", "--kind", kind, "--out", str(tmp_path)]) == 0
        written += [tmp_path / f"api_check_{kind}.py", tmp_path / f"test_api_check_{kind}.py"]
    sources = [REPO / "examples" / "small_cnn.py", REPO / "examples" / "bandpower_logreg.py", *written]
    for path in sources:
        text = path.read_text()
        assert "from sleepbench import " in text, path
        assert not re.search(r"^\s*(from|import) sleepbench\.benchmark\.(registry|training|epochs)\b", text, re.M), path
    readme = (REPO / "README.md").read_text()
    assert "from sleepbench import " in readme and "from sleepbench.benchmark.registry" not in readme
