"""The service as a hostile client sees it: each failure of the outside check as a case with its outcome, then
schemathesis, memory under hostile bodies, and memory under load (README: "Exposing the service").

    python benchmarks/hostile.py --model models/model.pt
    python benchmarks/hostile.py --model models/model.pt --cases 500 --bodies 100 --requests 1000   # a quick look

Starts `python -m service` on free loopback ports, with the service's default limits (10 s for headers, 30 s
for a body, 512 connections): "open" (no keys) for the cases of items 1-5 and 9, schemathesis, and the memory
and load runs; one server each for items 6 (API keys), 7 (a rate limit, no proxy configured) and 8 (keys on
/languages, /metrics, /ready; /docs off). Prints a PASS or FAIL line per case, what was sent and what came back,
and exits 1 if any failed. Takes a few minutes, most of it the load run and the 30 s body deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "data" / "multi30k" / "test_2016_flickr.de.gz"
KEY = "bench-key"
MB = 1 << 20
failures: list[str] = []


def report(item: str, name: str, outcome: str, ok: bool) -> None:
    print(f"{'PASS' if ok else 'FAIL'}  {item:>3}  {name}: {outcome}", flush=True)
    if not ok:
        failures.append(f"{item} {name}")


# --- servers ---------------------------------------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    headers: dict[str, str]
    log: IO[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def sample(self, name: str, **labels: str) -> float:
        text = httpx.get(self.url + "/metrics", headers=self.headers, timeout=30).text
        return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    def log_errors(self) -> int:
        self.log.flush()
        with open(self.log.name) as f:
            return sum(" ERROR " in line or "Traceback" in line for line in f)


@contextmanager
def serve(model: Path, **settings: object) -> Iterator[Server]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEQ2SEQ_MODEL": str(model), "SEQ2SEQ_HOST": "127.0.0.1",
           "SEQ2SEQ_PORT": str(port), "SEQ2SEQ_LOG_LEVEL": "warning"}
    env.update({"SEQ2SEQ_" + name.upper(): str(value) for name, value in settings.items()})
    headers = {"X-API-Key": KEY} if settings.get("api_keys") else {}
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        proc = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=env, stdout=log, stderr=log)
        server = Server(proc, port, headers, log)
        try:
            deadline = time.monotonic() + 300
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    if httpx.get(server.url + "/ready", headers=headers, timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            else:
                raise SystemExit(f"the server did not become ready (exit code {proc.poll()})")
            yield server
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


# --- bare connections --------------------------------------------------------------------------------------------


def connect(port: int, timeout: float = 60.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a raw response; status 0 when the server closed without one."""
    if not raw:
        return 0, {}, b""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def error_shaped(content_type: str, body: bytes) -> bool:
    """`{"error": "..."}` and nothing else, as JSON."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return content_type.startswith("application/json") and isinstance(data, dict) and list(data) == ["error"] \
        and isinstance(data["error"], str)


def exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(port) as sock:
        sock.sendall(data)
        return parse(read_all(sock))


def send_until_answered(port: int, head: bytes, chunks: Iterable[bytes]) -> tuple[int, int, bool]:
    """Send `head`, then `chunks` in chunked encoding until the server answers. (body bytes sent, status,
    whether the answer is an error body)."""
    sent = 0
    with connect(port) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                if select.select([sock], [], [], 0)[0]:
                    break
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, headers, body = parse(read_all(sock))
    return sent, status, error_shaped(headers.get("content-type", ""), body)


def pieces(data_size: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    block = b"a" * piece
    for _ in range(data_size // piece):
        yield block


def chunked_head(content_type: bytes) -> bytes:
    return (b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: " + content_type +
            b"\r\nTransfer-Encoding: chunked\r\n\r\n")


def urlencoded_fields(count: int, size: int) -> Iterator[bytes]:
    for i in range(count):
        yield (b"&" if i else b"") + f"f{i}=".encode()
        yield from pieces(size)


def multipart_file(size: int) -> Iterator[bytes]:
    yield b'--xyz\r\nContent-Disposition: form-data; name="q"; filename="big.txt"\r\n\r\n'
    yield from pieces(size)
    yield b"\r\n--xyz--\r\n"


# --- the cases -------------------------------------------------------------------------------------------------


def case_1(srv: Server, pair: dict[str, str]) -> None:
    outcome = {}
    for field in ("q", "source", "target", "format", "api_key"):
        body = json.dumps({"q": "Ein Hund.", **pair, field: "\ud800"})  # ASCII: the surrogate as \ud800
        r = httpx.post(srv.url + "/translate", content=body, headers={"content-type": "application/json"})
        outcome[field] = r.status_code if error_shaped(r.headers["content-type"], r.content) else f"{r.status_code}?"
    report("1", 'a lone surrogate "\\ud800" in each field', str(outcome), set(outcome.values()) == {400})
    r = httpx.post(srv.url + "/translate", json={"q": "Ein Hund.", "source": "x" * 10_000, "target": pair["target"]})
    error = r.json().get("error", "")
    report("1", "an unknown 10 KB source code", f"{r.status_code}, an error of {len(error)} characters",
           r.status_code == 400 and len(error) < 200)


def case_2(srv: Server) -> None:
    before = (srv.sample("seq2seq_client_disconnects_total", stage="body"),
              srv.sample("seq2seq_requests_total", route="/translate", status="500"), srv.log_errors())
    for _ in range(10):
        with connect(srv.port) as sock:
            sock.sendall(b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n{\"q\": \"" + b"a" * 1000)
    time.sleep(1)
    after = (srv.sample("seq2seq_client_disconnects_total", stage="body"),
             srv.sample("seq2seq_requests_total", route="/translate", status="500"), srv.log_errors())
    gone, errors, logged = (a - b for a, b in zip(after, before))
    report("2", "10 clients gone mid-body", f"client_disconnects{{stage=body}} +{gone:g}, 500s +{errors:g}, "
           f"error log lines +{logged}", gone == 10 and errors == 0 and logged == 0)


def case_3(srv: Server) -> None:
    for name, content_type, chunks in (
        ("200 × 1 MB urlencoded fields, chunked", b"application/x-www-form-urlencoded", urlencoded_fields(200, MB)),
        ("a 300 MB multipart file part, chunked", b"multipart/form-data; boundary=xyz", multipart_file(300 * MB)),
    ):
        rss = srv.rss_mb()
        sent, status, shaped = send_until_answered(srv.port, chunked_head(content_type), chunks)
        grew = srv.rss_mb() - rss
        report("3", name, f"{status} after {sent / MB:.1f} MB sent; server RSS {grew:+.1f} MB",
               status == 413 and shaped and sent < 16 * MB and grew < 16)


def case_4(srv: Server, pair: dict[str, str]) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    raw = f"q=Größe&source={pair['source']}&target={pair['target']}&return_scores=true".encode()
    r = httpx.post(srv.url + "/translate", content=raw, headers=form)
    read = r.json()["sentences"][0]["source"] if r.status_code == 200 else r.json().get("error")
    report("4", "curl -d 'q=Größe' (raw UTF-8)", f"{r.status_code}, read as {read!r}", read == "Größe")
    r = httpx.post(srv.url + "/translate", content=b"q=Gr\xf6\xdfe&" + raw.split(b"&", 1)[1], headers=form)
    report("4", "a form in Latin-1", f"{r.status_code} {r.json()}", r.status_code == 400)


async def slow_client(port: int, first: bytes, then: bytes, interval: float, limit: float = 120.0
                      ) -> tuple[float, int]:
    """Send `first`, then `then` every `interval` s until the server closes. (seconds held, status or 0)."""
    start = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return 0.0, -1
    status = 0
    try:
        if first:
            writer.write(first)
        while time.monotonic() - start < limit:
            try:
                data = await asyncio.wait_for(reader.read(65536), interval)
            except TimeoutError:
                if then:
                    writer.write(then)
                    await writer.drain()
                continue
            if not data:
                break
            status = status or int(data.split()[1])
    except (ConnectionError, OSError):
        pass
    writer.close()
    return time.monotonic() - start, status


async def case_5_async(srv: Server, slowloris: int, header_timeout: float, body_timeout: float) -> None:
    files_before, peak = srv.open_files(), 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, srv.open_files())
            await asyncio.sleep(0.25)

    watcher = asyncio.create_task(watch())
    body = asyncio.create_task(slow_client(  # one byte of body a second
        srv.port, b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n", b"a", 1.0))
    idle = asyncio.create_task(slow_client(srv.port, b"", b"", 1.0))  # connects, sends nothing
    await asyncio.sleep(0.5)
    held = await asyncio.gather(*(slow_client(srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n",
                                              5.0) for _ in range(slowloris)))
    body_held, idle_held = await body, await idle
    await asyncio.sleep(1)
    watcher.cancel()
    files_after = srv.open_files()
    statuses = Counter(status for _, status in held)
    longest = max(seconds for seconds, _ in held)
    report("5", f"{slowloris} clients sending a header line every 5 s",
           f"statuses {dict(statuses)} (408: at the deadline, 503: past max_connections), held at most "
           f"{longest:.1f} s; server open files {files_before} → peak {peak} → {files_after}",
           longest < header_timeout + 3 and set(statuses) <= {408, 503} and files_after <= files_before + 5)
    report("5", "a body sent at 1 byte/s", f"{body_held[1]} after {body_held[0]:.1f} s",
           body_held[1] == 408 and body_held[0] < body_timeout + 3)
    report("5", "a connection that sends nothing", f"closed after {idle_held[0]:.1f} s (status {idle_held[1]})",
           idle_held[0] < header_timeout + 3)


def case_6(model: Path, pair: dict[str, str]) -> None:
    with serve(model, api_keys=KEY, rate_limit_per_minute=0) as srv:
        statuses: Counter[int] = Counter()
        stop = time.monotonic() + 5
        with httpx.Client() as client:
            while time.monotonic() < stop:
                r = client.post(srv.url + "/translate",
                                json={"q": "x", **pair, "api_key": f"guess-{sum(statuses.values())}"})
                statuses[r.status_code] += 1
            r = client.post(srv.url + "/translate", json={"q": "x", **pair, "api_key": KEY})
        report("6", "wrong API keys as fast as one client can, 5 s",
               f"{statuses[403]} keys tried (403), {statuses[429]} refused unread (429); then the right key: "
               f"{r.status_code}, Retry-After {r.headers.get('retry-after')}",
               statuses[403] <= 10 and set(statuses) == {403, 429})
    with serve(model, api_keys=KEY, rate_limit_per_minute=3) as srv:
        codes = [httpx.post(srv.url + "/translate", json={"q": "x", "api_key": "guess", **pair}).status_code
                 for _ in range(4)]
        report("6", "wrong keys against a limit of 3 a minute", str(codes), codes[3] == 429)


def case_7(model: Path, pair: dict[str, str]) -> None:
    with serve(model, rate_limit_per_minute=5) as srv:
        codes = [httpx.post(srv.url + "/translate", json={"q": "Ein Hund.", **pair},
                            headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(8)]
    report("7", "X-Forwarded-For with a new address each time, limit 5 a minute", str(codes),
           codes == [200] * 5 + [429] * 3)


def case_8(model: Path) -> None:
    with serve(model, api_keys=KEY, key_routes="/languages,/metrics,/ready", disabled_routes="/docs") as srv:
        got = {path: httpx.get(srv.url + path).status_code
               for path in ("/languages", "/metrics", "/ready", "/docs", "/openapi.json", "/redoc", "/health")}
        with_key = {path: httpx.get(srv.url + path, headers=srv.headers).status_code
                    for path in ("/languages", "/metrics", "/ready")}
    report("8", "reading routes without a key (keys on /languages, /metrics, /ready; /docs off)",
           f"{got}; with the key {with_key}",
           [got[p] for p in got] == [403, 403, 403, 404, 404, 404, 200] and set(with_key.values()) == {200})


def case_9(srv: Server) -> None:
    outcome = {}
    for name, data in (("request line 'GARBAGE'", b"GARBAGE\r\n\r\n"),
                       ("a header without a colon", b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"),
                       ("a 70 KB header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")):
        status, headers, body = exchange(srv.port, data)
        outcome[name] = f"{status} {'JSON' if error_shaped(headers.get('content-type', ''), body) else 'not JSON'}"
    report("9", "malformed requests", str(outcome), all(v.endswith(" JSON") for v in outcome.values()))


# --- the figures -------------------------------------------------------------------------------------------------


def schemathesis_run(srv: Server, cases: int, pair: dict[str, str]) -> None:
    """`cases` generated requests over the schema's operations, half of /translate's valid by the schema (with
    the model's language pair, else every one is refused at once as a language the server does not have), half
    not (schemathesis' negative mode); every answer must be below 500, and every 4xx `{"error": ...}`."""
    import hypothesis
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(srv.url + "/openapi.json")
    statuses: Counter[int] = Counter()
    bad: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        post = (operation.method.upper(), operation.path) in {("POST", "/translate"), ("POST", "/detect")}  # bodies
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if post else (GenerationMode.POSITIVE,):
            examples = (cases + 1) // 2 if post else 50  # a route without parameters yields one case
            strategy = operation.as_strategy(generation_mode=mode)
            if mode is GenerationMode.POSITIVE:
                strategy = strategy.map(lambda case: with_pair(case, pair))

            @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                                 phases=[hypothesis.Phase.generate],
                                 suppress_health_check=list(hypothesis.HealthCheck))
            @hypothesis.given(case=strategy)
            def call(case: Any) -> None:
                response = case.call(base_url=srv.url, timeout=120)
                statuses[response.status_code] += 1
                content_type = response.headers.get("content-type") or [""]  # each header: a list of values
                shaped = error_shaped(content_type[0], response.content)
                if response.status_code >= 500 or (400 <= response.status_code < 500 and not shaped):
                    bad.append(f"{case.method} {case.path} → {response.status_code} {response.text[:100]!r}")

            call()
    total = sum(statuses.values())
    fives = sum(n for status, n in statuses.items() if status >= 500)
    report("st", f"schemathesis {schemathesis.__version__}, {len(operations)} operations",
           f"{total} cases, statuses {dict(sorted(statuses.items()))}, 5xx {fives}, 4xx not {{\"error\"}} "
           f"{len(bad) - fives}{'; ' + '; '.join(bad[:3]) if bad else ''}", total >= cases and not bad)


def with_pair(case: Any, pair: dict[str, str]) -> Any:
    if isinstance(case.body, dict):  # JSON or a form
        case.body = {**case.body, **pair}
    return case


def hostile_bodies(srv: Server, count: int, pair: dict[str, str]) -> None:
    kinds = {
        "1 MB urlencoded, chunked": lambda: send_until_answered(
            srv.port, chunked_head(b"application/x-www-form-urlencoded"), urlencoded_fields(1, MB))[1],
        "1 MB multipart file, chunked": lambda: send_until_answered(
            srv.port, chunked_head(b"multipart/form-data; boundary=xyz"), multipart_file(MB))[1],
        "Content-Length 1 GB": lambda: exchange(srv.port, b"POST /translate HTTP/1.1\r\nHost: x\r\n"
                                                b"Content-Length: 1000000000\r\n\r\n" + b"a" * 65536)[0],
        "JSON nested 100,000 deep": lambda: httpx.post(srv.url + "/translate", content=b"[" * 100_000,
                                                       headers={"content-type": "application/json"}).status_code,
        "form not in UTF-8": lambda: httpx.post(
            srv.url + "/translate", content=b"q=\xff\xfe&source=de&target=en",
            headers={"content-type": "application/x-www-form-urlencoded"}).status_code,
        "lone surrogates": lambda: httpx.post(
            srv.url + "/translate", content=json.dumps({"q": ["\ud800"] * 1000, **pair}),
            headers={"content-type": "application/json"}).status_code,
        "gone mid-body": lambda: exchange_and_leave(srv.port),
        "a 70 KB header": lambda: exchange(srv.port, b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 70_000)[0],
    }
    outcomes: dict[str, Counter[int]] = {name: Counter() for name in kinds}
    rss = srv.rss_mb()
    names = list(kinds)
    for i in range(count):
        name = names[i % len(names)]
        outcomes[name][kinds[name]()] += 1
    grew = srv.rss_mb() - rss
    report("mem", f"{count} hostile bodies", f"server RSS {rss:.0f} → {rss + grew:.0f} MB ({grew:+.1f} MB); "
           + ", ".join(f"{name}: {dict(c)}" for name, c in outcomes.items()), grew <= 64)


def exchange_and_leave(port: int) -> int:
    with connect(port) as sock:
        sock.sendall(b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n{\"q\": \"" + b"a" * 1000)
    return 0


async def closed_loop(url: str, bodies: list[dict], clients: int) -> Counter[str]:
    """`clients` clients, a connection each, sending `bodies` between them, the next once the last is answered."""
    outcomes: Counter[str] = Counter()
    queue = iter(bodies)

    async def client(c: httpx.AsyncClient) -> None:
        for body in queue:
            try:
                outcomes[str((await c.post(url + "/translate", json=body)).status_code)] += 1
            except httpx.HTTPError as exc:
                outcomes[type(exc).__name__] += 1

    pool = [httpx.AsyncClient(timeout=300) for _ in range(clients)]
    try:
        await asyncio.gather(*(client(c) for c in pool))
    finally:
        await asyncio.gather(*(c.aclose() for c in pool))
    return outcomes


def load(srv: Server, sentences: list[str], pair: dict[str, str], requests: int, clients: int, beam: int) -> None:
    bodies = [{"q": sentences[i % len(sentences)], **pair, "beam_size": beam} for i in range(requests)]
    warm = asyncio.run(closed_loop(srv.url, bodies[:1000], clients))
    rss = srv.rss_mb()
    start = time.perf_counter()
    outcomes = asyncio.run(closed_loop(srv.url, bodies, clients))
    seconds = time.perf_counter() - start
    grew = srv.rss_mb() / rss - 1
    errors = requests - outcomes["200"]
    report("load", f"{requests} requests at {clients} clients (beam {beam}), after 1,000 to warm up {dict(warm)}",
           f"{dict(outcomes)} in {seconds:.0f} s ({requests / seconds:.0f} req/s), {errors} errors; server RSS "
           f"{rss:.0f} → {rss * (1 + grew):.0f} MB ({100 * grew:+.1f} %)", errors == 0 and grew < 0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="exported artifact (.pt)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="sentences for the load run (gzip or plain)")
    parser.add_argument("--cases", type=int, default=5000, help="schemathesis cases")
    parser.add_argument("--bodies", type=int, default=1000, help="hostile bodies for the memory run")
    parser.add_argument("--requests", type=int, default=10_000, help="requests of the load run")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients of the load run")
    parser.add_argument("--slowloris", type=int, default=600, help="slow connections (more than max_connections)")
    parser.add_argument("--beam", type=int, default=1, help="beam of the load run's requests")
    args = parser.parse_args()
    opener = gzip.open if args.data.suffix == ".gz" else open
    with opener(args.data, "rt", encoding="utf-8") as f:
        sentences = [line.strip() for line in f if 0 < len(line.strip()) <= 200]

    with serve(args.model) as srv:
        langs = httpx.get(srv.url + "/languages").json()
        pair = {"source": langs[0]["code"], "target": langs[0]["targets"][0]}
        print(f"model {args.model} ({pair['source']}→{pair['target']}), {os.cpu_count()} cores", flush=True)
        case_1(srv, pair)
        case_2(srv)
        case_3(srv)
        case_4(srv, pair)
        asyncio.run(case_5_async(srv, args.slowloris, header_timeout=10.0, body_timeout=30.0))
        case_9(srv)
        schemathesis_run(srv, args.cases, pair)
        hostile_bodies(srv, args.bodies, pair)
        load(srv, sentences, pair, args.requests, args.clients, args.beam)
        logged = srv.log_errors()
        report("log", "errors in the open server's log", str(logged), logged == 0)
    case_6(args.model, pair)
    case_7(args.model, pair)
    case_8(args.model)
    print(f"{len(failures)} failed: {failures}" if failures else "all passed", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
