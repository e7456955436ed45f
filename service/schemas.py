"""Request and response bodies. The LibreTranslate fields come first; this server's extensions beside them.

LibreTranslate clients send `q`, `source`, `target`, `format`, `alternatives`, `api_key` and read
`translatedText`, `alternatives` and `detectedLanguage`; they ignore fields they do not know, so the
extensions (`beam_size`, `return_scores`, `return_alignment` → `sentences`) cost them nothing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TranslateRequest(BaseModel):
    """Body of `POST /translate`, as JSON or as a form (`application/x-www-form-urlencoded`, `multipart`).

    Its strings are valid Unicode: service/body.py refuses any that is not before it gets here.
    """

    model_config = ConfigDict(extra="ignore")

    q: str | list[str] = Field(description="text to translate, or a list of texts (answered as a list)")
    source: str = Field(description="source language code, or 'auto' (the one language that translates to target)")
    target: str = Field(description="target language code")
    format: str = Field("text", description="'text' (plain text) or 'html' (the text of the markup is translated, "
                                            "inline tags follow their words; service/html.py)")
    alternatives: int = Field(0, ge=0, description="how many alternative translations to return besides the best")
    api_key: str | None = Field(None, description="API key, when the server requires one")
    # --- extensions
    beam_size: int | None = Field(None, ge=1, description="beam width (default: the model's); 1 is greedy search")
    return_scores: bool = Field(False, description="add `sentences` with each sentence's score")
    return_alignment: bool = Field(
        False, description="add `sentences` with subword tokens and attention weights (target × source)"
    )


class ScoredText(BaseModel):
    translation: str
    score: float


class SentenceDetail(BaseModel):
    """One sentence of the input (the splitter's unit) and how it was translated."""

    source: str
    translation: str
    score: float | None = Field(None, description="log-probability / length ** length_penalty")
    alternatives: list[ScoredText] | None = None
    source_tokens: list[str] | None = Field(None, description="source subwords, EOS included")
    target_tokens: list[str] | None = Field(None, description="target subwords, EOS excluded")
    alignment: list[list[float]] | None = Field(
        None, description="attention weights: one row per target token plus EOS, one column per source token"
    )


class DetectedLanguage(BaseModel):
    language: str
    confidence: float = Field(description="0 to 100")


class DetectRequest(BaseModel):
    """Body of `POST /detect`, as JSON, a form or the query string."""

    model_config = ConfigDict(extra="ignore")

    q: str = Field(description="text whose language to detect")
    api_key: str | None = Field(None, description="API key, when the server requires one")


class TranslateResponse(BaseModel):
    """Same shape as `q`: a string and lists for a string `q`, lists of those for a list `q`."""

    translatedText: str | list[str]  # noqa: N815 (LibreTranslate's name)
    alternatives: list[str] | list[list[str]] | None = Field(None, description="only when asked for")
    detectedLanguage: DetectedLanguage | list[DetectedLanguage] | None = Field(  # noqa: N815
        None, description="only when source is 'auto'"
    )
    sentences: list[SentenceDetail] | list[list[SentenceDetail]] | None = Field(
        None, description="only with return_scores or return_alignment"
    )


class TranslateFileResponse(BaseModel):
    """`POST /translate_file`: where to download the translation, once."""

    translatedFileUrl: str  # noqa: N815 (LibreTranslate's name)


class Language(BaseModel):
    code: str
    name: str
    targets: list[str]


class ErrorBody(BaseModel):
    error: str


class HealthBody(BaseModel):
    status: str


class ModelPair(BaseModel):
    source: str
    target: str
    model: str = Field(description="the artifact's file name")


class ReadyBody(BaseModel):
    status: str
    source: str = Field(description="the first model's source language (of `models`)")
    target: str = Field(description="the first model's target language")
    model: str = Field(description="the first model's file name")
    models: list[ModelPair] = Field(description="every model the server loaded, one language pair each")


class LanguageRef(BaseModel):
    code: str
    name: str


class FrontendLanguages(BaseModel):
    source: LanguageRef
    target: LanguageRef


class FrontendSettings(BaseModel):
    """`GET /frontend/settings` in LibreTranslate's shape."""

    charLimit: int  # noqa: N815 (LibreTranslate's names)
    frontendTimeout: int  # noqa: N815
    apiKeys: bool  # noqa: N815
    keyRequired: bool  # noqa: N815
    suggestions: bool
    filesTranslation: bool  # noqa: N815
    supportedFilesFormat: list[str]  # noqa: N815
    language: FrontendLanguages

