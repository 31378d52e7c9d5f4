"""Exceptions that the CLI turns into exit codes.

`UserError` means the user gave us something we cannot use (a bad case file, an unknown backend,
a missing file, tensors of the wrong shape). It carries where the problem is and what was
expected, so the CLI prints one line and exits with code 2. `RunFailure` is a failure while
running that we can explain in one line (a diverged training, a broken-down iteration): exit
code 1 with that line. Anything else is an unexpected failure (exit code 1, its type and text).
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: one line, exit code 2.

    Args:
        message: what was wrong and what was expected.
        source: the file (or command-line option) the bad value came from.
        field: the dotted path of the offending field inside that source.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.message = message
        self.source = source
        self.field = field
        super().__init__(self.line())

    def located(self, source: str | None, field: str | None = None) -> UserError:
        """This error with ``source`` and ``field`` filled in where they were unknown."""
        return UserError(self.message, source=self.source or source, field=self.field or field)

    def line(self) -> str:
        """The one-line message: ``source: field: message`` with the parts that are known."""
        parts = [p for p in (self.source, self.field) if p]
        return ": ".join([*parts, self.message])


class RunFailure(RuntimeError):
    """The work failed for a reason we can state in one line (exit code 1): what happened, what
    was kept, what to change."""


class NonFiniteError(RunFailure):
    """A loss or a rolled-out state stopped being finite (NaN or inf)."""


def validation_error(err, *, source: str | None = None, prefix: str = "") -> UserError:
    """Turn the first error of a `pydantic.ValidationError` into a `UserError`.

    Args:
        err: the validation error.
        source: the file the values came from.
        prefix: dotted path of the validated section inside that file (``"backend"``).
    """
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    path = ".".join(p for p in (prefix, loc) if p)
    kind = first["type"]
    if kind == "extra_forbidden":
        msg = "unknown field"
    elif kind == "missing":
        msg = "required field is missing"
    else:
        msg = f"{first['msg']} (got {first.get('input')!r})"
    return UserError(msg, source=source, field=path or None)
