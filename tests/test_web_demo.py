"""`lstm-apps serve-demo` and the demo page (samples/web) in real headless Chromium: the
caption and the detections the page shows equal the Python runtime's. Chromium
(`apt-get install chromium`, done by `make install`) and node with samples/js's packages
are required: without them these tests fail, they do not skip.

Remake the README's screenshot with `make screenshot`."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_js import node

from lstm_apps.runtime.audio import load_audio
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.errors import DependencyError
from lstm_apps.runtime.image import load_image
from lstm_apps.runtime.speech import SpeechClassifier
from lstm_apps.serve import make_server

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's lstm_apps in the server


def serve_demo(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lstm_apps", "serve-demo", *args], cwd=ROOT, env=ENV,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = serve_demo("--port", "0")
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # "serving the demo at http://127.0.0.1:PORT/ ..."
        assert "serving the demo at http://127.0.0.1:" in line, line + server.stderr.read()
        yield line.split(" at ", 1)[1].split()[0]
    finally:
        server.terminate()
        server.wait(timeout=10)


def drive(url: str, *args: str) -> dict:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (make install)")
    out = subprocess.run(
        [node(), "samples/js/test/drive_demo.js", url, "--chromium", CHROMIUM, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def test_the_page_shows_what_the_python_runtime_gives(url: str, tmp_path: Path) -> None:
    images = [ROOT / "samples/images/scene1.png", ROOT / "samples/images/scene3.jpg"]
    wav = ROOT / "samples/speech/stream.wav"
    shot = tmp_path / "screenshot.png"
    args = [a for p in images for a in ("--image", str(p))]
    args += ["--wav", str(wav), "--decode", str(images[1]), "--screenshot", str(shot)]
    got = drive(url, *args)
    assert not [m for m in got["console"] if m.startswith(("error", "pageerror"))], got["console"]

    # captions: the page's default, beam 3; the JPEG decoded by Chromium
    want = Captioner.from_dir(ROOT / "export" / "caption").caption(images, beam_size=3)
    assert [c["text"] for c in got["captions"]] == [c.text for c in want]
    for c, w in zip(got["captions"], want, strict=True):
        assert f"log-probability {w.score:.4f}" in c["score"]
        assert w.confidence is not None and f"confidence {w.confidence:.2f}" in c["score"]

    # Chromium's JPEG decoder (libjpeg-turbo) gives PIL's pixels exactly (export/README.md)
    d = got["decoded"]
    rgb = np.frombuffer(base64.b64decode(d["rgb_base64"]), np.uint8)
    np.testing.assert_array_equal(rgb.reshape(d["height"], d["width"], 3), load_image(images[1]))

    # detections: the page streams 1600-sample chunks, as here
    clf = SpeechClassifier.from_dir(ROOT / "export" / "speech")
    found = list(clf.stream().feed(load_audio(wav, target_rate=16000), 1600))
    assert len(found) >= 3
    assert [(x["label"], x["time"]) for x in got["detections"]] == [
        (x.label, round(x.time, 2)) for x in found
    ]
    np.testing.assert_allclose([x["score"] for x in got["detections"]],
                               [x.score for x in found], atol=1e-4)  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_serve_demo_serves_wasm_as_application_wasm_and_nothing_outside(url: str) -> None:
    import urllib.error
    import urllib.request

    with urllib.request.urlopen(url + "ort/ort-wasm-simd-threaded.wasm") as r:
        assert r.headers["Content-Type"] == "application/wasm"
    with urllib.request.urlopen(url + "export/speech/config.json") as r:
        assert json.loads(r.read())["labels"][0] == "yes"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url + "js/../../../pyproject.toml")
    assert e.value.code == 404


def test_serve_demo_errors() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = serve_demo("--port", str(port))
        _, err = server.communicate(timeout=30)
    assert server.returncode == 2 and f"port {port} on 127.0.0.1 is in use" in err, err
    bad = serve_demo("--port", "70000")
    assert bad.wait(timeout=30) == 2
    helped = subprocess.run([sys.executable, "-m", "lstm_apps", "serve-demo", "--help"],
                            cwd=ROOT, env=ENV, capture_output=True, text=True)  # fmt: skip
    assert helped.returncode == 0 and "--port" in helped.stdout and "8000" in helped.stdout


def test_serve_demo_without_onnxruntime_web(tmp_path: Path) -> None:
    for part in ("samples/web", "samples/js/src"):
        shutil.copytree(ROOT / part, tmp_path / part)
    with pytest.raises(DependencyError, match="npm ci --ignore-scripts"):
        make_server(0, root=tmp_path)
