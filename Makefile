# appuser - application users for a Linux host.  See README.md.
#
#   make            build into build/
#   make check      build and run every test (unit to end-to-end)
#   make bench      benchmarks (ratios against nss_files/pam_unix baselines)
#   make demo       the whole lifecycle for real, in a private namespace (root)
#   make demo-fleet the same across two hosts that follow one etcd (root)
#   make deps       install the Debian packages that build and test need
#   make deb        Debian packages into build/deb/ (README: Install from
#                   packages)
#   make install    DESTDIR=... PREFIX=... (default PREFIX=/usr)
#   make uninstall  the same; disables the PAM profile first (NSSWITCH=1:
#                   also takes appuser off nsswitch.conf)
#
# For contributors (HACKING.md):
#   make check SANITIZE=1   the same suite built with ASan+UBSan, in build-san/
#   make fuzz               libFuzzer targets, FUZZ_SECONDS (60) each
#   make analyze            gcc -fanalyzer and cppcheck, zero findings
#   make coverage           line and branch coverage per directory (gcovr)
#   WERROR=1                turn warnings into errors (CI sets it)
# CPPFLAGS, CFLAGS and LDFLAGS from the command line or environment are used.

CC	?= cc
PKG_CONFIG ?= pkg-config

# One build directory per kind of build, so objects never mix: a sanitized
# or instrumented object must not end up in a module that is installed.
SANITIZE ?= 0
COVERAGE ?= 0
WERROR	?= 0
ifeq ($(SANITIZE),1)
BUILD	:= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
else ifeq ($(COVERAGE),1)
BUILD	:= build-cov
SANFLAGS := --coverage -DAPPUSER_COVERAGE
else
BUILD	:= build
SANFLAGS :=
endif

PREFIX	?= /usr
SYSCONFDIR ?= /etc
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
LIBDIR	?= $(PREFIX)/lib/$(MULTIARCH)
SBINDIR	?= $(PREFIX)/sbin
PAMDIR	?= $(LIBDIR)/security
MANDIR	?= $(PREFIX)/share/man
DATADIR	?= $(PREFIX)/share
DOCDIR	?= $(DATADIR)/doc/appuser

DEB_BUILD_DEPS := build-essential pkg-config libpam0g-dev libsodium-dev \
	libtdb-dev libcmocka-dev libjansson-dev libcurl4-openssl-dev
DEB_TEST_DEPS := libpam-wrapper libpamtest0-dev libnss-wrapper pamtester \
	openssh-server openssh-client sudo sshpass tdb-tools man-db \
	valgrind util-linux procps passwd python3 iproute2 strace \
	etcd-server etcd-client openssl curl prometheus-node-exporter
# make fuzz (clang's libFuzzer), make analyze, make coverage
DEB_DEV_DEPS := clang libclang-rt-dev cppcheck gcovr
# make deb (debian/control's Build-Depends come from the lists above) and
# its test, tests/t_deb.sh (lintian)
DEB_PKG_DEPS := debhelper dh-nss dpkg-dev lintian
DEB_DEPS := $(DEB_BUILD_DEPS) $(DEB_TEST_DEPS) $(DEB_DEV_DEPS) $(DEB_PKG_DEPS)

WARN	:= -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes \
	-Wstrict-prototypes -Wvla $(if $(filter 1,$(WERROR)),-Werror)
# _FORTIFY_SOURCE needs optimisation; the coverage build has none.
HARDEN	:= -fstack-protector-strong -fPIC \
	$(if $(filter 1,$(COVERAGE)),,-D_FORTIFY_SOURCE=2)
ifeq ($(COVERAGE),1)
CFLAGS	?= -O0 -g
else
CFLAGS	?= -O2 -g
endif
override CFLAGS += -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN) -Ilibappuser \
	$(SANFLAGS)
LDFLAGS	?=
LDHARDEN := -Wl,-z,relro,-z,now -Wl,--as-needed $(SANFLAGS) $(LDFLAGS)

pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pc_libs = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)

CORE_SRC := $(sort $(wildcard libappuser/*.c))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
ADMIN_SRC := $(sort $(wildcard admin/*.c))
ADMIN_OBJ := $(ADMIN_SRC:%.c=$(BUILD)/%.o)
PAM_SRC := $(sort $(wildcard pam_appuser/*.c))
PAM_OBJ := $(PAM_SRC:%.c=$(BUILD)/%.o)
NSS_SRC := $(sort $(wildcard nss_appuser/*.c))
NSS_OBJ := $(NSS_SRC:%.c=$(BUILD)/%.o)
# test_etcd runs under tests/t_etcd.sh (it needs a cluster), so it is
# built apart from the tests run.sh starts directly.
TEST_SRC := $(filter-out tests/test_etcd.c,$(sort $(wildcard tests/test_*.c)))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

CORE_PKGS := tdb libsodium
CORE_LIBS := $(call pc_libs,$(CORE_PKGS)) -lpthread
override CFLAGS += $(call pc_cflags,$(CORE_PKGS) jansson cmocka libcurl)

CLI	:= $(BUILD)/appuser
PAMMOD	:= $(BUILD)/pam_appuser.so
NSSMOD	:= $(BUILD)/libnss_appuser.so.2
LIBCORE	:= $(BUILD)/libappuser.a

TARGETS := $(CLI) $(if $(PAM_SRC),$(PAMMOD)) $(if $(NSS_SRC),$(NSSMOD))

.PHONY: all check test-bins bench bench-bins demo demo-fleet deps etcd-service-off \
	install uninstall clean fuzz fuzz-bins analyze coverage
all: $(TARGETS)

$(BUILD)/%.o: %.c $(wildcard libappuser/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIBCORE): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(CLI): $(ADMIN_OBJ) $(LIBCORE)
	$(CC) $(CFLAGS) $(LDHARDEN) -pie -o $@ $(ADMIN_OBJ) $(LIBCORE) \
		$(call pc_libs,jansson libcurl) $(CORE_LIBS)

$(PAMMOD): $(PAM_OBJ) $(LIBCORE) pam_appuser/pam_appuser.map
	$(CC) $(CFLAGS) $(LDHARDEN) -shared -Wl,-z,defs \
		-Wl,--version-script=pam_appuser/pam_appuser.map \
		-o $@ $(PAM_OBJ) $(LIBCORE) -lpam $(CORE_LIBS)

# The NSS module reads only the snapshot files (libappuser/snapfile.h): no
# libtdb, no libsodium.  The test build (build/test-nss/, never installed)
# differs in one thing: it takes the store's path from $APPUSER_STORE, which
# the real module never reads (nss_appuser.c, store_path()).
NSSTEST	:= $(BUILD)/test-nss/libnss_appuser.so.2
NSSTEST_OBJ := $(NSS_SRC:%.c=$(BUILD)/test-nss/%.o)
$(NSSMOD): $(NSS_OBJ) $(LIBCORE) nss_appuser/nss_appuser.map
	$(CC) $(CFLAGS) $(LDHARDEN) -shared -Wl,-z,defs \
		-Wl,-soname,libnss_appuser.so.2 \
		-Wl,--version-script=nss_appuser/nss_appuser.map \
		-o $@ $(NSS_OBJ) $(LIBCORE) -lpthread

$(BUILD)/test-nss/%.o: %.c $(wildcard libappuser/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DNSS_APPUSER_TEST_BUILD -MMD -MP -c -o $@ $<

$(NSSTEST): $(NSSTEST_OBJ) $(LIBCORE) nss_appuser/nss_appuser.map
	$(CC) $(CFLAGS) $(LDHARDEN) -shared -Wl,-z,defs \
		-Wl,-soname,libnss_appuser.so.2 \
		-Wl,--version-script=nss_appuser/nss_appuser.map \
		-o $@ $(NSSTEST_OBJ) $(LIBCORE) -lpthread

# Unit tests link the core archive; module tests load the built modules.
$(BUILD)/tests/%: tests/%.c $(LIBCORE) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests $(LDHARDEN) -o $@ $< $(LIBCORE) \
		$(call pc_libs,cmocka jansson) \
		$(if $(findstring pam,$*),-lpamtest -lpam -lpam_misc) \
		$(CORE_LIBS) -ldl

# admin/fleet_conf.c, tested on its own
$(BUILD)/tests/test_fleet_conf: tests/test_fleet_conf.c $(BUILD)/admin/fleet_conf.o $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests -Iadmin $(LDHARDEN) -o $@ $< \
		$(BUILD)/admin/fleet_conf.o $(LIBCORE) $(call pc_libs,cmocka) \
		$(CORE_LIBS)
# nss_appuser/pack.c, tested on its own at buffer sizes N-1 and N
$(BUILD)/tests/test_nss_pack: tests/test_nss_pack.c $(BUILD)/nss_appuser/pack.o $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests -Inss_appuser $(LDHARDEN) -o $@ $< \
		$(BUILD)/nss_appuser/pack.o $(LIBCORE) $(call pc_libs,cmocka) \
		$(CORE_LIBS)
# The etcd client (network code) links libcurl: only the CLI and this
# test, never a module.
FLEET_OBJ := $(BUILD)/admin/etcd.o $(BUILD)/admin/fleet_conf.o
$(BUILD)/tests/etcd/test_etcd: tests/test_etcd.c $(FLEET_OBJ) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests -Iadmin $(LDHARDEN) -o $@ $< $(FLEET_OBJ) \
		$(LIBCORE) $(call pc_libs,jansson libcurl) $(CORE_LIBS)

test-bins: $(TARGETS) $(NSSTEST) $(TEST_BIN) $(BUILD)/tests/etcd/test_etcd

check: test-bins
	@APPUSER_BUILD=$(BUILD) APPUSER_SANITIZE=$(SANITIZE) sh tests/run.sh

$(BUILD)/bench/%: bench/%.c bench/bench.h tests/store_fixture.h $(LIBCORE) $(TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDHARDEN) -o $@ $< $(LIBCORE) -lpam -lcrypt $(CORE_LIBS) -ldl

# the fleet loader of bench_fleet_sync.sh speaks to etcd: the fleet model
# and the etcd client, as the agent links them
$(BUILD)/bench/bench_fleet_load: bench/bench_fleet_load.c $(BUILD)/admin/fleet.o \
		$(FLEET_OBJ) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Iadmin $(LDHARDEN) -o $@ $< \
		$(BUILD)/admin/fleet.o $(FLEET_OBJ) $(LIBCORE) \
		$(call pc_libs,jansson libcurl) $(CORE_LIBS)

# make bench only: pam_appuser built again from the same sources with its
# bookkeeping call (store_token_touch) made a no-op (bench/nobook/), the
# baseline bench_pam divides the real module's login rate by.
NOBOOK_OBJ := $(PAM_SRC:%.c=$(BUILD)/bench-nobook/%.o) \
	$(BUILD)/bench/nobook/touch_skipped.o
NOBOOK_SO := $(BUILD)/bench/pam_appuser_nobook.so
$(BUILD)/bench-nobook/%.o: %.c $(wildcard libappuser/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Dstore_token_touch=bench_touch_skipped \
		-MMD -MP -c -o $@ $<
$(NOBOOK_SO): $(NOBOOK_OBJ) $(LIBCORE) pam_appuser/pam_appuser.map
	$(CC) $(CFLAGS) $(LDHARDEN) -shared -Wl,-z,defs \
		-Wl,--version-script=pam_appuser/pam_appuser.map \
		-o $@ $(NOBOOK_OBJ) $(LIBCORE) -lpam $(CORE_LIBS)

bench-bins: $(TARGETS) $(NSSTEST) $(BENCH_BIN) $(NOBOOK_SO)

bench: bench-bins
	@sh bench/run.sh

# --- fuzzing (HACKING.md) ---------------------------------------------------
# libFuzzer from Debian's clang, every target with ASan and UBSan.  Objects
# are built again with clang into build-fuzz/, apart from every other build.
FUZZ_CC	?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD := build-fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_CFLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -Ilibappuser -Iadmin \
	-Ipam_appuser -Inss_appuser $(call pc_cflags,$(CORE_PKGS) jansson) $(CPPFLAGS)
# One target per parser of untrusted or on-disk bytes: tests/fuzz/fuzz_NAME.c
# with seeds in tests/fuzz/corpus/NAME/.
# nss_snapshot drives the NSS module's entry points (by name, by uid,
# enumeration, groups, initgroups) on a mutated identity pair; usage the
# usage-file reader; snapfile the snapshot reader on its own.
FUZZ_TARGETS := token record_user record_token record_meta names import \
	pam_options nss_snapshot snapfile usage
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_CORE := $(CORE_SRC:%.c=$(FUZZ_BUILD)/%.o)
# Extra objects per target: import links the CLI (its main() renamed),
# with the fleet commands' etcd client, hence libcurl.
FUZZ_OBJS_import := $(filter-out $(FUZZ_BUILD)/admin/main.o, \
	$(ADMIN_SRC:%.c=$(FUZZ_BUILD)/%.o)) $(FUZZ_BUILD)/admin/main-nomain.o
FUZZ_LIBS_import := $(call pc_libs,jansson libcurl)
FUZZ_OBJS_pam_options := $(FUZZ_BUILD)/pam_appuser/options.o
# the NSS module's test build: its store comes from APPUSER_STORE
FUZZ_OBJS_nss_snapshot := $(NSS_SRC:%.c=$(FUZZ_BUILD)/test-nss/%.o)
# kept between runs (make would otherwise delete them as intermediates)
.SECONDARY: $(FUZZ_CORE) $(foreach t,$(FUZZ_TARGETS),$(FUZZ_OBJS_$(t)))

$(FUZZ_BUILD)/%.o: %.c $(wildcard libappuser/*.h) Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/test-nss/%.o: %.c $(wildcard libappuser/*.h) Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
		-DNSS_APPUSER_TEST_BUILD -c -o $@ $<

$(FUZZ_BUILD)/admin/main-nomain.o: admin/main.c admin/cli.h Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
		-Dmain=appuser_cli_main -c -o $@ $<

.SECONDEXPANSION:
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_CORE) \
		$$(FUZZ_OBJS_$$*)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< \
		$(FUZZ_OBJS_$*) $(FUZZ_CORE) $(FUZZ_LIBS_$*) $(CORE_LIBS) $(LDFLAGS)

fuzz-bins: $(FUZZ_BINS)

fuzz: fuzz-bins
	@sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# --- static analysis (HACKING.md) --------------------------------------------
# gcc -fanalyzer on every C file (one stamp per file, so -j2 helps) and
# cppcheck on the same tree; any finding fails.  A false positive is
# silenced only where it occurs, with the reason next to it.
ANALYZE_CC ?= gcc
ANALYZE_DIR := build-analyze
ANALYZE_SRC := $(CORE_SRC) $(ADMIN_SRC) $(PAM_SRC) $(NSS_SRC) $(TEST_SRC) \
	$(BENCH_SRC) $(sort $(wildcard tests/fuzz/*.c admin/syncd/*.c))
ANALYZE_STAMPS := $(ANALYZE_SRC:%.c=$(ANALYZE_DIR)/%.ok)
CPPCHECK_FLAGS := -q --std=c11 -D_GNU_SOURCE -D__GNUC__ --inline-suppr \
	--enable=warning,style,performance,portability \
	--error-exitcode=1 \
	-Ilibappuser -Iadmin -Ipam_appuser -Inss_appuser -Itests

$(ANALYZE_DIR)/%.ok: %.c $(wildcard libappuser/*.h admin/*.h pam_appuser/*.h \
		nss_appuser/*.h tests/*.h tests/fuzz/*.h) Makefile
	@mkdir -p $(dir $@)
	$(ANALYZE_CC) -fanalyzer -Werror -O2 -std=c11 -D_GNU_SOURCE $(WARN) \
		-Ilibappuser -Iadmin -Ipam_appuser -Inss_appuser -Itests \
		$(call pc_cflags,$(CORE_PKGS) jansson cmocka) $(CPPFLAGS) \
		-c -o /dev/null $<
	@touch $@

analyze: $(ANALYZE_STAMPS)
	cppcheck $(CPPCHECK_FLAGS) libappuser admin pam_appuser nss_appuser \
		tests bench
	@echo "analyze: gcc -fanalyzer ($(words $(ANALYZE_SRC)) files) and cppcheck: no findings"

# --- coverage (HACKING.md) ---------------------------------------------------
# The whole suite on a --coverage build in build-cov/, then gcovr: line and
# branch coverage per directory, and per file in build-cov/coverage.txt.
coverage:
	@$(MAKE) --no-print-directory COVERAGE=1 test-bins
	@find build-cov -name '*.gcda' -delete
	@# Programs that run as nobody must be able to add their counts: have
	@# root create every .gcda file now (the CLI and both modules, loaded
	@# once), then open them to everyone.
	@build-cov/appuser --version >/dev/null
	@python3 -c 'import ctypes, sys; [ctypes.CDLL(m) for m in sys.argv[1:]]' \
		$(CURDIR)/build-cov/pam_appuser.so \
		$(CURDIR)/build-cov/libnss_appuser.so.2
	@chmod -R a+rwX build-cov
	-@APPUSER_BUILD=build-cov APPUSER_COVERAGE=1 sh tests/run.sh \
		>build-cov/tests.log 2>&1; \
		tail -1 build-cov/tests.log
	@sh tests/coverage.sh build-cov

# root on a fresh Debian 12: installs what it needs, builds, then runs the
# whole lifecycle against the real sshd and sudo in a private namespace.
demo:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) -s --no-print-directory all
	@sh tests/e2e/demo.sh

# the same for a fleet: a 3-member etcd and two hosts (network namespaces,
# each with its own store, appuser-syncd and sshd), one bot and one token
demo-fleet:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) -s --no-print-directory all
	@sh tests/e2e/demo_fleet.sh

deps:
	@if [ "$$(id -u)" = 0 ]; then \
		export DEBIAN_FRONTEND=noninteractive; \
		missing=$$(for p in $(DEB_DEPS); do \
			dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
			grep -q 'install ok installed' || echo $$p; done); \
		if [ -n "$$missing" ]; then \
			echo "installing: $$missing"; \
			rcd=; case " $$missing " in *" etcd-server "*|\
			    *" prometheus-node-exporter "*) \
				if [ ! -e /usr/sbin/policy-rc.d ]; then \
					rcd=/usr/sbin/policy-rc.d; \
					printf '#!/bin/sh\nexit 101\n' >$$rcd; \
					chmod 755 $$rcd; \
				fi;; esac; \
			apt-get update -qq && apt-get install -y -qq $$missing; \
			rc=$$?; [ -z "$$rcd" ] || rm -f "$$rcd"; \
			case " $$missing " in *" etcd-server "*) \
				$(MAKE) --no-print-directory etcd-service-off;; \
			esac; \
			case " $$missing " in *" prometheus-node-exporter "*) \
				$(MAKE) --no-print-directory \
				    etcd-service-off SERVICE_OFF=prometheus-node-exporter;; \
			esac; \
			[ $$rc = 0 ]; \
		else echo "all build and test packages are installed"; fi; \
	else \
		echo "not root; run as root:"; \
		echo "  apt-get install -y $(DEB_DEPS)"; \
	fi

# etcd-server's postinst starts and enables a single-member etcd on
# localhost:2379 without auth (invoke-rc.d / deb-systemd-invoke, both of
# which obey policy-rc.d, so deps installs it under a policy that says no).
# Tests start their own members and never use it: keep it stopped and off at
# boot.  (Masking first does not help: the postinst unmasks.)
# prometheus-node-exporter (t_audit.sh scrapes with its own instance)
# does the same on :9100: SERVICE_OFF=prometheus-node-exporter turns that off.
SERVICE_OFF ?= etcd
etcd-service-off:
	@if [ -d /run/systemd/system ]; then \
		systemctl disable --now $(SERVICE_OFF).service >/dev/null 2>&1 || true; \
	else \
		deb-systemd-helper disable $(SERVICE_OFF).service >/dev/null 2>&1 || true; \
	fi; \
	update-rc.d $(SERVICE_OFF) disable >/dev/null 2>&1 || true; \
	echo "$(SERVICE_OFF).service (the packaged one) is stopped and disabled"

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(PAMDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DATADIR)/pam-configs \
		$(DESTDIR)$(SYSCONFDIR)/sudoers.d $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(CLI) $(DESTDIR)$(SBINDIR)/appuser
	install -m 0644 $(PAMMOD) $(DESTDIR)$(PAMDIR)/pam_appuser.so
	install -m 0644 $(NSSMOD) $(DESTDIR)$(LIBDIR)/libnss_appuser.so.2
	install -m 0644 man/appuser.8 man/pam_appuser.8 man/nss_appuser.8 \
		$(DESTDIR)$(MANDIR)/man8/
	install -m 0644 dist/pam-configs/appuser $(DESTDIR)$(DATADIR)/pam-configs/appuser
	install -m 0440 dist/sudoers.d/appuser $(DESTDIR)$(SYSCONFDIR)/sudoers.d/appuser
	install -m 0644 dist/examples/* $(DESTDIR)$(DOCDIR)/examples/

# Disables the pam-auth-update profile first (or refuses, naming the PAM
# files that still use the module): see dist/uninstall-prepare.sh.
# NSSWITCH=1 also takes appuser off nsswitch.conf's passwd and group lines.
uninstall:
	@sh dist/uninstall-prepare.sh "$(DESTDIR)" "$(SYSCONFDIR)" "$(NSSWITCH)"
	rm -f $(DESTDIR)$(SBINDIR)/appuser $(DESTDIR)$(PAMDIR)/pam_appuser.so \
		$(DESTDIR)$(LIBDIR)/libnss_appuser.so.2 \
		$(DESTDIR)$(MANDIR)/man8/appuser.8 $(DESTDIR)$(MANDIR)/man8/pam_appuser.8 \
		$(DESTDIR)$(MANDIR)/man8/nss_appuser.8 \
		$(DESTDIR)$(DATADIR)/pam-configs/appuser \
		$(DESTDIR)$(SYSCONFDIR)/sudoers.d/appuser
	rm -rf $(DESTDIR)$(DOCDIR)

# --- Debian packages (README "Install from packages") -----------------------
# dpkg-buildpackage on a copy of the tree in build-deb/: it runs `make
# clean` and writes its results next to the tree it builds, so this keeps
# it away from build/ and from the directory above the checkout.  Debug
# symbols go to build/deb/dbgsym/, so that `apt-get install
# ./build/deb/*.deb` installs the three packages and no more.  The
# version is debian/changelog's, which must match `appuser --version`.
# DEB_BUILD_OPTIONS=nocheck skips the unit tests debian/rules runs.
DEB_OUT := build/deb
DEB_SRC := build-deb
.PHONY: deb
deb:
	@v=$$(dpkg-parsechangelog -S Version) && \
	c=$$(sed -n 's/^#define APPUSER_VERSION[[:space:]]*"\(.*\)"/\1/p' admin/cli.h) && \
	if [ "$$v" != "$$c" ]; then \
		echo "make deb: debian/changelog says $$v, admin/cli.h $$c" >&2; \
		exit 1; \
	fi
	rm -rf $(DEB_SRC) $(DEB_OUT)
	mkdir -p $(DEB_SRC)/appuser $(DEB_OUT)
	tar -cf - --exclude-vcs --exclude=./build --exclude='./build-*' \
		--exclude=./debian/.debhelper --exclude=./debian/tmp \
		--exclude=./debian/files --exclude='./debian/*.substvars' \
		--exclude=./debian/appuser --exclude=./debian/libpam-appuser \
		--exclude=./debian/libnss-appuser --exclude='./debian/*-stamp' \
		--exclude='./debian/*.debhelper' \
		. | tar -xf - -C $(DEB_SRC)/appuser
	cd $(DEB_SRC)/appuser && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		dpkg-buildpackage -us -uc -b
	mkdir -p $(DEB_OUT)/dbgsym
	find $(DEB_SRC) -maxdepth 1 -name '*-dbgsym_*' \
		-exec mv -t $(DEB_OUT)/dbgsym {} +
	mv $(DEB_SRC)/*.deb $(DEB_OUT)/
	@ls -1 $(DEB_OUT)/*.deb

clean:
	rm -rf build build-san build-cov build-fuzz build-analyze build-deb

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# --- fleet (README "Many hosts") ---------------------------------------------
# The host agent: the etcd client, the fleet model and the CLI's NSS
# collision check, never linked into a module.
SYNCD	:= $(BUILD)/appuser-syncd
SYNCD_OBJ := $(BUILD)/admin/syncd/syncd.o $(BUILD)/admin/fleet.o \
	$(BUILD)/admin/etcd.o $(BUILD)/admin/fleet_conf.o $(BUILD)/admin/nss.o
$(SYNCD): $(SYNCD_OBJ) $(LIBCORE)
	$(CC) $(CFLAGS) -Iadmin $(LDHARDEN) -pie -o $@ $(SYNCD_OBJ) $(LIBCORE) \
		$(call pc_libs,jansson libcurl) $(CORE_LIBS)
$(BUILD)/admin/syncd/%.o: admin/syncd/%.c $(wildcard libappuser/*.h admin/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Iadmin -MMD -MP -c -o $@ $<
all: $(SYNCD)
test-bins: $(SYNCD)
install: install-syncd
uninstall: uninstall-syncd
.PHONY: install-syncd uninstall-syncd
# debian/rules sets /lib/systemd/system: where bookworm's dh_installsystemd
# and lintian look for units
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
install-syncd: $(SYNCD)
	install -D -m 0755 $(SYNCD) $(DESTDIR)$(SBINDIR)/appuser-syncd
	install -D -m 0644 man/appuser-syncd.8 $(DESTDIR)$(MANDIR)/man8/appuser-syncd.8
	install -D -m 0644 dist/appuser-syncd.service \
		$(DESTDIR)$(SYSTEMDUNITDIR)/appuser-syncd.service
uninstall-syncd:
	rm -f $(DESTDIR)$(SBINDIR)/appuser-syncd \
		$(DESTDIR)$(MANDIR)/man8/appuser-syncd.8 \
		$(DESTDIR)$(SYSTEMDUNITDIR)/appuser-syncd.service

# --- metrics every minute (appuser(8), metrics): installed, not enabled ------
METRICS_UNITS := appuser-metrics.service appuser-metrics.timer
install: install-metrics
uninstall: uninstall-metrics
.PHONY: install-metrics uninstall-metrics
install-metrics:
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 0644 $(METRICS_UNITS:%=dist/%) \
		$(DESTDIR)$(SYSTEMDUNITDIR)/
uninstall-metrics:
	rm -f $(METRICS_UNITS:%=$(DESTDIR)$(SYSTEMDUNITDIR)/%)
