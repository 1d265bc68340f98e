"""CPU features on every CPU: probing, tables, views, levels, captures and pin sets.

Public API (docs/INTERFACES.md "CPU features")::

    probe_machine(*, cpus=None, backend=None) -> MachineFeatures
    load_capture(path) -> MachineFeatures            # our JSON capture or `cpuid -r` text
    resolve_feature(name) -> str                     # canonical name; UnknownFeatureError
    check_features(machine, names, *, view="usable", scope="all") -> FeatureCheck
    pin_set(machine, names, *, view="usable") -> frozenset[int]
    format_cpulist(cpus) -> str; parse_cpulist(text) -> frozenset[int]
    systemd_has_feature(name, provider=None) -> bool

Names are imported lazily so that importing this package does not import ctypes.
"""

from __future__ import annotations

from config_reloader.lazy import lazy_attributes

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True

__all__ = [
    "BACKENDS",
    "CpuFeatures",
    "CpuidProvider",
    "FeatureCheck",
    "MachineFeatures",
    "Scope",
    "TableProvider",
    "View",
    "check_features",
    "dump_capture",
    "format_cpulist",
    "load_capture",
    "parse_capture",
    "parse_cpulist",
    "pin_set",
    "probe_machine",
    "resolve_feature",
    "systemd_has_feature",
]

_LAZY = {
    "BACKENDS": "config_reloader.cpu.probe",
    "CpuFeatures": "config_reloader.cpu.model",
    "CpuidProvider": "config_reloader.cpu.provider",
    "FeatureCheck": "config_reloader.cpu.model",
    "MachineFeatures": "config_reloader.cpu.model",
    "Scope": "config_reloader.cpu.model",
    "TableProvider": "config_reloader.cpu.cpuid",
    "View": "config_reloader.cpu.model",
    "check_features": "config_reloader.cpu.model",
    "dump_capture": "config_reloader.cpu.capture",
    "format_cpulist": "config_reloader.cpu.topology",
    "load_capture": "config_reloader.cpu.capture",
    "parse_capture": "config_reloader.cpu.capture",
    "parse_cpulist": "config_reloader.cpu.topology",
    "pin_set": "config_reloader.cpu.model",
    "probe_machine": "config_reloader.cpu.probe",
    "resolve_feature": "config_reloader.cpu.model",
    "systemd_has_feature": "config_reloader.cpu.probe",
}

if TYPE_CHECKING:
    from config_reloader.cpu.capture import dump_capture, load_capture, parse_capture
    from config_reloader.cpu.cpuid import TableProvider
    from config_reloader.cpu.model import (
        CpuFeatures,
        FeatureCheck,
        MachineFeatures,
        Scope,
        View,
        check_features,
        pin_set,
        resolve_feature,
    )
    from config_reloader.cpu.probe import BACKENDS, probe_machine, systemd_has_feature
    from config_reloader.cpu.provider import CpuidProvider
    from config_reloader.cpu.topology import format_cpulist, parse_cpulist


__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
