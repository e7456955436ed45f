"""examples/char_lm.py: truncated BPTT carries states but not gradients, temperature → 0 is argmax decoding, the
script trains, checkpoints and samples on a tiny text, and bad input stops it with exit status 2."""

import os
import subprocess
import sys

import pytest
import torch
from char_lm import CharLM, LMConfig, chunk, main, sample, streams, train_chunk

from seq2seq.config import Regularizers
from tests.conftest import ROOT

TEXT = "the cat sat on the mat.\na dog ran in the park.\n" * 20  # 920 characters
TINY = ["--emb_dim", "8", "--hidden", "16", "--layers", "2", "--batch_size", "4", "--bptt", "10"]


def tiny_lm(cell: str = "lstm", **reg) -> CharLM:
    torch.manual_seed(0)
    return CharLM(LMConfig(12, cell, emb_dim=8, hidden=16, layers=2, reg=Regularizers(**reg)))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("reg", [{}, {"zoneout_h": 0.1, "recurrent_dropout": 0.1}])
def test_tbptt_carries_the_state_but_not_the_gradient(cell, reg):
    model = tiny_lm(cell, **reg).eval()  # no dropout draws: runs differ only by their initial states
    data = streams(torch.randint(12, (3 * 21,)).tolist(), 3, 10, "ids")  # (3, 21): two chunks of 10
    x1, y1 = chunk(data, 0, 10)
    x2, y2 = chunk(data, 10, 10)
    assert x2.shape == y2.shape == (3, 10) and torch.equal(x2[:, 0], y1[:, -1])
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # an update that changes nothing: chunk 2 sees the same model
    _, carried = train_chunk(model, opt, x1, y1, None, 1.0)
    assert all(s.grad_fn is None and not s.requires_grad for s in carried)
    assert carried[0].abs().sum() > 0
    with torch.no_grad():
        loss = [torch.nn.functional.cross_entropy(model(x2, s)[0].flatten(0, 1), y2.flatten()) for s in (carried, None)]
    assert not torch.isclose(loss[0], loss[1])
    # Chunk 2's gradients from the carried state are those of a constant start: nothing flows back into chunk 1,
    # where without the truncation it would (the check can fail).
    _, state1 = model(x1)  # the same values as `carried`, with chunk 1's graph

    def grads(state):
        loss = torch.nn.functional.cross_entropy(model(x2, state)[0].flatten(0, 1), y2.flatten())
        return torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(model.parameters()))])

    torch.testing.assert_close(carried, state1)
    truncated, through = grads(carried), grads(state1)
    torch.testing.assert_close(truncated, grads((state1[0].detach().clone(), state1[1].detach().clone())))
    assert not torch.allclose(truncated, through)


@pytest.mark.parametrize("reg", [{}, {"zoneout_c": 0.2, "zoneout_h": 0.2}])
def test_temperature_towards_zero_is_argmax_decoding(reg):
    model = tiny_lm(**reg)
    with torch.no_grad():
        model.out.weight.mul_(20)  # wide logit gaps: at temperature 1e-6 every draw is the argmax
    prime = [3, 5, 7]
    greedy = sample(model, prime, 25, 0.0)
    assert sample(model, prime, 25, 1e-6, torch.Generator().manual_seed(1)) == greedy
    # Stepping with carried states equals reading the whole sequence at once: each token is the argmax after it.
    logits, _ = model(torch.tensor([prime + greedy[:-1]]))
    assert logits[0, len(prime) - 1 :].argmax(1).tolist() == greedy


@pytest.mark.parametrize("unit", ["char", "spm"])
def test_trains_checkpoints_and_samples(tmp_path, capsys, unit):
    data = tmp_path / "text.txt"
    data.write_text(TEXT)
    out = tmp_path / "run"
    results = main(["--data", str(data), "--out", str(out), "--unit", unit, "--spm_vocab", "40", *TINY,
                    "--valid_frac", "0.2", "--steps", "6", "--eval_every", "3", "--log_every", "3",
                    "--zoneout_c", "0.1", "--weight_drop", "0.2", "--sample", "30", "--temperature", "0", "0.5",
                    "--prime", "the"])
    printed = capsys.readouterr().out
    assert "chars/s" in printed and "valid" in printed and "bpc" in printed
    assert 0 < results["valid_bpc"] < 10 and results["chars_per_s"] > 0 and results["steps"] == 6
    assert results["sample_0"].startswith("the") and results["sample_0.5"].startswith("the")
    assert (out / "ckpt.pt").exists()
    again = main(["--init", str(out / "ckpt.pt"), "--steps", "0", "--sample", "30", "--temperature", "0",
                  "--prime", "the"])
    assert again["sample_0"] == results["sample_0"]  # the checkpoint is the model that sampled


def test_the_script_runs_as_a_command(tmp_path):
    data = tmp_path / "text.txt"
    data.write_text(TEXT)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "char_lm.py"), "--data", str(data),
                           "--out", str(tmp_path / "run"), *TINY, "--steps", "2", "--sample", "10", "--cell", "gru",
                           "--recurrent_dropout", "0.1"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "chars/s" in proc.stdout and "--- temperature 1" in proc.stdout


@pytest.mark.parametrize("content, args, expected", [
    (b"", [], "{path}: empty file"),
    (b"  \n\n", [], "{path}: empty file"),
    (b"good line\nbad \xff byte\n", [], "{path}:2: not UTF-8"),
    (TEXT.encode(), ["--bptt", "500"], "{path}: --bptt 500 is longer than each of its 4 streams"),
    (TEXT.encode(), ["--bptt", "30", "--valid_frac", "0.05"], "{path} (held-out end): --bptt 30"),
])
def test_bad_input_names_the_file_and_exits_2(tmp_path, capsys, content, args, expected):
    path = tmp_path / "text.txt"
    path.write_bytes(content)
    with pytest.raises(SystemExit) as exc:
        main(["--data", str(path), "--out", str(tmp_path / "run"), *TINY, "--steps", "1", *args])
    assert exc.value.code == 2
    assert expected.format(path=path) in capsys.readouterr().err


def test_missing_data_and_bad_checkpoint_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--steps", "1"])
    assert exc.value.code == 2 and "--data" in capsys.readouterr().err
    bad = tmp_path / "ckpt.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(SystemExit) as exc:
        main(["--init", str(bad), "--steps", "0", "--sample", "5"])
    assert exc.value.code == 2 and str(bad) in capsys.readouterr().err
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    with pytest.raises(SystemExit) as exc:
        main(["--data", str(text), "--out", str(tmp_path / "run"), *TINY, "--steps", "0", "--sample", "5",
              "--prime", "xyz"])
    assert exc.value.code == 2 and "--prime" in capsys.readouterr().err


def test_speed_benchmark_runs(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "char_lm_speed.py"), "--rounds", "1",
                           "--steps", "1", "--batch_size", "2", "--bptt", "4", "--hidden", "8", "--emb_dim", "4"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "x torch.nn" in proc.stdout and "zoneout" in proc.stdout


@pytest.mark.parametrize("args, expected", [
    (["--cell", "gru", "--zoneout_c", "0.1"], "--zoneout_c: applies to the LSTM cell state"),
    (["--variational", "1.5"], "--variational: a rate must be a number in [0, 1)"),
])
def test_bad_regularizer_rates_exit_2(tmp_path, capsys, args, expected):
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    with pytest.raises(SystemExit) as exc:
        main(["--data", str(text), "--out", str(tmp_path / "run"), *TINY, "--steps", "1", *args])
    assert exc.value.code == 2 and expected in capsys.readouterr().err
