/* SPDX-License-Identifier: MIT */
/* Name constraints of the CA certificates above an issuance, checked on the extracted names before signing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

/*
 * The matching rules are those of OpenSSL's verifier (x509/v3_ncons.c), so that a
 * certificate cairn issues is one `openssl verify` accepts and a name it refuses is one
 * a relying party would refuse too:
 *   dns    the name equals the base, or ends with it after a '.' (a base ".x.test"
 *          matches every name below x.test but not x.test itself); case-insensitive;
 *          an empty base matches every name
 *   ip     same address family (4 or 16 bytes) and equal under the base's mask
 *   email  a base with '@' is one mailbox (local part exact, domain case-insensitive);
 *          ".x.test" any mailbox at a domain below x.test; "x.test" any mailbox at x.test
 *   uri    the host of scheme://host[:port][/...] as for email domains; a URI without a
 *          host does not match
 * Other constraint types and minimum/maximum fields are refused when the certificate is
 * loaded (ca_nc_add): cairn would not know how to honour them.
 */

static int gen_type_of(unsigned san_type)
{
	switch (san_type) {
	case CA_SAN_DNS: return GEN_DNS;
	case CA_SAN_IP: return GEN_IPADD;
	case CA_SAN_EMAIL: return GEN_EMAIL;
	case CA_SAN_URI: return GEN_URI;
	default: return -1;
	}
}

/* 1 when name (len bytes) equals base or lies below it (see the rules above). */
static int domain_within(const char *name, size_t len, const unsigned char *base, size_t blen)
{
	if (blen == 0)
		return 1;
	if (len < blen || strncasecmp(name + len - blen, (const char *)base, blen) != 0)
		return 0;
	return len == blen || base[0] == '.' || name[len - blen - 1] == '.';
}

/* The bytes of an IA5String base, refusing an embedded NUL (never matches). */
static const unsigned char *ia5(const ASN1_IA5STRING *s, size_t *len)
{
	*len = (size_t)ASN1_STRING_length(s);
	return memchr(ASN1_STRING_get0_data(s), 0, *len) ? NULL : ASN1_STRING_get0_data(s);
}

static int email_within(const char *mail, const ASN1_IA5STRING *b)
{
	size_t blen;
	const unsigned char *base = ia5(b, &blen);
	const char *at = strrchr(mail, '@');
	const unsigned char *bat;

	if (base == NULL || at == NULL)
		return 0;
	bat = memchr(base, '@', blen);
	if (bat != NULL) /* one mailbox */
		return (size_t)(at - mail) == (size_t)(bat - base) &&
		       memcmp(mail, base, (size_t)(at - mail)) == 0 &&
		       strlen(at) == blen - (size_t)(bat - base) &&
		       strncasecmp(at, (const char *)bat, strlen(at)) == 0;
	if (blen > 0 && base[0] == '.')
		return domain_within(at + 1, strlen(at + 1), base, blen) && strlen(at + 1) > blen;
	return strlen(at + 1) == blen && strncasecmp(at + 1, (const char *)base, blen) == 0;
}

static int uri_within(const char *uri, const ASN1_IA5STRING *b)
{
	size_t blen, hlen;
	const unsigned char *base = ia5(b, &blen);
	const char *host = strstr(uri, "://");

	if (base == NULL || host == NULL)
		return 0;
	host += 3;
	hlen = strcspn(host, ":/?#");
	if (hlen == 0)
		return 0;
	if (blen > 0 && base[0] == '.')
		return hlen > blen && domain_within(host, hlen, base, blen);
	return hlen == blen && strncasecmp(host, (const char *)base, blen) == 0;
}

static int ip_within(const ca_name_t *n, const ASN1_OCTET_STRING *b)
{
	const unsigned char *base = ASN1_STRING_get0_data(b);
	size_t i, blen = (size_t)ASN1_STRING_length(b);

	if (blen != 2 * n->ip_len)
		return 0;
	for (i = 0; i < n->ip_len; i++)
		if (((n->ip[i] ^ base[i]) & base[n->ip_len + i]) != 0)
			return 0;
	return 1;
}

