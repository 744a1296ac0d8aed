"""Command line for the course helpers: ``python -m course_utils <command>``.

Commands:
    doctor   check that this machine is ready for the course (exit 0 when ready)
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m course_utils`` parser, one subcommand per task."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils",
        description="Helpers for the CNN course.",
    )
    commands = parser.add_subparsers(dest="command", metavar="command")
    commands.add_parser(
        "doctor",
        help="check that this machine is ready for the course",
        description=(
            "Check Python, packages, device, EuroSAT data, W&B mode, the shipped "
            "model and one training step. Exits 0 when READY, 1 when NOT READY."
        ),
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command == "doctor":
        from . import doctor

        return doctor.main()
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
