"""Counters, gauges and histograms exposed in the Prometheus text format (version 0.0.4).

The reloader's metric set is small and fixed (about twenty families, a few label values), so this
module keeps only what it needs: a :class:`Registry` of metric families, :class:`Counter`,
:class:`Gauge` and :class:`Histogram` with optional labels, the ``process_*`` families of the
official clients (:class:`ProcessCollector`), and :func:`exposition`. Why not prometheus_client:
importing it costs ~10 MiB RSS and ~70 ms CPU (its exposition module imports ``ssl``, the HTTP
and WSGI servers and ``urllib.request``), which is a third of the memory limit and several times
the CPU budget of the reloader's container slot; docs/DEPENDENCIES.md has the measurements.

The text format is the one prometheus-config-reloader serves (client_golang's default handler
answers in text format 0.0.4 unless OpenMetrics is enabled, and it is not): ``# HELP`` and
``# TYPE`` lines per family, counters named with their ``_total`` suffix, histograms as
cumulative ``_bucket{le=...}`` samples plus ``_count`` and ``_sum``. Values use Python's shortest
``repr`` (``1.0``, ``3.2e-05``), ``+Inf``, ``-Inf`` and ``NaN``.

Thread safety: every update is a plain float operation under the GIL, and the engine updates
metrics from the event loop's thread only; :func:`exposition` reads them from the same thread.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True

if TYPE_CHECKING:
    from typing import Protocol, Self

    class Family(Protocol):
        """What a registry holds: a family's name, help text, type and current samples."""

        name: str
        documentation: str
        type: str

        def samples(self) -> Iterable[Sample]: ...


__all__ = [
    "CONTENT_TYPE",
    "Counter",
    "Gauge",
    "Histogram",
    "ProcessCollector",
    "Registry",
    "exposition",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""``Content-Type`` of :func:`exposition`'s output."""

Sample = tuple[str, Mapping[str, str], float]
"""(sample name, labels, value)."""


def format_value(value: float) -> str:
    """A sample value as the text format writes it (``+Inf``, ``-Inf``, ``NaN``, else ``repr``)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample_line(name: str, labels: Mapping[str, str], value: float) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
        return f"{name}{{{inner}}} {format_value(value)}\n"
    return f"{name} {format_value(value)}\n"


class Registry:
    """Metric families in registration order; what ``/metrics`` serves.

    Anything with ``name``, ``documentation``, ``type`` and ``samples()`` (an iterable of
    :data:`Sample`) can be registered (the ``Family`` protocol); the metric classes here register
    themselves.
    """

    def __init__(self) -> None:
        self._families: dict[str, Family] = {}

    def register(self, family: Family) -> None:
        """Add ``family``.

        Raises:
            ValueError: a family of the same exposed name is already registered.
        """
        if family.name in self._families:
            raise ValueError(f"Duplicated metric family name: {family.name}")
        self._families[family.name] = family

    def families(self) -> Iterator[Family]:
        return iter(tuple(self._families.values()))

    def get_sample_value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """The value of sample ``name`` with exactly ``labels`` (``{}`` = none), or ``None``."""
        want = dict(labels or {})
        for family in self.families():
            for sample_name, sample_labels, value in family.samples():
                if sample_name == name and dict(sample_labels) == want:
                    return value
        return None


class _Family:
    """Base of the metric classes: name, help text, type, label names, children by label values."""

    type = "untyped"
    suffix = ""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str] = (), *, registry: Registry | None
    ) -> None:
        self.name = name + self.suffix if not name.endswith(self.suffix) else name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], Self] = {}
        if registry is not None:
            registry.register(self)

    def _child(self) -> Self:
        raise NotImplementedError

    def labels(self, **values: str) -> Self:
        """The child for these label values (created at 0 on first use).

        Raises:
            ValueError: label names other than the family's.
        """
        if set(values) != set(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {tuple(values)}")
        key = tuple(str(values[n]) for n in self.labelnames)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._child()
        return child

    def clear(self) -> None:
        """Drop every labelled child (no samples until ``labels()`` is used again)."""
        self._children.clear()

    def _own_samples(self, labels: Mapping[str, str]) -> Iterable[Sample]:
        raise NotImplementedError

    def samples(self) -> Iterable[Sample]:
        if not self.labelnames:
            return self._own_samples({})
        out: list[Sample] = []
        for key, child in tuple(self._children.items()):
            out.extend(child._own_samples(dict(zip(self.labelnames, key, strict=True))))
        return out


class _Value(_Family):
    """A family whose samples are one number each (counters and gauges)."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str] = (), *, registry: Registry | None
    ) -> None:
        super().__init__(name, documentation, labelnames, registry=registry)
        self._value = 0.0

    def _child(self) -> Self:
        return type(self)(self.name, self.documentation, registry=None)

    def _own_samples(self, labels: Mapping[str, str]) -> Iterable[Sample]:
        return ((self.name, labels, self._value),)


