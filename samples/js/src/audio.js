/**
 * Audio in: WAV bytes or float samples to mono float32 at the model's rate, or a typed
 * error. The rules and limits are the contract's (export/README.md, "Input audio"), as the
 * Python runtime applies them (lstm_apps/runtime/audio.py), with one difference: this port
 * does not resample. Audio at another rate is a SampleRateError; in a browser, ask an
 * AudioContext for 16000 Hz (`new AudioContext({sampleRate: 16000})`) and it resamples.
 * @module audio
 */
import { AudioInputError, SampleRateError } from "./errors.js";

export const MAX_AUDIO_SECONDS = 600.0;
export const MIN_SAMPLE_RATE = 1000;
export const MAX_SAMPLE_RATE = 384000;
export const MAX_FLOAT_PEAK = 2.0;

/**
 * The rate as an integer number of Hz in [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE], or a
 * SampleRateError naming `what`.
 * @param {unknown} rate
 * @param {string} what
 * @returns {number}
 */
export function checkSampleRate(rate, what) {
  if (typeof rate !== "number" || !Number.isInteger(rate)) {
    throw new SampleRateError(`${what} must be an integer number of Hz, got ${String(rate)}`);
  }
  if (rate < MIN_SAMPLE_RATE || rate > MAX_SAMPLE_RATE) {
    throw new SampleRateError(
      `${what} must be ${MIN_SAMPLE_RATE}-${MAX_SAMPLE_RATE} Hz, got ${rate}`,
    );
  }
  return rate;
}

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_EXTENSIBLE = 0xfffe;

/**
 * Decode a RIFF WAV file: PCM 8 (unsigned), 16, 24 or 32 bits, or IEEE float 32/64; mono or
 * multi-channel (averaged). PCM is scaled by its own width (int16 / 32768, 24-bit / 2^23,
 * int32 / 2^31, uint8 (x - 128) / 128), as libsndfile does for the Python runtime.
 * @param {Uint8Array} bytes the whole file
 * @param {string} [name] names the input in errors
 * @returns {{samples: Float32Array, sampleRate: number}} mono float32 (not yet clipped)
 */
