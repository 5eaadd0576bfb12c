# The bundled shapes model: demo and localisation benchmark.

SHAPES := examples/shapes
SHAPES_MODEL := $(SHAPES)/shapes-rn.pt
SHAPES_VOCAB := $(SHAPES)/shapes-vocab.txt.gz
# Held-out scenes use seeds far from the training seeds.
HELDOUT_SEED := 900001

$(B)/evaluate: $(SHAPES)/evaluate.c $(B)/libgscorecam.so
	$(CC) -std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE -Iinclude -o $@ $< -L$(B) -lgscorecam \
	    -Wl,-rpath,'$$ORIGIN' -lm

.PHONY: demo evaluate demo-run

demo: deps
	@$(MAKE) --no-print-directory demo-run

demo-run: all
	@sh $(SHAPES)/demo.sh $(B) $(PYTHON)

# The table of docs/RESULTS.md: 500 held-out scenes with two or three objects.
evaluate: all $(B)/evaluate
	@mkdir -p $(B)/heldout
	$(PYTHON) $(SHAPES)/scenes.py --seed $(HELDOUT_SEED) --count 500 --min-objects 2 --max-objects 3 \
	    --out $(B)/heldout
	$(B)/evaluate --model $(SHAPES_MODEL) --vocab $(SHAPES_VOCAB) --scenes $(B)/heldout --limit 500 \
	    --grid docs/results-grid.png
