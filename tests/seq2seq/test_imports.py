"""Dependencies point one way: the model library never loads training or serving code."""

from tests.conftest import modules_loaded_by


def test_seq2seq_loads_neither_training_nor_serving_code():
    watched = ("training", "service", "fastapi", "uvicorn", "datasets", "sacrebleu")
    assert modules_loaded_by("seq2seq, seq2seq.translator, seq2seq.export, seq2seq.search", watched) == []
