// The caption bundle's golden vectors in both backends: decoded pixels exactly, every graph
// output within the manifest's tolerance, greedy.onnx's tokens and the captions exactly.
// The JPEG starts from the golden jpg_pixels (libjpeg-turbo's decode): this port has no
// JPEG decoder in Node, since a pure-JS one (jpeg-js) differs from libjpeg-turbo by up to
// 63 levels on it (export/README.md); the browser test decodes it with Chromium's.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { Captioner, ImageInputError, InputError, decodeImage } from "../src/index.js";
import { folderReader } from "../src/node.js";
import { BACKENDS } from "./backends.js";
import { CAPTION, assertClose, loadGolden } from "./golden.js";

const golden = loadGolden(CAPTION);
const { manifest, tensors: g } = golden;
const read = folderReader(fileURLToPath(CAPTION));
const pixels = (t) => ({ height: t.shape[0], width: t.shape[1], data: t.data });
const report = {};

test("image.png decodes to png_pixels exactly; a JPEG without a decoder is refused", async () => {
  const png = await decodeImage(golden.file("image.png"), { name: "image.png" });
  assert.deepEqual([png.height, png.width], g.png_pixels.shape.slice(0, 2));
  assertClose(png.data, g.png_pixels, "png_pixels");
  await assert.rejects(decodeImage(golden.file("image.jpg")), ImageInputError);
});

for (const [backend, ort] of Object.entries(BACKENDS)) {
  describe(`caption golden in ${backend}`, () => {
    const diffs = (report[backend] = {});
    let cap;
    test("load (sha256 of every graph checked against config.json)", async () => {
      cap = await Captioner.load(ort, read);
    });

    test("encoder.onnx, the first decoder.onnx step, greedy.onnx", async () => {
      const enc = await cap.encode(pixels(g.png_pixels));
      for (const k of ["features", "keys", "h0", "c0"]) {
        diffs[`encoder_${k}`] = assertClose(enc[k].data, g[`encoder_${k}`], `encoder_${k}`);
      }
      const T = (t) => new ort.Tensor("float32", t.data, t.shape);
      const state = { h: T(g.encoder_h0), c: T(g.encoder_c0), features: T(g.encoder_features), keys: T(g.encoder_keys) };
      const o = await cap.decoder.run({ tokens: new ort.Tensor("int64", BigInt64Array.of(1n), [1]), ...state });
      for (const k of ["logprobs", "alpha", "h_out", "c_out"]) {
        diffs[`decoder_${k}`] = assertClose(o[k].data, g[`decoder_${k}`], `decoder_${k}`);
      }
      const greedy = await cap.greedyTokens(pixels(g.png_pixels));
      assert.deepEqual(greedy.tokens, Array.from(g.greedy_tokens.data, Number));
      assert.equal(greedy.text, manifest.expect.png_beam1.text);
    });

    for (const name of ["png", "jpg"]) {
      for (const beamSize of [1, 3]) {
        test(`${name} beam ${beamSize}: the caption exactly, its score to 1e-4`, async () => {
          const c = await cap.caption(pixels(g[`${name}_pixels`]), { beamSize });
          const want = manifest.expect[`${name}_beam${beamSize}`];
          assert.equal(c.text, want.text);
          const d = Math.abs(c.score - want.score);
          assert.ok(d <= 1e-4, `score ${c.score} vs ${want.score}`);
          diffs[`${name}_beam${beamSize}_score`] = d;
          // the bundle's confidence.json, computed as the contract says
          assert.ok(typeof want.confidence === "number", "the golden captions carry a confidence");
          const dc = Math.abs(c.confidence - want.confidence);
          assert.ok(dc <= 1e-4, `confidence ${c.confidence} vs ${want.confidence}`);
          diffs[`${name}_beam${beamSize}_confidence`] = dc;
          assert.equal(c.attention.length, c.words.length);
          for (const a of c.attention) {
            assert.equal(a.length, cap.grid * cap.grid);
            assert.ok(Math.abs(a.reduce((s, v) => s + v, 0) - 1) < 1e-4); // a softmax
          }
          assert.ok(c.finished);
        });
      }
    }
  });
}

test("bad caption options and pixels raise typed errors", async () => {
  const cap = await Captioner.load(BACKENDS["onnxruntime-node"], read, { verify: false, greedy: false });
  const img = pixels(g.png_pixels);
  for (const bad of [{ beamSize: 0 }, { beamSize: 33 }, { beamSize: 2.5 }, { maxLen: 0 }, { maxLen: 201 }, { lengthPenalty: -1 }, { lengthPenalty: NaN }]) {
    await assert.rejects(cap.caption(img, bad), InputError, JSON.stringify(bad));
  }
  await assert.rejects(cap.caption({ width: 2, height: 2, data: new Uint8Array(5) }), ImageInputError);
  await assert.rejects(cap.caption({ width: 0, height: 2, data: new Uint8Array(0) }), /no pixels/);
  const short = await cap.caption(img, { beamSize: 3, maxLen: 2 }); // no <end> in 2 tokens
  assert.equal(short.finished, false);
  assert.equal(short.words.length, 2);
  // RGBA in (a canvas ImageData): the alpha is dropped, the caption is the RGB one
  const rgba = new Uint8Array((img.data.length / 3) * 4).fill(9);
  for (let i = 0; i < img.data.length / 3; i++) rgba.set(img.data.subarray(3 * i, 3 * i + 3), 4 * i);
  const c = await cap.caption({ ...img, data: rgba }, { beamSize: 1 });
  assert.equal(c.text, manifest.expect.png_beam1.text);
});

test.after(() => console.log(`caption max |diff| ${JSON.stringify(report)}`));
