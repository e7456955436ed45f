"""A text classifier on seq2seq's recurrent stack: embeddings, stacked bidirectional LSTM/GRU, pooling, linear layer.

    python examples/langid_data.py --chars 12          # writes runs/examples/langid/{train,val,test}.tsv
    python examples/classify.py --data runs/examples/langid/train.tsv --valid runs/examples/langid/val.tsv \\
        --test runs/examples/langid/test.tsv --unit char --variational 0.2 --zoneout_c 0.1
    python examples/classify.py --data imdb            # a Hugging Face hub id: splits train and test

--data is a TSV file (TEXT<TAB>LABEL per line) or a JSONL file ({"text": ..., "label": ...} per line), optionally
gzipped; a name without such an extension is taken as a Hugging Face hub dataset id with "text" and "label"
columns. The text is cut into --unit words (whitespace) or characters; the stack reads it in both directions
(packed: padding never enters a state), and --pool gives one vector per text: "last", the top layer's final
forward and backward states; "mean", the mean output over the real tokens; "attention", Σ_t α_t o_t with
α = softmax(u^T tanh(W o_t + b)) over the real tokens (Yang et al. 2016, eqs. 5-7). Without --valid, --valid_frac
of --data is held out. The checkpoint with the best validation accuracy is --out/ckpt.pt, a plain dict.
"""

import argparse
import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F
from common import add_regularizer_args, fail, read_text, regularizers
from torch import Tensor, nn

from seq2seq.cells import RecurrentStack
from seq2seq.config import Regularizers

PAD, UNK = 0, 1


def read_file(path: str) -> Tuple[List[str], List[str]]:
    """Texts and labels of a TSV or JSONL file; a row without a label stops the script, naming file and line."""
    texts, labels = [], []
    for n, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        if ".jsonl" in path:
            try:
                record = json.loads(line)
                text, label = record["text"], record["label"]
            except (ValueError, KeyError, TypeError) as e:
                fail(f'{path}:{n}: expected a JSON object with "text" and "label" ({type(e).__name__}: {e})')
        else:
            text, tab, label = line.rstrip("\r").rpartition("\t")
            if not tab or not label.strip():
                fail(f"{path}:{n}: no label: expected TEXT<TAB>LABEL")
        texts.append(str(text))
        labels.append(str(label).strip())
    return texts, labels


def read_hub(name: str, split: str) -> Tuple[List[str], List[str]]:
    """One split of a hub dataset with "text" and "label" columns; no hub or no such dataset stops the script."""
    try:
        import datasets

        ds = datasets.load_dataset(name, split=split)
        return [str(t) for t in ds["text"]], [str(label) for label in ds["label"]]
    except Exception as e:  # ImportError, ConnectionError, DatasetNotFoundError, missing columns, ...
        fail(f"{name!r} is not a .tsv or .jsonl file, so it was taken as a Hugging Face hub dataset id, but its "
             f"{split!r} split could not be loaded ({type(e).__name__}: {e}). Where the hub cannot be reached, give "
             "a local TSV or JSONL file of TEXT, LABEL")


def is_file(name: str) -> bool:
    return name.endswith((".tsv", ".jsonl", ".tsv.gz", ".jsonl.gz")) or os.path.isfile(name)


def read(name: str, split: str) -> Tuple[List[str], List[str]]:
    return read_file(name) if is_file(name) else read_hub(name, split)


def batches(ids: List[List[int]], labels: List[int], B: int, shuffle: bool) -> Iterator[Tuple[Tensor, ...]]:
    """(B, T) ids padded with PAD, (B,) lengths, (B,) labels."""
    order = torch.randperm(len(ids)).tolist() if shuffle else list(range(len(ids)))
    for k in range(0, len(ids), B):
        rows = [ids[j] for j in order[k : k + B]]
        x = torch.full((len(rows), max(map(len, rows))), PAD)
        for r, row in enumerate(rows):
            x[r, : len(row)] = torch.tensor(row)
        yield x, torch.tensor([len(row) for row in rows]), torch.tensor([labels[j] for j in order[k : k + B]])


@dataclass
class ClassifierConfig:
    vocab: int
    classes: int
    cell: str = "lstm"  # or "gru"
    emb_dim: int = 64
    hidden: int = 128  # per direction
    layers: int = 2
    pool: str = "attention"  # or "last", "mean"
    emb_dropout: float = 0.0  # on the embeddings, new mask every step
    out_dropout: float = 0.0  # on the pooled vector
    reg: Regularizers = field(default_factory=Regularizers)  # (a)-(f) of docs/design.md §2

    def __post_init__(self) -> None:
        self.reg = Regularizers(**self.reg) if isinstance(self.reg, dict) else self.reg


class Classifier(nn.Module):
    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.cfg, H2 = cfg, 2 * cfg.hidden
        self.embed = nn.Embedding(cfg.vocab, cfg.emb_dim, padding_idx=PAD)
        self.rnn = RecurrentStack(cfg.cell, cfg.emb_dim, cfg.hidden, cfg.layers, True, cfg.reg)
        self.att = nn.Sequential(nn.Linear(H2, H2), nn.Tanh(), nn.Linear(H2, 1, bias=False))  # u^T tanh(W o + b)
        self.out = nn.Linear(H2, cfg.classes)

    def forward(self, ids: Tensor, lens: Tensor) -> Tensor:
        """:param ids: (B, T) padded with PAD; lens: (B,) → logits (B, classes)"""
        x = F.dropout(self.embed(ids), self.cfg.emb_dropout, self.training)  # (B, T, E)
        out, h_n, _ = self.rnn(x, lens)  # (B, T, 2H), zero on padding; (L*2, B, H)
        if self.cfg.pool == "last":  # forward state at the true end, backward state at the first token
            v = torch.cat([h_n[-2], h_n[-1]], 1)
        elif self.cfg.pool == "mean":
            v = out.sum(1) / lens.unsqueeze(1).to(out.dtype)
        else:
            real = torch.arange(ids.size(1), device=ids.device).unsqueeze(0) < lens.unsqueeze(1)  # (B, T)
            scores = self.att(out).squeeze(2).masked_fill(~real, float("-inf"))  # (B, T)
            v = (torch.softmax(scores, 1).unsqueeze(2) * out).sum(1)  # (B, 2H)
        return self.out(F.dropout(v, self.cfg.out_dropout, self.training))


