"""Continuous batching without the server: N sentences kept in flight through `Translator.advance`, against whole
batches of N through `translate_ids`, in one process, on Multi30k test_2016_flickr (issue 13 item 3).

    python benchmarks/steady.py --model M.pt [--in-flight 8 32] [--beam 5] [--sentences 400] [--group 1 4]
        [--threads 1] [--repeat 2] [--shortlist] [--breakdown]

"whole": the sentences in arrival order, N at a time, each batch decoded to its end (what N closed-loop clients
get from the whole-batch server when every batch fills). "steady G": N in flight; the sentences that end are
replaced by the next ones in arrival order, which join the decoding at the next step once G of them wait (or
all that are left). Both decode the same sentences with the same options; the figure is sentences/s, the
fastest of `--repeat` runs. `--breakdown` times a steady run's parts through the artifact's own methods
(`start`, which encodes and builds its own output layer, `join`, `step`, and turning results into hypotheses)
instead of the one `advance` call.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from translate_speed import DEFAULT_INPUT, read_input  # noqa: E402 (the test set and how it is read)


def whole(tr, sources: list[list[int]], n: int, opts) -> tuple[float, list[str]]:
    out: list[str] = []
    started = time.perf_counter()
    for i in range(0, len(sources), n):
        out += [h[0].text for h in tr.translate_ids(sources[i : i + n], opts)]
    return time.perf_counter() - started, out


def steady(tr, sources: list[list[int]], n: int, group: int, opts,
           parts: dict[str, float] | None = None) -> tuple[float, list[str]]:
    """Keep n in flight; ended sentences' places go to the next sources, `group` at a time."""
    import torch

    from seq2seq.translator import pad_batch

    out: dict[int, str] = {}
    nxt, live, running = 0, 0, None
    started = time.perf_counter()
    while len(out) < len(sources):
        waiting = min(n - live, len(sources) - nxt)
        batch, ids = [], []
        if waiting and (running is None or waiting >= min(group, len(sources) - nxt)):
            ids = list(range(nxt, nxt + waiting))
            batch = [sources[i] for i in ids]
            nxt += waiting
            live += waiting
        if parts is None:
            running, ended = tr.advance(running, None, batch, opts, False, ids)
        else:
            running, ended = _advance_in_parts(tr, running, batch, ids, opts, parts, torch, pad_batch)
        for i, hyps in ended:
            out[i] = hyps[0].text
        live -= len(ended)
    return time.perf_counter() - started, [out[i] for i in range(len(sources))]


def _advance_in_parts(tr, running, batch, ids, opts, parts, torch, pad_batch):
    m = tr.module
    with torch.inference_mode():
        args = (opts.beam_size, opts.n_best, float(opts.max_len_a), opts.max_len_b, float(opts.length_penalty),
                opts.stop, False, opts.shortlist)
        if batch:
            t = time.perf_counter()
            src, lens = pad_batch(batch)
            new = m.start(src, lens, torch.tensor(ids, dtype=torch.long), *args)
            parts["start (encode)"] += time.perf_counter() - t
            if running is not None:
                t = time.perf_counter()
                running = m.join(running, new)
                parts["join"] += time.perf_counter() - t
            else:
                running = new
        t = time.perf_counter()
        running, ended, lens, result = m.step(running)
        parts["step"] += time.perf_counter() - t
        t = time.perf_counter()
        hyps = tr._hypotheses(result, lens.tolist(), False)
        parts["hypotheses"] += time.perf_counter() - t
        return (running if running.ids.size(0) > 0 else None), list(zip(ended.tolist(), hyps, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", default=DEFAULT_INPUT)
    parser.add_argument("--sentences", type=int, default=400)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--group", type=int, nargs="+", default=[1])
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--shortlist", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--breakdown", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    import torch

    from seq2seq.translator import SearchOptions, Translator

    torch.set_num_threads(args.threads)
    tr = Translator.load(args.model)
    opts = SearchOptions(beam_size=args.beam, shortlist=args.shortlist)
    sources = [tr.encode(line) for line in read_input(args.input)[: args.sentences] if line.strip()]
    steady(tr, sources[:40], 8, 1, opts)  # warm-up: TorchScript optimizes the methods on their first runs
    whole(tr, sources[:40], 8, opts)
    print(f"{len(sources)} sentences, beam {args.beam}{', shortlist' if args.shortlist else ''}, "
          f"{args.threads} thread(s)")
    print("| in flight | mode | sentences/s | / whole |")
    print("|---|---|---|---|")
    for n in args.in_flight:
        seconds, ref = min(whole(tr, sources, n, opts) for _ in range(args.repeat))
        print(f"| {n} | whole | {len(sources) / seconds:.1f} | 1.00 |", flush=True)
        for g in args.group:
            s, hyps = min(steady(tr, sources, n, g, opts) for _ in range(args.repeat))
            same = sum(a == b for a, b in zip(hyps, ref, strict=True))
            note = "" if same == len(ref) else f" ({len(ref) - same} translations differ)"
            print(f"| {n} | steady {g} | {len(sources) / s:.1f} | {seconds / s:.2f} |{note}", flush=True)
        if args.breakdown:
            parts: dict[str, float] = defaultdict(float)
            total, _ = steady(tr, sources, n, args.group[0], opts, parts)
            shares = ", ".join(f"{k} {v / total:.0%}" for k, v in parts.items())
            print(f"  breakdown, steady {args.group[0]}, {n} in flight, {total:.2f} s: {shares}", flush=True)


if __name__ == "__main__":
    main()
