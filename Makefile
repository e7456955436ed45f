# The two commands of the README, and the longer jobs beside them.
#   make demo    set up, train on Multi30k de→en for DEMO_MINUTES, export, score, and serve on :8000
#   make test    set up and run the test suite
# PYTHON: 3.11 or newer (requires-python in pyproject.toml); CI runs python3 = 3.11, the floor
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_MINUTES ?= 15
DATA ?= data/multi30k
PORT ?= 8000

.PHONY: setup demo test train-multi30k ablation diagnose bench-rnn bench-translate bench-load lint

$(BIN)/seq2seq: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch pinned first: this machine has a local CPU wheel; an unpinned torch pulls GBs of CUDA packages
	$(BIN)/pip install -q torch==2.13.0
	# [test] brings both extras, [train] and [serve]: the tests cover every package
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/seq2seq

setup: $(BIN)/seq2seq

demo: setup
	$(BIN)/seq2seq train --config configs/multi30k.yaml --data $(DATA) --run-dir runs/demo \
		--max-minutes $(DEMO_MINUTES) --export models/model.pt
	@echo "serving models/model.pt on http://127.0.0.1:$(PORT) -- try:"
	@echo "  curl -s -X POST http://127.0.0.1:$(PORT)/translate -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"q\": \"Ein Hund läuft über die Wiese.\", \"source\": \"de\", \"target\": \"en\"}'"
	$(BIN)/seq2seq serve -m models/model.pt --port $(PORT)

test: setup
	$(BIN)/python -m pytest

train-multi30k: setup
	$(BIN)/seq2seq train --config configs/multi30k.yaml --data $(DATA) --run-dir runs/multi30k \
		--export models/multi30k.pt

# The six regularizers, alone and combined, two seeds, fixed updates (resumable: run it again to continue)
ablation: setup
	$(BIN)/python benchmarks/sweep.py ablation --steps 1500 --valid-every 150 --jobs 2

# Why early learning was slow: one change at a time, 150 updates each
diagnose: setup
	$(BIN)/python benchmarks/sweep.py diagnose --steps 150 --valid-every 75 --jobs 2
	$(BIN)/python benchmarks/sweep.py diagnose_uniform --steps 150 --valid-every 75 --jobs 2

bench-rnn: setup
	$(BIN)/python benchmarks/rnn_speed.py

bench-translate: setup
	$(BIN)/python benchmarks/translate_speed.py --model models/multi30k.pt

bench-load: setup
	$(BIN)/python benchmarks/load.py --model models/multi30k.pt

lint: setup
	$(BIN)/ruff check seq2seq training service tests benchmarks examples
