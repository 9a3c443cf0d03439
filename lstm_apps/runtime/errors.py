"""One error hierarchy for the whole package.

Every error a user can cause derives from `LstmAppsError`; input errors also derive from
`ValueError` so generic handlers keep working. Messages name the input and say what was
expected.
"""

from __future__ import annotations


class LstmAppsError(Exception):
    """Base class of every error raised on purpose by lstm_apps."""


class DependencyError(LstmAppsError, ImportError):
    """An optional dependency (onnxruntime, torch, ...) is missing; the message says which extra."""


class ModelFileError(LstmAppsError, OSError):
    """A model file or bundle is missing, unreadable, or lacks what the loader needs."""


class CheckpointError(ModelFileError):
    """A training checkpoint is missing, incomplete or does not match its config."""


class InputError(LstmAppsError, ValueError):
    """A user-supplied input is malformed."""


class InputNameError(InputError):
    """Inputs fed to a model are missing or unexpected."""


class InputDTypeError(InputError, TypeError):
    """An array has the wrong dtype."""


class InputShapeError(InputError):
    """An array has the wrong rank or a wrong fixed dimension."""


class AudioInputError(InputError):
    """Audio that cannot be used: missing, empty, truncated, not audio, NaN/inf, too long."""


class SampleRateError(AudioInputError):
    """A sample rate that is missing, not an integer, or outside the supported range."""


class ImageInputError(InputError):
    """An image that cannot be used: missing, empty, truncated, not an image, too large."""


class ConfigError(LstmAppsError, ValueError):
    """A setting (a config field, a CLI option) has a value that cannot work; the message
    names the setting, the value and what is allowed."""


class DataFormatError(LstmAppsError, ValueError):
    """A data set on disk does not follow the format its loader reads."""


class ParityError(LstmAppsError, AssertionError):
    """An exported model disagrees with the model it was exported from."""
