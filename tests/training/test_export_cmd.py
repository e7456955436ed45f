"""`seq2seq export` (training/export_cmd.py): one scripting, checked against eager; the meta it writes.

The shared `artifact` (tests/conftest.py) is `export_path` of the shared `trained_run`; the command line is run
once here, with the options a user tunes.
"""

import pytest
import torch

from seq2seq import export
from seq2seq.cli import main
from seq2seq.translator import Translator
from tests.conftest import TOY_SPLITS, cli
from training import eval_cmd, run
from training.export_cmd import export_path, export_run


def test_export_writes_one_artifact_with_meta(artifact):
    translator = Translator.load(str(artifact))
    assert (translator.src_lang, translator.tgt_lang) == ("de", "en")
    assert translator.meta["model_config"]["emb_dim"] == 32
    assert translator.defaults.beam_size == 3


def test_export_saves_the_scripted_module_it_checked(trained_run, tmp_path, monkeypatch):
    scripted, saved = [], []
    script, save = export.script, torch.jit.save

    def counting_script(model, **options):
        scripted.append(script(model, **options))
        return scripted[-1]

    def recording_save(module, *args, **kwargs):
        saved.append(module)
        return save(module, *args, **kwargs)

    monkeypatch.setattr(export, "script", counting_script)
    monkeypatch.setattr(torch.jit, "save", recording_save)
    path = str(tmp_path / "model.pt")
    export_path(trained_run, path, check=5)
    assert len(scripted) == 1 and saved == scripted
    assert Translator.load(path).translate(["Der hund."])[0].text


def test_train_export_scores_the_final_checkpoint_once(trained_run, tmp_path, monkeypatch):
    export_run(trained_run, None, str(tmp_path / "a.pt"), test_split="test")
    evaluation = Translator.load(str(tmp_path / "a.pt")).meta["evaluation"]
    assert evaluation["checkpoint"] == run.final_checkpoint(trained_run)
    assert evaluation["sentences"] == TOY_SPLITS["test"]

    def no_second_translation(*args):
        raise AssertionError("the stored scores of this checkpoint and these settings were not reused")

    monkeypatch.setattr(eval_cmd, "run_eval", no_second_translation)
    export_path(trained_run, str(tmp_path / "b.pt"), test_split="test", check=0)
    assert Translator.load(str(tmp_path / "b.pt")).meta["evaluation"] == evaluation


def test_export_stores_the_chosen_length_penalty(trained_run, tmp_path):
    tuned = tmp_path / "tuned.pt"
    out = cli("export", trained_run, "-o", tuned, "--check-sentences", "20", "--length-penalty", "2",
              "--test-split", "test")
    assert out.returncode == 0, out.stderr
    assert "scripted equals eager on 20 validation sentences" in out.stderr
    translator = Translator.load(str(tuned))
    assert translator.defaults.length_penalty == 2.0
    evaluation = translator.meta["evaluation"]
    assert evaluation["length_penalty"] == 2.0 and evaluation["beam_size"] == 3

    out = cli("export", trained_run, "-o", tmp_path / "bad.pt", "--length-penalty", "-1")
    assert out.returncode == 2 and "argument --length-penalty" in out.stderr
    assert not (tmp_path / "bad.pt").exists()


def test_export_refuses_a_broken_source(tmp_path):
    out = cli("export", tmp_path, "-o", tmp_path / "m.pt")
    assert out.returncode == 2 and "no checkpoints/final.pt" in out.stderr


def test_export_refuses_a_checkpoint_of_another_model_configuration(trained_run_copy, tmp_path, capsys):
    config = trained_run_copy / "config.yaml"
    config.write_text(config.read_text().replace("attention: dot", "attention: general"))  # vocabularies unchanged
    out = tmp_path / "m.pt"
    assert main(["export", str(trained_run_copy), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "final.pt: not a checkpoint of this run's model: model.attention: 'dot' in the checkpoint" in err
    assert f"'general' in {config}" in err
    assert not out.exists()


def test_export_refuses_out_of_range_options(trained_run, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["export", trained_run, "-o", str(tmp_path / "m.pt"), "--check-sentences", "-1"])
    assert exited.value.code == 2 and "argument --check-sentences: must be an integer >= 0" in capsys.readouterr().err
