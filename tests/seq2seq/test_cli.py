"""The `seq2seq` command (seq2seq/cli.py): subcommands from the entry-point group, what a missing extra says,
and a parser that loads no extra's dependency."""

from __future__ import annotations

import subprocess
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from seq2seq import cli
from tests.conftest import PYTHON, ROOT, modules_loaded_by, python_env

FAKE_COMMANDS = """
def add_needy(commands):
    p = commands.add_parser("needy", help="imports a module that is not installed when it runs")
    p.add_argument("--flag")
    p.set_defaults(func=run)


def run(args):
    import seq2seq_no_such_dependency  # noqa: F401


def add_nothing(commands):
    pass
"""


@pytest.fixture()
def fake_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Replace the installed entry points by the ones given (module `fake_commands` is importable)."""
    (tmp_path / "fake_commands.py").write_text(FAKE_COMMANDS)
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(**values: str) -> None:
        eps = [EntryPoint(name=name, value=value, group=cli.GROUP) for name, value in values.items()]
        monkeypatch.setattr(cli, "entry_points", lambda group: eps if group == cli.GROUP else [])

    return install


def test_every_subcommand_of_pyproject_is_registered() -> None:
    declared = tomllib.loads((Path(ROOT) / "pyproject.toml").read_text())["project"]["entry-points"][cli.GROUP]
    assert set(declared) == {"train", "evaluate", "export", "translate", "serve"}
    assert {ep.name for ep in cli.registered()} == set(declared)  # the editable install is current
    assert "not installed:" not in cli.build_parser().format_help()  # every package and its imports are here


def test_help_lists_every_subcommand() -> None:
    out = subprocess.run(
        [PYTHON, "-m", "seq2seq.cli", "--help"], cwd=ROOT, env=python_env(), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    for name in ("train", "evaluate", "export", "translate", "serve"):
        assert f"\n    {name} " in out.stdout


def test_a_package_not_installed_leaves_a_placeholder_naming_its_extra(fake_group, capsys) -> None:
    fake_group(train="seq2seq_no_such_package.cli:add_train [train]")
    assert "not installed: pip install 'seq2seq-nmt[train]'" in cli.build_parser().format_help()
    for argv in (["train"], ["train", "--config", "x.yaml", "--fresh"], ["train", "--help"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err == "seq2seq train: seq2seq_no_such_package is not installed: pip install 'seq2seq-nmt[train]'\n"


def test_a_dependency_not_installed_names_the_extra(fake_group, capsys) -> None:
    fake_group(needy="fake_commands:add_needy [serve]")
    assert cli.main(["needy", "--flag", "1"]) == 2
    assert capsys.readouterr().err == (
        "seq2seq needy: seq2seq_no_such_dependency is not installed: pip install 'seq2seq-nmt[serve]'\n"
    )


def test_a_core_command_with_a_missing_module_is_a_broken_installation(fake_group) -> None:
    fake_group(needy="fake_commands:add_needy")
    with pytest.raises(ModuleNotFoundError):
        cli.main(["needy"])
    fake_group(broken="seq2seq_no_such_package.cli:add")
    with pytest.raises(ModuleNotFoundError):
        cli.build_parser()


def test_an_entry_point_must_add_the_subcommand_it_is_named_after(fake_group) -> None:
    fake_group(other="fake_commands:add_nothing")
    with pytest.raises(RuntimeError, match="added no subcommand 'other'"):
        cli.build_parser()


def test_no_registered_commands_is_one_line(fake_group, capsys) -> None:
    fake_group()
    assert cli.main(["translate"]) == 2
    assert "no commands in the entry-point group seq2seq.commands" in capsys.readouterr().err


def test_the_seq2seq_parser_loads_no_dependency_of_an_extra():
    """`seq2seq --help` imports each subcommand's registering module (argparse only), not what it runs."""
    watched = ("fastapi", "uvicorn", "pydantic", "pydantic_settings", "prometheus_client", "datasets", "sacrebleu",
               "yaml", "tensorboard", "matplotlib", "service.app", "training.trainer", "training.config")  # tqdm: torch
    assert modules_loaded_by("seq2seq.cli; seq2seq.cli.build_parser()", watched) == []
