# Two commands do everything on a fresh machine: `make demo` and `make test`.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
FUZZ_TARGETS = manifest selector patch tar websocket dns http1 protobuf tls_hello schema spdy helm_template helm_release  # as in tests/fuzz/CMakeLists.txt

.PHONY: all deps build test sanitize demo clean bench fuzz
all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# Unit tests and fuzz replays under ASan+UBSan first, then the whole suite (unit, fuzz replays,
# end-to-end with the real binary and kubectl) on the normal build.
test: build sanitize
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

sanitize: deps
	@test -f $(ASAN_BUILD)/build.ninja || cmake -S . -B $(ASAN_BUILD) -G Ninja -DSKIFF_SANITIZE=ON -DSKIFF_WERROR=OFF -DCMAKE_CXX_FLAGS_RELWITHDEBINFO='-O1 -g1' $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target skiff_unit_tests $(addprefix fuzz_,$(FUZZ_TARGETS))
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  ctest -L 'unit|fuzz' --output-on-failure -j $(JOBS) --timeout 900

demo: build
	@scripts/demo.sh $(BUILD)/skiff

bench: build
	@bench/run-all.sh $(BUILD)

# Open-ended fuzzing with clang's libFuzzer (FUZZ_SECONDS per target); new inputs stay in $(FUZZ_BUILD).
fuzz: deps
	@test -f $(FUZZ_BUILD)/build.ninja || CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DSKIFF_LIBFUZZER=ON -DSKIFF_WERROR=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do mkdir -p $(FUZZ_BUILD)/corpus/$$t && cp tests/fuzz/corpus/$$t/* $(FUZZ_BUILD)/corpus/$$t/ && \
	  $(FUZZ_BUILD)/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 $(FUZZ_BUILD)/corpus/$$t || exit 1; done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
