"""The HTTP routes: a few lines each; the work happens in `translation`, `runtime` and `metrics`."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from service import page
from service.files import FORMATS
from service.languages import NAMES, languages
from service.schemas import (
    DetectedLanguage,
    DetectRequest,
    ErrorBody,
    FrontendLanguages,
    FrontendSettings,
    HealthBody,
    Language,
    LanguageRef,
    ModelPair,
    ReadyBody,
    TranslateFileResponse,
    TranslateRequest,
    TranslateResponse,
)

router = APIRouter()

_ERRORS = {code: {"model": ErrorBody} for code in (400, 403, 413, 429, 503)}


def _body_doc(model: type[BaseModel]) -> dict:
    """`openapi_extra` for a route that reads JSON, a form or the query string itself (LibreTranslate clients
    send all three), so that its body is documented by hand."""
    media = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
    return {"requestBody": {"required": True, "content": {m: {"schema": model.model_json_schema()} for m in media}}}


_TRANSLATE_BODY, _DETECT_BODY = _body_doc(TranslateRequest), _body_doc(DetectRequest)
_FILE_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "source", "target"],
    "properties": {"file": {"type": "string", "format": "binary", "description": f"{', '.join(FORMATS)}, UTF-8"},
                   "source": {"type": "string", "description": "source language code, or 'auto'"},
                   "target": {"type": "string", "description": "target language code"},
                   "api_key": {"type": "string", "description": "API key, when the server requires one"}}}}}}}


@router.post("/translate", response_model=TranslateResponse, response_model_exclude_none=True, responses=_ERRORS,
             openapi_extra=_TRANSLATE_BODY, summary="Translate text (LibreTranslate-compatible)")
async def translate(request: Request) -> JSONResponse:
    response = await request.app.state.translate(request)
    return JSONResponse(response.model_dump(exclude_none=True))


@router.get("/languages", response_model=list[Language], responses={503: {"model": ErrorBody}},
            summary="Languages the model translates")
async def get_languages(request: Request) -> list[Language]:
    return languages(request.app.state.runtime.reachable())


@router.get("/health", response_model=HealthBody, summary="Liveness: the process answers")
async def health() -> HealthBody:
    return HealthBody(status="ok")


@router.get("/ready", response_model=ReadyBody, responses={503: {"model": ErrorBody}},
            summary="Readiness: every model is loaded and warmed up")
async def ready(request: Request) -> ReadyBody:
    models = request.app.state.runtime.require(explain=True)
    pairs = [ModelPair(source=m.translator.src_lang, target=m.translator.tgt_lang, model=os.path.basename(m.path))
             for m in models.values()]
    return ReadyBody(status="ready", source=pairs[0].source, target=pairs[0].target, model=pairs[0].model,
                     models=pairs)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    m = request.app.state.metrics
    return Response(m.render(), media_type=m.content_type)


@router.get("/frontend/settings", response_model=FrontendSettings, responses={503: {"model": ErrorBody}},
            summary="What a LibreTranslate client shows: limits, keys, files, default languages")
async def frontend_settings(request: Request) -> FrontendSettings:
    settings, runtime = request.app.state.settings, request.app.state.runtime
    targets = sorted({t for ts in runtime.reachable().values() for t in ts})
    target = "en" if "en" in targets else targets[0]
    return FrontendSettings(
        # LibreTranslate's one limit covers the characters of a request; here one item has its own, lower one,
        # so the figure a client checks against is the lower of the two
        charLimit=min(settings.max_chars_per_item, settings.max_chars_per_request), frontendTimeout=500,
        apiKeys=bool(settings.api_keys), keyRequired=bool(settings.api_keys), suggestions=settings.suggestions,
        filesTranslation=True,
        supportedFilesFormat=list(FORMATS),
        language=FrontendLanguages(source=LanguageRef(code="auto", name="Auto Detect"),
                                   target=LanguageRef(code=target, name=NAMES.get(target, target))),
    )


@router.post("/suggest", responses=_ERRORS, summary="Suggest a better translation (403 unless `suggestions` is on)")
async def suggest(request: Request) -> dict[str, bool]:
    return await request.app.state.suggest(request)


@router.post("/detect", response_model=list[DetectedLanguage], responses=_ERRORS, openapi_extra=_DETECT_BODY,
             summary="Detect the language of a text (LibreTranslate-compatible)")
async def detect(request: Request) -> list[DetectedLanguage]:
    return await request.app.state.detect(request)



@router.post("/translate_file", response_model=TranslateFileResponse, responses=_ERRORS, openapi_extra=_FILE_BODY,
             summary="Translate a .txt or .html file; download the translation once (LibreTranslate-compatible)")
async def translate_file(request: Request) -> TranslateFileResponse:
    return await request.app.state.files(request)


@router.get("/download_file/{name}", response_class=Response, responses={404: {"model": ErrorBody}},
            summary="Download a translated file, once: then it is deleted")
async def download_file(request: Request, name: str) -> Response:
    return request.app.state.files.download(name)


@router.get("/", include_in_schema=False)
async def index() -> Response:
    return page.asset("index.html")


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    return page.asset(name)
