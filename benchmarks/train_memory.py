"""Peak RSS of `lstm-apps train caption --epochs 1` as a Karpathy set grows.

    lstm-apps data shapes data/shapes --count 20000
    python benchmarks/train_memory.py data/shapes 2500 20000 [--src OTHER_CHECKOUT]

Each size N takes the first 80% / 10% / 10% of N images of each split of the set (a
subset Karpathy file beside symlinked images, in out/train-memory/), trains one epoch in
a child process and prints the child's peak RSS. --src runs the trainer of another
checkout (for example the in-memory loader before it streamed) for comparison.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

WORK = Path("out/train-memory")


def subset(src: Path, n: int) -> Path:
    out = WORK / f"set-{n}"
    if not out.exists():
        spec = json.loads(next(src.glob("dataset_*.json")).read_text())
        out.mkdir(parents=True)
        for child in src.iterdir():
            if child.is_dir():
                (out / child.name).symlink_to(child.resolve())
        keep = {"train": int(n * 0.8), "restval": 0, "val": int(n * 0.1), "test": int(n * 0.1)}
        images = []
        for img in spec["images"]:
            if keep.get(img["split"], 0) > 0:
                keep[img["split"]] -= 1
                images.append(img)
        (out / "dataset_subset.json").write_text(json.dumps({**spec, "images": images}))
    return out


def peak_rss_mb(argv: list[str], cwd: Path) -> float:
    code = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code, *argv], cwd=cwd, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("data", type=Path, help="a Karpathy-format set (lstm-apps data shapes)")
    p.add_argument("sizes", type=int, nargs="+", help="numbers of images")
    p.add_argument("--src", type=Path, default=None, help="also run this checkout's trainer")
    args = p.parse_args()
    sides = [("this", Path.cwd())] + ([("src", args.src.resolve())] if args.src else [])
    for n in args.sizes:
        data = subset(args.data, n).resolve()
        for name, cwd in sides:
            run = (WORK / f"run-{name}-{n}").resolve()
            argv = [sys.executable, "-m", "lstm_apps", "train", "caption", "--data", str(data),
                    "--out", str(run), "--epochs", "1", "--no-resume"]  # fmt: skip
            t = time.time()
            mb = peak_rss_mb(argv, cwd)
            print(f"{name:4s} {n:6d} images: peak RSS {mb:6.0f} MB ({time.time() - t:.0f} s)")


if __name__ == "__main__":
    main()
