"""GET /metrics (service/metrics.py) on a live server: requests, stages, queue depth and readiness counted."""

from __future__ import annotations

import httpx

from tests.service.live import sample_value

DE_EN = {"source": "de", "target": "en"}


def test_metrics(client: httpx.Client) -> None:
    client.post("/translate", json={"q": ["Ein hund läuft. Der mann springt.", "Ein kind."], **DE_EN})
    client.get("/nowhere")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert sample_value(text, "seq2seq_requests_total", route="/translate", method="POST", status="200") >= 1
    assert sample_value(text, "seq2seq_requests_total", route="unmatched", method="GET", status="404") >= 1
    assert sample_value(text, "seq2seq_request_duration_seconds_count", route="/translate") >= 1
    for stage in ("seq2seq_queue_wait_seconds_count", "seq2seq_decode_seconds_count",
                  "seq2seq_batch_size_sentences_count", "seq2seq_sentences_total"):
        assert sample_value(text, stage) >= 1, stage
    assert sample_value(text, "seq2seq_sentences_total") >= 3
    assert 'seq2seq_queue_depth_sentences{pair="de-en"} 0.0' in text
    assert sample_value(text, "seq2seq_model_ready") == 1.0
