# gatehouse — one entry point. See README.md.
#   make run    install missing packages, build, start the embedded Postgres (when DATABASE_URL is unset), serve
#   make test   the same set-up, then the whole suite through prove
#   make check  validate the policy files offline (like nginx -t)
#   make asan   build with AddressSanitizer + UBSan and run the suite against that build
#   make bench  measure every PRODUCT.md §8 target (bench/bench.sh; results in docs/PERFORMANCE.md)
#   make soak   200 connections for 60 s mixing status reads, verifies and ticks (bench/soak.sh)
VARIANT ?= release
BUILD   := build/$(VARIANT)
PKGS    := lua5.4 lua5.4-cjson libevent libcurl libpq libsodium libcrypto jansson

CC      ?= cc
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -D_GNU_SOURCE
ifeq ($(VARIANT),asan)
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
OPT     := -O2 -g
endif
CFLAGS  += $(WARN) $(OPT) -Iruntime
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

.PHONY: all deps build run test check asan clean format openapi bench soak bench-tools
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
	@$(MAKE) --no-print-directory build
	@runtime/tools/run.sh

test: deps
	@$(MAKE) --no-print-directory build
	@GATEHOUSE_BIN=$(abspath $(BINARY)) GH_UNIT_DIR=$(abspath $(BUILD)/spec) spec/run.sh

check: deps
	@$(MAKE) --no-print-directory build
	@GATEHOUSE_HOME=$(CURDIR) $(BINARY) check

asan: deps
	@$(MAKE) --no-print-directory VARIANT=asan test

openapi:
	node runtime/tools/openapi.mjs --write

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

format:
	clang-format -i runtime/*.c runtime/*.h spec/unit/*.c spec/unit/*.h

clean:
	rm -rf build bin
