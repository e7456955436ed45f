"""`GET /languages` in LibreTranslate's shape: every language with the targets it reaches, directly or through the
pivot language; a language no model translates from is listed with no targets."""

from __future__ import annotations

from service.schemas import Language

# English names of common ISO 639-1 codes; any other code is shown as itself
NAMES = {
    "ar": "Arabic", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "fi": "Finnish", "fr": "French", "hi": "Hindi", "hu": "Hungarian", "it": "Italian",
    "ja": "Japanese", "ko": "Korean", "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sv": "Swedish", "tr": "Turkish", "uk": "Ukrainian", "zh": "Chinese",
}


def languages(reachable: dict[str, list[str]]) -> list[Language]:
    """:param reachable: source language → the targets it reaches (`Runtime.reachable`)"""
    codes = sorted(set(reachable) | {t for targets in reachable.values() for t in targets})
    return [Language(code=code, name=NAMES.get(code, code), targets=reachable.get(code, [])) for code in codes]
