"""`seq2seq export --shortlist K --int8`: the artifact holds its lexical table and int8 weights, describes them in
its metadata, loads without the project, and refuses what it cannot apply; the lexicon learns real pairs."""

import gzip
import json
import os
import subprocess

import pytest
import torch

from seq2seq import export
from seq2seq.search import Search
from seq2seq.translator import SearchOptions, Translator
from tests.conftest import PYTHON, cli, python_env
from training import lexicon
from training.export_cmd import export_path


def test_ibm_model_1_learns_which_word_translates_which():
    # "a X" → "b Y" for three X/Y pairs: the shared word pair a/b co-occurs with everything, the rest once each
    src = [[10, 11], [10, 12], [10, 13], [11, 12]]
    tgt = [[20, 21], [20, 22], [20, 23], [21, 22]]
    table, top = lexicon.learn(src, tgt, 16, 26, k=1, frequent=2)
    assert table[10, 0] == 20 and table[11, 0] == 21 and table[12, 0] == 22 and table[13, 0] == 23
    assert set(top.tolist()) == {20, 21} or set(top.tolist()) == {20, 22}  # 20 thrice; 21 and 22 twice
    assert table[5, 0] == 3  # a source id never seen: EOS only
    assert lexicon.coverage(table, top[:0], src, tgt) == 1.0


def test_lexicon_refuses_misaligned_corpora():
    with pytest.raises(ValueError, match="2 source sentences but 1 target"):
        lexicon.learn([[4], [5]], [[6]], 8, 8)


@pytest.fixture(scope="module")
def option_artifacts(trained_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("options")
    plain, listed, int8 = folder / "plain.pt", folder / "shortlist.pt", folder / "int8.pt"
    export_path(trained_run, str(plain), check=20)
    export_path(trained_run, str(listed), check=20, shortlist=8, frequent=10)
    export_path(trained_run, str(int8), check=20, int8=True, shortlist=8, frequent=10)
    return plain, listed, int8


def test_metadata_describes_the_options_and_the_shortlist_is_on_by_default(option_artifacts):
    plain, listed, int8 = (Translator.load(str(p)) for p in option_artifacts)
    assert plain.meta["int8"] is False and "shortlist" not in plain.meta and not plain.defaults.shortlist
    assert listed.meta["shortlist"]["k"] == 8 and listed.meta["shortlist"]["frequent"] == 10
    assert 0 < listed.meta["shortlist"]["coverage"] <= 1 and listed.meta["shortlist"]["coverage_split"] == "val"
    assert listed.defaults.shortlist and listed.has_shortlist
    assert int8.meta["int8"] is True and int8.meta["format_version"] == export.FORMAT_VERSION


def test_every_artifact_translates_and_the_shortlist_can_be_turned_off(option_artifacts):
    plain, listed, int8 = (Translator.load(str(p)) for p in option_artifacts)
    lines = ["Der Hund sieht die Katze.", "Die Katze läuft.", "Der Hund sieht die Katze und läuft."]
    expected = [t.text for t in plain.translate(lines)]
    off = SearchOptions(**{**listed.meta["search"], "shortlist": False})
    assert [t.text for t in listed.translate(lines, off)] == expected  # the same weights, without the shortlist
    for tr in (listed, int8):
        got = tr.translate(lines, with_alignment=True)
        assert all(t.text for t in got) and all(t.hypotheses[0].alignment for t in got)


def test_int8_translates_as_float_does_but_where_quantization_tips_a_choice(option_artifacts, toy_corpus):
    """The int8 artifact against the float one with the same shortlist, so that only the weights differ, on every
    validation sentence: on this toy run 34 of 40 come out the same (a few tip, the run being barely trained); a
    wrong scale or a transposed weight would leave almost none."""
    _, listed, int8 = (Translator.load(str(p)) for p in option_artifacts)
    with gzip.open(os.path.join(toy_corpus, "val.de.gz"), "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    same = sum(a.text == b.text for a, b in zip(listed.translate(lines), int8.translate(lines)))
    assert same >= 0.75 * len(lines), f"{same} of {len(lines)} translations equal"


def test_export_quantizes_the_weights_once(trained_run, tmp_path, monkeypatch):
    """The module scripted is the eager search it was checked against, not a second quantization."""
    made = []
    quantize = Search._quantize

    def counting(self):
        made.append(self)
        quantize(self)

    monkeypatch.setattr(Search, "_quantize", counting)
    export_path(trained_run, str(tmp_path / "int8.pt"), check=2, int8=True)
    assert len(made) == 1


def test_a_shortlist_asked_of_an_artifact_without_one_is_refused(option_artifacts):
    plain = Translator.load(str(option_artifacts[0]))
    with pytest.raises(ValueError, match="shortlist: this model has no lexical table"):
        plain.translate(["Der Hund sieht die Katze."], SearchOptions(shortlist=True))


def test_the_int8_artifact_loads_without_the_project(option_artifacts, tmp_path):
    path = option_artifacts[2]
    expected = Translator.load(str(path))
    ids = expected.encode("Der Hund sieht die Katze.")
    with torch.inference_mode():
        want = expected.module(torch.tensor([ids]), torch.tensor([len(ids)]), 3, 1, 1.5, 10, 1.0, "best", False,
                               True)[0].tolist()
    script = f"""
import json, sys, torch
m = torch.jit.load({str(path)!r})
tokens = m(torch.tensor([{ids}]), torch.tensor([{len(ids)}]), 3, 1, 1.5, 10, 1.0, "best", False, True)[0].tolist()
project = sorted(k for k in sys.modules if k.split(".")[0] in ("seq2seq", "training", "service"))
print(json.dumps({{"tokens": tokens, "project": project}}))
"""
    out = subprocess.run([PYTHON, "-c", script], cwd=tmp_path, env=python_env(), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["project"] == [] and result["tokens"] == want


def test_translate_describes_an_artifact_and_refuses_options_it_cannot_apply(option_artifacts, tmp_path):
    plain, listed, int8 = (str(p) for p in option_artifacts)
    info = cli("translate", "-m", int8, "--info")
    assert info.returncode == 0, info.stderr
    meta = json.loads(info.stdout)
    assert meta["int8"] is True and meta["shortlist"]["k"] == 8 and meta["search"]["shortlist"] is True
    out = tmp_path / "out.txt"
    refused = cli("translate", "-m", plain, "--shortlist", "-o", str(out), input="Der Hund läuft.\n".encode())
    assert refused.returncode == 2 and b"shortlist: this model has no lexical table" in refused.stderr
    assert not out.exists()
    both = cli("translate", "-m", listed, "--stop", "beam", "--no-shortlist", input="Der Hund läuft.\n".encode())
    assert both.returncode == 0 and both.stdout.strip(), both.stderr.decode()
    bad = cli("translate", "-m", listed, "--stop", "first", input=b"x\n")
    assert bad.returncode == 2 and b"--stop" in bad.stderr
