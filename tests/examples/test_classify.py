"""examples/classify.py: it learns a trivially separable task with every pooling and cell, with and without the
recurrent regularizers; bad input and an unreachable hub stop it with a message and exit status 2."""

import json
import os
import random
import subprocess
import sys

import pytest
import torch
from classify import Classifier, ClassifierConfig, main

from seq2seq.config import Regularizers
from tests.conftest import ROOT

TINY = ["--emb_dim", "8", "--hidden", "12", "--layers", "2", "--batch_size", "16", "--lr", "1e-2"]


def toy_rows(n: int, seed: int) -> list[str]:
    """Label "pos" when the text holds the word "good", "neg" when it holds "bad", among 1-8 filler words."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = [rng.choice("a b c d e f g h".split()) for _ in range(rng.randint(1, 8))]
        label = rng.choice(["pos", "neg"])
        words.insert(rng.randrange(len(words) + 1), "good" if label == "pos" else "bad")
        rows.append(f"{' '.join(words)}\t{label}\n")
    return rows


@pytest.fixture
def toy(tmp_path):
    for name, n, seed in [("train", 240, 0), ("val", 60, 1), ("test", 60, 2)]:
        (tmp_path / f"{name}.tsv").write_text("".join(toy_rows(n, seed)))
    return tmp_path


@pytest.mark.parametrize("pool, cell, reg", [
    ("attention", "lstm", []),
    ("last", "gru", []),
    ("mean", "lstm", []),
    ("attention", "lstm", ["--variational", "0.2", "--zoneout_c", "0.1", "--weight_drop", "0.2"]),
    ("last", "gru", ["--recurrent_dropout", "0.2", "--zoneout_h", "0.1"]),
])
def test_learns_a_separable_task(toy, capsys, pool, cell, reg):
    results = main(["--data", str(toy / "train.tsv"), "--valid", str(toy / "val.tsv"), "--test", str(toy / "test.tsv"),
                    "--out", str(toy / "run"), "--pool", pool, "--cell", cell, *TINY, "--epochs", "6", *reg])
    assert results["valid_accuracy"] == 1.0 and results["test_accuracy"] == 1.0
    assert "valid accuracy" in capsys.readouterr().out and (toy / "run" / "ckpt.pt").exists()


def test_padding_never_changes_the_prediction():
    torch.manual_seed(0)
    for pool in ("attention", "last", "mean"):
        model = Classifier(ClassifierConfig(10, 3, pool=pool, emb_dim=4, hidden=5, reg=Regularizers())).eval()
        ids = torch.tensor([[4, 5, 6, 0, 0], [7, 8, 9, 4, 5]])
        alone = model(ids[:1, :3], torch.tensor([3]))
        torch.testing.assert_close(model(ids, torch.tensor([3, 5]))[:1], alone)


def test_jsonl_and_held_out_fraction(tmp_path):
    rows = [r.rstrip("\n").split("\t") for r in toy_rows(200, 3)]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows))
    results = main(["--data", str(path), "--out", str(tmp_path / "run"), *TINY, "--epochs", "6", "--unit", "char"])
    assert results["valid_accuracy"] >= 0.9 and "test_accuracy" not in results


@pytest.mark.parametrize("name, content, expected", [
    ("a.tsv", "good a\tpos\nbad b\tneg\nno label here\n", "{path}:3: no label"),
    ("a.tsv", "good a\tpos\nbad b\t \n", "{path}:2: no label"),
    ("a.tsv", "", "{path}: empty file"),
    ("a.jsonl", '{"text": "good", "label": "pos"}\n{"text": "bad"}\n', "{path}:2: expected a JSON object"),
    ("a.jsonl", '{"text": "good", "label": "pos"}\n[1, 2\n', "{path}:2: expected a JSON object"),
])
def test_bad_rows_name_the_file_and_line(tmp_path, capsys, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(SystemExit) as exc:
        main(["--data", str(path), "--out", str(tmp_path / "run")])
    assert exc.value.code == 2
    assert expected.format(path=path) in capsys.readouterr().err


def test_undecodable_and_missing_files_and_unknown_labels(tmp_path, capsys, toy):
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"good a\tpos\n\xff\xfe\tneg\n")
    for argv, expected in [
        (["--data", str(path)], f"{path}:2: not UTF-8"),
        (["--data", str(tmp_path / "missing.tsv")], "missing.tsv: cannot read it"),
        (["--data", str(toy / "train.tsv"), "--valid", str(path)], f"{path}:2: not UTF-8"),
    ]:
        with pytest.raises(SystemExit) as exc:
            main([*argv, "--out", str(tmp_path / "run")])
        assert exc.value.code == 2 and expected in capsys.readouterr().err
    other = tmp_path / "other.tsv"
    other.write_text("good a\tmaybe\n")
    with pytest.raises(SystemExit) as exc:
        main(["--data", str(toy / "train.tsv"), "--valid", str(other), "--out", str(tmp_path / "run")])
    assert exc.value.code == 2 and "labels ['maybe'] do not occur" in capsys.readouterr().err


def test_an_unreachable_hub_is_a_clear_message(tmp_path, capsys, monkeypatch):
    datasets = pytest.importorskip("datasets")

    def unreachable(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'imdb' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(SystemExit) as exc:
        main(["--data", "imdb", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert "'imdb' is not a .tsv or .jsonl file" in err and "Couldn't reach" in err and "local TSV" in err


def test_the_script_runs_as_a_command(toy):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "classify.py"), "--data",
                           str(toy / "train.tsv"), "--test", str(toy / "test.tsv"), "--out", str(toy / "run"), *TINY,
                           "--epochs", "1"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout
