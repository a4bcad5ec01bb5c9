/* SPDX-License-Identifier: MIT */
/* Certificate profiles: the defaults written by init, and parsing a profile from the config. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

#define PROFILE_MAX_VALIDITY CA_PROFILE_MAX_VALIDITY
#define PROFILE_MIN_RSA CA_PROFILE_MIN_RSA
#define PROFILE_MAX_RSA CA_PROFILE_MAX_RSA

/* keyUsage names (RFC 5280 §4.2.1.3) and their X509v3_KU_* bits. */
static const struct {
	const char *name;
	unsigned bit;
} ku_names[] = {
	{ "digitalSignature", X509v3_KU_DIGITAL_SIGNATURE },
	{ "nonRepudiation", X509v3_KU_NON_REPUDIATION },
	{ "contentCommitment", X509v3_KU_NON_REPUDIATION },
	{ "keyEncipherment", X509v3_KU_KEY_ENCIPHERMENT },
	{ "dataEncipherment", X509v3_KU_DATA_ENCIPHERMENT },
	{ "keyAgreement", X509v3_KU_KEY_AGREEMENT },
	{ "keyCertSign", X509v3_KU_KEY_CERT_SIGN },
	{ "cRLSign", X509v3_KU_CRL_SIGN },
	{ "encipherOnly", X509v3_KU_ENCIPHER_ONLY },
	{ "decipherOnly", X509v3_KU_DECIPHER_ONLY },
};

/* extendedKeyUsage names and their OIDs. */
static const struct {
	const char *name;
	const char *oid;
} eku_names[] = {
	{ "serverAuth", "1.3.6.1.5.5.7.3.1" },
	{ "clientAuth", "1.3.6.1.5.5.7.3.2" },
	{ "codeSigning", "1.3.6.1.5.5.7.3.3" },
	{ "emailProtection", "1.3.6.1.5.5.7.3.4" },
	{ "timeStamping", "1.3.6.1.5.5.7.3.8" },
	{ "OCSPSigning", "1.3.6.1.5.5.7.3.9" },
	{ "documentSigning", "1.3.6.1.5.5.7.3.36" },
};

/* san_types names and their CA_SAN_* bits. */
static const struct {
	const char *name;
	unsigned bit;
} san_names[] = {
	{ "dns", CA_SAN_DNS },
	{ "ip", CA_SAN_IP },
	{ "email", CA_SAN_EMAIL },
	{ "uri", CA_SAN_URI },
};

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

/* What `cairn init`, `cairn ca rotate`, `cairn ca cross-sign` and the daemon's renewals
 * record their certificates under. Revoking one in use through the leaf channels would
 * break the CA for every relying party (a root on its own CRL, the issuing CA "revoked"
 * by OCSP) or leave the daemon signing with a revoked certificate it never replaces;
 * each has its own way out instead (inuse.c tells the retired ones apart). */
static const struct {
	const char *profile, *instead;
} own_profiles[] = {
	{ "ca-root", "a root is retired by a root rollover (cairn ca cross-sign), an outside "
		     "root by its owner" },
	{ "ca-cross", "a cross-certificate ends with the old root of its rollover" },
	{ "ca-issuing", "replace the issuing CA with cairn ca rotate (under an outside root, "
			"the root's owner signs a new one and revokes this one)" },
	{ "ocsp-signer", "replace the OCSP signer with cairn ca renew --ocsp-signer, then "
			 "revoke this one" },
	{ "daemon-tls", "replace the HTTPS certificate with cairn ca renew --https, then "
			"revoke this one" },
};

const char *ca_own_profile(const char *profile)
{
	size_t i;

	for (i = 0; profile != NULL && i < N_ELEM(own_profiles); i++)
		if (strcmp(profile, own_profiles[i].profile) == 0)
			return own_profiles[i].instead;
	return NULL;
}

/*
 * The default profiles. Kept as JSON so that `cairn init` writes exactly what
 * ca_profile_parse reads back.
 */
json_t *ca_profiles_default(void)
{
	return json_pack(
		"{s:{s:i, s:[s,s], s:[s], s:[s,s], s:b},"
		" s:{s:i, s:[s], s:[s], s:[s,s,s], s:b},"
		" s:{s:i, s:[s], s:[s], s:[s,s], s:b},"
		" s:{s:i, s:[s,s], s:[s], s:[s], s:b},"
		" s:{s:i, s:[s], s:[s], s:[s,s], s:b}}",
		"tls-server", "validity_days", 90, "key_usage", "digitalSignature",
		"keyEncipherment", "ext_key_usage", "serverAuth", "san_types", "dns", "ip",
		"require_san", 1,
		"tls-client", "validity_days", 365, "key_usage", "digitalSignature",
		"ext_key_usage", "clientAuth", "san_types", "dns", "email", "uri", "require_san", 0,
		"code-signing", "validity_days", 365, "key_usage", "digitalSignature",
		"ext_key_usage", "codeSigning", "san_types", "email", "uri", "require_san", 0,
		"document-signing", "validity_days", 365, "key_usage", "digitalSignature",
		"nonRepudiation", "ext_key_usage", "1.3.6.1.5.5.7.3.36", "san_types", "email",
		"require_san", 0,
		"admin", "validity_days", 365, "key_usage", "digitalSignature", "ext_key_usage",
		"clientAuth", "san_types", "email", "uri", "require_san", 0);
}

