/**
 * Speech commands on onnxruntime (node or web): a clip to a label (model.onnx) and a stream
 * to detections (stream.onnx, its state carried between chunks, then the detector).
 *
 *     const clf = await SpeechClassifier.load(ort, read);   // or openSpeech (node.js / web.js)
 *     const p = await clf.classify(samples, 16000);         // {label, score, scores, windows}
 *     const stream = clf.stream();
 *     for (const chunk of chunks) for (const d of await stream.accept(chunk, 16000)) ...
 *     await stream.flush();                                 // the end of the stream
 * @module speech
 */
import { fitLength, prepareAudio } from "./audio.js";
import { openSession, readConfig, readVerified } from "./bundle.js";
import { Detector, softmaxInto } from "./detect.js";
import { InputError, ModelFileError } from "./errors.js";

export const FORMAT_VERSION = 2;
export const WINDOW_HOP_SECONDS = 0.25; // stride of the 1 s windows of a longer clip
export const BATCH_LIMIT = 64; // windows per model.onnx call
export const CELL_LIMIT = 100; // the stream clips c to +-100 after every chunk

const MODEL = [["waveform"], ["logits"]];
const STREAM = [["chunk", "context", "h", "c"], ["logits", "h_out", "c_out", "context_out"]];

/**
 * @typedef {object} Prediction
 * @property {string} label the most probable class of the chosen window
 * @property {number} score its probability
 * @property {Object<string, number>} scores every class -> probability (the chosen window)
 * @property {number} windows 1 s windows read
 */

export class SpeechClassifier {
  /**
   * Load a speech bundle.
   * @param {object} ort onnxruntime-node or onnxruntime-web
   * @param {import("./bundle.js").ReadFn} read reads a file of the bundle folder
   * @param {{int8?: boolean, stream?: boolean, verify?: boolean, sessionOptions?: object}}
   *   [options] int8: model.int8.onnx for clips (one window per call, as the contract says);
   *   stream: load stream.onnx (default true); verify: check the sha256 digests
   * @returns {Promise<SpeechClassifier>}
   */
  static async load(ort, read, { int8 = false, stream = true, verify = true, sessionOptions = {} } = {}) {
    const config = await readConfig(read, FORMAT_VERSION);
    if (!Array.isArray(config.labels) || config.labels.length === 0) {
      throw new ModelFileError("config.json: no labels");
    }
    const open = async (file, [inputs, outputs]) =>
      openSession(ort, await readVerified(read, config, file, verify), file, inputs, outputs, sessionOptions);
    const model = await open(int8 ? "model.int8.onnx" : "model.onnx", MODEL);
    const streamModel = stream ? await open("stream.onnx", STREAM) : null;
    return new SpeechClassifier(ort, config, model, streamModel, int8);
  }

  constructor(ort, config, model, streamModel, int8) {
    this.ort = ort;
    this.config = config;
    this.labels = config.labels;
    this.sampleRate = config.preprocessing.sample_rate;
    this.clipSamples = config.preprocessing.clip_samples;
    this.model = model;
    this.streamModel = streamModel;
    this.perCall = int8 ? 1 : BATCH_LIMIT; // int8 scales per tensor: one window per call
  }

  /**
   * model.onnx logits for windows of clipSamples samples each.
   * @param {Float32Array[]} windows
   * @returns {Promise<Float32Array>} (windows, classes) row-major
   */
  async logits(windows) {
    const n = this.clipSamples, classes = this.labels.length;
    const out = new Float32Array(windows.length * classes);
    for (let i = 0; i < windows.length; i += this.perCall) {
      const part = windows.slice(i, i + this.perCall);
      const x = new Float32Array(part.length * n);
      part.forEach((w, j) => x.set(w, j * n));
      const o = await this.model.run({ waveform: new this.ort.Tensor("float32", x, [part.length, n]) });
      out.set(o.logits.data, i * classes);
    }
    return out;
  }

  /**
   * Label one clip: up to 1 s is centre-padded to 1 s; a longer clip is read as 1 s windows
   * every 0.25 s (plus one ending at its last sample), and the window with the most
   * confident class other than _silence_ is chosen; its argmax over all classes is the label.
   * @param {Float32Array} samples mono, in [-1, 1] (a peak up to 2 is clipped)
   * @param {number} sampleRate must be the bundle's (16000): this port does not resample
   * @param {string} [name] names the input in errors
   * @returns {Promise<Prediction>}
   */
  async classify(samples, sampleRate, name = "clip") {
    const x = prepareAudio(samples, sampleRate, this.sampleRate, name);
    const n = this.clipSamples;
    const windows = [];
    if (x.length <= n) windows.push(fitLength(x, n));
    else {
      const hop = Math.round(WINDOW_HOP_SECONDS * this.sampleRate);
      let start = 0;
      for (; start + n <= x.length; start += hop) windows.push(x.subarray(start, start + n));
      if (start - hop + n !== x.length) windows.push(x.subarray(x.length - n));
    }
    const classes = this.labels.length;
    const logits = await this.logits(windows);
    const probs = new Float32Array(logits.length);
    for (let w = 0; w < windows.length; w++) softmaxInto(logits, w * classes, classes, probs);
    const silence = this.labels.indexOf("_silence_");
    let chosen = 0, chosenBest = -Infinity;
    for (let w = 0; w < windows.length; w++) {
      let best = -Infinity;
      for (let k = 0; k < classes; k++) if (k !== silence) best = Math.max(best, probs[w * classes + k]);
      if (best > chosenBest) { chosenBest = best; chosen = w; } // a tie keeps the first window
    }
    const row = probs.subarray(chosen * classes, (chosen + 1) * classes);
    let label = 0;
    for (let k = 1; k < classes; k++) if (row[k] > row[label]) label = k;
    const scores = Object.fromEntries(this.labels.map((s, k) => [s, row[k]]));
    return { label: this.labels[label], score: row[label], scores, windows: windows.length };
  }

