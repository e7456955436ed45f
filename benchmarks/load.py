"""Closed-loop load on the HTTP service, compared with the offline batch path (docs/design.md §6).

    python benchmarks/load.py --model model.pt                       # 1, 8, 32, 128 clients, 20 s each
    python benchmarks/load.py --model model.pt --duration 5 --levels 1,8 --beam 1
    python benchmarks/load.py --model model.pt --levels 8,32 --whole-batches   # batches decoded to their end

Starts `python -m service` on a free loopback port in a second process, with continuous batching
(`SEQ2SEQ_BATCH_CONTINUOUS=true`, for artifacts of format 3 and later) unless --whole-batches. For each
concurrency level, N clients (asyncio + httpx, a client and connection each) send one sentence per request and
the next as soon as the answer arrives, for --duration seconds (or --requests requests). Prints requests/s,
p50/p95/p99 latency and errors per level, and from the server's /metrics: mean batch size (sentences; with
continuous batching, per step), share of the time spent decoding,
mean queue wait, and mean time a request spent in the server (client latency minus this is client and
network overhead), and the server's resident memory once ready, after the load and at its peak.
Then, with the server stopped, measures in this process the offline path
(`Translator.translate` over the same sentences and beam: sentences/s) and single-sentence `translate_ids`
calls (p50), and prints the ratios: 32-client throughput / offline throughput, and 1-client p50 / direct
call p50.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seq2seq.translator import Translator  # noqa: E402 (needs ROOT on the path when run as a script)
from service.runtime import decoder_threads  # noqa: E402

DEFAULT_DATA = ROOT / "data" / "multi30k" / "test_2016_flickr.de.gz"


@dataclass
class Level:
    clients: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)  # HTTP status or exception name -> count

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def server_counters(url: str) -> dict[str, float]:
    """Batch and decode totals from /metrics, to describe what the server did during a level."""
    from prometheus_client.parser import text_string_to_metric_families

    wanted = {"seq2seq_batch_size_sentences_count", "seq2seq_batch_size_sentences_sum", "seq2seq_decode_seconds_sum",
              "seq2seq_queue_wait_seconds_sum", "seq2seq_queue_wait_seconds_count"}
    values = dict.fromkeys(wanted | {"request_sum", "request_count"}, 0.0)
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for sample in family.samples:
            if sample.name in wanted:
                values[sample.name] = sample.value
            elif sample.name.startswith("seq2seq_request_duration_seconds_") and sample.labels["route"] == "/translate":
                key = sample.name.rsplit("_", 1)[1]
                if key in ("sum", "count"):
                    values["request_" + key] = sample.value
    return values


def fits(translator: Translator, sentence: str) -> bool:
    try:
        translator.encode(sentence, cut=False)
        return True
    except ValueError:
        return False


def read_sentences(path: Path, limit: int) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    return lines[:limit]


def start_server(args: argparse.Namespace, log: object) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEQ2SEQ_MODEL": str(args.model), "SEQ2SEQ_HOST": "127.0.0.1",
           "SEQ2SEQ_PORT": str(port), "SEQ2SEQ_LOG_LEVEL": "warning", "SEQ2SEQ_API_KEYS": "",
           "SEQ2SEQ_RATE_LIMIT_PER_MINUTE": "0", "SEQ2SEQ_QUEUE_MAX_SENTENCES": "100000",
           "SEQ2SEQ_REQUEST_TIMEOUT_S": "300", "SEQ2SEQ_MAX_BEAM_TIMES_NBEST": str(max(64, args.beam)),
           "SEQ2SEQ_BATCH_WAIT_MS": str(args.batch_wait_ms),
           "SEQ2SEQ_BATCH_LINGER_MS": str(args.batch_linger_ms), "SEQ2SEQ_BATCH_MAX_TOKENS": str(args.batch_max_tokens),
           "SEQ2SEQ_TORCH_THREADS": str(args.threads), "SEQ2SEQ_BATCH_CONTINUOUS": str(not args.whole_batches)}
    proc = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/ready", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the server did not become ready (exit code {proc.poll()})")


async def run_level(url: str, body: dict, sentences: list[str], level: Level, duration: float,
                    max_requests: int | None) -> None:
    """N closed-loop clients for `duration` seconds (or `max_requests` requests in all)."""
    sent = 0

    async def client(i: int, c: httpx.AsyncClient, stop_at: float) -> None:
        nonlocal sent
        k = i
        while time.perf_counter() < stop_at and (max_requests is None or sent < max_requests):
            sent += 1
            start = time.perf_counter()
            try:
                r = await c.post(url + "/translate", json={**body, "q": sentences[k % len(sentences)]})
                outcome = str(r.status_code)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            if outcome == "200":
                level.latencies.append(time.perf_counter() - start)
            else:
                level.errors[outcome] = level.errors.get(outcome, 0) + 1
            k += level.clients

    # One client (one connection) each: httpx's shared pool and its per-request timeouts cost more CPU the more
    # connections are open, and the load generator shares the machine with the server. Clients are built
    # before the clock starts (each builds an SSL context); a hung server is caught by wait_for instead.
    clients = [httpx.AsyncClient(timeout=None) for _ in range(level.clients)]
    try:
        start = time.perf_counter()
        tasks = (client(i, c, start + duration) for i, c in enumerate(clients))
        await asyncio.wait_for(asyncio.gather(*tasks), duration + 300)
        level.seconds = time.perf_counter() - start
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


def offline(translator: Translator, args: argparse.Namespace, sentences: list[str]) -> tuple[float, float]:
    """(sentences/s of Translator.translate over the sentences, p50 seconds of one-sentence translate_ids)."""
    opts = replace(translator.defaults, beam_size=args.beam, n_best=1)
    translator.translate(sentences[:8], opts)  # warm up, as the server does
    start = time.perf_counter()
    translator.translate(sentences, opts, max_tokens=args.batch_max_tokens)
    rate = len(sentences) / (time.perf_counter() - start)
    singles = []
    for sentence in sentences[: args.direct_calls]:
        ids = translator.encode(sentence)
        start = time.perf_counter()
        translator.translate_ids([ids], opts)
        singles.append(time.perf_counter() - start)
    return rate, percentile(singles, 50)


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) MB of a server process and its descendants, from /proc (Linux)."""
    def children(p: int) -> list[int]:
        try:
            with open(f"/proc/{p}/task/{p}/children", encoding="ascii") as fh:
                return [int(c) for c in fh.read().split()]
        except OSError:
            return []

    todo, rss, hwm = [pid], 0.0, 0.0
    while todo:
        p = todo.pop()
        todo += children(p)
        try:
            with open(f"/proc/{p}/status", encoding="ascii") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        rss += int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
        hwm += int(fields.get("VmHWM", "0 kB").split()[0]) / 1024
    return rss, hwm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="exported artifact (.pt)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="sentences, one a line (gzip or plain)")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--levels", default="1,8,32,128", help="concurrent clients, comma-separated")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per level")
    parser.add_argument("--requests", type=int, default=None, help="stop a level after this many requests")
    parser.add_argument("--max-sentences", type=int, default=1000, help="sentences read from --data")
    parser.add_argument("--direct-calls", type=int, default=50, help="single-sentence calls for the p50 baseline")
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--batch-linger-ms", type=float, default=100.0)
    parser.add_argument("--batch-max-tokens", type=int, default=4096)
    parser.add_argument("--whole-batches", action="store_true",
                        help="the server decodes each batch to its end (SEQ2SEQ_BATCH_CONTINUOUS=false, the service's "
                             "default) instead of admitting sentences between steps (artifacts of format 3 and later)")
    parser.add_argument("--threads", type=int, default=0,
                        help="decoder threads, server and offline alike; 0: the server's default (cores - 1)")
    args = parser.parse_args()
    torch.set_num_threads(decoder_threads(args.threads))

    translator = Translator.load(str(args.model))
    # the server refuses sentences longer than the model takes (Translator.translate would cut them): skip them
    read = read_sentences(args.data, args.max_sentences)
    sentences = [s for s in read if fits(translator, s)]
    if not sentences:
        raise SystemExit(f"no sentence of {args.data} fits the model's {translator.max_src_tokens} source tokens")
    levels = [Level(int(n)) for n in args.levels.split(",")]
    with tempfile.TemporaryFile("w+") as log:
        proc, url = start_server(args, log)
        try:
            langs = httpx.get(url + "/languages").json()
            body = {"source": langs[0]["code"], "target": langs[0]["targets"][0], "beam_size": args.beam}
            print(f"{len(sentences)} sentences from {args.data} ({len(read) - len(sentences)} too long for the model "
                  f"left out), beam {args.beam}, {body['source']}→{body['target']}, "
                  f"{torch.get_num_threads()} decoder threads, "
                  f"{'whole batches' if args.whole_batches or not translator.can_step else 'continuous batching'}")
            ready_rss, _ = memory_mb(proc.pid)
            print(f"{'clients':>7} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
                  f"{'errors':>6} {'batch':>6} {'decode%':>7} {'wait ms':>7} {'srv ms':>7}")
            for level in levels:
                before = server_counters(url)
                asyncio.run(run_level(url, body, sentences, level, args.duration, args.requests))
                d = {k: v - before[k] for k, v in server_counters(url).items()}
                batch = d["seq2seq_batch_size_sentences_sum"] / max(1.0, d["seq2seq_batch_size_sentences_count"])
                busy = 100 * d["seq2seq_decode_seconds_sum"] / level.seconds
                wait = 1000 * d["seq2seq_queue_wait_seconds_sum"] / max(1.0, d["seq2seq_queue_wait_seconds_count"])
                server_ms = 1000 * d["request_sum"] / max(1.0, d["request_count"])
                lat = [x * 1000 for x in level.latencies]
                print(f"{level.clients:>7} {len(lat):>8} {level.rps:>8.1f} {percentile(lat, 50):>8.1f} "
                      f"{percentile(lat, 95):>8.1f} {percentile(lat, 99):>8.1f} {sum(level.errors.values()):>6} "
                      f"{batch:>6.1f} {busy:>7.0f} {wait:>7.1f} {server_ms:>7.1f} {level.errors or ''}", flush=True)
            rss, peak = memory_mb(proc.pid)
            print(f"server memory: resident {ready_rss:.0f} MB once ready, {rss:.0f} MB after the load, "
                  f"peak {peak:.0f} MB")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            if any(level.errors for level in levels):
                log.seek(0)
                print("server log (tail):\n" + log.read()[-3000:], file=sys.stderr)

    rate, direct_p50 = offline(translator, args, sentences)
    print(f"offline Translator.translate: {rate:.1f} sentences/s; direct translate_ids, one sentence: "
          f"p50 {direct_p50 * 1000:.1f} ms")
    by_clients = {level.clients: level for level in levels}
    if 32 in by_clients:
        print(f"throughput, 32 clients / offline: {by_clients[32].rps / rate:.2f}")
    if 1 in by_clients and by_clients[1].latencies:
        print(f"latency p50, 1 client / direct call: {percentile(by_clients[1].latencies, 50) / direct_p50:.2f}")


if __name__ == "__main__":
    main()
