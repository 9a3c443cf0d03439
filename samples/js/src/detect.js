/**
 * Keyword spotting on a stream: per-frame posteriors in, one Detection per spoken word out.
 * Written from the contract (export/README.md, the detector): a trailing moving average,
 * bumps with a hold, a refractory time and a cap, in float32 with ties to the first frame.
 *
 *     const det = new Detector(labels, detectorSettings, 0.02);
 *     for (const d of det.push(probs, frames)) console.log(d.label, d.time, d.score);
 *     det.flush();   // at the end of the stream
 *
 * The precision is part of the rule: posteriors saturate at 1.0 in float32 and a float32
 * 10-frame sum of them is exactly 10, a plateau of ties whose first frame is the peak. So
 * every sum here is rounded to float32 after each addition (Math.fround), added oldest
 * frame first, then divided by the window (not multiplied by its inverse); only the
 * comparisons with the thresholds use the settings as doubles.
 * @module detect
 */
import { InputError } from "./errors.js";

/**
 * @typedef {object} Detection
 * @property {string} label the command
 * @property {number} score its smoothed posterior at the peak (a float32 value)
 * @property {number} time seconds from the stream start to the centre of the peak's window
 */

export const DETECTOR_DEFAULTS = Object.freeze({
  smooth_seconds: 0.2,
  threshold: 0.7,
  release_threshold: null,
  hold_seconds: 0.16,
  refractory_seconds: 0.8,
  max_bump_seconds: 0.8,
  min_frames: 3,
  ignore: ["_silence_", "_unknown_"],
});

const IDLE = 0, BUMP = 1, IGNORE = 2;

/** Python's round(): to the nearest integer, halves to even. @param {number} x */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Softmax of one frame's logits in float32: exp(l - max) / sum, each step rounded to
 * float32, as the contract specifies for the detector's input.
 * @param {Float32Array} logits
 * @param {number} offset first logit of the frame
 * @param {number} n classes
 * @param {Float32Array} out written at `offset`
 */
export function softmaxInto(logits, offset, n, out) {
  let max = -Infinity;
  for (let k = 0; k < n; k++) max = Math.max(max, logits[offset + k]);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    const e = Math.fround(Math.exp(Math.fround(logits[offset + k] - max)));
    out[offset + k] = e;
    sum = Math.fround(sum + e);
  }
  for (let k = 0; k < n; k++) out[offset + k] = Math.fround(out[offset + k] / sum);
}

/** A stateful detector over a stream of posterior frames. */
export class Detector {
  /**
   * @param {string[]} labels class names in the order of the posterior columns
   * @param {object} settings the bundle's `detector` (config.json); missing keys take the
   *   contract's defaults
   * @param {number} frameSeconds the model's hop, e.g. 0.02 (`stream.frame_seconds`)
   */
  constructor(labels, settings, frameSeconds) {
    const unknown = Object.keys(settings).filter((k) => !(k in DETECTOR_DEFAULTS));
    if (unknown.length) throw new InputError(`detector settings: unknown keys ${unknown}`);
    const s = { ...DETECTOR_DEFAULTS, ...settings };
    if (!("max_bump_seconds" in settings) && "refractory_seconds" in settings) {
      s.max_bump_seconds = Math.max(s.refractory_seconds, frameSeconds); // format 1 bundles
    }
    if (!(s.threshold > 0 && s.threshold <= 1)) throw new InputError(`detector threshold must be in (0, 1], got ${s.threshold}`);
    const release = s.release_threshold ?? s.threshold / 2;
    if (!(release > 0 && release <= s.threshold)) throw new InputError(`detector release_threshold must be in (0, threshold], got ${release}`);
    if (!Number.isInteger(s.min_frames) || s.min_frames < 1) throw new InputError(`detector min_frames must be a positive integer, got ${s.min_frames}`);
    this.labels = [...labels];
    this.live = this.labels.flatMap((name, i) => (s.ignore.includes(name) ? [] : [i]));
    this.window = Math.max(1, roundHalfEven(s.smooth_seconds / frameSeconds));
    this.threshold = s.threshold;
    this.release = release;
    this.hold = roundHalfEven(s.hold_seconds / frameSeconds);
    this.refractory = roundHalfEven(s.refractory_seconds / frameSeconds);
    this.cap = Math.max(roundHalfEven(s.max_bump_seconds / frameSeconds), s.min_frames);
    this.minFrames = s.min_frames;
    this.frameSeconds = frameSeconds;
    this.reset();
  }

  /** Forget everything: the next push starts a new stream at time 0. */
  reset() {
    // the last window frames of the live columns, a ring; zeros: silence before frame 0
    this.ring = new Float32Array(this.window * this.live.length);
    this.framesSeen = 0;
    this.mode = IDLE;
    this.length = 0;
    this.above = 0;
    this.dip = 0;
    this.peak = { score: -1, frame: -1, label: -1 };
    this.lastPeak = null;
  }

  /**
   * Feed the next frames; return the detections they complete, in time order.
   * @param {Float32Array} probs (frames, classes) row-major: softmax outputs
   * @param {number} frames
   * @returns {Detection[]}
   */
  push(probs, frames) {
    const classes = this.labels.length;
    if (probs.length !== frames * classes) {
      throw new InputError(`Detector.push: ${probs.length} values for ${frames} frames of ${classes} classes`);
    }
    const live = this.live, nl = live.length, w = this.window, ring = this.ring;
    const out = [];
    for (let f = 0; f < frames; f++) {
      const t = this.framesSeen++;
      if (nl === 0) continue;
      const slot = t % w;
      for (let j = 0; j < nl; j++) ring[slot * nl + j] = probs[f * classes + live[j]];
      let best = -Infinity, which = -1;
      for (let j = 0; j < nl; j++) {
        let acc = 0;
        for (let k = w - 1; k >= 0; k--) acc = Math.fround(acc + ring[((t - k + w * 2) % w) * nl + j]);
        const m = Math.fround(acc / w);
        if (m > best) { best = m; which = live[j]; } // strictly: a tie keeps the first label
      }
      const d = this.step(t, best, which);
      if (d) out.push(d);
    }
    return out;
  }

  /** End of stream: decide the bump in progress. @returns {Detection[]} */
  flush() {
    if (this.mode !== BUMP) return [];
    this.mode = IGNORE;
    const d = this.emit();
    return d ? [d] : [];
  }

  step(t, score, label) {
    if (this.mode === IGNORE) { // no hold here: a dip is where the next word may start
      if (score < this.release) this.mode = IDLE;
      return null;
    }
    if (this.mode === IDLE) {
      if (score < this.threshold) return null;
      if (this.lastPeak !== null && t - this.lastPeak < this.refractory) {
        this.mode = IGNORE;
        return null;
      }
      this.mode = BUMP;
      this.length = this.above = this.dip = 0;
      this.peak = { score, frame: t, label };
    }
    this.dip = score >= this.release ? 0 : this.dip + 1;
    if (this.dip > this.hold) { // the bump closes; this frame is not part of it
      this.mode = IDLE;
      return this.emit();
    }
    this.length += 1;
    if (score >= this.threshold) this.above += 1;
    if (score > this.peak.score) this.peak = { score, frame: t, label };
    if (this.length >= this.cap) {
      this.mode = IGNORE;
      return this.emit();
    }
    return null;
  }

  emit() {
    if (this.above < this.minFrames) return null;
    const { score, frame, label } = this.peak;
    this.lastPeak = frame;
    const centre = Math.max(0, frame - (this.window - 1) / 2);
    return { label: this.labels[label], score, time: centre * this.frameSeconds };
  }
}
