"""Two models in one server: does a second language pair slow the first? (service/runtime.py, several models)

    python benchmarks/two_models.py                                   # --run's default (Multi30k de→en), 20 s each
    python benchmarks/two_models.py --duration 15 --rounds 3 --run runs/sweep/ablation/a_dropout_0.4-s1
    python benchmarks/two_models.py --models de-en.pt en-fr.pt         # two real artifacts of different pairs,
                                                                       # each sent its source's test sentences

Starts two servers, `python -m service` on free loopback ports in other processes as benchmarks/load.py does (its
functions, imported): one with ONE model, one with TWO (two pairs). Then, in turn, one server loaded while the other
sits idle, closed-loop clients (one sentence a request, the next as soon as the answer arrives) for --duration
seconds each, after --warmup seconds of the same load:

1. one model: --clients clients (32) on its pair;
2. two models: (a) the same clients, all on pair 1, and its throughput over 1's (the target is >= 0.9);
   (b) mixed traffic, half the clients on each pair at once: requests/s and p50/p99 latency per pair;
   (c) starvation: one client on pair 2 alone, then that client while the other --clients - 1 flood pair 1:
   pair 2's p50/p99 with the flood beside it against without (one busy pair must not starve another).

With --rounds N, the five run N times in turn, every other round in reverse order (each round's throughputs
printed), and the table pools them, which evens out what else the machine does meanwhile.

Without --models, both artifacts are exported here (training/export_cmd.py, what `seq2seq export` runs) from the
final checkpoint of --run: pair 1 as the run trained it (de→en), and pair 2 from the same checkpoint with the
run's config relabelled data.src=en, data.tgt=de (`seq2seq export` takes the languages from the run's config and
has no option for them). Pair 2 is then the de→en network under an en→de label, and both pairs are sent the same
German sentences: the two pairs do the same work, which is what a speed test wants; its output is no translation.
Exporting both with the current code gives them the same artifact format (the run's own model.pt may be older).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import DEFAULT_DATA, ROOT, Level, fits, percentile, read_sentences, run_level, start_server  # noqa: E402

DEFAULT_RUN = ROOT / "runs" / "sweep" / "ablation" / "a_dropout_0.4-s1"


def export_pairs(run: Path, folder: Path) -> tuple[Path, Path]:
    """SRC-TGT.pt as the run trained it and TGT-SRC.pt (the same checkpoint, its config's languages swapped)."""
    from training.config import load_config, save_config
    from training.export_cmd import export_path
    from training.run import JOINT_SPM, SRC_SPM, TGT_SPM, resolve

    relabelled = folder / "relabelled_run"
    (relabelled / "checkpoints").mkdir(parents=True, exist_ok=True)
    cfg = load_config(str(run / "config.yaml"))
    swapped = load_config(str(run / "config.yaml"), [f"data.src={cfg.data.tgt}", f"data.tgt={cfg.data.src}"])
    save_config(swapped, str(relabelled / "config.yaml"))
    checkpoint = Path(resolve(str(run))[1]).relative_to(run)  # checkpoints/final.pt, or last.pt while training
    for name in (JOINT_SPM, SRC_SPM, TGT_SPM, checkpoint):  # what the export reads
        if (run / name).exists() and not (relabelled / name).exists():
            os.symlink((run / name).resolve(), relabelled / name)
    first, second = folder / f"{cfg.data.src}-{cfg.data.tgt}.pt", folder / f"{cfg.data.tgt}-{cfg.data.src}.pt"
    export_path(str(run), str(first), check=10)
    export_path(str(relabelled), str(second), check=10)
    return first, second


@contextlib.contextmanager
def server(args: argparse.Namespace, model: Path) -> Iterator[str]:
    """A server of `model` (an artifact, or a folder: every *.pt in it) for the block; its URL."""
    with tempfile.TemporaryFile("w+") as log:
        try:
            proc, url = start_server(argparse.Namespace(**{**vars(args), "model": model}), log)
        except SystemExit:
            log.seek(0)
            print("server log (tail):\n" + log.read()[-3000:], file=sys.stderr)
            raise
        try:
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            if args.failed:
                log.seek(0)
                print("server log (tail):\n" + log.read()[-3000:], file=sys.stderr)


def with_language(path: Path, old: str, new: str) -> Path:
    """test_2016_flickr.de.gz → test_2016_flickr.en.gz: the same split in another language."""
    parts = path.name.split(".")
    if old not in parts[1:]:
        raise SystemExit(f"{path}: no language code {old!r} in the file name to replace; give --data2")
    parts[parts.index(old, 1)] = new
    return path.with_name(".".join(parts))


def measure(args: argparse.Namespace, url: str, sentences: dict[tuple[str, str], list[str]],
            split: list[tuple[tuple[str, str], int]]) -> list[Level]:
    """Closed-loop clients at once, `count` of them on each (source, target) pair, each pair sent its own
    sentences; after --warmup seconds."""
    async def both(seconds: float, levels: list[Level]) -> None:
        await asyncio.gather(*(run_level(url, {"source": s, "target": t, "beam_size": args.beam},
                                         sentences[(s, t)], level, seconds, None)
                               for ((s, t), _), level in zip(split, levels)))

    if args.warmup > 0:
        asyncio.run(both(args.warmup, [Level(count) for _, count in split]))
    levels = [Level(count) for _, count in split]
    asyncio.run(both(args.duration, levels))
    args.failed = args.failed or any(level.errors for level in levels)
    return levels


def pooled(levels: list[Level], at_once: bool) -> Level:
    """One Level of several: measured at once (clients and rates add up) or one after another (times add up)."""
    errors: dict[str, int] = {}
    for level in levels:
        for outcome, n in level.errors.items():
            errors[outcome] = errors.get(outcome, 0) + n
    clients = sum(level.clients for level in levels) if at_once else levels[0].clients
    seconds = max(level.seconds for level in levels) if at_once else sum(level.seconds for level in levels)
    return Level(clients, seconds, [x for level in levels for x in level.latencies], errors)


def row(server_name: str, traffic: str, pair: str, level: Level) -> str:
    lat = [x * 1000 for x in level.latencies]
    return (f"{server_name:<10} {traffic:<8} {pair:<6} {level.clients:>7} {len(lat):>8} {level.rps:>7.1f} "
            f"{percentile(lat, 50):>7.0f} {percentile(lat, 99):>7.0f} {sum(level.errors.values()):>6} "
            f"{level.errors or ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=DEFAULT_RUN,
                        help="run folder whose final checkpoint is exported as both pairs (without --models)")
    parser.add_argument("--models", type=Path, nargs=2, metavar=("PAIR1.pt", "PAIR2.pt"),
                        help="two artifacts of different language pairs instead; pair 1 carries the single-pair load")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="pair 1's sentences, one a line (gzip or plain); without --models, both pairs'")
    parser.add_argument("--data2", type=Path,
                        help="with --models, pair 2's sentences (default: --data with its language code, the "
                             "part of the file name between dots that is pair 1's source, made pair 2's)")
    parser.add_argument("--clients", type=int, default=32, help="clients of each measurement (mixed: half a pair)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of the same load before each, not counted")
    parser.add_argument("--rounds", type=int, default=1,
                        help="take the three measurements this many times (both servers up throughout) and pool them")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--max-sentences", type=int, default=1000, help="sentences read from --data")
    # what load.start_server reads, as load.py's options
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--batch-linger-ms", type=float, default=100.0)
    parser.add_argument("--batch-max-tokens", type=int, default=4096)
    parser.add_argument("--whole-batches", action="store_true",
                        help="the servers decode each batch to its end (SEQ2SEQ_BATCH_CONTINUOUS=false, the "
                             "service's default); without it continuous batching, as in load.py")
    parser.add_argument("--threads", type=int, default=0, help="decoder threads; 0: the server's default")
    args = parser.parse_args()
    args.failed = False

    from seq2seq.translator import Translator

    with tempfile.TemporaryDirectory() as tmp:
        first, second = args.models or export_pairs(args.run, Path(tmp))
        models = [Translator.load(str(path)) for path in (first, second)]
        pairs = [(m.src_lang, m.tgt_lang) for m in models]
        if pairs[0] == pairs[1]:
            raise SystemExit(f"{first} and {second} are both {pairs[0][0]}→{pairs[0][1]}: one server takes one each")
        both = Path(tmp) / "both"
        both.mkdir()
        for i, path in enumerate((first, second), 1):
            os.symlink(path.resolve(), both / f"{i}-{path.name}")
        files = [args.data, args.data2 or with_language(args.data, pairs[0][0], pairs[1][0])] if args.models \
            else [args.data, args.data]
        if args.models:  # each pair its own sentences
            sentences = {pair: [s for s in read_sentences(path, args.max_sentences) if fits(model, s)]
                         for pair, path, model in zip(pairs, files, models)}
        else:  # the same sentences to both: the same network under two labels
            read = [s for s in read_sentences(args.data, args.max_sentences) if all(fits(m, s) for m in models)]
            sentences = {pair: read for pair in pairs}
        names = [f"{s}→{t}" for s, t in pairs]
        print(f"{len(sentences[pairs[0]])} sentences from {files[0]}, {len(sentences[pairs[1]])} from {files[1]}, "
              f"beam {args.beam}, "
              f"{'whole batches' if args.whole_batches else 'continuous batching'}, {args.duration:g} s "
              f"a measurement after {args.warmup:g} s of warm-up; pair 1 {names[0]} ({first.name}), pair 2 "
              f"{names[1]} ({second.name})")
        if not args.models:
            print(f"pair 2 is pair 1's network ({args.run}, its final checkpoint) exported under the label "
                  f"{names[1]}: the same work on both pairs, a speed test only")

        half = args.clients // 2
        # per round: one model on pair 1; two models, pair 1 alone; two models, mixed (pair 1, pair 2); pair 2's
        # one client alone; pair 2's one client beside a flood of pair 1 (pair 1, pair 2)
        rounds = []
        with server(args, first) as one, server(args, both) as two:  # the one not measured sits idle
            jobs = [(one, [(pairs[0], args.clients)]), (two, [(pairs[0], args.clients)]),
                    (two, [(pairs[0], half), (pairs[1], args.clients - half)]), (two, [(pairs[1], 1)]),
                    (two, [(pairs[0], args.clients - 1), (pairs[1], 1)])]
            for r in range(args.rounds):
                order = range(len(jobs)) if r % 2 == 0 else reversed(range(len(jobs)))  # no bias of order
                got = {i: measure(args, jobs[i][0], sentences, jobs[i][1]) for i in order}
                rounds.append([level for i in range(len(jobs)) for level in got[i]])
                alone, shared, m1, m2, quiet, _, starved = rounds[-1]
                print(f"round {r + 1}: {alone.rps:.1f} req/s one model, {shared.rps:.1f} two models ("
                      f"{shared.rps / alone.rps:.2f}x), {m1.rps + m2.rps:.1f} mixed; pair 2's one client p50 "
                      f"{percentile(quiet.latencies, 50) * 1000:.0f} ms alone, "
                      f"{percentile(starved.latencies, 50) * 1000:.0f} ms beside the flood", flush=True)

    alone, shared, *mixed, quiet, flood, starved = (pooled([measured[i] for measured in rounds], at_once=False)
                                                    for i in range(7))
    total = pooled(mixed, at_once=True)
    print(f"{'server':<10} {'traffic':<8} {'pair':<6} {'clients':>7} {'requests':>8} {'req/s':>7} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'errors':>6}")
    print(row("one model", "one pair", names[0], alone))
    print(row("two models", "one pair", names[0], shared))
    for name, level in zip(names, mixed):
        print(row("two models", "mixed", name, level))
    print(row("two models", "mixed", "both", total))
    print(row("two models", "alone", names[1], quiet))
    print(row("two models", "flood", names[0], flood))
    print(row("two models", "flood", names[1], starved))
    ratio = shared.rps / alone.rps if alone.rps else float("nan")
    each = sorted(two.rps / one.rps if one.rps else float("nan") for one, two, *_ in rounds)
    print(f"throughput, two-model / one-model server, {args.clients} clients on {names[0]}: {ratio:.2f} "
          f"(target >= 0.9: {'met' if ratio >= 0.9 else 'NOT met'}; rounds: median {statistics.median(each):.2f}, "
          f"{each[0]:.2f} to {each[-1]:.2f}); mixed traffic / one-model server: "
          f"{total.rps / alone.rps if alone.rps else float('nan'):.2f}")
    quiet_ms = [percentile([x * 1000 for x in level.latencies], q) for level in (quiet, starved) for q in (50, 99)]
    print(f"starvation: {names[1]}'s one client beside {args.clients - 1} on {names[0]}: p50 {quiet_ms[2]:.0f} ms "
          f"against {quiet_ms[0]:.0f} alone, p99 {quiet_ms[3]:.0f} against {quiet_ms[1]:.0f}; its requests/s "
          f"{starved.rps:.1f} against {quiet.rps:.1f}")


if __name__ == "__main__":
    main()
