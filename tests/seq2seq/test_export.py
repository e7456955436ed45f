"""The exported artifact (seq2seq/export.py) loads without the project's code; broken files are refused."""

import json
import re
import subprocess

import pytest
import sentencepiece as spm
import torch

from seq2seq import export
from seq2seq.cli import main
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


# meta.json's bytes, or the entries to change in the artifact's own (valid JSON of the wrong shape)
BROKEN_META = [
    (b'{"src_lang": "de",', "meta.json: not valid JSON"),
    (b"[1, 2]", "meta.json: expected a JSON object, got list"),
    ({"max_src_tokens": "many"}, "meta.json: max_src_tokens: expected an integer >= 2, got 'many'"),
    ({"max_src_tokens": 1}, "meta.json: max_src_tokens: expected an integer >= 2, got 1"),
    ({"src_lang": ["de"]}, "meta.json: src_lang: expected a language code, got ['de']"),
    ({"search": [5]}, "meta.json: search: expected a JSON object of search options, got [5]"),
    ({"search": {"beam_size": "wide"}}, "meta.json: search: bad search defaults (beam_size: must be a positive"),
    ({"search": {"beam": 5}}, "meta.json: search: bad search defaults ("),
]


@pytest.mark.parametrize("meta, message", BROKEN_META)
def test_a_broken_meta_json_is_refused_naming_the_artifact_and_the_entry(artifact, tmp_path, capsys, meta, message):
    extra = {name: "" for name in export.EXTRA_FILES}
    module = torch.jit.load(str(artifact), _extra_files=extra)
    if isinstance(meta, dict):
        meta = json.dumps({**json.loads(extra["meta.json"]), **meta}).encode()
    broken = tmp_path / "broken.pt"
    torch.jit.save(module, str(broken), _extra_files={**extra, "meta.json": meta})
    with pytest.raises(ValueError, match=f"^{re.escape(f'{broken}: {message}')}"):
        Translator.load(str(broken))
    out = tmp_path / "out.en"
    assert main(["translate", "-m", str(broken), "-o", str(out), "--quiet"]) == 2
    assert f"{broken}: {message}" in capsys.readouterr().err
    assert not out.exists()


def test_a_search_is_scripted_with_its_own_weights_and_refuses_options_on_top():
    model = tiny_model(seed=4)
    eager = Search(model, int8=True)
    scripted = export.script(eager)
    src, lens = random_batch(B=4, S=6, seed=4)
    with torch.no_grad():
        a, b = eager(src, lens, 3, 1), scripted(src, lens, 3, 1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="a Search has its lexicon and int8 weights already"):
        export.script(Search(model), int8=True)
