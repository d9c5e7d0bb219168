# appuser - application users for a Linux host.  See README.md.
#
#   make            build into build/
#   make check      build and run every test (unit to end-to-end)
#   make bench      benchmarks (ratios against nss_files/pam_unix baselines)
#   make demo       the whole lifecycle for real, in a private namespace (root)
#   make deps       install the Debian packages that build and test need
#   make install    DESTDIR=... PREFIX=... (default PREFIX=/usr)

CC	?= cc
PKG_CONFIG ?= pkg-config
BUILD	:= build

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
	valgrind util-linux procps passwd python3 iproute2 \
	etcd-server etcd-client openssl curl
DEB_DEPS := $(DEB_BUILD_DEPS) $(DEB_TEST_DEPS)

WARN	:= -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
	-Wstrict-prototypes -Wvla
HARDEN	:= -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC
CFLAGS	?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN) -Ilibappuser
LDHARDEN := -Wl,-z,relro,-z,now -Wl,--as-needed

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

.PHONY: all check test-bins bench bench-bins demo deps etcd-service-off \
	install uninstall clean
all: $(TARGETS)

$(BUILD)/%.o: %.c $(wildcard libappuser/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

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

# The NSS module carries its own copy of libtdb: libtdb keeps one unlocked
# list of open databases per copy, and a multithreaded program that runs
# pam_appuser in one thread while another resolves a user would otherwise
# have both modules edit the same list at once.  It reads only the snapshot
# (no libsodium).
TDB_STATIC := $(shell $(PKG_CONFIG) --variable=libdir tdb 2>/dev/null)/libtdb.a
$(NSSMOD): $(NSS_OBJ) $(LIBCORE) nss_appuser/nss_appuser.map
	$(CC) $(CFLAGS) $(LDHARDEN) -shared -Wl,-z,defs \
		-Wl,-soname,libnss_appuser.so.2 \
		-Wl,--version-script=nss_appuser/nss_appuser.map \
		-o $@ $(NSS_OBJ) $(LIBCORE) $(TDB_STATIC) -lpthread

# Unit tests link the core archive; module tests load the built modules.
$(BUILD)/tests/%: tests/%.c $(LIBCORE) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $(LDHARDEN) -o $@ $< $(LIBCORE) \
		$(call pc_libs,cmocka jansson) \
		$(if $(findstring pam,$*),-lpamtest -lpam -lpam_misc) \
		$(CORE_LIBS) -ldl

# admin/fleet_conf.c, tested on its own
$(BUILD)/tests/test_fleet_conf: tests/test_fleet_conf.c $(BUILD)/admin/fleet_conf.o $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -Iadmin $(LDHARDEN) -o $@ $< \
		$(BUILD)/admin/fleet_conf.o $(LIBCORE) $(call pc_libs,cmocka) \
		$(CORE_LIBS)
# The etcd client (network code) links libcurl: only the CLI and this
# test, never a module.
FLEET_OBJ := $(BUILD)/admin/etcd.o $(BUILD)/admin/fleet_conf.o
$(BUILD)/tests/etcd/test_etcd: tests/test_etcd.c $(FLEET_OBJ) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -Iadmin $(LDHARDEN) -o $@ $< $(FLEET_OBJ) \
		$(LIBCORE) $(call pc_libs,jansson libcurl) $(CORE_LIBS)

test-bins: $(TARGETS) $(TEST_BIN) $(BUILD)/tests/etcd/test_etcd

check: test-bins
	@sh tests/run.sh

$(BUILD)/bench/%: bench/%.c $(LIBCORE) $(TARGETS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDHARDEN) -o $@ $< $(LIBCORE) -lpam -lcrypt $(CORE_LIBS) -ldl

bench-bins: $(TARGETS) $(BENCH_BIN)

bench: bench-bins
	@sh bench/run.sh

# root on a fresh Debian 12: installs what it needs, builds, then runs the
# whole lifecycle against the real sshd and sudo in a private namespace.
demo:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) -s --no-print-directory all
	@sh tests/e2e/demo.sh

deps:
	@if [ "$$(id -u)" = 0 ]; then \
		export DEBIAN_FRONTEND=noninteractive; \
		missing=$$(for p in $(DEB_DEPS); do \
			dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
			grep -q 'install ok installed' || echo $$p; done); \
		if [ -n "$$missing" ]; then \
			echo "installing: $$missing"; \
			rcd=; case " $$missing " in *" etcd-server "*) \
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
etcd-service-off:
	@if [ -d /run/systemd/system ]; then \
		systemctl disable --now etcd.service >/dev/null 2>&1 || true; \
	else \
		deb-systemd-helper disable etcd.service >/dev/null 2>&1 || true; \
	fi; \
	update-rc.d etcd disable >/dev/null 2>&1 || true; \
	echo "etcd.service (the packaged one) is stopped and disabled"

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

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/appuser $(DESTDIR)$(PAMDIR)/pam_appuser.so \
		$(DESTDIR)$(LIBDIR)/libnss_appuser.so.2 \
		$(DESTDIR)$(MANDIR)/man8/appuser.8 $(DESTDIR)$(MANDIR)/man8/pam_appuser.8 \
		$(DESTDIR)$(MANDIR)/man8/nss_appuser.8 \
		$(DESTDIR)$(DATADIR)/pam-configs/appuser \
		$(DESTDIR)$(SYSCONFDIR)/sudoers.d/appuser
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
