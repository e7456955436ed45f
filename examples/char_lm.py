"""A character language model on seq2seq's recurrent stack, trained with truncated backpropagation through time.

    python examples/char_lm.py --data data/multi30k/train.en.gz --valid data/multi30k/val.en.gz --steps 2000
    python examples/char_lm.py ... --weight_drop 0.3 --variational 0.1 --out_dropout 0.2   # AWD-LSTM's regularizers
    python examples/char_lm.py --init runs/examples/char_lm/ckpt.pt --steps 0 --sample 200 --temperature 0.2 1

The text is cut into B = --batch_size streams side by side; each update reads the next --bptt steps of every
stream from the previous chunk's final states, detached, so gradients span one chunk (truncated BPTT, Williams &
Peng 1990, batched as in Zaremba et al. 2014). The loss is the mean NLL per unit (character, or piece with --unit
spm); validation reports bits per character, NLL / (ln 2 · characters). The regularizers are the library's
(docs/design.md §2). The checkpoint with the best validation bpc is --out/ckpt.pt, a plain dict; --sample N then
prints N units per --temperature, continuing --prime.
"""

import io
import math
import os
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import sentencepiece as spm
import torch
import torch.nn.functional as F
from common import Clock, ModelConfig, evaluating, fail, load_ckpt, parse, parser, read_text, save_ckpt, update
from torch import Tensor, nn

from seq2seq.cells import RecurrentStack
from seq2seq.config import Regularizers

State = Tuple[Tensor, Tensor]  # h (L, B, H); c (L, B, H) for the LSTM, (L, B, 0) for the GRU


class Codec:
    """Text ↔ ids through a SentencePiece model (Kudo & Richardson 2018) of the training text: a character model for
    --unit char, a unigram model of --spm_vocab pieces for --unit spm. No normalization and "\\n" a unit of its own,
    so decode(encode(text)) == text for characters the model knows."""

    def __init__(self, model: Tensor):  # the serialized model, uint8, as checkpoints keep it
        self.model, self.sp = model, spm.SentencePieceProcessor(model_proto=bytes(model.tolist()))
        self.size, self.newline, self.unk = self.sp.get_piece_size(), self.sp.piece_to_id("\n"), self.sp.unk_id()

    @classmethod
    def build(cls, text: str, unit: str, vocab_size: int) -> "Codec":
        model, char = io.BytesIO(), unit == "char"
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(text.split("\n")), model_writer=model, model_type="char" if char else "unigram",
            vocab_size=1 << 16 if char else vocab_size, hard_vocab_limit=False, character_coverage=1.0,
            user_defined_symbols=["\n"], normalization_rule_name="identity", add_dummy_prefix=False,
            remove_extra_whitespaces=False, minloglevel=2)
        return cls(torch.frombuffer(bytearray(model.getvalue()), dtype=torch.uint8))

    def encode(self, text: str) -> List[int]:  # one sp.encode call for all lines, the newline id between them
        return [i for line in self.sp.encode(text.split("\n")) for i in line + [self.newline]][:-1]


def streams(ids: List[int], B: int, bptt: int, path: str) -> Tensor:
    """The ids cut into B streams side by side, (B, N): stream b is ids[b*N : (b+1)*N], the rest dropped."""
    N = len(ids) // B
    if bptt > N - 1:
        fail(f"{path}: --bptt {bptt} is longer than each of its {B} streams ({max(N - 1, 0)} steps to predict); "
             "lower --bptt or --batch_size, or give more text")
    return torch.tensor(ids[: N * B]).view(B, N)


def chunk(data: Tensor, i: int, bptt: int) -> Tuple[Tensor, Tensor]:
    """Inputs at steps i .. i+T-1 and targets at i+1 .. i+T of every stream, T = bptt or what is left. (B, T)"""
    T = min(bptt, data.size(1) - 1 - i)
    return data[:, i : i + T], data[:, i + 1 : i + 1 + T]


@dataclass
class LMConfig(ModelConfig):
    vocab: int
    cell: str = "lstm"  # or "gru"
    emb_dim: int = 64
    hidden: int = 512
    layers: int = 2
    emb_dropout: float = 0.0  # on the embeddings, new mask every step
    out_dropout: float = 0.0  # on the top layer's outputs, before the output layer
    reg: Regularizers = field(default_factory=Regularizers)  # (a)-(f) of docs/design.md §2


class CharLM(nn.Module):
    """Embedding → stacked unidirectional LSTM/GRU (`RecurrentStack`) → linear layer over the units."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.emb_dim)
        self.rnn = RecurrentStack(cfg.cell, cfg.emb_dim, cfg.hidden, cfg.layers, False, cfg.reg)
        self.out = nn.Linear(cfg.hidden, cfg.vocab)

    def forward(self, ids: Tensor, state: Optional[State] = None) -> Tuple[Tensor, State]:
        """:param ids: (B, T); state: the previous chunk's final states, None for zeros → logits (B, T, V), state"""
        x = F.dropout(self.embed(ids), self.cfg.emb_dropout, self.training)  # (B, T, E)
        lens = ids.new_full((ids.size(0),), ids.size(1))  # every stream runs the whole chunk
        out, h, c = self.rnn(x, lens, state)  # (B, T, H), (L, B, H), (L, B, H or 0)
        return self.out(F.dropout(out, self.cfg.out_dropout, self.training)), (h, c)


def train_chunk(model: CharLM, opt: torch.optim.Optimizer, x: Tensor, y: Tensor, state: Optional[State],
                clip: float) -> Tuple[float, State]:
    """One update on one chunk from the carried state → the loss per unit, and the final states detached."""
    logits, (h, c) = model(x, state)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    update(model, opt, loss, clip)
    return loss.item(), (h.detach(), c.detach())  # the truncation: values go on, gradients stop here