  /**
   * A new stream over stream.onnx with the bundle's detector.
   * @param {{detector?: object, onPosteriors?: (probs: Float32Array, frames: number, first: number) => void}} [options]
   *   detector: settings overriding config.json's; onPosteriors: called with every chunk's
   *   float32 softmax frames (frames, classes) and the index of its first frame
   * @returns {CommandStream}
   */
  stream({ detector = {}, onPosteriors } = {}) {
    if (!this.streamModel) throw new InputError("stream.onnx was not loaded (stream: false)");
    return new CommandStream(this, { ...this.config.detector, ...detector }, onPosteriors);
  }
}

/** Spotting commands in a stream; see SpeechClassifier.stream. */
export class CommandStream {
  constructor(clf, settings, onPosteriors) {
    const s = clf.config.stream;
    this.clf = clf;
    this.hop = s.hop;
    this.detector = new Detector(clf.labels, settings, s.frame_seconds);
    this.onPosteriors = onPosteriors;
    this.shape = [s.num_layers, 1, s.hidden_size];
    this.contextSize = s.context;
    this.queue = Promise.resolve(); // accept() calls run one after another, in call order
    this.reset();
  }

  /** Forget the stream: zero state, nothing pending, the detector at time 0. */
  reset() {
    const size = this.shape.reduce((a, b) => a * b, 1);
    this.h = new Float32Array(size);
    this.c = new Float32Array(size);
    this.context = new Float32Array(this.contextSize);
    this.pending = new Float32Array(0);
    this.frames = 0; // frames run so far: frame j is at j * frame_seconds
    this.detector.reset();
  }

  /**
   * Feed the next piece of audio (any length); runs stream.onnx on the whole hops it
   * completes and returns the detections they finish.
   * @param {Float32Array} samples mono
   * @param {number} sampleRate must be the bundle's
   * @returns {Promise<import("./detect.js").Detection[]>}
   */
  accept(samples, sampleRate) {
    const run = this.queue.then(() => this.acceptNow(samples, sampleRate));
    this.queue = run.catch(() => {});
    return run;
  }

  /** End of the stream: pad what is pending to a whole hop, run it, decide the open bump. */
  flush() {
    const run = this.queue.then(async () => {
      const found = [];
      if (this.pending.length) {
        const padded = new Float32Array(Math.ceil(this.pending.length / this.hop) * this.hop);
        padded.set(this.pending);
        this.pending = new Float32Array(0);
        found.push(...(await this.run(padded)));
      }
      return [...found, ...this.detector.flush()];
    });
    this.queue = run.catch(() => {});
    return run;
  }

  async acceptNow(samples, sampleRate) {
    const clf = this.clf;
    if (samples.length === 0) return [];
    const x = prepareAudio(samples, sampleRate, clf.sampleRate, "stream chunk");
    const all = new Float32Array(this.pending.length + x.length);
    all.set(this.pending);
    all.set(x, this.pending.length);
    const n = Math.floor(all.length / this.hop) * this.hop;
    this.pending = all.slice(n);
    return n ? this.run(all.subarray(0, n)) : [];
  }

  async run(chunk) {
    const { ort, labels } = this.clf;
    const T = (data, dims) => new ort.Tensor("float32", data, dims);
    const o = await this.clf.streamModel.run({
      chunk: T(chunk.slice(), [1, chunk.length]),
      context: T(this.context, [1, this.contextSize]),
      h: T(this.h, this.shape),
      c: T(this.c, this.shape),
    });
    this.h = o.h_out.data.slice();
    this.c = o.c_out.data.map((v) => (v > CELL_LIMIT ? CELL_LIMIT : v < -CELL_LIMIT ? -CELL_LIMIT : v));
    this.context = o.context_out.data.slice();
    const classes = labels.length;
    const frames = o.logits.dims[1];
    const probs = new Float32Array(frames * classes);
    for (let f = 0; f < frames; f++) softmaxInto(o.logits.data, f * classes, classes, probs);
    this.onPosteriors?.(probs, frames, this.frames);
    this.frames += frames;
    this.lastLogits = o.logits.data; // (frames, classes), for checks against golden vectors
    return this.detector.push(probs, frames);
  }
}
