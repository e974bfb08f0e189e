# iot-kernel: a Jupyter kernel for MicroPython boards, in Go.
#
#   make demo   build, set up, and run notebooks/getting-started.ipynb on the
#               virtual board (or on hardware: make demo BOARD=/dev/ttyUSB0)
#   make test   everything CI checks
#   make fuzz   every fuzz target for FUZZTIME each (default 1m)
#   make bench  speed and memory, as ratios against peers measured in the same run

GO       ?= go
PYTHON   ?= python3
VENV     ?= .venv
# Absolute, so a kernel started by a client run with it can find the venv.
VPY      := $(abspath $(VENV))/bin/python
DEBPY    ?= /usr/bin/python3
STATICCHECK_VERSION := v0.8.2
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BOARD    ?=

# The .go files and what they embed (the wasm board's wrapper, the logos).
GO_SOURCES := $(shell find . -name '*.go' -not -path './node_modules/*' -not -path './.venv/*') go.mod go.sum \
	$(shell find sim/board -type f) $(wildcard kernelspec/*.png)

# The virtual board's runtime, copied from the pinned npm package.
SIM_RUNTIME_PKG := node_modules/@micropython/micropython-webassembly-pyscript
SIM_RUNTIME     := sim/runtime/micropython.mjs sim/runtime/micropython.wasm

export CGO_ENABLED = 0

.PHONY: all build install demo notebook test test-go test-race test-load test-lint test-protocol test-protocol-debian \
        test-notebooks test-browser test-fuzz test-soak fuzz bench venv node clean

all: build

## Build ---------------------------------------------------------------------

build: bin/iot-kernel bin/testboard

# The kernel links no net/http (nor crypto/tls): the WebREPL's WebSocket is
# transport/internal/ws. The kernel's idle RSS is mostly its own mapped
# code, so what goes into the binary is memory: keep it out.
#
# simruntime: the virtual board's runtime (MicroPython's WebAssembly port,
# two files of the pinned npm package) is embedded in the binary, so
# `%connect sim` needs only node. sim/runtime is a build product, never
# committed.
bin/iot-kernel: $(GO_SOURCES) $(SIM_RUNTIME) Makefile
	$(GO) build -trimpath -tags simruntime -ldflags '$(LDFLAGS)' -o $@ ./cmd/kernel

# Order-only: a build never reinstalls node_modules by itself (make node
# does); make clean drops the copies.
sim/runtime/%: | node_modules/.installed
	@mkdir -p sim/runtime
	cp $(SIM_RUNTIME_PKG)/$* $@

bin/testboard: $(GO_SOURCES)
	$(GO) build -trimpath -o $@ ./cmd/testboard

bin/staticcheck:
	GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# The runtime also goes where a kernel built without it (go build, go
# test) looks first: $XDG_DATA_HOME/iot-kernel/runtime.
SIM_RUNTIME_DIR := $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/iot-kernel/runtime
install: bin/iot-kernel $(SIM_RUNTIME)
	bin/iot-kernel install --user
	mkdir -p $(SIM_RUNTIME_DIR)
	cp $(SIM_RUNTIME) $(SIM_RUNTIME_DIR)/

## Environments ---------------------------------------------------------------

# The project venv holds the Jupyter clients the tests and the demo use,
# pinned in requirements.txt.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

# node_modules: the MicroPython WebAssembly test board and playwright-core,
# exactly as package-lock.json pins them.
node: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

## Demo ------------------------------------------------------------------------

# The getting-started notebook on the virtual board, which the kernel starts
# itself (or on hardware: make demo BOARD=/dev/ttyUSB0). Everything it sets
# up (kernelspec, devices file, the board's files) is private to the run.
demo: build venv node
	$(VPY) scripts/demo.py --kernel bin/iot-kernel \
		--notebook notebooks/getting-started.ipynb $(if $(BOARD),--board $(BOARD))

# JupyterLab on notebooks/, with the kernel installed for this user.
notebook: install venv
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

## Tests -----------------------------------------------------------------------

test: test-lint test-go test-race test-fuzz test-soak test-protocol test-protocol-debian test-notebooks test-browser

test-lint: bin/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	bin/staticcheck ./...

# IOT_TEST_PYTHON: the python whose ipykernel the %%host tests drive.
test-go: node venv
	IOT_TEST_PYTHON=$(VPY) $(GO) test -count=1 -timeout 20m ./...

# The race detector (it needs cgo and a C compiler) over the packages that
# run without boards; the board packages' concurrency is exercised by
# test-go on real firmware.
RACE_PKGS := ./kernel/... ./devices ./hostkernel ./internal/... ./kernelspec/... ./cmd/kernel ./replay \
	./transport/internal/... ./transport/rfc2217 ./transport/serialport ./transport/webrepl
test-race: venv
	CGO_ENABLED=1 IOT_TEST_PYTHON=$(VPY) $(GO) test -race -count=1 -timeout 15m $(RACE_PKGS)

# The suite under load: the board-heavy packages LOAD_RUNS times in a row
# with one core kept busy (scripts/under-load.sh), as on CI's shared machine.
LOAD_RUNS ?= 10
test-load: node venv
	IOT_TEST_PYTHON=$(VPY) scripts/under-load.sh $(LOAD_RUNS) \
		$(GO) test -count=1 -timeout 20m ./transport ./magics ./testboard ./cells

# Fuzz targets, as package:target:count (go test -fuzz takes one of each
# per run; count is make test's budget for it, about 4 s of inputs here).
# Their seed corpora are in each package's testdata/fuzz/<target>/; what a
# run finds is written there too, so a failure found once stays a test.
FUZZ_TARGETS := ./kernel/wire:FuzzDecode:200000 \
	./transport:FuzzRawREPLStream:15000 ./transport:FuzzRawREPLAnswer:1500 ./transport:FuzzParseTraceback:20000 \
	./transport/webrepl:FuzzWebREPLRecords:2000 ./transport/internal/ws:FuzzReadFrames:30000 \
	./cells:FuzzSplit:30000 ./cells:FuzzCellTraceback:30000 \
	./devices:FuzzParse:40000 ./plot:FuzzParse:15000
FUZZTIME ?= 1m
# $(1) is -fuzztime: a duration, or "count" for each target's own count;
# $(2) is -fuzzminimizetime. -run '^$$': only the target (its seeds
# first), not the package's tests.
define fuzz-each
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; ft=$(1); \
		if [ "$$ft" = count ]; then ft=$${rest##*:}x; fi; \
		echo "fuzz $$pkg $$name for $$ft"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $$ft -fuzzminimizetime $(2) -timeout 10m $$pkg; \
	done
endef

fuzz:
	$(call fuzz-each,$(FUZZTIME),1m)

# In make test: each target for a count of inputs, not a time: go1.26's
# fuzzer can end a timed run with a spurious "context deadline exceeded"
# on a loaded machine (go.dev/issue/75804), and a count has no deadline.
test-fuzz:
	$(call fuzz-each,count,2000x)

# The soak: SOAK_CELLS cells on the virtual board and as many on the wasm
# test board, with resets and link drops (cells/soak_test.go), in about a
# minute; plain go test runs a short one.
SOAK_CELLS ?= 10000
test-soak: node
	IOT_TEST_SOAK=$(SOAK_CELLS) $(GO) test -count=1 -timeout 10m -run '^TestSoak' -v ./cells

test-protocol: build venv node
	IOT_KERNEL_BIN=$(CURDIR)/bin/iot-kernel IOT_TESTBOARD_BIN=$(CURDIR)/bin/testboard \
		$(VPY) -m pytest -q -p no:cacheprovider tests/protocol

# The same conformance tests against Debian's older jupyter_client 7.4 stack.
test-protocol-debian: build node
	IOT_KERNEL_BIN=$(CURDIR)/bin/iot-kernel IOT_TESTBOARD_BIN=$(CURDIR)/bin/testboard \
		$(DEBPY) -m pytest -q -p no:cacheprovider tests/protocol

# The shipped notebooks replayed as a user's CI replays them: the step runs
# `bin/iot-kernel replay --board sim notebooks/*.ipynb --junit ...` with a
# devices file naming the notebooks' boards and local stand-ins for the
# web hosts they read (scripts/replay_notebooks.py). Then the same
# notebooks on the emulated test boards over each link (iot-kernel replay
# too), and through the Jupyter clients users test with: papermill, and
# pytest --nbval-lax (nbval pinned in requirements.txt).
test-notebooks: build venv node
	@mkdir -p build
	$(VPY) scripts/replay_notebooks.py --kernel bin/iot-kernel -- notebooks/*.ipynb --junit build/replay-report.xml
	IOT_KERNEL_BIN=$(CURDIR)/bin/iot-kernel IOT_TESTBOARD_BIN=$(CURDIR)/bin/testboard \
		$(VPY) -m pytest -q -p no:cacheprovider tests/notebooks

test-browser: build venv node
	IOT_KERNEL_BIN=$(CURDIR)/bin/iot-kernel IOT_TESTBOARD_BIN=$(CURDIR)/bin/testboard \
		VENV=$(abspath $(VENV)) node --test tests/browser/lab.test.mjs tests/browser/sockets.test.mjs tests/browser/plot.test.mjs tests/browser/timer.test.mjs

## Benchmarks ------------------------------------------------------------------

# Every benchmark in turn (bench/run.py lists them with their targets);
# bench/RESULTS.md gets the figures and the command that made each.
bench: build venv node
	$(VPY) bench/run.py

clean:
	rm -rf bin sim/runtime
