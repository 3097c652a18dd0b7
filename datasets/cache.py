"""On-disk cache of prepared recordings and of source-file checksums.

A prepared recording is written once, atomically, as an uncompressed ``.npz`` whose name carries a
key made of the source files' SHA-1s and the preprocessing config; any change to either gives a new
key, so a stale entry is never read. Hashing a 48 MB PSG costs more than loading its prepared
epochs, so checksums are memoised by (path, size, mtime).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .inventory import sha1_of

#: Bump when the preparation code changes what it writes, so old entries are not reused.
CACHE_VERSION = 3  # 2: epochs with flat or non-finite signal dropped; 3: hypnogram start offset applied


def default_cache_dir() -> Path:
    """``$SLEEPBENCH_CACHE``, else ``~/.cache/sleepbench`` (the data folder may be read-only)."""
    env = os.environ.get("SLEEPBENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "sleepbench"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def file_lock(path: Path):
    """Hold an exclusive advisory lock on ``path`` (created if absent) for the ``with`` block.

    Released by the kernel when the holder dies, so a killed process never leaves a stale lock.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cached_sha1(path: Path, cache_dir: Path | None) -> str:
    """SHA-1 of ``path``, memoised under ``cache_dir/sha1`` by absolute path, size and mtime."""
    if cache_dir is None:
        return sha1_of(path)
    st = Path(path).stat()
    ident = f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}"
    memo = Path(cache_dir) / "sha1" / hashlib.sha1(ident.encode()).hexdigest()
    try:
        return memo.read_text().strip()
    except FileNotFoundError:
        digest = sha1_of(path)
        atomic_write_bytes(memo, digest.encode())
        return digest


def config_key(*parts) -> str:
    """Short stable hash of JSON-serialisable parts (sorted keys, so dict order never matters)."""
    blob = json.dumps([CACHE_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def save_arrays(path: Path, meta: dict, **arrays: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_arrays(path: Path, keys: tuple[str, ...] | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Metadata and arrays of a cache entry; ``keys`` reads only those arrays."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "meta" and (keys is None or k in keys)}
        meta = json.loads(z["meta"].tobytes().decode())
    return meta, arrays
