/**
 * Image captions on onnxruntime (node or web): greedy via greedy.onnx, greedy and beam
 * search via encoder.onnx + the decoder.onnx step graph, each word with its attention.
 *
 *     const cap = await Captioner.load(ort, read);          // or openCaptioner (node.js / web.js)
 *     const c = await cap.caption(rgbImage, { beamSize: 3 });
 *     c.text; c.score; c.attention[i];                       // grid x grid weights of word i
 *     c.confidence;                      // 0-1 when the bundle has confidence.json, else null
 * @module caption
 */
import { openSession, readConfig, readVerified } from "./bundle.js";
import { InputError, ModelFileError } from "./errors.js";
import { checkImage } from "./image.js";
import { beamSearch, greedySearch } from "./search.js";

export const FORMAT_VERSION = 2;
export const MAX_BEAM_SIZE = 32;
export const MAX_CAPTION_TOKENS = 200;
export const MAX_LENGTH_PENALTY = 10;

const ENCODER = [["images"], ["features", "keys", "h0", "c0"]];
const DECODER = [["tokens", "h", "c", "features", "keys"], ["logprobs", "h_out", "c_out", "alpha"]];
const GREEDY = [["images"], ["tokens", "alphas"]];

/**
 * @typedef {object} Caption
 * @property {string} text the words joined by spaces
 * @property {string[]} words without <start> / <end>
 * @property {number[]} tokens their ids
 * @property {number} score summed log-probability (length-normalised when lengthPenalty > 0)
 * @property {Float32Array[]} attention per word: grid * grid weights, row-major from the top left
 * @property {number} grid cells per side of the attention grid
 * @property {boolean} finished false when maxLen ran out before <end>
 * @property {number|null} confidence 0-1 (export/README.md "confidence.json"); null when the
 *   bundle has no confidence.json
 */

export class Captioner {
  /**
   * Load a caption bundle.
   * @param {object} ort onnxruntime-node or onnxruntime-web
   * @param {import("./bundle.js").ReadFn} read reads a file of the bundle folder
   * @param {{verify?: boolean, greedy?: boolean, sessionOptions?: object}} [options]
   *   verify: check config.json's sha256 digests (default true); greedy: also load
   *   greedy.onnx (default true)
   * @returns {Promise<Captioner>}
   */
  static async load(ort, read, { verify = true, greedy = true, sessionOptions = {} } = {}) {
    const config = await readConfig(read, FORMAT_VERSION);
    const vocab = config.vocab;
    if (!vocab || !Array.isArray(vocab.itos) || vocab.itos.length !== config.config?.vocab_size) {
      throw new ModelFileError("config.json: vocab.itos does not match config.vocab_size");
    }
    const open = async (file, [inputs, outputs]) =>
      openSession(ort, await readVerified(read, config, file, verify), file, inputs, outputs, sessionOptions);
    const encoder = await open("encoder.onnx", ENCODER);
    const decoder = await open("decoder.onnx", DECODER);
    const greedyGraph = greedy ? await open("greedy.onnx", GREEDY) : null;
    let calibration = null;
    if (config.files?.["confidence.json"]) {
      const bytes = await readVerified(read, config, "confidence.json", verify);
      calibration = checkCalibration(JSON.parse(new TextDecoder().decode(bytes)));
    }
    return new Captioner(ort, config, encoder, decoder, greedyGraph, calibration);
  }

  constructor(ort, config, encoder, decoder, greedyGraph, calibration = null) {
    this.calibration = calibration;
    this.ort = ort;
    this.config = config.config;
    this.vocab = config.vocab;
    this.grid = this.config.grid;
    this.maxLen = this.config.max_len;
    this.encoder = encoder;
    this.decoder = decoder;
    this.greedyGraph = greedyGraph;
  }

  imageTensor(image) {
    const { width, height, data } = checkImage(image);
    return new this.ort.Tensor("uint8", data, [1, height, width, 3]);
  }

