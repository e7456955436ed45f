"""The import graph, across packages: the model library loads neither training nor serving code, training and
serving never load each other, and the training modules import no cycle (not even inside a function)."""

import ast
import glob
import os

from tests.conftest import ROOT, every_module, modules_loaded_by


def test_seq2seq_loads_neither_training_nor_serving_code():
    watched = ("training", "service", "fastapi", "uvicorn", "datasets", "sacrebleu")
    assert modules_loaded_by(every_module("seq2seq"), watched) == []


def test_service_loads_no_training_code() -> None:
    watched = ("training", "datasets", "sacrebleu", "tensorboard", "matplotlib")
    assert modules_loaded_by(every_module("service"), watched) == []


def test_training_loads_no_service_code() -> None:
    watched = ("service", "fastapi", "uvicorn", "starlette", "pydantic_settings", "prometheus_client")
    assert modules_loaded_by(every_module("training"), watched) == []


def test_training_modules_import_no_cycle():
    graph = {}
    for path in glob.glob(os.path.join(ROOT, "training", "*.py")):
        name = "training." + os.path.basename(path)[:-3]
        tree = ast.parse(open(path, encoding="utf-8").read())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        graph[name] = {m for m in imported if m.startswith("training.")}  # at the top or inside a function

    def reaches(start, goal, seen):
        return any(m == goal or (m not in seen and reaches(m, goal, seen | {m})) for m in graph.get(start, ()))

    assert [name for name in sorted(graph) if reaches(name, name, {name})] == []
