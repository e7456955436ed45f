"""A generated parallel corpus: German-like words mapped word by word to English-like words."""

import gzip
import os
import random
import subprocess

import pytest

from tests.conftest import PYTHON, ROOT
from training.config import load_config
from training.trainer import Trainer

DE = "der die das ein eine hund katze mann frau kind spielt läuft sitzt steht auf im park ball rot blau".split()
EN = "the the the a a dog cat man woman child plays runs sits stands on in-the park ball red blue".split()


def sentence_pair(rng: random.Random) -> tuple[str, str]:
    idx = [rng.randrange(len(DE)) for _ in range(rng.randint(3, 8))]
    return " ".join(DE[i] for i in idx).capitalize() + ".", " ".join(EN[i] for i in idx).capitalize() + "."


def write_corpus(folder: str, sizes: dict[str, int], seed: int = 0) -> str:
    rng = random.Random(seed)
    os.makedirs(folder, exist_ok=True)
    for split, n in sizes.items():
        pairs = [sentence_pair(rng) for _ in range(n)]
        with gzip.open(os.path.join(folder, f"{split}.de.gz"), "wt", encoding="utf-8") as f:
            f.write("".join(de + "\n" for de, _ in pairs))
        with open(os.path.join(folder, f"{split}.en"), "w", encoding="utf-8") as f:
            f.write("".join(en + "\n" for _, en in pairs))
    return folder


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> str:
    return write_corpus(str(tmp_path_factory.mktemp("corpus")), {"train": 400, "val": 40, "test": 30})


TINY = os.path.join(ROOT, "configs", "tiny.yaml")


def tiny_overrides(corpus_dir: str, **extra) -> list[str]:
    values = {"data.path": corpus_dir, "data.train_split": "train", "data.valid_split": "val",
              "data.test_split": "test", "train.threads": 1, "train.max_tokens": 400, **extra}
    return [f"{k}={v}" for k, v in values.items()]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    return subprocess.run([PYTHON, "-m", "training.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="session")
def trained_run(corpus_dir, tmp_path_factory) -> str:
    run_dir = str(tmp_path_factory.mktemp("run"))
    cfg = load_config(TINY, tiny_overrides(corpus_dir, **{"train.max_steps": 40}))
    Trainer(cfg, run_dir, progress=False).run()
    return run_dir
