"""Prometheus metrics of one app, in a registry of its own so several apps can live in one process.

Latency is measured per stage: `queue_wait` (sentence enqueued → taken into a batch), `decode` (one batched
`translate_ids` call, or one step with continuous batching: service/continuous.py), and the whole request
(`seq2seq_request_duration_seconds`, by route). What a batcher measures is labelled with its model's language
pair (`pair="de-en"`).
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """Every metric the service exports; `render()` gives the Prometheus text format."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        process_collector.ProcessCollector(registry=reg)
        platform_collector.PlatformCollector(registry=reg)
        gc_collector.GCCollector(registry=reg)
        self.requests = Counter(
            "seq2seq_requests", "HTTP requests by route, method and status", ["route", "method", "status"],
            registry=reg,
        )
        self.request_seconds = Histogram(
            "seq2seq_request_duration_seconds", "Total request latency by route", ["route"],
            buckets=LATENCY_BUCKETS, registry=reg,
        )
        self.queue_wait_seconds = Histogram(
            "seq2seq_queue_wait_seconds", "Time a sentence waits before its batch is formed, by language pair",
            ["pair"], buckets=LATENCY_BUCKETS, registry=reg,
        )
        self.decode_seconds = Histogram(
            "seq2seq_decode_seconds",
            "Duration of one batched decode call (one step, with continuous batching), by language pair", ["pair"],
            buckets=LATENCY_BUCKETS, registry=reg,
        )
        self.batch_sentences = Histogram(
            "seq2seq_batch_size_sentences",
            "Sentences decoded together in one call (one step, with continuous batching), by language pair", ["pair"],
            buckets=BATCH_BUCKETS, registry=reg,
        )
        self.queue_depth = Gauge("seq2seq_queue_depth_sentences", "Sentences waiting to be batched, by language pair",
                                 ["pair"], registry=reg)
        self.sentences = Counter("seq2seq_sentences", "Sentences decoded, by language pair", ["pair"], registry=reg)
        self.dropped = Counter(
            "seq2seq_dropped_sentences",
            "Sentences dropped before or, with continuous batching, while decoding (client gone, deadline passed)",
            ["reason", "pair"], registry=reg,
        )
        self.rejected = Counter(
            "seq2seq_rejected_requests", "Requests refused before queuing", ["reason"], registry=reg,
        )
        self.client_disconnects = Counter(
            "seq2seq_client_disconnects", "Clients gone before their answer, by stage: body (while sending it), "
            "decode (while waiting for it)", ["stage"], registry=reg,
        )
        self.connection_errors = Counter(
            "seq2seq_connection_errors", "Connections the server answered and closed before any route ran "
            "(service/connection.py), by reason", ["reason"], registry=reg,
        )
        self.model_ready = Gauge("seq2seq_model_ready", "1 once the model is loaded and warmed up", registry=reg)

    def render(self) -> bytes:
        return generate_latest(self.registry)
