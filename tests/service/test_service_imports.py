"""Dependencies point one way: the service loads only what runs the artifact, never the training code."""

from __future__ import annotations

from tests.conftest import modules_loaded_by


def test_service_loads_no_training_code() -> None:
    watched = ("training", "datasets", "sacrebleu", "tensorboard", "matplotlib")
    assert modules_loaded_by("service, service.app, service.server, service.__main__", watched) == []
