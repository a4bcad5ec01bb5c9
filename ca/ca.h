/* SPDX-License-Identifier: MIT */
/* ca: the issuing core — profiles, CSR checks, X.509 building, serials, issuance. */
#ifndef CAIRN_CA_H
#define CAIRN_CA_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "db/db.h"
#include "hsm/hsm.h"
#include "util/util.h"

/* Subject alternative name types a profile may allow. */
enum {
	CA_SAN_DNS = 1u << 0,
	CA_SAN_IP = 1u << 1,
	CA_SAN_EMAIL = 1u << 2,
	CA_SAN_URI = 1u << 3,
};

#define CA_MAX_EKU 8

typedef struct ca_profile {
	char name[64];
	int validity_days;           /* default and maximum */
	unsigned key_usage;          /* X509v3_KU_* bits */
	char eku[CA_MAX_EKU][48];    /* dotted OIDs */
	size_t n_eku;
	unsigned allowed_sans;       /* CA_SAN_* */
	int require_san;             /* refuse a CSR with no SAN */
	int min_rsa_bits;            /* default 2048 */
	int must_staple;             /* CA_STAPLE_* */
} ca_profile_t;

/* profiles.*.must_staple: OCSP Must-Staple (RFC 7633's TLS feature status_request) in a
 * certificate when its CSR asks for it (the default), in every certificate of the
 * profile, or never (a CSR asking for it is refused, never silently served without). */
#define CA_STAPLE_REQUEST 0
#define CA_STAPLE_ALWAYS 1
#define CA_STAPLE_NEVER 2

/* The profile whose certificates log in to the admin API over mTLS: only the admin API,
 * by the admin role, hands it out; EAB keys, EST labels and ACME never may. */
#define CA_ADMIN_PROFILE "admin"

/* When profile is one the CA records its own certificates under — its hierarchy
 * ("ca-root", "ca-issuing", "ca-cross"), the OCSP signer ("ocsp-signer"), the daemon's
 * HTTPS certificate ("daemon-tls") — what replaces such a certificate (a static
 * sentence naming the command); NULL for every other profile. Revocation refuses the
 * ones in use (ca_revoke_batch, ca_in_use_set) and no client certificate of theirs
 * logs in to EST. */
const char *ca_own_profile(const char *profile);

/* The roles of ca_in_use_set: the daemon's own certificates outside the hierarchy. */
#define CA_USE_OCSP_SIGNER "ocsp-signer" /* the delegated OCSP signer (profile ocsp-signer) */
#define CA_USE_HTTPS "https"             /* what the HTTPS listener serves (daemon-tls) */

/*
 * The default "profiles" object written into cairn.json by `cairn init`:
 * tls-server, tls-client, code-signing, document-signing (EKU 1.3.6.1.5.5.7.3.36),
 * admin (tls-client for admin certificates). New reference, caller decrefs.
 */
json_t *ca_profiles_default(void);
/* Parses one profile object; errors name the field at fault
 * ("profiles.tls-server.validity_days: must be 1..3650"; CAIRN_ECONFIG, or
 * CAIRN_EINVAL for a name outside [a-z0-9_-]{1,63}). Keys: validity_days
 * (1..3650, required), key_usage (names, required; keyCertSign/cRLSign refused),
 * ext_key_usage (serverAuth, clientAuth, codeSigning, emailProtection,
 * timeStamping, OCSPSigning, documentSigning, or dotted OIDs), san_types
 * ("dns", "ip", "email", "uri"), require_san (bool), min_rsa_bits (2048..16384,
 * default 2048). Unknown keys are refused. */
int ca_profile_parse(const char *name, const json_t *obj, ca_profile_t *out, cairn_err_t *err)
	CAIRN_WUR;
/* Bounds of profiles (the config table in server/ documents them from here). */
#define CA_MAX_PROFILES 64
#define CA_PROFILE_MAX_VALIDITY 3650
#define CA_PROFILE_MIN_RSA 2048
#define CA_PROFILE_MAX_RSA 16384
/* Checks a whole "profiles" object as ca_open will load it: 1..CA_MAX_PROFILES profiles,
 * each accepted by ca_profile_parse. 0 or CAIRN_ECONFIG/CAIRN_EINVAL with err naming the key. */
int ca_profiles_check(const json_t *profiles, cairn_err_t *err) CAIRN_WUR;

/* ---- names: the one extractor every path uses (nameset.c) ---- */

/* One name of a request or certificate, normalised. */
typedef struct ca_name {
	unsigned type;   /* CA_SAN_DNS, CA_SAN_IP, CA_SAN_EMAIL or CA_SAN_URI */
	char *text;      /* owned. DNS lower-cased; IP in canonical text, an IPv4-mapped IPv6
	                    address as dotted IPv4; email and URI as given (printable ASCII) */
	uint8_t ip[16];  /* CA_SAN_IP: the address; an IPv4-mapped one as its 4 IPv4 bytes */
	size_t ip_len;   /* CA_SAN_IP: 4 or 16 */
	int mapped;      /* CA_SAN_IP: it was written as IPv4-mapped IPv6 (::ffff:a.b.c.d) */
} ca_name_t;

/* Everything a request or certificate says about who it is for. */
typedef struct ca_names {
	ca_name_t *san;    /* subjectAltNames of the four types above, in order, de-duplicated */
	size_t n_san;
	char *cn;          /* subject commonName as UTF-8 (OPENSSL_malloc'd), or NULL */
	char *o;           /* subject organizationName, or NULL */
	ca_name_t cn_name; /* the CN read as a name (IP when it parses as one, else lower-cased
	                      DNS-style text); type 0 when there is no CN */
	int other_type;    /* GEN_* of the first SAN of another type (otherName, …), or -1 */
} ca_names_t;

/*
 * Extracts the names of a CSR (or of a certificate): the SAN extension decoded
 * once (CAIRN_EBADCSR when present twice or malformed), at most 100 SANs, an
 * iPAddress only of 4 or 16 bytes, dNSName/rfc822Name/URI only of printable
 * ASCII without NUL (else CAIRN_ENAME), subject CN and O at most once each,
 * 1..64 characters without control characters (CAIRN_ENAME). Syntax against a
 * profile (LDH labels, wildcard rules, …) is ca_csr_check's job. On success *out
 * owns its strings: release with ca_names_clear. On failure *out is empty and
 * err says what is wrong in one line. Thread-safe; req/x are only read.
 */
