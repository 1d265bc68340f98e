"""The supervisor's metrics, and the cpulist spelling of a pin set."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config_reloader.metrics import SupervisorMetrics
    from config_reloader.promtext import Registry as CollectorRegistry

__all__ = ["ChildMetrics", "format_cpus"]


def format_cpus(cpus: Iterable[int]) -> str:
    """cpulist syntax ("0-3,8", as in /proc/PID/status Cpus_allowed_list), via the cpu engine."""
    from config_reloader.cpu import format_cpulist

    return str(format_cpulist(cpus))


class ChildMetrics:
    """The supervisor's metrics: :class:`config_reloader.metrics.SupervisorMetrics` (running,
    restarts, last exit status, pin set) plus two of ours on the same registry:
    ``reloader_child_ready`` (gauge) and ``reloader_child_orphans_reaped_total`` (counter).

    Args:
        registry: where to register; None = a fresh private registry.
    """

    def __init__(self, registry: CollectorRegistry | None) -> None:
        from config_reloader.metrics import SupervisorMetrics
        from config_reloader.promtext import Counter, Gauge

        self.base: SupervisorMetrics = SupervisorMetrics(registry)
        reg = self.base.registry
        self.ready = Gauge(
            "reloader_child_ready", "1 once the running child passed its readiness check.", registry=reg
        )
        self.orphans_reaped = Counter(
            "reloader_child_orphans_reaped",
            "Zombie processes re-parented to run and reaped by it.",
            registry=reg,
        )

    def set_pin(self, cpus: frozenset[int] | None) -> None:
        """Record the pin set (None = not pinned: no sample)."""
        self.base.set_pin_cpus(format_cpus(cpus) if cpus else None)
