# amihead front door. Every target installs missing Debian packages first
# (scripts/deps.sh, quiet when all is present), then configures and builds.
#
#   make demo    the main job: a simulated fleet read by the head-end
#   make test    sanitised build (ASan+UBSan) + unit, integration, fuzz tests
#   make build   release build, binaries in build/bin/
#   make bench   benchmarks, each a ratio to a ceiling measured in the same run
#   make fuzz    long libFuzzer campaign (FUZZ_SECONDS per target, default 600)

JOBS        ?= 2
# ctest slots: most integration tests wait on amisim's scaled clock (0.1
# core each on average), so eight at a time keep two cores busy (CPU-heavy
# tests claim more slots or run niced; docs/testing.md has the figures)
TEST_JOBS   ?= 8
FUZZ_SECONDS ?= 600
# each fuzz target's smoke run inside make test: the whole seed corpus, then
# mutations until this many seconds (the campaign is make fuzz)
FUZZ_SMOKE_SECONDS ?= 10
CMAKE       ?= cmake

PREFIX      ?= /usr/local

.PHONY: all deps build test demo bench fuzz format format-check clean install deb

all: build

deps:
	@sh scripts/deps.sh

build: deps
	@$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@MAKEFLAGS= $(CMAKE) --build build -j$(JOBS)

# The test build uses clang so the same tree carries ASan, UBSan and the
# libFuzzer targets (run for a bounded time as CTest cases).
build-test: deps
	@$(CMAKE) -S . -B build/test -DCMAKE_BUILD_TYPE=Debug \
	    -DCMAKE_C_COMPILER=clang -DAH_SANITIZE=ON -DAH_FUZZ=ON \
	    -DAH_FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) >/dev/null
	@MAKEFLAGS= $(CMAKE) --build build/test -j$(JOBS)

# The release build (gcc) is built too: its warnings are errors as well, and
# `make build` must never be broken by a change that only clang has seen.
# The two trees build side by side (-Otarget keeps each one's log in one
# piece; MAKEFLAGS= above keeps this -j2 out of CMake's own make): the
# configure, link and man-page steps are serial, and one tree's fill the
# other's idle core (115 -> 69 s and 203 -> 150 s wall here, docs/testing.md).
test: deps
	@$(MAKE) --no-print-directory -j2 -Otarget build build-test
	@cd build/test && ctest --output-on-failure -j$(TEST_JOBS)

# quiet: the build log is shown only when the build fails
demo: deps
	@$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@echo "building amihead and amisim (log: build/build.log)"
	@$(CMAKE) --build build -j$(JOBS) >build/build.log 2>&1 || { tail -n 40 build/build.log; exit 1; }
	@sh scripts/demo.sh

bench: build
	@sh bench/run.sh

fuzz: build-test
	@sh scripts/fuzz.sh build/test $(FUZZ_SECONDS)

# Install under PREFIX (config in PREFIX/etc/amihead; with PREFIX=/usr in
# /etc/amihead and the store in /var/lib/amihead). DESTDIR is honoured.
install: deps
	@$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@$(CMAKE) --build build -j$(JOBS)
	@$(CMAKE) --install build

# Debian package (CPack): build/deb/amihead_<version>_<arch>.deb
deb: deps
	@$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
	@$(CMAKE) --build build -j$(JOBS)
	@cd build && cpack -G DEB -B deb >/dev/null && ls $$PWD/deb/*.deb

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

# what .ci/run checks before make test: every C source as .clang-format says
format-check: deps
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	@rm -rf build

# 30 simulated days, 5,000 meters, amisim's default fault mix: RSS, fds and
# store size per day, fails on growth after day 1 (scripts/soak.py; ~30 min,
# not part of `make test`)
.PHONY: soak
soak: build
	@nice -n 5 python3 scripts/soak.py