int ca_names_from_csr(X509_REQ *req, ca_names_t *out, cairn_err_t *err) CAIRN_WUR;
/* ca_names_from_csr, and from the same decode of the CSR's extensions whether it asks for
 * OCSP Must-Staple: *must_staple 1 for a TLS feature extension (RFC 7633) that lists
 * status_request (5) only, 0 without one. Any other feature, an empty list, or the
 * extension twice or malformed: CAIRN_EBADCSR naming it. */
int ca_csr_requests(X509_REQ *req, ca_names_t *out, int *must_staple, cairn_err_t *err)
	CAIRN_WUR;
int ca_names_from_cert(X509 *x, ca_names_t *out, cairn_err_t *err) CAIRN_WUR;
/* cert_fast.c: d2i_X509(NULL, pp, len) — the same certificate (same encoding, names and
 * key), the same *pp advance, the same refusals — without OpenSSL 3.0's provider decoder
 * walk for the keys cairn issues to (EC P-256/P-384, RSA; the X509 then carries a legacy
 * key). For every certificate read from the database; any DER works. Thread-safe. */
X509 *ca_cert_d2i(const unsigned char **pp, long len) CAIRN_WUR;
/* NULL when s (len bytes, not NUL-terminated) is a valid DNS name for a
 * certificate (LDH labels, optional leading "*." when wildcard is set; an xn-- label must
 * be the Punycode of a U-label, RFC 5890 §2.3.2.1, without IDNA2008's tables), else a
 * static phrase saying what is wrong ("has an empty label"). The one syntax check of a
 * DNS name: the extractor's callers and the policy rules' name lists use it. */
const char *ca_dns_problem(const char *s, size_t len, int wildcard);
/* The same for a suffix names are matched against (".pay.example", or "pay.example" for
 * the name and those under it): NULL when a DNS name can end in it, else what is wrong.
 * Policy rules' and notify sinks' dns_suffix lists. */
const char *ca_dns_suffix_problem(const char *s);
/* The same as ca_dns_problem for a URI: NULL when s (len bytes) starts with a scheme, has
 * something after it and only printable ASCII. Policy rules' uri_prefix lists. */
const char *ca_uri_problem(const char *s, size_t len);
/* Frees what ca_names_from_* allocated and empties n (safe on an empty one). */
void ca_names_clear(ca_names_t *n);
/* 1 when n has a SAN equal to name (same type; IPs by normalised bytes). */
int ca_names_has(const ca_names_t *n, const ca_name_t *name);
/* For a paged suffix search (db_certs_by_name_at reports a certificate once per name
 * ending in suffix, in the order of the reversed names): 1 when matched is the first of
 * n's names (SANs and CN) ending in suffix in that order, or is none of them (keep the
 * row); 0 when the certificate was or will be reported at another of its names. */
int ca_names_suffix_first(const ca_names_t *n, const char *suffix, const char *matched);
/* 1 when a and b hold the same set of SANs (and the same unsupported type). */
int ca_names_same_sans(const ca_names_t *a, const ca_names_t *b);
/* A distinguished name in RFC 2253 form, as records and approvers see it
 * ("CN=a.example,O=Example": last RDN first, bytes outside printable ASCII and control
 * characters escaped as \XX, so look-alike characters stay visible). New string (free),
 * or NULL when out of memory or the name does not print. */
char *ca_dn_text(const X509_NAME *name);
/* "dns", "ip", "email", "uri" or "other". Static string. */
const char *ca_name_type_str(unsigned type);
/* A name from an IP address of 4 or 16 bytes, or from its text form; IPv4-mapped
 * IPv6 becomes IPv4. out->text is malloc'd (free it). Returns 0, CAIRN_ENAME (not
 * an address) or CAIRN_ENOMEM. */
int ca_ip_from_bytes(const uint8_t *bytes, size_t len, ca_name_t *out) CAIRN_WUR;
int ca_ip_from_text(const char *s, ca_name_t *out) CAIRN_WUR;
/* The SANs of n as a new GENERAL_NAMES (*out NULL when n has none; caller frees
 * with GENERAL_NAMES_free). Returns 0 or CAIRN_ENOMEM. */
int ca_names_to_general(const ca_names_t *n, GENERAL_NAMES **out) CAIRN_WUR;

/* ---- certificate building (also used by `cairn init` for the hierarchy) ---- */
typedef struct ca_cert_spec {
	const char *subject_cn;
	const char *subject_o;        /* may be NULL */
	X509_NAME *subject;           /* used instead of cn/o when non-NULL (borrowed) */
	int64_t not_before;           /* unix seconds; 0 = now - 60 s */
	int validity_days;
	int is_ca;
	int path_len;                 /* for CAs; -1 = unlimited */
	unsigned key_usage;           /* X509v3_KU_* bits */
	const char *const *eku;       /* dotted OIDs, NULL-terminated, or NULL */
	int ocsp_nocheck;             /* id-pkix-ocsp-nocheck */
	int must_staple;              /* TLS feature status_request (RFC 7633) */
	GENERAL_NAMES *sans;          /* borrowed, may be NULL */
	const char *ocsp_url;         /* AIA OCSP, may be NULL */
	const char *ca_issuers_url;   /* AIA caIssuers, may be NULL */
	const char *crl_url;          /* CRL distribution point, may be NULL */
	const uint8_t *serial;        /* NULL = fresh random serial: 16 bytes from the CSPRNG,
	                                 top bit cleared and first byte non-zero, so the DER
	                                 INTEGER is positive and always 16 content bytes
	                                 (~127 bits of entropy). Given: 1..20 bytes, non-zero. */
	size_t serial_len;
} ca_cert_spec_t;

/*
 * Builds and signs a certificate for subject_pub. issuer NULL means self-signed
 * (issuer name = subject, AKI = SKI). issuer_key signs (may be a token key).
 * *out owned by the caller (X509_free).
 * Extensions: basicConstraints (critical), keyUsage (critical, if any bit),
 * extendedKeyUsage, SKI (SHA-1 of the subjectPublicKey bits, RFC 5280 method 1),
 * AKI (keyid = issuer's SKI), subjectAltName (critical when the subject is empty),
 * AIA (OCSP, caIssuers), CRL distribution point, id-pkix-ocsp-nocheck.
 * Signature digest: SHA-384 for a P-384 issuer key, SHA-256 for P-256 and RSA,
 * none for Ed25519. notAfter never passes the issuer's notAfter.
 * Returns 0, CAIRN_EINVAL (bad spec), CAIRN_ECRYPTO (signing), CAIRN_ENOMEM.
 * Thread-safe; issuer and the keys are only read.
 */
int ca_cert_build(const ca_cert_spec_t *spec, X509 *issuer, EVP_PKEY *issuer_key,
		  EVP_PKEY *subject_pub, X509 **out, cairn_err_t *err) CAIRN_WUR;
