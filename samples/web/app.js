// The demo page: captions with each word's attention, and commands spotted in a stream
// (a WAV or the microphone) with the posteriors plotted as they arrive. Everything runs
// here with onnxruntime-web through the JS port (samples/js/src); `lstm-apps serve-demo`
// only serves the files. ?fast=1 processes WAVs as fast as possible (the browser test).
import * as ort from "onnxruntime-web";
import { decodeWav, openCaptioner, openSpeech, readImage } from "/js/web.js";

ort.env.wasm.wasmPaths = "/ort/";
const $ = (id) => document.getElementById(id);
const CHUNK = 1600; // samples per stream call: 100 ms at 16 kHz
const COLOURS = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c", "#fabebe", "#008080", "#e6beff"];
const WAV_SAMPLES = ["/samples/speech/stream.wav", "/export/speech/golden/stream.wav"];
let cap, clf;

function setState(el, state, text) {
  el.dataset.state = state;
  if (text !== undefined) el.textContent = text;
}

async function main() {
  try {
    [cap, clf] = await Promise.all([
      openCaptioner("/export/caption", { greedy: false }),
      openSpeech("/export/speech"),
    ]);
  } catch (e) {
    setState($("status"), "error", `could not load the models: ${e.message}`);
    throw e;
  }
  const truth = await (await fetch("/samples/images/truth.json")).json();
  for (const name of Object.keys(truth)) {
    sampleButton($("image-samples"), name, () => captionUrl(`/samples/images/${name}`, name));
  }
  for (const url of WAV_SAMPLES) {
    sampleButton($("wav-samples"), url.split("/").slice(-3).join("/"), () => streamUrl(url));
  }
  $("image-file").addEventListener("change", (e) => e.target.files[0] && captionFile(e.target.files[0]));
  $("wav-file").addEventListener("change", (e) => e.target.files[0] && streamFile(e.target.files[0]));
  $("beam").addEventListener("change", () => shown && captionImage(shown.rgb, shown.name));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) captionFile(e.dataTransfer.files[0]);
  });
  $("mic").addEventListener("click", toggleMic);
  plot.reset();
  setState($("status"), "ready", "models loaded."); // last: the page is wired up
}

function sampleButton(parent, label, onclick) {
  const b = document.createElement("button");
  b.className = "sample";
  b.textContent = label;
  b.addEventListener("click", onclick);
  parent.append(b);
}

// ---- captions -------------------------------------------------------------------------

let shown = null; // {rgb, name, caption, pinned}

async function captionUrl(url, name) {
  captionBytes(new Uint8Array(await (await fetch(url)).arrayBuffer()), name);
}

async function captionFile(file) {
  captionBytes(new Uint8Array(await file.arrayBuffer()), file.name);
}

async function captionBytes(bytes, name) {
  const text = $("caption-text");
  try {
    setState(text, "running", "…");
    captionImage(await readImage(bytes, name), name);
  } catch (e) {
    setState(text, "error", `${name}: ${e.message}`);
  }
}

async function captionImage(rgb, name) {
  const text = $("caption-text");
  shown = { rgb, name, caption: null, pinned: -1 };
  window.demo.lastImage = rgb;
  drawImage(-1);
  setState(text, "running", "…");
  const c = await cap.caption(rgb, { beamSize: Number($("beam").value) });
  if (shown?.rgb !== rgb) return; // another image came meanwhile
  shown.caption = c;
  text.replaceChildren(...c.words.map((w, i) => {
    const span = document.createElement("span");
    span.textContent = w;
    span.addEventListener("mouseenter", () => drawImage(i));
    span.addEventListener("mouseleave", () => drawImage(shown.pinned));
    span.addEventListener("click", () => {
      shown.pinned = shown.pinned === i ? -1 : i;
      drawImage(shown.pinned);
    });
    return span;
  }).flatMap((s, i) => (i ? [" ", s] : [s])));
  setState(text, "done");
  text.dataset.name = name;
  const conf = c.confidence === null ? "" : `, confidence ${c.confidence.toFixed(2)}` +
    (c.confidence < 0.5 ? " (low: the picture may be outside what the model knows)" : "");
  $("caption-score").textContent = `${name}: log-probability ${c.score.toFixed(4)}${conf}, beam ${$("beam").value}${c.finished ? "" : " (unfinished)"}`;
  $("caption-score").dataset.confidence = c.confidence ?? "";
}

