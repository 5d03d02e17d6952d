"""Errors raised by gridplan: one base class, each naming the problem and the fix."""

from __future__ import annotations


class GridplanError(Exception):
    """Base class of every error gridplan raises on purpose.

    Every error carries what any front-end (the command line, the web API, a job's
    record) needs to show it: ``problem`` (what is wrong), and where known ``source``
    (the file or layer), ``field`` (the column or option) and ``fix`` (what to do).

    Parameters
    ----------
    problem : str
        What is wrong, in a sentence without a final full stop.
    source, field, fix : str, optional
        The input concerned, its field, and how to fix the problem.

    Examples
    --------
    >>> err = GridplanError("the plan has no parcels", fix="plan it again")
    >>> err.problem, err.field, str(err)
    ('the plan has no parcels', None, 'the plan has no parcels. Fix: plan it again')
    """

    exit_code = 1

    def __init__(self, problem: str, *, source: str | None = None, field: str | None = None,
                 fix: str | None = None) -> None:
        self.problem = str(problem)
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

    def to_dict(self) -> dict:
        """``problem``, ``source``, ``field`` and ``fix``, ready for JSON."""
        return {"problem": self.problem, "source": self.source, "field": self.field,
                "fix": self.fix}

    def __reduce__(self):
        """Pickle with every attribute (errors cross processes in jobs and on clusters)."""
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type, args: tuple, state: dict) -> GridplanError:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class InputError(GridplanError):
    """Bad input: names the source, the field (if any), what is wrong and how to fix it.

    Examples
    --------
    >>> str(InputError("negative household counts", source="b.gpkg", field="hh",
    ...                 fix="correct the counts to be 0 or more"))
    'b.gpkg: field hh: negative household counts. Fix: correct the counts to be 0 or more'
    """

    exit_code = 2


class PlanInvariantError(GridplanError):
    """A produced plan broke one of the rules every plan obeys (a bug, never bad input)."""
