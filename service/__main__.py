"""`python -m service`: run the translation service.

    python -m service -m model.pt --host 0.0.0.0 --port 8000
    SEQ2SEQ_MODEL=model.pt SEQ2SEQ_BATCH_WAIT_MS=10 python -m service

Options given here win over `SEQ2SEQ_*` environment variables; every other setting comes from the
environment (see service/settings.py).
"""

from __future__ import annotations

import argparse

OPTIONS = ("model", "host", "port", "workers", "log_level")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The service's options, shared by `python -m service` and `seq2seq serve`."""
    parser.add_argument("-m", "--model", help="exported model (.pt); or SEQ2SEQ_MODEL")
    parser.add_argument("--host", help="address to bind; or SEQ2SEQ_HOST")
    parser.add_argument("--port", type=int, help="port; or SEQ2SEQ_PORT")
    parser.add_argument("--workers", type=int, help="server processes; or SEQ2SEQ_WORKERS")
    parser.add_argument("--log-level", help="critical, error, warning, info, debug; or SEQ2SEQ_LOG_LEVEL")


def run(args: argparse.Namespace) -> None:
    """Serve with the options given, the environment filling in the rest."""
    from service.server import serve
    from service.settings import Settings

    serve(Settings(**{key: getattr(args, key) for key in OPTIONS if getattr(args, key) is not None}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
