"""Caption search over any step function: greedy and beam, numpy only (no torch).

One interface (`Search`), two implementations (`GreedySearch`, `BeamSearch`), shared by
the torch model (`lstm_apps.nn.caption.TorchStep`) and the onnxruntime decoder.onnx
(`lstm_apps.runtime.caption.Captioner.step`). A step function maps the previous token
and a decoder state to log-probabilities over the vocabulary, the new state and the
attention weights:

    step(tokens int64 (N,), state) -> logprobs (N, V) numpy, new state, alpha (N, K) numpy

The state is opaque to the search: it lives wherever the step keeps it (numpy arrays for
onnxruntime, torch tensors on the model's device for torch, so no state crosses
between the two per step). The search only needs three things of it (`DecoderState`):
its batch size, `repeat(times)` (each image's row `times` times, image-major: the beams
of one image) and `select(rows)` (row j becomes old row rows[j]: beams reordered after a
step; rows[j] is always a row of the same image, so per-image inputs such as the image
features and attention keys need not move). `ArrayState` is that for numpy arrays.
Beam search runs all images x beams in one step call per time step.

Scoring. A hypothesis's `logprob` is the sum of its token log-probabilities (`<end>`
included when finished); its `score`, which ranks finished hypotheses, applies the GNMT
length penalty (Wu et al. 2016): score = logprob / ((5 + L) / 6) ** length_penalty, with
L the number of generated tokens (`<end>` included). length_penalty = 0 ranks by raw
logprob (short captions win); 1 is close to per-token normalisation. Live beams are
pruned by raw logprob: each step ranks all beam x vocabulary continuations (ties to the
lower index) and walks down the list until `beam_size` live beams are filled; each `<end>`
met on the way finishes a hypothesis, later ones are dropped (so beam_size 1 is exactly
greedy when length_penalty is 0). An image
stops when no live beam can still beat its best finished hypothesis (an exact bound, not a
count of finished ones), else at max_len. With no `<end>` by then, the live beams are
returned unfinished, best first.

    hyps = search(step, state, SearchOptions(beam_size=3))  # best hypothesis per image
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.errors import InputShapeError

__all__ = [
    "ArrayState",
    "BeamSearch",
    "DecoderState",
    "GreedySearch",
    "Hypothesis",
    "Search",
    "SearchOptions",
    "StepFn",
    "beam_search",
    "greedy_search",
    "length_penalty",
    "make_search",
    "search",
]

FloatArray = npt.NDArray[np.floating[Any]]
S = TypeVar("S", bound="DecoderState")


class DecoderState(Protocol):
    """What the search needs of a step's state (see the module docstring)."""

    @property
    def batch(self) -> int:
        """Rows (hypotheses) in this state."""
        ...

    def repeat(self: S, times: int) -> S:
        """Each row `times` times in a row: (r0, r0, r1, r1, ...) for times 2."""
        ...

    def select(self: S, rows: npt.NDArray[np.intp]) -> S:
        """Row j of the result is row rows[j]; rows stay within each image's group."""
        ...


class StepFn(Protocol[S]):
    """One decoder step: tokens int64 (N,), state -> logprobs (N, V), new state, alpha (N, K)."""

    def __call__(
        self, tokens: npt.NDArray[np.int64], state: S, /
    ) -> tuple[FloatArray, S, FloatArray]: ...


@dataclass(frozen=True, eq=False)
class ArrayState:
    """A numpy `DecoderState`. carried : arrays that move with a hypothesis (the recurrent
    state), batch on `axes` (for decoder.onnx's h and c, each (layers, N, hidden): axis 1);
    per_image : arrays fixed per image (features (N, K, D), keys (N, K, A)), batch on axis 0.
    """

    carried: tuple[npt.NDArray[Any], ...]
    per_image: tuple[npt.NDArray[Any], ...] = ()
    axes: tuple[int, ...] = (1, 1)

    def __post_init__(self) -> None:
        if len(self.axes) != len(self.carried):
            raise InputShapeError(f"{len(self.carried)} state arrays but {len(self.axes)} axes")
        if not self.carried and not self.per_image:
            raise InputShapeError("a decoder state needs at least one array")
        n = self.batch
        named = [
            (f"carried[{i}]", s, a)
            for i, (s, a) in enumerate(zip(self.carried, self.axes, strict=True))
        ]
        named += [(f"per_image[{i}]", s, 0) for i, s in enumerate(self.per_image)]
        for name, s, axis in named:
            if not -s.ndim <= axis < s.ndim or s.shape[axis] != n:
                raise InputShapeError(
                    f"{name} of shape {s.shape} has no batch of {n} on axis {axis}"
                )

    @property
    def batch(self) -> int:
        if self.carried:
            return int(self.carried[0].shape[self.axes[0]])
        return int(self.per_image[0].shape[0])

    def repeat(self, times: int) -> ArrayState:
        return ArrayState(
            tuple(
                np.repeat(s, times, axis=a) for s, a in zip(self.carried, self.axes, strict=True)
            ),
            tuple(np.repeat(s, times, axis=0) for s in self.per_image),
            self.axes,
        )

    def select(self, rows: npt.NDArray[np.intp]) -> ArrayState:
        carried = tuple(
            np.take(s, rows, axis=a) for s, a in zip(self.carried, self.axes, strict=True)
        )
        return replace(self, carried=carried)