/* ca_cert_build, and the certificate's DER into *der (OPENSSL_free) and *der_len: the
 * bytes i2d_X509(*out) gives, encoded once (an EC issuer key signs the one TBS encoding). */
int ca_cert_build_der(const ca_cert_spec_t *spec, X509 *issuer, EVP_PKEY *issuer_key,
		      EVP_PKEY *subject_pub, X509 **out, uint8_t **der, size_t *der_len,
		      cairn_err_t *err) CAIRN_WUR;

/* ---- what cairn signs for itself: the delegated OCSP signer, the daemon's HTTPS certificate ---- */

/* Default lifetimes (days); cairn.json `ocsp.signer_validity_days` and `tls.validity_days`. */
#define CA_OCSP_SIGNER_DAYS 365
#define CA_HTTPS_DAYS 825

typedef enum { CA_SELF_OCSP_SIGNER, CA_SELF_HTTPS } ca_self_kind_t;

/* What differs between one such certificate and the next. Everything borrowed. */
typedef struct ca_self_spec {
	X509_NAME *subject;     /* NULL = CN "OCSP Responder" / "localhost", O org */
	const char *org;        /* may be NULL */
	GENERAL_NAMES *sans;    /* HTTPS only; NULL = localhost, 127.0.0.1, ::1 */
	const char *http_base;  /* AIA/CDP from it: {base}/ca/issuing.crt (both), {base}/ocsp
	                           and {base}/crl/issuing.crl (HTTPS) */
	int validity_days;
} ca_self_spec_t;

/*
 * Builds one of cairn's own certificates for pub, signed by issuer_key (the issuing CA):
 * CA_SELF_OCSP_SIGNER: digitalSignature, EKU OCSPSigning, id-pkix-ocsp-nocheck (RFC 6960
 * §4.2.2.2); CA_SELF_HTTPS: digitalSignature, EKU serverAuth, SANs, AIA OCSP and CDP.
 * The one builder behind `cairn init` and renewal. *out owned by the caller.
 * Returns 0, CAIRN_EINVAL, CAIRN_ENOMEM or ca_cert_build's codes. Thread-safe.
 */
int ca_self_cert_build(ca_self_kind_t kind, const ca_self_spec_t *spec, X509 *issuer,
		       EVP_PKEY *issuer_key, EVP_PKEY *pub, X509 **out, cairn_err_t *err) CAIRN_WUR;
/* The renewal of old (borrowed): same subject (and, for HTTPS, the same SANs), new key
 * pub, days of validity, URLs from http_base. Returns as ca_self_cert_build; CAIRN_EINVAL
 * for an HTTPS certificate without SANs. */
int ca_self_cert_renew(ca_self_kind_t kind, X509 *old, const char *http_base, int days,
		       X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *pub, X509 **out,
		       cairn_err_t *err) CAIRN_WUR;

/* PEM of x into *out (malloc'd, NUL-terminated; *len its length, len may be NULL).
 * Returns 0 or CAIRN_ENOMEM. */
int ca_cert_pem(X509 *x, char **out, size_t *len) CAIRN_WUR;
/* Reads the first PEM certificate of file path into *out (new ref; NULL on failure);
 * what names it in messages. Returns 0, CAIRN_ECONFIG (not PEM) or fs_read's codes. */
int ca_cert_load(const char *path, const char *what, X509 **out, cairn_err_t *err) CAIRN_WUR;
/* PEM (PKCS#8, unencrypted) of a private key held in memory, malloc'd, or NULL. The
 * caller cleanses and frees it. For the daemon's HTTPS key, the one key kept in a file. */
char *ca_key_pem(EVP_PKEY *key);

/* Parses a CSR in PEM or DER (auto-detected; at most 64 KiB; DER must have no
 * trailing bytes; version must be v1; an encrypted PEM block is refused). *out owned
 * by caller (X509_REQ_free); its key is a legacy EVP_PKEY for EC P-256/P-384 and RSA
 * (ca/csr_fast.c), else OpenSSL's provider key. CAIRN_EBADCSR with a reason on
 * malformed or oversized input. */
int ca_csr_parse(const void *data, size_t len, X509_REQ **out, cairn_err_t *err) CAIRN_WUR;

/*
 * Checks a CSR against a profile: signature (CAIRN_ECSRSIG), key type
 * (EC P-256/P-384, RSA >= min_rsa_bits, Ed25519 — else CAIRN_EKEYTYPE or
 * CAIRN_EWEAKKEY), SANs (types and syntax vs the profile — CAIRN_ENAME), CN
 * consistent with SANs. The error message is one line naming what is wrong.
 * Names: at most 100 SANs of type dns/ip/email/uri; DNS names are LDH labels
 * (a leading "*." allowed), <= 253 characters, no trailing dot, last label not
 * all digits; email has exactly one '@' and a valid domain; URI has a scheme.
 * Subject CN and O: at most one each, 1..64 characters, no control characters.
 * For profiles with the serverAuth EKU (tls-server) a CN must equal one of the
 * DNS or IP SANs. A TLS feature extension: status_request only, and not under a
 * profile whose must_staple is "never" (CAIRN_EBADCSR). Other requested extensions are
 * ignored.
 */
int ca_csr_check(X509_REQ *req, const ca_profile_t *prof, cairn_err_t *err) CAIRN_WUR;

/* ---- the request object: one CSR parsed, verified and named once (request.c) ---- */

/*
 * What every channel, the policy and ca_issue read of a request's CSR, built once by
 * ca_csr_new: nothing after it decodes the CSR again or checks its signature again.
 * All members are owned by the object; read them, never change or free them.
 */
typedef struct ca_csr {
	X509_REQ *req;      /* the parsed CSR (attributes: EST channel binding, tbs hash) */
	EVP_PKEY *pub;      /* the subject key in the form certificate building wants (EC
	                       P-256/P-384 and RSA: a legacy key, which encodes ~20x faster
	                       than a provider key; csr_fast.c, pubkey.c) */
	ca_names_t names;   /* from ca_names_from_csr: SANs, CN, O */
	int must_staple;    /* the CSR asks for OCSP Must-Staple (ca_csr_requests) */
	uint8_t *raw;       /* the bytes as received (PEM or DER): what a pending request keeps */
	size_t raw_len;
	int verified;       /* the signature was checked against the CSR's key (ca_csr_new
	                       without CA_CSR_NO_VERIFY); ca_issue and policy_submit refuse 0 */
} ca_csr_t;

/* ca_csr_new flag: only read the CSR (policy explanations, request views); such an
 * object can never be issued. */
#define CA_CSR_NO_VERIFY 1u

