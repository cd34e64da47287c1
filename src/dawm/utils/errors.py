"""User-facing errors: the CLI prints these as one line and exits 2, without a traceback."""

from __future__ import annotations


class DawmError(Exception):
    """A mistake in the user's input (file, key, option). Message is one self-contained line."""


class DataError(DawmError):
    """A dataset file is missing, unreadable or does not hold what it must.

    Formats as ``<path>: <key>: <problem> (expected <what>)`` so the user knows where to look.
    """

    def __init__(self, path, key: str | None, problem: str, expected: str | None = None):
        self.path, self.key, self.problem, self.expected = str(path), key, problem, expected
        parts = [self.path]
        if key:
            parts.append(key)
        msg = ": ".join(parts) + f": {problem}"
        if expected:
            msg += f" (expected {expected})"
        super().__init__(msg)


class TrainingDiverged(DawmError):
    """A loss became NaN/inf; the last good checkpoint is kept."""
