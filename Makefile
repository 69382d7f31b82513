# QuantWatch — build, test, demo. `make test` and `make demo` work on a fresh Debian or
# Raspberry Pi OS machine with Swift installed: missing apt packages are installed first.
SWIFT ?= swift
BIN_DIR = $(shell $(SWIFT) build -c release --show-bin-path 2>/dev/null)

.PHONY: all deps build release test test-arm64 demo clean fixtures proto

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product quantwatch

## Build and run every test (what CI runs), then the aarch64 cross-check.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test
	@SWIFT="$(SWIFT)" scripts/test-arm64.sh

## The kernels compiled for aarch64 (Embedded Swift, cortex-a72 and cortex-a76), run under qemu-user,
## compared with the host's outputs (see scripts/test-arm64.sh).
test-arm64: deps
	@SWIFT="$(SWIFT)" scripts/test-arm64.sh

## Show what is real today: inspect and infer on the bundled fixtures.
demo: release
	@scripts/demo.sh "$(BIN_DIR)/quantwatch"

## Regenerate the committed fixtures (needs Python with Fixtures/requirements.txt; not part of `make test`).
fixtures:
	python3 Fixtures/generate.py
	python3 Fixtures/conformance/generate.py

## Regenerate Sources/ONNXProto from onnx.proto (needs protoc; not part of `make test`).
proto:
	scripts/generate-onnx-proto.sh

clean:
	$(SWIFT) package clean