class Counter(_Value):
    """A value that only goes up. Exposed as ``<name>_total`` (the suffix is added if missing)."""

    type = "counter"
    suffix = "_total"

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount``.

        Raises:
            ValueError: a negative amount.
        """
        if amount < 0:
            raise ValueError(f"{self.name}: counters can only be incremented by non-negative amounts")
        self._value += amount


class Gauge(_Value):
    """A value that goes up and down."""

    type = "gauge"

    def set(self, value: float) -> None:
        self._value = float(value)

    def inc(self, amount: float = 1.0) -> None:
        self._value += amount

    def dec(self, amount: float = 1.0) -> None:
        self._value -= amount


class Histogram(_Family):
    """Observations counted into cumulative buckets (upper bounds ``buckets``, then ``+Inf``).

    Raises:
        ValueError: buckets not sorted ascending or empty.
    """

    type = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        registry: Registry | None,
    ) -> None:
        bounds = [float(b) for b in buckets]
        if not bounds or bounds != sorted(bounds):
            raise ValueError(f"{name}: buckets must be a non-empty ascending list")
        if bounds[-1] != math.inf:
            bounds.append(math.inf)
        self.bounds = tuple(bounds)
        self._counts = [0] * len(bounds)
        self._sum = 0.0
        super().__init__(name, documentation, labelnames, registry=registry)

    def _child(self) -> Self:
        return type(self)(self.name, self.documentation, buckets=self.bounds, registry=None)

    def observe(self, value: float) -> None:
        self._sum += value
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self._counts[i] += 1
                break

    def _own_samples(self, labels: Mapping[str, str]) -> Iterable[Sample]:
        out: list[Sample] = []
        total = 0
        for bound, count in zip(self.bounds, self._counts, strict=True):
            total += count
            out.append((self.name + "_bucket", {**labels, "le": format_value(bound)}, float(total)))
        out.append((self.name + "_count", labels, float(total)))
        out.append((self.name + "_sum", labels, self._sum))
        return out


class _Computed(_Family):
    """A family whose value is computed when collected (the ``process_*`` metrics)."""

    def __init__(self, name: str, documentation: str, kind: str, value: Callable[[], float | None]) -> None:
        self.type = kind
        self._value = value
        super().__init__(name, documentation, registry=None)

    def _own_samples(self, labels: Mapping[str, str]) -> Iterable[Sample]:
        value = self._value()
        return () if value is None else ((self.name, labels, value),)


class ProcessCollector:
    """The ``process_*`` families of the official clients (names and help texts as theirs), read
    from ``/proc/self`` at each collection: CPU seconds, virtual and resident memory, start time,
    open and maximum file descriptors. Registers its families on ``registry``."""

    def __init__(self, registry: Registry, *, proc: str = "/proc/self") -> None:
        self._proc = proc
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._btime = self._boot_time()
        self._stat: list[str] = []
        self._stat_at = -1.0
        for name, doc, kind, fn in (
            ("process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge", self._vsize),
            ("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", self._rss),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                "gauge",
                self._start,
            ),
            (
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                "counter",
                self._cpu,
            ),
            ("process_open_fds", "Number of open file descriptors.", "gauge", self._open_fds),
            ("process_max_fds", "Maximum number of open file descriptors.", "gauge", self._max_fds),
        ):
            registry.register(_Computed(name, doc, kind, fn))

    def _boot_time(self) -> float | None:
        try:
            with open("/proc/stat", "rb") as f:
                for line in f:
                    if line.startswith(b"btime "):
                        return float(line.split()[1])
        except OSError:
            pass
        return None

    def _fields(self) -> list[str]:
        # One read of /proc/self/stat per scrape serves the four families that use it.
        now = time.monotonic()
        if now - self._stat_at > 0.1:
            try:
                with open(os.path.join(self._proc, "stat"), "rb") as f:
                    text = f.read().decode("ascii", "replace")
                self._stat = text[text.rindex(")") + 2 :].split()  # the name may hold spaces
            except (OSError, ValueError):
                self._stat = []
            self._stat_at = now
        return self._stat

    def _field(self, index: int) -> float | None:
        # Indexes count from field 3 (state) of proc(5)'s /proc/pid/stat.
        f = self._fields()
        return float(f[index]) if len(f) > index else None

    def _vsize(self) -> float | None:
        return self._field(20)

    def _rss(self) -> float | None:
        pages = self._field(21)
        return None if pages is None else pages * self._page

    def _start(self) -> float | None:
        start = self._field(19)
        if start is None or self._btime is None:
            return None
        return self._btime + start / self._ticks

    def _cpu(self) -> float | None:
        utime, stime = self._field(11), self._field(12)
        if utime is None or stime is None:
            return None
        return (utime + stime) / self._ticks

    def _open_fds(self) -> float | None:
        try:
            return float(len(os.listdir(os.path.join(self._proc, "fd"))))
        except OSError:
            return None

    def _max_fds(self) -> float | None:
        try:
            with open(os.path.join(self._proc, "limits"), "rb") as f:
                for line in f:
                    if line.startswith(b"Max open files"):
                        return float(line.split()[3])
        except (OSError, ValueError, IndexError):
            pass
        return None


def exposition(registry: Registry) -> bytes:
    """Every family of ``registry`` in text format 0.0.4 (UTF-8), in registration order."""
    parts: list[str] = []
    for family in registry.families():
        parts.append(f"# HELP {family.name} {_escape_help(family.documentation)}\n")
        parts.append(f"# TYPE {family.name} {family.type}\n")
        for name, labels, value in family.samples():
            parts.append(_sample_line(name, labels, value))
    return "".join(parts).encode("utf-8")
