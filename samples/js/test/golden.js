// Reading a bundle's golden/ vectors (export/README.md, "golden/") and comparing within
// the manifest's tolerances; shared by the golden tests of both backends.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

export const ROOT = new URL("../../../", import.meta.url);
export const SPEECH = new URL("export/speech/", ROOT);
export const CAPTION = new URL("export/caption/", ROOT);
const TYPES = { float32: Float32Array, uint8: Uint8Array, int64: BigInt64Array };

/** The manifest and its tensors by stem ("model_logits"), each {data, shape, tolerance}. */
export function loadGolden(bundle) {
  const dir = new URL("golden/", bundle);
  const manifest = JSON.parse(readFileSync(new URL("manifest.json", dir), "utf8"));
  const tensors = {};
  for (const [name, f] of Object.entries(manifest.files)) {
    if (!f.dtype) continue;
    const raw = readFileSync(new URL(name, dir));
    const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
    const data = new TYPES[f.dtype](buf); // little-endian, as the manifest says (and x86 is)
    assert.equal(data.length, f.shape.reduce((a, b) => a * b, 1), name);
    tensors[name.replace(/\.[^.]+$/, "")] = { data, shape: f.shape, tolerance: f.tolerance };
  }
  return { manifest, tensors, file: (name) => new Uint8Array(readFileSync(new URL(name, dir))) };
}

/**
 * Assert |got - want| <= atol + rtol * |want| everywhere; return the largest |got - want|.
 * @returns {number}
 */
export function assertClose(got, want, name) {
  const { atol, rtol = 0 } = want.tolerance;
  assert.equal(got.length, want.data.length, `${name}: length`);
  let max = 0, bad = 0;
  for (let i = 0; i < got.length; i++) {
    const w = Number(want.data[i]);
    const d = Math.abs(Number(got[i]) - w);
    if (!(d <= atol + rtol * Math.abs(w))) bad++;
    if (!(d <= max)) max = d; // NaN propagates as a failure above, and here
  }
  assert.equal(bad, 0, `${name}: ${bad} of ${got.length} values outside atol ${atol} rtol ${rtol} (max diff ${max})`);
  return max;
}

/** Largest |a - b| (for reports). */
export const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
