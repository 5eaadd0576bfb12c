# Runtime settings for `make check SANITIZE=address,undefined` (use a build
# folder of its own, B=build-san, so the objects are not mixed).
#
# Debian's libtorch is not instrumented, yet AddressSanitizer still checks
# every allocation and our own loads and stores. LeakSanitizer stays on: the
# suppressions in tests/lsan.supp cover only blocks that libtorch and the
# libraries below it allocate on their own. Python cannot load an
# instrumented library unless the ASan runtime is loaded first, so
# tests/run.sh preloads $(GSCAM_SAN_PRELOAD) into the Python tests only, with
# leak detection off there (the interpreter does not free its objects at
# exit). valgrind_test.sh skips itself, since valgrind cannot run ASan code.

ifneq ($(findstring address,$(SANITIZE)),)
export ASAN_OPTIONS := detect_leaks=1:abort_on_error=0:detect_odr_violation=0:$(ASAN_OPTIONS)
export LSAN_OPTIONS := suppressions=$(abspath tests/lsan.supp):print_suppressions=0:$(LSAN_OPTIONS)
# libstdc++ is preloaded too: ASan finds the real __cxa_throw only in
# libraries loaded before it starts, and Python itself does not link libstdc++.
export GSCAM_SAN_PRELOAD := $(shell $(CC) -print-file-name=libasan.so):$(shell $(CXX) -print-file-name=libstdc++.so)
endif
ifneq ($(SANITIZE),)
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1:$(UBSAN_OPTIONS)
export GSCAM_SANITIZE := $(SANITIZE)
endif
