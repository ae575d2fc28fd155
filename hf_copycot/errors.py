"""The one base class of hf-copycot's errors, and the subclasses callers tell apart.

Every error raised on purpose is a `CopycotError` whose message is one line naming the problem and
the fix, so an entry point can print it as it is (`copycot evaluate: error: ...`) and exit 2. The
subclasses keep the built-in base they always had (ValueError, RuntimeError), so code that caught
those still does.
"""

from __future__ import annotations


class CopycotError(Exception):
    """A problem worded for the person who can fix it: one line, with the fix."""


class ArgumentError(CopycotError, ValueError):
    """Flags or arguments that cannot work together (finetune, evaluate, the dataset build)."""


class DataError(CopycotError, ValueError):
    """A dataset, config, split or task that cannot be used."""


class ModelLoadError(CopycotError, ValueError):
    """A model name or folder that cannot be loaded."""


class ArenaError(CopycotError, ValueError):
    """A request in the copy arena that cannot be served (shown in the page, not as a traceback)."""


class PublishError(CopycotError, RuntimeError):
    """A push to the Hub failed; what was written locally is kept (entry points exit 1)."""


class JobFailed(CopycotError, RuntimeError):
    """A `copycot reproduce` run raised or returned nothing: `reason` is one line, `log` its output
    (the message ends with the log's last lines)."""

    def __init__(self, label: str, reason: str, log: object, tail: str):
        super().__init__(label, reason, log, tail)  # all four in args: it crosses processes
        self.label, self.reason, self.log, self.tail = label, reason, log, tail

    def __str__(self) -> str:
        return f"run {self.label!r} failed: {self.reason} (log: {self.log}):\n{self.tail}"


class RunFailed(CopycotError, RuntimeError):
    """A `copycot reproduce` study asked for the result of a run that failed."""


class CorruptFileError(CopycotError, ValueError):
    """A file hf-copycot wrote earlier (a run's result, a checkpoint, a dataset shard) is truncated
    or differs from the digest recorded with it: never read as if it were good."""


class FolderBusyError(CopycotError, RuntimeError):
    """Another process is writing the same output folder (its lock file is held)."""


class DiskFullError(CopycotError, OSError):
    """The disk filled while writing; what was there before is left as it was."""
