"""ModelConfig and Regularizers (seq2seq/config.py) refuse bad values at construction, naming the argument; a
config round-trips through a dict."""

import pytest

from seq2seq.config import ModelConfig, Regularizers
from tests.conftest import tiny_config


@pytest.mark.parametrize(
    "rates, name",
    [
        (dict(dropout=1.0), "dropout"),
        (dict(zoneout_h="0.1"), "zoneout_h"),
        (dict(variational=float("nan")), "variational"),
        (dict(weight_drop=True), "weight_drop"),
        (dict(rnndrop=-0.1), "rnndrop"),
    ],
)
def test_a_rate_outside_zero_to_one_or_not_a_number_is_refused_at_construction(rates, name):
    with pytest.raises(ValueError, match=f"^{name}: a rate must be a number in"):
        Regularizers(**rates)


def test_an_unknown_regularizer_key_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"^enc_reg\.zonout_h: unknown key; known keys: dropout, .*zoneout_h"):
        tiny_config(enc_reg={"zonout_h": 0.1})
    with pytest.raises(ValueError, match=r"^dec_reg\.dropout: a rate"):
        tiny_config(dec_reg={"dropout": "0.3"})


def test_string_output_dropout_is_refused():
    with pytest.raises(ValueError, match="^out_dropout: "):
        tiny_config(out_dropout="0.1")


@pytest.mark.parametrize(
    "overrides, name",
    [
        (dict(cell="transformer"), "cell"),
        (dict(attention="additive"), "attention"),
        (dict(bridge="mlp"), "bridge"),
        (dict(emb_dim=0), "emb_dim"),
        (dict(emb_dropout=1.0), "emb_dropout"),
        (dict(enc_reg={"zoneout_h": 1.5}), "zoneout_h"),
        (dict(dec_reg={"variational": -0.5}), "variational"),
        (dict(cell="gru", dec_reg=Regularizers(zoneout_c=0.1)), "zoneout_c"),
        (dict(eos_id=99), "eos_id"),
    ],
)
def test_bad_model_config_names_the_argument(overrides, name):
    with pytest.raises(ValueError, match=name):
        tiny_config(**overrides)


def test_config_round_trips_through_a_dict():
    cfg = tiny_config(enc_reg=Regularizers(zoneout_c=0.1))
    again = ModelConfig(**cfg.to_dict())
    assert again == cfg and again.enc_reg.zoneout_c == 0.1
