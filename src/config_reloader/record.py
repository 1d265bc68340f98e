"""A minimal immutable value-object base (instead of ``dataclasses``).

``import dataclasses`` pulls in ``inspect``/``ast``/``dis`` (~6 ms) and every frozen dataclass
costs ~0.5 ms to create; ``config-reloader condition`` must start within 1.3x of a bare
interpreter, so the public CPU and condition types use this instead, and so do the settings and
the render result of ``watch``'s one-shot render (the init container's ~7-10 ms of CPU, at 10
millicores ~1 s of pod start).

Two ways to write a subclass: list the fields in ``_fields`` (in order) and ``__slots__`` and
assign them in ``__init__`` with ``object.__setattr__``; or, for many fields with defaults,
decorate it with :func:`record` and write it like a frozen keyword-only dataclass (annotated
fields, defaults, an optional ``__post_init__``). A helper of both ``cpu`` and ``conditions``
(it imports nothing of the project).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, ClassVar, TypeVar, dataclass_transform

    R = TypeVar("R", bound="Record")
else:

    def dataclass_transform(**_kwargs: object) -> object:
        """At run time nothing: it tells mypy that :func:`record` makes dataclass-like classes."""
        return lambda decorator: decorator


__all__ = ["Record", "record"]


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
    #: fields compared but not shown in ``repr`` (secrets)
    _norepr: ClassVar[frozenset[str]] = frozenset()
    #: the fields' defaults (:func:`record` classes; a field without one must be given)
    _defaults: ClassVar[Mapping[str, Any]] = {}

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
        hidden = type(self)._norepr
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._compared() if f not in hidden)
        return f"{type(self).__name__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.as_dict()))


@dataclass_transform(kw_only_default=True, frozen_default=True)
def record(cls: type[R]) -> type[R]:
    """Make ``cls``, a :class:`Record` subclass written like a frozen keyword-only dataclass,
    into a record: its annotated fields (in order) become ``_fields``, their values in the class
    body ``_defaults``, and ``__init__(**fields)`` sets them, then calls ``__post_init__`` if the
    class has one (which may still normalise fields with ``object.__setattr__``).

    The class gets no ``__slots__`` (the defaults are class-body values). An annotation
    ``ClassVar[...]`` is not a field. ``__init__`` raises :class:`TypeError` for an unknown field
    or a missing one without a default.
    """
    notes = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 (inspect is what this avoids)
    fields = tuple(
        f for f, note in notes.items() if not str(note).startswith(("ClassVar", "typing.ClassVar"))
    )
    defaults = {f: cls.__dict__[f] for f in fields if f in cls.__dict__}
    for f in defaults:
        delattr(cls, f)  # instances hold every field; the class keeps no stale copy
    name = cls.__name__
    known = frozenset(fields)

    def __init__(self: Record, **values: Any) -> None:
        unknown = values.keys() - known
        if unknown:
            raise TypeError(f"{name}() got unexpected keyword argument(s) {', '.join(sorted(unknown))}")
        for f in fields:
            if f in values:
                object.__setattr__(self, f, values[f])
            elif f in defaults:
                object.__setattr__(self, f, defaults[f])
            else:
                raise TypeError(f"{name}() missing keyword argument {f!r}")
        post: Callable[[], None] | None = getattr(self, "__post_init__", None)
        if post is not None:
            post()

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    cls._fields = fields
    cls._defaults = defaults
    cls.__init__ = __init__  # type: ignore[assignment,method-assign]  # generated, as dataclasses does
    return cls