/*
 * Builds the request object from a CSR in PEM or DER: ca_csr_parse, ca_names_from_csr,
 * then (unless CA_CSR_NO_VERIFY) the key checks that need no profile (a key OpenSSL
 * cannot decode: CAIRN_EBADCSR or CAIRN_EKEYTYPE; EC curves other than P-256/P-384, other
 * key types, RSA above 16384 bits: CAIRN_EKEYTYPE; RSA below 2048 bits, the least any
 * profile allows: CAIRN_EWEAKKEY) and the signature (CAIRN_ECSRSIG). The profile's own
 * checks are ca_csr_check_profile's. Returns 0 or the code with a one-line err. *out owned
 * by the caller: ca_csr_free. Thread-safe.
 */
int ca_csr_new(const void *data, size_t len, unsigned flags, ca_csr_t **out, cairn_err_t *err)
	CAIRN_WUR;
void ca_csr_free(ca_csr_t *c);
/*
 * The checks of ca_csr_check that depend on the profile, on a verified request object:
 * RSA size against min_rsa_bits (CAIRN_EWEAKKEY), the SANs (types allowed, syntax:
 * CAIRN_ENAME), require_san, the CN of serverAuth profiles. CAIRN_EINVAL for an object
 * not verified. Thread-safe.
 */
int ca_csr_check_profile(const ca_csr_t *c, const ca_profile_t *prof, cairn_err_t *err) CAIRN_WUR;
/* How many CSRs ca_csr_parse decoded and how many CSR signatures were verified since the
 * process started (either may be NULL): the count that shows a request is read once. */
void ca_csr_counts(uint64_t *parsed, uint64_t *verified);

/*
 * The checks a certificate linter would make (RFC 5280, CA/B Forum BR), on an
 * end-entity certificate built for profile prof and signed by issuer (may be
 * NULL: AKI and validity are then not compared): serial positive and 8..20 bytes;
 * validity (inclusive) within the profile's and the issuer's; basicConstraints
 * critical CA:FALSE; keyUsage critical, non-empty, no keyCertSign/cRLSign, no
 * (key|data)Encipherment for EC/Ed25519 keys; extendedKeyUsage exactly the
 * profile's, no anyExtendedKeyUsage, consistent with keyUsage; subjectAltName
 * non-empty when present, present when the profile requires it, critical when the
 * subject is empty; no empty subject attribute; for serverAuth the CN is one of the
 * DNS/IP SANs; SKI present and AKI = issuer's SKI; no empty AIA/CDP SEQUENCE; v3
 * (DER re-encoding is left to tests/tools/certlint: OpenSSL encoded it). Returns 0, CAIRN_ELINT with the first failure in err,
 * or CAIRN_EINVAL. ca_issue calls it before anything is stored. Thread-safe.
 */
int ca_cert_lint(X509 *cert, X509 *issuer, const ca_profile_t *prof, cairn_err_t *err) CAIRN_WUR;

/* ---- the issuing CA ---- */
typedef struct ca ca_t;

typedef struct ca_config {
	hsm_t *hsm;                 /* borrowed, outlives the ca */
	db_t *db;                   /* borrowed, outlives the ca */
	const char *root_cert_file;    /* PEM */
	const char *issuing_cert_file; /* PEM */
	const char *issuing_key_label; /* token label of the issuing key */
	const char *http_base_url;  /* e.g. http://localhost:8080: AIA/CDP are built from it:
	                               {base}/ocsp, {base}/ca/issuing.crt, {base}/crl/issuing.crl */
	const json_t *profiles;     /* the config's "profiles" object (borrowed during ca_open) */
	unsigned crl_shards;        /* crl.shards: 0/1 = every certificate names the issuer's
	                               full CRL; K >= 2 = new certificates get a serial naming
	                               one of K shards (util_serial_sharded) and the CRL
	                               distribution point {base}/crl/NAME/SHARD.crl */
} ca_config_t;

/* Loads the issuer certificates, the issuing key from the token and the profiles
 * (cfg->profiles NULL = ca_profiles_default()). Refuses (CAIRN_ECONFIG) an
 * issuing certificate that is not a CA signed by the root, or whose key is not
 * the token key, and name constraints (in either) that cairn cannot honour. Returns 0, CAIRN_EINVAL, CAIRN_ENOENT/CAIRN_EIO (files),
 * CAIRN_ECONFIG, CAIRN_EKEY/CAIRN_EPKCS11, CAIRN_ENOMEM.
 * The ca is immutable afterwards: any thread may use it without locking.
 * *out owned by the caller: ca_free (after the last ca_issue returned). */
int ca_open(const ca_config_t *cfg, ca_t **out, cairn_err_t *err) CAIRN_WUR;
void ca_free(ca_t *ca);

/* ASN1_TIME to unix seconds. Returns 0 or CAIRN_EINVAL. */
int ca_time_unix(const ASN1_TIME *t, int64_t *out) CAIRN_WUR;

/* The profile by name, or NULL. Borrowed, valid while ca lives. */
const ca_profile_t *ca_profile(const ca_t *ca, const char *name);
/* The profile by name, or NULL with err set (CAIRN_EPROFILE) to "unknown profile NAME
 * (profiles: a, b, c)": the one message for a profile that does not exist. */
const ca_profile_t *ca_profile_find(const ca_t *ca, const char *name, cairn_err_t *err);
/* The name constraints of the issuing CA and the root (RFC 5280 4.2.1.10) over a request's
 * names, as ca_issue applies them before signing: 0, or CAIRN_ENAME with a one-line
 * message naming the name and the constraint it breaks ("name dns:a.other.test is outside
 * the permitted subtrees (dns:.example.test) of the issuing CA's name constraints"). Lets a
 * channel refuse before a request waits for approval. Thread-safe. */
int ca_csr_check_constraints(const ca_t *ca, const ca_csr_t *csr, cairn_err_t *err) CAIRN_WUR;
/* 0 when cairn can honour x's name constraints (none, or only dns/ip/email/uri subtrees
 * without minimum/maximum); else CAIRN_ECONFIG with a message starting with what. */
int ca_name_constraints_usable(X509 *x, const char *what, cairn_err_t *err) CAIRN_WUR;
/* The same rules on the names of a certificate already built (cairn's own: the daemon's
 * HTTPS certificate) against the constraints of issuing and root. 0, CAIRN_ENAME,
 * CAIRN_ECONFIG (constraints cairn cannot honour) or the extractor's codes. */
int ca_cert_check_constraints(X509 *leaf, X509 *issuing, X509 *root, cairn_err_t *err)
	CAIRN_WUR;
