"""Caption confidence: how far to trust a caption, from the bundle's confidence.json.

    conf = CaptionCalibration.from_json(json.load(open("export/caption/confidence.json")))
    p = conf.confidence(hyp.token_logprobs, hyp.finished, features)   # features (K, D)

Three numbers describe a caption, each computable in any runtime from what encoder.onnx
and decoder.onnx return:
- `logprob`: the summed log-probability of its tokens, `<end>` included;
- `min_token_logprob`: the log-probability of its least certain token;
- `log_distance`: how unlike the training images the picture is. The encoder's `features`
  (K cells x D) are averaged over the cells into a D-vector f; with the training images'
  mean mu and whitening matrix W (W^T W is the inverse of their covariance, shrunk),
  log_distance = log(mean((W (f - mu))^2)).

confidence = sigmoid(sum(weights * (x - center) / scale) + bias), x the three numbers
above in that order; 0 for a caption that ran out of tokens before `<end>`. The logistic
fit (`lstm-apps calibrate caption`) targets "the caption's content is right and the image
is from the domain", on the validation split plus as many generated out-of-domain images.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.errors import ModelFileError

__all__ = ["CONFIDENCE_FEATURES", "CONFIDENCE_JSON", "CaptionCalibration", "caption_features"]

CONFIDENCE_JSON = "confidence.json"
CONFIDENCE_FEATURES = ("logprob", "min_token_logprob", "log_distance")
FORMAT = "lstm-apps caption confidence 1"


def caption_features(token_logprobs: npt.ArrayLike, log_distance: float) -> npt.NDArray[np.float64]:
    """The three features of one caption (CONFIDENCE_FEATURES order)."""
    lps = np.asarray(token_logprobs, dtype=np.float64)
    if lps.ndim != 1 or lps.size == 0:
        raise ValueError(f"token_logprobs must be a non-empty 1-d array, got shape {lps.shape}")
    return np.array([lps.sum(), lps.min(), log_distance], dtype=np.float64)


@dataclass(frozen=True)
class CaptionCalibration:
    """confidence.json, checked once at load."""

    mean: npt.NDArray[np.float64]  # (D,) mean pooled encoder feature of the training images
    whiten: npt.NDArray[np.float64]  # (D, D)
    center: npt.NDArray[np.float64]  # (3,) feature centring
    scale: npt.NDArray[np.float64]  # (3,) feature scaling
    weights: npt.NDArray[np.float64]  # (3,)
    bias: float
    info: Mapping[str, Any]  # how it was made and what it scored (not used to compute)

    @classmethod
    def from_json(cls, obj: Any, where: str = CONFIDENCE_JSON) -> CaptionCalibration:
        """Check a parsed confidence.json; anything off is a ModelFileError naming the key."""

        def arr(key: str, shape: tuple[int, ...]) -> npt.NDArray[np.float64]:
            value = obj.get(key)
            if isinstance(value, bool) or not isinstance(value, (list, int, float)):
                raise ModelFileError(f"{where}: {key!r} missing or not numbers")
            try:
                a = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError) as e:
                raise ModelFileError(f"{where}: {key!r} is not numbers ({e})") from e
            if a.shape != shape or not np.isfinite(a).all():
                raise ModelFileError(
                    f"{where}: {key!r} must be finite, shape {shape}, got {a.shape}"
                )
            return a

        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ModelFileError(f"{where}: not a caption confidence file (format {FORMAT!r})")
        features = obj.get("features")
        if not isinstance(features, list) or tuple(features) != CONFIDENCE_FEATURES:
            raise ModelFileError(f"{where}: features must be {list(CONFIDENCE_FEATURES)}")
        mean_list = obj.get("mean")
        if not isinstance(mean_list, list) or not mean_list:
            raise ModelFileError(f"{where}: 'mean' must be a non-empty list of numbers")
        mean = arr("mean", (len(mean_list),))
        info = obj.get("info", {})
        if not isinstance(info, dict):
            raise ModelFileError(f"{where}: 'info' must be an object")
        n = len(CONFIDENCE_FEATURES)
        scale = arr("scale", (n,))
        if (scale <= 0).any():
            raise ModelFileError(f"{where}: 'scale' must be positive")
        return cls(
            mean=mean, whiten=arr("whiten", (mean.size, mean.size)), center=arr("center", (n,)),
            scale=scale, weights=arr("weights", (n,)), bias=float(arr("bias", ())), info=info,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "features": list(CONFIDENCE_FEATURES),
            "mean": [float(v) for v in self.mean],
            "whiten": [[float(v) for v in row] for row in self.whiten],
            "center": [float(v) for v in self.center],
            "scale": [float(v) for v in self.scale],
            "weights": [float(v) for v in self.weights],
            "bias": float(self.bias),
            "info": dict(self.info),
        }

    @property
    def dim(self) -> int:
        return int(self.mean.size)

    def log_distance(self, features: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """encoder `features` (K, D) or (N, K, D) -> log whitened distance, () or (N,)."""
        f = np.asarray(features, dtype=np.float64)
        if f.ndim not in (2, 3) or f.shape[-1] != self.dim:
            raise ValueError(
                f"features must be (K, {self.dim}) or (N, K, {self.dim}), got {f.shape}"
            )
        z = (f.mean(axis=-2) - self.mean) @ self.whiten.T
        return np.asarray(np.log(np.mean(z * z, axis=-1) + 1e-12))

    def score(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Features (..., 3) -> confidence in [0, 1]."""
        u = (np.asarray(x, dtype=np.float64) - self.center) / self.scale @ self.weights + self.bias
        return np.asarray(0.5 * (1.0 + np.tanh(0.5 * u)))  # the logistic, without overflow

    def confidence(
        self, token_logprobs: npt.ArrayLike, finished: bool, features: npt.ArrayLike
    ) -> float:
        """One caption's confidence: its token log-probabilities (with `<end>`), whether it
        finished, and its image's encoder features (K, D)."""
        if not finished:
            return 0.0
        x = caption_features(token_logprobs, float(self.log_distance(features)))
        value = float(self.score(x))
        return value if math.isfinite(value) else 0.0
