"""Why a caption bundle calls small objects large: size against background colour.

    python benchmarks/caption_errors.py BUNDLE DATA SEED [N]
    # e.g. the previous bundle on the holdout scenes of the release:
    # python benchmarks/caption_errors.py old/caption runs/release/data/caption-holdout 1 1000

Every scene of `lstm-apps data shapes` is drawn from `default_rng([seed, index])` alone, so
the exact objects (size in pixels included) can be re-drawn from the seed the data was made
with. For the first N test images this prints the mean size of the small objects the bundle
called large against that of all small objects, and the median background spread (see
`lstm_apps.eval.caption.background_spread`) of the images behind each kind of error.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from lstm_apps.data.shapes import content_correct_from_reference, parse_caption
from lstm_apps.data.shapes_scene import sample_scene
from lstm_apps.eval.caption import _pairs, background_spread
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.image import load_image


def main(bundle: str, data: str, seed: int, n: int) -> None:
    folder = Path(data)
    items = json.loads((folder / "dataset_shapes.json").read_text())["images"]
    items = [it for it in items if it["split"] == "test"][:n]
    cap = Captioner.from_dir(bundle, intra_op_threads=1)
    images = [load_image(folder / it["filepath"] / it["filename"]) for it in items]
    caps = [c for k in range(0, len(images), 50) for c in cap.caption(images[k : k + 50])]
    small, called_large = [], []
    spread: dict[str, list[float]] = defaultdict(list)
    for it, image, c in zip(items, images, caps, strict=True):
        scene = sample_scene(np.random.default_rng([seed, it["imgid"]]))
        small += [o.size_px for o in scene.objects if o.size == "small"]
        ref = it["sentences"][0]["tokens"]
        truth, hyp = parse_caption(ref), parse_caption(c.tokens)
        s = background_spread(image)
        spread["all images"].append(s)
        if hyp is None or truth is None or content_correct_from_reference(c.tokens, ref):
            continue
        if len(truth.objects) != len(hyp.objects):
            spread["object count"].append(s)
            continue
        for a, b in _pairs(truth, hyp)[0]:
            if a.size == "small" and b.size == "large":
                obj = next(o for o in scene.objects
                           if (o.shape, o.color, o.size) == (a.shape, a.color, a.size))  # fmt: skip
                called_large.append(obj.size_px)
                spread["small -> large"].append(s)
            if a.shape != b.shape:
                spread[f"shape -> {b.shape}"].append(s)
    print(f"{bundle} on {len(items)} test images of {data}:")
    if called_large:
        print(f"  small objects: mean {np.mean(small):.1f} px; the {len(called_large)} called "
              f"large: mean {np.mean(called_large):.1f} px")  # fmt: skip
    for kind, values in spread.items():
        print(f"  {kind:16s} n={len(values):5d}  median background spread {np.median(values):.0f}")


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    main(
        sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) == 5 else 1000
    )
