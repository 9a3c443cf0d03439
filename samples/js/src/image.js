/**
 * Images in: file bytes or pixel arrays to an RGBImage ({width, height, data} RGB uint8 HWC),
 * the encoder's `images` row.
 *
 * PNG is decoded by png.js (pure JavaScript, the same in Node and the browser). JPEG has no
 * decoder here: the contract's reference is libjpeg-turbo, and a pure-JavaScript decoder
 * (jpeg-js) differs from it by up to 63 levels on samples/images/scene3.jpg. So JPEG
 * decoding is injected: the browser entry (web.js) passes the browser's own decoder
 * (Chromium's is libjpeg-turbo); in Node, decode with a libjpeg-turbo binding and pass
 * the pixels, or pass `decodeJpeg` yourself.
 * @module image
 */
import { ImageInputError } from "./errors.js";
import { MAX_IMAGE_PIXELS, decodePng, isPng } from "./png.js";

export { MAX_IMAGE_PIXELS, decodePng, isPng };

/** @typedef {import("./png.js").RGBImage} RGBImage */

/** True if `bytes` start with a JPEG SOI marker. @param {Uint8Array} bytes */
export function isJpeg(bytes) {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/**
 * Decode an image file (PNG, or JPEG through `decodeJpeg`) to RGB.
 * @param {Uint8Array} bytes the whole file
 * @param {object} [options]
 * @param {string} [options.name] names the input in errors
 * @param {(bytes: Uint8Array, name: string) => Promise<RGBImage>} [options.decodeJpeg]
 * @returns {Promise<RGBImage>}
 */
export async function decodeImage(bytes, { name = "image", decodeJpeg } = {}) {
  if (!(bytes instanceof Uint8Array)) {
    throw new ImageInputError(`${name}: expected the file's bytes as a Uint8Array`);
  }
  if (bytes.length === 0) throw new ImageInputError(`${name}: the file is empty`);
  if (isPng(bytes)) return decodePng(bytes, name);
  if (isJpeg(bytes)) {
    if (!decodeJpeg) {
      throw new ImageInputError(
        `${name}: JPEG needs a libjpeg-turbo decoder, which this build has none of; decode ` +
          "it (e.g. with sharp or a browser canvas) and pass RGB pixels (samples/js/README.md)",
      );
    }
    return checkImage(await decodeJpeg(bytes, name), name);
  }
  throw new ImageInputError(`${name}: not a PNG or JPEG file`);
}

/**
 * Check pixels and return them as an RGBImage: RGB (3 values a pixel) as they are, RGBA
 * (4, e.g. a canvas ImageData) with the alpha dropped, not composited.
 * @param {{width: number, height: number, data: Uint8Array|Uint8ClampedArray}} image
 * @param {string} [name]
 * @returns {RGBImage}
 */
export function checkImage(image, name = "image") {
  const { width, height, data } = image ?? {};
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageInputError(`${name}: image has no pixels (${width}x${height})`);
  }
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new ImageInputError(`${name}: ${width}x${height} pixels is over the limit of ${MAX_IMAGE_PIXELS}`);
  }
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new ImageInputError(`${name}: pixels must be a Uint8Array (RGB or RGBA)`);
  }
  const n = width * height;
  if (data.length === n * 3) return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  if (data.length !== n * 4) {
    throw new ImageInputError(
      `${name}: ${data.length} values for ${width}x${height} pixels; want RGB (${n * 3}) or RGBA (${n * 4})`,
    );
  }
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    rgb[3 * i] = data[4 * i];
    rgb[3 * i + 1] = data[4 * i + 1];
    rgb[3 * i + 2] = data[4 * i + 2];
  }
  return { width, height, data: rgb };
}
