/* SPDX-License-Identifier: MIT */
/* One fuzz target per parser: FUZZ_TARGET(name) { ... } builds both a libFuzzer entry
 * point (with -DFUZZ_LIBFUZZER, scripts/fuzz.sh) and a registered function that
 * fuzz/replay runs over fuzz/corpus/NAME/ in `make check` (the regression suite). */
#ifndef CAIRN_FUZZ_H
#define CAIRN_FUZZ_H

#include <stddef.h>
#include <stdint.h>

typedef int (*fuzz_fn)(const uint8_t *data, size_t size);

/* Registers a target for the replay driver (called from constructors). */
void fuzz_register(const char *name, fuzz_fn fn);

/* A private temporary directory for the process, removed at exit. Never NULL
 * (aborts when none can be made: a fuzz target cannot run without it). */
const char *fuzz_tmpdir(void);

/* A fuzz target may only find bugs by crashing: this aborts with a message so that
 * libFuzzer (and the replay test) report the input. */
#define FUZZ_ASSERT(cond) ((cond) ? (void)0 : fuzz_fail(#cond, __FILE__, __LINE__))
void fuzz_fail(const char *what, const char *file, int line) __attribute__((noreturn));

#ifdef FUZZ_LIBFUZZER
#define FUZZ_TARGET(name)                                                  \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);      \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#else
#define FUZZ_TARGET(name)                                                  \
	static int fuzz_##name(const uint8_t *data, size_t size);          \
	__attribute__((constructor)) static void fuzz_register_##name(void) \
	{                                                                  \
		fuzz_register(#name, fuzz_##name);                         \
	}                                                                  \
	static int fuzz_##name(const uint8_t *data, size_t size)
#endif

#endif
