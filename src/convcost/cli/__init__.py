"""The ``convcost`` command: builds the parser from the subcommand modules (``conv``,
``model``, ``compare``, ``devices``, ``calibrate``: each ``add_arguments`` and ``run``),
runs the one asked for and prints its report. Exit 0, or 2 on bad input with one line
``convcost COMMAND: error: …`` naming the flag (never a traceback). A missing optional
dependency (installed without the ``torch`` extra, ``convcost model`` cannot import torch) is
one such line naming the extra to install (:func:`.common.missing_extra`).

Building the parser imports no subcommand's dependencies; each ``run`` imports what it
needs. Only the subcommand being run gets its options added (the others are listed with their
one-line help), which keeps ``convcost conv`` quick to start.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..errors import ConvCostError
from . import calibrate, compare, conv, devices, model, serve
from .common import Command, Parser, flag_error, missing_extra, one_line, parser_options

__all__ = ["COMMANDS", "build_parser", "command_of", "main"]

#: The subcommands, in the order ``--help`` lists them.
COMMANDS: dict[str, Command] = {c.NAME: c for c in (conv, model, compare, devices, calibrate,
                                                    serve)}


def build_parser(only: str | None = None) -> Parser:
    """The ``convcost`` parser with one subparser per command; with ``only``, the options of
    that command alone are added (every command is still listed by ``--help``)."""
    from .. import __version__

    p = Parser(
        prog="convcost",
        description="Exact forward/backward cost (mults, adds, FLOPs) and memory of "
        "convolution layers and whole models, without running them.",
    )
    p.add_argument("--version", action="version", version=f"convcost {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name, cmd in COMMANDS.items():
        sp = sub.add_parser(name, help=cmd.HELP, **parser_options(cmd))
        if only is None or name == only:
            cmd.add_arguments(sp)
    return p


def command_of(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` asks for (its first word that is not an option), if known."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convcost`` command. Returns the exit code."""
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_of(words))
    if not words:  # bare `convcost`: its usage and commands, as a usage error (stdout stays clean)
        sys.stderr.write(parser.format_help())
        return 2
    args, extra = parser.parse_known_args(words)
    if extra and args.command != "compare":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.common = extra  # compare: the options after the entries, shared by every entry
    try:
        out = COMMANDS[args.command].run(args)
    except ConvCostError as e:
        print(f"convcost {args.command}: error: {one_line(str(flag_error(e)))}",
              file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:  # an optional dependency (the torch extra...) is missing
        line = missing_extra(args.command, e)
        if line is None:
            raise
        print(f"convcost {args.command}: error: {line}", file=sys.stderr)
        return 2
    if isinstance(out, int):
        return out
    sys.stdout.write(out)
    return 0