/* Issuer certificate by name, or NULL. Borrowed, valid while ca lives. "root"; "issuing"
 * (the first issuing CA, made by `cairn init`); "current" (the one new certificates get);
 * or the name of a rotated issuing CA ("issuing-2", …). */
X509 *ca_issuer_cert(const ca_t *ca, const char *name);

/* ---- issuing CAs and their rotation (issuers.c, rotate.c) ---- */

/* Most issuing CAs one ca holds (the first plus rotations): relying parties keep needing
 * an old one until its last certificate expires, so none is dropped while running. */
#define CA_MAX_ISSUERS 16
#define CA_ISSUER_NAME_MAX 24
/* Token label of the root key (made by `cairn init`). */
#define CA_ROOT_KEY_LABEL "root"

/* One issuing CA as others see it. Everything borrowed, valid while ca lives. */
typedef struct ca_issuer_info {
	const char *name;      /* "issuing", "issuing-2", …: the db records' issuer, the
	                          file name of its CRL (/crl/NAME.crl) and certificate
	                          (/ca/NAME.crt) */
	X509 *cert;
	EVP_PKEY *key;         /* token key (signs CRLs and OCSP answers) */
	const char *key_label;
	int current;           /* new certificates get this one */
} ca_issuer_info_t;

/* Number of issuing CAs (grows with rotations; never shrinks while ca lives). */
size_t ca_issuer_count(const ca_t *ca);
/* The i-th issuing CA (0 = the first, in the order they were made). Returns 0 or
 * CAIRN_ENOENT. Thread-safe. */
int ca_issuer_at(const ca_t *ca, size_t i, ca_issuer_info_t *out) CAIRN_WUR;
/* Called for each issuing CA a rotation recorded (DB_META "issuers"), in the order they
 * were made: its name, token key label and certificate (x borrowed for the call).
 * Return 0 to go on, else that code stops the walk. */
typedef int (*ca_recorded_fn)(const char *name, const char *key_label, X509 *x, void *arg,
			      cairn_err_t *err);
/* The rotated issuing CAs recorded in db, without a ca_t (no token: what a responder
 * beside the daemon needs). One read txn. Returns 0, fn's code, or CAIRN_EDB (damaged). */
int ca_issuers_recorded(db_t *db, ca_recorded_fn fn, void *arg, cairn_err_t *err) CAIRN_WUR;
/* The name of the issuing CA that issued x (signature checked), or NULL. A walk of at
 * most CA_MAX_ISSUERS certificates. Thread-safe. */
const char *ca_issuer_of(const ca_t *ca, X509 *x);

/*
 * Rotates the issuing CA, step one: a new key in the token (new label, same type as the
 * current issuing key, never extractable), a certificate for it signed by the root key in
 * the token (same organisation and lifetime as the first issuing CA, CN "… N"), stored
 * with its audit event (action "ca.rotate", actor) and the list of issuers in DB_META in
 * ONE durable write; then the issuer joins the table, not yet current, so the caller can
 * make OCSP and CRLs ready for it before ca_issuer_activate. A restart makes the last
 * recorded issuer current. *out = {name, serial, key, replaces, not_after} (new ref).
 * Serialised (one rotation at a time). Returns 0, CAIRN_ECONFLICT (CA_MAX_ISSUERS
 * reached, or no root key in the token: an external root signs elsewhere), a token code, CAIRN_ECRYPTO, CAIRN_EDB, CAIRN_ENOMEM.
 */
int ca_rotate(ca_t *ca, const char *actor, json_t **out, cairn_err_t *err) CAIRN_WUR;
/*
 * The certificates of a root rollover, the daemon's root unchanged: a new root key in the
 * token (label "root-<16 hex>", the type of the root key, never extractable), a
 * self-signed root for it (O and CN of the old root, the CN ending in the day; the old
 * root's lifetime), and two cross-certificates: the new root's name and key signed by
 * the old root (AIA/CDP of the old root), and the old root's name and key signed by the
 * new root (within the new root's lifetime). Stored (profiles "ca-root", "ca-cross") with
 * audit events, the last one "ca.rollover" naming all three (actor). *out = {key, root,
 * cross_new_by_old, cross_old_by_new} (PEMs; new ref). Serialised with ca_rotate.
 * Returns 0, CAIRN_ECONFLICT (no root key in the token), a token code, CAIRN_ECRYPTO,
 * CAIRN_EDB, CAIRN_ENOMEM.
 */
int ca_cross_sign(ca_t *ca, const char *actor, json_t **out, cairn_err_t *err) CAIRN_WUR;
/* The certificates of the last root rollover (ca_cross_sign, kept in the database and
 * loaded by ca_open): the new root, the new root certified by the daemon's root, and the
 * daemon's root certified by the new one — the top of ACME's alternate chain and part of
 * EST's /cacerts (RFC 7030 §4.1.3: NewWithNew, NewWithOld, OldWithNew). NULL before any
 * rollover. Borrowed, valid while ca lives. Thread-safe. */
typedef struct ca_rollover_certs {
	X509 *root, *new_by_old, *old_by_new;
	/* the one it replaced (kept until ca_free, or the responder's end) */
	struct ca_rollover_certs *prev;
} ca_rollover_certs_t;
const ca_rollover_certs_t *ca_rollover(const ca_t *ca);
/* One certificate of rollover (NULL: none) by the name it is published under (GET
 * /ca/NAME.crt, the suffixes of `cairn ca cross-sign`'s files): "rollover-root",
 * "rollover-cross-new-by-old", "rollover-cross-old-by-new". NULL for another name.
 * Borrowed from rollover. */
X509 *ca_rollover_named(const ca_rollover_certs_t *rollover, const char *name);
/* The rollover recorded in db (meta "rollover"), checked against root (the daemon's, the
 * one cross-signed): *out is NULL when none was recorded, else owned by the caller
 * (ca_rollover_free). What ca_open does; a process without the token (a responder) too.
 * Returns 0, CAIRN_ECONFIG (not this root's), CAIRN_EDB (damaged), CAIRN_ENOMEM. */
int ca_rollover_read(db_t *db, X509 *root, ca_rollover_certs_t **out, cairn_err_t *err)
	CAIRN_WUR;
/* Frees r and the rollovers it replaced (prev). NULL is fine. */
void ca_rollover_free(ca_rollover_certs_t *r);
/* Room for any name published under /ca/ (an issuer's, a rollover certificate's). */
#define CA_PUBLISHED_NAME_MAX 32
/* Makes the issuer name current: every ca_issue from now on signs with it. Returns 0 or
 * CAIRN_ENOENT. Thread-safe. */
