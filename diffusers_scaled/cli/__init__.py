"""The `diffusers-scaled` command line: `roundtrip`, `calibrate`, `encode`, `info` (one module per command)."""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from . import calibrate, encode, info, roundtrip


COMMANDS = {"roundtrip": roundtrip, "calibrate": calibrate, "encode": encode, "info": info}


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
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("diffusers-scaled: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # every failure is reported as a message, not a traceback
        if args.traceback or os.environ.get("DIFFUSERS_SCALED_TRACEBACK"):
            raise
        print(f"diffusers-scaled {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
