"""Errors raised by gridplan: one base class, each naming the problem and the fix."""

from __future__ import annotations


class GridplanError(Exception):
    """Base class of every error gridplan raises on purpose."""

    exit_code = 1


class InputError(GridplanError):
    """Bad input: names the source, the field (if any), what is wrong and how to fix it.

    Examples
    --------
    >>> str(InputError("negative household counts", source="b.gpkg", field="hh",
    ...                 fix="correct the counts to be 0 or more"))
    'b.gpkg: field hh: negative household counts. Fix: correct the counts to be 0 or more'
    """

    exit_code = 2

    def __init__(self, problem: str, *, source: str | None = None, field: str | None = None,
                 fix: str | None = None) -> None:
        self.problem = problem
        self.source = source
        self.field = field
        self.fix = fix
        super().__init__(self._compose())

    def _compose(self) -> str:
        parts = []
        if self.source:
            parts.append(f"{self.source}: ")
        if self.field:
            parts.append(f"field {self.field}: ")
        parts.append(self.problem)
        text = "".join(parts)
        if self.fix:
            text += f". Fix: {self.fix}"
        return text


class PlanInvariantError(GridplanError):
    """A produced plan broke one of the rules every plan obeys (a bug, never bad input)."""
