"""`seq2seq evaluate` (training/eval_cmd.py) on the shared artifact: sacreBLEU signatures, length-penalty sweeps."""

import pytest

from seq2seq.cli import main
from tests.conftest import TOY_SPLITS, cli


def test_evaluate_prints_sacrebleu_signatures(artifact, toy_corpus, tmp_path):
    hyp = tmp_path / "test.hyp"
    out = cli("evaluate", "-m", artifact, "--data", toy_corpus, "--split", "test", "-o", hyp)
    assert out.returncode == 0, out.stderr
    assert "BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:" in out.stdout
    assert "chrF2|" in out.stdout
    assert len(hyp.read_text(encoding="utf-8").splitlines()) == TOY_SPLITS["test"]
    out = cli("evaluate", "-m", artifact, "--data", toy_corpus, "--split", "nosuch")
    assert out.returncode == 2 and "nosuch" in out.stderr


def test_evaluate_sweeps_length_penalties(artifact, toy_corpus, tmp_path):
    hyp = tmp_path / "val.hyp"
    out = cli("evaluate", "-m", artifact, "--data", toy_corpus, "--split", "val", "-o", hyp,
              "--length-penalty", "0", "2")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.split()[:1] in (["0"], ["2"])]
    assert [row[0] for row in rows] == ["0", "2"]
    best = max(rows, key=lambda row: float(row[1]))
    assert f"best: length_penalty {best[0]}" in out.stdout
    for penalty in ("0", "2"):
        assert len((tmp_path / f"val.hyp.lp{penalty}").read_text(encoding="utf-8").splitlines()) == TOY_SPLITS["val"]
    out = cli("evaluate", "-m", artifact, "--data", toy_corpus, "--split", "val", "--length-penalty", "1", "-1")
    assert out.returncode == 2 and "argument --length-penalty" in out.stderr and "BLEU|" not in out.stdout


@pytest.mark.parametrize("beam", ["0", "-2", "two"])
def test_evaluate_refuses_a_beam_that_is_not_positive_naming_the_option(artifact, toy_corpus, tmp_path, capsys, beam):
    """`--beam 0` was taken as "not given" and the model's beam silently used."""
    hyp = tmp_path / "val.hyp"
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", "-m", str(artifact), "--data", toy_corpus, "--split", "val", "-o", str(hyp), "--beam", beam])
    assert exited.value.code == 2
    assert f"argument --beam: must be a positive integer, got '{beam}'" in capsys.readouterr().err
    assert not hyp.exists()
