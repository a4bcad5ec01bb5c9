/* SPDX-License-Identifier: MIT */
/* Test tool: flips one byte of a stored audit event so tests can prove `audit verify` notices. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

/*
 * Usage: audit_tamper DBDIR SEQ [OFFSET]
 * XORs 0x01 into byte OFFSET of audit event SEQ; by default the first letter or
 * digit inside the "actor" value, so the event stays valid JSON and only its
 * content (hence its hash) changes. Prints the offset and the old/new bytes.
 */

struct tamper {
	uint64_t seq;
	long offset; /* -1: inside "actor" */
	size_t used;
	int old_byte;
};

static long actor_offset(const char *v, size_t len)
{
	static const char tag[] = "\"actor\":\"";
	const char *p = memmem(v, len, tag, sizeof(tag) - 1);
	const char *end = v + len;

	if (p == NULL)
		return -1;
	for (p += sizeof(tag) - 1; p < end && *p != '"'; p++) {
		if (*p == '\\') {
			p++;
			continue;
		}
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
			return p - v;
	}
	return -1;
}

static int tamper_fn(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct tamper *t = arg;
	uint8_t key[8], *copy = NULL;
	const void *v;
	size_t vlen;
	long off;
	int ret;

	db_be64_put(key, t->seq);
	ret = db_get(txn, DB_AUDIT, key, sizeof(key), &v, &vlen);
	if (ret != 0)
		return cairn_err_set(err, ret, "audit event %" PRIu64 ": %s", t->seq,
				     cairn_strerror(ret));
	off = t->offset >= 0 ? t->offset : actor_offset(v, vlen);
	if (off < 0 || (size_t)off >= vlen)
		return cairn_err_set(err, CAIRN_EINVAL, "offset %ld outside event of %zu bytes",
				     off, vlen);
	copy = malloc(vlen);
	if (copy == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	memcpy(copy, v, vlen);
	t->old_byte = copy[off];
	copy[off] ^= 0x01;
	t->used = (size_t)off;
	ret = db_put(txn, DB_AUDIT, key, sizeof(key), copy, vlen, 0);
	free(copy);
	if (ret != 0)
		return cairn_err_set(err, ret, "rewrite event: %s", cairn_strerror(ret));
	return 0;
}

int main(int argc, char **argv)
{
	struct tamper t = { .offset = -1 };
	cairn_err_t err = { 0 };
	db_t *db = NULL;
	char *end;
	int ret;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s DBDIR SEQ [OFFSET]\n", argv[0]);
		return 2;
	}
	t.seq = strtoull(argv[2], &end, 10);
	if (*end != '\0' || t.seq == 0) {
		fprintf(stderr, "audit_tamper: bad sequence number '%s'\n", argv[2]);
		return 2;
	}
	if (argc == 4) {
		t.offset = strtol(argv[3], &end, 10);
		if (*end != '\0' || t.offset < 0) {
			fprintf(stderr, "audit_tamper: bad offset '%s'\n", argv[3]);
			return 2;
		}
	}
	ret = db_open(argv[1], &db, &err);
	if (ret == 0)
		ret = db_write(db, tamper_fn, &t, &err);
	db_close(db);
	if (ret != 0) {
		fprintf(stderr, "audit_tamper: %s\n", cairn_err_msg(&err));
		return 1;
	}
	printf("event %" PRIu64 ": byte %zu 0x%02x -> 0x%02x\n", t.seq, t.used, t.old_byte,
	       t.old_byte ^ 0x01);
	return 0;
}
