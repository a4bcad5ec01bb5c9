/* SPDX-License-Identifier: MIT */
/* crl internals shared by the files of crl/ — not part of the public interface. */
#ifndef CAIRN_CRL_INT_H
#define CAIRN_CRL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "crl/crl.h"

/* der.c: the few DER pieces the CRL writer emits by hand (tag, length, times). */

/* Bytes of a tag-length-value with content of n bytes (one-byte tag). */
size_t crl_der_tlv_size(size_t n);
/* Writes tag and the definite length of n at p; returns the position after it. */
uint8_t *crl_der_hdr(uint8_t *p, uint8_t tag, size_t n);
/* Time for a CRL entry (RFC 5280 §5.1.2.6): UTCTime (13 bytes) through 2049,
 * GeneralizedTime (15 bytes) after, or always GeneralizedTime when generalized
 * is set (invalidityDate). Writes the whole TLV at p (when p is non-NULL) and
 * returns its size. */
size_t crl_der_time(uint8_t *p, int64_t t, int generalized);

#endif