int ca_issuer_activate(ca_t *ca, const char *name) CAIRN_WUR;

typedef struct ca_request {
	const ca_csr_t *csr;    /* the request object (borrowed); must be verified */
	const char *profile;    /* profile name */
	const char *requester;  /* who asks: "admin:bootstrap", "acme:acct/…", "est:user" */
	const char *channel;    /* "admin", "acme", "est", "cli" */
	int validity_days;      /* 0 = profile default; more than the profile allows is refused */
	int no_wait;            /* policy_submit: refuse rather than store a pending request
	                           (what it asks for cannot wait: a server-generated key) */
	const struct ca_record_extra *record_extra; /* ca_issue: written in the certificate's
	                           own transaction (the caller's state that the certificate
	                           changes, e.g. an ACME order), or NULL; borrowed */
} ca_request_t;

/* An issued certificate. Nothing here is formatted for a channel: ACME answers with the
 * serial (the PEM chain is served on download), EST wraps cert in PKCS#7, the admin API
 * asks ca_issued_pem for PEM. */
typedef struct ca_issued {
	X509 *cert;             /* owned */
	uint8_t *der;           /* the certificate as stored, owned */
	size_t der_len;
	char serial_hex[2 * DB_SERIAL_MAX + 1];
	char issuer[sizeof(((db_cert_t *)0)->issuer)]; /* the issuing CA that signed it ("issuing", …) */
	uint64_t audit_seq;     /* the audit event that records the issuance (0: not known) */
} ca_issued_t;

/*
 * Issues a certificate: check the request object (parsed and verified once by
 * ca_csr_new; an unverified one is CAIRN_EINVAL) against the profile, build the
 * TBS and sign it with the issuing key in the token (on this thread's token
 * session, outside any transaction), then hand the certificate, its indexes
 * and its audit event to the group-commit writer as ONE write; returns only
 * after that commit is durable. A serial collision is retried with a new serial.
 * Thread-safe: many threads may issue at once.
 * The subject is CN and O from the CSR only (CN only when channel is "acme": ACME
 * validates no organisation; there the CN is written as the SAN it names, a DNS name
 * lower-cased, character for character, CA/B BR 7.1.4.3); DNS SANs are lower-cased; the
 * profile's key usages are narrowed to what the subject key allows (EC keys:
 * no keyEncipherment/dataEncipherment, RFC 8813; Ed25519 also no keyAgreement).
 * Signs with the current issuing CA (ca_issuer_activate). The db record: issuer = that
 * CA's name ("issuing", "issuing-2", …), names = SANs + CN lower-cased, subject as
 * one-line RFC 2253; the audit event: actor = requester, action "cert.issue",
 * serial, names, details {profile, channel, not_after}. serial_hex is
 * db_serial_hex of the serial's DER INTEGER content without a leading 0x00.
 * Returns 0, CAIRN_EINVAL (arguments; validity above the profile's),
 * CAIRN_EPROFILE, the ca_csr_check_profile codes, CAIRN_ENAME for a name
 * outside the issuing CA's or the root's name constraints (ca_csr_check_constraints;
 * checked before signing), CAIRN_ECRYPTO or a
 * token code (signing), CAIRN_ELINT (the built certificate fails ca_cert_lint:
 * nothing is stored), CAIRN_EDB (commit), CAIRN_ECOLLISION (4 collisions).
 * *out owned by the caller: ca_issued_free.
 */
int ca_issue(ca_t *ca, const ca_request_t *req, ca_issued_t **out, cairn_err_t *err) CAIRN_WUR;
void ca_issued_free(ca_issued_t *is);
/* PEM of the issued certificate (*pem) and of it followed by the issuing CA that signed it
 * (*chain; may be NULL), both malloc'd. 0, CAIRN_ENOENT (issuer unknown) or CAIRN_ENOMEM. */
int ca_issued_pem(const ca_t *ca, const ca_issued_t *is, char **pem, char **chain) CAIRN_WUR;

/* Stores an already-built certificate (e.g. the hierarchy made by init) with its
 * indexes and an audit event (action, actor = requester) in one durable write.
 * Returns 0, CAIRN_ECOLLISION (serial already stored; nothing written),
 * CAIRN_EINVAL (bad argument, serial not 1..20 positive bytes) or a db code. */
int ca_record(db_t *db, X509 *cert, const char *issuer, const char *profile,
	      const char *requester, const char *action, cairn_err_t *err) CAIRN_WUR;

/* A write that commits with a certificate: runs in the certificate's own write
 * transaction, after its indexes and audit event, told its serial (lower-case hex,
 * borrowed for the call). Like a db_write_fn it may run more than once (set outputs
 * in arg on every run); a negative return rolls back the certificate with it. */
typedef int (*ca_record_also_fn)(db_txn_t *txn, const char *serial_hex, void *arg,
				 cairn_err_t *err);

/* What ca_record_with (and ca_issue, through ca_request_t.record_extra) adds to a
 * plain ca_record. Everything borrowed. */
typedef struct ca_record_extra {
	const json_t *details; /* members added to the audit event's details, or NULL */
	ca_record_also_fn also; /* or NULL */
	void *also_arg;
} ca_record_extra_t;

/* ca_record, plus extra: so a certificate, its audit event and whatever makes it current
 * (a meta entry) commit together or not at all. Same return codes, or also's code. */
int ca_record_with(db_t *db, X509 *cert, const char *issuer, const char *profile,
		   const char *requester, const char *action, const ca_record_extra_t *extra,
		   cairn_err_t *err) CAIRN_WUR;

/* ---- revocation ---- */

/* RFC 5280 CRLReason values (7 is unused). */
enum {
	CA_REASON_UNSPECIFIED = 0,
	CA_REASON_KEY_COMPROMISE = 1,
	CA_REASON_CA_COMPROMISE = 2,
	CA_REASON_AFFILIATION_CHANGED = 3,
	CA_REASON_SUPERSEDED = 4,
	CA_REASON_CESSATION = 5,
	CA_REASON_HOLD = 6,
	CA_REASON_REMOVE_FROM_CRL = 8,
	CA_REASON_PRIVILEGE_WITHDRAWN = 9,
	CA_REASON_AA_COMPROMISE = 10,
};

/* The reason for an RFC 5280 name ("keyCompromise", ...; case-insensitive), or
 * CAIRN_EINVAL. */
int ca_reason_parse(const char *name);
/* The RFC 5280 name of a reason code; "unknown" outside the list. Static string. */
const char *ca_reason_name(int reason);

