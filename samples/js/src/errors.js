/**
 * Typed errors, one family as in the Python runtime (lstm_apps/runtime/errors.py): bad input
 * raises an error that says what was wrong, never a crash deep inside onnxruntime.
 * @module errors
 */

/** The base of every error this package throws on purpose. */
export class LstmAppsError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** A bundle file is missing, unreadable, or does not match the contract (export/README.md). */
export class ModelFileError extends LstmAppsError {}

/** An argument is out of range or of the wrong kind. */
export class InputError extends LstmAppsError {}

/** Audio that the contract refuses rather than repairs (empty, NaN, a peak over 2, too long). */
export class AudioInputError extends InputError {}

/** A sample rate outside 1000-384000 Hz, not an integer, or not the model's rate. */
export class SampleRateError extends AudioInputError {}

/** An image that cannot be decoded or used (empty, corrupt, too large, an unknown format). */
export class ImageInputError extends InputError {}
