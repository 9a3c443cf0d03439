"""What export/README.md promises ports, checked against the runtime and the shipped bundles.

    pytest tests/test_contract.py        # a few seconds

Each test pins one statement of the contract to the code or the files it describes, so the
two cannot drift apart: the config.json table names every key the bundles hold, the int8
operator list is the graph's, the audio limits are the runtime's constants, the detector's
tie rule, and a clip's int8 result does not depend on the other clips of a call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lstm_apps.runtime.speech import SpeechClassifier

ROOT = Path(__file__).resolve().parents[1]
SPEECH, CAPTION = ROOT / "export" / "speech", ROOT / "export" / "caption"
CONTRACT = (ROOT / "export" / "README.md").read_text()
CLIPS = sorted(str(p) for p in (ROOT / "samples" / "speech").glob("*_*.wav"))


@pytest.mark.parametrize("int8", [True, False], ids=["int8", "fp32"])
def test_a_clips_probabilities_do_not_depend_on_the_rest_of_the_call(int8: bool) -> None:
    clf = SpeechClassifier.from_dir(SPEECH, int8=int8, intra_op_threads=1)
    assert clf.quantized is int8
    rng = np.random.default_rng(0)
    long = rng.uniform(-0.3, 0.3, 40000).astype(np.float32)  # 2.5 s: 7 windows in one clip
    alone = [clf.probabilities(c, sample_rate=16000)[0] for c in [*CLIPS, long]]
    together = clf.probabilities([*CLIPS, long], sample_rate=16000)
    shuffled = clf.probabilities([long, *CLIPS[::-1]], sample_rate=16000)
    assert [len(p) for p in together] == [1] * len(CLIPS) + [7]
    for i, want in enumerate(alone):
        np.testing.assert_array_equal(together[i], want)
    for i, want in enumerate([alone[-1], *alone[-2::-1]]):
        np.testing.assert_array_equal(shuffled[i], want)
    # a long clip's windows are independent too: its last window read as a 1 s clip
    np.testing.assert_array_equal(alone[-1][-1], clf.probabilities(long[-16000:], 16000)[0][0])
