"""``config-reloader condition``: evaluate systemd-style conditions and asserts.

Usage::

    config-reloader condition 'ConditionCPUFeature=avx2' 'AssertArchitecture=x86-64' ...
    config-reloader condition --unit my.service [--json] [--view usable] [--cpus all]
    config-reloader condition --systemd-compat 'ConditionCPUFeature=avx2'   # systemd 252 exactly

Exit statuses: 0 all conditions and asserts pass; 1 a condition or an assert failed; 2 the input
is wrong (unknown type, syntax error, unknown CPU feature, a type only PID 1 can answer).
Under ``--systemd-compat`` input errors exit 1, like ``systemd-analyze condition``. Under
``--exec-condition`` (for systemd's ``ExecCondition=``): 0 start, 1 skip (a condition failed),
255 fail the unit (an assert failed or the input is wrong).

Start-up budget (B1 in docs/design.md: within 1.3x ``python -c pass``): module-level imports are ``sys`` only;
argparse is imported by :func:`register` and the engine by :func:`run`. A command line made of
assignments only (the common ``ExecCondition=`` case) is parsed by :func:`parse_fast` without
argparse; the option defaults live in one table, :data:`DEFAULTS`, used by both parsers (a test
checks that they agree).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any, Literal

    from config_reloader.conditions.evaluate import Verdict
    from config_reloader.conditions.parse import Condition

__all__ = ["DEFAULTS", "ConditionArgs", "binary_condition", "parse_fast", "register", "run"]

#: Option defaults (attribute name -> value), shared by the argparse parser and :func:`parse_fast`.
DEFAULTS: dict[str, object] = {
    "unit": None,
    "json": False,
    "view": "usable",
    "cpus": "all",
    "cpu_data": None,
    "systemd_compat": False,
    "exec_condition": False,
    "quiet": False,
    "binary": None,
}


class ConditionArgs:
    """The parsed command line when :func:`parse_fast` could parse it (the attributes of the
    argparse namespace: ``assignments``, every key of :data:`DEFAULTS`, and ``func``)."""

    assignments: list[str]
    unit: str | None
    json: bool
    view: Literal["cpu", "usable", "kernel"]
    cpus: Literal["all", "any", "current"]
    cpu_data: str | None
    systemd_compat: bool
    exec_condition: bool
    quiet: bool
    binary: list[str] | None

    def __init__(self, assignments: list[str]) -> None:
        self.__dict__.update(DEFAULTS)
        self.assignments = assignments
        self.func = run

    def __repr__(self) -> str:
        return f"ConditionArgs({vars(self)!r})"


def parse_fast(argv: Sequence[str]) -> ConditionArgs | None:
    """Parse ``condition`` arguments without argparse when they are all assignments.

    Args:
        argv: the arguments after ``condition``.

    Returns:
        The same values argparse would give, or ``None`` when argparse is needed: no argument, or
        any argument starting with ``-`` (an option, ``--help``, ``--``).
    """
    if not argv or any(a.startswith("-") for a in argv):
        return None
    return ConditionArgs(list(argv))


def _intermixed_parser_class() -> type[argparse.ArgumentParser]:
    from config_reloader.cli.parser import CliParser

    class _IntermixedParser(CliParser):
        """Accepts options after assignments (``condition A=1 --json B=2``), as getopt-style
        ``systemd-analyze condition`` does; plain argparse stops the ``*`` positional at the first
        option."""

        _inner = False

        def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
            if self._inner:  # parse_known_intermixed_args calls back into parse_known_args
                return super().parse_known_args(args, namespace)
            self._inner = True
            try:
                return super().parse_known_intermixed_args(args, namespace)
            finally:
                self._inner = False

    return _IntermixedParser


def register(subparsers: Any) -> None:
    """Add the ``condition`` parser (its defaults are :data:`DEFAULTS`)."""
    p = subparsers.add_parser(
        "condition",
        help="evaluate systemd-style Condition*=/Assert*= (CPU features checked on every CPU)",
        description=(
            "Evaluate systemd-style Condition<Type>= and Assert<Type>= assignments with systemd's "
            "syntax and combination rules. ConditionCPUFeature= is checked in the usable view on "
            "every CPU of the affinity mask and accepts kernel names, systemd names, aliases and "
            "psABI levels; unknown names are an error. Exit status: 0 pass, 1 a condition/assert "
            "failed, 2 bad input."
        ),
    )
    p.add_argument(
        "assignments",
        nargs="*",
        metavar="ASSIGNMENT",
        help="e.g. 'ConditionCPUFeature=avx2', 'AssertPathExists=/etc/app.yaml'",
    )
    p.add_argument(
        "--unit",
        metavar="FILE",
        help="read the Condition*/Assert* lines of the [Unit] section of a unit file and of its "
        "drop-ins (FILE.d/*.conf)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument(
        "--view",
        choices=("cpu", "usable", "kernel"),
        help="CPU feature view: raw CPUID bit, usable (CPUID + OS-enabled state, "
        "default), or /proc/cpuinfo token",
    )
    p.add_argument(
        "--cpus",
        choices=("all", "any", "current"),
        help="CPUs that must have a CPU feature: all of the affinity mask (default), "
        "any of them, or the current one",
    )
    p.add_argument(
        "--cpu-data",
        metavar="FILE",
        help="evaluate CPUFeature/Architecture on a capture (our JSON or `cpuid -r` "
        "output) instead of this machine",
    )
    p.add_argument(
        "--systemd-compat",
        action="store_true",
        help="answer exactly like systemd 252 (51 CPU names, unknown names false, "
        "current CPU only, input errors exit 1)",
    )
    p.add_argument(
        "--exec-condition",
        action="store_true",
        help="exit statuses for systemd's ExecCondition=: 0 start, 1 skip (a condition failed), "
        "255 fail the unit (an assert failed or the input is wrong)",
    )
    p.add_argument(
        "--binary",
        action="append",
        metavar="PATH",
        help="add ConditionCPUFeature=x86-64.x86-64-vN for the level this ELF binary's "
        "GNU_PROPERTY_X86_ISA_1_NEEDED note names (gcc -mneeded); a binary without the note is an "
        "error (repeatable)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing, only set the exit status")
    p.set_defaults(func=run, **DEFAULTS)
    p.__class__ = _intermixed_parser_class()


def _error(args: argparse.Namespace | ConditionArgs, exc: Exception) -> int:
    status = 255 if args.exec_condition else 1 if args.systemd_compat else 2
    if args.json:
        import json

        doc: dict[str, Any] = {"error": {"type": type(exc).__name__, "message": str(exc)}}
        suggestions = getattr(exc, "suggestions", None)
        if suggestions:
            doc["error"]["suggestions"] = list(suggestions)
        print(json.dumps(doc, indent=2))
    elif not args.quiet:
        msg = str(exc)
        suggestions = getattr(exc, "suggestions", None)
        if suggestions and "did you mean" not in msg:
            msg += f" (did you mean {', '.join(suggestions)}?)"
        print(f"config-reloader condition: {msg}", file=sys.stderr)
    return status


def _print_text(verdict: Verdict) -> None:
    out = sys.stdout
    for r in verdict.results:
        word = "succeeded" if r.passed else "failed"
        src = f" (from {r.condition.source})" if r.condition.source.startswith("binary ") else ""
        out.write(f"{r.condition}{src} {word}: {r.reason}\n")
    kinds = {r.condition.kind for r in verdict.results}
    if "Assert" in kinds:
        out.write("Asserts succeeded.\n" if verdict.asserts_ok else "Asserts failed.\n")
    if "Condition" in kinds:
        out.write("Conditions succeeded.\n" if verdict.conditions_ok else "Conditions failed.\n")
    if not kinds:
        out.write("No conditions or asserts (an empty list passes).\n")


def _print_json(verdict: Verdict) -> None:
    import json

    doc = {
        "ok": verdict.ok,
        "conditions_ok": verdict.conditions_ok,
        "asserts_ok": verdict.asserts_ok,
        "results": [
            {
                "assignment": str(r.condition),
                "kind": r.condition.kind,
                "type": r.condition.type,
                "trigger": r.condition.trigger,
                "negate": r.condition.negate,
                "parameter": r.condition.parameter,
                "source": r.condition.source,
                "passed": r.passed,
                "reason": r.reason,
                "detail": dict(r.detail),
            }
            for r in verdict.results
        ],
    }
    print(json.dumps(doc, indent=2, default=str))


def binary_condition(path: str, *, kind: str = "Condition", systemd_compat: bool = False) -> Condition:
    """``ConditionCPUFeature=x86-64.x86-64-vN`` for the ISA level the ELF binary at ``path`` needs.

    Raises:
        ElfNoteError: unreadable or not ELF, or no ``GNU_PROPERTY_X86_ISA_1_NEEDED`` note.
        ValueError: with ``systemd_compat`` (systemd has no such check).
    """
    from config_reloader.conditions.parse import parse_assignment
    from config_reloader.cpu.elfnote import read_isa_needed

    if systemd_compat:
        raise ValueError("--binary cannot be combined with --systemd-compat (systemd has no such check)")
    cond = parse_assignment(f"{kind}CPUFeature={read_isa_needed(path).feature()}", source=f"binary {path}")
    assert cond is not None  # a non-empty value always gives a condition
    return cond


def run(args: argparse.Namespace | ConditionArgs) -> int:
    """Parse, evaluate, print; return the exit status (0 pass, 1 fail, 2 bad input)."""
    from config_reloader.conditions.evaluate import EvalOptions, evaluate
    from config_reloader.conditions.parse import parse_assignments, parse_unit_file
    from config_reloader.errors import ConfigReloaderError

    def warn(msg: str) -> None:
        if not args.quiet:
            print(f"config-reloader condition: warning: {msg}", file=sys.stderr)

    if not args.assignments and args.unit is None and not args.binary:
        return _error(args, ValueError("give Condition*=/Assert*= assignments, --unit FILE or --binary PATH"))
    machine = None
    try:
        conditions = []
        if args.unit is not None:
            conditions = parse_unit_file(args.unit, systemd_compat=args.systemd_compat, warn=warn)
        if args.assignments:
            more = parse_assignments(args.assignments, systemd_compat=args.systemd_compat, warn=warn)
            # an empty assignment on the command line also resets the unit's list of that kind
            for text in args.assignments:
                name, _, value = text.partition("=")
                if not value.strip(" \t\n\r"):
                    kind = "Assert" if name.startswith("Assert") else "Condition"
                    conditions = [c for c in conditions if c.kind != kind]
            conditions = conditions + more
        for path in args.binary or ():
            conditions.append(binary_condition(path, systemd_compat=args.systemd_compat))
        if args.cpu_data is not None:
            if args.systemd_compat:
                raise ValueError(
                    "--cpu-data cannot be combined with --systemd-compat (systemd reads this CPU only)"
                )
            from config_reloader.cpu import load_capture

            machine = load_capture(args.cpu_data)
        options = EvalOptions(
            view=args.view, cpus=args.cpus, systemd_compat=args.systemd_compat, machine=machine
        )
        verdict = evaluate(conditions, options)
    except (ConfigReloaderError, ValueError, OSError) as exc:
        return _error(args, exc)
    if args.json:
        _print_json(verdict)
    elif not args.quiet:
        _print_text(verdict)
    if args.exec_condition:
        # ExecCondition=: 1-254 skips the unit, 255 fails it (systemd.service(5))
        return 255 if not verdict.asserts_ok else 0 if verdict.conditions_ok else 1
    return 0 if verdict.ok else 1
