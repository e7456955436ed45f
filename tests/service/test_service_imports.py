"""Dependencies point one way: the service loads only what runs the artifact, never the training code."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import PYTHON, ROOT, python_env


def test_service_loads_no_training_code() -> None:
    code = (
        "import json, sys; import service, service.app, service.server, service.__main__; "
        "print(json.dumps(sorted(m for m in ('training', 'datasets', 'sacrebleu', 'tensorboard', 'matplotlib') "
        "if m in sys.modules)))"
    )
    env = dict(python_env(), PYTHONPATH=ROOT)
    out = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
