/**
 * The browser entry point: onnxruntime-web (wasm), bundle files fetched over HTTP, images
 * decoded by png.js (PNG) and by the browser (JPEG: Chromium's decoder is libjpeg-turbo).
 * The page maps the bare name "onnxruntime-web" to its dist files with an import map
 * (samples/web/index.html); nothing is bundled or built.
 *
 *     import { openCaptioner, openSpeech, readImage } from "/js/web.js";
 *     const cap = await openCaptioner("/export/caption");
 * @module web
 */
import * as ortWeb from "onnxruntime-web";
import { Captioner } from "./caption.js";
import { ImageInputError } from "./errors.js";
import { checkImage, decodeImage } from "./image.js";
import { SpeechClassifier } from "./speech.js";

export * from "./index.js";

ortWeb.env.wasm.numThreads = 1; // no cross-origin isolation needed; the models are small

/**
 * A read function over a base URL.
 * @param {string} base e.g. "/export/caption"
 * @returns {(path: string) => Promise<Uint8Array>}
 */
export function urlReader(base) {
  return async (path) => {
    const res = await fetch(`${base.replace(/\/$/, "")}/${path}`);
    if (!res.ok) throw new Error(`${res.status} ${res.statusText} for ${res.url}`);
    return new Uint8Array(await res.arrayBuffer());
  };
}

/** A Captioner on a bundle URL. @param {string} base @param {object} [options] */
export function openCaptioner(base, { ort = ortWeb, ...options } = {}) {
  return Captioner.load(ort, urlReader(base), options);
}

/** A SpeechClassifier on a bundle URL. @param {string} base @param {object} [options] */
export function openSpeech(base, { ort = ortWeb, ...options } = {}) {
  return SpeechClassifier.load(ort, urlReader(base), options);
}

/**
 * JPEG (or any format the browser knows) through the browser's decoder: EXIF orientation
 * applied, no colour management, alpha not premultiplied.
 * @param {Uint8Array} bytes
 * @param {string} name
 */
export async function decodeWithBrowser(bytes, name) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]), {
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
      imageOrientation: "from-image",
    });
  } catch (e) {
    throw new ImageInputError(`${name}: the browser cannot decode it (${e.message})`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  return checkImage({ width: bitmap.width, height: bitmap.height, data }, name);
}

/**
 * Image file bytes (PNG by png.js, JPEG by the browser) to RGB pixels.
 * @param {Uint8Array} bytes
 * @param {string} [name]
 */
export function readImage(bytes, name = "image") {
  return decodeImage(bytes, { name, decodeJpeg: decodeWithBrowser });
}
