/**
 * A PNG decoder in plain JavaScript: every PNG colour type, bit depth and Adam7 interlacing,
 * to RGB uint8 by the contract's rules (export/README.md, "Input images"): alpha dropped
 * without compositing, grey replicated to 3 channels, 16-bit samples to their high byte
 * (v >> 8, not round(v / 257)), 1/2/4-bit grey scaled to 0-255 as PIL does (x 255, 85, 17),
 * palettes looked up. gAMA, iCCP and sRGB are ignored, as PIL ignores them. The EXIF
 * orientation of an eXIf chunk is not applied (see samples/js/README.md).
 *
 * The zlib stream is inflated with DecompressionStream, which both Node (>= 18) and
 * browsers have, so one source serves both.
 * @module png
 */
import { ImageInputError } from "./errors.js";

/** The largest image accepted, in pixels (as the Python runtime: 40 MP), from the header. */
export const MAX_IMAGE_PIXELS = 40_000_000;

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
// Adam7: [x0, y0, dx, dy] of each pass
const ADAM7 = [
  [0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4],
  [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2],
];

/**
 * @typedef {object} RGBImage
 * @property {number} width
 * @property {number} height
 * @property {Uint8Array} data RGB, row-major, length height * width * 3 (HWC)
 */

/** True if `bytes` start with the PNG signature. @param {Uint8Array} bytes */
export function isPng(bytes) {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

/**
 * Decode a PNG file to RGB.
 * @param {Uint8Array} bytes the whole file
 * @param {string} [name] names the input in errors
 * @returns {Promise<RGBImage>}
 */
export async function decodePng(bytes, name = "PNG image") {
  if (!isPng(bytes)) throw new ImageInputError(`${name}: not a PNG file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header = null;
  let palette = null;
  const idat = [];
  for (let at = 8; ; ) {
    if (at + 8 > bytes.length) throw new ImageInputError(`${name}: truncated (no IEND)`);
    const size = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const body = bytes.subarray(at + 8, at + 8 + size);
    if (body.length < size) throw new ImageInputError(`${name}: truncated ${type} chunk`);
    if (type === "IHDR") header = readHeader(body, name);
    else if (type === "PLTE") palette = body;
    else if (type === "IDAT") idat.push(body);
    else if (type === "IEND") break;
    at += 12 + size;
  }
  if (header === null) throw new ImageInputError(`${name}: no IHDR chunk`);
  if (idat.length === 0) throw new ImageInputError(`${name}: no image data (IDAT)`);
  if (header.colorType === 3 && palette === null) {
    throw new ImageInputError(`${name}: palette image without a PLTE chunk`);
  }
  const raw = await inflate(idat, name);
  return toRgb(unfilterAll(raw, header, name), header, palette, name);
}

function readHeader(body, name) {
  if (body.length < 13) throw new ImageInputError(`${name}: short IHDR chunk`);
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const h = {
    width: v.getUint32(0),
    height: v.getUint32(4),
    depth: body[8],
    colorType: body[9],
    interlace: body[12],
  };
  if (h.width === 0 || h.height === 0) {
    throw new ImageInputError(`${name}: image has no pixels (${h.width}x${h.height})`);
  }
  if (h.width * h.height > MAX_IMAGE_PIXELS) {
    throw new ImageInputError(
      `${name}: ${h.width}x${h.height} pixels is over the limit of ${MAX_IMAGE_PIXELS}`,
    );
  }
  if (!(h.colorType in CHANNELS) || !DEPTHS[h.colorType].includes(h.depth)) {
    throw new ImageInputError(`${name}: invalid colour type ${h.colorType} / depth ${h.depth}`);
  }
  if (body[10] !== 0 || body[11] !== 0 || h.interlace > 1) {
    throw new ImageInputError(`${name}: unknown compression, filter or interlace method`);
  }
  h.channels = CHANNELS[h.colorType];
  return h;
}

async function inflate(parts, name) {
  try {
    const stream = new Blob(parts).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new ImageInputError(`${name}: corrupt image data (${e.message})`);
  }
}

/** The scanlines of every pass, unfiltered: [{x0, y0, dx, dy, w, h, rows: Uint8Array}]. */
function unfilterAll(raw, header, name) {
  const bitsPerPixel = header.depth * header.channels;
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const passes = header.interlace ? ADAM7 : [[0, 0, 1, 1]];
  const out = [];
  let at = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const w = Math.ceil((header.width - x0) / dx);
    const h = Math.ceil((header.height - y0) / dy);
    if (w <= 0 || h <= 0) continue;
    const stride = Math.ceil((w * bitsPerPixel) / 8);
    if (at + h * (stride + 1) > raw.length) throw new ImageInputError(`${name}: truncated image data`);
    const rows = new Uint8Array(h * stride);
    for (let y = 0; y < h; y++, at += stride + 1) {
      unfilterRow(raw[at], raw.subarray(at + 1, at + 1 + stride), rows, y * stride, stride, bpp, y > 0, name);
    }
    out.push({ x0, y0, dx, dy, w, h, stride, rows });
  }
  return out;
}

function unfilterRow(filter, line, rows, off, stride, bpp, hasUp, name) {
  const up = off - stride;
  for (let i = 0; i < stride; i++) {
    const a = i >= bpp ? rows[off + i - bpp] : 0;
    const b = hasUp ? rows[up + i] : 0;
    const c = hasUp && i >= bpp ? rows[up + i - bpp] : 0;
    let p;
    switch (filter) {
      case 0: p = 0; break;
      case 1: p = a; break;
      case 2: p = b; break;
      case 3: p = (a + b) >> 1; break;
      case 4: {
        const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        break;
      }
      default:
        throw new ImageInputError(`${name}: unknown PNG row filter ${filter}`);
    }
    rows[off + i] = (line[i] + p) & 255;
  }
}

function toRgb(passes, header, palette, name) {
  const { width, height, depth, channels, colorType } = header;
  const data = new Uint8Array(width * height * 3);
  const lowScale = { 1: 255, 2: 85, 4: 17 }[depth]; // low-depth grey to 0-255, as PIL
  for (const { x0, y0, dx, dy, w, h, stride, rows } of passes) {
    for (let y = 0; y < h; y++) {
      const row = y * stride;
      for (let x = 0; x < w; x++) {
        const o = ((y0 + y * dy) * width + x0 + x * dx) * 3;
        if (depth < 8) {
          const bit = x * depth;
          const v = (rows[row + (bit >> 3)] >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
          if (colorType === 3) setPalette(data, o, palette, v, name);
          else data[o] = data[o + 1] = data[o + 2] = v * lowScale;
          continue;
        }
        // 16-bit samples are big-endian: their first byte is the high byte, v >> 8
        const step = depth >> 3;
        const p = row + x * channels * step;
        if (colorType === 3) setPalette(data, o, palette, rows[p], name);
        else if (channels <= 2) data[o] = data[o + 1] = data[o + 2] = rows[p];
        else {
          data[o] = rows[p];
          data[o + 1] = rows[p + step];
          data[o + 2] = rows[p + 2 * step];
        }
      }
    }
  }
  return { width, height, data };
}

function setPalette(data, o, palette, index, name) {
  if (3 * index + 2 >= palette.length) {
    throw new ImageInputError(`${name}: palette index ${index} is past the palette's end`);
  }
  data[o] = palette[3 * index];
  data[o + 1] = palette[3 * index + 1];
  data[o + 2] = palette[3 * index + 2];
}
