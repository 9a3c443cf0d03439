// The two backends the golden tests run on: onnxruntime-node (native CPU) and
// onnxruntime-web's wasm backend loaded in Node (what the browser runs, single-threaded).
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";

ortWeb.env.wasm.numThreads = 1;

export const BACKENDS = { "onnxruntime-node": ortNode, "onnxruntime-web (wasm)": ortWeb };
