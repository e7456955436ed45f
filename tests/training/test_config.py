"""Experiment configs (training/config.py): every key commented, overrides type-checked, every number range-checked,
errors name the file and line or the override; the regularizer schedule's scale."""

import dataclasses
import glob
import os
import re

import pytest
import yaml

from seq2seq.config import Regularizers
from tests.conftest import ROOT
from training.config import ConfigError, ExperimentConfig, OptimConfig, load_config, scaled_recurrent

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
                      ("length_penalty: -0.5", "length_penalty"), ("length_penalty: .nan", "length_penalty"),
                      ("stop: first", "stop")]:
        path.write_text(f"search:\n  {line}\n")
        with pytest.raises(ConfigError, match=rf"exp.yaml:2: (search\.\w+, )?search\.{key}\b"):
            load_config(str(path))


def test_model_and_search_sections_have_the_library_defaults():
    from seq2seq.config import ModelConfig
    from seq2seq.translator import SearchOptions

    cfg = ExperimentConfig()
    library = ModelConfig(src_vocab=8, tgt_vocab=8).to_dict()
    for key in ("src_vocab", "tgt_vocab", "pad_id", "bos_id", "eos_id"):
        del library[key]
    assert dataclasses.asdict(cfg.model) == library
    options = dataclasses.asdict(SearchOptions())
    del options["n_best"], options["shortlist"]  # training and export keep one best; export decides a shortlist
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


def test_an_error_names_the_override_that_gave_the_key_not_the_files_line(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("train:\n  lr: 0.001\nmodel:\n  enc_reg:\n    zoneout_c: 0.1\n")
    with pytest.raises(ConfigError) as error:
        load_config(str(path), ["train.lr=abc"])
    assert str(error.value) == "--set train.lr=abc: train.lr: expected a number, got 'abc'"
    with pytest.raises(ConfigError, match=r"^--set model.enc_reg=\{zoneout_c: 1.5\}: model.enc_reg.zoneout_c"):
        load_config(str(path), ["model.enc_reg={zoneout_c: 1.5}"])  # a key inside a mapping given whole
    with pytest.raises(ConfigError, match=r"^--lr -1: train.lr: must be positive"):
        load_config(str(path), ["train.lr=-1"], ["--lr -1"])  # a command's own option names itself
    path.write_text("train:\n  lr: -1\n")
    with pytest.raises(ConfigError, match=r"^\S*exp.yaml:2: train.lr: must be positive"):
        load_config(str(path), ["train.max_steps=5"])  # the file's key keeps its line


def test_an_override_that_is_not_yaml_or_has_no_key_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^--set train.lr=\[1: invalid YAML value"):
        load_config(None, ["train.lr=[1"])
    for item in ("=5", "train..lr=1", "train.=1"):
        with pytest.raises(ConfigError, match=rf"^--set {re.escape(item)}: expected key=value with a dotted key"):
            load_config(None, [item])


@pytest.mark.parametrize("override", ["train.lr=.inf", "train.lr=nan", "train.lr=1e999", "train.betas=[0.9, .inf]",
                                      "search.max_len_a=.inf", "search.length_penalty=.nan", "train.max_minutes=inf"])
def test_infinite_and_nan_numbers_are_refused(override):
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=rf"^--set {re.escape(override)}: {re.escape(key)}: expected a finite number"):
        load_config(None, [override])


def numeric_keys() -> list[str]:
    """Every integer and float key of the data, vocab, train and search sections (the model's are its library's,
    tests/seq2seq/test_config.py)."""
    cfg = ExperimentConfig()
    keys = []
    for section in ("data", "vocab", "train", "search"):
        for f in dataclasses.fields(getattr(cfg, section)):
            value = getattr(getattr(cfg, section), f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                keys.append(f"{section}.{f.name}")
    return keys


@pytest.mark.parametrize("key", [key for key in numeric_keys() if key != "train.forget_bias"])  # a bias: any sign
def test_every_numeric_key_has_its_range_checked_at_load(key):
    with pytest.raises(ConfigError, match=rf"^--set {re.escape(key)}=-1: (\S+, )?{re.escape(key)}\b"):
        load_config(None, [f"{key}=-1"])


@pytest.mark.parametrize("override", ["train.log_every=0", "train.max_nonfinite=0", "train.betas=[1.0, 0.999]",
                                      "train.plateau_factor=0", "train.device=gpu", "search.max_len_a=-1"])
def test_values_that_would_fail_once_training_runs_are_refused_at_load(override):
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=rf"^--set {re.escape(override)}: (\S+, )?{re.escape(key)}\b"):
        load_config(None, [override])


def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("train:\n  lr: 0.1\nsearch:\n  beam_size: 2\ntrain:\n  lr: 0.2\n")
    with pytest.raises(ConfigError, match=r"exp.yaml:5: train: duplicate key \(first at line 1\)"):
        load_config(str(path))
    path.write_text("train:\n  lr: 0.1\n  max_steps: 5\n  lr: 0.2\n")
    with pytest.raises(ConfigError, match=r"exp.yaml:4: train.lr: duplicate key \(first at line 2\)"):
        load_config(str(path))
