"""Command line: ``python -m mdmi <command> ...``. Every workflow rule calls one of these."""

# The parser is built from mdmi.cli.commands.COMMANDS, a table of each command's name, help, handler
# and arguments. A handler is named "module:function" under mdmi.cli (stages, outputs, maintenance)
# or is a domain's command module; only the chosen command's module is imported, so `--help` and the
# light commands do not load torch.

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from mdmi.cli.commands import COMMANDS, common_options
from mdmi.domains import registry
from mdmi.errors import MdmiError


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m mdmi", description=__doc__)
    ap.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    ap.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of a user error too (bugs always show it)",
    )
    ap.add_argument(
        "--threads", type=int, help="CPU threads/processes (overrides the config's threads)"
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.name, aliases=list(command.aliases), help=command.help)
        if command.common:
            common_options(p, domain=command.common == "domain")
        for flags, options in command.args:
            p.add_argument(*flags, **options)
        p.set_defaults(fn=f"mdmi.cli.{command.handler}")

    chosen = _command_name(sys.argv[1:] if argv is None else argv)
    for spec in registry().values():  # commands a domain declares (e.g. `solve`)
        for name, command in spec.commands.items():
            p = sub.add_parser(name, help=command.help)
            if name == chosen:  # its module (torch, models) is loaded only when it runs
                importlib.import_module(command.module).add_arguments(p)
            p.set_defaults(fn=f"{command.module}:run", results_only=True)
    return ap


def _command_name(argv: list[str]) -> str | None:
    """The command word of ``argv`` (global options and the value of ``--threads`` skipped)."""
    it = iter(argv)
    for word in it:
        if word == "--threads":
            next(it, None)
        elif not word.startswith("-"):
            return word
    return None


def handler(path):
    """``"package.module:function"`` -> the function (its module imported now); a function as it is."""
    if callable(path):
        return path
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def main(argv=None) -> int:
    args = build_parser(argv).parse_args(argv)
    quiet = args.quiet or getattr(args, "results_only", False)  # domain commands print results only
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        handler(args.fn)(args)
    except MdmiError as e:  # the user's input, config or option: one line; anything else is a bug
        if args.debug:
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"mdmi {args.cmd}: error: {msg}", file=sys.stderr)
        return 2
    return 0
