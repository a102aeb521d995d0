"""The ``neoadj`` command line: one sub-command per module in ``app/commands``.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Exit codes: 0 success, 1 work done but something failed,
2 bad input / nothing done. Errors are printed as one readable line, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

from app import __version__
from app.errors import ScreeningError

COMMAND_MODULES = (
    "inspect_cmd",
    "synth_cmd",
    "train_cmd",
    "predict_cmd",
    "explain_cmd",
    "screen_cmd",
    "audit_cmd",
    "export_log_cmd",
    "report_cmd",
    "gui_cmd",
)

log = logging.getLogger("neoadj")


def _load_commands() -> list[ModuleType]:
    modules = []
    for name in COMMAND_MODULES:
        try:
            modules.append(importlib.import_module(f"app.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"app.commands.{name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="neoadj", description="Neoadj-Net screening workstation (Neoadj-Net01, NCT06420440)"
    )
    parser.add_argument("--version", action="version", version=f"neoadj {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _load_commands():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def quiet_library_warnings(*, verbose: bool) -> None:
    """Keep pydicom's non-conformance chatter (long UIDs, odd VRs) off the user's terminal.

    Such values are read as written; what matters to the user is reported by the importers.
    """
    if verbose:
        return
    warnings.filterwarnings("ignore", module=r"pydicom(\..*)?")
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``neoadj`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    quiet_library_warnings(verbose=args.verbose)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args._run(args)
    except ScreeningError as exc:
        print(f"neoadj {args.command}: {exc.user_message}", file=sys.stderr)
        return 2
    except Exception:
        log.debug("unexpected error", exc_info=True)
        print(
            f"neoadj {args.command}: unexpected error; run with -v for details", file=sys.stderr
        )
        return 1
    except KeyboardInterrupt:
        print(f"neoadj {args.command}: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