@dataclass(frozen=True)
class SearchOptions:
    beam_size: int = 1  # hypotheses kept per image; 1 means greedy
    max_len: int = 20  # most tokens generated per hypothesis, <end> included
    length_penalty: float = 0.0  # GNMT alpha; 0 ranks by raw summed logprob
    start_id: int = 1  # token fed at the first step (<start>)
    end_id: int = 2  # token that finishes a hypothesis (<end>)

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.beam_size}")
        if self.max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {self.max_len}")
        if self.length_penalty < 0:
            raise ValueError(f"length_penalty must be >= 0, got {self.length_penalty}")


@dataclass(frozen=True, eq=False)  # eq=False: ndarray fields have no boolean ==
class Hypothesis:
    tokens: list[int]  # generated word ids, without <start> and <end>
    score: float  # logprob after the length penalty; ranks hypotheses
    logprob: float  # summed token log-probabilities, <end> included when finished
    alphas: npt.NDArray[np.float32]  # (len(tokens), K): the attention behind each word
    finished: bool  # True when <end> was generated within max_len
    # (len(tokens) + finished,): each token's log-probability, <end> last when finished
    token_logprobs: npt.NDArray[np.float64] = field(
        default_factory=lambda: np.zeros(0, dtype=np.float64)
    )


def length_penalty(num_tokens: int, alpha: float) -> float:
    """GNMT length penalty ((5 + L) / 6) ** alpha for L generated tokens."""
    return float(((5.0 + num_tokens) / 6.0) ** alpha)


def _hypothesis(
    tokens: npt.NDArray[np.int64],
    alphas: npt.NDArray[Any],
    logprob: float,
    finished: bool,
    options: SearchOptions,
    token_logprobs: npt.NDArray[Any],
) -> Hypothesis:
    n = len(tokens) + int(finished)
    return Hypothesis(
        tokens=[int(t) for t in tokens],
        score=float(logprob) / length_penalty(n, options.length_penalty),
        logprob=float(logprob),
        alphas=np.asarray(alphas, dtype=np.float32),
        finished=bool(finished),
        token_logprobs=np.asarray(token_logprobs, dtype=np.float64)[:n].copy(),
    )


class Search(ABC):
    """Decode a batch of images: the n-best hypotheses per image, best first."""

    def __init__(self, options: SearchOptions) -> None:
        self.options = options

    @abstractmethod
    def __call__(
        self,
        step: StepFn[S],
        state: S,
    ) -> list[list[Hypothesis]]:
        """The initial state of N images -> N lists of hypotheses, best first."""


class GreedySearch(Search):
    """Arg-max token at every step; one hypothesis per image."""

    def __call__(
        self,
        step: StepFn[S],
        state: S,
    ) -> list[list[Hypothesis]]:
        opt = self.options
        n = state.batch
        tokens = np.full(n, opt.start_id, dtype=np.int64)
        logprob = np.zeros(n, dtype=np.float64)
        length = np.full(n, -1)  # words before <end>; -1 while unfinished
        history: list[npt.NDArray[np.int64]] = []
        alphas: list[FloatArray] = []
        token_lp: list[npt.NDArray[np.float64]] = []
        rows = np.arange(n)
        for t in range(opt.max_len):
            logprobs, state, alpha = step(tokens, state)
            nxt = logprobs.argmax(axis=1).astype(np.int64)  # ties: lowest id, as beam search
            live = length < 0
            picked = logprobs[rows, nxt].astype(np.float64)
            logprob[live] += picked[live]
            length[live & (nxt == opt.end_id)] = t
            history.append(nxt)
            alphas.append(alpha)
            token_lp.append(picked)
            if (length >= 0).all():
                break
            tokens = np.where(length >= 0, opt.end_id, nxt)  # finished rows idle on <end>
        toks = np.stack(history, axis=1)  # (N, T)
        alps = np.stack(alphas, axis=1)  # (N, T, K)
        lps = np.stack(token_lp, axis=1)  # (N, T)
        out = []
        for i in range(n):
            words = int(length[i]) if length[i] >= 0 else toks.shape[1]
            hyp = _hypothesis(
                toks[i, :words], alps[i, :words], logprob[i], length[i] >= 0, opt, lps[i]
            )
            out.append([hyp])
        return out


def _top_sorted(row: FloatArray, k: int) -> npt.NDArray[np.intp]:
    """Indices of the k best entries of a 1-d array, best first, ties by lower index."""
    k = min(k, row.shape[0])
    kth = -np.partition(-row, k - 1)[k - 1]  # the k-th best value
    cand = np.flatnonzero(row >= kth)  # all entries at least as good, ties included
    return cand[np.lexsort((cand, -row[cand]))[:k]]


