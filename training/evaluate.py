"""Scoring with sacreBLEU: BLEU and chrF on detokenized, cased output, with their signatures."""

from __future__ import annotations

from dataclasses import dataclass

from sacrebleu.metrics import BLEU, CHRF


@dataclass
class Scores:
    bleu: float
    chrf: float
    bleu_text: str  # e.g. "BLEU|nrefs:1|case:mixed|...|version:2.6.0 = 36.1 67.2/44.0/..."
    chrf_text: str
    bp: float  # BLEU's brevity penalty
    ratio: float  # hypothesis length / reference length, in BLEU's tokens

    @property
    def bleu_signature(self) -> str:
        return self.bleu_text.split(" = ")[0]


def score(hyps: list[str], refs: list[str]) -> Scores:
    if len(hyps) != len(refs):
        raise ValueError(f"hyps: {len(hyps)} hypotheses for {len(refs)} references")
    bleu, chrf = BLEU(), CHRF()
    b, c = bleu.corpus_score(hyps, [refs]), chrf.corpus_score(hyps, [refs])
    return Scores(b.score, c.score, b.format(signature=str(bleu.get_signature())),
                  c.format(signature=str(chrf.get_signature())), b.bp, b.sys_len / max(b.ref_len, 1))
