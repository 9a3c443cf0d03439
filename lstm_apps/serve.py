"""`lstm-apps serve-demo`: the in-browser demo (samples/web) on a local static file server.

    lstm-apps serve-demo [--port 8000]      then open the printed URL

Everything runs in the browser with onnxruntime-web; this server only hands out files
(Python's http.server, bound to 127.0.0.1). The URL tree it serves from a source checkout:

    /            samples/web/        the page
    /js/         samples/js/src/     the JavaScript port (plain ES modules, no build step)
    /ort/        samples/js/node_modules/onnxruntime-web/dist/  (.wasm as application/wasm)
    /export/     export/             the bundles
    /samples/    samples/            sample images and WAVs

Stdlib only (no torch, no onnxruntime): it is part of the inference side.
"""

from __future__ import annotations

import errno
import http.server
import os
import posixpath
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lstm_apps.runtime.errors import ConfigError, DependencyError, ModelFileError

ROOT = Path(__file__).resolve().parent.parent
ORT_DIST = Path("samples/js/node_modules/onnxruntime-web/dist")
MIME = {
    ".wasm": "application/wasm",  # WebAssembly.instantiateStreaming insists on it
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".json": "application/json",
    ".onnx": "application/octet-stream",
    ".wav": "audio/wav",
}


def demo_routes(root: Path = ROOT) -> dict[str, Path]:
    """URL prefix -> folder, checked: a clear error for a missing piece, not a 404 later."""
    routes = {
        "/js/": root / "samples/js/src",
        "/ort/": root / ORT_DIST,
        "/export/": root / "export",
        "/samples/": root / "samples",
        "/": root / "samples/web",
    }
    if not (routes["/"] / "index.html").is_file() or not routes["/js/"].is_dir():
        raise ModelFileError(
            f"{root}: no samples/web/index.html or samples/js/src; serve-demo runs from a "
            "source checkout of lstm-apps"
        )
    if not (routes["/ort/"] / "ort.wasm.min.mjs").is_file():
        raise DependencyError(
            f"onnxruntime-web is not installed ({routes['/ort/']} has no ort.wasm.min.mjs): "
            "run `npm ci --ignore-scripts` in samples/js (or `make install`)"
        )
    return routes


def _handler(routes: dict[str, Path], log: Callable[[str], None] | None) -> type[Any]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def guess_type(self, path: str | os.PathLike[str]) -> str:
            return MIME.get(Path(path).suffix) or super().guess_type(path)

        def translate_path(self, path: str) -> str:
            path = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
            clean = posixpath.normpath(path)  # drops "..": nothing outside the routes
            if path.endswith("/") and not clean.endswith("/"):
                clean += "/"
            for prefix, folder in routes.items():
                if clean.startswith(prefix) or clean + "/" == prefix:
                    rest = clean[len(prefix) :].lstrip("/")
                    return str(folder / rest)
            return str(routes["/"] / "missing")

        def end_headers(self) -> None:
            self.send_header("Cache-Control", "no-store")  # a re-exported bundle shows at once
            super().end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            if log is not None:
                log(f"{self.address_string()} {format % args}")

    return Handler


def make_server(
    port: int = 8000, *, host: str = "127.0.0.1", root: Path = ROOT,
    log: Callable[[str], None] | None = None,
) -> http.server.ThreadingHTTPServer:  # fmt: skip
    """The demo's server, bound but not yet serving (call serve_forever()). port 0 picks a
    free one: read it from server.server_address."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"--port must be an integer from 0 to 65535, got {port!r}")
    handler = _handler(demo_routes(root), log)
    try:
        return http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is in use (another server?): pick another with --port"
            ) from e
        raise


def demo_url(server: http.server.ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}/"
