"""Offline translation throughput and BLEU of `seq2seq translate` on Multi30k test_2016_flickr, greedy and beam 5.

    python benchmarks/translate_speed.py --model models/multi30k.pt [--threads 2]
        [--variant LABEL=MODEL[:FLAGS] ...] [--beams 1 5] [--repeat 3]

Runs the real command as a subprocess per setting; the start-up cost (interpreter, model load, one sentence)
is measured by a one-line run of the same variant and subtracted. Prints sentences/s, output tokens/s
(SentencePiece pieces) and sacreBLEU against the reference (`--ref`, the input's English side by default)
for each variant and beam size, batch budget 4096 tokens. A variant is an artifact with `seq2seq translate`
flags, e.g. `--variant "shortlist=models/m-sl.pt:--shortlist" --variant "int8=models/m-int8.pt"
--variant "fairseq stop=models/m.pt:--stop beam"`; `--model M` alone is the variant `fp32=M`. With
`--repeat N` each timing is the fastest of N runs (the machine's noise only ever adds time).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shlex
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_INPUT = os.path.join(ROOT, "data", "multi30k", "test_2016_flickr.de.gz")


def read_input(path: str) -> list[str]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def run(model: str, flags: list[str], src_path: str, beam: int, threads: int) -> tuple[float, list[str]]:
    env = dict(os.environ, PYTHONPATH=ROOT)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory() as tmp:
        out_path = os.path.join(tmp, "out.txt")
        cmd = [sys.executable, "-m", "seq2seq.cli", "translate", "-m", model, "-i", src_path, "-o", out_path,
               "--beam", str(beam), "--quiet", "--max-tokens", "4096", *flags]
        started = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, cwd=ROOT)
        seconds = time.perf_counter() - started
        with open(out_path, encoding="utf-8") as f:
            return seconds, f.read().splitlines()


def parse_variant(text: str) -> tuple[str, str, list[str]]:
    label, sep, rest = text.partition("=")
    if not sep or not label or not rest:
        raise argparse.ArgumentTypeError(f"--variant: expected LABEL=MODEL[:FLAGS], got {text!r}")
    model, _, flags = rest.partition(":")
    return label, model, shlex.split(flags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="the fp32 artifact (the variant fp32=MODEL)")
    parser.add_argument("--variant", action="append", type=parse_variant, default=[], metavar="LABEL=MODEL[:FLAGS]")
    parser.add_argument("--input", default=DEFAULT_INPUT)
    parser.add_argument("--ref", help="reference translations (default: the input's .en twin, if it exists)")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="time each setting N times and keep the fastest")
    args = parser.parse_args()
    variants = ([("fp32", args.model, [])] if args.model else []) + args.variant
    if not variants:
        parser.error("give --model or at least one --variant")
    sys.path.insert(0, ROOT)
    from seq2seq.translator import Translator

    lines = read_input(args.input)
    ref_path = args.ref or args.input.replace(".de.", ".en.")
    refs = read_input(ref_path) if os.path.exists(ref_path) and ref_path != args.input else None
    tokenizer = Translator.load(variants[0][1]).tgt_tok
    with tempfile.NamedTemporaryFile("w", suffix=".de", encoding="utf-8", delete=False) as f:
        f.write("".join(line + "\n" for line in lines))
        src_path = f.name
    with tempfile.NamedTemporaryFile("w", suffix=".de", encoding="utf-8", delete=False) as f:
        f.write(lines[0] + "\n")
        one_path = f.name
    try:
        print(f"{len(lines)} sentences from {os.path.basename(args.input)}; threads {args.threads or 'default'}; "
              f"start-up + load of each variant subtracted; fastest of {args.repeat}")
        print("| variant | search | sentences/s | output tokens/s | BLEU |\n|---|---|---|---|---|")
        for label, model, flags in variants:
            startup = min(run(model, flags, one_path, 1, args.threads)[0] for _ in range(args.repeat))
            for beam in args.beams:
                timings = [run(model, flags, src_path, beam, args.threads) for _ in range(args.repeat)]
                seconds, out = min(timings, key=lambda t: t[0])
                assert len(out) == len(lines)
                pieces = sum(len(tokenizer.pieces(line)) for line in out)
                net = max(seconds - startup, 1e-9)
                bleu = ""
                if refs is not None:
                    import sacrebleu

                    bleu = f"{sacrebleu.corpus_bleu(out, [refs]).score:.2f}"
                search = "greedy" if beam == 1 else f"beam {beam}"
                print(f"| {label} | {search} | {len(lines) / net:.1f} | {pieces / net:.0f} | {bleu} |", flush=True)
    finally:
        os.remove(src_path)
        os.remove(one_path)


if __name__ == "__main__":
    main()
