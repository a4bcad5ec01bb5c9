/* SPDX-License-Identifier: MIT */
/* ACME revokeCert (RFC 8555 §7.6) and renewalInfo (RFC 9773). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme/acme_int.h"

/*
 * Revokes one certificate through the CA (ca_revoke: status, revoked index and audit
 * event in one durable write; OCSP and CRL listeners are told after the commit).
 */
static int acme_do_revoke(acme_t *a, const uint8_t *serial, size_t len, int reason,
			  const char *actor, cairn_err_t *err)
{
	char hex[2 * DB_SERIAL_MAX + 1];

	db_serial_hex(serial, len, hex);
	return ca_revoke(a->ca, hex, reason, 0, actor, err);
}

/* Serial bytes as the db keys them: the INTEGER content without a leading 0x00. */
static int cert_serial(X509 *x, uint8_t *out, size_t *len)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(x);
	const uint8_t *p = ASN1_STRING_get0_data(s);
	size_t n = (size_t)ASN1_STRING_length(s);

	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	if (n == 0 || n > DB_SERIAL_MAX)
		return CAIRN_EINVAL;
	memcpy(out, p, n);
	*len = n;
	return 0;
}

/* Is the CN (read as a name by the one extractor) a name the account holds a valid
 * authorization for? No CN: nothing to check. A CN that is neither an address nor a
 * DNS name (a person's name, a label without a dot) can never be validated over ACME,
 * so it is never authorized. */
static int cn_authorized(acme_t *a, const char *acct, const ca_names_t *names)
{
	char dns[256], why[300];
	int wildcard;

	if (names->cn == NULL)
		return 1;
	if (names->cn_name.type == CA_SAN_IP)
		return acme_has_valid_authz(a, acct, "ip", names->cn_name.text);
	if (names->cn_name.type != CA_SAN_DNS ||
	    snprintf(dns, sizeof(dns), "%s", names->cn_name.text) >= (int)sizeof(dns) ||
	    acme_dns_name_check(dns, &wildcard, why, sizeof(why)) != 0)
		return 0;
	return acme_has_valid_authz(a, acct, "dns", dns);
}

/* Does the account hold valid authorizations for every name of the certificate: every
 * SAN (DNS and IP only: any other SAN type, or none, means no) and the CN, which counts
 * as a name on every profile? */
static int authorized_for_all(acme_t *a, const char *acct, X509 *x)
{
	ca_names_t names;
	size_t i;
	int ok;

	if (ca_names_from_cert(x, &names, NULL) != 0)
		return 0;
	ok = names.n_san > 0 && names.other_type < 0 && cn_authorized(a, acct, &names);
	for (i = 0; i < names.n_san && ok; i++) {
		const ca_name_t *nm = &names.san[i];
		ok = (nm->type == CA_SAN_DNS || nm->type == CA_SAN_IP) &&
		     acme_has_valid_authz(a, acct, ca_name_type_str(nm->type), nm->text);
	}
	ca_names_clear(&names);
	return ok;
}

