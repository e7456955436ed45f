"""Dockerfile and docker-compose.yml agree with each other and with the repository (no Docker engine needed)."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from service.app import create_app
from service.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]


def instructions(name: str) -> list[str]:
    return [args for inst, args in dockerfile() if inst == name]


def exec_form(args: str) -> list[str]:
    """The JSON array of a CMD or HEALTHCHECK ... CMD instruction."""
    return json.loads(args[args.index("[") :])


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["translate"]


@pytest.fixture(scope="module")
def cmd() -> list[str]:
    (args,) = instructions("CMD")
    return exec_form(args)


def option(cmd: list[str], *names: str) -> str:
    for i, arg in enumerate(cmd):
        if arg in names:
            return cmd[i + 1]
    raise AssertionError(f"{names} not in {cmd}")


def test_base_image_and_install_order() -> None:
    assert instructions("FROM") == ["python:3.11-slim"]
    runs = instructions("RUN")
    torch_at = next(i for i, r in enumerate(runs) if "download.pytorch.org/whl/cpu" in r)
    project_at = next(i for i, r in enumerate(runs) if re.search(r"pip install '\.\[serve\]'(\s|$)", r))
    assert "torch==2.13.0" in runs[torch_at] and torch_at < project_at  # the core and [serve] only


def test_copy_sources_exist_and_are_not_ignored() -> None:
    ignored = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
               if p.strip() and not p.startswith("#")]
    sources = [src for args in instructions("COPY") for src in shlex.split(args)[:-1] if not src.startswith("--")]
    for src in sources:
        assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
        path = src.rstrip("/")
        assert not any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.removeprefix("**/")) for p in ignored), (
            f"COPY {src}: excluded by .dockerignore")
    # `pip install '.[serve]'` needs what pyproject.toml names: its readme, the core and the service; no training code
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied = {src.rstrip("/") for src in sources}
    assert project["project"].get("readme", "README.md") in copied
    assert {"seq2seq", "service"} <= copied and "training" not in copied and "training" in ignored


def test_cmd_is_the_cli_serve_command(cmd: list[str]) -> None:
    from seq2seq.cli import build_parser  # the console script `seq2seq` of pyproject.toml

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"][cmd[0]] == "seq2seq.cli:main"
    args = build_parser().parse_args(cmd[1:])
    assert args.command == "serve" and args.host == "0.0.0.0"


def test_ports_agree(compose: dict, cmd: list[str]) -> None:
    (exposed,) = instructions("EXPOSE")
    port = option(cmd, "--port")
    assert exposed == port
    assert [str(p).split(":")[-1] for p in compose["ports"]] == [port]


def test_model_path_is_in_the_mounted_folder(compose: dict, cmd: list[str]) -> None:
    model = option(cmd, "-m", "--model")  # the mounted folder itself: every *.pt in it
    targets = [v["target"] for v in compose["volumes"]]
    assert any(model.rstrip("/") == t.rstrip("/") or model.startswith(t.rstrip("/") + "/") for t in targets), (
        model, targets)


def test_healthchecks_probe_a_real_route(compose: dict, cmd: list[str]) -> None:
    routes = set(create_app(Settings()).openapi()["paths"])
    (docker_check,) = instructions("HEALTHCHECK")
    for check in (compose["healthcheck"]["test"], ["CMD", *exec_form(docker_check)]):
        assert check[0] == "CMD" and check[1] == "python"  # slim images have no curl
        (url,) = re.findall(r"https?://[^'\" ]+", " ".join(check))
        parsed = urlparse(url)
        assert parsed.path == "/ready" and parsed.path in routes
        assert str(parsed.port) == option(cmd, "--port")


def test_compose_environment_names_settings(compose: dict) -> None:
    assert compose["build"]["context"] == "." and (ROOT / compose["build"]["dockerfile"]).is_file()
    fields = set(Settings.model_fields)
    for name in compose["environment"]:
        assert name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX) :].lower() in fields, name
    grace = int(str(compose["stop_grace_period"]).rstrip("s"))
    assert grace > Settings().timeout_graceful_shutdown_s


def test_the_suggestions_file_is_on_a_writable_volume_the_server_user_owns(compose: dict) -> None:
    path = compose["environment"]["SEQ2SEQ_SUGGESTIONS_FILE"]
    assert str(compose["environment"]["SEQ2SEQ_SUGGESTIONS"]).startswith("${SEQ2SEQ_SUGGESTIONS")
    folder = path.rsplit("/", 1)[0]
    (volume,) = [v for v in compose["volumes"] if v["target"] == folder]
    assert volume["type"] == "volume" and not volume.get("read_only")  # a named volume: kept across restarts
    top = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["volumes"]
    assert volume["source"] in top
    # a named volume starts as the image's folder: it must exist there, owned by the user the server runs as
    (user,) = instructions("USER")
    (run,) = [args for args in instructions("RUN") if "useradd" in args]
    assert f"mkdir {folder}" in run and f"chown {user} {folder}" in run
    assert run.index("useradd") < run.index(f"chown {user}")


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_replicas_profile_runs_the_service_behind_nginx(services: dict, cmd: list[str]) -> None:
    replica, balancer, single = services["translate-replica"], services["balancer"], services["translate"]
    assert replica["profiles"] == ["replicas"] and balancer["profiles"] == ["replicas"] and "profiles" not in single
    # the same image, model volume (read-only) and /ready health check as the single service; no published port
    assert replica["build"] == single["build"] and replica["image"] == single["image"]
    assert replica["volumes"] == single["volumes"]
    assert all(v.get("read_only") for v in replica["volumes"] if v["target"] == "/models")
    assert replica["healthcheck"] == single["healthcheck"] and replica["ports"] == []
    assert str(replica["deploy"]["replicas"]).startswith("${SEQ2SEQ_REPLICAS")
    for name in replica["environment"]:
        assert name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX) :].lower() in Settings.model_fields, name
    # nginx from the official image, started once the replicas are healthy, with its config mounted read-only
    assert balancer["image"].startswith("nginx:")
    assert balancer["depends_on"] == {"translate-replica": {"condition": "service_healthy"}}
    (conf,) = balancer["volumes"]
    assert conf["read_only"] and conf["target"] == "/etc/nginx/nginx.conf"
    nginx = (ROOT / conf["source"]).read_text()
    (upstream,) = re.findall(r"server\s+([\w-]+):(\d+)\s", nginx)
    assert upstream == ("translate-replica", option(cmd, "--port"))  # the replicas' service name and port
    (listen,) = re.findall(r"listen\s+(\d+);", nginx)
    assert [str(p).split(":")[-1] for p in balancer["ports"]] == [listen]
    # the replicas believe X-Forwarded-For from the balancer's network only, which is theirs
    subnet = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["networks"]["replicas"]["ipam"]["config"]
    assert replica["environment"]["SEQ2SEQ_FORWARDED_ALLOW_IPS"] == subnet[0]["subnet"]
    assert replica["networks"] == balancer["networks"] == ["replicas"]
    assert "X-Forwarded-For" in nginx and "proxy_next_upstream" in nginx
