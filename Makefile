# mpx: plain GNU Makefile (see docs/design.md, "Build").
#
#   make                 libmpx.a, libmpx.so, tests, examples
#   make check           run the test suite (START=fork|spawn|forkserver|all)
#   make SANITIZE=address,undefined check
#   make SANITIZE=thread check
#   make valgrind        fast subset under valgrind
#   make install PREFIX=/usr/local DESTDIR=
#   make demo            run the demonstration
#   make doc-examples    build and run the headers' and README's examples
#   make bench           run every benchmark group, rewrite bench/RESULTS.md
#   make MPI=1 | MPI=0   with / without libmpx_mpi (default: when MPI is found)
#   make mpi-check       the MPI backend's tests under mpirun (test/mpi/run)

VERSION_MAJOR := 0
VERSION_MINOR := 1
VERSION_PATCH := 0
VERSION       := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR    ?=

CC       ?= cc
SANITIZE ?=
START    ?= fork
JOBS     ?= 2

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter -Werror
CFLAGS   ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden \
              -D_GNU_SOURCE -DMPX_BUILDING -Iinclude -Isrc \
              -fno-plt
LDLIBS   := -lcrypto -pthread -ldl

comma := ,
BUILD ?= build
ifneq ($(SANITIZE),)
  BUILD := build-$(subst $(comma),-,$(SANITIZE))
  ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -O1
  SAN_LDFLAGS := -fsanitize=$(SANITIZE)
endif

# The optional MPI backend (libmpx_mpi, src/mpi/, docs/mpi.md): MPI=1 builds
# it (and fails without MPI), MPI=0 never; by default it is built when an MPI
# is found (pkg-config ompi or mpich, else mpicc). The core never needs it.
MPI ?= auto
ifneq ($(MPI),0)
  MPI_CFLAGS := $(shell pkg-config --cflags ompi 2>/dev/null || pkg-config --cflags mpich 2>/dev/null || \
                  mpicc --showme:compile 2>/dev/null || mpicc -compile_info 2>/dev/null | cut -d' ' -f2- || true)
  MPI_LIBS   := $(shell pkg-config --libs ompi 2>/dev/null || pkg-config --libs mpich 2>/dev/null || \
                  mpicc --showme:link 2>/dev/null || mpicc -link_info 2>/dev/null | cut -d' ' -f2- || true)
  MPI_FOUND  := $(if $(strip $(MPI_LIBS)),1,)
  ifeq ($(MPI)$(MPI_FOUND),1)
    $(error MPI=1 but no MPI found: apt-get install openmpi-bin libopenmpi-dev)
  endif
endif

