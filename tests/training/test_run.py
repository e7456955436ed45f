"""The run folder's layout: a checkpoint found from a folder or a file, the tokenizers a run trained."""

import os

import pytest

from training import run
from training.checkpoint import CheckpointError


def touch(path: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()
    return path


def test_a_folder_gives_final_then_last_and_a_file_gives_its_run(tmp_path):
    folder = str(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoints/final.pt or checkpoints/last.pt"):
        run.resolve(folder)
    last = touch(run.last_checkpoint(folder))
    assert run.resolve(folder) == (folder, last)
    final = touch(run.final_checkpoint(folder))
    assert run.resolve(folder) == (folder, final)
    best = touch(run.best_checkpoint(folder, 40))
    assert os.path.dirname(best) == run.checkpoint_dir(folder)
    assert run.resolve(best) == (os.path.abspath(folder), best)


def test_tokenizer_paths_are_the_ones_vocab_training_writes(tmp_path):
    folder = str(tmp_path)
    with pytest.raises(FileNotFoundError, match="no SentencePiece models"):
        run.tokenizer_paths(folder)
    src, tgt = run.spm_paths(folder, joint=False)
    touch(src)
    with pytest.raises(FileNotFoundError):
        run.tokenizer_paths(folder)  # one side alone is not a vocabulary
    touch(tgt)
    assert run.tokenizer_paths(folder) == (src, tgt)
    joint = run.spm_paths(folder, joint=True)
    touch(joint[0])
    assert joint[0] == joint[1] and run.tokenizer_paths(folder) == joint  # a joint model wins
