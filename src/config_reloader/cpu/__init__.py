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

import sys

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
    "BACKENDS": "probe",
    "CpuFeatures": "model",
    "CpuidProvider": "provider",
    "FeatureCheck": "model",
    "MachineFeatures": "model",
    "Scope": "model",
    "TableProvider": "cpuid",
    "View": "model",
    "check_features": "model",
    "dump_capture": "capture",
    "format_cpulist": "topology",
    "load_capture": "capture",
    "parse_capture": "capture",
    "parse_cpulist": "topology",
    "pin_set": "model",
    "probe_machine": "probe",
    "resolve_feature": "model",
    "systemd_has_feature": "probe",
}

if TYPE_CHECKING:
    from typing import Any

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


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'config_reloader.cpu' has no attribute {name!r}")
    # __import__, not importlib.import_module: `import importlib` (with warnings, types) costs
    # ~0.3 ms of the `condition` start-up
    __import__(f"{__name__}.{mod}")
    value = getattr(sys.modules[f"{__name__}.{mod}"], name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
