"""The `diffusers-scaled` command line: `roundtrip`, `calibrate`, `encode`, `verify`, `info` (one module per command).

The command modules are light to import (each imports torch, diffusers and the tools inside its `run`), so `--help`
and `--version` answer at once; a Ctrl-C while a command starts or runs prints one line.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from . import _common, calibrate, encode, info, roundtrip, verify  # light: see `_common`


COMMANDS = {"roundtrip": roundtrip, "calibrate": calibrate, "encode": encode, "verify": verify, "info": info}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffusers-scaled",
        description="Latent scaling tools for diffusers VAEs. Without --model, every command uses the small VAE "
        "that ships with the package (no download).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--traceback", action="store_true", help="show the full Python traceback on errors (for bug reports)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        sub = subparsers.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run, interrupted=getattr(module, "INTERRUPTED", None), options=_options(sub))
    return parser


# The tools' argument names that the command line spells differently.
_TOOL_ARGUMENTS = {"vae": "--model", "name_or_path": "--model", "num_workers": "--workers", "raw_latents": "--raw"}


def _options(parser: argparse.ArgumentParser) -> dict[str, str]:
    """`{argument name in the tools' messages: how the command line spells it}` for one command."""
    options = {a.dest: a.option_strings[-1] for a in parser._actions if a.option_strings and a.dest != "help"}
    return {**{k: v for k, v in _TOOL_ARGUMENTS.items() if v in options.values()}, **options}


def _in_command_line_words(message: str, options: dict[str, str]) -> str:
    # The tools name their arguments as in Python (`resolution`); the user typed `--resolution`.
    for name, option in options.items():
        message = message.replace(f"`{name}`", f"`{option}`")
    return message


def main(argv: list[str] | None = None) -> int:
    # The commands use a VAE only; transformers' notices about its image processors (torchvision missing) are not
    # for them. Set before anything imports transformers; a value the user set wins.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    args = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        _common.check_model(args)  # a model that cannot be found: reported before the command imports torch
        return args.run(args) or 0
    except KeyboardInterrupt:
        hint = getattr(args, "interrupted", None)
        print(f"diffusers-scaled: interrupted{': ' + hint if hint else ''}", file=sys.stderr)
        return 130
    except Exception as error:  # every failure is reported as a message, not a traceback
        if args is None or args.traceback or os.environ.get("DIFFUSERS_SCALED_TRACEBACK"):
            raise
        message = _in_command_line_words(str(error), args.options)
        print(f"diffusers-scaled {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
