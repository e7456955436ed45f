"""A run's metrics log (training/metrics.py): a run that resumes drops what was logged after its checkpoint."""

import csv

from training.metrics import MetricsLog
from training.run import metrics_path


def logged(run_dir) -> list[tuple[str, str]]:
    with open(metrics_path(str(run_dir)), newline="", encoding="utf-8") as f:
        return [(row["step"], row["loss"]) for row in csv.DictReader(f)]


def test_a_resumed_log_keeps_only_the_rows_its_checkpoint_had_seen(tmp_path):
    log = MetricsLog(str(tmp_path))
    for step in (5, 10, 15):
        log.add(step, 1, "train", loss=1.0)
    log.close()
    # killed after logging step 15; the checkpoint of step 10 had seen 2 rows: step 15 is done again
    log = MetricsLog(str(tmp_path), step=10, rows=2)
    assert log.rows == 2
    log.add(15, 1, "train", loss=2.0)
    log.close()
    assert logged(tmp_path) == [("5", "1.0"), ("10", "1.0"), ("15", "2.0")]
    # a checkpoint that did not count its rows: those of the updates up to its step are kept
    MetricsLog(str(tmp_path), step=5, rows=None).close()
    assert logged(tmp_path) == [("5", "1.0")]
    # a run that starts over (no checkpoint) keeps none
    MetricsLog(str(tmp_path)).close()
    assert logged(tmp_path) == []
