# repae: `make run` (dashboard), `make test`, `make asan`, `make bench`, `make refs`, `make clean`.
CC       ?= gcc
OPT      ?= -O3 -march=native
BUILD    ?= build
SAN      ?=
# The OpenMP build of OpenBLAS, explicitly: Debian's alternatives prefer the pthread build
# when both are installed, and mixing it with our OpenMP loops is ~10x slower on 2 cores.
OPENBLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
PKGS     := ncursesw sqlite3 libcjson libsixel zlib libpng
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS   := -std=c11 -D_GNU_SOURCE -Wall -Wextra $(OPT) -g -fopenmp $(SAN) \
            -I/usr/include/x86_64-linux-gnu/openblas-openmp $(PKG_CFLAGS) -Isrc -I.
LDLIBS   := -L$(OPENBLAS_DIR) -Wl,-rpath,$(OPENBLAS_DIR) -lopenblas $(PKG_LIBS) -lm -lpthread
LDFLAGS  := -fopenmp $(SAN)

# ONLY="src/a.c src/b.c" restricts the library to the given files (plus the base ones), so one
# part can be built and tested while other parts are mid-edit.
# Layers: src/{base,ops,model,data,train,eval} are the core; store/ and ui/ stand beside it;
# src/app wires them together and src/cli is the binary (scripts/check_layers.sh enforces it).
BASE_SRC := $(wildcard src/base/*.c)
ifeq ($(ONLY),)
LIB_SRC  := $(filter-out src/cli/main.c,$(wildcard src/*/*.c)) $(wildcard store/*.c) $(wildcard ui/*.c)
else
LIB_SRC  := $(sort $(BASE_SRC) $(ONLY))
endif
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
# Code the tests share (helpers, the generated-runs dashboard backend), never in the product.
TESTLIB_SRC := $(filter-out $(TEST_SRC) tests/fake_dashboard.c,$(wildcard tests/*.c))
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/%.o)
BENCH_SRC := $(wildcard experiments/bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:experiments/bench/%.c=$(BUILD)/bench/%)
DEPFILES := $(LIB_OBJ:.o=.d) $(TESTLIB_OBJ:.o=.d) $(BUILD)/src/cli/main.d

.PHONY: all run test asan bench refs clean deps deps-test tests layers
all: $(BUILD)/repae

deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/librepae.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/repae: $(BUILD)/src/cli/main.o $(BUILD)/librepae.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libtests.a: $(TESTLIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h) $(BUILD)/libtests.a $(BUILD)/librepae.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libtests.a $(BUILD)/librepae.a $(LDLIBS)

$(BUILD)/bench/%: experiments/bench/%.c $(BUILD)/librepae.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/librepae.a $(LDLIBS)

layers:
	@scripts/check_layers.sh && echo "layers: every include goes down the layers"

tests: $(BUILD)/repae $(TEST_BIN) $(BUILD)/tests/fake_dashboard

run: deps
	@$(MAKE) --no-print-directory all
	./$(BUILD)/repae

test: deps-test
	@$(MAKE) --no-print-directory tests
	@tests/run.sh $(BUILD)

# The whole suite under AddressSanitizer and UBSan, in its own build tree.
asan: deps-test
	@$(MAKE) --no-print-directory tests BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run.sh build-asan

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory $(BUILD)/repae $(BENCH_BIN)
	@experiments/bench/run.sh $(BUILD)

# Regenerates the PyTorch reference files under tests/ref (needs python3-torch).
refs:
	@scripts/deps.sh refs
	@for s in tests/gen_*.py; do echo "== $$s"; /usr/bin/python3 $$s || exit 1; done

clean:
	rm -rf build build-asan

-include $(DEPFILES)
