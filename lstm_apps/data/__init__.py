"""Data set generators and loaders. Each generator also writes `generator.json`: which
function made the folder and with what settings, so a model card can say it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GENERATOR_JSON = "generator.json"


def read_generator(data_dir: str | Path) -> dict[str, Any] | None:
    """The folder's generator.json, or None for data made elsewhere (real sets)."""
    path = Path(data_dir) / GENERATOR_JSON
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None