@torch.no_grad()
def evaluate(model: CharLM, data: Tensor, bptt: int, chars_per_id: float) -> float:
    """Bits per character of every stream, states carried from chunk to chunk."""
    state, nll = None, 0.0
    with evaluating(model):
        for i in range(0, data.size(1) - 1, bptt):
            x, y = chunk(data, i, bptt)
            logits, state = model(x, state)
            nll += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
    return nll / (math.log(2) * data.size(0) * (data.size(1) - 1) * chars_per_id)


@torch.no_grad()
def sample(model: CharLM, prime: List[int], n: int, temperature: float,
           generator: Optional[torch.Generator] = None) -> List[int]:
    """n ids after `prime`, each drawn from softmax(logits / temperature); temperature 0 takes the argmax."""
    model.eval()
    logits, state = model(torch.tensor([prime]))  # (1, len(prime), V)
    out: List[int] = []
    for _ in range(n):
        last = logits[0, -1]  # (V,)
        out.append(int(torch.multinomial(torch.softmax(last / temperature, 0), 1, generator=generator))
                   if temperature > 0 else int(last.argmax()))
        logits, state = model(torch.tensor([out[-1:]]), state)  # one step from the carried state
    return out


def main(argv: Optional[List[str]] = None) -> dict:
    p = parser(__doc__, hidden=512, batch_size=32, bptt=100, steps=2000, eval_every=500, log_every=100, sample=0,
               spm_vocab=500, valid_frac=0.05, out="runs/examples/char_lm")  # and --cell, common.SHARED, the rates
    p.add_argument("--data", help="training text, UTF-8, optionally .gz")
    p.add_argument("--valid", help="held-out text (default: the last --valid_frac of --data)")
    p.add_argument("--unit", choices=["char", "spm"], default="char")
    p.add_argument("--init", help="start from this checkpoint (its model and units); with --steps 0, sample only")
    p.add_argument("--temperature", type=float, nargs="+", default=[1.0])
    p.add_argument("--prime", default="", help="text the samples continue (after a line end)")
    args = parse(p, argv)
    if min(args.temperature) < 0 or args.sample < 0:
        fail("--temperature and --sample must not be negative")
    if not args.data and not (args.init and args.steps == 0):
        fail("--data: a training text is needed (or --init CHECKPOINT --steps 0 to sample only)")
    ckpt = load_ckpt(args.init, "char_lm") if args.init else None
    text = read_text(args.data) if args.data else ""
    codec = Codec(ckpt["units"]) if ckpt else Codec.build(text, args.unit, args.spm_vocab)
    cfg = LMConfig(**ckpt["model_config"]) if ckpt else LMConfig.from_args(args, vocab=codec.size)
    model = CharLM(cfg)
    if ckpt:
        model.load_state_dict(ckpt["model_state"])
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters, {codec.size} units; {cfg}")
    path, results = os.path.join(args.out, "ckpt.pt"), {}
    if args.steps > 0:
        cut = len(text) - int(len(text) * args.valid_frac)
        train_text, valid_text = (text, read_text(args.valid)) if args.valid else (text[:cut], text[cut:])
        train_ids, valid_ids = codec.encode(train_text), codec.encode(valid_text)
        train = streams(train_ids, args.batch_size, args.bptt, args.data)  # (B, N)
        valid = streams(valid_ids, args.batch_size, args.bptt, args.valid or f"{args.data} (held-out end)")
        train_cpi, valid_cpi = len(train_text) / len(train_ids), len(valid_text) / len(valid_ids)  # chars per id
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        best, i, state, chars, clock = math.inf, 0, None, 0.0, Clock()
        for step in range(1, args.steps + 1):
            if i >= train.size(1) - 1:  # a new pass over the text starts from zero states
                i, state = 0, None
            x, y = chunk(train, i, args.bptt)
            with clock:  # training time only: evaluation and checkpoints excluded
                loss, state = train_chunk(model, opt, x, y, state, args.clip)
            i, chars = i + x.size(1), chars + y.numel() * train_cpi
            if step % args.log_every == 0 or step == args.steps:
                print(f"step {step}  loss {loss / math.log(2):.3f} bits/{args.unit}  {chars / clock.busy:,.0f} chars/s")
            if step % args.eval_every == 0 or step == args.steps:
                bpc = evaluate(model, valid, args.bptt, valid_cpi)
                print(f"step {step}  valid {bpc:.4f} bpc" + ("  (best: saved)" if bpc < best else ""))
                if bpc < best:
                    best = bpc
                    save_ckpt(path, model, args, opt, step=step, units=codec.model, valid_bpc=bpc)
        model.load_state_dict(load_ckpt(path, "char_lm")["model_state"])
        results = dict(valid_bpc=best, steps=args.steps, chars_per_s=chars / clock.busy, minutes=clock.minutes())
        print(f"best valid {best:.4f} bpc; {args.steps} steps in {results['minutes']:.1f} min; {path}")
    prime = [codec.newline] + codec.encode(args.prime)  # samples start after a line end
    if args.sample and codec.unk in prime:
        fail(f"--prime: {args.prime!r} has characters that the training text did not")
    for temperature in args.temperature if args.sample else []:
        ids = sample(model, prime, args.sample, temperature, torch.Generator().manual_seed(args.seed))
        results[f"sample_{temperature:g}"] = out = args.prime + codec.sp.decode(ids)
        print(f"--- temperature {temperature:g}\n{out}")
    return results


if __name__ == "__main__":
    main()
