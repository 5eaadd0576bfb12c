# Fuzzing with libFuzzer (clang), AddressSanitizer and UBSan.
#
#   make fuzz [FUZZ_SECONDS=60]     build the harnesses, then run each for N seconds
#   make fuzz-build                 build them only
#   build-fuzz/fuzz_image CRASH     replay one input
#
# The library's own C and C++ objects are compiled again with the fuzzing
# flags into $(FB). Debian's libtorch cannot be instrumented (it is a
# prebuilt binary), so fuzz_archive links the instrumented shim against the
# plain libtorch: coverage covers our archive checks, and crashes inside
# libtorch are still caught. Each run starts from seeds generated into
# $(FB)/seeds plus the regression corpus in tests/corpus/<harness>/, and
# writes new crashes, leaks, hangs and out-of-memory inputs into
# $(FB)/findings/<harness>/. Copy each one into tests/corpus/<harness>/,
# where `make check` replays it.

FUZZ_CC ?= clang
FUZZ_CXX ?= clang++
FUZZ_SECONDS ?= 60
FB := build-fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -g -O1 -fsanitize=fuzzer-no-link $(FUZZ_SAN) -D_GNU_SOURCE -Iinclude -Ilib -Ishim \
               $(DEP_CFLAGS)
# The vptr check would need type information from libtorch, which is not
# instrumented.
FUZZ_CXXFLAGS := -std=c++17 -g -O1 -fsanitize=fuzzer-no-link $(FUZZ_SAN) -fno-sanitize=vptr -Ishim $(TORCH_INC)
FUZZ_LDFLAGS := -fsanitize=fuzzer $(FUZZ_SAN)

# Per-input limits: a 10-second timeout catches hangs, the memory limit
# catches allocations the library's own limits should have stopped.
# tests/lsan.supp hides a leak inside libtorch that no caller can avoid.
FUZZ_RUN_FLAGS := -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
FUZZ_MAX_LEN_fuzz_image := 65536
FUZZ_MAX_LEN_fuzz_tokenizer := 4096
FUZZ_MAX_LEN_fuzz_archive := 300000

FUZZ_HARNESSES := fuzz_image fuzz_tokenizer fuzz_archive
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FB)/%.o)
FUZZ_SHIM_OBJ := $(SHIM_SRC:%.cpp=$(FB)/%.o)
FUZZ_SEEDS := $(FB)/seeds/.done

.PHONY: fuzz fuzz-build

$(FB)/lib/%.o: lib/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FB)/shim/%.o: shim/%.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -MMD -MP -c $< -o $@

$(FB)/fuzz/%.o: fuzz/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FB)/fuzz_%: $(FB)/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ) $(FUZZ_SHIM_OBJ)
	$(FUZZ_CXX) $(FUZZ_LDFLAGS) -o $@ $< $(FUZZ_LIB_OBJ) $(FUZZ_SHIM_OBJ) $(LINK_LIBS)

$(FUZZ_SEEDS): fuzz/make_seeds.py tests/python/hostile_archives.py
	rm -rf $(FB)/seeds
	$(PYTHON) fuzz/make_seeds.py $(FB)/seeds
	@touch $@

fuzz-build: $(FUZZ_HARNESSES:%=$(FB)/%)

# Runs at the lowest priority, one harness after another.
fuzz: fuzz-build $(FUZZ_SEEDS)
	@for h in $(FUZZ_HARNESSES); do \
	    mkdir -p $(FB)/corpus/$$h $(FB)/findings/$$h tests/corpus/$$h; \
	    echo "fuzz: $$h for $(FUZZ_SECONDS) s"; \
	    max_len=$$(case $$h in fuzz_image) echo $(FUZZ_MAX_LEN_fuzz_image);; \
	        fuzz_tokenizer) echo $(FUZZ_MAX_LEN_fuzz_tokenizer);; *) echo $(FUZZ_MAX_LEN_fuzz_archive);; esac); \
	    GSCAM_SHARED=$(GSCAM_SHARED) LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) \
	        nice -n 19 $(FB)/$$h $(FUZZ_RUN_FLAGS) -max_len=$$max_len \
	        -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FB)/findings/$$h/ \
	        $(FB)/corpus/$$h $(FB)/seeds/$$h tests/corpus/$$h || exit 1; \
	done

-include $(shell find $(FB) -name '*.d' 2>/dev/null)

# Keep the instrumented objects between runs; make would delete them as
# intermediate files of the pattern rules.
.SECONDARY: $(FUZZ_LIB_OBJ) $(FUZZ_SHIM_OBJ) $(FUZZ_HARNESSES:%=$(FB)/fuzz/%.o)
