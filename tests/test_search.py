"""Greedy and beam search (numpy) against exhaustive search on toy step functions."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch

from lstm_apps.runtime.errors import InputShapeError
from lstm_apps.runtime.search import (
    ArrayState,
    BeamSearch,
    GreedySearch,
    Hypothesis,
    SearchOptions,
    beam_search,
    greedy_search,
    length_penalty,
    make_search,
    search,
)

V, K, START, END = 5, 3, 1, 2
AXES = (1, 0)  # toy state: h (1, N, 1) batch on axis 1, c (N, 2) batch on axis 0


def _log_softmax(x: npt.NDArray[Any]) -> npt.NDArray[Any]:
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


class ToyStep:
    """Deterministic logprobs from a fixed random table indexed by (last token, t).

    The recurrent state carries t (h) and a running mix of past tokens (c) that also moves
    the logits, so a search that reorders beams wrongly gets different numbers.
    """

    def __init__(self, seed: int, max_t: int = 8, end: bool = True) -> None:
        rng = np.random.default_rng(seed)
        self.table = rng.normal(size=(V, max_t, V)) * 1.5
        self.table[:, :, END] -= 2.0  # so that the best captions are not mostly empty
        self.end = end
        self.calls: list[int] = []  # batch size of every call

    def __call__(
        self, tokens: npt.NDArray[np.int64], state: ArrayState
    ) -> tuple[npt.NDArray[Any], ArrayState, npt.NDArray[Any]]:
        (h, c), (features,) = state.carried, state.per_image
        self.calls.append(len(tokens))
        t = h[0, :, 0].astype(int)
        logits = self.table[tokens, t] + features[:, 0, :V] + 0.5 * np.sin(c[:, :1] * np.arange(V))
        if not self.end:
            logits[:, END] = -np.inf
        cells = np.arange(K)  # the history moves the attention too, cell by cell
        energy = features[:, :, 1] * (t[:, None] + 1) + (0.3 * tokens[:, None] + c[:, 1:]) * cells
        alpha = np.exp(_log_softmax(energy))
        new_c = np.stack([c[:, 0] * 0.7 + tokens, c[:, 1] - 0.3 * tokens], axis=1)
        new = ArrayState((h + 1, new_c), state.per_image, AXES)
        return _log_softmax(logits), new, alpha.astype(np.float32)


def _state(features: npt.NDArray[Any], h: npt.NDArray[Any], c: npt.NDArray[Any]) -> ArrayState:
    return ArrayState((h, c), (features,), AXES)


def _inputs(n: int, seed: int = 0) -> ArrayState:
    rng = np.random.default_rng(100 + seed)
    features = rng.normal(size=(n, K, V)).astype(np.float32)
    return _state(features, np.zeros((1, n, 1)), np.zeros((n, 2)))


def _exhaustive(
    step: ToyStep, state: ArrayState, max_len: int
) -> tuple[list[tuple[list[int], float, npt.NDArray[Any]]], list[Any]]:
    """Every continuation of one image: (finished, unfinished) lists of (tokens, lp, alphas)."""
    finished: list[tuple[list[int], float, npt.NDArray[Any]]] = []
    unfinished: list[tuple[list[int], float, npt.NDArray[Any]]] = []

    def visit(tokens: list[int], lp: float, alphas: list[Any], last: int, st: ArrayState) -> None:
        logprobs, new_st, alpha = step(np.array([last]), st)
        for v in range(V):
            if logprobs[0, v] == -np.inf:
                continue
            total = lp + float(logprobs[0, v])
            if v == END:
                finished.append((tokens, total, np.array(alphas).reshape(-1, K)))
            elif len(tokens) + 1 == max_len:
                unfinished.append(([*tokens, v], total, np.array([*alphas, alpha[0]])))
            else:
                visit([*tokens, v], total, [*alphas, alpha[0]], v, new_st)

    visit([], 0.0, [], START, state)
    return finished, unfinished


def _same(a: list[Hypothesis], b: list[Hypothesis]) -> None:
    assert [h.tokens for h in a] == [h.tokens for h in b]
    assert [h.finished for h in a] == [h.finished for h in b]
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-9)
    np.testing.assert_allclose([h.logprob for h in a], [h.logprob for h in b], rtol=1e-9)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x.alphas, y.alphas, rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_equals_exhaustive(seed: int, alpha: float) -> None:
    max_len = 4
    state = _inputs(1, seed)
    opt = SearchOptions(beam_size=V**max_len, max_len=max_len, length_penalty=alpha)
    best = beam_search(ToyStep(seed), state, opt)[0]
    finished, _ = _exhaustive(ToyStep(seed), state, max_len)
    assert len(finished) == 1 + 4 + 16 + 64  # <end> after 0..3 words of 4 non-end tokens
    scores = [lp / length_penalty(len(t) + 1, alpha) for t, lp, _ in finished]
    tokens, lp, alphas = finished[int(np.argmax(scores))]
    assert best[0].finished and best[0].tokens == tokens
    assert best[0].logprob == pytest.approx(lp, abs=1e-9)
    assert best[0].score == pytest.approx(max(scores), abs=1e-9)
    np.testing.assert_allclose(best[0].alphas, alphas, rtol=1e-6)
    # every hypothesis returned is scored as exhaustive search scores it, best first
    table = {tuple(t): (s, a) for (t, _, a), s in zip(finished, scores, strict=True)}
    assert len(best) > 10  # the exact stop kept many finished hypotheses to check
    for h in best:
        assert h.score == pytest.approx(table[tuple(h.tokens)][0], abs=1e-9)
        np.testing.assert_allclose(h.alphas, table[tuple(h.tokens)][1], rtol=1e-6)
    assert [h.score for h in best] == sorted((h.score for h in best), reverse=True)


@pytest.mark.parametrize("seed", range(6))
def test_beam_one_equals_greedy(seed: int) -> None:
    state = _inputs(3, seed)
    opt = SearchOptions(beam_size=1, max_len=6)
    greedy = greedy_search(ToyStep(seed), state, opt)
    beam = beam_search(ToyStep(seed), state, opt)
    assert all(len(b) == 1 for b in beam)
    _same(greedy, [b[0] for b in beam])
    assert search(ToyStep(seed), state, opt)[0].tokens == greedy[0].tokens
    assert isinstance(make_search(opt), GreedySearch)
    assert isinstance(make_search(SearchOptions(beam_size=2)), BeamSearch)


def test_greedy_picks_the_argmax_path() -> None:
    state = _inputs(1, 5)
    step = ToyStep(5, end=False)
    hyp = greedy_search(step, state, SearchOptions(max_len=4))[0]
    last, st, tokens, lp = START, state, [], 0.0
    for _ in range(4):
        logprobs, st, _ = step(np.array([last]), st)
        last = int(np.argmax(logprobs[0]))
        tokens.append(last)
        lp += float(logprobs[0, last])
    assert hyp.tokens == tokens and hyp.logprob == pytest.approx(lp)


@pytest.mark.parametrize("beam", [1, 3])
def test_batched_equals_per_image(beam: int) -> None:
    start = _inputs(3, 7)
    (h, c), (features,) = start.carried, start.per_image
    h = h + np.arange(3)[None, :, None]  # images also start at different t
    opt = SearchOptions(beam_size=beam, max_len=6, length_penalty=0.6)
    step = ToyStep(7)
    batched = make_search(opt)(step, _state(features, h, c))
    assert step.calls and all(n == 3 * beam for n in step.calls)  # one call per time step
    assert len(step.calls) <= opt.max_len
    for i in range(3):
        single = make_search(opt)(
            ToyStep(7), _state(features[i : i + 1], h[:, i : i + 1], c[i : i + 1])
        )
        _same(batched[i], single[0])


def test_fallback_without_end() -> None:
    max_len = 4
    state = _inputs(2, 3)
    for beam in (1, 3, 4**max_len):
        opt = SearchOptions(beam_size=beam, max_len=max_len)
        out = make_search(opt)(ToyStep(3, end=False), state)
        for hyps in out:
            assert 1 <= len(hyps) <= beam and not any(h.finished for h in hyps)
            assert all(len(h.tokens) == max_len and END not in h.tokens for h in hyps)
            assert all(h.alphas.shape == (max_len, K) for h in hyps)
            np.testing.assert_allclose(hyps[0].alphas.sum(axis=1), 1.0, rtol=1e-5)
    # the widest beam's fallback is the exhaustive best unfinished caption
    first = _state(state.per_image[0][:1], state.carried[0][:, :1], state.carried[1][:1])
    opt = SearchOptions(beam_size=4**max_len, max_len=max_len)
    wide = beam_search(ToyStep(3, end=False), first, opt)[0][0]
    finished, unfinished = _exhaustive(ToyStep(3, end=False), first, max_len)
    assert not finished and len(unfinished) == 4**max_len
    tokens, lp, _ = max(unfinished, key=lambda u: u[1])
    assert wide.tokens == tokens and wide.logprob == pytest.approx(lp)


class ScriptStep:
    """Scripted probabilities per (t, last token); every other token gets a tiny share."""

    def __init__(self, script: dict[tuple[int, int], dict[int, float]]) -> None:
        self.script = script

    def __call__(
        self, tokens: npt.NDArray[np.int64], state: ArrayState
    ) -> tuple[npt.NDArray[Any], ArrayState, npt.NDArray[Any]]:
        (t_arr,) = state.carried
        probs = np.full((len(tokens), V), 1e-4)
        for row, (tok, t) in enumerate(zip(tokens, t_arr[:, 0].astype(int), strict=True)):
            for v, p in self.script.get((int(t), int(tok)), {}).items():
                probs[row, v] = p
        probs /= probs.sum(axis=1, keepdims=True)
        alpha = np.full((len(tokens), K), 1.0 / K, dtype=np.float32)
        return np.log(probs), ArrayState((t_arr + 1,), (), (0,)), alpha


def _script_search(script: ScriptStep, **options: Any) -> list[Hypothesis]:
    state = ArrayState((np.zeros((1, 1)),), (), (0,))
    return beam_search(script, state, SearchOptions(**{"max_len": 8, **options}))[0]


# <end> at once (0.5), or 3 4 4 4 <end> with the later steps ~0.99 each.
SHORT_OR_LONG = {(0, START): {END: 0.5, 3: 0.45}, (1, 3): {4: 0.99}, (2, 4): {4: 0.99},
                 (3, 4): {4: 0.99}, (4, 4): {END: 0.99}}  # fmt: skip


def test_length_penalty_changes_the_winner() -> None:
    raw = _script_search(ScriptStep(SHORT_OR_LONG), beam_size=3)
    norm = _script_search(ScriptStep(SHORT_OR_LONG), beam_size=3, length_penalty=1.0)
    assert raw[0].tokens == [] and raw[0].finished
    assert norm[0].tokens == [3, 4, 4, 4] and norm[0].finished
    assert raw[0].logprob > norm[0].logprob  # the short one really is more likely
    assert norm[0].score == pytest.approx(norm[0].logprob / ((5 + 5) / 6))


def test_beam_keeps_going_while_a_live_beam_can_still_win() -> None:
    # Two finished hypotheses by t=1 (a count-based stop would quit there); the long one,
    # 3 4 4 4 4 4 <end>, still wins under the length penalty.
    script = {(0, START): {END: 0.5, 3: 0.48}, (1, 3): {4: 0.69, END: 0.3},
              **{(t, 4): {4: 0.99} for t in range(2, 6)}, (6, 4): {END: 0.99}}  # fmt: skip
    best = _script_search(ScriptStep(script), beam_size=2, length_penalty=1.0)
    assert best[0].tokens == [3, 4, 4, 4, 4, 4]
    assert sorted(len(h.tokens) for h in best) == [0, 6]


def test_beam_one_ignores_an_end_it_passed_over() -> None:
    # Greedy takes 3 (0.6) over <end> (0.4) and must keep going, although after 3 the
    # path falls below log 0.4; beam 1 must not return the <end> greedy never chose.
    script = {(0, START): {3: 0.6, END: 0.4}, (1, 3): {0: 0.25, 1: 0.25, 3: 0.25, 4: 0.25}}
    best = _script_search(ScriptStep(script), beam_size=1, max_len=3)
    assert best[0].tokens[0] == 3 and len(best[0].tokens) >= 2


def test_ties_go_to_the_lower_token_id() -> None:
    script = {(0, START): {4: 0.4, 3: 0.4, END: 0.2}, (1, 3): {END: 0.9}, (1, 4): {END: 0.9}}
    state = ArrayState((np.zeros((1, 1)),), (), (0,))
    greedy = greedy_search(ScriptStep(script), state, SearchOptions(max_len=4))
    assert greedy[0].tokens == [3]
    assert _script_search(ScriptStep(script), beam_size=1)[0].tokens == [3]
    assert [h.tokens for h in _script_search(ScriptStep(script), beam_size=2)] == [[3], [4]]


def test_options_and_input_errors() -> None:
    with pytest.raises(ValueError, match="beam_size"):
        SearchOptions(beam_size=0)
    with pytest.raises(ValueError, match="max_len"):
        SearchOptions(max_len=0)
    with pytest.raises(ValueError, match="length_penalty"):
        SearchOptions(length_penalty=-1.0)
    state = _inputs(2)
    (h, c), (features,) = state.carried, state.per_image
    with pytest.raises(InputShapeError, match="axis 0"):  # c disagrees with h on the batch
        ArrayState((h, c[:1]), (features,), AXES)
    with pytest.raises(InputShapeError, match="2 state arrays but 1 axes"):
        ArrayState((h, c), (features,), (1,))
    with pytest.raises(InputShapeError, match=r"per_image\[0\]"):
        ArrayState((h, c), (features[:1],), AXES)
    with pytest.raises(InputShapeError, match="at least one"):
        ArrayState((), (), ())


def _sharp_model(max_len: int, end_bias: float, n: int) -> tuple[Any, torch.Tensor]:
    """A tiny random caption model, sharpened so captions differ per image, and n images."""
    from lstm_apps.nn.caption import CaptionConfig, CaptionModel

    torch.set_num_threads(1)
    cfg = CaptionConfig(
        vocab_size=9, image_size=32, feature_dim=8, embed_dim=6, hidden_size=10,
        attention_dim=7, num_layers=2, max_len=max_len, position=False,
    )  # fmt: skip
    model = CaptionModel(cfg).eval()
    with torch.no_grad():
        model.encoder.proj.weight.mul_(5.0)
        model.decoder.out.weight.mul_(6.0)
        model.decoder.out.bias[END] -= end_bias
    blocks = torch.randint(0, 256, (n, 3, 4, 3), dtype=torch.uint8)  # coarse colour blocks
    return model, blocks.repeat_interleave(10, dim=1).repeat_interleave(10, dim=2)  # (n, 30, 40, 3)


def test_torch_model_greedy_matches_hand_loop() -> None:
    from lstm_apps.nn.caption import TorchStep, generate

    model, images = _sharp_model(max_len=7, end_bias=1.0, n=4)
    cfg = model.config
    with torch.no_grad():
        features, keys, h0, c0 = model.encode(images)
        h, c = h0, c0
        tokens = torch.full((4,), START, dtype=torch.long)
        out = []
        for _ in range(cfg.max_len):
            logprobs, h, c, _ = model.step(tokens, h, c, features, keys)
            tokens = logprobs.argmax(dim=1)
            out.append(tokens)
    expected = []
    for row in torch.stack(out, dim=1).tolist():
        expected.append(row[: row.index(END)] if END in row else row)
    opt = SearchOptions(max_len=cfg.max_len)
    step = TorchStep(model)
    hyps = greedy_search(step, step.start(images), opt)
    assert len({tuple(e) for e in expected}) > 1  # the images really get different captions
    assert [hyp.tokens for hyp in hyps] == expected
    assert [hyp.tokens for hyp in generate(model, images)] == expected
    assert [hyp.finished for hyp in hyps] == [END in row for row in torch.stack(out, 1).tolist()]
    beam1 = beam_search(step, step.start(images), opt)
    assert [b[0].tokens for b in beam1] == expected


def test_torch_state_beams_like_numpy_state() -> None:
    """TorchState.repeat/select (state kept in torch) reorder beams as ArrayState does."""
    from lstm_apps.nn.caption import TorchStep

    torch.manual_seed(3)
    model, images = _sharp_model(max_len=6, end_bias=3.0, n=3)

    def numpy_step(
        tokens: npt.NDArray[np.int64], state: ArrayState
    ) -> tuple[npt.NDArray[Any], ArrayState, npt.NDArray[Any]]:
        args = (tokens, *state.carried, *state.per_image)  # model.step's argument order
        with torch.no_grad():
            lp, h, c, a = model.step(*(torch.from_numpy(np.ascontiguousarray(x)) for x in args))
        return lp.numpy(), ArrayState((h.numpy(), c.numpy()), state.per_image), a.numpy()

    step = TorchStep(model)
    start = step.start(images)
    np_start = ArrayState(
        (start.h.numpy(), start.c.numpy()), (start.features.numpy(), start.keys.numpy())
    )
    opt = SearchOptions(beam_size=3, max_len=6, length_penalty=0.5)
    got, want = beam_search(step, start, opt), beam_search(numpy_step, np_start, opt)
    assert len({tuple(h[0].tokens) for h in want}) > 1 and all(len(h) == 3 for h in want)
    for g, w in zip(got, want, strict=True):
        _same(g, w)
