"""The one recurrent module both heads use: `LSTMDecoder`, configured by `DecoderConfig`.

It is backed by `torch.nn.LSTM` / `torch.nn.GRU` (batch first) so that ONNX export yields
the native LSTM/GRU operator. Recurrent state is always explicit and always a pair
`(h, c)`, each `(num_layers, batch, hidden_size)`; a GRU has no cell state, so it carries
`c` through unchanged. That keeps one state contract for every exported graph.

The same weights run in sequence mode (`forward`, a whole sequence) and in step mode
(`step`, one time step); `gate_module()` returns the gate-by-gate twin from `cell.py`
holding the same weights, for inspection.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from lstm_apps.nn.cell import GateGRU, GateLSTM, GateTrace
from lstm_apps.runtime.errors import ConfigError

State = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class DecoderConfig:
    input_size: int  # features per time step
    hidden_size: int  # width of h and c
    num_layers: int = 1  # stacked layers
    dropout: float = 0.0  # between stacked layers (torch semantics), training only
    cell: Literal["lstm", "gru"] = "lstm"  # recurrent cell type

    def __post_init__(self) -> None:
        if self.input_size <= 0 or self.hidden_size <= 0:
            raise ConfigError(
                f"input_size and hidden_size must be positive, got {self.input_size}, "
                f"{self.hidden_size}"
            )
        if self.num_layers < 1:
            raise ConfigError(f"num_layers must be >= 1, got {self.num_layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.cell not in ("lstm", "gru"):
            raise ConfigError(f"cell must be 'lstm' or 'gru', got {self.cell!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecoderConfig:
        return cls(**d)


class LSTMDecoder(nn.Module):
    """Sequence and step mode over one nn.LSTM / nn.GRU, with explicit (h, c) state."""

    config_class = DecoderConfig

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        self.config = config
        rnn_cls = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.rnn = rnn_cls(
            config.input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        """Zero state: h, c each (num_layers, batch, hidden_size)."""
        shape = (self.config.num_layers, batch, self.config.hidden_size)
        p = next(self.parameters())
        device = device if device is not None else p.device
        return (torch.zeros(shape, device=device, dtype=p.dtype),) * 2  # type: ignore[return-value]

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x : (batch, time, input_size) -> outputs (batch, time, hidden), new (h, c)."""
        if state is None:
            state = self.init_state(x.shape[0], x.device)
        h, c = state
        if self.config.cell == "lstm":
            out, (h, c) = self.rnn(x, (h, c))
        else:
            out, h = self.rnn(x, h)
        return out, (h, c)

    def step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        """x_t : (batch, input_size) -> h_t (batch, hidden) of the top layer, new (h, c)."""
        out, state = self.forward(x_t.unsqueeze(1), state)
        return out.squeeze(1), state

    def gate_module(self) -> GateLSTM | GateGRU:
        """The gate-by-gate twin (cell.py) holding a copy of these weights."""
        cls = GateLSTM if self.config.cell == "lstm" else GateGRU
        twin = cls(self.config.input_size, self.config.hidden_size, self.config.num_layers)
        twin.load_state_dict(self.rnn.state_dict())
        return twin.to(next(self.parameters()).device).eval()

    @torch.no_grad()
    def trace_gates(self, x: Tensor, state: State | None = None) -> list[GateTrace]:
        """Gate activations of every layer and step for x : (batch, time, input_size)."""
        twin = self.gate_module()
        if isinstance(twin, GateLSTM):
            return twin(x, state, return_gates=True)[2] or []
        return twin(x, state[0] if state is not None else None, return_gates=True)[2] or []