/** The image fitted into the canvas, and word i's attention over it (none if i < 0). */
function drawImage(i) {
  const { rgb, caption } = shown;
  const canvas = $("image"), ctx = canvas.getContext("2d");
  const src = new OffscreenCanvas(rgb.width, rgb.height);
  const rgba = new ImageData(rgb.width, rgb.height);
  for (let p = 0; p < rgb.width * rgb.height; p++) {
    rgba.data.set(rgb.data.subarray(3 * p, 3 * p + 3), 4 * p);
    rgba.data[4 * p + 3] = 255;
  }
  src.getContext("2d").putImageData(rgba, 0, 0);
  const scale = Math.min(canvas.width / rgb.width, canvas.height / rgb.height);
  const w = rgb.width * scale, h = rgb.height * scale;
  const x = (canvas.width - w) / 2, y = (canvas.height - h) / 2;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = scale < 1;
  ctx.drawImage(src, x, y, w, h);
  document.querySelectorAll("#caption-text span").forEach((s, k) => s.classList.toggle("on", k === i));
  if (i < 0 || !caption) return;
  // the encoder stretches the image to a square, so the grid covers the whole image
  const alpha = caption.attention[i], g = caption.grid;
  const max = Math.max(...alpha);
  const heat = new ImageData(g, g);
  // a spotlight: the cells the word attends to stay lit, the rest goes dark
  for (let k = 0; k < g * g; k++) heat.data.set([0, 0, 0, Math.round((1 - alpha[k] / max) * 215)], 4 * k);
  const cells = new OffscreenCanvas(g, g);
  cells.getContext("2d").putImageData(heat, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(cells, x, y, w, h);
}

// ---- speech ---------------------------------------------------------------------------

const plot = {
  frames: 450, // 9 s at 20 ms a frame
  reset() {
    this.commands = clf ? clf.labels.map((s, k) => [s, k]).filter(([s]) => !clf.config.detector.ignore.includes(s)) : [];
    this.rows = []; // per frame: the commands' posteriors
    this.marks = []; // {frame, label}
    this.first = 0;
    $("legend").replaceChildren(...this.commands.map(([s], j) => {
      const el = document.createElement("span");
      el.innerHTML = `<i style="background:${COLOURS[j]}"></i>${s}`;
      return el;
    }));
    this.draw();
  },
  add(probs, frames, first) {
    const classes = clf.labels.length;
    for (let f = 0; f < frames; f++) this.rows.push(this.commands.map(([, k]) => probs[f * classes + k]));
    const drop = this.rows.length - this.frames;
    if (drop > 0) { this.rows.splice(0, drop); this.first += drop; }
    this.draw();
  },
  draw() {
    const canvas = $("plot"), ctx = canvas.getContext("2d");
    const W = canvas.width, H = canvas.height, dx = W / this.frames;
    ctx.fillStyle = "#111";
    ctx.fillRect(0, 0, W, H);
    const y = (p) => H - 10 - p * (H - 20);
    if (clf) {
      ctx.strokeStyle = "#777";
      ctx.setLineDash([4, 4]);
      ctx.beginPath();
      ctx.moveTo(0, y(clf.config.detector.threshold));
      ctx.lineTo(W, y(clf.config.detector.threshold));
      ctx.stroke();
      ctx.setLineDash([]);
    }
    this.commands.forEach((_, j) => {
      ctx.strokeStyle = COLOURS[j];
      ctx.beginPath();
      this.rows.forEach((row, f) => (f ? ctx.lineTo(f * dx, y(row[j])) : ctx.moveTo(0, y(row[j]))));
      ctx.stroke();
    });
    ctx.fillStyle = "#fff";
    ctx.font = "13px system-ui";
    for (const { frame, label } of this.marks) {
      const x = (frame - this.first) * dx;
      if (x < 0) continue;
      ctx.fillRect(x, 0, 1, H);
      ctx.fillText(label, x + 3, 14);
    }
  },
};

function showDetections(found, list) {
  for (const d of found) {
    const li = document.createElement("li");
    Object.assign(li.dataset, { label: d.label, time: d.time.toFixed(2), score: d.score.toFixed(4) });
    li.textContent = `${d.time.toFixed(2)} s  ${d.label}  (${d.score.toFixed(4)})`;
    list.append(li);
    plot.marks.push({ frame: Math.round(d.time / clf.config.stream.frame_seconds), label: d.label });
  }
  if (found.length) plot.draw();
}

async function streamUrl(url) {
  streamBytes(new Uint8Array(await (await fetch(url)).arrayBuffer()), url);
}

async function streamFile(file) {
  streamBytes(new Uint8Array(await file.arrayBuffer()), file.name);
}

/** Resample with the browser (OfflineAudioContext) if the file is not at the model's rate. */
async function toModelRate(samples, rate) {
  const want = clf.sampleRate;
  if (rate === want) return samples;
  const ctx = new OfflineAudioContext(1, Math.ceil((samples.length * want) / rate), want);
  const buf = ctx.createBuffer(1, samples.length, rate);
  buf.copyToChannel(samples, 0);
  const src = ctx.createBufferSource();
  src.buffer = buf;
  src.connect(ctx.destination);
  src.start();
  return (await ctx.startRendering()).getChannelData(0);
}

let running = 0; // a new stream stops the one before
async function streamBytes(bytes, name) {
  const status = $("speech-status"), list = $("detections");
  const run = ++running;
  stopMic();
  list.replaceChildren();
  setState(list, "running");
  plot.reset();
  try {
    const wav = decodeWav(bytes, name);
    const samples = await toModelRate(wav.samples, wav.sampleRate);
    const realtime = $("realtime").checked && !new URLSearchParams(location.search).has("fast");
    setState(status, "running", `${name}: ${(samples.length / clf.sampleRate).toFixed(1)} s${realtime ? ", playing" : ""}…`);
    const stream = clf.stream({ onPosteriors: (p, n, first) => plot.add(p, n, first) });
    const start = performance.now();
    if (realtime) play(samples);
    for (let i = 0; i < samples.length && run === running; i += CHUNK) {
      showDetections(await stream.accept(samples.subarray(i, i + CHUNK), clf.sampleRate), list);
      const due = start + ((i + CHUNK) / clf.sampleRate) * 1000;
      if (realtime && due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
    }
    if (run !== running) return;
    showDetections(await stream.flush(), list);
    setState(status, "done", `${name}: ${list.children.length} detections`);
    setState(list, "done");
    list.dataset.name = name;
  } catch (e) {
    setState(status, "error", `${name}: ${e.message}`);
    setState(list, "error");
  }
}

function play(samples) {
  const ctx = new AudioContext({ sampleRate: clf.sampleRate });
  const buf = ctx.createBuffer(1, samples.length, clf.sampleRate);
  buf.copyToChannel(samples, 0);
  const src = ctx.createBufferSource();
  src.buffer = buf;
  src.connect(ctx.destination);
  src.onended = () => ctx.close();
  src.start();
}

let mic = null; // {ctx, media}
async function toggleMic() {
  if (mic) return stopMic();
  const status = $("speech-status"), list = $("detections");
  running++;
  try {
    const media = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    const ctx = new AudioContext({ sampleRate: clf.sampleRate }); // the browser resamples
    await ctx.audioWorklet.addModule("capture-worklet.js");
    const node = new AudioWorkletNode(ctx, "capture");
    ctx.createMediaStreamSource(media).connect(node);
    const stream = clf.stream({ onPosteriors: (p, n, first) => plot.add(p, n, first) });
    let pending = [];
    let held = 0;
    node.port.onmessage = (e) => {
      pending.push(e.data);
      held += e.data.length;
      if (held < CHUNK) return;
      const chunk = new Float32Array(held);
      let at = 0;
      for (const p of pending) { chunk.set(p, at); at += p.length; }
      pending = [];
      held = 0;
      stream.accept(chunk, ctx.sampleRate).then((found) => showDetections(found, list));
    };
    mic = { ctx, media };
    list.replaceChildren();
    plot.reset();
    setState(status, "listening", "listening… say yes, no, up, down, left, right, on, off, stop or go");
    $("mic").textContent = "stop the microphone";
  } catch (e) {
    setState(status, "error", `microphone: ${e.message}`);
  }
}

function stopMic() {
  if (!mic) return;
  mic.media.getTracks().forEach((t) => t.stop());
  mic.ctx.close();
  mic = null;
  $("mic").textContent = "use the microphone";
  setState($("speech-status"), "idle", "microphone stopped");
}

window.demo = { lastImage: null, readImage, ready: main() };
