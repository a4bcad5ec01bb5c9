/* SPDX-License-Identifier: MIT */
/* The certificates of the last root rollover: kept in DB_META "rollover" (written with the
 * rollover's last certificate), loaded at ca_open, published to ACME's alternate chains
 * and EST's /cacerts. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

void ca_serial_hex(X509 *x, char out[2 * DB_SERIAL_MAX + 1])
{
	uint8_t sn[DB_SERIAL_MAX];
	size_t len = 0;

	out[0] = '\0';
	if (ca_cert_serial(x, sn, &len, NULL) == 0)
		db_serial_hex(sn, len, out);
}

/* The three by their key in meta "rollover" and the name they are published under
 * (GET /ca/NAME.crt), in member() order. */
static const char *const members[3] = { "root", "new_by_old", "old_by_new" };
static const char *const published[3] = { "rollover-root", "rollover-cross-new-by-old",
					   "rollover-cross-old-by-new" };

static X509 **member(ca_rollover_certs_t *r, int i)
{
	return i == 0 ? &r->root : i == 1 ? &r->new_by_old : &r->old_by_new;
}

/* The three fit the daemon's root: old_by_new is its name and key under another key,
 * new_by_old is signed by it, root is self-signed with new_by_old's key. */
static int fits(X509 *root, const ca_rollover_certs_t *r)
{
	EVP_PKEY *old = X509_get0_pubkey(root), *new = X509_get0_pubkey(r->root);

	return X509_NAME_cmp(X509_get_subject_name(r->old_by_new),
			     X509_get_subject_name(root)) == 0 &&
	       EVP_PKEY_eq(X509_get0_pubkey(r->old_by_new), old) == 1 &&
	       X509_verify(r->old_by_new, new) == 1 && X509_verify(r->new_by_old, old) == 1 &&
	       EVP_PKEY_eq(X509_get0_pubkey(r->new_by_old), new) == 1 &&
	       X509_verify(r->root, new) == 1;
}

void ca_rollover_clear(ca_rollover_certs_t *r)
{
	int i;

	for (i = 0; i < 3; i++)
		X509_free(*member(r, i));
}

void ca_rollover_free(ca_rollover_certs_t *r)
{
	ca_rollover_certs_t *prev;

	for (; r != NULL; r = prev) {
		prev = r->prev;
		ca_rollover_clear(r);
		free(r);
	}
}

/* Makes r (owned from here) the rollover answered from now on; the one before stays
 * allocated until ca_free (a reader may hold it). rot_mu held or ca not yet shared. */
static void publish(ca_t *ca, ca_rollover_certs_t *r)
{
	r->prev = atomic_load(&ca->rollover);
	atomic_store(&ca->rollover, r);
}

int ca_rollover_meta_put(db_txn_t *txn, const char *serial_hex, void *arg, cairn_err_t *err)
{
	char hex[3][2 * DB_SERIAL_MAX + 1];
	char *text = NULL;
	json_t *doc;
	int i, rc;

	(void)serial_hex; /* the last certificate's: arg names all three */
	for (i = 0; i < 3; i++)
		ca_serial_hex(*member(arg, i), hex[i]);
	doc = json_pack("{s:s, s:s, s:s}", members[0], hex[0], members[1], hex[1], members[2],
			hex[2]);
	if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL) {
		json_decref(doc);
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	}
	json_decref(doc);
	rc = db_put(txn, DB_META, CA_ROLLOVER_META, strlen(CA_ROLLOVER_META), text,
		    strlen(text), 0);
	free(text);
	if (rc != 0)
		cairn_err_set(err, rc, "recording the rollover: %s", cairn_strerror(rc));
	return rc;
}

int ca_rollover_set(ca_t *ca, const ca_rollover_certs_t *from, cairn_err_t *err)
{
	ca_rollover_certs_t *r = calloc(1, sizeof(*r));
	int i;

	for (i = 0; r != NULL && i < 3; i++) {
		X509 *x = *member((ca_rollover_certs_t *)from, i);

		if (X509_up_ref(x) != 1) {
			ca_rollover_free(r);
			r = NULL;
		} else {
			*member(r, i) = x;
		}
	}
	if (r == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	publish(ca, r);
	return 0;
}

int ca_rollover_read(db_t *db, X509 *root, ca_rollover_certs_t **out, cairn_err_t *err)
{
	ca_rollover_certs_t *r = NULL;
	db_txn_t *txn = NULL;
	json_t *doc = NULL;
	const void *v;
	size_t vlen;
	int i, rc = 0;

	*out = NULL;
	if (db_read_begin(db, &txn) != 0)
		return cairn_err_set(err, CAIRN_EDB, "cannot read the database");
	if (db_get(txn, DB_META, CA_ROLLOVER_META, strlen(CA_ROLLOVER_META), &v, &vlen) != 0)
		goto out; /* no rollover */
	if ((doc = json_loadb(v, vlen, 0, NULL)) == NULL || (r = calloc(1, sizeof(*r))) == NULL) {
		rc = cairn_err_set(err, doc == NULL ? CAIRN_EDB : CAIRN_ENOMEM,
				   doc == NULL ? "meta %s is damaged" : "out of memory",
				   CA_ROLLOVER_META);
		goto out;
	}
	for (i = 0; i < 3; i++) {
		const char *hex = json_string_value(json_object_get(doc, members[i]));
		uint8_t serial[DB_SERIAL_MAX];
		const unsigned char *p;
		db_cert_t c;
		int n;

		if (hex == NULL || (n = hex_decode(hex, serial, sizeof(serial))) <= 0 ||
		    db_cert_get(txn, serial, (size_t)n, &c) != 0 ||
		    (p = c.der, *member(r, i) = ca_cert_d2i(&p, (long)c.der_len)) == NULL) {
			rc = cairn_err_set(err, CAIRN_EDB, "meta %s: %s is damaged", CA_ROLLOVER_META,
					   members[i]);
			goto out;
		}
	}
	if (!fits(root, r)) {
		rc = cairn_err_set(err, CAIRN_ECONFIG,
				   "the rollover's certificates (meta %s) do not belong to the root "
				   "in ca.root_cert",
				   CA_ROLLOVER_META);
		goto out;
	}
	*out = r;
	r = NULL;
out:
	ERR_clear_error();
	ca_rollover_free(r);
	json_decref(doc);
	db_txn_end(txn);
	return rc;
}

int ca_rollover_load(ca_t *ca, cairn_err_t *err)
{
	ca_rollover_certs_t *r = NULL;
	int rc = ca_rollover_read(ca->db, ca->root, &r, err);

	if (rc == 0 && r != NULL)
		publish(ca, r);
	return rc;
}

const ca_rollover_certs_t *ca_rollover(const ca_t *ca)
{
	return ca == NULL ? NULL : atomic_load(&((ca_t *)ca)->rollover);
}

X509 *ca_rollover_named(const ca_rollover_certs_t *rollover, const char *name)
{
	ca_rollover_certs_t *r = (ca_rollover_certs_t *)rollover;
	int i;

	for (i = 0; r != NULL && i < 3; i++)
		if (strcmp(name, published[i]) == 0)
			return *member(r, i);
	return NULL;
}

void ca_rollover_free_all(ca_t *ca)
{
	ca_rollover_free(atomic_load(&ca->rollover));
	atomic_store(&ca->rollover, NULL);
}
