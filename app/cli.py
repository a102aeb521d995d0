"""The ``neoadj`` command line: one sub-command per module in ``app/commands``.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``; `COMMANDS` lists them. Exit codes: 0 success, 1 work done but something
failed, 2 bad input / nothing done. Errors are printed as one readable line, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings
from collections.abc import Sequence

from app import __version__
from app.errors import ScreeningError

COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("inspect_cmd", "describe what a case folder holds, in its own geometry"),
    "synth": ("synth_cmd", "write the synthetic demo case or cohort"),
    "train": ("train_cmd", "train Neoadj-Net on a cohort and write a checkpoint"),
    "predict": ("predict_cmd", "predict benefit from neoadjuvant therapy for one case"),
    "explain": ("explain_cmd", "explain a prediction (saliency, attributions, sanity checks)"),
    "screen": ("screen_cmd", "screen every case folder under a root into the database"),
    "audit": ("audit_cmd", "verify the audit trail, or show a case's history"),
    "export-log": ("export_log_cmd", "write the screening log and the CONSORT-style counts"),
    "report": ("report_cmd", "write the tumour-board report (PDF) of one case"),
    "gui": ("gui_cmd", "open the workstation window"),
}
"""Sub-command name -> (module in app/commands, one-line summary for the listing)."""

log = logging.getLogger("neoadj")


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the `selected` command's module is imported.

    Importing a command pulls in its libraries (torch, captum, Qt...), so ``neoadj --version``
    and the listing import none of them.
    """
    parser = argparse.ArgumentParser(
        prog="neoadj", description="Neoadj-Net screening workstation (Neoadj-Net01, NCT06420440)"
    )
    parser.add_argument("--version", action="version", version=f"neoadj {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, summary) in COMMANDS.items():
        if name != selected:
            sub.add_parser(name, help=summary)
            continue
        module = importlib.import_module(f"app.commands.{module_name}")
        p = sub.add_parser(name, help=summary, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _selected_command(argv: Sequence[str]) -> str | None:
    """The first argument that names a command (options before it take no value)."""
    return next((a for a in argv if a in COMMANDS), None)


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
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_selected_command(argv))
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
