"""`seq2seq translate`: stream lines through an exported model, one output line per input line, in order.

It reads only the exported artifact, so it needs the core alone (torch, sentencepiece): it works wherever the
service is installed, without the training code. An output file (`-o`) is written beside itself and renamed
over the old one only once every line is translated (seq2seq/atomic.py); it may not be the input.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import time
from dataclasses import replace
from typing import BinaryIO, Iterator, TextIO

from seq2seq.atomic import atomic_file
from seq2seq.attention_plot import plot_attention, require_matplotlib
from seq2seq.cli import non_negative_float, positive_int
from seq2seq.search import STOPS
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
    plot_dir: str | None = None,
) -> int:
    """Translate `source` line by line into `sink`; with `plot_dir`, also save line N's attention heatmap (best
    hypothesis) as plot_dir/line-N.png (N from 1; an empty line has none)."""
    started, done = time.time(), 0
    for chunk in read_chunks(source, name, chunk_lines):
        results = translator.translate(chunk, opts, max_tokens=max_tokens, with_alignment=plot_dir is not None)
        if plot_dir is not None:
            for i, r in enumerate(results):
                if r.hypotheses and r.hypotheses[0].alignment is not None:
                    best = r.hypotheses[0]
                    plot_attention(r.source_tokens, best.tokens + ["</s>"], best.alignment,
                                   os.path.join(plot_dir, f"line-{done + i + 1:06d}.png"))
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
    p.add_argument("-o", "--output", help="output file (default stdout), replaced only once every line is translated")
    p.add_argument("--beam", type=positive_int, help="beam size (default: the model's)")
    p.add_argument("--n-best", type=positive_int, default=1, help="hypotheses per line, tab-separated")
    p.add_argument("--length-penalty", type=non_negative_float, metavar="ALPHA",
                   help="score / length**ALPHA (default: the model's)")
    p.add_argument("--stop", choices=STOPS, help="a sentence ends when its best candidate ends (best, OpenNMT-py's "
                   "rule) or beam-size hypotheses have (beam, fairseq's rule); default: the model's")
    p.add_argument("--shortlist", action=argparse.BooleanOptionalAction,
                   help="restrict the output layer to the model's vocabulary shortlist (default: on for a model "
                        "exported with one)")
    p.add_argument("--info", action="store_true", help="print the model's metadata (JSON) and exit")
    p.add_argument("--scores", action="store_true", help="append each hypothesis' score after a tab")
    p.add_argument("--plot-attention", metavar="DIR", help="save each line's attention heatmap (best hypothesis; "
                   "source x target pieces) as DIR/line-000001.png, ... (needs matplotlib)")
    p.add_argument("--max-tokens", type=positive_int, default=4096, help="token budget of a batch")
    p.add_argument("--chunk-lines", type=positive_int, default=2000, help="lines read and sorted together")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=translate_command)


def is_same_file(source: BinaryIO, path: str) -> bool:
    """Whether the regular file at `path` (through links, hard links too) is the one `source` reads (a terminal
    both read and written, `-o /dev/stdout`, is not: nothing there is replaced)."""
    try:
        output = os.stat(path)
        return stat.S_ISREG(output.st_mode) and os.path.samestat(os.fstat(source.fileno()), output)
    except (OSError, ValueError):  # no such output yet, or a stream without a file descriptor
        return False


def check_output(path: str) -> None:
    """Refuse, before the model is loaded, an output that cannot be written, naming it (not the temporary file
    written beside it)."""
    folder = os.path.dirname(os.path.realpath(path))
    if os.path.isdir(path):
        raise InputError(f"--output {path}: is a folder")
    if not os.path.isdir(folder):
        raise InputError(f"--output {path}: no such folder {folder}")
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
        return  # a device or pipe (/dev/stdout): written in place
    if not os.access(folder, os.W_OK):  # the temporary file goes beside the output
        raise InputError(f"--output {path}: cannot write in {folder}")


def translate_command(args: argparse.Namespace) -> int:
    if args.info:  # what the artifact is: languages, search defaults, options it was exported with, scores
        translator = Translator.load(args.model, args.device)
        print(json.dumps(translator.meta, indent=2, ensure_ascii=False))
        return 0
    name = args.input or "<stdin>"
    try:
        source = open(args.input, "rb") if args.input else sys.stdin.buffer
    except OSError as exc:
        raise InputError(f"{args.input}: cannot read ({exc.strerror})") from None
    try:
        if args.output and is_same_file(source, args.output):
            raise InputError(f"--output {args.output}: is the input ({name}); write the translation elsewhere")
        if args.output:
            check_output(args.output)
        translator = Translator.load(args.model, args.device)
        d = translator.defaults
        opts = replace(d, beam_size=d.beam_size if args.beam is None else args.beam, n_best=args.n_best)
        if args.length_penalty is not None:
            opts = replace(opts, length_penalty=args.length_penalty)
        if args.stop is not None:
            opts = replace(opts, stop=args.stop)
        if args.shortlist is not None:
            opts = replace(opts, shortlist=args.shortlist)
        opts.validate()
        translator.check_options(opts)
        if args.plot_attention:
            require_matplotlib()
            if os.path.exists(args.plot_attention) and not os.path.isdir(args.plot_attention):
                raise InputError(f"--plot-attention {args.plot_attention}: exists and is not a folder")
            os.makedirs(args.plot_attention, exist_ok=True)

        def into(sink: TextIO) -> None:
            translate_stream(translator, source, name, sink, opts, args.scores, args.max_tokens, args.chunk_lines,
                             args.quiet, args.plot_attention)

        if args.output:  # a failure (a bad line, Ctrl-C) leaves an existing output as it was
            with atomic_file(args.output, "w", encoding="utf-8") as sink:
                into(sink)
        else:  # stdout stays a stream: each chunk is written as soon as it is translated
            into(sys.stdout)
    finally:
        if args.input:
            source.close()
    return 0
