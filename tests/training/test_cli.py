"""`seq2seq train` (training/cli.py): the configuration is loaded and checked before any training starts.

(`export` and `evaluate` run their commands: tests/training/test_export_cmd.py, test_eval_cmd.py; the `seq2seq`
dispatch: tests/seq2seq/test_cli.py.)
"""

import os

from tests.conftest import TINY, cli


def test_bad_config_is_refused_before_training(tmp_path):
    out = cli("train", "--config", TINY, "--run-dir", tmp_path / "r", "--set", "train.lr=fast")
    assert out.returncode == 2 and "train.lr: expected a number" in out.stderr
    assert not os.path.exists(tmp_path / "r")
