"""Inference on onnxruntime and numpy only: importing this never imports torch."""

from lstm_apps.runtime.errors import (
    AudioInputError,
    CheckpointError,
    ConfigError,
    DataFormatError,
    DependencyError,
    ImageInputError,
    InputDTypeError,
    InputError,
    InputNameError,
    InputShapeError,
    LstmAppsError,
    ModelFileError,
    ParityError,
    SampleRateError,
)
from lstm_apps.runtime.session import OnnxModel, TensorSpec

__all__ = [
    "AudioInputError",
    "CheckpointError",
    "ConfigError",
    "DataFormatError",
    "DependencyError",
    "ImageInputError",
    "InputDTypeError",
    "InputError",
    "InputNameError",
    "InputShapeError",
    "LstmAppsError",
    "ModelFileError",
    "OnnxModel",
    "ParityError",
    "SampleRateError",
    "TensorSpec",
]
