"""The type table: which check answers ``Condition<Type>=PARAMETER``.

Each check has the shape ``check(parameter, ctx) -> Outcome`` and answers the *un-negated*
question; :mod:`config_reloader.conditions.evaluate` applies ``!`` and ``|``. The checks live in
modules grouped by what they inspect (:mod:`.machine`, :mod:`.system`, :mod:`.identity`,
:mod:`.security`, :mod:`.paths`, :mod:`.resources`, :mod:`.cpufeature`); the value syntax they
share (booleans, operators, versions, globs, sizes) is in :mod:`.values`.

A check raises:

* :class:`~config_reloader.errors.ConditionSyntaxError` when the parameter is malformed. In the
  default mode that is an input error (exit status 2). Under ``--systemd-compat`` the check
  instead answers what systemd 252 answers (some types say false, ``ConditionControlGroupController``
  says true, others are a test error that systemd logs as "Couldn't determine result …, assuming
  failed").
* :class:`~config_reloader.conditions.base.CheckError` when the fact cannot be determined
  (unreadable file): the condition fails whatever its negation, like systemd's ``CONDITION_ERROR``.
* :class:`~config_reloader.errors.NotSupportedHere` for questions only PID 1 can answer
  (``FirstBoot``, ``NeedsUpdate`` outside ``--systemd-compat``, PSI of a slice with no cgroup).

Sources: systemd.unit(5) "Conditions and Asserts"; systemd src/shared/condition.c (v252 and
v261); the types of 252 are cross-checked with ``systemd-analyze condition`` of systemd 252.38
(tests/conformance), the newer ones with systemd's own examples and test cases (test-condition.c).
"""

from __future__ import annotations

from config_reloader.conditions.cpufeature import check_cpu_feature
from config_reloader.conditions.identity import check_credential, check_environment, check_group, check_user
from config_reloader.conditions.machine import (
    check_ac_power,
    check_architecture,
    check_firmware,
    check_fraction,
    check_host,
    check_machine_tag,
    check_virtualization,
)
from config_reloader.conditions.paths import (
    check_directory_not_empty,
    check_file_is_executable,
    check_file_not_empty,
    check_path_exists,
    check_path_exists_glob,
    check_path_is_directory,
    check_path_is_encrypted,
    check_path_is_mount_point,
    check_path_is_read_write,
    check_path_is_socket,
    check_path_is_symbolic_link,
)
from config_reloader.conditions.resources import (
    check_control_group_controller,
    check_cpu_pressure,
    check_cpus,
    check_io_pressure,
    check_memory,
    check_memory_pressure,
)
from config_reloader.conditions.security import check_capability, check_security
from config_reloader.conditions.system import (
    check_first_boot,
    check_kernel_command_line,
    check_kernel_module_loaded,
    check_kernel_version,
    check_needs_update,
    check_os_release,
    check_version,
)

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from config_reloader.conditions.base import Context, Outcome

    Check = Callable[[str, Context], Outcome]

__all__ = ["CHECKS"]

#: type (without ``Condition``/``Assert``) -> check.
CHECKS: Mapping[str, Check] = {
    "Architecture": check_architecture,
    "Firmware": check_firmware,
    "Virtualization": check_virtualization,
    "Host": check_host,
    "KernelCommandLine": check_kernel_command_line,
    "KernelVersion": check_kernel_version,
    "Credential": check_credential,
    "Security": check_security,
    "Capability": check_capability,
    "ACPower": check_ac_power,
    "NeedsUpdate": check_needs_update,
    "FirstBoot": check_first_boot,
    "PathExists": check_path_exists,
    "PathExistsGlob": check_path_exists_glob,
    "PathIsDirectory": check_path_is_directory,
    "PathIsSymbolicLink": check_path_is_symbolic_link,
    "PathIsMountPoint": check_path_is_mount_point,
    "PathIsReadWrite": check_path_is_read_write,
    "PathIsEncrypted": check_path_is_encrypted,
    "DirectoryNotEmpty": check_directory_not_empty,
    "FileNotEmpty": check_file_not_empty,
    "FileIsExecutable": check_file_is_executable,
    "User": check_user,
    "Group": check_group,
    "ControlGroupController": check_control_group_controller,
    "CPUs": check_cpus,
    "Memory": check_memory,
    "Environment": check_environment,
    "CPUFeature": check_cpu_feature,
    "OSRelease": check_os_release,
    "MemoryPressure": check_memory_pressure,
    "CPUPressure": check_cpu_pressure,
    "IOPressure": check_io_pressure,
    # newer than systemd 252 (refused under --systemd-compat by the parser)
    "Version": check_version,
    "KernelModuleLoaded": check_kernel_module_loaded,
    "PathIsSocket": check_path_is_socket,
    "Fraction": check_fraction,
    "MachineTag": check_machine_tag,
}