export function decodeWav(bytes, name = "WAV input") {
  if (!(bytes instanceof Uint8Array)) {
    throw new AudioInputError(`${name}: expected the file's bytes as a Uint8Array`);
  }
  if (bytes.length === 0) throw new AudioInputError(`${name}: empty file (0 bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.length < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") {
    throw new AudioInputError(`${name}: not a RIFF WAVE file`);
  }
  let fmt = null;
  let data = null;
  for (let at = 12; at + 8 <= bytes.length; ) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === "fmt " && size >= 16) {
      let format = view.getUint16(body, true);
      if (format === FORMAT_EXTENSIBLE && size >= 40) format = view.getUint16(body + 24, true);
      fmt = {
        format,
        channels: view.getUint16(body + 2, true),
        rate: view.getUint32(body + 4, true),
        bits: view.getUint16(body + 14, true),
      };
    } else if (id === "data") {
      data = { start: body, size: Math.min(size, bytes.length - body) };
      break; // a data chunk that overstates its size (streamed writers) is read to the end
    }
    at = body + size + (size & 1);
  }
  if (fmt === null) throw new AudioInputError(`${name}: no 'fmt ' chunk`);
  if (data === null) throw new AudioInputError(`${name}: no 'data' chunk`);
  const { format, channels, rate, bits } = fmt;
  checkSampleRate(rate, `${name}: sample rate`);
  if (channels < 1) throw new AudioInputError(`${name}: 0 channels`);
  const known =
    (format === FORMAT_PCM && [8, 16, 24, 32].includes(bits)) ||
    (format === FORMAT_FLOAT && (bits === 32 || bits === 64));
  if (!known) {
    throw new AudioInputError(
      `${name}: unsupported WAV encoding (format ${format}, ${bits} bits); ` +
        "use PCM 8/16/24/32-bit or float 32/64-bit",
    );
  }
  const width = bits / 8;
  const frames = Math.floor(data.size / (width * channels));
  if (frames === 0) throw new AudioInputError(`${name}: contains no audio samples (0 frames)`);
  if (frames > MAX_AUDIO_SECONDS * rate) {
    throw new AudioInputError(
      `${name}: ${(frames / rate).toFixed(1)} s is over the limit of ${MAX_AUDIO_SECONDS} s`,
    );
  }
  const read = sampleReader(view, format, bits);
  const out = new Float32Array(frames);
  for (let i = 0, at = data.start; i < frames; i++) {
    let sum = 0;
    for (let ch = 0; ch < channels; ch++, at += width) sum += read(at);
    out[i] = channels === 1 ? sum : sum / channels;
  }
  return { samples: out, sampleRate: rate };
}

function sampleReader(view, format, bits) {
  if (format === FORMAT_FLOAT) {
    return bits === 32 ? (at) => view.getFloat32(at, true) : (at) => view.getFloat64(at, true);
  }
  switch (bits) {
    case 8:
      return (at) => (view.getUint8(at) - 128) / 128;
    case 16:
      return (at) => view.getInt16(at, true) / 32768;
    case 24:
      return (at) =>
        ((view.getInt8(at + 2) << 16) | (view.getUint8(at + 1) << 8) | view.getUint8(at)) /
        8388608;
    default:
      return (at) => view.getInt32(at, true) / 2147483648;
  }
}

/**
 * Check float samples against the contract's limits and return them ready for the model:
 * a new Float32Array clipped to [-1, 1].
 *
 * Refused (AudioInputError): no samples, NaN or infinity, a peak above MAX_FLOAT_PEAK
 * (unscaled PCM stored as float), over MAX_AUDIO_SECONDS. SampleRateError: a rate outside
 * 1000-384000 Hz, or not `modelRate` (this port does not resample).
 * @param {Float32Array|Float64Array|number[]} samples mono
 * @param {number} sampleRate of `samples`, Hz
 * @param {number} modelRate the bundle's rate (preprocessing.sample_rate)
 * @param {string} [name] names the input in errors
 * @returns {Float32Array}
 */
export function prepareAudio(samples, sampleRate, modelRate, name = "audio") {
  checkSampleRate(sampleRate, `${name}: sample rate`);
  if (sampleRate !== modelRate) {
    throw new SampleRateError(
      `${name}: sample rate ${sampleRate} Hz, the model takes ${modelRate} Hz; this port ` +
        `does not resample: resample first (in a browser: new AudioContext({sampleRate: ${modelRate}}))`,
    );
  }
  if (!(samples instanceof Float32Array || samples instanceof Float64Array || Array.isArray(samples))) {
    throw new AudioInputError(`${name}: expected mono float samples (Float32Array), got ${typeof samples}`);
  }
  const n = samples.length;
  if (n === 0) throw new AudioInputError(`${name}: contains no audio samples`);
  if (n > MAX_AUDIO_SECONDS * sampleRate) {
    throw new AudioInputError(
      `${name}: ${(n / sampleRate).toFixed(1)} s is over the limit of ${MAX_AUDIO_SECONDS} s`,
    );
  }
  const out = new Float32Array(n);
  let peak = 0;
  for (let i = 0; i < n; i++) {
    const v = samples[i];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new AudioInputError(`${name}: holds NaN or infinity (sample ${i})`);
    }
    const a = Math.abs(v);
    if (a > peak) peak = a;
    out[i] = v > 1 ? 1 : v < -1 ? -1 : v;
  }
  if (peak > MAX_FLOAT_PEAK) {
    throw new AudioInputError(
      `${name}: peak ${peak.toPrecision(4)} is above ${MAX_FLOAT_PEAK}: this looks like ` +
        "unscaled PCM stored as float; scale it to [-1, 1] (e.g. int16 / 32768)",
    );
  }
  return out;
}

/**
 * Centre-pad with zeros or centre-crop to exactly n samples (an odd extra padding sample goes
 * after the signal, an odd extra cropped sample comes off the front), as fit_length does.
 * @param {Float32Array} x
 * @param {number} n
 * @returns {Float32Array}
 */
export function fitLength(x, n) {
  if (x.length >= n) {
    const start = Math.floor((x.length - n + 1) / 2);
    return x.slice(start, start + n);
  }
  const out = new Float32Array(n);
  out.set(x, Math.floor((n - x.length) / 2));
  return out;
}
