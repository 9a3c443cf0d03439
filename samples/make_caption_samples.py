"""Write the sample images in samples/images/ (shapes scenes the shipped model never saw).

    python samples/make_caption_samples.py

The scenes come from the shapes generator with a seed the training set did not use; some
are saved as JPEG, RGBA or a larger size, to show that the Captioner takes them all.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from lstm_apps.data.shapes import canonical_caption, render_scene, sample_scene

HERE = Path(__file__).resolve().parent


def main() -> None:
    out = HERE / "images"
    out.mkdir(exist_ok=True)
    rng = np.random.default_rng(2026)
    truth = {}
    for i, save in enumerate(("png", "png", "jpg", "rgba", "big", "png")):
        scene = sample_scene(rng, n_objects=1 if i == 5 else 2)
        img = render_scene(scene, rng)
        name = f"scene{i + 1}." + ("jpg" if save == "jpg" else "png")
        if save == "jpg":
            img.save(out / name, quality=70)
        elif save == "rgba":
            img.convert("RGBA").save(out / name)
        elif save == "big":
            img.resize((320, 320), Image.Resampling.BICUBIC).save(out / name)
        else:
            img.save(out / name)
        truth[name] = canonical_caption(scene)
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    print(f"wrote {len(truth)} images -> {out}")


if __name__ == "__main__":
    main()
