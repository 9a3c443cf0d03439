"""The image captioner: CNN encoder + Show, Attend and Tell attention decoder on LSTMDecoder.

    images uint8 (B, H, W, 3) --CaptionEncoder--> features (B, K, D), h0, c0 (L, B, H)
    keys = W_f features + b_f                                        once per image (B, K, A)
    one step, given the previous token y and state (h, c):
      alpha   = softmax_K(w . tanh(keys + W_h h_top))                additive attention (B, K)
      context = sigmoid(f_beta(h_top)) * sum_K alpha * features      gated context (B, D)
      h, c    = LSTMDecoder.step([embed(y); context], (h, c))        shared core, step mode
      logprobs = log_softmax(W_o dropout([h_t; context; embed(y)]))  (B, V)

The output layer reads [h_t; context; embedding] (the paper's "deep output", linearised):
the attended evidence reaches the word choice directly rather than only through the LSTM.
The keys do not depend on the step, so `encode` computes them once (encoder.onnx emits
them); `CaptionModel.step` is exactly the contract of decoder.onnx (token int64 [B], h, c,
features, keys -> logprobs [B, V], h, c, alpha [B, K]). Search (greedy, beam) lives in
`lstm_apps.runtime.search` and drives either this model (`TorchStep`, whose state stays
in torch on the model's device) or the ONNX decoder. The config: `caption_config.py`.

    model = CaptionModel(CaptionConfig(vocab_size=len(vocab)))
    logits, alphas = model(images_uint8, captions)  # teacher forcing, (B, T-1, V), (B, T-1, K)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstm_apps.nn.caption_config import IMAGENET_MEAN, IMAGENET_STD, CaptionConfig
from lstm_apps.nn.caption_encoder import CaptionEncoder
from lstm_apps.nn.decoder import LSTMDecoder
from lstm_apps.runtime.search import Hypothesis, SearchOptions, search
from lstm_apps.runtime.vocab import Vocab

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CaptionConfig",
    "CaptionDecoder",
    "CaptionModel",
    "TorchState",
    "TorchStep",
    "generate",
]


class CaptionDecoder(nn.Module):
    """Soft attention over K cells + LSTMDecoder in step mode + output layer."""

    def __init__(self, config: CaptionConfig) -> None:
        super().__init__()
        self.config = config
        d, a, h, e = config.feature_dim, config.attention_dim, config.hidden_size, config.embed_dim
        self.embed = nn.Embedding(config.vocab_size, e, padding_idx=Vocab.PAD_ID)
        self.att_feat = nn.Linear(d, a)
        self.att_hidden = nn.Linear(h, a)
        self.att_score = nn.Linear(a, 1)
        self.f_beta = nn.Linear(h, d)
        self.rnn = LSTMDecoder(config.decoder)
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(h + d + e, config.vocab_size)

    def keys(self, features: Tensor) -> Tensor:
        """features (B, K, D) -> attention keys (B, K, A): the same at every step."""
        return self.att_feat(features)

    def attend(self, features: Tensor, keys: Tensor, h_top: Tensor) -> tuple[Tensor, Tensor]:
        """features (B, K, D), keys (B, K, A), h_top (B, H) -> context (B, D), alpha (B, K)."""
        energy = torch.tanh(keys + self.att_hidden(h_top).unsqueeze(1))
        alpha = F.softmax(self.att_score(energy).squeeze(2), dim=1)  # (B, K)
        context = torch.bmm(alpha.unsqueeze(1), features).squeeze(1)  # (B, D)
        return torch.sigmoid(self.f_beta(h_top)) * context, alpha

    def step_logits(
        self, tokens: Tensor, h: Tensor, c: Tensor, features: Tensor, keys: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """As `step`, returning unnormalised logits (B, V) (what the training loss wants)."""
        emb = self.embed(tokens)  # (B, E)
        context, alpha = self.attend(features, keys, h[-1])
        out, (h, c) = self.rnn.step(torch.cat([emb, context], dim=1), (h, c))  # (B, H)
        logits = self.out(self.dropout(torch.cat([out, context, emb], dim=1)))
        return logits, h, c, alpha

    def step(
        self, tokens: Tensor, h: Tensor, c: Tensor, features: Tensor, keys: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One word.

        tokens int64 (B,), h, c (num_layers, B, hidden), features (B, K, D), keys (B, K, A)
        -> logprobs (B, V), h, c, alpha (B, K) (the attention that produced this word).
        """
        logits, h, c, alpha = self.step_logits(tokens, h, c, features, keys)
        return F.log_softmax(logits, dim=-1), h, c, alpha

    def forward_teacher(
        self, features: Tensor, h0: Tensor, c0: Tensor, captions: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Teacher forcing: feed captions[:, t], predict captions[:, t + 1].

        captions int64 (B, T), starting with <start> -> logits (B, T-1, V), alphas (B, T-1, K).
        """
        h, c, keys = h0, c0, self.keys(features)
        logits, alphas = [], []
        for t in range(captions.shape[1] - 1):
            step_logits, h, c, alpha = self.step_logits(captions[:, t], h, c, features, keys)
            logits.append(step_logits)
            alphas.append(alpha)
        return torch.stack(logits, dim=1), torch.stack(alphas, dim=1)


class CaptionModel(nn.Module):
    """uint8 images (B, H, W, 3) -> attention features -> words, one `step` at a time.

    `weights_path` is consumed here: the backbone starts from that file, and `self.config`
    records `weights_path=None` because the model's own state dict now holds those weights
    (a checkpoint then rebuilds without the file). The path is kept in `backbone_weights`.
    """

    config_class = CaptionConfig

    def __init__(self, config: CaptionConfig) -> None:
        super().__init__()
        self.encoder = CaptionEncoder(config)
        self.decoder = CaptionDecoder(config)
        self.backbone_weights = config.weights_path
        self.config = replace(config, weights_path=None) if config.weights_path else config

    def encode(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """images uint8 (B, H, W, 3) -> features (B, K, D), keys (B, K, A), h0, c0
        (num_layers, B, hidden): everything a caption needs of the image, computed once."""
        features, h0, c0 = self.encoder(images)
        return features, self.decoder.keys(features), h0, c0

    def step(
        self, tokens: Tensor, h: Tensor, c: Tensor, features: Tensor, keys: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """tokens int64 (B,), h, c, features (B, K, D), keys (B, K, A)
        -> logprobs (B, V), h, c, alpha (B, K)."""
        return self.decoder.step(tokens, h, c, features, keys)

    def forward(self, images: Tensor, captions: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher forcing from pixels: -> logits (B, T-1, V), alphas (B, T-1, K)."""
        features, h0, c0 = self.encoder(images)
        return self.decoder.forward_teacher(features, h0, c0, captions)


@dataclass(frozen=True, eq=False)
class TorchState:
    """The decoder state in torch, on the model's device (a `search.DecoderState`):
    h, c (num_layers, N, hidden) per hypothesis; features (N, K, D), keys (N, K, A) per image."""

    h: Tensor
    c: Tensor
    features: Tensor
    keys: Tensor

    @property
    def batch(self) -> int:
        return int(self.features.shape[0])

    def repeat(self, times: int) -> TorchState:
        h, c = (s.repeat_interleave(times, dim=1) for s in (self.h, self.c))
        features, keys = (s.repeat_interleave(times, dim=0) for s in (self.features, self.keys))
        return TorchState(h, c, features, keys)

    def select(self, rows: npt.NDArray[np.intp]) -> TorchState:
        # rows stay within each image's beams, so the per-image features and keys stay put.
        index = torch.from_numpy(rows.astype(np.int64)).to(self.h.device)
        return replace(self, h=self.h.index_select(1, index), c=self.c.index_select(1, index))


class TorchStep:
    """`model.step` as a `search.StepFn` over `TorchState`: only the tokens (in) and the
    logprobs and attention (out) cross to numpy each step. Runs without autograd in the
    model's current mode (call `model.eval()` first for deterministic output)."""

    def __init__(self, model: CaptionModel) -> None:
        self.model = model
        self.device = next(model.parameters()).device

    def start(self, images: Tensor) -> TorchState:
        """uint8 images (B, H, W, 3) -> the state the search starts from."""
        with torch.inference_mode():
            features, keys, h0, c0 = self.model.encode(images.to(self.device))
        return TorchState(h0, c0, features, keys)

    def __call__(
        self, tokens: npt.NDArray[np.int64], state: TorchState
    ) -> tuple[npt.NDArray[np.float32], TorchState, npt.NDArray[np.float32]]:
        with torch.inference_mode():
            logprobs, h, c, alpha = self.model.step(
                torch.from_numpy(tokens).to(self.device), state.h, state.c, state.features,
                state.keys,
            )  # fmt: skip
        # float(): under autocast they may be bf16/fp16, which numpy has no type for
        return logprobs.float().cpu().numpy(), replace(state, h=h, c=c), alpha.float().cpu().numpy()


def generate(
    model: CaptionModel, images: Tensor, options: SearchOptions | None = None
) -> list[Hypothesis]:
    """Caption uint8 images (B, H, W, 3) with torch: the best hypothesis per image.

    Greedy when `options.beam_size == 1`, beam search otherwise; defaults to greedy with
    the config's max_len. Uses the model in its current mode (call `model.eval()`).
    """
    if options is None:
        options = SearchOptions(
            max_len=model.config.max_len, start_id=Vocab.START_ID, end_id=Vocab.END_ID
        )
    step = TorchStep(model)
    return search(step, step.start(images), options)
