/* SPDX-License-Identifier: MIT */
/* Unit tests of hsm/signer.c: test_hsm.c's signer tests, in a process of their own (test_hsm.c says why). */
#define TEST_HSM_SIGNERS
#include "test_hsm.c"
