"""The gate equations in cell.py equal torch.nn.LSTM / torch.nn.GRU on the same weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstm_apps.nn.cell import GateGRU, GateLSTM, lstm_cell

TOL = dict(atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 4])
def test_gate_lstm_equals_torch_lstm(layers: int, batch: int) -> None:
    ref = nn.LSTM(5, 7, num_layers=layers, batch_first=True)
    ours = GateLSTM(5, 7, layers)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(batch, 9, 5)
    h0, c0 = torch.randn(layers, batch, 7), torch.randn(layers, batch, 7)
    y_ref, (h_ref, c_ref) = ref(x, (h0, c0))
    y, (h, c), gates = ours(x, (h0, c0), return_gates=True)
    torch.testing.assert_close(y, y_ref, **TOL)
    torch.testing.assert_close(h, h_ref, **TOL)
    torch.testing.assert_close(c, c_ref, **TOL)
    assert gates is not None and len(gates) == layers
    top = gates[-1]
    torch.testing.assert_close(top.hidden, y_ref, **TOL)
    # The traces obey the equations they claim: C_t = f C_{t-1} + i g and h = o tanh(C).
    assert top.forget is not None and top.input is not None and top.output is not None
    assert top.cell is not None
    c_prev = torch.cat([c0[-1].unsqueeze(1), top.cell[:, :-1]], 1)
    torch.testing.assert_close(top.cell, top.forget * c_prev + top.input * top.candidate, **TOL)
    torch.testing.assert_close(top.hidden, top.output * torch.tanh(top.cell), **TOL)
    for g in (top.forget, top.input, top.output):
        assert g.shape == (batch, 9, 7) and g.min() >= 0 and g.max() <= 1


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("batch", [1, 3])
def test_gate_gru_equals_torch_gru(layers: int, batch: int) -> None:
    ref = nn.GRU(6, 4, num_layers=layers, batch_first=True)
    ours = GateGRU(6, 4, layers)
    ours.load_state_dict(ref.state_dict())
    x, h0 = torch.randn(batch, 11, 6), torch.randn(layers, batch, 4)
    y_ref, h_ref = ref(x, h0)
    y, h, gates = ours(x, h0, return_gates=True)
    torch.testing.assert_close(y, y_ref, **TOL)
    torch.testing.assert_close(h, h_ref, **TOL)
    assert gates is not None and gates[0].update is not None and gates[0].forget is None


def test_zero_state_default_matches_torch() -> None:
    ref = nn.LSTM(3, 5, batch_first=True)
    ours = GateLSTM(3, 5)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 4, 3)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], **TOL)
    assert ours(x)[2] is None


def test_forget_gate_saturated_keeps_cell_state() -> None:
    # With the forget gate forced open and the input gate shut, C_t stays C_{t-1}.
    h = 3
    w_ih, w_hh = torch.zeros(4 * h, 2), torch.zeros(4 * h, h)
    b = torch.zeros(4 * h)
    b[:h] = -50.0  # input gate -> 0
    b[h : 2 * h] = 50.0  # forget gate -> 1
    c0 = torch.tensor([[0.5, -1.0, 2.0]])
    _, c1, gates = lstm_cell(torch.randn(1, 2), torch.zeros(1, h), c0, w_ih, w_hh, b, b * 0)
    torch.testing.assert_close(c1, c0)
    assert gates["forget"].min() > 0.999 and gates["input"].max() < 1e-3


@pytest.mark.parametrize("bad", [(0, 4, 1), (3, -1, 1), (3, 4, 0)])
def test_bad_sizes_raise(bad: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        GateLSTM(*bad)


def test_wrong_input_shape_names_expected() -> None:
    with pytest.raises(ValueError, match=r"\(batch, time, 5\)"):
        GateLSTM(5, 4)(torch.randn(2, 3, 6))