/*
 * Tells the CA which certificate the daemon uses now for role (CA_USE_OCSP_SIGNER,
 * CA_USE_HTTPS; other roles are ignored), by its serial in hex (ca_serial_hex): the
 * daemon calls it at start and after each renewal or reload. Revocation refuses that
 * certificate and the issuing CA that signed it, and lets the ones it replaced be
 * revoked; until a role is set, every certificate of its profile counts as in use.
 * Thread-safe.
 */
void ca_in_use_set(ca_t *ca, const char *role, const char *serial_hex);
/*
 * Tells the CA that a renewal is about to record serial_hex for role and then put it in
 * use: from this call until ca_in_use_set names it (or another renewal's call replaces
 * it) revocation refuses it as in use. Called before the renewal's write, it closes the
 * window between that write's commit and the switch (and a switch that fails leaves
 * the certificate the next start uses refused too). Thread-safe.
 */
void ca_in_use_incoming(ca_t *ca, const char *role, const char *serial_hex);
/* The serial of x as the db stores it (no leading zero byte), in hex ("" when it cannot
 * be one). */
void ca_serial_hex(X509 *x, char out[2 * DB_SERIAL_MAX + 1]);

/* One revocation asked for. All fields borrowed. */
typedef struct ca_revoke_item {
	const char *serial_hex;   /* hex serial as shown by the CLI and API */
	int reason;               /* CA_REASON_*; removeFromCRL releases a hold */
	int64_t invalidity_date;  /* unix seconds, 0 = none (not with removeFromCRL) */
	const char *spare_profile; /* NULL, or a profile whose certificates this item may not
				    * hold, revoke or release (CAIRN_EDENIED), checked on the
				    * stored record: the admin API sets CA_ADMIN_PROFILE for
				    * callers without the admin role */
	int confirm_issuing_ca;   /* 1: the caller knows that revoking a retired issuing CA
				   * (one the CA no longer issues under nor signed a
				   * certificate in use with) makes every certificate it
				   * issued fail validation; without it that is refused */
} ca_revoke_item_t;

/* Outcome of one item: code 0 or CAIRN_ENOENT (unknown serial), CAIRN_EEXIST
 * (already revoked), CAIRN_EINVAL (bad serial/reason, or removeFromCRL on a
 * certificate not on hold), CAIRN_EDENIED (of the item's spare_profile),
 * CAIRN_ECONFLICT (a hold or revocation of one of the CA's own certificates in use —
 * a root, the current issuing CA or the one that signed the OCSP signer or HTTPS
 * certificate in use, the last rollover's cross-certificates, the OCSP signer or HTTPS
 * certificate in use: the message says what replaces it — or of a retired issuing CA
 * without confirm_issuing_ca), with a one-line message. */
typedef struct ca_revoke_result {
	int code;
	char msg[256];
	char issuer[32];          /* the certificate's issuer ("issuing", "root") when known */
	char profile[64];         /* its stored profile ("tls-server", "ca-issuing") when known */
} ca_revoke_result_t;

/*
 * Revokes (or, with removeFromCRL, releases the certificateHold of) each item:
 * status change, revoked index entry (with the invalidity date) and one audit
 * event per item (actor, action "cert.revoke" or "cert.unhold", details
 * {reason, invalidity_date?}) — ALL items in ONE durable db_write. A
 * certificate on hold may be revoked for good with another reason (the hold
 * is replaced); anything else already revoked is CAIRN_EEXIST for that item.
 * results[i] receives each item's outcome; an item's failure does not stop
 * the others. After the commit, the listeners of ca_on_revoke are called once
 * per changed certificate, on this thread.
 * Returns 0 when the batch committed (see results for each item), CAIRN_EINVAL
 * (arguments; n 0 or above 10000; an invalidity date later than now, RFC 5280
 * §5.3.2: nothing stored), or the db_write error (nothing stored).
 * Thread-safe.
 */
int ca_revoke_batch(ca_t *ca, const ca_revoke_item_t *items, size_t n, const char *actor,
		    ca_revoke_result_t *results, cairn_err_t *err) CAIRN_WUR;

/* ca_revoke_batch when still (txn, arg, err) — run first in the batch's own write
 * transaction, reading only — returns 0; otherwise nothing is revoked and its code (with
 * err) is returned. For a caller that decided what to revoke in an earlier read: a
 * replacement campaign cancelled since revokes nothing. */
typedef int (*ca_revoke_still_fn)(db_txn_t *txn, void *arg, cairn_err_t *err);
int ca_revoke_batch_if(ca_t *ca, const ca_revoke_item_t *items, size_t n, const char *actor,
		       ca_revoke_still_fn still, void *still_arg, ca_revoke_result_t *results,
		       cairn_err_t *err) CAIRN_WUR;

/* One item: returns the item's code (0, CAIRN_ENOENT, CAIRN_EEXIST, CAIRN_EINVAL,
 * CAIRN_EDENIED) or the db error, with err filled on failure; *res (when not NULL) gets
 * the item's outcome (what was revoked: its issuer and profile). Thread-safe. */
int ca_revoke_one(ca_t *ca, const ca_revoke_item_t *item, const char *actor,
		  ca_revoke_result_t *res, cairn_err_t *err) CAIRN_WUR;
/* ca_revoke_one of {serial_hex, reason, invalidity_date} (no spared profile). */
int ca_revoke(ca_t *ca, const char *serial_hex, int reason, int64_t invalidity_date,
	      const char *actor, cairn_err_t *err) CAIRN_WUR;

/* Called after a revocation (or hold release) committed: issuer of the
 * certificate and its serial (borrowed for the call). Runs on the revoking
 * thread: return quickly (queue work, do not db_write synchronously for long). */
typedef void (*ca_revoke_cb)(const char *issuer, const uint8_t *serial, size_t len, void *arg);
/* Registers a listener (at most 4). Call before the ca is shared between
 * threads (it is not locked). Returns 0 or CAIRN_EINVAL. */
int ca_on_revoke(ca_t *ca, ca_revoke_cb fn, void *arg) CAIRN_WUR;
/* Registers a listener called after ca_issue stored a certificate (same signature and
 * rules as ca_on_revoke; at most 4): the OCSP refresher pre-signs the new certificate's
 * answers at once, so responders without a signer can serve them. */
int ca_on_issue(ca_t *ca, ca_revoke_cb fn, void *arg) CAIRN_WUR;

/* ---- mass replacement (replace.c; docs/operations.md "Replacing certificates in bulk") ---- */

/* What a campaign selects and when: kind "key" (value: SHA-256 of the certificates'
 * SubjectPublicKeyInfo), "issuer" (value: issuer name), "profile" (value), "file"
 * (serials: a json array of hex serials, 1..10000). by: the end of the renewal window
 * ACME renewalInfo announces; revoke_after: 0 or when what has no successor yet is
 * revoked with reason; explanation_url: NULL or an http(s) URL for renewalInfo. */
