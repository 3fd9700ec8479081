# Makefile -- the developer's entry points; CMake does the building (see README.md).
#
#   make deps         install the Debian packages (scripts/install-deps.sh; idempotent)
#   make build        RelWithDebInfo build in build/ (BUILD_DIR=...) with -Werror
#   make test         deps + the whole suite: gcc, ASan+UBSan, fuzz smoke (scripts/run-tests.sh)
#   make asan         ASan+UBSan build in build-asan/ and its ctest run
#   make fuzz         clang + libFuzzer targets in build-fuzz/ and their smoke tests
#   make bench-api    REST API throughput/latency against the FastAPI baseline (never in test)
#   make bench-image  demo image unpack vs tar -x, registry pull vs skopeo copy (never in test)
#   make bench-inventory  demo inventory vs dpkg-query + dpkg -L; 20k-finding parse + bind
#   make bench-analyze    each phase of vexxy analyze on the demo image (root; never in test),
#                         then reach+vex alone on a synthetic 1k-package/200k-file/10k-finding case
#   make bench-sandbox    demo image: create -> health 200 and stop -> cleaned vs plain runc run
#   make bench-trace      nginx under load: untraced vs each tracer backend vs strace -f
#   make bench-scale      tiny analyses/minute with 1, 2, 4 workers on PostgreSQL; claim latency
#   make format       clang-format 14 in place; make format-check fails on any difference
#   make clean        remove the build directories

JOBS ?= 2
BUILD_DIR ?= build
CMAKE ?= cmake
CLANG_FORMAT ?= clang-format

FORMAT_FILES = $(shell find src tests -type d -name corpus -prune -o \
                 -type f \( -name '*.c' -o -name '*.h' \) -print 2>/dev/null | sort)

.PHONY: all deps build test asan fuzz bench-api bench-image bench-inventory bench-analyze bench-reach bench-sandbox bench-trace bench-scale format format-check clean

all: build

deps:
	scripts/install-deps.sh

build:
	$(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVX_WERROR=ON
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS)

test: deps
	scripts/run-tests.sh

asan:
	VX_PHASES=asan scripts/run-tests.sh

fuzz:
	VX_PHASES=fuzz scripts/run-tests.sh

bench-api:
	bench/bench-api.sh

bench-image:
	bench/bench-image.sh

bench-inventory:
	bench/bench-inventory.sh

bench-analyze:
	bench/bench-analyze.sh
	bench/bench-reach.sh

bench-reach:
	bench/bench-reach.sh

bench-sandbox:
	bench/bench-sandbox.sh

bench-trace:
	bench/bench-trace.sh

bench-scale:
	bench/bench-scale.sh

format:
	$(CLANG_FORMAT) --style=file -i $(FORMAT_FILES)

format-check:
	$(CLANG_FORMAT) --style=file --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf build build-asan build-fuzz build-bench
