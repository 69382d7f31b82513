# QuantWatch — build, test, demo. `make test` and `make demo` work on a fresh Debian or
# Raspberry Pi OS machine with Swift installed: missing apt packages are installed first.
SWIFT ?= swift
BIN_DIR = $(shell $(SWIFT) build -c release --show-bin-path 2>/dev/null)

.PHONY: all deps build release test test-arm64 demo clean fixtures proto install uninstall

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

## About 1.5 minutes: eval on the patches fixture, then a mosquitto broker on a free loopback port, the
## daemon on camera-like frames through a FIFO, and `quantwatch watch`; halfway the frames drift (contrast
## doubled) and the device turns from ok to drift. Keeps .build/demo/metrics.db (scripts/demo.sh).
## DEMO_SECONDS=N runs the daemon N s instead of 60.
demo: release
	@scripts/demo.sh "$(BIN_DIR)/quantwatch"

## Regenerate the committed fixtures (needs Python with Fixtures/requirements.txt; not part of `make test`).
fixtures:
	python3 Fixtures/generate.py
	python3 Fixtures/conformance/generate.py

## Regenerate Sources/ONNXProto from onnx.proto (needs protoc; not part of `make test`).
proto:
	scripts/generate-onnx-proto.sh

## Install the daemon: binary, systemd unit, configuration (kept when present), the `quantwatch` system user.
## `make release && sudo make install`; packagers: `make install DESTDIR=/tmp/pkg PREFIX=/usr BINARY=…` (docs/systemd.md).
PREFIX ?= /usr/local
DESTDIR ?=
BINARY ?=
BINDIR ?= $(PREFIX)/bin
UNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,/etc/systemd/system)
SYSUSERSDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/sysusers.d,/etc/sysusers.d)
CONFDIR ?= /etc/quantwatch
STATEDIR ?= /var/lib/quantwatch

install: $(if $(BINARY),,release)
	install -D -m 0755 "$(or $(BINARY),$(BIN_DIR)/quantwatch)" "$(DESTDIR)$(BINDIR)/quantwatch"
	install -d -m 0755 "$(DESTDIR)$(UNITDIR)" "$(DESTDIR)$(SYSUSERSDIR)" "$(DESTDIR)$(CONFDIR)"
	sed 's|/usr/local/bin/quantwatch|$(BINDIR)/quantwatch|' systemd/quantwatch.service > "$(DESTDIR)$(UNITDIR)/quantwatch.service"
	chmod 0644 "$(DESTDIR)$(UNITDIR)/quantwatch.service"
	install -m 0644 systemd/quantwatch.sysusers "$(DESTDIR)$(SYSUSERSDIR)/quantwatch.conf"
	[ -e "$(DESTDIR)$(CONFDIR)/quantwatch.toml" ] || install -m 0644 Config/quantwatch.toml "$(DESTDIR)$(CONFDIR)/quantwatch.toml"
	install -d -m 0750 "$(DESTDIR)$(STATEDIR)" "$(DESTDIR)$(STATEDIR)/models"
	@if [ -z "$(DESTDIR)" ]; then \
	    if command -v systemd-sysusers >/dev/null; then systemd-sysusers "$(SYSUSERSDIR)/quantwatch.conf"; \
	    else getent passwd quantwatch >/dev/null || useradd --system --user-group --home-dir "$(STATEDIR)" --no-create-home --shell /usr/sbin/nologin quantwatch; \
	         ! getent group video >/dev/null || usermod -a -G video quantwatch; fi; \
	    chown -R quantwatch:quantwatch "$(STATEDIR)"; \
	    [ ! -d /run/systemd/system ] || systemctl daemon-reload; \
	    echo "installed; edit $(CONFDIR)/quantwatch.toml, then: systemctl enable --now quantwatch"; \
	fi

## Remove what `install` put in place except the configuration and the state (models, the metric buffer).
uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl disable --now quantwatch 2>/dev/null || true; fi
	rm -f "$(DESTDIR)$(BINDIR)/quantwatch" "$(DESTDIR)$(UNITDIR)/quantwatch.service" "$(DESTDIR)$(SYSUSERSDIR)/quantwatch.conf"
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "kept $(DESTDIR)$(CONFDIR) and $(DESTDIR)$(STATEDIR) (remove them and the quantwatch user by hand if wanted)"

clean:
	$(SWIFT) package clean
