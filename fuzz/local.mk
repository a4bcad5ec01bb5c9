# SPDX-License-Identifier: MIT
# Fuzz targets: one file per parser that reads outside input, fuzz/fuzz_NAME.c with
# FUZZ_TARGET(NAME) { ... }, seeds in fuzz/corpus/NAME/. Adding a parser = that file
# and one row in FUZZ_SOURCES. scripts/fuzz.sh builds each with libFuzzer (clang);
# here fuzz/replay runs every corpus in `make check` (normal and sanitizer builds).
FUZZ_SOURCES = \
	fuzz/fuzz_base64url.c \
	fuzz/fuzz_csr.c \
	fuzz/fuzz_cert.c \
	fuzz/fuzz_config.c \
	fuzz/fuzz_admin.c \
	fuzz/fuzz_audit_event.c \
	fuzz/fuzz_policy.c \
	fuzz/fuzz_ocsp.c \
	fuzz/fuzz_jws.c \
	fuzz/fuzz_est.c \
	fuzz/fuzz_time.c

check_PROGRAMS += fuzz/replay
TESTS += fuzz/replay
fuzz_replay_SOURCES = fuzz/fuzz.h fuzz/common.c fuzz/replay.c $(FUZZ_SOURCES)
fuzz_replay_LDADD = libserver.la libui.la libadmin.la libest.la libacme.la libcrl.la libocsp.la libpolicy.la libinventory.la libca.la libnotify.la libaudit.la libdb.la libhsm.la \
	libutil.la $(CAIRN_LIBS)
EXTRA_DIST += scripts/fuzz.sh fuzz/corpus

FUZZ_SECONDS = 60
fuzz-smoke:
	sh $(abs_top_srcdir)/scripts/fuzz.sh --smoke $(FUZZ_SECONDS)
fuzz-sources:
	@echo $(FUZZ_SOURCES)
.PHONY: fuzz-smoke fuzz-sources
