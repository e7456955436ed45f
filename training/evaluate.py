"""Scoring with sacreBLEU: BLEU and chrF on detokenized, cased output."""

from __future__ import annotations

import sacrebleu
from sacrebleu.metrics import BLEU, CHRF


def score(hyps: list[str], refs: list[str]) -> tuple[sacrebleu.BLEUScore, sacrebleu.metrics.chrf.CHRFScore]:
    if len(hyps) != len(refs):
        raise ValueError(f"hyps: {len(hyps)} hypotheses for {len(refs)} references")
    return BLEU().corpus_score(hyps, [refs]), CHRF().corpus_score(hyps, [refs])


def signatures() -> tuple[str, str]:
    return str(BLEU().get_signature()), str(CHRF().get_signature())
