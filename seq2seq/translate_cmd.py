"""`seq2seq translate`: stream lines through an exported model, one output line per input line, in order.

It reads only the exported artifact, so it needs the core alone (torch, sentencepiece): it works wherever the
service is installed, without the training code.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from typing import BinaryIO, Iterator, TextIO

from seq2seq.translator import SearchOptions, Translator


class InputError(ValueError):
    pass


def read_chunks(stream: BinaryIO, name: str, size: int) -> Iterator[list[str]]:
    """Lines decoded as UTF-8, `size` at a time; a line that does not decode is an error naming it."""
    chunk: list[str] = []
    for number, raw in enumerate(stream, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}:{number}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
        chunk.append(line.rstrip("\r\n"))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def format_line(translation, n_best: int, scores: bool) -> str:
    hyps = translation.hypotheses[:n_best]
    if not hyps:
        return ""
    parts = []
    for h in hyps:
        parts.append(f"{h.text}\t{h.score:.4f}" if scores else h.text)
    return "\t".join(parts)


def translate_stream(
    translator: Translator,
    source: BinaryIO,
    name: str,
    sink: TextIO,
    opts: SearchOptions,
    scores: bool,
    max_tokens: int,
    chunk_lines: int,
    quiet: bool,
) -> int:
    started, done = time.time(), 0
    for chunk in read_chunks(source, name, chunk_lines):
        results = translator.translate(chunk, opts, max_tokens=max_tokens)
        sink.write("".join(format_line(r, opts.n_best, scores) + "\n" for r in results))
        sink.flush()
        done += len(chunk)
        if not quiet:
            rate = done / max(time.time() - started, 1e-9)
            print(f"\rtranslated {done:,} lines ({rate:.1f} lines/s)", end="", file=sys.stderr, flush=True)
    if not quiet:
        print(file=sys.stderr)
    return done


def add_translate(commands: argparse._SubParsersAction) -> None:
    """The entry point `translate` of the group `seq2seq.commands` (seq2seq/cli.py)."""
    p = commands.add_parser("translate", help="translate lines from stdin or a file, one output line per input line")
    p.add_argument("-m", "--model", required=True, help="exported model (.pt)")
    p.add_argument("-i", "--input", help="input file (default stdin)")
    p.add_argument("-o", "--output", help="output file (default stdout)")
    p.add_argument("--beam", type=int, help="beam size (default: the model's)")
    p.add_argument("--n-best", type=int, default=1, help="hypotheses per line, tab-separated")
    p.add_argument("--length-penalty", type=float, metavar="ALPHA", help="score / length**ALPHA (default: the model's)")
    p.add_argument("--scores", action="store_true", help="append each hypothesis' score after a tab")
    p.add_argument("--max-tokens", type=int, default=4096, help="token budget of a batch")
    p.add_argument("--chunk-lines", type=int, default=2000, help="lines read and sorted together")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=translate_command)


def translate_command(args: argparse.Namespace) -> int:
    translator = Translator.load(args.model, args.device)
    d = translator.defaults
    opts = replace(d, beam_size=args.beam or d.beam_size, n_best=args.n_best)
    if args.length_penalty is not None:
        opts = replace(opts, length_penalty=args.length_penalty)
    opts.validate()
    source = open(args.input, "rb") if args.input else sys.stdin.buffer
    name = args.input or "<stdin>"
    sink = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        translate_stream(
            translator, source, name, sink, opts, args.scores, args.max_tokens, args.chunk_lines, args.quiet
        )
    finally:
        if args.input:
            source.close()
        if args.output:
            sink.close()
    return 0
