# gatehouse — one entry point. See README.md.
#   make run    install missing packages, build, start the embedded Postgres (when DATABASE_URL is unset), serve
#   make test   the same set-up, then the whole suite through prove
#   make check  validate the policy files offline (like nginx -t), then the layers of runtime/ (runtime/tools/layers.pl)
#   make test-at AT='2026-12-12 22:00:00'  the same suite with every process's clock starting at AT (libfaketime):
#               the suite must pass on a Saturday night as on a Wednesday afternoon (README "The clock")
#   make asan   build with AddressSanitizer + UBSan and run the suite against that build
#   make acceptance  the seven proofs of PRODUCT.md §7, written to docs/ACCEPTANCE.md
#   make faults the fault suite (spec/faults: database killed, gatehouse killed, hostile providers, runaway policies)
#   make fuzz   the libFuzzer targets of spec/fuzz, FUZZ_SECONDS (60) each, with ASan + UBSan
#   make valgrind  gatehouse serve under valgrind: no leak at shutdown, no invalid access
#   make bench  measure every PRODUCT.md §8 target (bench/bench.sh; results in docs/PERFORMANCE.md)
#   make soak   200 connections for 60 s mixing status reads, verifies and ticks (bench/soak.sh)
#   make fleet  3 instances share 600 PAPER bots; kill -9, SIGSTOP/SIGCONT, a join: the hand-over table (bench/fleet.sh)
VARIANT ?= release
BUILD   := build/$(VARIANT)
PKGS    := lua5.4 lua5.4-cjson libevent libcurl libpq libsodium libcrypto jansson zlib

CC      ?= cc
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -D_GNU_SOURCE
ifeq ($(VARIANT),asan)
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else ifeq ($(VARIANT),fuzz)
CC      := clang
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
else
OPT     := -O2 -g
endif
# the build's version (GET /api/system/instances): the commit it was built from
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
CFLAGS  += $(WARN) $(OPT) -Iruntime -DGATEHOUSE_VERSION='"$(VERSION)"'
LDLIBS  += -lm

