"""The installed distribution: one top-level package, ``sleepbench``, that coexists with packages
named like its subpackages (Hugging Face ``datasets``)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = out.glob("sleepbench-*.whl")
    return path


def test_the_wheel_installs_only_the_sleepbench_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"sleepbench"}, f"top-level names in {wheel.name}: {sorted(top)}"
    # the subpackages, their data and the shipped FIN weights are inside it
    for needed in ("sleepbench/__init__.py", "sleepbench/benchmark/cli.py", "sleepbench/datasets/sleep_edf.py",
                   "sleepbench/models/fin_vivit.py", "sleepbench/baselines/majority.py",
                   "sleepbench/benchmark/suites/quick.yaml", "sleepbench/benchmark/protocols/quick.json",
                   "sleepbench/datasets/hypnogram_model.json", "sleepbench/models/weights/MANIFEST.json"):
        assert needed in names, f"{needed} missing from {wheel.name}"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "sleepbench = sleepbench.benchmark.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_wheel_and_hugging_face_datasets_both_import(wheel, tmp_path):
    """Installed into one environment, neither overwrites the other. The venv sees this test's
    environment (sleepbench's dependencies) through a .pth file placed after its own site-packages,
    so pip installs only what Hugging Face ``datasets`` adds."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    outer = ([p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
             or [sysconfig.get_paths()["purelib"]])
    (site / "zz_outer_environment.pth").write_text("\n".join(outer) + "\n")
    hf = subprocess.run([str(py), "-m", "pip", "install", "-q", "datasets"], capture_output=True, text=True,
                        timeout=900)
    if hf.returncode != 0 and any(s in hf.stderr for s in ("No matching distribution", "Could not fetch",
                                                            "NewConnectionError", "Temporary failure")):
        pytest.skip(f"Hugging Face datasets cannot be installed from the package index here: {hf.stderr[-300:]}")
    assert hf.returncode == 0, hf.stderr[-3000:]
    ours = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], capture_output=True,
                          text=True, timeout=600)
    assert ours.returncode == 0, ours.stderr[-3000:]
    check = ("import datasets, sleepbench.datasets.sleep_edf as s, sleepbench.benchmark.cli\n"
             "from datasets import load_dataset\n"
             "from sleepbench import DeepEntry, Entry, register\n"
             "assert 'sleepbench' not in datasets.__file__, datasets.__file__\n"
             "assert callable(load_dataset)\n"
             f"assert s.__file__.startswith({str(site)!r}), s.__file__\n"
             "print('both import:', datasets.__version__, s.__name__)\n")
    proc = subprocess.run([str(py), "-c", check], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "both import" in proc.stdout
    cli = subprocess.run([str(venv / "bin" / "sleepbench"), "models"], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert cli.returncode == 0 and "fin-vivit" in cli.stdout, cli.stdout + cli.stderr
