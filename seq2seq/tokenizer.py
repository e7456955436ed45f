"""SentencePiece subword models, loaded from a file or from the bytes stored inside an artifact."""

from __future__ import annotations

import unicodedata

import sentencepiece as spm

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


class Tokenizer:
    """Wraps one SentencePiece model; ids 0-3 are pad, unk, bos, eos as the model expects."""

    def __init__(self, model_proto: bytes, name: str = "<bytes>"):
        self.proto = model_proto
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.LoadFromSerializedProto(model_proto)
        except Exception as exc:  # sentencepiece raises RuntimeError/OSError with a terse text
            raise ValueError(f"{name}: not a SentencePiece model ({exc})") from None
        ids = (self.sp.pad_id(), self.sp.unk_id(), self.sp.bos_id(), self.sp.eos_id())
        if ids != (PAD_ID, UNK_ID, BOS_ID, EOS_ID):
            raise ValueError(f"{name}: special ids are (pad, unk, bos, eos) = {ids}, expected (0, 1, 2, 3)")

    @classmethod
    def from_file(cls, path: str) -> Tokenizer:
        with open(path, "rb") as f:
            return cls(f.read(), name=path)

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(unicodedata.normalize("NFC", text))

    def pieces(self, text: str) -> list[str]:
        return self.sp.encode(unicodedata.normalize("NFC", text), out_type=str)

    def id_to_piece(self, ids: list[int]) -> list[str]:
        return [self.sp.id_to_piece(i) for i in ids]

    def decode(self, ids: list[int]) -> str:
        return self.sp.decode(ids)
