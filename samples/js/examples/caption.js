/**
 * Caption PNG images with the JS port in Node (onnxruntime-node), printing JSON lines.
 *
 *     node samples/js/examples/caption.js samples/images/scene1.png --beam 3 [--length-penalty 1]
 *
 * Each line: {"file", "text", "score", "finished", "words"}. tests/test_js.py compares them
 * with the Python runtime's captions.
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { openCaptioner, readImage } from "../src/node.js";

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      beam: { type: "string", default: "3" },
      "length-penalty": { type: "string", default: "0" },
      bundle: { type: "string", default: fileURLToPath(new URL("../../../export/caption", import.meta.url)) },
    },
  });
  const cap = await openCaptioner(values.bundle);
  for (const file of positionals) {
    const c = await cap.caption(await readImage(file), {
      beamSize: Number(values.beam),
      lengthPenalty: Number(values["length-penalty"]),
    });
    console.log(JSON.stringify({ file, text: c.text, score: c.score, finished: c.finished, words: c.words }));
  }
}

main().catch((e) => {
  console.error(`caption.js: ${e.name}: ${e.message}`);
  process.exit(2);
});
