"""lstm-apps: one LSTM core, two heads (image captions, spoken commands), served from ONNX.

The public inference API lives here and never imports torch; training and export live in
`lstm_apps.nn`, `lstm_apps.train` and `lstm_apps.onnx` and need `pip install .[train]`.
"""

from lstm_apps.runtime import (
    AudioInputError,
    DependencyError,
    ImageInputError,
    InputError,
    LstmAppsError,
    ModelFileError,
    OnnxModel,
)
from lstm_apps.runtime.caption import Caption, Captioner
from lstm_apps.runtime.detect import Detection, DetectorConfig
from lstm_apps.runtime.speech import CommandStream, Prediction, SpeechClassifier, StreamBatch

__version__ = "0.1.0"

__all__ = [
    "AudioInputError",
    "Caption",
    "Captioner",
    "CommandStream",
    "DependencyError",
    "Detection",
    "DetectorConfig",
    "ImageInputError",
    "InputError",
    "LstmAppsError",
    "ModelFileError",
    "OnnxModel",
    "Prediction",
    "SpeechClassifier",
    "StreamBatch",
    "__version__",
]
