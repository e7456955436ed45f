"""`seq2seq train` (training/cli.py): the configuration is loaded and checked before any training starts.

(`export` and `evaluate` run their commands: tests/training/test_export_cmd.py, test_eval_cmd.py; the `seq2seq`
dispatch: tests/seq2seq/test_cli.py.)
"""

import os

import pytest

from seq2seq.cli import main
from tests.conftest import TINY, cli


def test_bad_config_is_refused_before_training(tmp_path):
    out = cli("train", "--config", TINY, "--run-dir", tmp_path / "r", "--set", "train.lr=fast")
    assert out.returncode == 2 and "train.lr: expected a number" in out.stderr
    # the override is named, not configs/tiny.yaml's line of train.lr that it replaced
    assert "error: --set train.lr=fast: train.lr: expected a number, got 'fast'" in out.stderr
    assert "tiny.yaml:" not in out.stderr
    assert not os.path.exists(tmp_path / "r")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "train.lr=.inf"], "--set train.lr=.inf: train.lr: expected a finite number"),
        (["--set", "train.lr=abc"], "--set train.lr=abc: train.lr: expected a number, got 'abc'"),
        (["--set", "train.lr=[1"], "--set train.lr=[1: invalid YAML value"),
        (["--set", "search.max_len_a=-1"], "--set search.max_len_a=-1: search.max_len_a"),
        (["--set", "train.log_every=0"], "--set train.log_every=0: train.log_every: must be at least 1"),
        (["--device", "gpu"], "--device gpu: train.device: not a device"),
    ],
)
def test_a_bad_value_exits_2_naming_its_argument_before_anything_is_written(tmp_path, capsys, args, message):
    assert main(["train", "--config", TINY, "--run-dir", str(tmp_path / "r"), *args]) == 2
    assert f"seq2seq train: error: {message}" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "r")


@pytest.mark.parametrize("option, value", [("--max-steps", "-1"), ("--max-minutes", "nan")])
def test_an_out_of_range_option_is_an_argparse_error_naming_it(tmp_path, capsys, option, value):
    with pytest.raises(SystemExit) as exited:
        main(["train", "--config", TINY, "--run-dir", str(tmp_path / "r"), option, value])
    assert exited.value.code == 2 and f"argument {option}: must be" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "r")


def test_a_yaml_section_given_twice_exits_2_naming_both_lines(tmp_path, capsys):
    """YAML keeps the last of two `train:` sections silently: the first one's settings were lost."""
    config = tmp_path / "exp.yaml"
    config.write_text(open(TINY, encoding="utf-8").read() + "train:\n  lr: 0.5\n", encoding="utf-8")
    line = len(config.read_text(encoding="utf-8").splitlines()) - 1
    assert main(["train", "--config", str(config), "--run-dir", str(tmp_path / "r")]) == 2
    assert f"error: {config}:{line}: train: duplicate key (first at line " in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "r")
