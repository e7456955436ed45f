"""The `seq2seq` command's export, translate and evaluate on a trained tiny run, with their error paths."""

import os
import subprocess

import pytest

from seq2seq.translator import Translator
from tests.conftest import PYTHON, ROOT
from tests.training.conftest import cli


@pytest.fixture(scope="module")
def artifact(trained_run, tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("artifact") / "model.pt")
    out = cli("export", trained_run, "-o", path, "--check-sentences", "20")
    assert out.returncode == 0, out.stderr
    assert "scripted equals eager on 20 validation sentences" in out.stderr
    return path


def run_translate(artifact: str, data: bytes, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    return subprocess.run([PYTHON, "-m", "training.cli", "translate", "-m", artifact, *args], input=data, cwd=ROOT,
                          env=env, capture_output=True, timeout=300)


def test_export_writes_one_artifact_with_meta(artifact):
    translator = Translator.load(artifact)
    assert (translator.src_lang, translator.tgt_lang) == ("de", "en")
    assert translator.meta["model_config"]["emb_dim"] == 32
    assert translator.defaults.beam_size == 3


def test_translate_keeps_one_output_line_per_input_line_in_order(artifact):
    lines = ["Der hund spielt im park.", "", "Eine katze.", "   ", "Ein mann läuft auf der ball rot blau."] * 3
    out = run_translate(artifact, ("\n".join(lines) + "\n").encode(), "--beam", "2", "--chunk-lines", "4")
    assert out.returncode == 0, out.stderr.decode()
    got = out.stdout.decode().split("\n")[:-1]
    assert len(got) == len(lines)
    assert got[1] == "" and got[3] == ""
    assert got[0] == got[5] == got[10] and got[0] != ""
    # The same lines through the library path give the same output.
    translator = Translator.load(artifact)
    from seq2seq.translator import SearchOptions

    direct = translator.translate(lines[:5], SearchOptions(beam_size=2, max_len_a=translator.defaults.max_len_a,
                                                           max_len_b=translator.defaults.max_len_b))
    assert [t.text for t in direct] == got[:5]


def test_translate_n_best_with_scores_and_files(artifact, tmp_path):
    src = tmp_path / "in.de"
    src.write_text("Der hund spielt.\nDie frau sitzt.\n", encoding="utf-8")
    dst = tmp_path / "out.en"
    out = run_translate(artifact, b"", "-i", str(src), "-o", str(dst), "--beam", "3", "--n-best", "2", "--scores")
    assert out.returncode == 0, out.stderr.decode()
    rows = dst.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 2
    fields = rows[0].split("\t")
    assert len(fields) == 4 and float(fields[1]) >= float(fields[3])


def test_translate_reports_the_undecodable_line(artifact):
    out = run_translate(artifact, b"Der hund.\nDie katze.\n\xff\xfe kaputt\n")
    assert out.returncode == 2
    assert "<stdin>:3: not valid UTF-8" in out.stderr.decode()


def test_translate_refuses_bad_options_and_missing_models(artifact, tmp_path):
    out = run_translate(artifact, b"x\n", "--beam", "2", "--n-best", "3")
    assert out.returncode == 2 and "n_best" in out.stderr.decode()
    out = run_translate(str(tmp_path / "nope.pt"), b"x\n")
    assert out.returncode == 2 and "nope.pt: no such model file" in out.stderr.decode()


def test_evaluate_prints_sacrebleu_signatures(artifact, corpus_dir, tmp_path):
    hyp = tmp_path / "test.hyp"
    out = cli("evaluate", "-m", artifact, "--data", corpus_dir, "--split", "test", "-o", str(hyp))
    assert out.returncode == 0, out.stderr
    assert "BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:" in out.stdout
    assert "chrF2|" in out.stdout
    assert len(hyp.read_text(encoding="utf-8").splitlines()) == 30
    out = cli("evaluate", "-m", artifact, "--data", corpus_dir, "--split", "nosuch")
    assert out.returncode == 2 and "nosuch" in out.stderr


def test_export_refuses_a_broken_source(tmp_path):
    out = cli("export", str(tmp_path), "-o", str(tmp_path / "m.pt"))
    assert out.returncode == 2 and "no checkpoints/final.pt" in out.stderr


def test_evaluate_sweeps_length_penalties_and_export_stores_the_chosen_one(artifact, trained_run, corpus_dir,
                                                                           tmp_path):
    hyp = tmp_path / "val.hyp"
    out = cli("evaluate", "-m", artifact, "--data", corpus_dir, "--split", "val", "-o", str(hyp),
              "--length-penalty", "0", "2")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.split()[:1] in (["0"], ["2"])]
    assert [row[0] for row in rows] == ["0", "2"]
    best = max(rows, key=lambda row: float(row[1]))
    assert f"best: length_penalty {best[0]}" in out.stdout
    for penalty in ("0", "2"):
        assert len((tmp_path / f"val.hyp.lp{penalty}").read_text(encoding="utf-8").splitlines()) == 40
    out = cli("evaluate", "-m", artifact, "--data", corpus_dir, "--split", "val", "--length-penalty", "1", "-1")
    assert out.returncode == 2 and "length_penalty" in out.stderr and "BLEU|" not in out.stdout  # checked first

    tuned = str(tmp_path / "tuned.pt")
    out = cli("export", trained_run, "-o", tuned, "--check-sentences", "5", "--length-penalty", "2",
              "--test-split", "test")
    assert out.returncode == 0, out.stderr
    translator = Translator.load(tuned)
    assert translator.defaults.length_penalty == 2.0
    evaluation = translator.meta["evaluation"]
    assert evaluation["length_penalty"] == 2.0 and evaluation["beam_size"] == 3

    out = cli("export", trained_run, "-o", str(tmp_path / "bad.pt"), "--length-penalty", "-1")
    assert out.returncode == 2 and "length_penalty" in out.stderr
    assert not (tmp_path / "bad.pt").exists()


def test_translate_takes_a_length_penalty(artifact):
    lines = b"Der hund spielt im park.\nEine katze.\n"
    plain = run_translate(artifact, lines, "--beam", "3", "--scores")
    favoured = run_translate(artifact, lines, "--beam", "3", "--scores", "--length-penalty", "0")
    assert plain.returncode == 0 and favoured.returncode == 0, favoured.stderr.decode()
    # scores are log-probability / length**alpha: with alpha 0 they are the raw sums, never above the normalized
    for a, b in zip(plain.stdout.decode().splitlines(), favoured.stdout.decode().splitlines()):
        assert float(b.split("\t")[1]) <= float(a.split("\t")[1]) + 1e-6
    bad = run_translate(artifact, lines, "--length-penalty", "-0.5")
    assert bad.returncode == 2 and "length_penalty" in bad.stderr.decode()


def test_seq2seq_serve_takes_the_options_of_python_m_service():
    import argparse

    from service.__main__ import OPTIONS, add_arguments
    from training.cli import build_parser

    argv = ["-m", "model.pt", "--host", "0.0.0.0", "--port", "9000", "--workers", "2", "--log-level", "debug"]
    service = argparse.ArgumentParser()
    add_arguments(service)
    ours = build_parser().parse_args(["serve", *argv])
    theirs = service.parse_args(argv)
    assert {k: getattr(ours, k) for k in OPTIONS} == vars(theirs)
    assert set(vars(theirs)) == set(OPTIONS)  # every option reaches the settings
