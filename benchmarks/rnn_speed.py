"""Training and decoding speed of the recurrent path against torch.nn's fused LSTM, measured alternately.

    python benchmarks/rnn_speed.py [--threads 2] [--rounds 5] [--bucketed] [--checkpoint CHECKPOINT]

Shapes: 2-layer bidirectional LSTM encoder (256 per direction), 2-layer LSTM decoder 512 with dot attention and
input feeding, embeddings 256, vocabulary 8000, batch 64, Multi30k-like lengths (source ~ N(13, 4), target
~ N(12, 4)), in batches that are not sorted by length; with --bucketed, batches like the trainer's (one
target length, sources of that length + 1 ± 1). Four variants run forward+backward in turn, round after round:
  ours+reg   zoneout (c 0.1, h 0.1) and recurrent dropout 0.1 on: the custom time loop
  ours       no option that needs the loop: fused kernels in the encoder
  ours/pad   the same model decoding every position of the padded batch, as the reference does
  torch.nn   the same network from nn.LSTM (packed) and nn.LSTMCell
"ours" and "ours+reg" train as the trainer does: the decoder runs packed targets (a step runs only the
sentences still that long, and only real tokens reach the output layer); "ours/pad" isolates the kernels.
Prints target tokens/s, the ratio to torch.nn, and the activations held for backward (the tensors autograd
saves and the deferred weight gradients' inputs, each storage once, weights excluded). Then greedy and beam-5
decoding sentences/s, eager vs TorchScript.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from seq2seq.config import ModelConfig, Regularizers
from seq2seq.model import Seq2Seq
from seq2seq.search import Search

V, E, HE, HD, B = 8000, 256, 256, 512, 64


class TorchNNReference(nn.Module):
    """The same network from torch.nn's fused LSTM (encoder, packed) and LSTMCell (decoder steps), with the same
    dropouts: embeddings, between layers, and before the output layer, all 0.3."""

    def __init__(self):
        super().__init__()
        self.src_embed, self.tgt_embed = nn.Embedding(V, E), nn.Embedding(V, E)
        self.encoder = nn.LSTM(E, HE, 2, batch_first=True, bidirectional=True, dropout=0.3)
        self.combine = nn.Linear(2 * HE, HD, bias=False)
        self.bridge_h, self.bridge_c = nn.Linear(2 * HE, HD), nn.Linear(2 * HE, HD)
        self.cells = nn.ModuleList([nn.LSTMCell(E + HD, HD), nn.LSTMCell(HD, HD)])
        self.concat, self.out = nn.Linear(2 * HD, HD), nn.Linear(HD, V)

    def forward(self, src, src_lens, tgt_in):
        emb = F.dropout(self.src_embed(src), 0.3, self.training)
        packed = nn.utils.rnn.pack_padded_sequence(emb, src_lens, batch_first=True, enforce_sorted=False)
        out, (h_n, c_n) = self.encoder(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
        values = self.combine(out)
        Bn = src.size(0)
        h = list(torch.tanh(self.bridge_h(h_n.view(2, 2, Bn, HE).permute(0, 2, 1, 3).reshape(2, Bn, -1))).unbind(0))
        c = list(torch.tanh(self.bridge_c(c_n.view(2, 2, Bn, HE).permute(0, 2, 1, 3).reshape(2, Bn, -1))).unbind(0))
        mask = torch.arange(src.size(1)).unsqueeze(0) < src_lens.unsqueeze(1)
        feed = values.new_zeros(Bn, HD)
        outs = []
        for emb in F.dropout(self.tgt_embed(tgt_in), 0.3, self.training).unbind(1):
            x = torch.cat([emb, feed], 1)
            for k, cell in enumerate(self.cells):
                h[k], c[k] = cell(F.dropout(x, 0.3, self.training) if k else x, (h[k], c[k]))
                x = h[k]
            scores = torch.bmm(values, x.unsqueeze(2)).squeeze(2).masked_fill(~mask, float("-inf"))
            ctx = torch.bmm(torch.softmax(scores, 1).unsqueeze(1), values).squeeze(1)
            feed = torch.tanh(self.concat(torch.cat([ctx, x], 1)))
            outs.append(feed)
        return self.out(F.dropout(torch.stack(outs, 1), 0.3, self.training))


def ours(reg: Regularizers) -> Seq2Seq:
    return Seq2Seq(ModelConfig(src_vocab=V, tgt_vocab=V, emb_dim=E, enc_hidden=HE, dec_hidden=HD, enc_reg=reg,
                               dec_reg=reg, emb_dropout=0.3, out_dropout=0.3))


def batch(g: torch.Generator, bucketed: bool = False):
    if bucketed:  # as the trainer's batches: one target length; sources of that length + 1 ± 1
        tgt_lens = (torch.randn(1, generator=g) * 4 + 12).round().clamp(3, 40).long().expand(B)
        src_lens = (tgt_lens + 1 + torch.randn(B, generator=g)).round().clamp(3, 40).long()
    else:
        src_lens = (torch.randn(B, generator=g) * 4 + 13).round().clamp(3, 40).long()
        tgt_lens = (torch.randn(B, generator=g) * 4 + 12).round().clamp(3, 40).long()
    src = torch.randint(4, V, (B, int(src_lens.max())), generator=g)
    tgt = torch.randint(4, V, (B, int(tgt_lens.max()) + 1), generator=g)
    for b in range(B):
        src[b, src_lens[b]:] = 0
        tgt[b, tgt_lens[b] + 1:] = 0
    return src, src_lens, tgt, tgt_lens


def train_step(model: nn.Module, opt: torch.optim.Optimizer, src, src_lens, tgt, tgt_lens,
               packed: bool) -> tuple[float, int]:
    """One forward+backward+update; returns its seconds and the bytes of activations held for backward."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}  # storage → bytes: a tensor saved by several operations counts once

    def keep(t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()

    def pack(t: torch.Tensor) -> torch.Tensor:
        keep(t)
        return t

    started = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if packed:  # only the scored steps are decoded: logits (N, V) of the real target tokens
            gold = tgt[:, 1:][torch.arange(tgt.size(1) - 1).unsqueeze(0) < tgt_lens.unsqueeze(1)]
            logits = model(src, src_lens, tgt[:, :-1], tgt_lens)
        else:  # every position of the padded batch, padding ignored by the loss
            gold = tgt[:, 1:].reshape(-1)
            logits = model(src, src_lens, tgt[:, :-1]).reshape(-1, V)
        loss = F.cross_entropy(logits, gold, ignore_index=0, label_smoothing=0.1)
    forward = time.perf_counter() - started
    for xs in deferred_logs(loss):  # the inputs a time loop keeps for its deferred weight gradients
        for x in xs:
            keep(x)
    started = time.perf_counter()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return forward + time.perf_counter() - started, sum(saved.values())


def deferred_logs(loss: torch.Tensor) -> list[list[torch.Tensor]]:
    """The logs of every deferred-weight-gradient node in the graph (seq2seq.cells.defer_weight_grads)."""
    logs, seen, todo = [], set(), [loss.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        logs += getattr(node, "logs", None) or []
        todo += [next_node for next_node, _ in node.next_functions]
    return logs


def bench_training(rounds: int, bucketed: bool) -> None:
    torch.manual_seed(0)
    variants = {
        "ours+reg": ours(Regularizers(dropout=0.3, zoneout_c=0.1, zoneout_h=0.1, recurrent_dropout=0.1)),
        "ours": ours(Regularizers(dropout=0.3)),
        "ours/pad": ours(Regularizers(dropout=0.3)),
        "torch.nn": TorchNNReference(),
    }
    packed = {"ours+reg": True, "ours": True, "ours/pad": False, "torch.nn": False}
    opts = {k: torch.optim.Adam(m.parameters()) for k, m in variants.items()}
    times: dict[str, list[float]] = {k: [] for k in variants}
    memory: dict[str, int] = {}
    g = torch.Generator().manual_seed(0)
    batches = [batch(g, bucketed) for _ in range(rounds + 1)]
    tokens = sum(int(b[3].sum()) for b in batches[1:])
    for r, b in enumerate(batches):
        for name, model in variants.items():  # alternate: every round runs each variant once on the same batch
            model.train()
            seconds, saved = train_step(model, opts[name], *b, packed[name])
            if r:  # round 0 warms up
                times[name].append(seconds)
                memory[name] = max(memory.get(name, 0), saved)
    ref = sum(times["torch.nn"])
    src_pad = 1 - sum(int(b[1].sum()) for b in batches) / sum(b[0].numel() for b in batches)
    tgt_pad = 1 - sum(int(b[3].sum()) for b in batches) / sum(b[2][:, 1:].numel() for b in batches)
    print(f"training, forward+backward, batch {B}, {rounds} rounds, {torch.get_num_threads()} threads, "
          f"{'bucketed' if bucketed else 'unsorted'} batches: padding {src_pad:.0%} of source, {tgt_pad:.0%} of "
          "target positions")
    print(f"{'variant':<10} {'tgt tok/s':>10} {'vs torch.nn':>12} {'median step':>12} {'activations':>12}")
    for name, ts in times.items():
        print(f"{name:<10} {tokens / sum(ts):>10.0f} {ref / sum(ts):>11.2f}x {statistics.median(ts) * 1000:>10.0f}ms "
              f"{memory[name] / 2**20:>9.0f} MiB")


def source_batches(count: int, vocab: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`count` batches of B Multi30k-length source sentences ending with EOS (ids, lens); the same every run."""
    g = torch.Generator().manual_seed(1)
    data = []
    for _ in range(count):
        lens = (torch.randn(B, generator=g) * 4 + 13).round().clamp(3, 40).long()
        src = torch.randint(4, vocab, (B, int(lens.max())), generator=g)
        for b in range(B):
            src[b, lens[b] - 1] = 3
            src[b, lens[b]:] = 0
        data.append((src, lens))
    return data


def bench_decoding(checkpoint: str | None, sentences: int) -> None:
    torch.manual_seed(0)
    if checkpoint:
        from training.checkpoint import load_checkpoint, model_from_checkpoint

        model = model_from_checkpoint(load_checkpoint(checkpoint), checkpoint)
    else:
        model = ours(Regularizers(zoneout_c=0.1, zoneout_h=0.1, recurrent_dropout=0.1))
    search = Search(model).eval()
    scripted = torch.jit.script(search)
    data = source_batches(sentences // B, model.encoder.embed.num_embeddings)
    print(f"\ndecoding {len(data) * B} sentences, batch {B}, max length 1.5|src|+10, "
          f"{'trained ' + checkpoint if checkpoint else 'random weights (outputs run to the maximum length)'}")
    with torch.inference_mode():
        for beam in (1, 5):
            rates = {}
            for _ in range(2):  # alternate eager and scripted twice; keep the better of each
                for name, module in (("eager", search), ("scripted", scripted)):
                    module(*data[0], beam, 1)  # warm-up (TorchScript profiles its first runs)
                    started = time.perf_counter()
                    for src, lens in data:
                        module(src, lens, beam, 1)
                    rates[name] = max(rates.get(name, 0.0), len(data) * B / (time.perf_counter() - started))
            label = "greedy" if beam == 1 else f"beam {beam}"
            print(f"{label:<7} eager {rates['eager']:7.1f} sent/s   scripted {rates['scripted']:7.1f} sent/s   "
                  f"ratio {rates['scripted'] / rates['eager']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sentences", type=int, default=256)
    parser.add_argument("--checkpoint", help="a trained checkpoint for the decoding figures")
    parser.add_argument("--bucketed", action="store_true",
                        help="batches like the trainer's: one target length per batch (less padding)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bench_training(args.rounds, args.bucketed)
    bench_decoding(args.checkpoint, args.sentences)


if __name__ == "__main__":
    main()
