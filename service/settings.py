"""The service's configuration: one typed object, read from `SEQ2SEQ_*` environment variables.

Every field `name` can be set as `SEQ2SEQ_NAME` (for example `SEQ2SEQ_MODEL=/models/model.pt`,
`SEQ2SEQ_BATCH_WAIT_MS=5`) or passed as a keyword (`Settings(model=..., port=...)`), which wins over the
environment. List fields (`api_keys`, `cors_origins`, `forwarded_allow_ips`, `key_routes`, `disabled_routes`) take
a comma-separated string or a JSON list.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "SEQ2SEQ_"
# The routes besides /translate that `key_routes` and `disabled_routes` may name; "/docs" stands for the pages and
# the schema they read (/docs, /docs/oauth2-redirect, /redoc, /openapi.json). /health stays open: it is the probe.
OPTIONAL_ROUTES = ("/languages", "/ready", "/metrics", "/docs")


class Settings(BaseSettings):
    """Server, limits, batching and access settings of the translation service."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    # --- model and server
    model: str = Field("model.pt", description="path of the exported artifact (.pt), or of a folder of them (every "
                       "*.pt in it); `models` replaces it")
    models: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="artifacts or folders of artifacts, comma-separated, one language pair "
        "each; empty: `model` alone"
    )
    pivot: str = Field("en", min_length=1, description="where no model translates source → target but source → "
                       "pivot and pivot → target exist, the text goes through the pivot language in two hops")
    device: str = Field("cpu", description="torch device the model runs on")
    host: str = Field("127.0.0.1", description="address to bind; 0.0.0.0 in a container")
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, description="server processes, each with its own model copy and metrics")
    torch_threads: int = Field(
        0, ge=0, description="intra-op threads of the decoder; 0: one less than the usable cores (at least 1), "
        "leaving a core to the event loop (torch's default of all cores thrashes when anything else runs)"
    )
    timeout_graceful_shutdown_s: float = Field(30.0, gt=0, description="time in-flight requests get on SIGTERM")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    # --- connections (service/connection.py): what a slow or hostile client may hold
    header_timeout_s: float = Field(
        10.0, gt=0, description="a request's headers must be complete this long after the connection opens (or "
        "after the request's first byte on a kept-alive connection); else 408 and the connection closes"
    )
    body_timeout_s: float = Field(30.0, gt=0, description="a request's body must be read within this; else 408")
    keep_alive_s: float = Field(5.0, gt=0, description="an idle kept-alive connection closes after this")
    max_connections: int = Field(
        512, ge=1, description="open connections per server process; one more is answered 503 and closed at once"
    )
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="proxy addresses (or networks, '*' for any) whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; empty: none, the client is the connecting address"
    )

    # --- request limits
    max_chars_per_request: int = Field(20_000, ge=1, description="sum of the characters of every item of q")
    max_chars_per_item: int = Field(5_000, ge=1, description="characters of one item of q")
    max_items: int = Field(100, ge=1, description="items in a list q")
    max_beam_times_nbest: int = Field(64, ge=1, description="limit on beam_size x (alternatives + 1)")
    max_alternatives: int = Field(8, ge=0, description="limit on `alternatives`")

    # --- file translation (service/files.py)
    max_file_bytes: int = Field(
        200_000, ge=1, description="size of a file sent to /translate_file (its sentences count against "
        "queue_max_sentences too)"
    )
    file_expiry_s: float = Field(
        600.0, gt=0, description="a translated file not downloaded within this is deleted"
    )
    files_dir: str = Field(
        "", description="folder of the translated files until they are downloaded; empty: a temporary folder of "
        "the server's (several workers or replicas that share one must be given it)"
    )

    # --- suggestions (`POST /suggest`, LibreTranslate's "suggest a better translation")
    suggestions: bool = Field(
        False, description="accept suggested translations at /suggest (appended to suggestions_file); off: 403"
    )
    suggestions_file: str = Field(
        "", description="JSON Lines file the suggestions are appended to, one {q, s, source, target, time} per "
        "line (needed with suggestions; several workers or replicas may share it)"
    )

    # --- batching across requests
    batch_max_tokens: int = Field(4096, ge=1, description="source tokens (padded) decoded together")
    batch_wait_ms: float = Field(5.0, ge=0, description="how long the first sentence waits for company")
    batch_linger_ms: float = Field(
        100.0, ge=0, description="after a batch, how long the next one waits (at most a tenth of that batch's "
        "decoding time) for the clients it answered to send their next sentences; 0: off"
    )
    batch_continuous: bool = Field(
        False, description="sentences join the running decoding between its steps (artifacts of format 3 and "
        "later; batch_linger_ms then does not apply) instead of waiting for the batch in flight to end; off by "
        "default: on 2 CPU cores it cut latency at 8 clients but cost throughput at 32 (BENCHMARKS.md)"
    )
    queue_max_sentences: int = Field(2048, ge=1, description="sentences waiting; beyond it requests get 503")
    request_timeout_s: float = Field(60.0, gt=0, description="a request not done by then gets 503")

    # --- access
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="accepted API keys; empty: no key needed"
    )
    rate_limit_per_minute: int = Field(
        0, ge=0, description="requests per minute per key (or client address; a wrong key counts against its "
        "address); 0: off. Wrong keys back off on their own: service/access.py"
    )
    key_routes: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="routes besides /translate that need an API key too (X-API-Key header or "
        f"api_key query parameter), from {', '.join(OPTIONAL_ROUTES)}; needs api_keys"
    )
    disabled_routes: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description=f"routes the server does not serve (404), from {', '.join(OPTIONAL_ROUTES)}"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed by CORS ('*' for any); empty: CORS off"
    )

    @field_validator("api_keys", "cors_origins", "forwarded_allow_ips", "key_routes", "disabled_routes", "models",
                     mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        """Accept `a,b,c` or `["a", "b"]` from the environment, a list from code."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _no_empty_key(cls, keys: list[str]) -> list[str]:
        if any(not key for key in keys):
            raise ValueError("an API key must not be empty")
        return keys

    @field_validator("key_routes", "disabled_routes")
    @classmethod
    def _known_routes(cls, routes: list[str]) -> list[str]:
        """A misspelt route would leave open what the operator meant to close: refuse it."""
        unknown = [route for route in routes if route not in OPTIONAL_ROUTES]
        if unknown:
            raise ValueError(f"unknown route(s) {', '.join(unknown)}: choose from {', '.join(OPTIONAL_ROUTES)}")
        return routes

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, hosts: list[str]) -> list[str]:
        """uvicorn takes anything and silently matches nothing on a typo; here a typo stops the server."""
        for host in hosts:
            if host != "*":
                try:
                    ipaddress.ip_network(host, strict=False)
                except ValueError:
                    raise ValueError(f"{host!r} is not an IP address or network") from None
        return hosts

    @model_validator(mode="after")
    def _keys_for_key_routes(self) -> Settings:
        if self.key_routes and not self.api_keys:
            raise ValueError("key_routes needs api_keys: without keys every route is open")
        return self

    @model_validator(mode="after")
    def _file_for_suggestions(self) -> Settings:
        if self.suggestions and not self.suggestions_file:
            raise ValueError("suggestions needs suggestions_file: the file the suggestions are appended to")
        return self

    @property
    def model_entries(self) -> list[str]:
        """The artifacts and folders to serve: `models`, or else `model`."""
        return self.models or [self.model]

    def to_env(self) -> dict[str, str]:
        """The environment that rebuilds these settings in another process (uvicorn's worker processes)."""
        env = {}
        for name, value in self.model_dump().items():
            env[ENV_PREFIX + name.upper()] = json.dumps(value) if isinstance(value, list) else str(value)
        return env
