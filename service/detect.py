"""Language identification for `source: auto` and `POST /detect`, with lingua (lingua-language-detector).

lingua is made for short texts (its n-gram models of 1 to 5 characters beat langid-style models by 20 points on
single words and word pairs in its own evaluation) and loads in well under a second when restricted, as here, to
the languages of the server's models: a text is told apart only from the languages the server deals with, and
one detected as a language that no model translates from is refused by the caller, naming it. (The languages
models only translate into are kept among the candidates on purpose: without them, a French text on a server
that translates from German and English only would be called German or English and translated as such.)
"""

from __future__ import annotations

import logging

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

log = logging.getLogger(__name__)

# ISO 639-1 codes this server's artifacts may use where lingua's differ
LINGUA_CODES = {"no": "nb"}


def _language(code: str) -> Language | None:
    name = LINGUA_CODES.get(code.lower(), code.lower()).upper()
    iso = getattr(IsoCode639_1, name, None)
    return Language.from_iso_code_639_1(iso) if iso is not None else None


class Detector:
    """Ranks the server's languages for a text; `codes` are the languages' codes as the models name them."""

    def __init__(self, codes: list[str]):
        known = {code: _language(code) for code in codes}
        missing = sorted(code for code, lang in known.items() if lang is None)
        if missing:
            log.warning("language identification cannot tell these languages: %s", ", ".join(missing))
        self.codes = {lang: code for code, lang in known.items() if lang is not None}
        self._lingua = None
        if len(self.codes) >= 2:
            self._lingua = (LanguageDetectorBuilder.from_languages(*self.codes)
                            .with_preloaded_language_models().build())

    def detect(self, text: str) -> list[tuple[str, float]]:
        """(code, confidence 0–100) of every language it can tell, best first; a single language is certain, and
        languages at confidence 0 are left out; a text without letters (digits, punctuation, emoji) gets the first
        language at confidence 0."""
        if self._lingua is None:
            return [(code, 100.0) for code in self.codes.values()][:1]
        ranked = self._lingua.compute_language_confidence_values(text) if any(ch.isalpha() for ch in text) else []
        if not ranked:
            return [(next(iter(self.codes.values())), 0.0)]
        scored = [(self.codes[c.language], round(100.0 * c.value, 2)) for c in ranked]
        # languages it rules out are left out, as LibreTranslate leaves them, unless it rules out every one
        return [s for s in scored if s[1] > 0] or scored[:1]