static int name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n >= sizeof(((ca_profile_t *)0)->name))
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/* Resolves an EKU name or dotted OID into its dotted form (out, 48 bytes). */
static int eku_resolve(const char *s, char out[48])
{
	ASN1_OBJECT *obj = NULL;
	size_t i;
	int n;

	for (i = 0; i < N_ELEM(eku_names); i++) {
		if (strcmp(s, eku_names[i].name) == 0) {
			snprintf(out, 48, "%s", eku_names[i].oid);
			return 0;
		}
	}
	if (s[0] < '0' || s[0] > '2' || strspn(s, "0123456789.") != strlen(s))
		return -1;
	obj = OBJ_txt2obj(s, 1);
	if (obj == NULL)
		return -1;
	n = OBJ_obj2txt(out, 48, obj, 1);
	ASN1_OBJECT_free(obj);
	return (n > 0 && n < 48) ? 0 : -1;
}

static int parse_ku(const char *name, const json_t *arr, unsigned *out, cairn_err_t *err)
{
	size_t i, j;
	const json_t *v;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "profiles.%s.key_usage: must be a non-empty array of names",
				     name);
	*out = 0;
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		for (j = 0; s != NULL && j < N_ELEM(ku_names); j++)
			if (strcmp(s, ku_names[j].name) == 0)
				break;
		if (s == NULL || j == N_ELEM(ku_names))
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "profiles.%s.key_usage[%zu]: unknown key usage %s%s%s",
					     name, i, s ? "\"" : "", s ? s : "(not a string)",
					     s ? "\"" : "");
		if (ku_names[j].bit & (X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN))
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "profiles.%s.key_usage[%zu]: %s is only for CA "
					     "certificates",
					     name, i, s);
		*out |= ku_names[j].bit;
	}
	return 0;
}

static int parse_eku(const char *name, const json_t *arr, ca_profile_t *p, cairn_err_t *err)
{
	size_t i, j;
	const json_t *v;

	if (!json_is_array(arr))
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "profiles.%s.ext_key_usage: must be an array of names or OIDs",
				     name);
	if (json_array_size(arr) > CA_MAX_EKU)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "profiles.%s.ext_key_usage: at most %d entries", name,
				     CA_MAX_EKU);
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		if (s == NULL || eku_resolve(s, p->eku[p->n_eku]) != 0)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "profiles.%s.ext_key_usage[%zu]: %s%s%s is neither a "
					     "known name nor a dotted OID",
					     name, i, s ? "\"" : "", s ? s : "(not a string)",
					     s ? "\"" : "");
		for (j = 0; j < p->n_eku; j++)
			if (strcmp(p->eku[j], p->eku[p->n_eku]) == 0)
				return cairn_err_set(err, CAIRN_ECONFIG,
						     "profiles.%s.ext_key_usage[%zu]: duplicate %s",
						     name, i, s);
		p->n_eku++;
	}
	return 0;
}

static int parse_sans(const char *name, const json_t *arr, unsigned *out, cairn_err_t *err)
{
	size_t i, j;
	const json_t *v;

	if (!json_is_array(arr))
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "profiles.%s.san_types: must be an array of "
				     "\"dns\", \"ip\", \"email\", \"uri\"",
				     name);
	*out = 0;
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		for (j = 0; s != NULL && j < N_ELEM(san_names); j++)
			if (strcmp(s, san_names[j].name) == 0)
				break;
		if (s == NULL || j == N_ELEM(san_names))
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "profiles.%s.san_types[%zu]: must be one of \"dns\", "
					     "\"ip\", \"email\", \"uri\"",
					     name, i);
		*out |= san_names[j].bit;
	}
	return 0;
}

static int parse_int(const char *name, const char *key, const json_t *v, int lo, int hi,
		     int *out, cairn_err_t *err)
{
	json_int_t n;

	if (!json_is_integer(v) || (n = json_integer_value(v)) < lo || n > hi)
		return cairn_err_set(err, CAIRN_ECONFIG, "profiles.%s.%s: must be %d..%d", name,
				     key, lo, hi);
	*out = (int)n;
	return 0;
}

