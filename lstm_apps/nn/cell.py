"""The LSTM and GRU gate equations, written out one gate at a time.

    f_t = sigmoid(W_f [h_{t-1}, x_t] + b_f)      forget gate
    i_t = sigmoid(W_i [h_{t-1}, x_t] + b_i)      input gate
    g_t = tanh(W_c [h_{t-1}, x_t] + b_c)         candidate cell (~C_t)
    C_t = f_t * C_{t-1} + i_t * g_t              cell state: the conveyor line
    o_t = sigmoid(W_o [h_{t-1}, x_t] + b_o)      output gate
    h_t = o_t * tanh(C_t)

`GateLSTM` and `GateGRU` hold their parameters under the same names and layout as
`torch.nn.LSTM` / `torch.nn.GRU` (`weight_ih_l0`, ... with the gates stacked in torch's
order: i, f, g, o for the LSTM; r, z, n for the GRU), so a state dict moves between them
unchanged. They are slow by design: they exist to be read, to be tested against torch, and
to show what the network keeps and forgets (`return_gates=True`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lstm_apps.runtime.errors import ConfigError

LSTM_GATES = ("input", "forget", "candidate", "output")
GRU_GATES = ("reset", "update", "candidate")


@dataclass
class GateTrace:
    """Gate activations of every step of one layer, each `(batch, time, hidden)`.

    For an LSTM: `forget`, `input`, `candidate`, `output`, `cell` (C_t) and `hidden` (h_t).
    For a GRU: `reset`, `update`, `candidate` and `hidden`; `forget`, `input` and `output`
    stay None.
    """

    hidden: Tensor
    candidate: Tensor
    forget: Tensor | None = None
    input: Tensor | None = None
    output: Tensor | None = None
    cell: Tensor | None = None
    reset: Tensor | None = None
    update: Tensor | None = None


def lstm_cell(
    x: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """One LSTM step from the gate equations.

    x : (batch, input_size); h, c : (batch, hidden); w_ih : (4 hidden, input_size);
    w_hh : (4 hidden, hidden); b_ih, b_hh : (4 hidden,). Returns h_t, C_t and the gates.
    """
    w_xi, w_xf, w_xg, w_xo = w_ih.chunk(4, 0)
    w_hi, w_hf, w_hg, w_ho = w_hh.chunk(4, 0)
    b_i, b_f, b_g, b_o = (b_ih + b_hh).chunk(4, 0)
    f = torch.sigmoid(x @ w_xf.T + h @ w_hf.T + b_f)  # forget gate: how much of C_{t-1} stays
    i = torch.sigmoid(x @ w_xi.T + h @ w_hi.T + b_i)  # input gate: how much news gets in
    g = torch.tanh(x @ w_xg.T + h @ w_hg.T + b_g)  # candidate cell ~C_t
    c_t = f * c + i * g  # the conveyor line
    o = torch.sigmoid(x @ w_xo.T + h @ w_ho.T + b_o)  # output gate: how much of C_t shows
    h_t = o * torch.tanh(c_t)
    return h_t, c_t, {"forget": f, "input": i, "candidate": g, "output": o}


def gru_cell(
    x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor
) -> tuple[Tensor, dict[str, Tensor]]:
    """One GRU step (torch's formulation: the reset gate scales W_hn h + b_hn).

    x : (batch, input_size); h : (batch, hidden). Returns h_t and the gates.
    """
    w_xr, w_xz, w_xn = w_ih.chunk(3, 0)
    w_hr, w_hz, w_hn = w_hh.chunk(3, 0)
    b_xr, b_xz, b_xn = b_ih.chunk(3, 0)
    b_hr, b_hz, b_hn = b_hh.chunk(3, 0)
    r = torch.sigmoid(x @ w_xr.T + b_xr + h @ w_hr.T + b_hr)  # reset gate
    z = torch.sigmoid(x @ w_xz.T + b_xz + h @ w_hz.T + b_hz)  # update gate (1 - z keeps news)
    n = torch.tanh(x @ w_xn.T + b_xn + r * (h @ w_hn.T + b_hn))  # candidate
    h_t = (1 - z) * n + z * h
    return h_t, {"reset": r, "update": z, "candidate": n}


class _GateRNN(nn.Module):
    """Shared parameter layout of GateLSTM / GateGRU (identical to torch.nn.LSTM / GRU)."""

    n_gates = 4

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ConfigError(
                f"sizes must be positive, got input_size={input_size}, "
                f"hidden_size={hidden_size}, num_layers={num_layers}"
            )
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        g = self.n_gates * hidden_size
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{layer}", nn.Parameter(torch.empty(g, in_size)))
            self.register_parameter(
                f"weight_hh_l{layer}", nn.Parameter(torch.empty(g, hidden_size))
            )
            self.register_parameter(f"bias_ih_l{layer}", nn.Parameter(torch.empty(g)))
            self.register_parameter(f"bias_hh_l{layer}", nn.Parameter(torch.empty(g)))
        bound = hidden_size**-0.5  # torch's default initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _weights(self, layer: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return (
            getattr(self, f"weight_ih_l{layer}"),
            getattr(self, f"weight_hh_l{layer}"),
            getattr(self, f"bias_ih_l{layer}"),
            getattr(self, f"bias_hh_l{layer}"),
        )

    def _zeros(self, x: Tensor) -> Tensor:
        return x.new_zeros(self.num_layers, x.shape[0], self.hidden_size)

    def _check(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must be (batch, time, {self.input_size}), got {tuple(x.shape)}")


class GateLSTM(_GateRNN):
    """A multi-layer LSTM (batch first) computed gate by gate; equal to torch.nn.LSTM."""

    n_gates = 4

    def forward(
        self,
        x: Tensor,
        state: tuple[Tensor, Tensor] | None = None,
        return_gates: bool = False,
    ) -> tuple[Tensor, tuple[Tensor, Tensor], list[GateTrace] | None]:
        """x : (batch, time, input_size); state : h, c each (layers, batch, hidden).

        Returns outputs (batch, time, hidden) of the top layer, the final (h, c), and with
        `return_gates` one GateTrace per layer.
        """
        self._check(x)
        h0, c0 = state if state is not None else (self._zeros(x), self._zeros(x))
        traces: list[GateTrace] = []
        h_n, c_n = [], []
        layer_in = x
        for layer in range(self.num_layers):
            h, c = h0[layer], c0[layer]
            steps: list[dict[str, Tensor]] = []
            outs = []
            for t in range(layer_in.shape[1]):
                h, c, gates = lstm_cell(layer_in[:, t], h, c, *self._weights(layer))
                outs.append(h)
                if return_gates:
                    steps.append({**gates, "cell": c, "hidden": h})
            layer_in = torch.stack(outs, 1)
            h_n.append(h)
            c_n.append(c)
            if return_gates:
                traces.append(
                    GateTrace(**{k: torch.stack([s[k] for s in steps], 1) for k in steps[0]})
                )
        return layer_in, (torch.stack(h_n), torch.stack(c_n)), traces if return_gates else None


class GateGRU(_GateRNN):
    """A multi-layer GRU (batch first) computed gate by gate; equal to torch.nn.GRU."""

    n_gates = 3

    def forward(
        self, x: Tensor, h0: Tensor | None = None, return_gates: bool = False
    ) -> tuple[Tensor, Tensor, list[GateTrace] | None]:
        """x : (batch, time, input_size); h0 : (layers, batch, hidden).

        Returns outputs (batch, time, hidden), the final h and, with `return_gates`, traces.
        """
        self._check(x)
        h0 = h0 if h0 is not None else self._zeros(x)
        traces: list[GateTrace] = []
        h_n = []
        layer_in = x
        for layer in range(self.num_layers):
            h = h0[layer]
            steps: list[dict[str, Tensor]] = []
            outs = []
            for t in range(layer_in.shape[1]):
                h, gates = gru_cell(layer_in[:, t], h, *self._weights(layer))
                outs.append(h)
                if return_gates:
                    steps.append({**gates, "hidden": h})
            layer_in = torch.stack(outs, 1)
            h_n.append(h)
            if return_gates:
                traces.append(
                    GateTrace(**{k: torch.stack([s[k] for s in steps], 1) for k in steps[0]})
                )
        return layer_in, torch.stack(h_n), traces if return_gates else None
