/**
 * The Node entry point: onnxruntime-node, bundle files read from disk.
 *
 *     import { openCaptioner, openSpeech, readImage, readWav } from "lstm-apps/node";
 *     const cap = await openCaptioner("export/caption");
 *     console.log((await cap.caption(await readImage("samples/images/scene1.png"))).text);
 *     const clf = await openSpeech("export/speech");
 *     const { samples, sampleRate } = await readWav("samples/speech/yes_f5ff9db1.wav");
 *     console.log(await clf.classify(samples, sampleRate));
 *
 * JPEG files are refused (see image.js): decode them with libjpeg-turbo and pass pixels.
 * @module node
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as ortNode from "onnxruntime-node";
import { decodeWav } from "./audio.js";
import { Captioner } from "./caption.js";
import { decodeImage } from "./image.js";
import { SpeechClassifier } from "./speech.js";

export * from "./index.js";

/**
 * A read function over a folder on disk.
 * @param {string} dir
 * @returns {(path: string) => Promise<Uint8Array>}
 */
export function folderReader(dir) {
  return async (path) => new Uint8Array(await readFile(join(dir, path)));
}

/**
 * A Captioner on a caption bundle folder.
 * @param {string} dir e.g. "export/caption"
 * @param {object} [options] Captioner.load's, plus `ort` (default onnxruntime-node)
 */
export function openCaptioner(dir, { ort = ortNode, ...options } = {}) {
  return Captioner.load(ort, folderReader(dir), options);
}

/**
 * A SpeechClassifier on a speech bundle folder.
 * @param {string} dir e.g. "export/speech"
 * @param {object} [options] SpeechClassifier.load's, plus `ort` (default onnxruntime-node)
 */
export function openSpeech(dir, { ort = ortNode, ...options } = {}) {
  return SpeechClassifier.load(ort, folderReader(dir), options);
}

/** An image file (PNG) to RGB pixels. @param {string} path */
export async function readImage(path) {
  return decodeImage(new Uint8Array(await readFile(path)), { name: path });
}

/** A WAV file to mono float32 samples and its rate. @param {string} path */
export async function readWav(path) {
  return decodeWav(new Uint8Array(await readFile(path)), path);
}
