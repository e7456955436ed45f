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

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F
from common import Clock, ModelConfig, evaluating, fail, load_ckpt, parse, parser, read_text, save_ckpt, update
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
        x = nn.utils.rnn.pad_sequence([torch.tensor(row) for row in rows], batch_first=True, padding_value=PAD)
        yield x, torch.tensor([len(row) for row in rows]), torch.tensor([labels[j] for j in order[k : k + B]])


@dataclass
class ClassifierConfig(ModelConfig):
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
    with evaluating(model):
        right = sum(int((model(x, lens).argmax(1) == y).sum()) for x, lens, y in batches(ids, labels, B, False))
    return right / len(ids)


def main(argv: Optional[List[str]] = None) -> dict:
    p = parser(__doc__, hidden=128, batch_size=64, epochs=5, max_len=400, min_count=1, valid_frac=0.1,
               max_minutes=0.0, out="runs/examples/classify")  # and --cell, common.SHARED, the rates
    p.add_argument("--data", required=True, help="TSV or JSONL file, or a Hugging Face hub id (split train)")
    p.add_argument("--valid", help="held-out file (default: --valid_frac of --data)")
    p.add_argument("--test", help="file scored once at the end (default for a hub id: its split test)")
    p.add_argument("--unit", choices=["word", "char"], default="word")
    p.add_argument("--pool", choices=["attention", "last", "mean"], default="attention")
    args = parse(p, argv)
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
        if unknown := sorted(set(split[1]) - set(classes)):
            fail(f"{name}: labels {unknown} do not occur in the training data (labels: {classes})")
        return [[stoi.get(t, UNK) for t in tokens(text)] or [UNK] for text in split[0]], \
            [classes.index(label) for label in split[1]]

    train, valid = encode((texts, labels), args.data), encode(valid, args.valid or args.data)
    cfg = ClassifierConfig.from_args(args, vocab=len(vocab), classes=len(classes))
    model = Classifier(cfg)
    print(f"{len(train[0]):,} train / {len(valid[0]):,} valid texts, {len(vocab):,} {args.unit}s, classes {classes}; "
          f"{sum(p.numel() for p in model.parameters()):,} parameters; {cfg}")
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    path, best, ntok, clock = os.path.join(args.out, "ckpt.pt"), -1.0, 0, Clock()
    for epoch in range(1, args.epochs + 1):
        for x, lens, y in batches(*train, args.batch_size, True):
            with clock:  # training time only: evaluation and checkpoints excluded
                loss = F.cross_entropy(model(x, lens), y)
                update(model, opt, loss, args.clip)
            ntok += int(lens.sum())
            if 0 < args.max_minutes < clock.minutes():
                break
        acc = accuracy(model, *valid, args.batch_size)
        print(f"epoch {epoch}  loss {loss.item():.4f}  valid accuracy {acc:.4f}  {ntok / clock.busy:,.0f} tokens/s")
        if acc > best:
            best = acc
            save_ckpt(path, model, args, vocab=vocab, classes=classes, epoch=epoch, valid_accuracy=acc)
        if 0 < args.max_minutes < clock.minutes():
            break
    model.load_state_dict(load_ckpt(path, "classify")["model_state"])
    results = {"valid_accuracy": best, "tokens_per_s": ntok / clock.busy, "minutes": clock.minutes()}
    if tests:
        results["test_accuracy"] = accuracy(model, *encode(tests, args.test or args.data), args.batch_size)
    print(f"best valid accuracy {best:.4f}" + (f", test accuracy {results['test_accuracy']:.4f}" if tests else "")
          + f"; {results['minutes']:.1f} min; {path}")
    return results


if __name__ == "__main__":
    main()
