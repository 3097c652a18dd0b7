"""The download path through MNE, exercised against a loopback HTTP server (PhysioNet is not
reachable here): files arrive, SHA-1s are verified, failures are listed, present files not refetched."""

from __future__ import annotations

import shutil

import pytest

from sleepbench.datasets.sleep_edf import fetch

from .conftest import REAL_HYP, REAL_PSG
from .support.loopback import MirrorHandler, loopback_mirror


@pytest.fixture
def mirror(tmp_path):
    """A loopback mirror laid out as PhysioNet's sleep-edfx/sleep-cassette folder."""
    with loopback_mirror(tmp_path / "mirror", "sleep-cassette") as served:
        yield served


@pytest.mark.slow
def test_fetch_downloads_and_verifies(real_dir, mirror, tmp_path):
    folder, url = mirror
    (folder / REAL_PSG.name).symlink_to(REAL_PSG)
    (folder / REAL_HYP.name).symlink_to(REAL_HYP)
    inv = fetch(tmp_path / "data", subjects=[0], nights=(1,), base_url=url, progress=False)
    assert list(inv.complete) == ["SC4001E0"] and not inv.corrupt
    assert (tmp_path / "data/physionet-sleep-data/SC4001E0-PSG.edf").stat().st_size == 48_338_048
    # a second fetch finds the verified files and asks the server for nothing
    MirrorHandler.requests.clear()
    inv = fetch(tmp_path / "data", subjects=[0], nights=(1,), base_url=url, progress=False)
    assert list(inv.complete) == ["SC4001E0"] and MirrorHandler.requests == []


@pytest.mark.slow
def test_corrupt_and_missing_downloads_are_listed_not_raised(real_dir, mirror, tmp_path):
    folder, url = mirror
    shutil.copy(REAL_HYP, folder / REAL_HYP.name)
    bad = bytearray(REAL_PSG.read_bytes())
    bad[5_000_000] ^= 0xFF
    (folder / REAL_PSG.name).write_bytes(bytes(bad))
    inv = fetch(tmp_path / "data", subjects=[0, 1], nights=(1,), base_url=url, progress=False)
    assert not inv.complete
    failed = {r.name: problem for r, _, problem in inv.corrupt}
    assert set(failed) == {"SC4001E0", "SC4011E0"}  # hash mismatch; 404
    assert all(p.startswith("download failed") for p in failed.values())