SRCS    := $(wildcard runtime/*.c)
OBJS    := $(patsubst runtime/%.c,$(BUILD)/%.o,$(SRCS))
LIBOBJS := $(filter-out $(BUILD)/main.o,$(OBJS))
TESTS   := $(patsubst spec/unit/%.c,$(BUILD)/spec/%,$(wildcard spec/unit/test_*.c))
ifeq ($(VARIANT),release)
BINARY  := bin/gatehouse
else
BINARY  := $(BUILD)/gatehouse
endif

.PHONY: all deps build run test test-at check asan faults fuzz fuzz-build valgrind clean format openapi web acceptance bench soak bench-tools
all: build

deps:
	@runtime/tools/deps.sh

build: $(BINARY) $(TESTS)

# pkg-config is resolved lazily so that `make deps` can run before the libraries exist.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))

$(BUILD)/%.o: runtime/%.c $(wildcard runtime/*.h) | $(BUILD)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BINARY): $(OBJS)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -o $@ $(OBJS) $(PKG_LIBS) $(LDLIBS)

$(BUILD)/spec/%: spec/unit/%.c $(LIBOBJS) spec/unit/tap.h
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS) -Ispec/unit $(PKG_CFLAGS) -o $@ $< $(LIBOBJS) $(PKG_LIBS) $(LDLIBS)

$(BUILD):
	@mkdir -p $@

run: deps
	@$(MAKE) --no-print-directory build web
	@runtime/tools/run.sh

test: deps
	@$(MAKE) --no-print-directory build web
	@GATEHOUSE_BIN=$(abspath $(BINARY)) GH_UNIT_DIR=$(abspath $(BUILD)/spec) spec/run.sh

# The build runs at the real time; only the suite runs with the moved clock (make and npm would otherwise
# judge file times and TLS certificates by it). The clock is moved by one offset for every process (libfaketime's
# "+Ns"), so processes started later in the run agree with the ones started first.
test-at: deps
	@test -n "$(AT)" || { echo "make test-at: set AT, e.g. make test-at AT='2026-12-12 22:00:00' (a Saturday)" >&2; exit 2; }
	@runtime/tools/deps.sh faketime
	@$(MAKE) --no-print-directory build web
	@at=$$(date -u -d "$(AT)" +%s) || exit 2; off=$$(( at - $$(date -u +%s) )); \
	  echo "make test-at: the suite's clock starts at $$(date -u -d @$$at '+%A %Y-%m-%dT%H:%M:%SZ') (offset $${off} s)"; \
	  GATEHOUSE_BIN=$(abspath $(BINARY)) GH_UNIT_DIR=$(abspath $(BUILD)/spec) \
	  faketime -f "$$( [ $$off -ge 0 ] && echo +)$${off}s" spec/run.sh

check: deps
	@$(MAKE) --no-print-directory build
	@GATEHOUSE_HOME=$(CURDIR) $(BINARY) check
	@perl runtime/tools/layers.pl runtime
	@clang-format --dry-run -Werror runtime/*.c runtime/*.h spec/unit/*.c spec/unit/*.h

asan: deps
	@$(MAKE) --no-print-directory VARIANT=asan test

faults: deps
	@$(MAKE) --no-print-directory build
	@GATEHOUSE_BIN=$(abspath $(BINARY)) GH_UNIT_DIR=$(abspath $(BUILD)/spec) GH_SPEC=spec/faults GH_SPEC_JOBS=1 spec/run.sh

valgrind: deps
	@runtime/tools/deps.sh valgrind
	@$(MAKE) --no-print-directory build
	@GATEHOUSE_BIN=$(abspath $(BINARY)) GH_SPEC=spec/faults/20_valgrind.t spec/run.sh

# libFuzzer targets: spec/fuzz/fuzz_NAME.c linked with every runtime object (built with clang, ASan + UBSan),
# run by spec/fuzz/run.sh on the seeds in spec/fuzz/corpus/NAME.
FUZZ_SECONDS ?= 60
FUZZERS := $(patsubst spec/fuzz/%.c,build/fuzz/%,$(wildcard spec/fuzz/fuzz_*.c))

fuzz:
	@runtime/tools/deps.sh fuzz
	@$(MAKE) --no-print-directory VARIANT=fuzz fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) spec/fuzz/run.sh $(FUZZERS)

fuzz-build: $(FUZZERS)

# the route table of main.c ({"GET", "/path", handler, HTTP_ACCESS_X} rows), handlers dropped, for fuzz_route;
# fails when a row of main.c does not have that shape (so a changed row format cannot silently shrink the table)
build/fuzz/routes.inc: runtime/main.c | build/fuzz
	@sed -n 's/^ *{\("[A-Z]*", *"[^"]*"\), *[A-Za-z_0-9]*, *\(HTTP_ACCESS_[A-Z_0-9]*\)},.*$$/    {\1, NULL, \2},/p' $< > $@.tmp
	@rows=$$(grep -c '^ *{"[A-Z]*", *"/' $<); got=$$(wc -l < $@.tmp); \
	  if [ "$$got" -eq 0 ] || [ "$$got" -ne "$$rows" ]; then \
	    echo "routes.inc: $$got of $$rows route rows of $< parsed; update the sed in the Makefile" >&2; rm -f $@.tmp; exit 1; fi
	@mv $@.tmp $@

build/fuzz/fuzz_%: spec/fuzz/fuzz_%.c $(LIBOBJS) build/fuzz/routes.inc
	@echo "  FUZZ    $@"
	@$(CC) $(CFLAGS) -fsanitize=fuzzer -Ibuild/fuzz $(PKG_CFLAGS) -o $@ $< $(LIBOBJS) $(PKG_LIBS) $(LDLIBS)

openapi:
	node runtime/tools/openapi.mjs --write

# the seven proofs of PRODUCT.md §7 against the real server, Postgres and the simulator → docs/ACCEPTANCE.md
.PHONY: acceptance
acceptance: deps
	@$(MAKE) --no-print-directory build
	@GATEHOUSE_BIN=$(abspath $(BINARY)) spec/run.sh --exec perl spec/acceptance/acceptance.pl --out docs/ACCEPTANCE.md
# bench/: load and comparison tools (see bench/bench.sh). gates_bench links the runtime like a unit test.
BENCH_TOOLS := $(BUILD)/bench/gen_events $(BUILD)/bench/static_evhttp $(BUILD)/bench/loadgen $(BUILD)/bench/gates_bench
bench-tools: $(BENCH_TOOLS)

$(BUILD)/bench/gen_events: bench/gen_events.c
	@mkdir -p $(dir $@)
	@$(CC) $(WARN) -O2 -o $@ $<
$(BUILD)/bench/loadgen: bench/loadgen.c
	@mkdir -p $(dir $@)
	@$(CC) $(WARN) -O2 -pthread -o $@ $<
$(BUILD)/bench/static_evhttp: bench/static_evhttp.c
	@mkdir -p $(dir $@)
	@$(CC) $(WARN) -O2 $(shell pkg-config --cflags libevent) -o $@ $< $(shell pkg-config --libs libevent)
$(BUILD)/bench/gates_bench: bench/gates_bench.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	@$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(LIBOBJS) $(PKG_LIBS) $(LDLIBS)

bench: deps
	@$(MAKE) --no-print-directory build bench-tools
	@GATEHOUSE_BIN=$(abspath $(BINARY)) BENCH_TOOLS=$(abspath $(BUILD)/bench) bench/bench.sh

soak: deps
	@$(MAKE) --no-print-directory build bench-tools
	@GATEHOUSE_BIN=$(abspath $(BINARY)) BENCH_TOOLS=$(abspath $(BUILD)/bench) bench/soak.sh

.PHONY: fleet
fleet: deps
	@$(MAKE) --no-print-directory build bench-tools
	@GATEHOUSE_BIN=$(abspath $(BINARY)) BENCH_TOOLS=$(abspath $(BUILD)/bench) bench/fleet.sh

format:
	clang-format -i runtime/*.c runtime/*.h spec/unit/*.c spec/unit/*.h

clean:
	rm -rf build bin web/dist

# The web Observatory: npm ci from the committed package-lock.json (only when it changed), then esbuild
# bundles web/src into web/dist (only when a source changed). No browser or CDN download.
WEB_SRCS := web/index.html web/build.mjs $(shell find web/src -type f 2>/dev/null)
web: web/dist/index.html
node_modules/.package-lock.json: package-lock.json package.json
	@echo "  NPM     ci"
	@PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	@touch $@
web/dist/index.html: $(WEB_SRCS) node_modules/.package-lock.json
	@echo "  WEB     web/dist"
	@node web/build.mjs
