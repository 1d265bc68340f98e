"""The former home of :class:`~config_reloader.record.Record`, kept as an alias for modules of the
``cpu`` package that still import it from here; code outside ``cpu`` imports
:mod:`config_reloader.record`."""

from __future__ import annotations

from config_reloader.record import Record

__all__ = ["Record"]
