"""LSTMDecoder: sequence mode == step mode == the gate equations, for LSTM and GRU."""

from __future__ import annotations

import pytest
import torch

from lstm_apps.nn.decoder import DecoderConfig, LSTMDecoder

TOL = dict(atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_steps_equal_sequence(cell: str, layers: int) -> None:
    dec = LSTMDecoder(DecoderConfig(4, 6, num_layers=layers, cell=cell)).eval()  # type: ignore[arg-type]
    x = torch.randn(3, 10, 4)
    y_seq, (h_seq, c_seq) = dec(x)
    state = dec.init_state(3)
    outs = []
    for t in range(10):
        h_t, state = dec.step(x[:, t], state)
        outs.append(h_t)
    torch.testing.assert_close(torch.stack(outs, 1), y_seq, **TOL)
    torch.testing.assert_close(state[0], h_seq, **TOL)
    torch.testing.assert_close(state[1], c_seq, **TOL)
    assert y_seq.shape == (3, 10, 6) and h_seq.shape == (layers, 3, 6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gates_reproduce_decoder(cell: str) -> None:
    dec = LSTMDecoder(DecoderConfig(5, 8, num_layers=2, cell=cell)).eval()  # type: ignore[arg-type]
    x = torch.randn(2, 7, 5)
    state = (torch.randn(2, 2, 8), torch.randn(2, 2, 8))
    y, _ = dec(x, state)
    traces = dec.trace_gates(x, state)
    assert len(traces) == 2
    torch.testing.assert_close(traces[-1].hidden, y, **TOL)
    if cell == "lstm":
        assert traces[0].forget is not None and traces[0].forget.shape == (2, 7, 8)


def test_gru_carries_c_unchanged() -> None:
    dec = LSTMDecoder(DecoderConfig(3, 4, cell="gru"))
    c = torch.randn(1, 2, 4)
    _, (_, c_out) = dec(torch.randn(2, 5, 3), (torch.zeros(1, 2, 4), c))
    assert torch.equal(c_out, c)


def test_continuing_state_equals_one_long_call() -> None:
    dec = LSTMDecoder(DecoderConfig(3, 5)).eval()
    x = torch.randn(2, 12, 3)
    y_all, s_all = dec(x)
    y_a, s = dec(x[:, :5])
    y_b, s = dec(x[:, 5:], s)
    torch.testing.assert_close(torch.cat([y_a, y_b], 1), y_all, **TOL)
    torch.testing.assert_close(s[1], s_all[1], **TOL)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_size": 0, "hidden_size": 4}, "positive"),
        ({"input_size": 3, "hidden_size": 4, "num_layers": 0}, "num_layers"),
        ({"input_size": 3, "hidden_size": 4, "dropout": 1.0}, "dropout"),
        ({"input_size": 3, "hidden_size": 4, "cell": "rnn"}, "cell"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DecoderConfig(**kwargs)


def test_config_round_trip_and_frozen() -> None:
    cfg = DecoderConfig(3, 4, num_layers=2, dropout=0.1, cell="gru")
    assert DecoderConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(AttributeError):
        cfg.hidden_size = 5  # type: ignore[misc]
