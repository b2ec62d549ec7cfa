"""The exception family of the eval package."""


class EvalError(Exception):
    """Base class for every error the eval package raises."""


class DatasetError(EvalError):
    """A dataset or eval set is missing, malformed or inconsistent."""


class ThresholdError(EvalError):
    """The thresholds file is missing or malformed."""
