"""Errors that name the culprit and the fix, so a failed job reads as one clear line."""


class DataAlignError(Exception):
    """Base class for every error dataalign raises on purpose.

    Scripts let these propagate: the message is written for the user, not for a traceback.
    """


class ConfigError(DataAlignError):
    """The config names something that cannot work; raised before any job runs."""


class DatasetError(DataAlignError):
    """A dataset cannot be loaded or cut to its budget (empty, missing field, too small)."""


class ModelSpecError(DataAlignError):
    """A model spec cannot be resolved to a loadable model or tokenizer."""


class DamagedFileError(DataAlignError):
    """A file an earlier job wrote cannot be read back (cut short, or corrupted on disk)."""
