"""The exported artifact loads without the project's code and translates exactly as the eager model."""

import json
import subprocess

import pytest
import sentencepiece as spm
import torch

from seq2seq import export
from seq2seq.config import Regularizers
from seq2seq.search import Search
from seq2seq.translator import SearchOptions, Translator
from tests.conftest import PYTHON, python_env, random_batch, tiny_model


@pytest.fixture(scope="module")
def spm_bytes(tmp_path_factory) -> bytes:
    words = "der die das ein eine hund katze mann frau kind spielt läuft sitzt auf im park".split()
    g = torch.Generator().manual_seed(0)
    lines = [" ".join(words[int(i)] for i in torch.randint(0, len(words), (8,), generator=g)) for _ in range(300)]
    path = tmp_path_factory.mktemp("spm") / "m.model"
    with open(path, "wb") as f:
        spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=f, vocab_size=40, pad_id=0,
                                       unk_id=1, bos_id=2, eos_id=3, hard_vocab_limit=False)
    return path.read_bytes()


def test_artifact_loads_in_a_fresh_interpreter_without_project_code(tmp_path, spm_bytes):
    model = tiny_model(seed=1, src_vocab=40, tgt_vocab=40, enc_reg=Regularizers(zoneout_c=0.2))
    path = tmp_path / "model.pt"
    export.save(model, str(path), spm_bytes, spm_bytes, {"src_lang": "de", "tgt_lang": "en"})
    src, lens = random_batch(B=4, S=6, vocab=40, seed=2)
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
    assert result["meta"]["src_lang"] == "de" and result["pieces"] == len(spm.SentencePieceProcessor(
        model_proto=spm_bytes))


def test_translator_on_the_artifact_equals_the_eager_model(tmp_path, spm_bytes):
    model = tiny_model(seed=3, src_vocab=40, tgt_vocab=40, cell="gru", attention="general")
    path = tmp_path / "model.pt"
    export.save(model, str(path), spm_bytes, spm_bytes, {"src_lang": "de", "tgt_lang": "en"})
    loaded = Translator.load(str(path))
    eager = Translator(Search(model).eval(), loaded.meta, loaded.src_tok, loaded.tgt_tok)
    lines = ["der hund spielt im park", "", "eine katze", "ein mann läuft auf der frau " * 3, "  "]
    opts = SearchOptions(beam_size=3, n_best=2)
    a, b = loaded.translate(lines, opts), eager.translate(lines, opts)
    assert [[h.text for h in t.hypotheses] for t in a] == [[h.text for h in t.hypotheses] for t in b]
    assert a[1].hypotheses == [] and a[4].hypotheses == []  # empty lines are not decoded
    assert len(a[0].hypotheses) == 2
    # Batching never changes a translation: all at once equals one by one.
    one_by_one = [loaded.translate([line], opts)[0].text for line in lines]
    assert [t.text for t in a] == one_by_one
    with_alignment = loaded.translate(lines[:1], opts, with_alignment=True)[0].hypotheses[0]
    assert len(with_alignment.alignment) == len(with_alignment.tokens) + 1
    assert all(abs(sum(row) - 1) < 1e-4 for row in with_alignment.alignment)


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
    model = tiny_model(src_vocab=40, tgt_vocab=40)
    good = tmp_path / "good.pt"
    export.save(model, str(good), spm_bytes, spm_bytes, {})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(ValueError, match="truncated.pt"):
        Translator.load(str(truncated))
    with pytest.raises(ValueError, match="SentencePiece"):
        export.save(model, str(tmp_path / "bad.pt"), b"junk", b"junk", {})
        Translator.load(str(tmp_path / "bad.pt"))


def test_bad_search_options_are_refused(tmp_path, spm_bytes):
    path = tmp_path / "model.pt"
    export.save(tiny_model(src_vocab=40, tgt_vocab=40), str(path), spm_bytes, spm_bytes, {})
    translator = Translator.load(str(path))
    with pytest.raises(ValueError, match="n_best"):
        translator.translate(["der hund"], SearchOptions(beam_size=2, n_best=3))
    with pytest.raises(ValueError, match="beam_size"):
        translator.translate(["der hund"], SearchOptions(beam_size=0))