typedef struct ca_replace_spec {
	const char *kind, *value;
	json_t *serials;
	int64_t by, revoke_after;
	int reason;
	const char *explanation_url;
} ca_replace_spec_t;

/* Stores a new campaign in state "marking" (audited "replace.create"); *id its number.
 * CAIRN_EINVAL with a one-line reason for a bad spec. Marking is ca_replace_mark_step's. */
int ca_replace_create(ca_t *ca, const ca_replace_spec_t *spec, const char *actor, uint64_t *id,
		      cairn_err_t *err) CAIRN_WUR;
/* One bounded marking transaction (at most 2000 certificates looked at): each match gets
 * its mark, a pending entry and a cert.replace event; one "replace.mark" audit event for
 * the batch. *done when the walk is over (the campaign turns "active", or "empty" when
 * nothing matched). Resumable: the cursor is stored with the batch. */
int ca_replace_mark_step(ca_t *ca, uint64_t id, const char *actor, size_t *marked, int *done,
			 cairn_err_t *err) CAIRN_WUR;
/* Walks the pending certificates of campaign id in rounds of 500: one with a successor
 * (db_cert_successor: same requester and names, issued after the mark, not itself marked,
 * for a key campaign another key) is revoked as superseded; after revoke_after the others
 * are revoked with the campaign's reason; then one transaction settles the round (counts,
 * "replace.revoke" audit event). *revoked: how many were revoked. Between rounds it
 * returns early when stopping (may be NULL) says so (the next call goes on). */
int ca_replace_progress(ca_t *ca, uint64_t id, const char *actor, size_t *revoked,
			int (*stopping)(void *arg), void *stop_arg, cairn_err_t *err) CAIRN_WUR;
/* Finishes an interrupted marking and progresses every unfinished campaign; between
 * batches it returns early when stopping (may be NULL) says so. */
int ca_replace_tick(ca_t *ca, const char *actor, int (*stopping)(void *arg), void *stop_arg,
		    cairn_err_t *err) CAIRN_WUR;
/* The campaign's JSON (*out to decref), CAIRN_ENOENT or CAIRN_EDB. Any txn. */
/* Cancels a campaign that is marking or active: state "cancelled" (audited
 * replace.cancel), nothing more is revoked, its pending certificates are unmarked in
 * bounded transactions (renewalInfo answers as before; a later campaign may mark them;
 * a restart finishes the clearing), and the block of a key campaign's key is lifted.
 * CAIRN_ENOENT (no campaign), CAIRN_ECONFLICT (done, empty or cancelled already). */
int ca_replace_cancel(ca_t *ca, uint64_t id, const char *actor, cairn_err_t *err) CAIRN_WUR;
int ca_replace_load(db_txn_t *txn, uint64_t id, json_t **out) CAIRN_WUR;
/* Every campaign, in id order (*out: a json array to decref). */
int ca_replace_list(db_txn_t *txn, json_t **out) CAIRN_WUR;
/* The campaign that marked serial: 0 with *id, *by and its explanation URL ("" for none)
 * in url, or CAIRN_ENOENT. */
int ca_replace_mark_of(db_txn_t *txn, const uint8_t *serial, size_t len, uint64_t *id,
		       int64_t *by, char *url, size_t url_cap) CAIRN_WUR;
/* A SHA-256 SPKI pin: 64 hex digits (colons allowed) or its base64 (pin-sha256) or
 * base64url. 0 or CAIRN_EINVAL. */
int ca_spki_pin_parse(const char *text, uint8_t out[32]) CAIRN_WUR;
/* SHA-256 of x's SubjectPublicKeyInfo (DER, as x carries it: its pin-sha256): what a key
 * is selected by (cairn revoke and cairn replace --issued-by-key) and blocked by. For a
 * certificate this CA issued, ca_pubkey_sha256 of its key. 0 or CAIRN_ECRYPTO. */
int ca_spki_sha256(X509 *x, uint8_t out[32]) CAIRN_WUR;
/* The same hash of a bare public key (a CSR's). */
int ca_pubkey_sha256(EVP_PKEY *pk, uint8_t out[32]) CAIRN_WUR;

/* Keys never certified again: one a key campaign retires (campaign = its id), or one
 * whose certificate was revoked for keyCompromise (campaign = 0). ca_key_block records it
 * inside a write (the first reason stays, but a revocation replaces a campaign's, which a
 * cancel may lift); ca_key_check returns 0, or CAIRN_EWEAKKEY saying why the key is
 * blocked. ca_issue checks every CSR's key before it signs. */
int ca_key_block(db_txn_t *txn, const uint8_t spki[32], const char *why, uint64_t campaign,
		 int64_t at, cairn_err_t *err) CAIRN_WUR;
/* Is the key whose SPKI SHA-256 (ca_spki_sha256) is spki blocked? 0 when it is, with
 * *campaign: 0 for a keyCompromise revocation's block, else the id of the key campaign
 * that retires it (a holder may still re-enroll out of it: EST does), and the recorded
 * reason in why (why_cap bytes, NUL-terminated, "" when none; why may be NULL);
 * CAIRN_ENOENT when it is not blocked; CAIRN_EDB. Reads txn only, any txn: the one
 * lookup behind ca_key_check and ca_key_compromised. */
int ca_key_blocked(db_txn_t *txn, const uint8_t spki[32], uint64_t *campaign, char *why,
		   size_t why_cap) CAIRN_WUR;
/* 1 when x's key is blocked because a certificate with it was revoked for keyCompromise
 * (why filled: why_cap > 0), or cannot be hashed; else 0 (why ""). A key campaign's block
 * does not count: its holders log in and re-enroll out of it until their certificates
 * are replaced or revoked. The check behind every client-certificate login (EST, admin). */
int ca_key_compromised(db_txn_t *txn, X509 *x, char *why, size_t why_cap) CAIRN_WUR;
/* The same for a key already hashed (ca_spki_sha256): a check repeated in the db
 * writer's one thread does not hash again. */
int ca_spki_compromised(db_txn_t *txn, const uint8_t spki[32], char *why,
			size_t why_cap) CAIRN_WUR;
/* ca_key_check hashes the SPKI the certificate would carry, before anything is signed;
 * an EC key with a compressed point is refused (CAIRN_EKEYTYPE): the same key under other
 * SPKI bytes would miss a block taken from its uncompressed certificate. */
int ca_key_check(ca_t *ca, EVP_PKEY *pk, cairn_err_t *err) CAIRN_WUR;

#endif
