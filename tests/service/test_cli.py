"""`python -m service` and `seq2seq serve` (service/cli.py): the same options, each reaching the settings."""

from __future__ import annotations

import subprocess

from seq2seq.cli import build_parser
from service.cli import OPTIONS
from service.settings import Settings
from tests.conftest import PYTHON, ROOT, python_env

ARGV = ["-m", "de-en.pt", "-m", "models/", "--host", "0.0.0.0", "--port", "9000", "--workers", "2",
        "--log-level", "debug"]


def test_seq2seq_serve_passes_every_option_to_the_settings() -> None:
    args = build_parser().parse_args(["serve", *ARGV])
    assert {key: getattr(args, key) for key in OPTIONS} == {
        "host": "0.0.0.0",
        "port": 9000,
        "workers": 2,
        "log_level": "debug",
    }
    assert args.model == ["de-en.pt", "models/"]  # every -m, as Settings.models
    assert set(OPTIONS) <= set(Settings.model_fields) and "models" in Settings.model_fields
    assert Settings(models=args.model).model_entries == ["de-en.pt", "models/"]
    assert Settings(model="one.pt").model_entries == ["one.pt"]


def test_python_m_service_takes_the_same_options() -> None:
    out = subprocess.run(
        [PYTHON, "-m", "service", "--help"], cwd=ROOT, env=python_env(), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: python -m service")
    for flag in ("--model", "--host", "--port", "--workers", "--log-level"):
        assert flag in out.stdout
    out = subprocess.run(
        [PYTHON, "-m", "service", "--port", "not-a-port"],
        cwd=ROOT,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "invalid int value" in out.stderr