class BeamSearch(Search):
    """Beam search over all images x beams at once; up to beam_size hypotheses per image."""

    def __call__(
        self,
        step: StepFn[S],
        state: S,
    ) -> list[list[Hypothesis]]:
        opt = self.options
        beam, end = opt.beam_size, opt.end_id
        n = state.batch
        state = state.repeat(beam)  # (N*B) rows, image-major
        scores = np.full((n, beam), -np.inf)  # raw summed logprob of each live beam
        scores[:, 0] = 0.0  # one real beam at first, so no duplicates start
        tokens = np.zeros((n, beam, 0), dtype=np.int64)  # words so far
        alphas: npt.NDArray[np.float32] = np.zeros((n, beam, 0, 0), dtype=np.float32)
        token_lp = np.zeros((n, beam, 0), dtype=np.float64)  # each word's log-probability
        last = np.full(n * beam, opt.start_id, dtype=np.int64)
        finished: list[list[Hypothesis]] = [[] for _ in range(n)]
        done = np.zeros(n, dtype=bool)
        bound = length_penalty(opt.max_len, opt.length_penalty)
        for _ in range(opt.max_len):
            logprobs, state, alpha = step(last, state)
            vocab, cells = logprobs.shape[1], alpha.shape[1]
            if alphas.shape[3] != cells:  # K is known from the first step on
                alphas = np.zeros((n, beam, 0, cells), dtype=np.float32)
            step_lp = logprobs.reshape(n, beam, vocab).astype(np.float64)
            cand = (scores[:, :, None] + step_lp).reshape(n, -1)
            new_scores = np.full((n, beam), -np.inf)
            parent = np.zeros((n, beam), dtype=np.int64)
            new_tok = np.full((n, beam), end, dtype=np.int64)
            for i in map(int, np.flatnonzero(~done)):
                k = 0
                top = _top_sorted(cand[i], 2 * beam)  # holds >= beam non-<end> candidates
                for flat in top:
                    s = cand[i, flat]
                    if s == -np.inf or k == beam:
                        break
                    b, v = divmod(int(flat), vocab)
                    if v != end:
                        new_scores[i, k], parent[i, k], new_tok[i, k] = s, b, v
                        k += 1
                    else:  # an <end> ranked before the beam filled up finishes
                        lps = np.append(token_lp[i, b], step_lp[i, b, end])
                        finished[i].append(
                            _hypothesis(tokens[i, b], alphas[i, b], s, True, opt, lps)
                        )
                # Exact stop: a live beam's score can only fall (its logprob <= 0 keeps
                # shrinking; the penalty grows at most to that of max_len).
                best = max((h.score for h in finished[i]), default=-np.inf)
                done[i] = k == 0 or best >= new_scores[i, 0] / bound
            rows = np.arange(n)[:, None]
            step_alpha = alpha.reshape(n, beam, cells)[rows, parent]  # (N, B, K)
            tokens = np.concatenate([tokens[rows, parent], new_tok[:, :, None]], axis=2)
            alphas = np.concatenate([alphas[rows, parent], step_alpha[:, :, None]], axis=2)
            new_lp = step_lp[rows, parent, new_tok]  # (N, B)
            token_lp = np.concatenate([token_lp[rows, parent], new_lp[:, :, None]], axis=2)
            scores = np.where(done[:, None], -np.inf, new_scores)
            flat_parent = (np.arange(n)[:, None] * beam + parent).reshape(-1)
            state = state.select(flat_parent.astype(np.intp))
            last = new_tok.reshape(-1)
            if done.all():
                break
        out = []
        for i in range(n):
            hyps = finished[i]
            if not hyps:  # fallback: no <end> within max_len, keep the live beams
                hyps = [
                    _hypothesis(
                        tokens[i, b], alphas[i, b], scores[i, b], False, opt, token_lp[i, b]
                    )
                    for b in range(beam)
                    if scores[i, b] > -np.inf
                ]
            out.append(sorted(hyps, key=lambda h: -h.score)[:beam])
        return out


def make_search(options: SearchOptions) -> Search:
    """GreedySearch when options.beam_size == 1, else BeamSearch."""
    return GreedySearch(options) if options.beam_size == 1 else BeamSearch(options)


def greedy_search(
    step: StepFn[S], state: S, options: SearchOptions | None = None
) -> list[Hypothesis]:
    """Greedy decoding (beam_size is ignored): one hypothesis per image."""
    return [h[0] for h in GreedySearch(options or SearchOptions())(step, state)]


def beam_search(
    step: StepFn[S], state: S, options: SearchOptions | None = None
) -> list[list[Hypothesis]]:
    """Beam search: per image, up to beam_size hypotheses, best score first."""
    return BeamSearch(options or SearchOptions())(step, state)


def search(step: StepFn[S], state: S, options: SearchOptions | None = None) -> list[Hypothesis]:
    """The best hypothesis per image, by greedy or beam search as `options.beam_size` says."""
    return [h[0] for h in make_search(options or SearchOptions())(step, state)]
