# libgscorecam - gScoreCAM maps for CLIP models, as a C library.
#
#   make                 library (build/libgscorecam.so*) and build/gscorecam
#   make check           every test (installs missing Debian packages first)
#   make demo            map on the bundled shapes model and a generated scene
#   make bench           benchmark table
#   make install PREFIX=/usr/local [DESTDIR=...] [LIBDIR=...] [INCLUDEDIR=...]

# The version lives in the header only; everything else reads it from there.
VERSION_H := include/gscorecam.h
VMAJOR := $(shell sed -n 's/^\#define GSCAM_VERSION_MAJOR \([0-9]*\).*/\1/p' $(VERSION_H))
VMINOR := $(shell sed -n 's/^\#define GSCAM_VERSION_MINOR \([0-9]*\).*/\1/p' $(VERSION_H))
VPATCH := $(shell sed -n 's/^\#define GSCAM_VERSION_PATCH \([0-9]*\).*/\1/p' $(VERSION_H))
VERSION := $(VMAJOR).$(VMINOR).$(VPATCH)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=

# Debian's python3-torch is installed for /usr/bin/python3, which may not be
# the first python3 on PATH.
PYTHON ?= /usr/bin/python3
SHARED_DIR ?= $(abspath ../shared)
export GSCAM_SHARED ?= $(SHARED_DIR)

CC ?= cc
CXX ?= c++
B := build

TORCH_INC := -isystem /usr/include/torch/csrc/api/include
TORCH_LIBS := -ltorch -ltorch_cpu -lc10
DEP_PKGS := libpng libjpeg libpcre2-8 libutf8proc zlib
DEP_CFLAGS := $(shell pkg-config --cflags $(DEP_PKGS) 2>/dev/null)
DEP_LIBS := $(shell pkg-config --libs $(DEP_PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

SANITIZE ?=
ifneq ($(SANITIZE),)
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
OPT ?= -O1 -g
else
SAN_FLAGS :=
OPT ?= -O2 -g
endif

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS ?= $(OPT)
CXXFLAGS ?= $(OPT)
ALL_CFLAGS := -std=c11 $(WARN) -fPIC -fvisibility=hidden -D_GNU_SOURCE -Iinclude -Ilib -Ishim \
              $(DEP_CFLAGS) $(SAN_FLAGS) $(CFLAGS)
ALL_CXXFLAGS := -std=c++17 -Wall -Wextra -Wno-unused-parameter -fPIC -fvisibility=hidden \
                -fvisibility-inlines-hidden -Ishim $(TORCH_INC) $(SAN_FLAGS) $(CXXFLAGS)

LIB_SRC := $(sort $(wildcard lib/*/*.c))
SHIM_SRC := $(sort $(wildcard shim/*.cpp))
CLI_SRC := $(sort $(wildcard cli/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
SHIM_OBJ := $(SHIM_SRC:%.cpp=$(B)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/%.o)

SONAME := libgscorecam.so.$(VMAJOR)
SO_REAL := $(B)/libgscorecam.so.$(VERSION)
STATIC := $(B)/libgscorecam.a
LINK_LIBS := $(DEP_LIBS) $(TORCH_LIBS) -lstdc++ -lm -lpthread

.PHONY: all check check-unit check-python demo bench install uninstall clean fixtures deps

all: $(B)/libgscorecam.so $(B)/gscorecam

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(B)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(ALL_CXXFLAGS) -MMD -MP -c $< -o $@

# -z nodelete: the library puts an allocator in front of libtorch's CPU
# allocator (shim/gsx_pool.cpp), so its code must stay mapped after dlclose.
$(SO_REAL): $(LIB_OBJ) $(SHIM_OBJ) lib/gscorecam.map
	$(CXX) -shared -o $@ $(LIB_OBJ) $(SHIM_OBJ) -Wl,-soname,$(SONAME) -Wl,-z,nodelete \
	    -Wl,--version-script=lib/gscorecam.map -Wl,--no-undefined $(SAN_FLAGS) $(LINK_LIBS)

$(B)/libgscorecam.so: $(SO_REAL)
	ln -sf libgscorecam.so.$(VERSION) $(B)/$(SONAME)
	ln -sf $(SONAME) $@

# Every object, hidden symbols included, for tests of internal functions.
$(STATIC): $(LIB_OBJ) $(SHIM_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/gscorecam: $(CLI_OBJ) $(B)/libgscorecam.so
	$(CC) -o $@ $(CLI_OBJ) -L$(B) -lgscorecam -Wl,-rpath,'$$ORIGIN' $(SAN_FLAGS) -lm

-include $(shell find $(B) -name '*.d' 2>/dev/null)

include tests/tests.mk
# Further targets (bench, fuzz, abi, demo), one fragment per concern.
-include $(sort $(wildcard mk/*.mk))

clean:
	rm -rf $(B)

# ---- installation ---------------------------------------------------------

# Rewritten on every run: it records PREFIX, LIBDIR and INCLUDEDIR, which can
# differ from one `make install` to the next.
.PHONY: $(B)/gscorecam.pc
$(B)/gscorecam.pc: pkgconfig/gscorecam.pc.in $(VERSION_H)
	@mkdir -p $(B)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' $< > $@

install: all $(B)/gscorecam.pc
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(SO_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf libgscorecam.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libgscorecam.so
	install -m 644 include/gscorecam.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(B)/gscorecam.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	$(CC) -o $(DESTDIR)$(BINDIR)/gscorecam $(CLI_OBJ) -L$(B) -lgscorecam \
	    -Wl,-rpath,$(LIBDIR) $(SAN_FLAGS) -lm
	install -m 644 docs/gscorecam.1 $(DESTDIR)$(MANDIR)/man1/

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libgscorecam.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libgscorecam.so $(DESTDIR)$(INCLUDEDIR)/gscorecam.h \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/gscorecam.pc $(DESTDIR)$(BINDIR)/gscorecam \
	    $(DESTDIR)$(MANDIR)/man1/gscorecam.1
