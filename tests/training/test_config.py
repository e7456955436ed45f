"""Experiment configs (training/config.py): every key commented, overrides type-checked, errors name the file and
line; the regularizer schedule's scale."""

import glob
import os

import pytest
import yaml

from seq2seq.config import Regularizers
from tests.conftest import ROOT
from training.config import ConfigError, OptimConfig, load_config, scaled_recurrent

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


@pytest.mark.parametrize(
    "model, key",
    [
        ("  cell: rnn\n  enc_reg:\n    recurrent_dropout: 0.2\n", "6: model.enc_reg.recurrent_dropout"),
        ("  cell: gru\n  dec_reg:\n    rnndrop: 0.2\n", "6: model.dec_reg.rnndrop"),
        ("  cell: gru\n  enc_reg:\n    zoneout_c: 0.1\n", "6: model.enc_reg.zoneout_c"),
        ("  emb_dim: 32\n  dec_hidden: 64\n  tie_embeddings: true\n", "6: model.tie_embeddings"),
    ],
)
def test_combinations_the_model_refuses_are_refused_at_load_naming_the_yaml_key(tmp_path, model, key):
    path = tmp_path / "exp.yaml"
    path.write_text("data:\n  src: de\nmodel:\n" + model)
    with pytest.raises(ConfigError, match=rf"exp.yaml:{key}: "):
        load_config(str(path))


def test_every_search_limit_is_checked_at_load_naming_the_yaml_key(tmp_path):
    path = tmp_path / "exp.yaml"
    for line, key in [("beam_size: 0", "beam_size"), ("valid_beam_size: 0", "valid_beam_size"),
                      ("max_len_a: -1", "max_len_a"), ("max_len_b: 0", "max_len_b"),
                      ("length_penalty: -0.5", "length_penalty"), ("length_penalty: .nan", "length_penalty")]:
        path.write_text(f"search:\n  {line}\n")
        with pytest.raises(ConfigError, match=rf"exp.yaml:2: (search\.\w+, )?search\.{key}\b"):
            load_config(str(path))


def test_model_and_search_sections_have_the_library_defaults():
    import dataclasses

    from seq2seq.config import ModelConfig
    from seq2seq.translator import SearchOptions
    from training.config import ExperimentConfig

    cfg = ExperimentConfig()
    library = ModelConfig(src_vocab=8, tgt_vocab=8).to_dict()
    for key in ("src_vocab", "tgt_vocab", "pad_id", "bos_id", "eos_id"):
        del library[key]
    assert dataclasses.asdict(cfg.model) == library
    options = dataclasses.asdict(SearchOptions())
    del options["n_best"]  # training and export keep one best
    assert {k: v for k, v in dataclasses.asdict(cfg.search).items() if k != "valid_beam_size"} == options


def test_regularizer_scale_is_off_before_the_start_then_a_linear_ramp():
    t = OptimConfig(reg_start_step=10, reg_ramp_steps=20)
    assert [t.reg_scale(s) for s in (1, 10, 11, 20, 30, 31, 500)] == [0.0, 0.0, 0.05, 0.5, 1.0, 1.0, 1.0]
    assert OptimConfig().reg_scale(1) == 1.0  # no schedule: the configured rates from the first update
    assert OptimConfig(reg_start_step=5).reg_scale(5) == 0.0 and OptimConfig(reg_start_step=5).reg_scale(6) == 1.0


def test_scaling_touches_only_the_recurrent_variants():
    reg = Regularizers(dropout=0.3, rnndrop=0.2, variational=0.2, weight_drop=0.2, recurrent_dropout=0.2,
                       zoneout_c=0.2, zoneout_h=0.1)
    half = scaled_recurrent(reg, 0.5)
    assert half.dropout == 0.3
    assert (half.rnndrop, half.variational, half.weight_drop, half.recurrent_dropout, half.zoneout_c,
            half.zoneout_h) == (0.1, 0.1, 0.1, 0.1, 0.1, 0.05)
    assert scaled_recurrent(Regularizers(zoneout_c=0.2), 0.0) == Regularizers()  # at 0: the fused kernel's rates


def test_a_regularizer_schedule_longer_than_the_run_is_refused_naming_the_key(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("train:\n  max_steps: 100\n  reg_start_step: 50\n  reg_ramp_steps: 80\n")
    with pytest.raises(ConfigError, match=r"x.yaml:4: train.reg_ramp_steps: .*ends after train.max_steps"):
        load_config(str(path))
    with pytest.raises(ConfigError, match="train.reg_start_step"):
        load_config(None, ["train.reg_start_step=-1"])
