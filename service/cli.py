"""`python -m service` and `seq2seq serve`: run the translation service.

    python -m service -m model.pt --host 0.0.0.0 --port 8000
    seq2seq serve -m de-en.pt -m en-fr.pt --host 0.0.0.0 --port 8000    # de→en, en→fr, and de→fr through en
    seq2seq serve -m models/                                            # every *.pt in the folder
    SEQ2SEQ_MODEL=model.pt SEQ2SEQ_BATCH_WAIT_MS=10 python -m service

Options given here win over `SEQ2SEQ_*` environment variables; every other setting comes from the
environment (see service/settings.py). This module imports only argparse: the server is imported when it runs.
"""

from __future__ import annotations

import argparse

OPTIONS = ("host", "port", "workers", "log_level")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The service's options, shared by `python -m service` and `seq2seq serve`."""
    parser.add_argument("-m", "--model", action="append", metavar="PATH",
                        help="exported model (.pt), or a folder of them; repeat for more language pairs; or "
                             "SEQ2SEQ_MODELS (comma-separated) or SEQ2SEQ_MODEL")
    parser.add_argument("--host", help="address to bind; or SEQ2SEQ_HOST")
    parser.add_argument("--port", type=int, help="port; or SEQ2SEQ_PORT")
    parser.add_argument("--workers", type=int, help="server processes; or SEQ2SEQ_WORKERS")
    parser.add_argument("--log-level", help="critical, error, warning, info, debug; or SEQ2SEQ_LOG_LEVEL")


def run(args: argparse.Namespace) -> int:
    """Serve with the options given, the environment filling in the rest."""
    from service.server import serve
    from service.settings import Settings

    given = {key: getattr(args, key) for key in OPTIONS if getattr(args, key) is not None}
    if args.model:
        given["models"] = args.model
    serve(Settings(**given))
    return 0


def add_serve(commands: argparse._SubParsersAction) -> None:
    """The entry point `serve` of the group `seq2seq.commands` (seq2seq/cli.py)."""
    parser = commands.add_parser("serve", help="HTTP translation service (LibreTranslate-compatible)")
    add_arguments(parser)
    parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m service", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    run(parser.parse_args(argv))
