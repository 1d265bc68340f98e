"""A minimal immutable value-object base (instead of ``dataclasses``).

``import dataclasses`` pulls in ``inspect``/``ast``/``dis`` (~6 ms) and every frozen dataclass
costs ~0.5 ms to create; ``config-reloader condition`` must start within 1.3x of a bare
interpreter, so the public CPU and condition types use this instead.
Subclasses list their fields in ``_fields`` (in order) and ``__slots__``, and assign them in
``__init__`` with ``object.__setattr__``. A helper of both ``cpu`` and ``conditions`` (it imports
nothing of the project).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from typing import Any, ClassVar, TypeVar

    R = TypeVar("R", bound="Record")

__all__ = ["Record"]


def _rebuild(cls: type[R], values: dict[str, Any]) -> R:
    return cls(**values)


class Record:
    """Immutable: equality and hash over the fields, a field-listing ``repr``, ``replace()``,
    ``as_dict()``, and pickling/copying through the constructor.

    Fields named in ``_nocompare`` are left out of equality, hash and ``repr`` (like
    ``dataclasses.field(compare=False, repr=False)``), e.g. raw data kept for diagnostics.
    """

    __slots__ = ()
    #: field names in order (``__slots__`` holds the same names, sorted)
    _fields: ClassVar[tuple[str, ...]] = ()
    #: fields not compared, hashed nor shown in ``repr``
    _nocompare: ClassVar[frozenset[str]] = frozenset()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable (cannot assign {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable (cannot delete {name!r})")

    def _compared(self) -> tuple[str, ...]:
        skip = type(self)._nocompare
        return tuple(f for f in type(self)._fields if f not in skip) if skip else type(self)._fields

    def as_dict(self) -> dict[str, Any]:
        """The fields in order, as a new dict (shallow)."""
        return {f: getattr(self, f) for f in type(self)._fields}

    def replace(self: R, **changes: Any) -> R:
        """A copy with some fields changed (like ``dataclasses.replace``).

        Raises:
            TypeError: a name in ``changes`` is not a field.
        """
        values = self.as_dict()
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(sorted(unknown))}")
        values.update(changes)
        return type(self)(**values)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._compared())

    def __hash__(self) -> int:
        return hash((type(self).__name__, *(getattr(self, f) for f in self._compared())))

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._compared())
        return f"{type(self).__name__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.as_dict()))
