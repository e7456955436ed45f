"""What every test may use: tiny models, the `seq2seq` command, and one toy task built once per session.

The toy task, from the bottom up (each a session-scoped fixture built on the one before):

    toy_corpus     a folder of generated German sentences and their word-by-word English glosses
                   (SPLIT.de.gz, SPLIT.en for train 400, val 40, test 30 pairs)
    spm_model      the joint SentencePiece model `seq2seq train` trains on it (configs/tiny.yaml); spm_bytes
    trained_run    a run folder of configs/tiny.yaml trained TRAINED_STEPS updates on it with that model
    artifact       that run exported to model.pt (de → en, beam 3): what `seq2seq translate` and the service load

The run learns enough in those few seconds for its outputs to follow its inputs; `trained_run_copy` is a copy of
it, one per test, for a test that changes it (resumes it, starts it over, edits its config). Training and export
code is imported inside the fixtures, so tests that need neither run where only the core and `[serve]` are
installed.
"""

import gzip
import json
import os
import pkgutil
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seq2seq.config import ModelConfig, Regularizers
from seq2seq.model import Seq2Seq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable
TINY = os.path.join(ROOT, "configs", "tiny.yaml")

# One thread per test process: the machine has two cores and long runs may share it.
torch.set_num_threads(1)


# --- tiny models ---------------------------------------------------------------------------------------------


def tiny_config(**overrides) -> ModelConfig:
    base = dict(src_vocab=24, tgt_vocab=26, emb_dim=8, enc_hidden=6, enc_layers=2, dec_hidden=10, dec_layers=2)
    base.update(overrides)
    return ModelConfig(**base)


def tiny_model(seed: int = 0, **overrides) -> Seq2Seq:
    torch.manual_seed(seed)
    return Seq2Seq(tiny_config(**overrides)).eval()


def random_batch(B: int = 5, S: int = 7, vocab: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Source ids ending with EOS (3), padded with 0; the first sentence has the full length."""
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(1, S + 1, (B,), generator=g)
    lens[0] = S
    src = torch.zeros(B, S, dtype=torch.long)
    for b in range(B):
        L = int(lens[b])
        src[b, : L - 1] = torch.randint(4, vocab, (L - 1,), generator=g)
        src[b, L - 1] = 3
    return src, lens


@pytest.fixture
def all_regularizers() -> Regularizers:
    return Regularizers(dropout=0.2, rnndrop=0.2, variational=0.2, weight_drop=0.2, recurrent_dropout=0.2,
                        zoneout_c=0.2, zoneout_h=0.2)


# --- processes: a fresh interpreter, the `seq2seq` command ---------------------------------------------------


def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def cli_env() -> dict[str, str]:
    """The environment `cli` runs in: this checkout first on the path, one thread."""
    return dict(python_env(), OMP_NUM_THREADS="1", PYTHONPATH=ROOT)


SEQ2SEQ = (PYTHON, "-m", "seq2seq.cli")  # the `seq2seq` console script of pyproject.toml


def cli(*args: object, input: bytes | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `seq2seq ARGS` from the repository root; text output, or bytes in and out when `input` is bytes."""
    return subprocess.run([*SEQ2SEQ, *map(str, args)], cwd=ROOT, env=cli_env(), input=input, capture_output=True,
                          text=input is None, timeout=timeout)


def modules_loaded_by(imports: str, watched: tuple[str, ...]) -> list[str]:
    """Which of `watched` a fresh interpreter has loaded after `import {imports}` (dependency-direction tests)."""
    code = f"import json, sys; import {imports}; print(json.dumps(sorted(m for m in {watched!r} if m in sys.modules)))"
    env = dict(python_env(), PYTHONPATH=ROOT)
    out = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def every_module(package: str) -> str:
    """`package, package.a, package.b, ...`: the package and each of its modules, for an import statement."""
    return ", ".join([package] + [f"{package}.{m.name}" for m in pkgutil.iter_modules([os.path.join(ROOT, package)])])


# --- the toy task --------------------------------------------------------------------------------------------

LEXICON = {
    "der": "the", "ein": "a", "mann": "man", "hund": "dog", "frau": "woman", "kind": "child", "läuft": "runs",
    "springt": "jumps", "sieht": "sees", "rote": "red", "blaue": "blue", "große": "big", "kleine": "small",
    "ball": "ball", "baum": "tree", "im": "in the", "park": "park", "und": "and", "schnell": "fast",
}
SUBJECTS = ["der mann", "ein hund", "die frau", "ein kind", "der hund", "eine frau"]
VERBS = ["läuft", "springt", "sieht"]
OBJECTS = ["den roten ball", "einen großen baum", "im park", "schnell", "den kleinen hund", "die blaue frau"]
TOY_SPLITS = {"train": 400, "val": 40, "test": 30}
TRAINED_STEPS = 40


def make_sentence(rng: random.Random) -> str:
    """A toy German sentence: subject, verb, object, sometimes a second verb."""
    words = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}".split()
    if rng.random() < 0.3:
        words += ["und", rng.choice(VERBS)]
    return " ".join(words).capitalize() + "."