static int parse_staple(const char *name, const json_t *v, int *out, cairn_err_t *err)
{
	static const char *const words[] = { [CA_STAPLE_REQUEST] = "request",
					     [CA_STAPLE_ALWAYS] = "always",
					     [CA_STAPLE_NEVER] = "never" };
	size_t i;

	for (i = 0; json_is_string(v) && i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(json_string_value(v), words[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	return cairn_err_set(err, CAIRN_ECONFIG,
			     "profiles.%s.must_staple: must be \"request\", \"always\" or \"never\"",
			     name);
}

/*
 * Parses one profile object. Keys: validity_days (1..3650, required),
 * key_usage (non-empty array of names, required; keyCertSign and cRLSign are
 * refused: profiles are for end-entity certificates), ext_key_usage (names or
 * dotted OIDs), san_types ("dns", "ip", "email", "uri"), require_san (bool),
 * min_rsa_bits (2048..16384, default 2048), must_staple ("request", the default,
 * "always", "never"). Unknown keys are refused so that a typo is not silently ignored.
 * Errors are CAIRN_ECONFIG, or CAIRN_EINVAL for a bad name, with a message naming the
 * field: "profiles.NAME.FIELD: why".
 */
int ca_profile_parse(const char *name, const json_t *obj, ca_profile_t *out, cairn_err_t *err)
{
	const char *key;
	json_t *v;
	int have_validity = 0, have_ku = 0, rc;

	memset(out, 0, sizeof(*out));
	if (name == NULL || !name_ok(name))
		return cairn_err_set(err, CAIRN_EINVAL,
				     "profiles.%s: a profile name is 1..63 of a-z, 0-9, '-', '_'",
				     name ? name : "(null)");
	if (!json_is_object(obj))
		return cairn_err_set(err, CAIRN_ECONFIG, "profiles.%s: must be an object", name);
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->min_rsa_bits = PROFILE_MIN_RSA;

	/* jansson's iteration API is not const-correct; obj is only read. */
	json_object_foreach((json_t *)obj, key, v) {
		if (strcmp(key, "validity_days") == 0) {
			rc = parse_int(name, key, v, 1, PROFILE_MAX_VALIDITY, &out->validity_days,
				       err);
			have_validity = 1;
		} else if (strcmp(key, "key_usage") == 0) {
			rc = parse_ku(name, v, &out->key_usage, err);
			have_ku = 1;
		} else if (strcmp(key, "ext_key_usage") == 0) {
			rc = parse_eku(name, v, out, err);
		} else if (strcmp(key, "san_types") == 0) {
			rc = parse_sans(name, v, &out->allowed_sans, err);
		} else if (strcmp(key, "require_san") == 0) {
			if (!json_is_boolean(v))
				return cairn_err_set(err, CAIRN_ECONFIG,
						     "profiles.%s.require_san: must be true or false",
						     name);
			out->require_san = json_is_true(v);
			rc = 0;
		} else if (strcmp(key, "must_staple") == 0) {
			rc = parse_staple(name, v, &out->must_staple, err);
		} else if (strcmp(key, "min_rsa_bits") == 0) {
			rc = parse_int(name, key, v, PROFILE_MIN_RSA, PROFILE_MAX_RSA,
				       &out->min_rsa_bits, err);
		} else {
			return cairn_err_set(err, CAIRN_ECONFIG, "profiles.%s.%s: unknown key",
					     name, key);
		}
		if (rc != 0)
			return rc;
	}
	if (!have_validity)
		return cairn_err_set(err, CAIRN_ECONFIG, "profiles.%s.validity_days: missing",
				     name);
	if (!have_ku)
		return cairn_err_set(err, CAIRN_ECONFIG, "profiles.%s.key_usage: missing", name);
	if (out->require_san && out->allowed_sans == 0)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "profiles.%s.require_san: needs at least one san_types entry",
				     name);
	return 0;
}

int ca_profiles_check(const json_t *profiles, cairn_err_t *err)
{
	ca_profile_t p;
	const char *name;
	json_t *v;
	int rc;

	if (!json_is_object(profiles) || json_object_size(profiles) == 0 ||
	    json_object_size(profiles) > CA_MAX_PROFILES)
		return cairn_err_set(err, CAIRN_ECONFIG, "profiles: must be an object of 1..%d profiles",
				     CA_MAX_PROFILES);
	/* jansson's iteration API is not const-correct; the object is only read. */
	json_object_foreach((json_t *)profiles, name, v)
		if ((rc = ca_profile_parse(name, v, &p, err)) != 0)
			return rc;
	return 0;
}
