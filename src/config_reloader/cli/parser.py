"""The argument parser of every subcommand: argparse with kingpin's manners.

prometheus-config-reloader parses with kingpin, which (a) never accepts an abbreviated flag
(``--reload-ur=`` is an error there, argparse's default takes it as ``--reload-url``), (b) answers a
bad flag or value with one short line and a hint instead of the usage, and (c) offers
``--help-long``, ``--help-man``, ``--completion-bash``, ``--completion-script-bash`` and
``--completion-script-zsh``. :class:`CliParser` does the same; subparsers inherit the class.

Only :mod:`argparse` and :mod:`sys` are imported at the top (``condition`` starts through here);
:mod:`difflib` is imported when an error needs a suggestion.
"""

from __future__ import annotations

import argparse
import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time (``condition`` starts through here)
if TYPE_CHECKING:
    from typing import Any, NoReturn

__all__ = ["COMPLETION_FLAG", "CliParser", "add_kingpin_flags", "bash_script", "man_page", "zsh_script"]

COMPLETION_FLAG = "--completion-bash"

_OWNER_HINTS = {
    "config-reloader watch": " (prometheus-config-reloader's flags: run `config-reloader watch ...` "
    "or /bin/prometheus-config-reloader)"
}
"""What to add when a flag given without its subcommand belongs to that subcommand (the image's
default entry point run with the flags prometheus-operator gives its reloader)."""