  /**
   * encoder.onnx on one image.
   * @param {import("./png.js").RGBImage} image
   * @returns {Promise<{features: object, keys: object, h0: object, c0: object}>} ort tensors
   *   (features (1, K, D), keys (1, K, A), h0 and c0 (layers, 1, hidden))
   */
  async encode(image) {
    return this.encoder.run({ images: this.imageTensor(image) });
  }

  /**
   * One decoder.onnx step for every row.
   * @param {number[]} tokens previous word ids (rows)
   * @param {{h: object, c: object, features: object, keys: object}} state ort tensors
   * @returns {Promise<{logprobs: Float32Array, alpha: Float32Array, state: object}>}
   */
  async step(tokens, state) {
    const ids = new this.ort.Tensor("int64", BigInt64Array.from(tokens, BigInt), [tokens.length]);
    const o = await this.decoder.run({ tokens: ids, ...state });
    return {
      logprobs: o.logprobs.data,
      alpha: o.alpha.data,
      state: { ...state, h: o.h_out, c: o.c_out },
    };
  }

  /**
   * Caption one image: beam 1 is greedy (encoder + decoder steps).
   * @param {import("./png.js").RGBImage} image RGB pixels
   * @param {{beamSize?: number, maxLen?: number, lengthPenalty?: number}} [options]
   *   beamSize 1-32 (default 3), maxLen 1-200 (default the bundle's), lengthPenalty 0-10
   * @returns {Promise<Caption>}
   */
  async caption(image, { beamSize = 3, maxLen = this.maxLen, lengthPenalty = 0 } = {}) {
    for (const [name, value, top] of [["beamSize", beamSize, MAX_BEAM_SIZE], ["maxLen", maxLen, MAX_CAPTION_TOKENS]]) {
      if (!Number.isInteger(value) || value < 1 || value > top) {
        throw new InputError(`Captioner.caption: ${name} must be an integer from 1 to ${top}, got ${value}`);
      }
    }
    if (typeof lengthPenalty !== "number" || !(lengthPenalty >= 0 && lengthPenalty <= MAX_LENGTH_PENALTY)) {
      throw new InputError(`Captioner.caption: lengthPenalty must be a number from 0 to ${MAX_LENGTH_PENALTY}, got ${lengthPenalty}`);
    }
    const enc = await this.encode(image);
    const opt = { beamSize, maxLen, lengthPenalty, startId: this.vocab.start_id, endId: this.vocab.end_id };
    const step = (tokens, state) => this.step(tokens, state);
    let hyp;
    if (beamSize === 1) {
      hyp = await greedySearch(step, { h: enc.h0, c: enc.c0, features: enc.features, keys: enc.keys }, opt);
    } else {
      const state = {
        h: repeatRows(this.ort, enc.h0, 1, beamSize),
        c: repeatRows(this.ort, enc.c0, 1, beamSize),
        features: repeatRows(this.ort, enc.features, 0, beamSize),
        keys: repeatRows(this.ort, enc.keys, 0, beamSize),
      };
      const select = (s, parents) => ({
        ...s,
        h: takeRows(this.ort, s.h, 1, parents),
        c: takeRows(this.ort, s.c, 1, parents),
      });
      [hyp] = await beamSearch(step, select, state, opt);
    }
    return { ...this.toCaption(hyp), confidence: this.confidence(hyp, enc.features) };
  }

