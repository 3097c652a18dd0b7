"""A loopback HTTP mirror of a PhysioNet folder, for the fetch tests (PhysioNet is out of reach)."""

from __future__ import annotations

import functools
import http.server
import threading
from contextlib import contextmanager
from pathlib import Path


class MirrorHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and records every requested path in ``requests``."""

    requests: list[str] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        type(self).requests.append(self.path)
        super().do_GET()


@contextmanager
def loopback_mirror(root: Path, folder: str):
    """Serve ``root`` on 127.0.0.1; yields (``root / folder``, its URL). Requests start empty."""
    (root / folder).mkdir(parents=True, exist_ok=True)
    MirrorHandler.requests = []
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(MirrorHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield root / folder, f"http://127.0.0.1:{server.server_address[1]}/{folder}/"
    finally:
        server.shutdown()
