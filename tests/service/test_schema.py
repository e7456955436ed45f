"""The live service fuzzed from its own OpenAPI schema with schemathesis: bodies valid by the schema and bodies
that are not, as JSON and as forms. No answer is a 5xx and every 4xx is `{"error": ...}`. A few hundred cases
here; benchmarks/hostile.py runs 5,000."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode

from tests.service.live import LiveServer

TAKES_INPUT = {("POST", "/translate"), ("POST", "/detect")}  # the routes whose schema has a body to break
CASES_PER_MODE = 150  # of POST /translate; the GET routes have no parameters, a few cases each
PAIR = {"source": "de", "target": "en"}  # the test artifact's


def speaking_the_model(case: Any) -> Any:
    """A body valid by the schema names any language, which the server refuses at once (400): give it the
    model's pair, so the valid bodies reach the decoder with everything else as generated."""
    if isinstance(case.body, dict):
        case.body = {**case.body, **PAIR}
    return case


def error_shaped(headers: dict[str, list[str]], content: bytes) -> bool:
    """`{"error": "..."}` as JSON; schemathesis gives each header as the list of its values."""
    try:
        body = json.loads(content)
    except ValueError:
        return False
    content_type = headers.get("content-type") or [""]
    return content_type[0].startswith("application/json") and isinstance(body, dict) and (
        list(body) == ["error"] and isinstance(body["error"], str))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_5xx_and_every_4xx_is_an_error_body(server: LiveServer, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    statuses: Counter[int] = Counter()
    bad: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and (operation.method.upper(), operation.path) not in TAKES_INPUT:
            continue  # a route without parameters or body has nothing to break: hypothesis would find no case
        strategy = operation.as_strategy(generation_mode=mode)

        @hypothesis.settings(max_examples=CASES_PER_MODE if operation.method.upper() == "POST" else 5,
                             deadline=None, database=None, derandomize=True, phases=[hypothesis.Phase.generate],
                             suppress_health_check=list(hypothesis.HealthCheck))
        @hypothesis.given(case=strategy.map(speaking_the_model) if mode is GenerationMode.POSITIVE else strategy)
        def call(case: Any) -> None:
            response = case.call(base_url=server.url, timeout=60)
            statuses[response.status_code] += 1
            if response.status_code >= 500 or (
                    response.status_code >= 400 and not error_shaped(response.headers, response.content)):
                bad.append(f"{case.method} {case.path} {case.body!r:.200} → {response.status_code} "
                           f"{response.text[:200]!r}")

        call()
    assert sum(statuses.values()) >= CASES_PER_MODE
    assert not bad, bad[:5]
    if mode is GenerationMode.NEGATIVE:
        assert set(statuses) - {200}, statuses  # the schema-breaking bodies were refused
    else:
        assert statuses[200] > CASES_PER_MODE // 4, statuses  # most valid bodies were translated
