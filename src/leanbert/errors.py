"""User-facing errors. The CLI prints these as one line, with no traceback."""


class LeanbertError(Exception):
    """A problem with the user's input, config, files or data, explained in one sentence."""


class ConfigError(LeanbertError, ValueError):
    """An invalid configuration value; the message names the field."""


class DataError(LeanbertError, ValueError):
    """Missing, malformed or unusable data."""


class ModelLoadError(LeanbertError, OSError):
    """A model directory that is missing, incomplete or corrupt."""
