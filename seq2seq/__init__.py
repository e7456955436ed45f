"""Recurrent sequence-to-sequence translation with attention: the model library (torch + sentencepiece)."""

from seq2seq.config import ModelConfig, Regularizers
from seq2seq.model import Seq2Seq

__all__ = ["ModelConfig", "Regularizers", "Seq2Seq"]
