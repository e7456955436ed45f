"""Experiment configs: every key commented, overrides type-checked, errors name the file and line."""

import glob
import os

import pytest
import yaml

from tests.conftest import ROOT
from training.config import ConfigError, load_config

CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml")))


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_shipped_configs_load_and_comment_every_key(path):
    load_config(path)
    for number, line in enumerate(open(path, encoding="utf-8"), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and ":" in stripped:
            key = stripped.split(":", 1)[0]
            # A key is commented on its line, or is a continuation of the key above (max_len_a/b pairs).
            assert "#" in line, f"{path}:{number}: key {key!r} has no comment"


def test_overrides_are_checked_against_field_types():
    cfg = load_config(None, ["train.lr=5e-4", "model.enc_reg.zoneout_c=0.2", "model.input_feeding=false"])
    assert cfg.train.lr == 5e-4 and cfg.model.enc_reg.zoneout_c == 0.2 and cfg.model.input_feeding is False
    with pytest.raises(ConfigError, match="train.lr: expected a number"):
        load_config(None, ["train.lr=fast"])
    with pytest.raises(ConfigError, match="train.max_steps: expected an integer"):
        load_config(None, ["train.max_steps=1.5"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(None, ["train.learning_rate=1"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["train.lr"])


def test_bad_values_are_refused_with_file_and_line(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("data:\n  src: de\nmodel:\n  cell: lstm\n  attention: bahdanau\n")
    with pytest.raises(ConfigError, match=r"exp.yaml:5: model.attention"):
        load_config(str(path))
    path.write_text("train:\n  lr: 0.001\n  max_tokenz: 10\n")
    with pytest.raises(ConfigError, match=r"exp.yaml:3: train.max_tokenz: unknown key"):
        load_config(str(path))
    path.write_text("model:\n  enc_reg:\n    zoneout_c: 1.5\n")
    with pytest.raises(ConfigError, match="zoneout_c"):
        load_config(str(path))
    path.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="exp.yaml:2: invalid YAML"):
        load_config(str(path))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "missing.yaml"))


def test_resolved_config_round_trips(tmp_path):
    from training.config import save_config

    cfg = load_config(os.path.join(ROOT, "configs", "multi30k.yaml"), ["train.lr=0.002"])
    save_config(cfg, str(tmp_path / "c.yaml"))
    again = load_config(str(tmp_path / "c.yaml"))
    assert again == cfg
    assert yaml.safe_load((tmp_path / "c.yaml").read_text())["train"]["lr"] == 0.002
