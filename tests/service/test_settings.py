"""Settings come from SEQ2SEQ_* variables; keywords win; lists accept commas or JSON."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import Settings


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "SEQ2SEQ_MODEL": "/models/model.pt", "SEQ2SEQ_HOST": "0.0.0.0", "SEQ2SEQ_PORT": "9000",
        "SEQ2SEQ_WORKERS": "2", "SEQ2SEQ_DEVICE": "cpu", "SEQ2SEQ_MAX_CHARS_PER_REQUEST": "100",
        "SEQ2SEQ_MAX_CHARS_PER_ITEM": "50", "SEQ2SEQ_MAX_ITEMS": "3", "SEQ2SEQ_MAX_BEAM_TIMES_NBEST": "12",
        "SEQ2SEQ_BATCH_MAX_TOKENS": "2048", "SEQ2SEQ_BATCH_WAIT_MS": "7.5", "SEQ2SEQ_QUEUE_MAX_SENTENCES": "64",
        "SEQ2SEQ_REQUEST_TIMEOUT_S": "9", "SEQ2SEQ_API_KEYS": "k1, k2", "SEQ2SEQ_RATE_LIMIT_PER_MINUTE": "30",
        "SEQ2SEQ_CORS_ORIGINS": '["https://a.example", "https://b.example"]', "SEQ2SEQ_LOG_LEVEL": "debug",
        "SEQ2SEQ_HEADER_TIMEOUT_S": "4", "SEQ2SEQ_BODY_TIMEOUT_S": "12", "SEQ2SEQ_KEEP_ALIVE_S": "2",
        "SEQ2SEQ_MAX_CONNECTIONS": "64", "SEQ2SEQ_FORWARDED_ALLOW_IPS": "10.0.0.0/8, ::1",
        "SEQ2SEQ_KEY_ROUTES": "/metrics,/docs", "SEQ2SEQ_DISABLED_ROUTES": "/languages",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = Settings(port=8001)
    assert (s.model, s.host, s.port, s.workers) == ("/models/model.pt", "0.0.0.0", 8001, 2)
    assert (s.max_chars_per_request, s.max_chars_per_item, s.max_items, s.max_beam_times_nbest) == (100, 50, 3, 12)
    assert (s.batch_max_tokens, s.batch_wait_ms, s.queue_max_sentences, s.request_timeout_s) == (2048, 7.5, 64, 9)
    assert s.api_keys == ["k1", "k2"] and s.rate_limit_per_minute == 30 and s.log_level == "debug"
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    assert (s.header_timeout_s, s.body_timeout_s, s.keep_alive_s, s.max_connections) == (4, 12, 2, 64)
    assert s.forwarded_allow_ips == ["10.0.0.0/8", "::1"]
    assert s.key_routes == ["/metrics", "/docs"] and s.disabled_routes == ["/languages"]


def test_defaults_are_open_and_local(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    assert s.api_keys == [] and s.rate_limit_per_minute == 0 and s.cors_origins == [] and s.host == "127.0.0.1"
    assert s.forwarded_allow_ips == [] and s.key_routes == [] and s.disabled_routes == []  # no proxy believed


def test_to_env_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(model="m.pt", api_keys=["a", "b,c"], cors_origins=["*"], batch_wait_ms=3,
                        forwarded_allow_ips=["10.0.0.1"], key_routes=["/docs"], disabled_routes=["/metrics"])
    for name, value in original.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings() == original


@pytest.mark.parametrize("bad", [{"port": -1}, {"workers": 0}, {"batch_wait_ms": -1}, {"log_level": "loud"},
                                 {"api_keys": [""]}, {"max_items": 0}, {"header_timeout_s": 0},
                                 {"max_connections": 0}, {"forwarded_allow_ips": ["127.0.0.l"]},
                                 {"api_keys": ["k"], "key_routes": ["/metric"]}, {"disabled_routes": ["/translate"]},
                                 {"key_routes": ["/metrics"]}])  # key routes without keys would be open
def test_invalid_values(bad: dict) -> None:
    with pytest.raises(ValidationError):
        Settings(**bad)
