/**
 * Label WAV clips, or spot commands in a WAV stream, with the JS port in Node, printing JSON.
 *
 *     node samples/js/examples/speech.js classify samples/speech/yes_f5ff9db1.wav ...
 *     node samples/js/examples/speech.js stream samples/speech/stream.wav [--chunk 1600]
 *
 * classify: one line per file, {"file", "label", "score", "windows"}; stream: one line per
 * detection, {"label", "time", "score"}. tests/test_js.py compares them with the Python
 * runtime's.
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { openSpeech, readWav } from "../src/node.js";

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      chunk: { type: "string", default: "1600" },
      bundle: { type: "string", default: fileURLToPath(new URL("../../../export/speech", import.meta.url)) },
    },
  });
  const [mode, ...files] = positionals;
  if (!["classify", "stream"].includes(mode) || files.length === 0) {
    throw new Error("usage: speech.js classify|stream FILE.wav...");
  }
  const clf = await openSpeech(values.bundle, { stream: mode === "stream" });
  for (const file of files) {
    const { samples, sampleRate } = await readWav(file);
    if (mode === "classify") {
      const p = await clf.classify(samples, sampleRate, file);
      console.log(JSON.stringify({ file, label: p.label, score: p.score, windows: p.windows }));
      continue;
    }
    const stream = clf.stream();
    const chunk = Number(values.chunk);
    const found = [];
    for (let i = 0; i < samples.length; i += chunk) {
      found.push(...(await stream.accept(samples.subarray(i, i + chunk), sampleRate)));
    }
    found.push(...(await stream.flush()));
    for (const d of found) console.log(JSON.stringify(d));
  }
}

main().catch((e) => {
  console.error(`speech.js: ${e.name}: ${e.message}`);
  process.exit(2);
});