def _suggest(word: str, candidates: list[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return found[0] if found else None


_CUMULATIVE = (
    argparse._AppendAction,
    argparse._AppendConstAction,
    argparse._CountAction,
    argparse._ExtendAction,
)


def _repeatable(action: argparse.Action) -> bool:
    """Whether giving ``action``'s flag again adds to it (kingpin's cumulative values)."""
    return isinstance(action, _CUMULATIVE) or bool(getattr(action, "repeatable", False))


class CliParser(argparse.ArgumentParser):
    """:class:`argparse.ArgumentParser` without abbreviations and with one-line errors.

    An error prints ``PROG: error: WHAT[; did you mean X?] (see PROG --help)`` on stderr and exits
    2, the status prometheus-config-reloader uses for a flag error.

    Attributes:
        refuse_repeats: a flag that is not repeatable (:func:`_repeatable`) given twice is an
            error, ``flag 'NAME' cannot be repeated``, as kingpin answers; else the last wins
            (argparse's way).
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        kw.setdefault("allow_abbrev", False)
        super().__init__(*args, **kw)
        self.refuse_repeats = False

    def check_repeats(self, argv: list[str]) -> None:
        """Fail (:meth:`error`) on the first flag of ``argv`` given a second time that is not
        repeatable. Arguments after ``--`` are not flags."""
        seen: set[argparse.Action] = set()
        for arg in argv:
            if arg == "--":
                return
            if not arg.startswith("--"):
                continue
            name = arg.partition("=")[0]
            action = self._option_string_actions.get(name)
            if action is None or _repeatable(action):
                continue
            if action in seen:
                self.error(f"flag {name[2:]!r} cannot be repeated")
            seen.add(action)

    # -- errors ---------------------------------------------------------------------------------
    def long_flags(self) -> list[str]:
        """Every ``--flag`` this parser accepts, help and hidden ones included."""
        return sorted(s for s in self._option_string_actions if s.startswith("--"))

    def unknown(self, extras: list[str]) -> NoReturn:
        """Fail on arguments no parser took: the first one, with the nearest flag."""
        first = extras[0]
        if first.startswith("-"):
            name = first.partition("=")[0]
            owner = self._subcommand_with_flag(name)
            if owner is not None:
                self.error(f"{name} is a flag of `{owner}`" + _OWNER_HINTS.get(owner, ""))
            near = _suggest(name, self.long_flags())
            self.error(f"unknown flag {name}" + (f"; did you mean {near}?" if near else ""))
        self.error(f"unexpected argument {first!r}")

    def error(self, message: str) -> NoReturn:
        """One line on stderr, exit status 2 (kingpin's short form, plus a suggestion)."""
        if message.startswith("unrecognized arguments: "):
            self.unknown(message.removeprefix("unrecognized arguments: ").split())
        marker = "invalid choice: "
        if marker in message and "(choose from " in message:
            value = message.split(marker, 1)[1].split(" (choose from ", 1)[0].strip("'")
            choices = [c.strip(" '") for c in message.rsplit("(choose from ", 1)[1].rstrip(")").split(",")]
            near = _suggest(value, choices)
            if near is not None and near != value:
                message += f"; did you mean {near!r}?"
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    # -- kingpin's completion protocol ---------------------------------------------------------
    def completions(self, words: list[str]) -> list[str]:
        """Candidates for the next word after ``words`` (kingpin's ``--completion-bash``): the
        choices of a flag waiting for its value, nothing for a free value (the shell completes
        file names), else the flags and subcommands."""
        sub = self._subcommands()
        for i, w in enumerate(words):
            if w in sub:
                return sub[w].completions(words[i + 1 :])
        if words:
            action = self._option_string_actions.get(words[-1])
            if action is not None and action.nargs != 0:
                return [str(c) for c in action.choices] if action.choices else []
        flags = [
            s
            for a in self._actions
            if a.help is not argparse.SUPPRESS
            for s in a.option_strings
            if s.startswith("--")
        ]
        return sorted(sub) + sorted(flags)

    def subparser(self, name: str | None) -> CliParser | None:
        """The parser of subcommand ``name`` (``None`` when there is none)."""
        return self._subcommands().get(name or "")

    def _subcommand_with_flag(self, name: str) -> str | None:
        """The program name (``prog``) of the first subcommand that has flag ``name``."""
        for sub in dict.fromkeys(self._subcommands().values()):
            if name in sub._option_string_actions:
                return sub.prog
        return None

    def _subcommands(self) -> dict[str, CliParser]:
        for a in self._actions:
            if isinstance(a, argparse._SubParsersAction):
                return dict(a.choices)
        return {}

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if COMPLETION_FLAG in argv:
            i = argv.index(COMPLETION_FLAG)
            words = argv[:i] + argv[i + 1 :]
            print("\n".join(self.completions(words)))
            self.exit(0)
        if self.refuse_repeats:
            self.check_repeats(argv)
        return super().parse_known_args(argv, namespace)


def _program() -> str:
    """The name the shell runs us by (``prometheus-config-reloader`` for that entry point);
    ``python -m config_reloader`` completes the installed ``config-reloader``."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "config-reloader" if name in ("", "__main__.py", "-c") else name


def bash_script(program: str) -> str:
    """A bash completion script: each Tab asks ``PROGRAM --completion-bash WORDS...``."""
    fn = "_" + "".join(c if c.isalnum() else "_" for c in program) + "_complete"
    return (
        f"{fn}() {{\n"
        '    local cur="${COMP_WORDS[COMP_CWORD]}"\n'
        f'    local candidates="$("{program}" {COMPLETION_FLAG} '
        '"${COMP_WORDS[@]:1:COMP_CWORD-1}" 2>/dev/null)"\n'
        '    COMPREPLY=( $(compgen -W "${candidates}" -- "${cur}") )\n'
        "}\n"
        f"complete -F {fn} -o default -o bashdefault {program}\n"
    )


def zsh_script(program: str) -> str:
    """A zsh completion script with the same protocol (no bashcompinit needed)."""
    fn = "_" + "".join(c if c.isalnum() else "_" for c in program)
    return (
        f"#compdef {program}\n"
        f"{fn}() {{\n"
        "    local -a candidates\n"
        f'    candidates=("${{(@f)$("{program}" {COMPLETION_FLAG} '
        '"${(@)words[2,CURRENT-1]}" 2>/dev/null)}")\n'
        '    if (( ${#candidates} )) && [[ -n "${candidates[1]}" ]]; then\n'
        "        compadd -- $candidates\n"
        "    else\n"
        "        _files\n"
        "    fi\n"
        "}\n"
        f"compdef {fn} {program}\n"
    )


def _roff(text: str) -> str:
    out = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in out.splitlines())


def man_page(parser: argparse.ArgumentParser) -> str:
    """A man(7) page for ``parser``: name, synopsis, description and every visible flag."""
    title = parser.prog.replace(" ", "-")
    lines = [
        f'.TH "{title.upper()}" "1" "" "config-reloader" "User Commands"',
        ".SH NAME",
        f"{_roff(parser.prog)} \\- {_roff((parser.description or '').split('. ')[0].rstrip('.'))}",
        ".SH SYNOPSIS",
        f".B {_roff(parser.prog)}",
        "[\\fIFLAGS\\fR]",
    ]
    if parser.description:
        lines += [".SH DESCRIPTION", _roff(parser.description)]
    lines.append(".SH FLAGS")
    fmt = parser._get_formatter()
    for action in parser._actions:
        if action.help is argparse.SUPPRESS or not action.option_strings:
            continue
        names = ", ".join(action.option_strings)
        metavar = "" if action.nargs == 0 else "=" + fmt._format_args(action, action.dest.upper())
        lines += [".TP", f"\\fB{_roff(names)}\\fR{_roff(metavar)}", _roff(fmt._expand_help(action) or "")]
    return "\n".join(lines) + "\n"


class _Print(argparse.Action):
    """A flag that prints what ``render(parser)`` returns and exits 0."""

    def __init__(self, option_strings: list[str], dest: str, render: Any = None, **kw: Any) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, default=argparse.SUPPRESS, **kw)
        self.render = render

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kw: Any) -> None:
        sys.stdout.write(self.render(parser))
        parser.exit(0)


def _help_long(parser: argparse.ArgumentParser) -> str:
    parts = [parser.format_help()]
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            parts += [sub.format_help() for sub in dict.fromkeys(a.choices.values())]
    return "\n".join(parts)


def add_kingpin_flags(parser: argparse.ArgumentParser) -> None:
    """Add kingpin's ``--help-long``, ``--help-man``, ``--completion-script-bash`` and
    ``--completion-script-zsh`` (the last two hidden from ``--help``, as kingpin does) and a hidden
    ``--completion-bash`` (handled by :meth:`CliParser.parse_known_args` before parsing)."""
    g = parser.add_argument_group("help")
    g.add_argument("--help-long", action=_Print, render=_help_long, help="show the help of every command")
    g.add_argument("--help-man", action=_Print, render=man_page, help="print a man page (roff)")
    g.add_argument(
        "--completion-script-bash",
        action=_Print,
        render=lambda p: bash_script(_program()),
        help=argparse.SUPPRESS,
    )
    g.add_argument(
        "--completion-script-zsh",
        action=_Print,
        render=lambda p: zsh_script(_program()),
        help=argparse.SUPPRESS,
    )
    g.add_argument(COMPLETION_FLAG, action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
