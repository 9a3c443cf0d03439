/**
 * Caption search over one image: greedy and beam, written from the contract's pseudocode
 * (export/README.md, decoder.onnx), as lstm_apps/runtime/search.py does it in numpy.
 *
 * A step function runs decoder.onnx on all live rows at once:
 *
 *     step(tokens: number[], state) -> {logprobs: Float32Array (rows, V), alpha: Float32Array
 *         (rows, K), state}
 *     select(state, parents: number[]) -> state   // row j becomes old row parents[j]
 *
 * Scores are summed in doubles (as numpy sums float32 log-probabilities into float64).
 * @module search
 */

/**
 * @typedef {object} Hypothesis
 * @property {number[]} tokens generated word ids, without <start> and <end>
 * @property {Float32Array[]} alphas the attention behind each word (K weights each)
 * @property {number} logprob summed token log-probabilities, <end> included when finished
 * @property {number} score logprob / lengthPenalty(tokens + finished)
 * @property {boolean} finished <end> was generated within maxLen
 * @property {number[]} tokenLogprobs each token's log-probability, <end> last when finished
 */

/** GNMT length penalty ((5 + L) / 6) ** alpha. @param {number} L @param {number} alpha */
export function lengthPenalty(L, alpha) {
  return ((5 + L) / 6) ** alpha;
}

function hypothesis(tokens, alphas, logprob, finished, alpha, tokenLogprobs) {
  const score = logprob / lengthPenalty(tokens.length + (finished ? 1 : 0), alpha);
  return { tokens, alphas, logprob, score, finished, tokenLogprobs };
}

/**
 * Greedy decoding: the arg-max word every step (ties: the lowest id).
 * @param {Function} step
 * @param {object} state for one row
 * @param {{maxLen: number, startId: number, endId: number, lengthPenalty?: number}} opt
 * @returns {Promise<Hypothesis>}
 */
export async function greedySearch(step, state, opt) {
  const tokens = [], alphas = [], lps = [];
  let token = opt.startId, logprob = 0;
  for (let t = 0; t < opt.maxLen; t++) {
    const out = await step([token], state);
    state = out.state;
    const V = out.logprobs.length, K = out.alpha.length;
    let next = 0;
    for (let v = 1; v < V; v++) if (out.logprobs[v] > out.logprobs[next]) next = v;
    logprob += out.logprobs[next];
    lps.push(out.logprobs[next]);
    if (next === opt.endId) return hypothesis(tokens, alphas, logprob, true, opt.lengthPenalty ?? 0, lps);
    tokens.push(next);
    alphas.push(out.alpha.slice(0, K));
    token = next;
  }
  return hypothesis(tokens, alphas, logprob, false, opt.lengthPenalty ?? 0, lps);
}

/**
 * Beam search over B beams of one image (the contract's loop; `select` reorders the state).
 * @param {Function} step
 * @param {Function} select
 * @param {object} state the image's state repeated B times (rows 0..B-1)
 * @param {{beamSize: number, maxLen: number, startId: number, endId: number,
 *   lengthPenalty?: number}} opt
 * @returns {Promise<Hypothesis[]>} best first
 */
export async function beamSearch(step, select, state, opt) {
  const B = opt.beamSize, end = opt.endId, alpha = opt.lengthPenalty ?? 0;
  let scores = [0, ...new Array(B - 1).fill(-Infinity)];
  let beams = Array.from({ length: B }, () => ({ tokens: [], alphas: [], lps: [] }));
  let last = new Array(B).fill(opt.startId);
  const finished = [];
  const bound = lengthPenalty(opt.maxLen, alpha);
  for (let t = 0; t < opt.maxLen; t++) {
    const out = await step(last, state);
    const V = out.logprobs.length / B, K = out.alpha.length / B;
    const cand = [];
    for (let b = 0; b < B; b++) {
      for (let v = 0; v < V; v++) cand.push(scores[b] + out.logprobs[b * V + v]);
    }
    // best first, ties by the lower flat index b * V + v
    const order = cand.map((_, i) => i).sort((i, j) => cand[j] - cand[i] || i - j);
    const next = [], parents = [], tokens = [];
    for (const flat of order) {
      const s = cand[flat];
      if (s === -Infinity || next.length === B) break;
      const b = Math.floor(flat / V), v = flat % V;
      const lp = out.logprobs[b * V + v];
      if (v === end) {
        finished.push(hypothesis(beams[b].tokens, beams[b].alphas, s, true, alpha, [...beams[b].lps, lp]));
      } else {
        next.push({
          tokens: [...beams[b].tokens, v],
          alphas: [...beams[b].alphas, out.alpha.slice(b * K, (b + 1) * K)],
          lps: [...beams[b].lps, lp],
        });
        parents.push(b);
        tokens.push(v);
        scores[next.length - 1] = s;
      }
    }
    const live = next.length;
    const best = Math.max(-Infinity, ...finished.map((h) => h.score));
    // exact stop: a live beam's score only falls (logprobs <= 0, the penalty grows at most
    // to that of maxLen), so none can beat the best finished one any more
    if (live === 0 || best >= scores[0] / bound) {
      scores = scores.map((s, b) => (b < live ? s : -Infinity));
      beams = next;
      break;
    }
    for (let b = live; b < B; b++) { // fewer than B live beams: pad with dead rows
      scores[b] = -Infinity;
      next.push(next[0]);
      parents.push(parents[0]);
      tokens.push(end);
    }
    beams = next;
    state = select(out.state, parents);
    last = tokens;
  }
  if (finished.length === 0) {
    return beams
      .map((h, b) => hypothesis(h.tokens, h.alphas, scores[b], false, alpha, h.lps))
      .filter((h) => h.logprob > -Infinity)
      .sort((a, b) => b.score - a.score);
  }
  return finished.sort((a, b) => b.score - a.score).slice(0, B);
}
