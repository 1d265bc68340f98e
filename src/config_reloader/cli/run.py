"""``config-reloader run [options] -- COMMAND ARGS...``: gate, pin, supervise and reload a command.

Exit statuses: the child's status (128 + N when it died by signal N; 127 not found, 126 not
executable); 0 (or ``--skip-exit-code``) when a condition failed and the command was not started;
1 when an assert failed or the config could not be rendered before the first start; 2 for input
errors (bad flags, bad conditions, unknown CPU feature names).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import TYPE_CHECKING, Any

from config_reloader.cli.watch import (
    add_watch_arguments,
    parse_duration_arg,
    parse_signal,
)
from config_reloader.durations import format_duration

if TYPE_CHECKING:
    from config_reloader.conditions.parse import Condition

__all__ = ["register", "run"]

log = logging.getLogger("config_reloader.cli.run")

_RELOAD_METHODS = ("signal", "http", "restart")


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def _exit_code(text: str) -> int:
    v = _nonneg_int(text)
    if v > 255:
        raise argparse.ArgumentTypeError(f"an exit status is 0-255, got {v}")
    return v


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run",
        help="gate a command on conditions, pin it to capable CPUs, supervise it and reload it on "
        "config change",
        description=(
            "Evaluate --condition/--assert (systemd syntax and semantics) on every CPU; pin the "
            "command to the CPUs where every ConditionCPUFeature= is usable; render the config "
            "once, start the command in a process group of its own, forward SIGTERM/SIGINT/SIGQUIT "
            "to that group and SIGHUP/SIGUSR1/SIGUSR2 to the command, reap zombies (PID 1 or "
            "subreaper), restart it by policy, and reload it when the watched "
            "config content changes (signal, HTTP or graceful restart). A SIGHUP sent to run before "
            "the child is ready is held back and delivered once it is. Example: "
            "config-reloader run --condition ConditionCPUFeature=avx2 --config-file cfg.yml "
            "--ready-url http://127.0.0.1:9090/-/ready -- prometheus --config.file=cfg.yml"
        ),
    )
    g = p.add_argument_group("gate (systemd conditions and asserts)")
    g.add_argument(
        "--condition",
        dest="gate_items",
        action="append",
        metavar="ConditionX=VALUE",
        type=lambda t: ("Condition", t),
        help="a condition; failing = do not start, exit --skip-exit-code (repeatable)",
    )
    g.add_argument(
        "--assert",
        dest="gate_items",
        action="append",
        metavar="AssertX=VALUE",
        type=lambda t: ("Assert", t),
        help="an assert; failing = do not start, exit 1 (repeatable)",
    )
    g.add_argument(
        "--unit",
        action="append",
        default=[],
        metavar="FILE",
        help="take Condition*=/Assert*= from the [Unit] section of this unit file (before the "
        "command-line ones)",
    )
    g.add_argument(
        "--require-binary",
        action="append",
        default=[],
        metavar="PATH",
        help="gate and pin on the x86-64 level this ELF binary's GNU_PROPERTY_X86_ISA_1_NEEDED note "
        "names (gcc -mneeded), as ConditionCPUFeature=x86-64.x86-64-vN; a binary without the note "
        "is an error (repeatable)",
    )
    g.add_argument(
        "--skip-exit-code",
        type=_exit_code,
        default=0,
        metavar="N",
        help="exit status when a condition fails (default: 0, systemd's 'skipped')",
    )
    g.add_argument(
        "--pin-cpus",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="set the child's CPU affinity to the CPUs of our affinity mask on which every "
        "ConditionCPUFeature= is usable (default: on when such a condition is given)",
    )
    g.add_argument(
        "--cpu-data",
        metavar="FILE",
        help="evaluate CPU features from this capture (our JSON or `cpuid -r` text) instead of "
        "probing this machine (what-if checks; pinned or not, only the capture's CPUs in our "
        "affinity mask count)",
    )

    # The defaults live once, in SuperviseOptions (as do the checks).
    from config_reloader.supervise.options import RESTART_POLICIES, SuperviseOptions

    default: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(SuperviseOptions)}
    s = p.add_argument_group("supervision")
    s.add_argument(
        "--stop-signal",
        type=parse_signal,
        default=int(default["stop_signal"]),
        metavar="SIGNAL",
        help="signal run sends to the child's process group when it stops the child itself (restart "
        "reload, loop failure) (default: SIGTERM)",
    )
    s.add_argument(
        "--stop-timeout",
        type=parse_duration_arg,
        default=default["stop_timeout"],
        metavar="DURATION",
        help="wait this long after the stop signal (or a forwarded SIGTERM/SIGINT/SIGQUIT) before "
        f"SIGKILL of the child's process group (default: {format_duration(default['stop_timeout'])})",
    )
    s.add_argument(
        "--restart",
        choices=RESTART_POLICIES,
        default=default["restart"],
        help="restart the child when it exits (default: %(default)s)",
    )
    s.add_argument(
        "--restart-delay",
        type=parse_duration_arg,
        default=default["restart_delay"],
        metavar="DURATION",
        help=f"wait between an exit and the restart (default: {format_duration(default['restart_delay'])})",
    )
    s.add_argument(
        "--max-restarts-per-minute",
        type=_nonneg_int,
        default=default["max_restarts_per_minute"],
        metavar="N",
        help="give up (exit with the last status) rather than restart more often than this in any "
        "60 s window (default: %(default)s)",
    )
    s.add_argument(
        "--ready-url",
        metavar="URL",
        help="the child is ready once GET URL answers 200; no reload signal before that",
    )
    s.add_argument(
        "--ready-delay",
        type=parse_duration_arg,
        metavar="DURATION",
        help="or: the child is ready this long after it started (default: ready at once)",
    )

    add_watch_arguments(p, default_reload_method="signal", reload_methods=_RELOAD_METHODS, for_run=True)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND ARGS", help="the command to run")
    p.set_defaults(func=run)


def _parse_gate(args: argparse.Namespace) -> list[Condition]:
    """Unit-file conditions first, then the command-line ones in order; an empty assignment
    (``ConditionX=``) resets the list of its kind, as in a systemd drop-in."""
    from config_reloader.conditions.parse import parse_assignment, parse_unit_file, split_name
    from config_reloader.errors import ConditionSyntaxError

    conditions: list[Condition] = []
    for path in args.unit:
        conditions.extend(parse_unit_file(path))
    for i, (kind, text) in enumerate(args.gate_items or [], start=1):
        if not text.startswith(kind):
            flag = "--condition" if kind == "Condition" else "--assert"
            raise ConditionSyntaxError(f"{flag} takes {kind}<Type>=VALUE, got {text!r}", text=text)
        cond = parse_assignment(text, source=f"argv[{i}]")
        if cond is None:
            reset = split_name(text.partition("=")[0])[0]
            conditions = [c for c in conditions if c.kind != reset]
        else:
            conditions.append(cond)
    if args.require_binary:
        from config_reloader.cli.condition import binary_condition

        conditions.extend(binary_condition(path) for path in args.require_binary)
    return conditions


def run(args: argparse.Namespace) -> int:
    import asyncio

    from config_reloader.cli.watch import warn_missing_watched_dirs, watch_options_from_args
    from config_reloader.errors import (
        AtomicWriteError,
        ConditionError,
        ConfigReloaderError,
        CpuidError,
        RenderError,
    )
    from config_reloader.logs import setup_logging
    from config_reloader.reconcile.apply import error_fields
    from config_reloader.reconcile.service import cli_registry, listen_error
    from config_reloader.supervise import SuperviseOptions, format_cpus, gate, supervise

    def input_error(msg: str) -> int:
        print(f"config-reloader run: error: {msg}", file=sys.stderr)
        return 2

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        return input_error("no command given: use config-reloader run [options] -- COMMAND ARGS...")
    if args.ready_url and args.ready_delay is not None:
        return input_error("give --ready-url or --ready-delay, not both")
    for flag, given in (
        ("--pid-file", args.pid_file),
        ("--process-executable-name", args.process_executable_name is not None),
        ("--process-match", args.process_match is not None),
    ):
        if given:
            return input_error(f"{flag} is not used by run: reload signals go to its child")
    setup_logging(args.log_format, args.log_level)

    machine = None
    try:
        conditions = _parse_gate(args)
        if args.cpu_data:
            from config_reloader.cpu import load_capture

            machine = load_capture(args.cpu_data)
        result = gate(conditions, pin_cpus=args.pin_cpus, machine=machine)
    except (ConditionError, CpuidError, ValueError) as exc:  # CpuidError: --require-binary, --cpu-data
        return input_error(str(exc))
    except OSError as exc:
        return input_error(f"{exc}")
    for r in result.verdict.results if result.verdict is not None else ():
        log.info(
            "condition checked",
            extra={
                "condition": str(r.condition),
                "passed": r.passed,
                "reason": r.reason,
                "source": r.condition.source,
            },
        )
    if result.action == "assert-failed":
        log.error("assert failed: not starting", extra={"reason": result.reason})
        return 1
    if result.action == "skip":
        log.info(
            "condition failed: not starting (skipped)",
            extra={"reason": result.reason, "exit_status": args.skip_exit_code},
        )
        return int(args.skip_exit_code)
    if result.cpus is not None:
        log.info(
            "pinning the child",
            extra={"cpus": format_cpus(result.cpus), "features": ",".join(result.required_features)},
        )

    reloader_options = None
    try:
        if args.config_file or args.watched_dir:
            reloader_options = watch_options_from_args(args)
            warn_missing_watched_dirs(reloader_options.watched_dirs)
        options = SuperviseOptions(
            argv=tuple(command),
            cpus=result.cpus,
            stop_signal=args.stop_signal,
            stop_timeout=args.stop_timeout,
            restart=args.restart,
            restart_delay=args.restart_delay,
            max_restarts_per_minute=args.max_restarts_per_minute,
            ready_url=args.ready_url or None,
            ready_delay=args.ready_delay,
            reload_signal=args.reload_signal,
        )
    except ValueError as exc:
        return input_error(str(exc))

    try:
        return asyncio.run(
            supervise(
                options,
                reloader_options=reloader_options,
                reload_method=args.reload_method,
                listen_address=args.listen_address or None,
                registry=cli_registry() if args.listen_address else None,
            )
        )
    except (RenderError, AtomicWriteError) as exc:
        log.error("cannot render the config: not starting the child", extra=error_fields(exc))
        return 1
    except ConfigReloaderError as exc:
        log.error("run failed", extra={"err": str(exc)})
        return 1
    except OSError as exc:  # e.g. --listen-address in use
        if args.listen_address and listen_error(exc) is not None:
            log.error(
                "cannot listen on --listen-address",
                extra={"listen_address": args.listen_address, "err": str(exc)},
            )
        else:
            log.error("run failed", extra={"err": str(exc)})
        return 1
