# The two commands of the README, and the longer jobs beside them.
#   make demo    set up, train on Multi30k de→en for DEMO_MINUTES, export, score, and serve on :8000
#   make test    set up and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_MINUTES ?= 15
DATA ?= ../shared/data/multi30k
PORT ?= 8000

.PHONY: setup demo test train-multi30k bench-rnn bench-translate bench-load lint

$(BIN)/seq2seq: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch pinned first: this machine has a local CPU wheel; an unpinned torch pulls GBs of CUDA packages
	$(BIN)/pip install -q torch==2.13.0
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

bench-rnn: setup
	$(BIN)/python benchmarks/rnn_speed.py

bench-translate: setup
	$(BIN)/python benchmarks/translate_speed.py --model models/multi30k.pt

bench-load: setup
	$(BIN)/python benchmarks/load.py --model models/multi30k.pt

lint: setup
	$(BIN)/ruff check seq2seq training service tests benchmarks