  /**
   * The contract's confidence of one caption: its token log-probabilities and the whitened
   * distance of the image's mean encoder feature from the training images'.
   * @param {import("./search.js").Hypothesis} hyp
   * @param {object} features encoder `features` tensor (1, K, D)
   * @returns {number|null}
   */
  confidence(hyp, features) {
    const cal = this.calibration;
    if (!cal) return null;
    if (!hyp.finished) return 0;
    const [, K, D] = features.dims;
    const f = new Float64Array(D);
    for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) f[d] += features.data[k * D + d];
    for (let d = 0; d < D; d++) f[d] = f[d] / K - cal.mean[d];
    let ss = 0;
    for (let i = 0; i < D; i++) {
      let z = 0;
      for (let d = 0; d < D; d++) z += cal.whiten[i][d] * f[d];
      ss += z * z;
    }
    const lps = hyp.tokenLogprobs;
    const x = [lps.reduce((a, b) => a + b, 0), Math.min(...lps), Math.log(ss / D + 1e-12)];
    let u = cal.bias;
    for (let i = 0; i < 3; i++) u += (cal.weights[i] * (x[i] - cal.center[i])) / cal.scale[i];
    return 1 / (1 + Math.exp(-u));
  }

  /**
   * greedy.onnx on one image: the whole greedy loop in one graph.
   * @param {import("./png.js").RGBImage} image
   * @returns {Promise<{tokens: number[], text: string}>} tokens as the graph gives them
   *   (after <end> come <pad>); text from the words before <end>
   */
  async greedyTokens(image) {
    if (!this.greedyGraph) throw new InputError("greedy.onnx was not loaded (greedy: false)");
    const o = await this.greedyGraph.run({ images: this.imageTensor(image) });
    const tokens = Array.from(o.tokens.data, Number);
    const end = tokens.indexOf(this.vocab.end_id);
    const words = (end < 0 ? tokens : tokens.slice(0, end)).filter((t) => !this.hidden(t));
    return { tokens, text: words.map((t) => this.vocab.itos[t]).join(" ") };
  }

  hidden(t) {
    return t === this.vocab.pad_id || t === this.vocab.start_id || t === this.vocab.end_id;
  }

  toCaption(hyp) {
    const keep = hyp.tokens.map((t) => !this.hidden(t));
    const tokens = hyp.tokens.filter((_, i) => keep[i]);
    const words = tokens.map((t) => this.vocab.itos[t]);
    const attention = hyp.alphas.filter((_, i) => keep[i]);
    return { text: words.join(" "), words, tokens, score: hyp.score, attention, grid: this.grid, finished: hyp.finished };
  }
}

/** confidence.json, checked: the contract's format and the shapes of its numbers. */
function checkCalibration(cal) {
  const FEATURES = ["logprob", "min_token_logprob", "log_distance"];
  const bad = (what) => new ModelFileError(`confidence.json: ${what}`);
  if (cal?.format !== "lstm-apps caption confidence 1") throw bad("not format 'lstm-apps caption confidence 1'");
  if (JSON.stringify(cal.features) !== JSON.stringify(FEATURES)) throw bad(`features must be ${FEATURES}`);
  const D = cal.mean?.length;
  if (!D || !Array.isArray(cal.whiten) || cal.whiten.length !== D || cal.whiten.some((r) => r.length !== D)) {
    throw bad("mean (D) and whiten (D x D) do not fit");
  }
  const finite = (v) => typeof v === "number" && Number.isFinite(v);
  for (const key of ["center", "scale", "weights"]) {
    if (!Array.isArray(cal[key]) || cal[key].length !== 3 || !cal[key].every(finite)) {
      throw bad(`${key} must hold 3 finite numbers`);
    }
  }
  if (!cal.scale.every((v) => v > 0)) throw bad("scale must be positive");
  if (!cal.mean.every(finite) || !cal.whiten.every((r) => r.every(finite))) throw bad("mean and whiten must be finite numbers");
  if (!finite(cal.bias)) throw bad("bias must be a finite number");
  return cal;
}

/** Each row of a float32 tensor `times` times in a row along `axis` (0 or 1). */
function repeatRows(ort, tensor, axis, times) {
  const rows = tensor.dims[axis];
  const order = [];
  for (let r = 0; r < rows; r++) for (let k = 0; k < times; k++) order.push(r);
  return takeRows(ort, tensor, axis, order);
}

/** Row j of the result is row rows[j] of `tensor` along `axis` (0 or 1). */
export function takeRows(ort, tensor, axis, rows) {
  const dims = tensor.dims;
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const src = tensor.data;
  const out = new Float32Array(outer * rows.length * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < rows.length; j++) {
      const from = (o * dims[axis] + rows[j]) * inner;
      out.set(src.subarray(from, from + inner), (o * rows.length + j) * inner);
    }
  }
  const shape = [...dims];
  shape[axis] = rows.length;
  return new ort.Tensor("float32", out, shape);
}