static int name_within(const ca_name_t *n, const GENERAL_NAME *base)
{
	size_t blen;
	const unsigned char *b;

	switch (base->type) {
	case GEN_DNS:
		b = ia5(base->d.dNSName, &blen);
		return b != NULL && domain_within(n->text, strlen(n->text), b, blen);
	case GEN_IPADD: return ip_within(n, base->d.iPAddress);
	case GEN_EMAIL: return email_within(n->text, base->d.rfc822Name);
	case GEN_URI: return uri_within(n->text, base->d.uniformResourceIdentifier);
	default: return 0;
	}
}

/* "dns:.example.test", "ip:10.0.0.0/8": a constraint as messages show it. */
static void base_text(const GENERAL_NAME *g, char *out, size_t cap)
{
	const ASN1_STRING *s = NULL;
	const char *type = ca_san_type_name(g->type);
	ca_name_t addr = { 0 };
	size_t i, half;
	int bits = 0;

	switch (g->type) {
	case GEN_DNS: s = g->d.dNSName; break;
	case GEN_EMAIL: s = g->d.rfc822Name; break;
	case GEN_URI: s = g->d.uniformResourceIdentifier; break;
	case GEN_IPADD:
		half = (size_t)ASN1_STRING_length(g->d.iPAddress) / 2;
		for (i = 0; i < half; i++) {
			unsigned m = ASN1_STRING_get0_data(g->d.iPAddress)[half + i];
			for (; m & 0x80; m = (m << 1) & 0xff)
				bits++;
		}
		if (ca_ip_from_bytes(ASN1_STRING_get0_data(g->d.iPAddress), half, &addr) == 0 &&
		    !addr.mapped)
			snprintf(out, cap, "ip:%s/%d", addr.text, bits);
		else
			snprintf(out, cap, "ip:(%zu bytes)", 2 * half);
		free(addr.text);
		return;
	}
	if (s != NULL)
		snprintf(out, cap, "%s:%.*s", type, ASN1_STRING_length(s),
			 (const char *)ASN1_STRING_get0_data(s));
	else
		snprintf(out, cap, "%s", type);
}

/* Refuses subtrees cairn cannot honour. what names the certificate in the message. */
static int subtrees_usable(const STACK_OF(GENERAL_SUBTREE) *st, const char *what,
			   cairn_err_t *err)
{
	int i, n = sk_GENERAL_SUBTREE_num(st);

	for (i = 0; i < n; i++) {
		const GENERAL_SUBTREE *t = sk_GENERAL_SUBTREE_value(st, i);
		int type = t->base->type;
		if (t->maximum != NULL ||
		    (t->minimum != NULL && ASN1_INTEGER_get(t->minimum) != 0))
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "%s: name constraints with minimum/maximum are not "
					     "allowed (RFC 5280 4.2.1.10)", what);
		if (type != GEN_DNS && type != GEN_EMAIL && type != GEN_URI && type != GEN_IPADD)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "%s: cairn cannot honour %s name constraints (only dns, "
					     "ip, email and uri)", what, ca_san_type_name(type));
		if (type == GEN_IPADD && ASN1_STRING_length(t->base->d.iPAddress) != 8 &&
		    ASN1_STRING_length(t->base->d.iPAddress) != 32)
			return cairn_err_set(err, CAIRN_ECONFIG,
					     "%s: an ip name constraint is not 8 or 32 bytes", what);
	}
	return 0;
}

int ca_nc_add(ca_nc_set_t *set, X509 *x, const char *what, cairn_err_t *err)
{
	NAME_CONSTRAINTS *nc;
	int crit = 0, rc;

	nc = X509_get_ext_d2i(x, NID_name_constraints, &crit, NULL);
	if (nc == NULL)
		return crit == -1 ? 0
				  : cairn_err_set(err, CAIRN_ECONFIG,
						  "%s: name constraints extension unreadable", what);
	if ((rc = subtrees_usable(nc->permittedSubtrees, what, err)) != 0 ||
	    (rc = subtrees_usable(nc->excludedSubtrees, what, err)) != 0)
		goto fail;
	if (set->n == CA_MAX_NC) {
		rc = cairn_err_set(err, CAIRN_ECONFIG, "more than %d CA certificates with name "
				   "constraints", CA_MAX_NC);
		goto fail;
	}
	set->nc[set->n] = nc;
	snprintf(set->what[set->n], sizeof(set->what[0]), "%s", what);
	set->n++;
	return 0;
fail:
	NAME_CONSTRAINTS_free(nc);
	return rc;
}

