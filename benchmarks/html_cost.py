"""What `format: html` costs over plain text: the same sentences as a page of paragraphs and as plain text.

    python benchmarks/html_cost.py --model model.pt                  # the app in this process, over ASGI
    python benchmarks/html_cost.py --url http://127.0.0.1:8000       # a server already running (its limits)

Starts no server: with --model it runs the application in this process (its lifespan, batcher and decoder
thread, no sockets); with --url it talks to a running one, which must accept a request of that size
(`SEQ2SEQ_MAX_CHARS_PER_ITEM`, `SEQ2SEQ_MAX_CHARS_PER_REQUEST`). The page has --paragraphs paragraphs of
--sentences sentences from --data, each paragraph with an inline `<b>` and an `<a href>` inside its sentences,
between a head (its title translated too) and some untranslated markup; the plain text is the same sentences, a
blank line between paragraphs, so both requests decode the same sentences in the same batches. The two requests
alternate, --repeat times each after one warm-up each; printed: the median (and fastest) seconds of each, and
html / text (the issue's target: at most 1.2; on a shared machine the fastest runs are the steadier figure).
Then, in this process, the markup's own part: parsing the page and putting a translation back into it
(`service/html.py`), without the model.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service import html  # noqa: E402 (needs ROOT on the path when run as a script)

DEFAULT_DATA = ROOT / "data" / "multi30k" / "test_2016_flickr.de.gz"


def read_sentences(path: Path, count: int) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    if len(lines) < count:
        raise SystemExit(f"{path}: {len(lines)} sentences, the page needs {count}")
    return lines[:count]


def paragraph_html(sentences: list[str], k: int) -> str:
    """A paragraph: the second word of its first sentence in bold, the last two words of its last a link."""
    first = sentences[0].split()
    if len(first) > 2:
        first[1] = f"<b>{first[1]}</b>"
    last = sentences[-1].split()
    if len(last) > 3:
        last[-2:] = [f'<a href="/p/{k}?a=1&amp;b=2">{last[-2]}', f"{last[-1]}</a>"]
    body = [" ".join(first), *sentences[1:-1], " ".join(last)] if len(sentences) > 1 else [" ".join(first)]
    return f'<p class="para" id="p{k}">' + " ".join(body) + "</p>"


def build(sentences: list[str], per_paragraph: int) -> tuple[str, str]:
    """(page, plain text) of the same sentences."""
    paragraphs = [sentences[i : i + per_paragraph] for i in range(0, len(sentences), per_paragraph)]
    page = ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Benchmark</title>"
            "<style>p { margin: 0 }</style></head>\n<body>\n<!-- html_cost.py -->\n"
            + "\n".join(paragraph_html(p, k) for k, p in enumerate(paragraphs))
            + "\n<pre>kept as it is</pre><script>var x = 1;</script>\n</body></html>\n")
    text = "\n\n".join(["Benchmark"] + [" ".join(p) for p in paragraphs])  # the title is translated too
    return page, text


async def measure(client: httpx.AsyncClient, bodies: dict[str, dict], repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in bodies}
    for round_ in range(repeat + 1):  # round 0 warms up
        for name, body in bodies.items():
            start = time.perf_counter()
            r = await client.post("/translate", json=body)
            seconds = time.perf_counter() - start
            if r.status_code != 200:
                raise SystemExit(f"{name}: HTTP {r.status_code}: {r.text[:300]}")
            if round_:
                times[name].append(seconds)
    return times


async def run(args: argparse.Namespace, bodies: dict[str, dict]) -> dict[str, list[float]]:
    if args.url:
        async with httpx.AsyncClient(base_url=args.url, timeout=600) as client:
            return await measure(client, bodies, args.repeat)
    from service.app import create_app
    from service.settings import Settings

    size = max(len(b["q"]) for b in bodies.values()) + 1000
    settings = Settings(model=str(args.model), max_chars_per_item=size, max_chars_per_request=size, api_keys=[],
                        rate_limit_per_minute=0, request_timeout_s=600, torch_threads=args.threads)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        while not app.state.runtime.ready:
            if app.state.runtime.error:
                raise SystemExit(app.state.runtime.error)
            await asyncio.sleep(0.05)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client:
            return await measure(client, bodies, args.repeat)


def markup_seconds(page: str, repeat: int) -> tuple[float, float, int]:
    """(median seconds to parse the page, to put a translation back, sentences): the markup's part alone."""
    parsing, rendering = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        parsed = html.parse(page)
        parsing.append(time.perf_counter() - start)
        targets = [(s, [(i, i) for i in range(len(s.split()))]) for s in parsed.sentences]
        start = time.perf_counter()
        parsed.render(targets)
        rendering.append(time.perf_counter() - start)
    return statistics.median(parsing), statistics.median(rendering), len(parsed.sentences)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--model", type=Path, help="exported artifact (.pt), run in this process")
    where.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="source sentences, one a line (gzip or plain)")
    parser.add_argument("--source", default="de")
    parser.add_argument("--target", default="en")
    parser.add_argument("--paragraphs", type=int, default=50)
    parser.add_argument("--sentences", type=int, default=3, help="sentences per paragraph")
    parser.add_argument("--repeat", type=int, default=7, help="timed requests of each kind")
    parser.add_argument("--threads", type=int, default=0, help="decoder threads (--model; 0: cores - 1)")
    args = parser.parse_args()

    page, text = build(read_sentences(args.data, args.paragraphs * args.sentences), args.sentences)
    common = {"source": args.source, "target": args.target}
    bodies = {"text": {"q": text, "format": "text", **common}, "html": {"q": page, "format": "html", **common}}
    parse_s, render_s, count = markup_seconds(page, args.repeat)
    times = asyncio.run(run(args, bodies))
    print(f"{args.paragraphs} paragraphs, {count} sentences; page {len(page)} characters, text {len(text)}")
    print(f"seconds per request ({args.repeat} each): median (fastest)")
    for name in ("text", "html"):
        print(f"{name}  {statistics.median(times[name]):8.3f} ({min(times[name]):.3f})")
    ratio, fastest = (statistics.median(times["html"]) / statistics.median(times["text"]),
                      min(times["html"]) / min(times["text"]))
    print(f"html / text {ratio:.3f} ({fastest:.3f})  (target <= 1.2)")
    print(f"markup alone: parse {parse_s * 1000:.1f} ms, put back {render_s * 1000:.1f} ms")


if __name__ == "__main__":
    main()
