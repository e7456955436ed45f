"""Offline translation throughput of `seq2seq translate` on Multi30k test_2016_flickr, greedy and beam 5.

    python benchmarks/translate_speed.py --model models/multi30k.pt [--input FILE.de.gz] [--threads N]

Runs the real command as a subprocess per setting; the start-up cost (interpreter, model load, one sentence)
is measured by a one-line run and subtracted. Prints sentences/s and output tokens/s (SentencePiece pieces of
the output) for each beam size, batch budget 4096 tokens.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_INPUT = os.path.join(ROOT, "..", "shared", "data", "multi30k", "test_2016_flickr.de.gz")


def read_input(path: str) -> list[str]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def run(model: str, src_path: str, beam: int, threads: int) -> tuple[float, list[str]]:
    env = dict(os.environ, PYTHONPATH=ROOT)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    with tempfile.NamedTemporaryFile("r", suffix=".out", encoding="utf-8") as out:
        cmd = [sys.executable, "-m", "seq2seq.cli", "translate", "-m", model, "-i", src_path, "-o", out.name,
               "--beam", str(beam), "--quiet", "--max-tokens", "4096"]
        started = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, cwd=ROOT)
        seconds = time.perf_counter() - started
        return seconds, out.read().splitlines()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", default=DEFAULT_INPUT)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    from seq2seq.translator import Translator

    lines = read_input(args.input)
    translator = Translator.load(args.model)
    with tempfile.NamedTemporaryFile("w", suffix=".de", encoding="utf-8", delete=False) as f:
        f.write("".join(line + "\n" for line in lines))
        src_path = f.name
    with tempfile.NamedTemporaryFile("w", suffix=".de", encoding="utf-8", delete=False) as f:
        f.write(lines[0] + "\n")
        one_path = f.name
    try:
        startup, _ = run(args.model, one_path, 1, args.threads)  # process start + model load + one sentence
        print(f"{len(lines)} sentences from {os.path.basename(args.input)}; startup+load {startup:.1f}s subtracted")
        for beam in (1, 5):
            seconds, out = run(args.model, src_path, beam, args.threads)
            assert len(out) == len(lines)
            pieces = sum(len(translator.tgt_tok.pieces(line)) for line in out)
            net = max(seconds - startup, 1e-9)
            label = "greedy" if beam == 1 else f"beam {beam}"
            print(f"{label:<7} {len(lines) / net:7.1f} sentences/s  {pieces / net:8.0f} output tokens/s  "
                  f"({seconds:.1f}s wall)")
    finally:
        os.remove(src_path)
        os.remove(one_path)


if __name__ == "__main__":
    main()
