# limen — one non-recursive Makefile.
#
# Sources are picked up per folder (common/, conf/, proxy/, acme/, backup/),
# so adding a file to a part needs no edit here.  Each part is an archive;
# the two binaries and every unit test link the archives they need, and the
# linker takes only the objects that are used.
#
#   make                 bin/limen, bin/limen-backup (-O2 -g)
#   make SAN=1           the same with ASan+UBSan, in build/san/bin/
#   make CC=clang        a clang build in build/clang/bin/ (make test checks it)
#   make test            deps, both builds, unit + integration (plain and
#                        sanitized), fuzz corpus replay; one closing line
#   make test-unit       unit tests of the current variant
#   make test-integration
#   make fuzz            libFuzzer targets, each for FUZZ_SECONDS
#   make run             deps, build, run limen on conf/limen.yaml
#   make install PREFIX=/usr DESTDIR=...
#   make deb             the Debian package in build/deb/
#   make V=1             show the commands

VERSION  := 0.1.0
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR  ?= /lib/systemd/system
DESTDIR  ?=

SAN ?= 0
V   ?= 0
CC  ?= cc
WERROR ?= -Werror

ifeq ($(V),1)
Q :=
else
Q := @
endif

PKGS := libevent libevent_openssl libevent_pthreads openssl libnghttp2 \
        yaml-0.1 jansson libpq zlib libzstd libbrotlienc libbrotlidec modsecurity

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra $(WERROR) -Wshadow -Wpointer-arith -Wstrict-prototypes \
        -Wmissing-prototypes -Wformat=2 -Wundef -Wno-unused-parameter

ifeq ($(SAN),1)
BUILD   := build/san
BIN     := build/san/bin
OPT     := -O1 -g -fno-omit-frame-pointer \
           -fsanitize=address,undefined -fno-sanitize-recover=all
SANLD   := -fsanitize=address,undefined
else ifneq ($(findstring clang,$(CC)),)
BUILD   := build/clang
BIN     := build/clang/bin
OPT     := -O2 -g
SANLD   :=
else
BUILD   := build/rel
BIN     := bin
OPT     := -O2 -g
SANLD   :=
endif

CPPFLAGS += -I. -D_GNU_SOURCE -DLIMEN_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
CFLAGS   += -std=c11 $(OPT) $(WARN) -fPIE -MMD -MP
LDFLAGS  += $(SANLD) -pie -pthread
LDLIBS   += $(PKG_LIBS) -lcrypt -lm