void acme_revoke(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		 http_reply_t *r)
{
	acme_jws_t j;
	const char *b64;
	uint8_t *der = NULL, serial[DB_SERIAL_MAX];
	const uint8_t *p;
	size_t der_len = 0, slen = 0;
	X509 *x = NULL;
	EVP_PKEY *jwk_key = NULL;
	json_t *owner = NULL, *reason_j;
	char hex[2 * DB_SERIAL_MAX + 1], key[64], actor[80], why[200] = "";
	db_txn_t *txn = NULL;
	db_cert_t c;
	cairn_err_t err = { 0 };
	int reason = 0, rc, found;
	(void)arg;

	if (acme_jws_verify(a, req->body, req->body_len, url, -1, &j, r) != 0)
		return;
	b64 = json_string_value(json_object_get(j.payload, "certificate"));
	if (b64 == NULL || b64url_decode(b64, strlen(b64), &der, &der_len) != 0) {
		acme_problem(r, 400, "malformed", "payload needs certificate: base64url DER");
		goto out;
	}
	p = der;
	x = ca_cert_d2i(&p, (long)der_len);
	if (x == NULL || p != der + der_len || cert_serial(x, serial, &slen) != 0) {
		acme_problem(r, 400, "malformed", "certificate is not a DER X.509 certificate");
		goto out;
	}
	reason_j = json_object_get(j.payload, "reason");
	if (reason_j != NULL) {
		if (!json_is_integer(reason_j) || json_integer_value(reason_j) < 0 ||
		    json_integer_value(reason_j) > 10 || json_integer_value(reason_j) == 7 ||
		    json_integer_value(reason_j) == 2 || json_integer_value(reason_j) == 8 ||
		    json_integer_value(reason_j) == 10) {
			acme_problem(r, 400, "badRevocationReason",
				     "reason must be 0, 1, 3, 4, 5, 6 or 9 (RFC 5280 CRLReason)");
			goto out;
		}
		reason = (int)json_integer_value(reason_j);
	}
	db_serial_hex(serial, slen, hex);
	found = db_read_begin(a->db, &txn) == 0 && db_cert_get(txn, serial, slen, &c) == 0 &&
		c.der_len == der_len && memcmp(c.der, der, der_len) == 0;
	db_txn_end(txn);
	if (!found) {
		acme_problem(r, 404, "malformed", "this CA did not issue that certificate");
		goto out;
	}
	if (j.kid != NULL) {
		/* Signed by an account: the one that ordered the certificate, or one that holds
		 * valid authorizations for every name in it (RFC 8555 §7.6). */
		int ordered;

		snprintf(key, sizeof(key), "s/%s", hex);
		ordered = acme_get(a, key, &owner) == 0 &&
			  strcmp(json_string_value(json_object_get(owner, "acct")), j.acct_id) == 0;
		if (!ordered && !authorized_for_all(a, j.acct_id, x)) {
			acme_problem(r, 403, "unauthorized",
				     "the account neither ordered this certificate nor holds "
				     "authorizations for all its names (the CN included)");
			goto out;
		}
		/* keyCompromise blocks the key on every channel: only the holder of the key
		 * (or the account that had it certified) may say that, not an account that
		 * merely controls the names now. */
		if (!ordered && reason == CA_REASON_KEY_COMPROMISE) {
			acme_problem(r, 400, "badRevocationReason",
				     "keyCompromise needs proof of the key: sign the revocation "
				     "with the certificate's key (jwk), or ask the account that "
				     "ordered it");
			goto out;
		}
		snprintf(actor, sizeof(actor), "acme:acct/%s", j.acct_id);
	} else {
		/* Signed by the certificate's own key. */
		jwk_key = acme_jwk_to_pkey(j.jwk, why, sizeof(why));
		if (jwk_key == NULL || EVP_PKEY_eq(jwk_key, X509_get0_pubkey(x)) != 1) {
			acme_problem(r, 403, "unauthorized",
				     "the jwk is not the certificate's public key");
			goto out;
		}
		snprintf(actor, sizeof(actor), "acme:certkey/%s", hex);
	}
	rc = acme_do_revoke(a, serial, slen, reason, actor, &err);
	if (rc == CAIRN_EEXIST) {
		acme_problem(r, 400, "alreadyRevoked", "certificate %s is already revoked", hex);
		goto out;
	}
	if (rc) {
		acme_problem_write(r, &err, "revocation");
		goto out;
	}
	http_reply_set(r, 200, NULL, NULL, 0);
out:
	EVP_PKEY_free(jwk_key);
	X509_free(x);
	free(der);
	json_decref(owner);
	acme_jws_clear(&j);
}

/* 1 when the certificate's AKI keyIdentifier is the aki_len bytes of aki (the first part
 * of a certID, RFC 9773 4.1): a certID naming the serial under another issuer's key is
 * not this certificate. */
static int aki_matches(const db_cert_t *c, const uint8_t *aki, size_t aki_len)
{
	const uint8_t *p = c->der;
	X509 *x = ca_cert_d2i(&p, (long)c->der_len);
	const ASN1_OCTET_STRING *kid = x ? X509_get0_authority_key_id(x) : NULL;
	int ok = kid != NULL && (size_t)ASN1_STRING_length(kid) == aki_len &&
		 memcmp(ASN1_STRING_get0_data(kid), aki, aki_len) == 0;

	X509_free(x);
	return ok;
}

