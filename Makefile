# Thin wrapper over meson + ninja: the targets are what a newcomer types.
#   make demo          build and show it working
#   make check         all tests: -Werror build, ASan+UBSan build, fuzz corpora, short fuzz runs
#   make bench         weft-wg against wireguard-go in network namespaces, with ratios
#   make bench-crypto  crypto and engine throughput against `openssl speed`
#   make bench-control the control plane: joins, view propagation, idle CPU (namespaces)
#   make bench-nat     NAT traversal: time to a path per NAT case, relayed vs direct, idle STUN
#   make fuzz          longer libFuzzer runs (FUZZ_SECONDS each, default 300)
#   make windows       cross-build for x86_64 Windows (mingw-w64); check-windows runs its tests under Wine
#   make install       meson install of $(BUILD) with PREFIX (default /usr/local) into DESTDIR
#   make deb           the Debian package (debian/, dpkg-buildpackage) in build-deb/
# Every target installs the Debian packages it needs first (scripts/deps.sh).

BUILD       ?= build
ASAN_BUILD  ?= build-asan
FUZZ_BUILD  ?= build-fuzz
BENCH_BUILD ?= build-release
WIN_BUILD   ?= build-win
FUZZ_SECONDS ?= 20

SAN_FLAGS = -Db_sanitize=address,undefined -Db_lundef=false \
	    -Dc_args=-fno-sanitize-recover=all -Dc_link_args=-fno-sanitize-recover=all
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1

PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: install deb
.PHONY: all deps build demo demo-engine check check-build check-asan check-fuzz bench bench-build bench-crypto bench-control bench-nat fuzz clean format \
	windows check-windows

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=true

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	@scripts/demo.sh

# The pure engine on its own: two engines handshake and exchange packets in memory.
demo-engine: build
	$(BUILD)/tools/weft-engine-demo

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Dwerror=true $(SAN_FLAGS)

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true -Dtests=false $(SAN_FLAGS)

check-build: build
	meson test -C $(BUILD) --print-errorlogs --num-processes 2

check-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2

# Each libFuzzer target runs FUZZ_SECONDS on a scratch copy of its corpus.
check-fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	scripts/run-fuzzers.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

check: deps
	@scripts/check.sh

bench-build: deps
	@test -f $(BENCH_BUILD)/build.ninja || meson setup $(BENCH_BUILD) --buildtype=release -Dtests=false
	ninja -C $(BENCH_BUILD)

bench: bench-build
	WEFT_WG=$(BENCH_BUILD)/src/daemon/weft-wg scripts/bench.py

# The control plane: join time, view propagation, idle CPU and RSS of 3- and 20-node clusters.
bench-control: build
	WEFT_WG=$(BUILD)/src/daemon/weft-wg bench/control.sh

# NAT traversal: time to a direct or relayed path per NAT case, relay cost, idle messages.
bench-nat: build
	WEFT_WG=$(BUILD)/src/daemon/weft-wg bench/nat.sh

bench-crypto: bench-build
	scripts/bench-crypto.sh $(BENCH_BUILD)

# OpenSSL libcrypto and cmocka for mingw are built once into $(WIN_BUILD)/_deps (see the script).
windows:
	BUILD_WIN=$(WIN_BUILD) scripts/windows.sh build

check-windows:
	BUILD_WIN=$(WIN_BUILD) scripts/windows.sh test

fuzz: FUZZ_SECONDS = 300
fuzz: check-fuzz

# Binaries, systemd units, man pages, bash completion. The build directory's prefix is set to
# PREFIX first (weft looks for weftd in PREFIX/bin; the units name PREFIX/bin).
install: build
	meson configure $(BUILD) -Dprefix=$(PREFIX)
	ninja -C $(BUILD)
	meson install -C $(BUILD) --no-rebuild $(if $(DESTDIR),--destdir $(DESTDIR))

deb:
	@scripts/deps.sh deb
	scripts/deb.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(BENCH_BUILD) $(WIN_BUILD) build-deb
