"""`seq2seq evaluate` (training/eval_cmd.py) on the shared artifact: sacreBLEU signatures, length-penalty sweeps."""

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
    assert out.returncode == 2 and "length_penalty" in out.stderr and "BLEU|" not in out.stdout  # checked first
