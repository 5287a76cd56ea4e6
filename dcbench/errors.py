"""Errors a user can act on, each with its own exit code.

The CLI catches `DcbenchError`, prints its message (which says what to
change) and exits with `exit_code`; anything else is a bug and keeps its
traceback.
"""


class DcbenchError(Exception):
    exit_code = 1


class ConfigError(DcbenchError):
    """A recipe, option or configuration is wrong; nothing was started."""

    exit_code = 2


class DataError(DcbenchError):
    """Input data cannot be used (missing, checksum mismatch, over quarantine budget)."""

    exit_code = 3


class RunError(DcbenchError):
    """Work started but failed (shards failed after retries)."""

    exit_code = 4
