# Tests: one Check program per module (tests/check_<area>.c), linked against
# every object of the library so internal functions can be tested too, plus
# Python-driven parity and command-line tests (tests/*.sh, tests/python/).

TEST_SRC := $(sort $(wildcard tests/check_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(B)/tests/%)
TEST_UTIL := tests/testutil.c
FIXTURES := $(B)/fixtures

$(B)/tests/%: tests/%.c $(TEST_UTIL) tests/testutil.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests $(CHECK_CFLAGS) -o $@ $< $(TEST_UTIL) $(STATIC) \
	    $(CHECK_LIBS) $(LINK_LIBS)

deps:
	@sh tests/install-deps.sh

# Archives with random weights, generated at test time and never committed:
# small ones for numerical parity, a full-size RN50 for the command line.
FIXTURE_ARCHS := small-rn small-vit RN50
FIXTURE_FILES := $(FIXTURE_ARCHS:%=$(FIXTURES)/%.pt)

$(FIXTURES)/%.pt: tests/python/make_archive.py tests/python/clip_archive.py
	@mkdir -p $(FIXTURES)
	$(PYTHON) tests/python/make_archive.py --arch $* --seed 1 --out $@

fixtures: $(FIXTURE_FILES)

check: deps
	@$(MAKE) --no-print-directory check-run

check-run: all $(STATIC) $(TEST_BIN) fixtures $(B)/evaluate
	@GSCAM_BUILD=$(abspath $(B)) PYTHON=$(PYTHON) sh tests/run.sh $(TEST_BIN)
