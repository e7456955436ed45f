"""The `seq2seq` command: train, evaluate, export, translate, serve.

seq2seq train --config configs/multi30k.yaml                 # run folder runs/multi30k, resumes if present
seq2seq evaluate -m model.pt --data ../shared/data/multi30k --split test_2016_flickr
seq2seq export runs/multi30k -o model.pt
seq2seq translate -m model.pt < input.de > output.en
seq2seq serve -m model.pt --port 8000
"""

from __future__ import annotations

import argparse
import os
import sys

from service.__main__ import add_arguments as service_arguments


def _train(args: argparse.Namespace) -> int:
    from training.config import load_config
    from training.trainer import Trainer

    overrides = list(args.set or [])
    for flag, key in (
        ("data", "data.path"),
        ("src", "data.src"),
        ("tgt", "data.tgt"),
        ("max_steps", "train.max_steps"),
        ("max_minutes", "train.max_minutes"),
        ("device", "train.device"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_config(args.config, overrides)
    run_dir = args.run_dir or os.path.join("runs", os.path.splitext(os.path.basename(args.config or "default"))[0])
    result = Trainer(cfg, run_dir, fresh=args.fresh, progress=not args.no_progress).run()
    print(f"final checkpoint: {result['final']}", file=sys.stderr)
    if args.export:
        from training.export_cmd import export_run

        export_run(run_dir, None, args.export, test_split=cfg.data.test_split)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from training.eval_cmd import evaluate_command

    return evaluate_command(args)


def _export(args: argparse.Namespace) -> int:
    from training.export_cmd import export_path

    export_path(args.source, args.output, test_split=args.test_split, check=args.check_sentences,
                length_penalty=args.length_penalty)
    return 0


def _translate(args: argparse.Namespace) -> int:
    from training.translate_cmd import translate_command

    return translate_command(args)


def _serve(args: argparse.Namespace) -> int:
    from service.__main__ import run

    run(args)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seq2seq", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model on a parallel corpus")
    p.add_argument("--config", "-c", help="experiment YAML (configs/*.yaml)")
    p.add_argument("--data", help="corpus: a local folder (SPLIT.LANG[.gz], SPLIT.tsv, SPLIT.jsonl) or a hub id")
    p.add_argument("--src", help="source language code")
    p.add_argument("--tgt", help="target language code")
    p.add_argument("--run-dir", help="run folder (default runs/CONFIG_NAME); an existing run resumes")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key, e.g. train.lr=5e-4")
    p.add_argument("--max-steps", type=int, help="stop after this many updates")
    p.add_argument("--max-minutes", type=float, help="stop after this much training time")
    p.add_argument("--device", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--fresh", action="store_true", help="start over instead of resuming")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    p.add_argument("--export", metavar="PATH", help="evaluate on the test split and export the model here")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="translate a split and score it with sacreBLEU and chrF")
    p.add_argument("-m", "--model", required=True, help="exported model (.pt)")
    p.add_argument("--data", required=True, help="corpus folder or hub id")
    p.add_argument("--split", required=True)
    p.add_argument("--src", help="source language (default: the model's)")
    p.add_argument("--tgt", help="target language (default: the model's)")
    p.add_argument("--beam", type=int, help="beam size (default: the model's)")
    p.add_argument("--length-penalty", type=float, nargs="+", metavar="ALPHA",
                   help="score / length**ALPHA (default: the model's); several values: score each, show the best")
    p.add_argument("--output", "-o", help="where to save hypotheses (default MODEL.SPLIT.hyp)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("export", help="write one TorchScript artifact from a run folder or checkpoint")
    p.add_argument("source", help="run folder or checkpoint file")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--test-split", default=None, help="score this split and store BLEU in the artifact")
    p.add_argument("--check-sentences", type=int, default=100, help="validation sentences checked scripted vs eager")
    p.add_argument("--length-penalty", type=float, metavar="ALPHA",
                   help="the artifact's default length penalty (default: the run's search.length_penalty)")
    p.set_defaults(func=_export)

    p = sub.add_parser("translate", help="translate lines from stdin or a file, one output line per input line")
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
    p.set_defaults(func=_translate)

    p = sub.add_parser("serve", help="HTTP translation service (LibreTranslate-compatible)")
    service_arguments(p)
    p.set_defaults(func=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as exc:
        print(f"seq2seq {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
