// Hands the microphone's samples (the AudioContext's rate, 16 kHz) to the page in blocks.
class Capture extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0]?.[0];
    if (channel) this.port.postMessage(channel.slice());
    return true;
  }
}
registerProcessor("capture", Capture);