PARTS := common conf proxy acme backup
# every part's sources; main.c files belong to the binaries, not the archives
define part_srcs
$(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
endef
$(foreach p,$(PARTS),$(eval SRC_$(p) := $(call part_srcs,$(p))))
$(foreach p,$(PARTS),$(eval OBJ_$(p) := $(patsubst %.c,$(BUILD)/%.o,$(SRC_$(p)))))
$(foreach p,$(PARTS),$(eval LIB_$(p) := $(BUILD)/lib$(p).a))

LIMEN_LIBS  := $(LIB_proxy) $(LIB_acme) $(LIB_conf) $(LIB_common)
BACKUP_LIBS := $(LIB_backup) $(LIB_conf) $(LIB_common)
ALL_LIBS    := $(LIB_proxy) $(LIB_acme) $(LIB_backup) $(LIB_conf) $(LIB_common)

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
HARNESS_OBJ := $(BUILD)/tests/unit/harness.o

ALL_OBJ := $(foreach p,$(PARTS),$(OBJ_$(p))) $(BUILD)/proxy/main.o \
           $(BUILD)/backup/main.o $(HARNESS_OBJ) \
           $(patsubst %.c,$(BUILD)/%.o,$(UNIT_SRC))

.PHONY: all test test-unit test-integration test-san fuzz fuzz-build \
        run deps install uninstall clean bench check-config deb
.DEFAULT_GOAL := all
.SECONDARY:

all: $(BIN)/limen $(BIN)/limen-backup

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/lib%.a:
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(foreach p,$(PARTS),$(eval $(LIB_$(p)): $(OBJ_$(p))))

$(BIN)/limen: $(BUILD)/proxy/main.o $(LIMEN_LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(LIMEN_LIBS) -Wl,--end-group $(LDLIBS)

$(BIN)/limen-backup: $(BUILD)/backup/main.o $(BACKUP_LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(BACKUP_LIBS) -Wl,--end-group $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(HARNESS_OBJ) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(HARNESS_OBJ) -Wl,--start-group $(ALL_LIBS) -Wl,--end-group $(LDLIBS)

# ---- tests ----------------------------------------------------------------

PYTEST := /usr/bin/python3 -m pytest

test-unit: $(UNIT_BINS)
	$(Q)tests/run-unit.sh $(BUILD)/tests

test-integration: all
	$(Q)LIMEN_BIN=$(abspath $(BIN)/limen) LIMEN_BACKUP_BIN=$(abspath $(BIN)/limen-backup) \
	  LIMEN_SAN=$(SAN) $(PYTEST) -q -p no:cacheprovider tests/integration $(PYTEST_ARGS)

test-san:
	$(Q)$(MAKE) --no-print-directory SAN=1 test-unit test-integration

# `make test`: everything, ending with one closing line for CI.
test: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BINS)
	$(Q)$(MAKE) --no-print-directory CC=clang all
	$(Q)$(MAKE) --no-print-directory SAN=1 all
	$(Q)$(MAKE) --no-print-directory SAN=1 $(patsubst $(BUILD)/%,build/san/%,$(UNIT_BINS))
	$(Q)$(MAKE) --no-print-directory fuzz-build
	$(Q)tests/run-all.sh

# ---- fuzzing (clang + libFuzzer) -----------------------------------------

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build/fuzz
FUZZ_FLAGS   := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRC))
FUZZ_LIB_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(foreach p,$(PARTS),$(SRC_$(p))))

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(CPPFLAGS) -std=c11 $(FUZZ_FLAGS) -Wall -Wextra -Wno-unused-parameter -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	@$(if $(Q),echo "  FUZZLD  $@")
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -pthread -o $@ $< \
	  -Wl,--start-group $(FUZZ_LIB_OBJ) -Wl,--end-group $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run-fuzz.sh $(FUZZ_BUILD)

# ---- running ----------------------------------------------------------------

deps:
	$(Q)mk/deps.sh

run: deps
	$(Q)$(MAKE) --no-print-directory all
	./bin/limen run -c conf/limen.yaml

check-config: all
	./bin/limen check -c conf/limen.yaml

bench: deps all
	$(Q)bench/run.sh
	$(Q)/usr/bin/python3 bench/waf_cost.py
	$(Q)/usr/bin/python3 bench/scaling.py

# the Debian package, into build/deb (packaging/debian/build-deb.sh)
deb:
	$(Q)packaging/debian/build-deb.sh build/deb

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/limen
	install -m 0755 bin/limen bin/limen-backup $(DESTDIR)$(BINDIR)/
	test -e $(DESTDIR)$(SYSCONFDIR)/limen/limen.yaml || \
	  install -m 0644 packaging/limen.yaml $(DESTDIR)$(SYSCONFDIR)/limen/limen.yaml
	if [ -d packaging/systemd ] && ls packaging/systemd/*.service >/dev/null 2>&1; then \
	  install -d $(DESTDIR)$(UNITDIR) && \
	  install -m 0644 packaging/systemd/*.service $(DESTDIR)$(UNITDIR)/; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/limen $(DESTDIR)$(BINDIR)/limen-backup
	rm -f $(DESTDIR)$(UNITDIR)/limen.service $(DESTDIR)$(UNITDIR)/limen-backup.service

clean:
	rm -rf build bin

-include $(ALL_OBJ:.o=.d) $(FUZZ_LIB_OBJ:.o=.d)
