/**
 * lstm-apps in JavaScript: the shipped ONNX bundles (export/) on any onnxruntime, from the
 * contract in export/README.md. This module is backend-free: pass the `ort` object
 * (onnxruntime-node or onnxruntime-web) and a `read(relativePath)` function, or use the
 * entry points node.js (onnxruntime-node, files on disk) and web.js (onnxruntime-web,
 * files over HTTP).
 * @module lstm-apps
 */
export * from "./errors.js";
export { checkSampleRate, decodeWav, fitLength, prepareAudio, MAX_AUDIO_SECONDS, MAX_FLOAT_PEAK, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from "./audio.js";
export { checkImage, decodeImage, decodePng, isJpeg, isPng, MAX_IMAGE_PIXELS } from "./image.js";
export { Captioner } from "./caption.js";
export { SpeechClassifier, CommandStream } from "./speech.js";
export { Detector, DETECTOR_DEFAULTS, softmaxInto } from "./detect.js";
export { beamSearch, greedySearch, lengthPenalty } from "./search.js";
