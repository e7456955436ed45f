"""`GET /languages` in LibreTranslate's shape: the model's source language, with its one target."""

from __future__ import annotations

from seq2seq.translator import Translator
from service.schemas import Language

# English names of common ISO 639-1 codes; any other code is shown as itself
NAMES = {
    "ar": "Arabic", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "fi": "Finnish", "fr": "French", "hi": "Hindi", "hu": "Hungarian", "it": "Italian",
    "ja": "Japanese", "ko": "Korean", "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sv": "Swedish", "tr": "Turkish", "uk": "Ukrainian", "zh": "Chinese",
}


def languages(translator: Translator) -> list[Language]:
    """The source language lists the target it translates to; the target language is listed with none."""
    src, tgt = translator.src_lang, translator.tgt_lang
    out = [Language(code=src, name=NAMES.get(src, src), targets=[tgt])]
    if tgt != src:
        out.append(Language(code=tgt, name=NAMES.get(tgt, tgt), targets=[]))
    return out
