"""A labelled task from local data for examples/classify.py: which language, German, English or French, a piece of
a Multi30k caption is in. (No labelled sentiment corpus can be fetched on machines without the hub.)

    python examples/langid_data.py [--data data/multi30k] [--out runs/examples/langid] [--chars 12]

Line i of SPLIT.de, SPLIT.en and SPLIT.fr is the same caption, so each split gives three examples per caption and
no caption has a translation in another split. With --chars N each example is N consecutive characters of its
sentence from a random position (whole sentences are too easy: they start "A", "Ein", "Un"); --chars 0 keeps
sentences whole. Writes train.tsv, val.tsv and test.tsv (from test_2016_flickr) as TEXT<TAB>LABEL.
"""

import argparse
import gzip
import os
import random

SPLITS = {"train": "train", "val": "val", "test": "test_2016_flickr"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/multi30k")
    p.add_argument("--out", default="runs/examples/langid")
    p.add_argument("--chars", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    for name, split in SPLITS.items():
        rows = []
        for lang in ("de", "en", "fr"):
            with gzip.open(os.path.join(args.data, f"{split}.{lang}.gz"), "rt", encoding="utf-8") as f:
                for line in f:
                    text = " ".join(line.split())  # no tabs, no line ends
                    if args.chars and len(text) > args.chars:
                        start = rng.randrange(len(text) - args.chars + 1)
                        text = text[start : start + args.chars]
                    if text:
                        rows.append(f"{text}\t{lang}\n")
        rng.shuffle(rows)
        with open(os.path.join(args.out, f"{name}.tsv"), "w", encoding="utf-8") as f:
            f.writelines(rows)
        print(f"{args.out}/{name}.tsv: {len(rows):,} examples")


if __name__ == "__main__":
    main()
