"""Training characters/s of char_lm.py's model against the same model built from torch.nn.LSTM, measured alternately.

    python examples/char_lm_speed.py [--rounds 6] [--steps 8] [--threads 1] [--cell lstm] [--hidden 512]

Each variant runs --steps truncated-BPTT updates per round (forward, backward, clipping, Adam, states carried) on
the same random chunks, char_lm.py's defaults (B 32, bptt 100, embeddings 64, 2 layers of 512). The order of the
variants rotates every round, so that load beside the benchmark slows all of them alike; round 0 is a warm-up.
  zoneout      RecurrentStack with zoneout_c 0.1, zoneout_h 0.1 (the library's time loop; zoneout_h only for GRU)
  recdrop      RecurrentStack with recurrent dropout 0.25 (the library's time loop)
  ours         RecurrentStack without them (PyTorch's fused kernel)
  torch.nn     torch.nn.LSTM (GRU) in place of RecurrentStack, no recurrent regularizer
Prints the median characters/s of each and its ratio to torch.nn.
"""

import argparse
import statistics
import time

import torch
from char_lm import CharLM, LMConfig, train_chunk
from torch import Tensor, nn

from seq2seq.config import Regularizers


class TorchRNN(nn.Module):
    """torch.nn.LSTM/GRU behind RecurrentStack's interface: (x, lens, state) → outputs, h_n, c_n."""

    def __init__(self, cell: str, input_size: int, hidden: int, layers: int):
        super().__init__()
        self.lstm = cell == "lstm"
        self.rnn = (nn.LSTM if self.lstm else nn.GRU)(input_size, hidden, layers, batch_first=True)

    def forward(self, x: Tensor, lens: Tensor, state=None):
        if self.lstm:
            out, (h, c) = self.rnn(x, state)
            return out, h, c
        out, h = self.rnn(x, None if state is None else state[0])
        return out, h, h.new_zeros(h.size(0), h.size(1), 0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in [("rounds", 6), ("steps", 8), ("threads", 1), ("batch_size", 32), ("bptt", 100),
                          ("emb_dim", 64), ("hidden", 512), ("layers", 2), ("vocab", 96)]:
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    zoneout = Regularizers(zoneout_c=0.1 if args.cell == "lstm" else 0.0, zoneout_h=0.1)
    regs = {"zoneout": zoneout, "recdrop": Regularizers(recurrent_dropout=0.25), "ours": Regularizers(),
            "torch.nn": Regularizers()}
    models = {}
    for name, reg in regs.items():
        models[name] = CharLM(LMConfig(args.vocab, args.cell, args.emb_dim, args.hidden, args.layers, reg=reg))
        if name == "torch.nn":
            models[name].rnn = TorchRNN(args.cell, args.emb_dim, args.hidden, args.layers)
    opts = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in models.items()}
    data = torch.randint(args.vocab, (args.batch_size, args.steps * args.bptt + 1))
    speeds = {name: [] for name in models}
    names = list(models)
    print(f"{args.cell}, B {args.batch_size}, bptt {args.bptt}, hidden {args.hidden} x {args.layers}, "
          f"{torch.get_num_threads()} thread(s); characters/s of training per round:")
    for r in range(args.rounds + 1):
        for name in names[r % len(names):] + names[: r % len(names)]:
            state, start = None, time.perf_counter()
            for s in range(args.steps):
                i = s * args.bptt
                x, y = data[:, i : i + args.bptt], data[:, i + 1 : i + 1 + args.bptt]
                _, state = train_chunk(models[name], opts[name], x, y, state, 1.0)
            if r:  # round 0 warms up
                speeds[name].append(args.batch_size * args.bptt * args.steps / (time.perf_counter() - start))
        if r:
            print(f"round {r}: " + "  ".join(f"{n} {speeds[n][-1]:,.0f}" for n in names))
    ref = statistics.median(speeds["torch.nn"])
    for name in names:
        med = statistics.median(speeds[name])
        print(f"{name:9s} median {med:8,.0f} chars/s  {med / ref:.2f}x torch.nn")


if __name__ == "__main__":
    main()
