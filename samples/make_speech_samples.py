"""Write the sample WAVs in samples/speech/ (needs the train extra for eSpeak NG).

    python samples/make_speech_samples.py

Clips come from speakers of the synthetic set's *test* split, so the shipped model never
heard these voices. stream.wav strings several commands and one non-command word
together with pauses under background noise; stream.json holds when each word starts.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from lstm_apps.data.speech_commands import which_set
from lstm_apps.data.speech_synth import generate_speech_commands

HERE = Path(__file__).resolve().parent
CLIPS = ("yes", "no", "stop", "go", "left", "up")
STREAM = ("yes", "stop", "cat", "go", "left", "no", "up")  # "cat" is not a command


def main() -> None:
    out = HERE / "speech"
    out.mkdir(exist_ok=True)
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        words = tuple(sorted(set(CLIPS + STREAM)))
        generate_speech_commands(data, repeats=1, noise_seconds=30, progress=False, words=words)
        test = {
            w: sorted(p for p in (data / w).glob("*.wav") if which_set(p.name) == "testing")
            for w in words
        }
        for word in CLIPS:
            src = test[word][int(rng.integers(len(test[word])))]
            sf.write(out / f"{word}_{src.stem[:8]}.wav", sf.read(src, dtype="int16")[0], 16000)
        pieces, truth, t = [np.zeros(8000, np.float32)], [], 0.5
        for word in STREAM:
            clip = sf.read(test[word][int(rng.integers(len(test[word])))], dtype="float32")[0]
            truth.append({"word": word, "start": round(t, 2), "end": round(t + 1.0, 2)})
            pause = np.zeros(int(rng.uniform(0.6, 1.2) * 16000), np.float32)
            pieces += [clip, pause]
            t += (len(clip) + len(pause)) / 16000
        audio = np.concatenate(pieces)
        noise = sf.read(data / "_background_noise_" / "pink_noise.wav", dtype="float32")[0]
        noise = np.resize(noise, audio.size)
        audio = audio + noise / noise.std() * 10 ** (-40 / 20)  # about -40 dBFS of pink noise
        sf.write(out / "stream.wav", np.clip(audio, -1, 1), 16000, subtype="PCM_16")
        (out / "stream.json").write_text(json.dumps(truth, indent=2) + "\n")
    print(f"wrote {len(CLIPS)} clips, stream.wav ({audio.size / 16000:.1f} s) -> {out}")


if __name__ == "__main__":
    main()