def gloss(sentence: str) -> str:
    """The toy target: each known word replaced by its English gloss, the rest kept."""
    words = sentence.rstrip(".").lower().split()
    return " ".join(LEXICON.get(w.rstrip("nm") if w not in LEXICON else w, w) for w in words).capitalize() + "."


def with_meta(artifact: Path, path: Path, **changes: object) -> Path:
    """A copy of `artifact` at `path` whose meta.json has `changes` (the model itself unchanged)."""
    import zipfile

    with zipfile.ZipFile(artifact) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("/extra/meta.json"):
                data = json.dumps({**json.loads(data), **changes}).encode()
            dst.writestr(item, data)
    return path


def write_corpus(folder: str, sizes: dict[str, int], seed: int = 0) -> str:
    """SPLIT.de.gz and SPLIT.en for each split of `sizes` (a gzipped side, as real corpora come), in `folder`."""
    rng = random.Random(seed)
    os.makedirs(folder, exist_ok=True)
    for split, n in sizes.items():
        sources = [make_sentence(rng) for _ in range(n)]
        with gzip.open(os.path.join(folder, f"{split}.de.gz"), "wt", encoding="utf-8") as f:
            f.write("".join(s + "\n" for s in sources))
        with open(os.path.join(folder, f"{split}.en"), "w", encoding="utf-8") as f:
            f.write("".join(gloss(s) + "\n" for s in sources))
    return folder


def tiny_overrides(corpus: str, **extra: object) -> list[str]:
    """`--set` values that point configs/tiny.yaml at a toy corpus folder (one thread, small batches)."""
    values = {"data.path": corpus, "data.train_split": "train", "data.valid_split": "val",
              "data.test_split": "test", "train.threads": 1, "train.max_tokens": 400, **extra}
    return [f"{k}={v}" for k, v in values.items()]


@pytest.fixture(scope="session")
def toy_corpus(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The toy corpus folder (TOY_SPLITS pairs)."""
    return write_corpus(str(tmp_path_factory.mktemp("toy_corpus")), TOY_SPLITS)


@pytest.fixture(scope="session")
def spm_model(toy_corpus: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of the joint SentencePiece model that `seq2seq train` trains on the toy corpus (configs/tiny.yaml)."""
    from training.config import load_config
    from training.corpus import filter_pairs, load_split
    from training.vocab import build_vocabs

    cfg = load_config(TINY, tiny_overrides(toy_corpus))
    d, v = cfg.data, cfg.vocab
    train, _ = filter_pairs(load_split(d.path, d.train_split, d.src, d.tgt), d.max_len, d.max_ratio)
    src, tgt = build_vocabs(train, str(tmp_path_factory.mktemp("spm")), v.size, v.type, v.joint)
    assert src == tgt, "configs/tiny.yaml trains one joint model"
    return src


@pytest.fixture(scope="session")
def spm_bytes(spm_model: str) -> bytes:
    return Path(spm_model).read_bytes()


@pytest.fixture(scope="session")
def trained_run(toy_corpus: str, spm_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A run folder: configs/tiny.yaml trained TRAINED_STEPS updates on the toy corpus, with `spm_model`."""
    from training.config import load_config
    from training.trainer import Trainer

    run_dir = str(tmp_path_factory.mktemp("trained_run"))
    shutil.copy(spm_model, os.path.join(run_dir, "spm.model"))  # the trainer keeps a vocabulary it finds
    cfg = load_config(TINY, tiny_overrides(toy_corpus, **{"train.max_steps": TRAINED_STEPS}))
    Trainer(cfg, run_dir, progress=False).run()
    return run_dir


@pytest.fixture(scope="session")
def artifact(trained_run: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained run exported (scripted, checked against eager on 20 validation sentences) to model.pt."""
    from training.export_cmd import export_path

    path = tmp_path_factory.mktemp("artifact") / "model.pt"
    export_path(trained_run, str(path), check=20)
    return path


@pytest.fixture
def trained_run_copy(trained_run: str, tmp_path: Path) -> Path:
    """A copy of `trained_run` that a test may change: resume it, start it over, edit its config."""
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy
