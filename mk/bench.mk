# Benchmark: time per map of each method on a full-size RN50 with random
# weights and on the bundled shapes model, against the lower bound of the
# same work and the Python reference. Options go in BENCH_ARGS, for example
# make bench BENCH_ARGS="--runs 3 --no-reference" (see bench/bench.c).

BENCH_BIN := $(B)/bench/bench
BENCH_ARGS ?=

$(BENCH_BIN): bench/bench.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(LINK_LIBS)

bench: $(BENCH_BIN) $(FIXTURES)/RN50.pt
	PYTHON=$(PYTHON) $(BENCH_BIN) --rn50 $(FIXTURES)/RN50.pt $(BENCH_ARGS)
