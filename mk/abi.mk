# ABI of libgscorecam.so: the committed baseline and the checks against it.
#
#   make abi-baseline    rewrite abi/ from the current build (a deliberate act:
#                        commit the result with the release that changes it)
#   make abi-check       only the ABI, header and documentation tests
#
# The baseline is the abidw dump of the exported functions and the types they
# reach, plus the integer constants of the header. abidw also describes the
# C++ translation units of shim/, which export nothing; their parts are cut out
# so the baseline changes only when the public interface does. Paths and
# compilation folders are left out, so any build folder gives the same file.

ABI_BASELINE := abi/$(SONAME).abi
ABI_CONSTANTS := abi/constants.txt
ABIDW_FLAGS := --no-corpus-path --no-comp-dir-path --no-show-locs --type-id-style hash \
               --headers-dir include --drop-private-types --drop-undefined-syms
ABI_TESTS := tests/abi_exports_test.sh tests/abi_baseline_test.sh tests/api_docs_test.sh \
             tests/header_compile_test.sh

.PHONY: abi-baseline abi-check

abi-baseline: $(SO_REAL)
	abidw $(ABIDW_FLAGS) $(SO_REAL) \
	    | awk '/<abi-instr .*LANG_C_plus_plus/ { skip = 1 } !skip { print } skip && /<\/abi-instr>/ { skip = 0 }' \
	    > $(ABI_BASELINE).tmp
	mv $(ABI_BASELINE).tmp $(ABI_BASELINE)
	sh abi/constants.sh $(VERSION_H) > $(ABI_CONSTANTS)
	@echo "wrote $(ABI_BASELINE) and $(ABI_CONSTANTS); review git diff abi/ before committing"

# Exit status 77 is a skipped test, as in tests/run.sh.
abi-check: all
	@for t in $(ABI_TESTS); do \
	    GSCAM_BUILD=$(abspath $(B)) sh $$t; rc=$$?; \
	    [ $$rc -eq 0 ] || [ $$rc -eq 77 ] || { echo "FAILED: $$t (exit $$rc)"; exit 1; }; \
	done
