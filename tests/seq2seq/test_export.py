"""The exported artifact (seq2seq/export.py) loads without the project's code; broken files are refused."""

import json
import subprocess

import pytest
import sentencepiece as spm
import torch

from seq2seq import export
from seq2seq.config import Regularizers
from seq2seq.search import Search
from seq2seq.translator import Translator
from tests.conftest import PYTHON, python_env, random_batch, tiny_model


def vocab_size(spm_bytes: bytes) -> int:
    return spm.SentencePieceProcessor(model_proto=spm_bytes).get_piece_size()


def test_artifact_loads_in_a_fresh_interpreter_without_project_code(tmp_path, spm_bytes):
    V = vocab_size(spm_bytes)
    model = tiny_model(seed=1, src_vocab=V, tgt_vocab=V, enc_reg=Regularizers(zoneout_c=0.2))
    path = tmp_path / "model.pt"
    export.save(model, str(path), spm_bytes, spm_bytes, {"src_lang": "de", "tgt_lang": "en"})
    src, lens = random_batch(B=4, S=6, vocab=V, seed=2)
    with torch.no_grad():
        expected = Search(model)(src, lens, 3, 2)[0].tolist()
    script = f"""
import json, sys, torch, sentencepiece
extra = {{"meta.json": "", "src.spm": ""}}
m = torch.jit.load({str(path)!r}, _extra_files=extra)
sp = sentencepiece.SentencePieceProcessor()
sp.LoadFromSerializedProto(extra["src.spm"])
src = torch.tensor({src.tolist()}); lens = torch.tensor({lens.tolist()})
tokens = m(src, lens, 3, 2, 1.5, 10, 1.0)[0].tolist()
project = sorted(k for k in sys.modules if k.split(".")[0] in ("seq2seq", "training", "service"))
print(json.dumps({{"tokens": tokens, "project": project, "meta": json.loads(extra["meta.json"]),
                  "pieces": sp.get_piece_size()}}))
"""
    out = subprocess.run([PYTHON, "-c", script], cwd=tmp_path, env=python_env(), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["project"] == []
    assert result["tokens"] == expected
    assert result["meta"]["src_lang"] == "de" and result["pieces"] == V


def test_corrupt_or_foreign_files_are_refused(tmp_path, spm_bytes):
    missing = tmp_path / "none.pt"
    with pytest.raises(FileNotFoundError, match="none.pt"):
        export.load(str(missing))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="junk.pt"):
        Translator.load(str(junk))
    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(plain))
    with pytest.raises(ValueError, match="plain.pt"):
        Translator.load(str(plain))
    V = vocab_size(spm_bytes)
    model = tiny_model(src_vocab=V, tgt_vocab=V)
    good = tmp_path / "good.pt"
    export.save(model, str(good), spm_bytes, spm_bytes, {})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(ValueError, match="truncated.pt"):
        Translator.load(str(truncated))
    with pytest.raises(ValueError, match="SentencePiece"):
        export.save(model, str(tmp_path / "bad.pt"), b"junk", b"junk", {})
        Translator.load(str(tmp_path / "bad.pt"))