void acme_renewal_info(acme_t *a, const char *url, const char *arg, const acme_request_t *req,
		       http_reply_t *r)
{
	const char *dot = strchr(arg, '.');
	uint8_t *raw = NULL, *aki = NULL, serial[DB_SERIAL_MAX];
	size_t raw_len = 0, aki_len = 0, slen;
	db_txn_t *txn = NULL;
	db_cert_t c;
	int64_t start, end, life, by = 0;
	uint64_t campaign = 0;
	char s1[32], s2[32], url_buf[512];
	json_t *doc;
	const uint8_t *sp;
	(void)url;
	(void)req;

	/* certID = base64url(AKI keyIdentifier) "." base64url(serial INTEGER content) */
	if (dot == NULL || dot == arg ||
	    b64url_decode(arg, (size_t)(dot - arg), &aki, &aki_len) != 0 || aki_len == 0 ||
	    b64url_decode(dot + 1, strlen(dot + 1), &raw, &raw_len) != 0) {
		acme_problem(r, 400, "malformed", "renewalInfo needs a certID (RFC 9773 §4.1)");
		goto out;
	}
	if (raw_len == 0) {
		acme_problem(r, 400, "malformed",
			     "certID serial is empty: a DER INTEGER has at least one byte");
		goto out;
	}
	/* The serial part is a DER INTEGER's content, one encoding a number: a leading 0x00
	 * only as the sign byte before a first byte with its top bit set (the byte the db
	 * keys drop, ca_cert_serial). A padded serial is refused, not read as the number it
	 * pads, so no two certIDs name one certificate (RFC 9773 §4.1; the OCSP request
	 * decoder refuses padded serials alike). */
	sp = raw;
	slen = raw_len;
	if (slen > 1 && sp[0] == 0) {
		if (!(sp[1] & 0x80)) {
			acme_problem(r, 400, "malformed",
				     "certID serial is not in DER: a leading zero byte is allowed "
				     "only before a byte with its top bit set");
			goto out;
		}
		sp++;
		slen--;
	}
	if (slen > DB_SERIAL_MAX) {
		acme_problem(r, 404, "malformed", "unknown certificate");
		goto out;
	}
	memcpy(serial, sp, slen);
	if (db_read_begin(a->db, &txn) != 0 || db_cert_get(txn, serial, slen, &c) != 0 ||
	    !aki_matches(&c, aki, aki_len)) {
		acme_problem(r, 404, "malformed", "unknown certificate");
		goto out;
	}
	life = c.not_after - c.not_before;
	url_buf[0] = '\0';
	if (c.status == DB_CERT_VALID &&
	    ca_replace_mark_of(txn, serial, slen, &campaign, &by, url_buf, sizeof(url_buf)) == 0) {
		/* Marked for replacement (cairn replace): renew now, at the latest by the
		 * campaign's deadline. */
		start = (int64_t)time(NULL) - 60;
		end = by < c.not_after ? by : c.not_after;
		if (end <= start + 60)
			end = start + 120;
	} else if (c.status == DB_CERT_REVOKED) {
		/* Renew now. */
		start = (int64_t)time(NULL) - 3600;
		end = (int64_t)time(NULL);
	} else {
		start = c.not_before + life * a->ari_window_pct / 100;
		end = start + life / 10;
		if (end > c.not_after)
			end = c.not_after;
	}
	time_rfc3339((time_t)start, s1, sizeof(s1));
	time_rfc3339((time_t)end, s2, sizeof(s2));
	doc = json_pack("{s:{s:s, s:s}}", "suggestedWindow", "start", s1, "end", s2);
	if (doc != NULL && url_buf[0] != '\0')
		json_object_set_new(doc, "explanationURL", json_string(url_buf));
	http_reply_json(r, 200, NULL, doc);
	json_decref(doc);
	r->retry_after = 21600;
out:
	db_txn_end(txn);
	free(aki);
	free(raw);
}