void ca_nc_clear(ca_nc_set_t *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		NAME_CONSTRAINTS_free(set->nc[i]);
	memset(set, 0, sizeof(*set));
}

/* One name against one certificate's constraints: 0 or CAIRN_ENAME naming both. */
static int check_one(const ca_name_t *n, const char *label_in, const NAME_CONSTRAINTS *nc,
		     const char *what, cairn_err_t *err)
{
	/* A mapped address is held to the IPv4 subtrees (it is issued as IPv4): say so. */
	const char *label = n->mapped ? "name (an IPv4-mapped IPv6 address)" : label_in;
	const GENERAL_SUBTREE *t;
	char permitted[256] = "", one[128];
	size_t used = 0;
	int i, have_permitted = 0, gen = gen_type_of(n->type);

	for (i = 0; i < sk_GENERAL_SUBTREE_num(nc->excludedSubtrees); i++) {
		t = sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, i);
		if (t->base->type == gen && name_within(n, t->base)) {
			base_text(t->base, one, sizeof(one));
			return cairn_err_set(err, CAIRN_ENAME,
					     "%s %s:%s is in the excluded subtree %s of the %s's name "
					     "constraints", label, ca_name_type_str(n->type), n->text,
					     one, what);
		}
	}
	for (i = 0; i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); i++) {
		t = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i);
		if (t->base->type != gen)
			continue;
		if (name_within(n, t->base))
			return 0;
		have_permitted = 1;
		base_text(t->base, one, sizeof(one));
		if (used + strlen(one) + 3 < sizeof(permitted))
			used += (size_t)snprintf(permitted + used, sizeof(permitted) - used, "%s%s",
						 used ? ", " : "", one);
	}
	if (have_permitted)
		return cairn_err_set(err, CAIRN_ENAME,
				     "%s %s:%s is outside the permitted subtrees (%s) of the %s's "
				     "name constraints", label, ca_name_type_str(n->type), n->text,
				     permitted, what);
	return 0;
}

/* A CN is held to the DNS constraints when it reads as a host name with a dot in it
 * (what OpenSSL's verifier checks), to the IP ones when it is an address. */
static int cn_is_checked(const ca_name_t *cn)
{
	if (cn->type == CA_SAN_IP)
		return 1;
	return cn->type == CA_SAN_DNS && cn->text != NULL && strchr(cn->text, '.') != NULL &&
	       ca_dns_problem(cn->text, strlen(cn->text), 1) == NULL;
}

int ca_nc_check(const ca_nc_set_t *set, const ca_names_t *names, cairn_err_t *err)
{
	size_t i, k;
	int rc;

	for (k = 0; k < set->n; k++) {
		for (i = 0; i < names->n_san; i++)
			if ((rc = check_one(&names->san[i], "name", set->nc[k], set->what[k],
					    err)) != 0)
				return rc;
		if (cn_is_checked(&names->cn_name) &&
		    (rc = check_one(&names->cn_name, "subject CN", set->nc[k], set->what[k],
				    err)) != 0)
			return rc;
	}
	return 0;
}

int ca_name_constraints_usable(X509 *x, const char *what, cairn_err_t *err)
{
	ca_nc_set_t set = { 0 };
	int rc = ca_nc_add(&set, x, what, err);

	ca_nc_clear(&set);
	return rc;
}

int ca_csr_check_constraints(const ca_t *ca, const ca_csr_t *csr, cairn_err_t *err)
{
	if (ca == NULL || csr == NULL)
		return cairn_err_set(err, CAIRN_EINVAL, "ca_csr_check_constraints: missing argument");
	if (ca_nc(ca)->n == 0)
		return 0;
	return ca_nc_check(ca_nc(ca), &csr->names, err);
}

int ca_cert_check_constraints(X509 *leaf, X509 *issuing, X509 *root, cairn_err_t *err)
{
	ca_nc_set_t set = { 0 };
	ca_names_t names = { .other_type = -1 };
	int rc;

	if ((rc = ca_nc_add(&set, issuing, "issuing CA", err)) != 0 ||
	    (rc = ca_nc_add(&set, root, "root CA", err)) != 0)
		goto out;
	if (set.n == 0)
		goto out;
	if ((rc = ca_names_from_cert(leaf, &names, err)) == 0)
		rc = ca_nc_check(&set, &names, err);
out:
	ca_names_clear(&names);
	ca_nc_clear(&set);
	return rc;
}
