"""The HTTP routes: a few lines each; the work happens in `translation`, `runtime` and `metrics`."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from service.languages import languages
from service.schemas import ErrorBody, HealthBody, Language, ReadyBody, TranslateRequest, TranslateResponse

router = APIRouter()

_ERRORS = {code: {"model": ErrorBody} for code in (400, 403, 413, 429, 503)}
# /translate reads JSON or a form itself (LibreTranslate clients send both), so the body is documented by hand
_TRANSLATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": TranslateRequest.model_json_schema()}
            for media in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
        },
    }
}


@router.post("/translate", response_model=TranslateResponse, response_model_exclude_none=True, responses=_ERRORS,
             openapi_extra=_TRANSLATE_BODY, summary="Translate text (LibreTranslate-compatible)")
async def translate(request: Request) -> JSONResponse:
    response = await request.app.state.translate(request)
    return JSONResponse(response.model_dump(exclude_none=True))


@router.get("/languages", response_model=list[Language], responses={503: {"model": ErrorBody}},
            summary="Languages the model translates")
async def get_languages(request: Request) -> list[Language]:
    translator, _ = request.app.state.runtime.require()
    return languages(translator)


@router.get("/health", response_model=HealthBody, summary="Liveness: the process answers")
async def health() -> HealthBody:
    return HealthBody(status="ok")


@router.get("/ready", response_model=ReadyBody, responses={503: {"model": ErrorBody}},
            summary="Readiness: the model is loaded and warmed up")
async def ready(request: Request) -> ReadyBody:
    translator, _ = request.app.state.runtime.require(explain=True)
    return ReadyBody(status="ready", source=translator.src_lang, target=translator.tgt_lang,
                     model=os.path.basename(request.app.state.settings.model))


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    m = request.app.state.metrics
    return Response(m.render(), media_type=m.content_type)
