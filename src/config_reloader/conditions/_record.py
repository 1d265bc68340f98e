"""The immutable value-object base of the public condition types (instead of ``dataclasses``,
for start-up time); defined in :mod:`config_reloader.cpu._record`, re-exported here."""

from __future__ import annotations

from config_reloader.cpu._record import Record

__all__ = ["Record"]
