"""What the fuzz suites (test_fuzz_speech.py, test_fuzz_caption.py) share: the settings,
the bounded call that lets only LstmAppsError through, the bundle damage, and a tally.

    LSTM_APPS_FUZZ_EXAMPLES=10000 LSTM_APPS_FUZZ_TALLY=out/fuzz.json \
        python -m pytest tests/test_fuzz_*.py

writes, per entry point, how many calls returned and how many raised each typed error.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings

from lstm_apps.runtime import LstmAppsError

EXAMPLES = int(os.environ.get("LSTM_APPS_FUZZ_EXAMPLES", "60"))
CALL_SECONDS = 20.0  # a bound on hangs, far above the milliseconds a call takes
FUZZ = settings(
    max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)  # fmt: skip
DAMAGES = ["truncate", "flip", "empty", "delete", "swap", "junk"]
TALLY: Counter[tuple[str, str]] = Counter()


def bounded(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, LstmAppsError | None]:
    """Call fn: its result, or the LstmAppsError it raised. Any other exception propagates
    (the test fails and hypothesis prints the input); so does a call over CALL_SECONDS."""
    start = time.perf_counter()
    name = getattr(fn, "__qualname__", repr(fn))
    try:
        out, err = fn(*args, **kwargs), None
        TALLY[(name, "returned")] += 1
    except LstmAppsError as e:
        out, err = None, e
        TALLY[(name, type(e).__name__)] += 1
    took = time.perf_counter() - start
    assert took < CALL_SECONDS, f"{name} took {took:.1f} s"
    return out, err


def damage_copy(
    shipped: Path, dest: Path, name: str, files: list[str], damage: str, where: float, seed: int
) -> tuple[Path, bool, bytes]:
    """Copy a bundle and damage one file: (the file, whether its bytes changed, the original)."""
    shutil.copytree(shipped, dest)
    f = dest / name
    original = f.read_bytes()
    data = bytearray(original)
    if damage == "truncate":
        f.write_bytes(data[: int(where * len(data))])
    elif damage == "flip":
        data[min(len(data) - 1, int(where * len(data)))] ^= 1 << (seed % 8)
        f.write_bytes(bytes(data))
    elif damage == "empty":
        f.write_bytes(b"")
    elif damage == "delete":
        f.unlink()
    elif damage == "swap":
        shutil.copy(shipped / files[(files.index(name) + 1 + seed % 4) % len(files)], f)
    else:
        f.write_bytes(np.random.default_rng(seed).bytes(200))
    return f, not f.exists() or f.read_bytes() != original, original


def load_damaged(
    load: Any, use: Any, bundle: Path, f: Path, changed: bool, original: bytes
) -> None:
    """Load a damaged bundle with and without verify: it fails with an error naming the
    bundle, or it loads and `use(model)` works. With verify, only a change that leaves
    config.json saying the same thing (bytes differ, the JSON does not) may load."""
    try:
        for verify in (True, False):
            model, err = bounded(load, bundle, verify=verify)
            if err is not None:
                assert str(bundle) in str(err)
                continue
            use(model)
            if verify and changed:
                assert f.name == "config.json"
                assert json.loads(f.read_bytes()) == json.loads(original)
    finally:  # 5 MB a case: 10,000 cases would fill a disk (they did: 62 GB in /tmp)
        shutil.rmtree(bundle, ignore_errors=True)


def write_tally() -> None:
    path = os.environ.get("LSTM_APPS_FUZZ_TALLY")
    if not path:
        return
    old = json.loads(Path(path).read_text()) if Path(path).is_file() else {}
    for (fn, outcome), n in TALLY.items():
        old.setdefault(fn, {})
        old[fn][outcome] = old[fn].get(outcome, 0) + n
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")
    TALLY.clear()