@torch.no_grad()
def accuracy(model: Classifier, ids: List[List[int]], labels: List[int], B: int) -> float:
    model.eval()
    right = sum(int((model(x, lens).argmax(1) == y).sum()) for x, lens, y in batches(ids, labels, B, False))
    model.train()
    return right / len(ids)


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="TSV or JSONL file, or a Hugging Face hub id (split train)")
    p.add_argument("--valid", help="held-out file (default: --valid_frac of --data)")
    p.add_argument("--test", help="file scored once at the end (default for a hub id: its split test)")
    p.add_argument("--unit", choices=["word", "char"], default="word")
    p.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    p.add_argument("--pool", choices=["attention", "last", "mean"], default="attention")
    for name, default in [("emb_dim", 64), ("hidden", 128), ("layers", 2), ("batch_size", 64), ("epochs", 5),
                          ("max_len", 400), ("min_count", 1), ("seed", 0), ("threads", 1)]:
        p.add_argument(f"--{name}", type=int, default=default)
    for name, default in [("lr", 2e-3), ("clip", 1.0), ("valid_frac", 0.1), ("max_minutes", 0.0),
                          ("emb_dropout", 0.0), ("out_dropout", 0.0)]:
        p.add_argument(f"--{name}", type=float, default=default)
    add_regularizer_args(p)
    p.add_argument("--out", default="runs/examples/classify")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    texts, labels = read(args.data, "train")
    if args.valid:
        valid = read(args.valid, "validation")
    else:  # a seeded random --valid_frac of --data
        if len(texts) < 2:
            fail(f"{args.data}: one text cannot be split into training and validation; give --valid")
        order = torch.randperm(len(texts)).tolist()
        cut = max(1, int(len(texts) * args.valid_frac))
        valid = [texts[j] for j in order[:cut]], [labels[j] for j in order[:cut]]
        texts, labels = [texts[j] for j in order[cut:]], [labels[j] for j in order[cut:]]
    hub = not is_file(args.data)
    tests = read(args.test, "test") if args.test else read(args.data, "test") if hub else None

    def tokens(text: str) -> List[str]:
        return (list(text) if args.unit == "char" else text.split())[: args.max_len]

    counts = Counter(t for text in texts for t in tokens(text))
    vocab = ["<pad>", "<unk>"] + sorted(t for t, n in counts.items() if n >= args.min_count)
    stoi, classes = {t: i for i, t in enumerate(vocab)}, sorted(set(labels))

    def encode(split: Tuple[List[str], List[str]], name: str) -> Tuple[List[List[int]], List[int]]:
        unknown = sorted(set(split[1]) - set(classes))
        if unknown:
            fail(f"{name}: labels {unknown} do not occur in the training data (labels: {classes})")
        return [[stoi.get(t, UNK) for t in tokens(text)] or [UNK] for text in split[0]], \
            [classes.index(label) for label in split[1]]

    train, valid = encode((texts, labels), args.data), encode(valid, args.valid or args.data)
    cfg = ClassifierConfig(len(vocab), len(classes), args.cell, args.emb_dim, args.hidden, args.layers, args.pool,
                           args.emb_dropout, args.out_dropout, regularizers(args))
    model = Classifier(cfg)
    print(f"{len(train[0]):,} train / {len(valid[0]):,} valid texts, {len(vocab):,} {args.unit}s, classes {classes}; "
          f"{sum(p.numel() for p in model.parameters()):,} parameters; {cfg}")
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    os.makedirs(args.out, exist_ok=True)
    path, best, start, busy, ntok = os.path.join(args.out, "ckpt.pt"), -1.0, time.perf_counter(), 0.0, 0
    for epoch in range(1, args.epochs + 1):
        for x, lens, y in batches(*train, args.batch_size, True):
            tick = time.perf_counter()
            loss = F.cross_entropy(model(x, lens), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            busy, ntok = busy + time.perf_counter() - tick, ntok + int(lens.sum())
            if 0 < args.max_minutes < (time.perf_counter() - start) / 60:
                break
        acc = accuracy(model, *valid, args.batch_size)
        print(f"epoch {epoch}  loss {loss.item():.4f}  valid accuracy {acc:.4f}  {ntok / busy:,.0f} tokens/s")
        if acc > best:
            best = acc
            torch.save({"model_config": asdict(cfg), "model_state": model.state_dict(), "vocab": vocab,
                        "classes": classes, "epoch": epoch, "train_config": vars(args), "valid_accuracy": acc}, path)
        if 0 < args.max_minutes < (time.perf_counter() - start) / 60:
            break
    model.load_state_dict(torch.load(path, weights_only=True)["model_state"])
    results = {"valid_accuracy": best, "tokens_per_s": ntok / busy, "minutes": (time.perf_counter() - start) / 60}
    if tests:
        results["test_accuracy"] = accuracy(model, *encode(tests, args.test or args.data), args.batch_size)
    print(f"best valid accuracy {best:.4f}" + (f", test accuracy {results['test_accuracy']:.4f}" if tests else "")
          + f"; {results['minutes']:.1f} min; {path}")
    return results


if __name__ == "__main__":
    main()
