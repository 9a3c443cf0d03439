// The speech bundle's golden vectors in both backends: decoded audio exactly, every graph
// output within the manifest's tolerance, the label and the detections exactly.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { AudioInputError, SampleRateError, SpeechClassifier, decodeWav } from "../src/index.js";
import { folderReader } from "../src/node.js";
import { BACKENDS } from "./backends.js";
import { SPEECH, assertClose, loadGolden } from "./golden.js";

const golden = loadGolden(SPEECH);
const { manifest, tensors: g } = golden;
const read = folderReader(fileURLToPath(SPEECH));
const report = {}; // largest differences, printed at the end (export/README.md cites them)

test("WAV decoding gives the golden waveforms exactly (int16 / 32768)", () => {
  const clip = decodeWav(golden.file("clip.wav"), "clip.wav");
  assert.equal(clip.sampleRate, 16000);
  assertClose(clip.samples, g.clip_waveform, "clip_waveform");
  const stream = decodeWav(golden.file("stream.wav"), "stream.wav");
  assert.ok(stream.samples.length <= g.stream_waveform.data.length);
  const head = { ...g.stream_waveform, data: g.stream_waveform.data.subarray(0, stream.samples.length) };
  assertClose(stream.samples, head, "stream_waveform");
});

for (const [backend, ort] of Object.entries(BACKENDS)) {
  describe(`speech golden in ${backend}`, () => {
    const diffs = (report[backend] = {});
    test("model.onnx and model.int8.onnx logits; the clip's label", async () => {
      const clf = await SpeechClassifier.load(ort, read, { stream: false });
      const x = g.clip_waveform.data;
      diffs.model_logits = assertClose(await clf.logits([x]), g.model_logits, "model_logits");
      const p = await clf.classify(decodeWav(golden.file("clip.wav")).samples, 16000);
      assert.equal(p.label, manifest.expect.clip_label);
      assert.ok(Math.abs(p.score - manifest.expect.clip_probability) <= 1e-4, `${p.score}`);
      const q = await SpeechClassifier.load(ort, read, { int8: true, stream: false });
      diffs.model_int8_logits = assertClose(await q.logits([x]), g.model_int8_logits, "model_int8_logits");
    });

    test("stream.onnx in 1600-sample chunks: logits, h, c and the detections", async () => {
      const clf = await SpeechClassifier.load(ort, read);
      const stream = clf.stream();
      const audio = g.stream_waveform.data;
      const logits = [], found = [];
      for (let i = 0; i < audio.length; i += 1600) {
        found.push(...(await stream.accept(audio.subarray(i, i + 1600), 16000)));
        logits.push(...stream.lastLogits);
      }
      found.push(...(await stream.flush()));
      diffs.stream_logits = assertClose(logits, g.stream_logits, "stream_logits");
      diffs.stream_h = assertClose(stream.h, g.stream_h, "stream_h");
      diffs.stream_c = assertClose(stream.c, g.stream_c, "stream_c");
      const want = manifest.expect.stream_detections;
      assert.ok(want.length >= 2);
      assert.deepEqual(
        found.map((d) => [d.label, Math.round(d.time * 1e4) / 1e4]),
        want.map((d) => [d.label, d.time]),
      );
      found.forEach((d, i) => assert.ok(Math.abs(d.score - want[i].score) <= 1e-4, `${d.score}`));
      diffs.detection_scores = Math.max(...found.map((d, i) => Math.abs(d.score - want[i].score)));
    });

    test("bad audio raises typed errors", async () => {
      const clf = await SpeechClassifier.load(ort, read, { verify: false });
      const ok = new Float32Array(16000);
      await assert.rejects(clf.classify(ok, 44100), SampleRateError);
      await assert.rejects(clf.classify(ok, 16000.5), SampleRateError);
      await assert.rejects(clf.classify(ok, 500), /1000-384000 Hz/);
      await assert.rejects(clf.classify(new Float32Array(0), 16000), AudioInputError);
      await assert.rejects(clf.classify(Float32Array.of(0, NaN, 0), 16000), /NaN/);
      await assert.rejects(clf.classify(Float32Array.of(0, 2.5, 0), 16000), /above 2/);
      await assert.rejects(clf.classify(new Float32Array(600 * 16000 + 1), 16000), /over the limit/);
      await assert.rejects(clf.stream().accept(ok, 8000), SampleRateError);
      const loud = await clf.classify(Float32Array.from(ok, (_, i) => 1.5 * Math.sin(i / 5)), 16000);
      assert.ok(loud.score > 0); // a peak in (1, 2] is clipped, not refused
      assert.throws(() => decodeWav(new TextEncoder().encode("RIFF....WAVEjunk")), /no 'fmt ' chunk/);
      assert.throws(() => decodeWav(new Uint8Array(0)), AudioInputError);
    });
  });
}

test("longer clips: 1 s windows every 0.25 s plus one ending at the last sample", async () => {
  const clf = await SpeechClassifier.load(BACKENDS["onnxruntime-node"], read, { stream: false, verify: false });
  const clip = g.clip_waveform.data;
  const long = new Float32Array(16000 + 4000 + 123);
  long.set(clip, 4000 + 123); // the word in the last window only
  const p = await clf.classify(long, 16000);
  assert.equal(p.windows, 3); // starts 0 and 4000, and one ending at the last sample
  assert.equal(p.label, manifest.expect.clip_label);
  assert.ok(Math.abs(p.score - manifest.expect.clip_probability) <= 1e-4);
});

test.after(() => console.log(`speech max |diff| ${JSON.stringify(report)}`));
