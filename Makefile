# repae: `make run` (dashboard), `make test`, `make asan`, `make bench`, `make refs`, `make clean`.
CC       ?= gcc
# The default binary runs on any x86-64-v3 CPU (AVX2, FMA: Haswell, Zen 1 and later); the
# AVX-512 kernels are compiled for their own target and chosen at run time (src/ops/gemm.c).
# `make ARCH=native` targets this machine alone (src/base/cpu.c refuses other CPUs cleanly).
ARCH     ?= x86-64-v3
OPT      ?= -O3 -march=$(ARCH)
BUILD    ?= build
SAN      ?=
# The OpenMP build of OpenBLAS, explicitly: Debian's alternatives prefer the pthread build
# when both are installed, and mixing it with our OpenMP loops is ~10x slower on 2 cores.
OPENBLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
PKGS     := ncursesw sqlite3 libcjson libsixel zlib libpng
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# Open MPI (data-parallel training, src/train/dist.c): the wrapper compiler's own flags, or
# pkg-config's when mpicc is not on PATH. Linking it starts nothing: MPI_Init runs only in a
# process a launcher (mpirun, srun) started.
MPI_CFLAGS := $(shell mpicc --showme:compile 2>/dev/null || pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS   := $(shell mpicc --showme:link 2>/dev/null || pkg-config --libs ompi-c 2>/dev/null)
# -fno-trapping-math changes no value (no reassociation, no relaxed math; clang's default): it
# lets GCC turn the selects of the elementwise loops (ops/vecmath.h) into vector blends on
# AVX2, which it does under the default -ftrapping-math only with AVX-512 masks. Without it the
# x86-64-v3 build ran GroupNorm 5x slower than the native one.
CFLAGS   := -std=c11 -D_GNU_SOURCE -Wall -Wextra $(OPT) -fno-trapping-math -g -fopenmp $(SAN) -DREPAE_ARCH='"$(ARCH)"' \
            -I/usr/include/x86_64-linux-gnu/openblas-openmp $(PKG_CFLAGS) $(MPI_CFLAGS) -Isrc -I.
LDLIBS   := -L$(OPENBLAS_DIR) -Wl,-rpath,$(OPENBLAS_DIR) -lopenblas $(PKG_LIBS) $(MPI_LIBS) -lm -lpthread
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

.PHONY: all run test asan tsan bench refs clean deps deps-test tests layers
all: $(BUILD)/repae

deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test

# Objects depend on the flags they were compiled with: switching ARCH, OPT or SAN in one build
# tree rebuilds everything instead of mixing targets.
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS)' > $@.new; cmp -s $@.new $@ && rm -f $@.new || mv -f $@.new $@
FORCE:

$(BUILD)/%.o: %.c $(BUILD)/.flags
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
	@$(MAKE) --no-print-directory tests BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer -march=$(ARCH)" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run.sh build-asan

# The store, dashboard, app and training tests under ThreadSanitizer, in their own build tree
# (test_train itself takes over 10 minutes there: its cases are single-threaded OpenMP loops).
# OpenMP runs one thread there: libgomp is not instrumented, so its barriers would read as races;
# the threads under test are the dashboard's training threads and the store's writer threads.
TSAN_TESTS := test_store test_store_concurrent test_store_cli test_app_store_backend \
              test_app_store_file test_ui_app test_ui_chart test_train_step test_train_resume
tsan: deps-test
	@$(MAKE) --no-print-directory $(TSAN_TESTS:%=build-tsan/tests/%) build-tsan/repae BUILD=build-tsan \
		OPT="-O1 -fno-omit-frame-pointer -march=$(ARCH)" SAN="-fsanitize=thread"
	@OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1" \
		tests/run_some.sh build-tsan $(TSAN_TESTS)

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory $(BUILD)/repae $(BENCH_BIN)
	@experiments/bench/run.sh $(BUILD)

# Regenerates the PyTorch reference files under tests/ref (needs python3-torch).
refs:
	@scripts/deps.sh refs
	@for s in tests/gen_*.py; do echo "== $$s"; /usr/bin/python3 $$s || exit 1; done

clean:
	rm -rf build build-asan build-tsan

-include $(DEPFILES)
