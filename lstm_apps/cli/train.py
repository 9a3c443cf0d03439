"""`lstm-apps train speech|caption --data DIR --out RUN`: options -> a train config -> train."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from lstm_apps.cli.common import add_device_options
from lstm_apps.runtime.errors import ConfigError

if TYPE_CHECKING:  # torch: imported by the handlers only
    from lstm_apps.train.caption import CaptionTrainConfig
    from lstm_apps.train.engine import Setup
    from lstm_apps.train.speech import SpeechTrainConfig

BATCH_HELP = "{what} per step, over all processes (torchrun: each takes batch / N)"


def add_setup_options(p: argparse.ArgumentParser, workers: int) -> None:
    """--device, --precision, --workers: how a run computes, not what it learns."""
    add_device_options(
        p, "where to compute; auto: cuda if present, else mps, else cpu (default: auto)",
        "autocast precision; fp16 adds a gradient scaler and needs a GPU (default: fp32)",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, default=workers,
        help=f"DataLoader worker processes that read and prepare data (default: {workers})",
    )  # fmt: skip


def add_parser(sub: Any) -> None:
    train = sub.add_parser("train", help="train a model (needs the train extra)")
    tsub = train.add_subparsers(dest="what", required=True, metavar="KIND")
    s = tsub.add_parser("speech", help="the speech-command classifier")
    s.add_argument("--data", required=True, help="a Speech Commands folder (real or generated)")
    s.add_argument("--out", required=True, help="run folder; rerun to resume")
    s.add_argument("--epochs", type=int, default=35, help="passes over the training split")
    s.add_argument(
        "--commands", default=None,
        help="comma-separated word folders to recognise (default: yes,no,up,down,left,right,"
        "on,off,stop,go); every other word folder is _unknown_, and _silence_ is added",
    )  # fmt: skip
    s.add_argument(
        "--val-data", default=None,
        help="a second validation folder from another generator (e.g. `lstm-apps data flite`); "
        "never trained on, reported beside the own validation and used to pick the best epoch",
    )  # fmt: skip
    s.add_argument("--batch-size", type=int, default=64, help=BATCH_HELP.format(what="clips"))
    s.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    s.add_argument("--hidden", type=int, default=128, help="LSTM width")
    s.add_argument("--layers", type=int, default=2, help="LSTM layers")
    s.add_argument("--cell", choices=["lstm", "gru"], default="lstm", help="recurrent cell")
    s.add_argument("--dropout", type=float, default=0.1, help="between layers and before the head")
    s.add_argument(
        "--frontend-norm", choices=["none", "pcen"], default="none",
        help="none: log-mel with fixed dataset statistics; pcen: per-channel energy "
        "normalisation (a streamable per-band gain control) instead of the log (default: none)",
    )  # fmt: skip
    s.add_argument("--threads", type=int, default=2, help="torch threads")
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.add_argument("--no-augment", action="store_true", help="train on clean clips only")
    s.add_argument("--no-resume", action="store_true", help="ignore an existing last/")
    add_setup_options(s, workers=0)
    s.set_defaults(func=_speech)

    s = tsub.add_parser("caption", help="the attention captioner")
    s.add_argument("--data", required=True, help="folder with dataset_<name>.json + images")
    s.add_argument("--out", required=True, help="run folder; rerun to resume")
    s.add_argument(
        "--epochs", type=int, default=15, help="passes over the training split (shipped: 15 on 20k)"
    )
    s.add_argument("--batch-size", type=int, default=64, help=BATCH_HELP.format(what="images"))
    s.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    s.add_argument("--backbone", default="mobilenet_v3_small",
                   help="torchvision backbone: resnet18/34/50, mobilenet_v3_small/large, "
                   "efficientnet_b0")  # fmt: skip
    s.add_argument("--cut", default=None,
                   help="last backbone stage kept: layer1..layer4 for resnets, features.N "
                   "otherwise (default: stride 8 for resnets, 16 for the others)")  # fmt: skip
    s.add_argument("--grid", type=int, default=None,
                   help="attention grid side, a divisor of the feature map's "
                   "(default: the map's)")  # fmt: skip
    s.add_argument(
        "--weights", default=None, metavar="FILE",
        help="start the backbone from a local torchvision weights file: the full classification "
        "model's state_dict() as .pth or .safetensors (e.g. resnet50-11ad3fa6.pth); never "
        "downloaded, and not needed again once trained",
    )  # fmt: skip
    s.add_argument("--train-backbone", choices=["frozen", "finetune"], default=None,
                   help="with --weights: keep the backbone frozen (and its BatchNorm statistics) "
                   "or fine-tune it at --lr (default: finetune)")  # fmt: skip
    s.add_argument("--image-size", type=int, default=128, help="side the encoder resizes to")
    s.add_argument("--hidden", type=int, default=256, help="LSTM width")
    s.add_argument("--cell", choices=["lstm", "gru"], default="lstm", help="recurrent cell")
    s.add_argument("--dropout", type=float, default=0.2, help="before the output layer")
    s.add_argument("--refs", choices=["all", "first"], default="first",
                   help="train on the first reference per image, or a random one")  # fmt: skip
    s.add_argument(
        "--hflip", type=float, default=0.5,
        help="chance of a mirror left-right (the caption swaps left/right)",
    )  # fmt: skip
    s.add_argument(
        "--vflip", type=float, default=0.5,
        help="chance of a mirror top-bottom (swaps above/below); 0 for photos",
    )  # fmt: skip
    s.add_argument("--threads", type=int, default=2, help="torch threads")
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.add_argument("--no-resume", action="store_true", help="ignore an existing last/")
    s.add_argument(
        "--cache", default="auto", metavar="auto|always|never|DIR",
        help="keep the images resized to --image-size in OUT/cache (or DIR) for fast epochs; "
        "auto: when they fit in 8 GB (default: auto)",
    )  # fmt: skip
    add_setup_options(s, workers=0)
    s.set_defaults(func=_caption)


def speech_config(args: argparse.Namespace) -> SpeechTrainConfig:
    """The SpeechTrainConfig that `train speech` options ask for (ConfigError if bad)."""
    from lstm_apps.data.speech_commands import WORDS, parse_commands, speech_labels
    from lstm_apps.nn.frontend import FrontendConfig
    from lstm_apps.nn.speech import SpeechConfig
    from lstm_apps.train.speech import SpeechTrainConfig
    from lstm_apps.train.speech_augment import AugmentConfig

    commands = WORDS if args.commands is None else parse_commands(args.commands)
    model = SpeechConfig(
        labels=speech_labels(commands), hidden_size=args.hidden, num_layers=args.layers,
        cell=args.cell, dropout=args.dropout, frontend=FrontendConfig(norm=args.frontend_norm),
    )  # fmt: skip
    return SpeechTrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        threads=args.threads, model=model,
        augment=AugmentConfig.off() if args.no_augment else AugmentConfig(),
    )  # fmt: skip


def caption_config(args: argparse.Namespace) -> CaptionTrainConfig:
    """The CaptionTrainConfig that `train caption` options ask for (ConfigError if bad)."""
    from lstm_apps.nn.caption import CaptionConfig
    from lstm_apps.train.caption import CaptionTrainConfig

    if args.train_backbone is not None and args.weights is None:
        raise ConfigError(f"--train-backbone {args.train_backbone} needs --weights FILE")
    model = CaptionConfig(
        vocab_size=4, backbone=args.backbone, cut=args.cut, grid=args.grid,
        image_size=args.image_size, hidden_size=args.hidden, cell=args.cell, dropout=args.dropout,
        weights_path=args.weights,
        train_backbone=(args.train_backbone or "finetune") if args.weights else "scratch",
    )  # fmt: skip
    return CaptionTrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        refs=args.refs, threads=args.threads, model=model, hflip=args.hflip, vflip=args.vflip,
    )  # fmt: skip


def setup(args: argparse.Namespace) -> Setup:
    from lstm_apps.train.engine import Setup

    return Setup(device=args.device, precision=args.precision, workers=args.workers)


def _speech(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.train.speech import train_speech

    cfg = speech_config(args)
    train_speech(
        args.data, args.out, cfg, resume=not args.no_resume, val_data=args.val_data,
        command=command, setup=setup(args),
    )  # fmt: skip
    return 0


def _caption(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.train.caption import train_caption

    cfg = caption_config(args)
    train_caption(
        args.data, args.out, cfg, resume=not args.no_resume, command=command,
        setup=setup(args), cache=args.cache,
    )  # fmt: skip
    return 0
