"""Command-line entry point: argument parsing and subcommand dispatch only.

Each subcommand lives in its own module of this package and exposes::

    def register(subparsers) -> None    # adds its parser; sets defaults(func=run)
    def run(args: argparse.Namespace) -> int   # imports its engine lazily, returns the exit status

Engines are imported inside ``run`` so that ``config-reloader condition`` never pays for aiohttp,
prometheus_client or the inotify layer (budget B1 in docs/design.md: start within 1.3x of a bare interpreter).
For the same budget, ``argparse`` is imported only when a parser is built: a ``condition`` command
line made of assignments only is parsed by ``condition.parse_fast`` (argparse, its gettext
look-ups and ``locale`` cost ~4 ms, a third of the budget), and a ``watch`` command line of plain
``--flag=value`` settings by ``watchflags.parse_plain`` (the operator's init container and
sidecar); anything else goes through argparse.
This package is the only place that maps our exceptions to exit statuses and messages.
"""

from __future__ import annotations

import _thread  # thread count without the threading module (loaded by the engine only)
import atexit
import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from config_reloader.cli.parser import CliParser

__all__ = ["build_parser", "main"]

# name -> module (relative to this package). Order is the order in --help.
_SUBCOMMANDS = (
    ("watch", "watch"),
    ("run", "run"),
    ("condition", "condition"),
    ("cpu-features", "cpu_features"),
    ("demo", "demo"),
)


def _version_action() -> type[argparse.Action]:
    """The ``--version`` action class (defined on first use: argparse is imported lazily)."""
    import argparse

    class _VersionAction(argparse.Action):
        """Prints the version lazily (it reads the installed METADATA: only pay when asked)."""

        def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: object):
            super().__init__(
                option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print the version and exit"
            )

        def __call__(self, parser: argparse.ArgumentParser, *a: object, **kw: object) -> None:
            from config_reloader.version import version_text

            print(f"config-reloader {version_text()}")
            parser.exit()

    return _VersionAction


def build_parser(only: str | None = None) -> CliParser:
    """Build the parser. Used by ``main`` and by tests that check that command lines in docs and
    manifests parse.

    Args:
        only: register just this subcommand (``main`` passes the one named on the command line,
            so ``condition`` does not pay for building the ``watch`` and ``run`` parsers);
            ``None`` registers all of them.
    """
    import importlib

    from config_reloader.cli.parser import CliParser, add_kingpin_flags

    parser = CliParser(
        prog="config-reloader",
        description=(
            "Reload services exactly when their configuration content changes (watch), "
            "gate and pin them on CPU features with systemd-style conditions checked on every CPU "
            "(condition, cpu-features), or do both as a small supervisor (run)."
        ),
    )
    parser.add_argument("--version", action=_version_action())
    add_kingpin_flags(parser)
    # dest is not "command": `run -- COMMAND ARGS...` stores the child's argv under that name.
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND")
    for name, module in _SUBCOMMANDS:
        if only is not None and name != only:
            continue
        mod = importlib.import_module(f"{__name__}.{module}")
        mod.register(sub)
    return parser


def _exit_without_teardown(status: int) -> None:
    """End the program now with ``status`` when nothing needs the interpreter's teardown; else return.

    ``Py_FinalizeEx`` clears every module and frees every object one at a time: 8.6 M instructions
    of the init container's one-shot render (52.4 M in all; ``python -I -c pass`` is 35.6 M, 7.0 M
    of it its own teardown). At the 10 millicore limit of prometheus-operator's reloader slot, each
    millisecond of CPU is 0.1 s of every Prometheus pod start; ``condition`` runs before every
    service start. mypy's ``hard_exit`` ends the same way, with ``os._exit``.

    What the teardown does that a program can observe is done here first: atexit handlers run
    (logging's flush, if logging was loaded) and stdout and stderr are flushed; every file we write
    is written, fsynced and closed before a command returns. It returns, leaving the ordinary
    exit, when another thread is alive (the teardown would wait for it), when a tracer or
    profiler is set (coverage and cProfile report after the program), or when a flush fails (a
    closed pipe: the interpreter reports it as usual).
    """
    if sys.gettrace() is not None or sys.getprofile() is not None or _thread._count() > 0:
        return
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        return
    os._exit(status)


# Program names that imply a subcommand: the console script installed (or symlinked) under that
# name, e.g. the container image's /bin/prometheus-config-reloader, the command prometheus-operator
# runs with bare flags.
PROGRAM_SUBCOMMANDS = {"prometheus-config-reloader": "watch"}


def _defer_collection() -> None:
    """No cyclic garbage collection while ``watch`` starts (program runs only, ``argv`` None).

    Importing and building the CLI allocates tens of thousands of long-lived objects (modules,
    functions, classes) and triggers collections that find nothing: ~10 ms of CPU of the ~65 ms
    the init container's one-shot render costs (measured in the image: 74.9 -> 64.9 ms), and at
    the 10m CPU limit of prometheus-operator's reloader slot every millisecond is 0.1 s of pod
    start. The one-shot render exits with collection still off (it holds no cycles that matter);
    the sidecar freezes what start-up made and turns collection on again before its loop runs
    (:func:`config_reloader.cli.watch.run`).
    """
    import gc

    gc.disable()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit status.

    Run as ``prometheus-config-reloader`` (``sys.argv[0]``'s base name, :data:`PROGRAM_SUBCOMMANDS`)
    and without ``argv``, the command line is that of ``config-reloader watch``.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    program = sys.argv[0].rpartition("/")[2] if argv is None else ""
    implied = PROGRAM_SUBCOMMANDS.get(program)
    if implied is not None:
        args_list.insert(0, implied)
    first = args_list[0] if args_list else None
    if argv is None and first == "watch":
        _defer_collection()
    args: object = None
    if first == "condition":  # the start-up-critical command: skip argparse when it can
        from config_reloader.cli.condition import parse_fast

        args = parse_fast(args_list[1:])
    elif first == "watch":  # the operator's reloader slot: its plain flags skip argparse too
        from config_reloader.cli.watchflags import parse_plain

        args = parse_plain(args_list[1:], program) if implied is not None else parse_plain(args_list[1:])
    if args is None:
        parser = build_parser(first if first in dict(_SUBCOMMANDS) else None)
        implied_parser = parser.subparser(implied) if implied is not None else None
        if implied_parser is not None:  # usage and errors name the program that was run
            implied_parser.prog = program
            implied_parser.set_defaults(program=program)
            if args_list[1:2] == [implied]:  # `prometheus-config-reloader watch --config-file=...`
                implied_parser.error(
                    f"unexpected argument {implied!r}: {program} is `config-reloader {implied}` already; "
                    f"drop the word {implied!r}"
                )
        args, extras = parser.parse_known_args(args_list)
        if extras:
            # The subcommand's parser knows its flags: it names the nearest one.
            sub = parser.subparser(getattr(args, "subcommand", None))
            (sub if sub is not None else parser).unknown(extras)
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return 2
    func = getattr(args, "func")  # noqa: B009 (args is argparse's Namespace or the fast path's)
    try:
        status = int(func(args))
        if argv is None:  # the program, not a caller such as a test suite
            _exit_without_teardown(status)
        return status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `config-reloader cpu-features | head`: the reader went away; not our error.
        # Point stdout at /dev/null so the interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a killed pipeline member
