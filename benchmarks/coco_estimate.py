"""The arithmetic behind the README's COCO estimate: training FLOPs per image, counted.

    python benchmarks/coco_estimate.py                      # resnet50 / layer3 / 224 px
    python benchmarks/coco_estimate.py --backbone resnet50 --cut layer4 --image-size 224

Counts, with torch.utils.flop_counter.FlopCounterMode on this CPU, the FLOPs of one
training step (forward, loss, backward) of the caption model as `train caption` builds
it, frozen and fine-tuned, per image; and times decoding + resizing a 640x480 JPEG, the
per-image work a data loader worker does; and counts the torch ops per decoder step
(each about one kernel launch on a GPU). It measures no GPU: hours on one are the
counted FLOPs divided by a throughput the README states as an assumption.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch
from PIL import Image
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from lstm_apps.nn.caption import CaptionConfig, CaptionModel
from lstm_apps.runtime.image import load_image
from lstm_apps.train.caption import caption_loss


def train_flops(cfg: CaptionConfig, steps: int, batch: int = 2) -> dict[str, float]:
    """FLOPs per image of one forward + backward, split into the encoder and the rest."""
    model = CaptionModel(cfg).train()
    images = torch.randint(0, 256, (batch, cfg.image_size, cfg.image_size, 3), dtype=torch.uint8)
    captions = torch.randint(4, cfg.vocab_size, (batch, steps + 1))
    with FlopCounterMode(display=False) as enc_count:
        model.encoder(images)
    with FlopCounterMode(display=False) as all_count:
        logits, alphas = model(images, captions)
        loss, _ = caption_loss(logits, alphas, captions, 0, 0.02)
        loss.backward()
    total = all_count.get_total_flops() / batch
    encoder_forward = enc_count.get_total_flops() / batch
    return {"total": total, "encoder_forward": encoder_forward}


class _CountOps(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.n += 1
        return func(*args, **(kwargs or {}))


def ops_per_step() -> float:
    """torch ops dispatched per decoder step (forward + backward): on a GPU each is about
    one kernel launch, and the steps run one after another whatever the batch size."""
    cfg = CaptionConfig(vocab_size=500, cut="layer1", image_size=32, train_backbone="frozen")
    model = CaptionModel(cfg).train()
    images = torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8)
    counts = []
    for steps in (10, 20):
        captions = torch.randint(4, 500, (2, steps + 1))
        with _CountOps() as count:
            logits, alphas = model(images, captions)
            caption_loss(logits, alphas, captions, 0, 0.02)[0].backward()
        counts.append(count.n)
    return (counts[1] - counts[0]) / 10


def jpeg_seconds(n: int = 50) -> float:
    """Seconds per image to decode a 640x480 photo-like JPEG and resize it to 224 x 224."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:480, 0:640]
    smooth = np.stack([np.sin(x / 37.0 + c) * np.cos(y / 23.0 - c) for c in range(3)], -1)
    pixels = (127 + 90 * smooth + rng.normal(0, 12, smooth.shape)).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    start = time.perf_counter()
    for _ in range(n):
        arr = load_image(Image.open(io.BytesIO(data)))  # the runtime's conversion, as training
        Image.fromarray(arr).resize((224, 224), Image.Resampling.BILINEAR)
    return (time.perf_counter() - start) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--cut", default="layer3")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--vocab", type=int, default=25000, help="assumed vocabulary size")
    p.add_argument("--steps", type=int, default=20, help="decoder steps (padded caption length)")
    args = p.parse_args()
    torch.set_num_threads(2)
    print(f"{args.backbone} cut {args.cut}, {args.image_size} px, hidden {args.hidden}, "
          f"vocab {args.vocab}, {args.steps} decoder steps; GFLOPs per image:")  # fmt: skip
    for mode in ("frozen", "finetune"):
        cfg = CaptionConfig(
            vocab_size=args.vocab, backbone=args.backbone, cut=args.cut,
            image_size=args.image_size, hidden_size=args.hidden, train_backbone=mode,
        )  # fmt: skip
        f = train_flops(cfg, args.steps)
        enc, total = f["encoder_forward"] / 1e9, f["total"] / 1e9
        print(f"  {mode:8s} grid {cfg.grid}x{cfg.grid}: encoder forward {enc:.2f}, "
              f"whole training step {total:.2f}")  # fmt: skip
    print(f"torch ops dispatched per decoder step, forward + backward: {ops_per_step():.0f}")
    print(f"JPEG 640x480 decode + resize to 224: {jpeg_seconds() * 1e3:.1f} ms per image, 1 core")


if __name__ == "__main__":
    main()