SRCS     := $(sort $(wildcard src/core/*.c src/os/*.c))
OBJS     := $(SRCS:%.c=$(BUILD)/%.o)
HEADERS  := $(wildcard include/*.h include/mpx/*.h)

TEST_SRCS := $(sort $(wildcard test/test_*.c))
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/test/runner.o
EXAMPLE_SRCS := $(sort $(wildcard examples/*.c))
EXAMPLES := $(EXAMPLE_SRCS:examples/%.c=$(BUILD)/examples/%)

LIB_A    := $(BUILD)/libmpx.a
LIB_SO   := $(BUILD)/libmpx.so.$(VERSION)
SONAME   := libmpx.so.$(VERSION_MAJOR)

MPI_SRCS := $(sort $(wildcard src/mpi/*.c))
MPI_OBJS := $(MPI_SRCS:%.c=$(BUILD)/%.o)
MPI_A    := $(BUILD)/libmpx_mpi.a
MPI_SO   := $(BUILD)/libmpx_mpi.so.$(VERSION)
MPI_SONAME := libmpx_mpi.so.$(VERSION_MAJOR)
MPI_TEST := $(BUILD)/test/mpi/mpx_mpi_test

.PHONY: FORCE all lib tests examples check test valgrind install uninstall clean demo bench fuzz headers-check \
        mpi mpi-check doc-examples

all: lib tests examples

lib: $(LIB_A) $(LIB_SO) $(BUILD)/mpx.pc

ifeq ($(MPI_FOUND),1)
lib: mpi
tests: $(MPI_TEST)
endif

# libmpx_mpi: static and shared (linked against libmpx.so and the MPI library).
mpi: $(MPI_A) $(MPI_SO) $(BUILD)/mpx-mpi.pc

$(BUILD)/src/mpi/%.o: src/mpi/%.c $(HEADERS) $(wildcard src/*/*.h) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(MPI_CFLAGS) -c $< -o $@

$(MPI_A): $(MPI_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(MPI_SO): $(MPI_OBJS) $(LIB_SO)
	$(CC) -shared -Wl,-soname,$(MPI_SONAME) -Wl,--no-undefined -Wl,-z,now -Wl,-z,relro $(SAN_LDFLAGS) \
	  -o $@ $(MPI_OBJS) -L$(BUILD) -lmpx $(MPI_LIBS) $(LDLIBS)
	ln -sf libmpx_mpi.so.$(VERSION) $(BUILD)/$(MPI_SONAME)
	ln -sf $(MPI_SONAME) $(BUILD)/libmpx_mpi.so

$(BUILD)/mpx-mpi.pc: mpx-mpi.pc.in Makefile FORCE | $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@MPI_CFLAGS@|$(MPI_CFLAGS)|' -e 's|@MPI_LIBS@|$(MPI_LIBS)|' $< > $@

# The MPI backend's tests: one program, run under mpirun by test/mpi/run.
$(MPI_TEST): test/mpi/test_mpi.c test/mpi/mpi_tasks.h $(MPI_A) $(LIB_A) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(MPI_CFLAGS) -o $@ $< $(MPI_A) $(LIB_A) $(MPI_LIBS) $(SAN_LDFLAGS) $(LDLIBS)

mpi-check: $(MPI_TEST)
	MPX_BUILD=$(BUILD) test/mpi/run

FORCE:

$(BUILD)/%.o: %.c $(HEADERS) $(wildcard src/*/*.h test/*.h) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD):
	@mkdir -p $(BUILD)

$(LIB_A): $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(LIB_SO): $(OBJS)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -Wl,-z,now -Wl,-z,relro $(SAN_LDFLAGS) -o $@ $^ $(LDLIBS)
	ln -sf libmpx.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/libmpx.so

$(BUILD)/mpx.pc: mpx.pc.in Makefile FORCE | $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# Tests and examples link the static library: the spawn start method
# re-executes the program, which must find the library without LD_LIBRARY_PATH.
tests: $(BUILD)/test/mpx_test $(BUILD)/test/mpx_test_helper

$(BUILD)/test/mpx_test: $(TEST_OBJS) $(LIB_A)
	$(CC) $(ALL_CFLAGS) -rdynamic -o $@ $(TEST_OBJS) $(LIB_A) $(SAN_LDFLAGS) $(LDLIBS)

# A second executable linking mpx, used by set_executable tests.
$(BUILD)/test/mpx_test_helper: test/helper/helper_main.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(SAN_LDFLAGS) $(LDLIBS)

examples: $(EXAMPLES)

$(BUILD)/examples/%: examples/%.c $(LIB_A) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(SAN_LDFLAGS) $(LDLIBS) -lm

# Run the suite. START selects the start method (fork, spawn, forkserver, all).
check test: tests examples
	MPX_BUILD=$(BUILD) test/run-tests --start $(START) --jobs $(JOBS)

valgrind: tests
	MPX_BUILD=$(BUILD) test/run-valgrind

demo: examples
	MPX_BUILD=$(BUILD) examples/run-demo

bench:
	bench/run all --write-results

fuzz:
	$(MAKE) -C fuzz

# The code examples of the headers and the README, built and run under
# every start method (test/doc-examples).
doc-examples: lib
	MPX_BUILD=$(BUILD) test/doc-examples

# Headers compile standalone with strict C11 and as C++.
headers-check:
	@for h in include/mpx.h $(wildcard include/mpx/*.h); do \
	  echo "#include \"$$h\"" | $(CC) -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude -x c -fsyntax-only - || exit 1; \
	  echo "#include \"$$h\"" | c++ -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude -x c++ -fsyntax-only - || exit 1; \
	done; echo "headers ok"

install: lib
	install -d $(DESTDIR)$(INCLUDEDIR)/mpx $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/mpx.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(filter-out include/mpx/mpi.h,$(wildcard include/mpx/*.h)) $(DESTDIR)$(INCLUDEDIR)/mpx/
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libmpx.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmpx.so
	install -m 644 $(BUILD)/mpx.pc $(DESTDIR)$(PKGCONFIGDIR)/
ifeq ($(MPI_FOUND),1)
	install -m 644 include/mpx/mpi.h $(DESTDIR)$(INCLUDEDIR)/mpx/
	install -m 644 $(MPI_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(MPI_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libmpx_mpi.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(MPI_SONAME)
	ln -sf $(MPI_SONAME) $(DESTDIR)$(LIBDIR)/libmpx_mpi.so
	install -m 644 $(BUILD)/mpx-mpi.pc $(DESTDIR)$(PKGCONFIGDIR)/
endif

uninstall:
	rm -rf $(DESTDIR)$(INCLUDEDIR)/mpx $(DESTDIR)$(INCLUDEDIR)/mpx.h
	rm -f $(DESTDIR)$(LIBDIR)/libmpx.* $(DESTDIR)$(LIBDIR)/libmpx_mpi.* $(DESTDIR)$(PKGCONFIGDIR)/mpx.pc \
	  $(DESTDIR)$(PKGCONFIGDIR)/mpx-mpi.pc

clean:
	rm -rf build build-*
