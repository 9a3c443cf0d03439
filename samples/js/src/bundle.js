/**
 * Reading a bundle folder: config.json (the only metadata onnxruntime's JavaScript API can
 * see), the sha256 digests it lists, and sessions whose inputs and outputs are checked
 * against the contract's tables. Files come through a `read(relativePath)` function, so the
 * same code reads from disk (node.js) or over HTTP (web.js).
 * @module bundle
 */
import { ModelFileError } from "./errors.js";

/** @typedef {(path: string) => Promise<Uint8Array>} ReadFn */

/**
 * config.json of a bundle, checked for its format version.
 * @param {ReadFn} read
 * @param {number} formatVersion the version this port reads
 * @returns {Promise<object>}
 */
export async function readConfig(read, formatVersion) {
  let config;
  try {
    config = JSON.parse(new TextDecoder().decode(await read("config.json")));
  } catch (e) {
    throw new ModelFileError(`config.json: cannot read it (${e.message})`);
  }
  if (config.format_version !== formatVersion) {
    throw new ModelFileError(
      `config.json: format_version ${config.format_version}, this port reads ${formatVersion}`,
    );
  }
  return config;
}

/**
 * The file's bytes, checked against config.json's sha256 digest when it lists one.
 * @param {ReadFn} read
 * @param {object} config
 * @param {string} name
 * @param {boolean} verify
 * @returns {Promise<Uint8Array>}
 */
export async function readVerified(read, config, name, verify) {
  let bytes;
  try {
    bytes = await read(name);
  } catch (e) {
    throw new ModelFileError(`${name}: cannot read it (${e.message})`);
  }
  const want = config.files?.[name];
  if (verify && want) {
    const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", bytes));
    const got = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    if (got !== want) {
      throw new ModelFileError(`${name}: sha256 ${got} is not config.json's ${want}`);
    }
  }
  return bytes;
}

/**
 * An onnxruntime session on one bundle file, its input and output names checked.
 * @param {object} ort onnxruntime-node or onnxruntime-web
 * @param {Uint8Array} bytes
 * @param {string} name
 * @param {string[]} inputs the contract's input names, in order
 * @param {string[]} outputs the contract's output names (any order)
 * @param {object} [sessionOptions]
 */
export async function openSession(ort, bytes, name, inputs, outputs, sessionOptions = {}) {
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions);
  } catch (e) {
    throw new ModelFileError(`${name}: onnxruntime cannot load it (${e.message})`);
  }
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (!same(session.inputNames, inputs) || !same([...session.outputNames].sort(), [...outputs].sort())) {
    throw new ModelFileError(
      `${name}: inputs ${session.inputNames} / outputs ${session.outputNames}; the contract ` +
        `says ${inputs} / ${outputs}`,
    );
  }
  return session;
}
