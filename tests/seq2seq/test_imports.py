"""Dependencies point one way: the model library never loads training or serving code."""

import json
import subprocess

from tests.conftest import PYTHON, ROOT, python_env


def test_seq2seq_loads_neither_training_nor_serving_code():
    code = (
        "import json, sys; import seq2seq, seq2seq.translator, seq2seq.export, seq2seq.search; "
        "print(json.dumps(sorted(m for m in ('training', 'service', 'fastapi', 'uvicorn', 'datasets', 'sacrebleu') "
        "if m in sys.modules)))"
    )
    env = dict(python_env(), PYTHONPATH=ROOT)
    out = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
