/* SPDX-License-Identifier: MIT */
/* Unit tests for notify/: outbox ids, settings validation, the signature, the expiry scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notify/notify.h"
#include "notify/notify_int.h"
#include "notify/smtp.h"

#include "tests/unit/db_fixture.h"

#define DAY 86400

/* ---- outbox ---- */
struct ev_op {
	const char *type;
	int fail_after;
	uint64_t id;
};

static int ev_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct ev_op *o = arg;
	json_t *data = json_pack("{s:s}", "serial", "01ab");
	int rc = notify_event(txn, o->type, data, &o->id, err);

	json_decref(data);
	return rc == 0 && o->fail_after ? CAIRN_EINVAL : rc;
}

/* Reads event id back: its JSON (new reference) or NULL. */
static json_t *event_get(db_t *db, uint64_t id)
{
	db_txn_t *txn = NULL;
	const void *v;
	size_t len;
	uint8_t key[9];
	json_t *j = NULL;

	assert_int_equal(db_read_begin(db, &txn), 0);
	notify_event_key(id, key);
	if (db_get(txn, DB_OUTBOX, key, sizeof(key), &v, &len) == 0)
		j = json_loadb(v, len, 0, NULL);
	db_txn_end(txn);
	return j;
}

static void test_outbox_ids(void **state)
{
	db_t *db = ((void **)*state)[1];
	struct ev_op a = { "cert.issued", 0, 0 }, b = { "cert.revoked", 1, 0 },
		     c = { "cert.revoked", 0, 0 };
	cairn_err_t err = { 0 };
	json_t *j;

	assert_int_equal(db_write(db, ev_run, &a, &err), 0);
	assert_int_equal(a.id, 1);
	/* A change that rolls back takes its event with it: the id is not used up. */
	assert_int_equal(db_write(db, ev_run, &b, &err), CAIRN_EINVAL);
	assert_int_equal(db_write(db, ev_run, &c, &err), 0);
	assert_int_equal(c.id, 2);
	j = event_get(db, 2);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "cert.revoked");
	assert_int_equal(json_integer_value(json_object_get(j, "version")), NOTIFY_SCHEMA_VERSION);
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 2);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(j, "data"), "serial")), "01ab");
	json_decref(j);
}

/* ---- dead letters ---- */
enum dead_step { PUT, DEL, MARK, UNMARK, SETTLE };
struct dead_op {
	enum dead_step step;
	uint64_t id, max, dropped;
};

static int dead_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct dead_op *o = arg;
	char text[64];

	(void)err;
	o->dropped = 0;
	snprintf(text, sizeof(text), "{\"id\":%llu}", (unsigned long long)o->id);
	switch (o->step) {
	case PUT:
		return notify_dead_put(txn, "s", o->id, text, o->max, &o->dropped);
	case DEL:
		return notify_dead_del(txn, "s", o->id);
	case MARK:
		return notify_dead_mark(txn, "s", o->id, 1);
	case UNMARK:
		return notify_dead_mark(txn, "s", o->id, 0);
	default:
		return notify_dead_settle(txn, "s", o->max, &o->dropped);
	}
}

static void dead(db_t *db, enum dead_step step, uint64_t id, uint64_t max, uint64_t dropped)
{
	struct dead_op o = { step, id, max, 0 };
	cairn_err_t err = { 0 };

	assert_int_equal(db_write(db, dead_run, &o, &err), 0);
	assert_int_equal(o.dropped, dropped);
}

/* count, dropped, and the id of the first letter marked for retry (0: none) */
static void dead_state(db_t *db, uint64_t count, uint64_t dropped, uint64_t marked)
{
	db_txn_t *txn = NULL;
	const void *v = NULL;
	size_t vlen = 0;
	uint64_t id = 0;

	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(notify_dead_count(txn, "s"), count);
	assert_int_equal(notify_dead_dropped(txn, "s"), dropped);
	assert_int_equal(notify_dead_next_retry(txn, "s", &id, &v, &vlen), marked != 0);
	assert_int_equal(id, marked);
	db_txn_end(txn);
}

/* Dead letters are counted once each (a letter stored again is not a second), a delete of
 * one that is not there counts nothing, the oldest are dropped past the cap with their
 * marks, and the first marked is found whatever the ids (big-endian bytes past 0x7f). */
static void test_dead_letters(void **state)
{
	db_t *db = ((void **)*state)[1];

	dead_state(db, 0, 0, 0);
	dead(db, PUT, 300, 3, 0);
	dead(db, PUT, 300, 3, 0); /* a failed retry stores it again */
	dead(db, PUT, 200, 3, 0);
	dead_state(db, 2, 0, 0);
	dead(db, MARK, 300, 0, 0);
	dead(db, MARK, 200, 0, 0);
	dead_state(db, 2, 0, 200);
	dead(db, UNMARK, 200, 0, 0);
	dead_state(db, 2, 0, 300);
	dead(db, PUT, 400, 3, 0);
	dead(db, PUT, 500, 3, 1); /* four: the oldest (200) goes */
	dead_state(db, 3, 1, 300);
	dead(db, DEL, 200, 0, 0); /* already gone: nothing counted */
	dead(db, DEL, 300, 0, 0); /* delivered: the letter and its mark go */
	dead_state(db, 2, 1, 0);
	dead(db, SETTLE, 0, 1, 1); /* the cap lowered to 1 at start */
	dead_state(db, 1, 2, 0);
	dead(db, SETTLE, 0, 10, 0);
	dead_state(db, 1, 2, 0);
	dead(db, MARK, 999, 0, 0); /* a mark whose letter is gone: found, without a text */
	{
		db_txn_t *txn = NULL;
		const void *v = "x";
		size_t vlen = 1;
		uint64_t id = 0;
		assert_int_equal(db_read_begin(db, &txn), 0);
		assert_int_equal(notify_dead_next_retry(txn, "s", &id, &v, &vlen), 1);
		assert_int_equal(id, 999);
		assert_null(v);
		db_txn_end(txn);
	}
}

/* ---- settings ---- */
static void test_settings(void **state)
{
	notify_settings_t s;
	cairn_err_t err = { 0 };
	json_t *o, *j;
	(void)state;

	assert_int_equal(notify_settings_parse(NULL, &s, &err), 0);
	assert_int_equal(s.n_expiry, 3);
	assert_int_equal(s.expiry_days[0], 30);
	o = json_loads("{\"expiry_days\":[14],\"webhooks\":[{\"name\":\"ops\",\"url\":"
		       "\"http://127.0.0.1:9/h\",\"secret_file\":\"s\",\"events\":[\"cert.issued\"]}]}",
		       0, NULL);
	assert_int_equal(notify_settings_parse(o, &s, &err), 0);
	assert_int_equal(s.n_sinks, 1);
	j = json_loads("{\"type\":\"cert.issued\",\"data\":{}}", 0, NULL);
	assert_true(notify_sink_wants(&s.sinks[0], j));
	json_object_set_new(j, "type", json_string("cert.revoked"));
	assert_false(notify_sink_wants(&s.sinks[0], j));
	json_decref(j);
	json_decref(o);
	o = json_loads("{\"webhooks\":[{\"name\":\"ops\",\"url\":\"ftp://x\",\"secret_file\":\"s\"}]}",
		       0, NULL);
	assert_int_equal(notify_settings_parse(o, &s, &err), CAIRN_ECONFIG);
	assert_non_null(strstr(cairn_err_msg(&err), "notify.webhooks[0].url"));
	json_decref(o);
	o = json_loads("{\"webhooks\":[{\"name\":\"a\",\"url\":\"http://x\",\"secret_file\":\"s\","
		       "\"events\":[\"cert.nope\"]}]}", 0, NULL);
	assert_int_equal(notify_settings_parse(o, &s, &err), CAIRN_ECONFIG);
	assert_non_null(strstr(cairn_err_msg(&err), "cert.nope"));
	json_decref(o);
	o = json_loads("{\"smtp\":{\"url\":\"smtp://127.0.0.1:25\",\"from\":\"c@x.test\"},"
		       "\"email\":[{\"name\":\"m\",\"to\":[\"a@x.test\"]}]}", 0, NULL);
	assert_int_equal(notify_settings_parse(o, &s, &err), 0);
	assert_int_equal(s.n_sinks, 1);
	assert_true(s.sinks[0].email);
	assert_string_equal(s.sinks[0].to[0], "a@x.test");
	json_decref(o);
	o = json_loads("{\"smtp\":{\"url\":\"http://x\",\"from\":\"c@x.test\"}}", 0, NULL);
	assert_int_equal(notify_settings_parse(o, &s, &err), CAIRN_ECONFIG);
	assert_non_null(strstr(cairn_err_msg(&err), "notify.smtp.url"));
	json_decref(o);
	o = json_loads("{\"smtp\":{\"url\":\"smtp://x\",\"from\":\"c@x.test\",\"user\":\"u\"}}",
		       0, NULL);
	assert_int_equal(notify_settings_parse(o, &s, &err), CAIRN_ECONFIG); /* no password_file */
	json_decref(o);
	o = json_loads("{\"webhooks\":[{\"name\":\"pay\",\"url\":\"http://x/\",\"secret_file\":\"s\","
		       "\"match\":{\"dns_suffix\":[\".pay.test\"],\"profile\":[\"tls-server\"]}}]}",
		       0, NULL);
	assert_int_equal(notify_settings_parse(o, &s, &err), 0);
	json_decref(o);
	j = json_loads("{\"type\":\"cert.issued\",\"data\":{\"profile\":\"tls-server\","
		       "\"names\":[\"a.example\",\"API.Pay.Test\"]}}", 0, NULL);
	assert_true(notify_sink_wants(&s.sinks[0], j));
	json_object_set_new(json_object_get(j, "data"), "profile", json_string("tls-client"));
	assert_false(notify_sink_wants(&s.sinks[0], j));
	json_object_set_new(json_object_get(j, "data"), "profile", json_string("tls-server"));
	json_object_set_new(json_object_get(j, "data"), "names", json_pack("[s]", "pay.test"));
	assert_false(notify_sink_wants(&s.sinks[0], j)); /* the suffix is ".pay.test" */
	json_decref(j);
	o = json_loads("{\"expiry_days\":[7,7]}", 0, NULL);
	assert_int_equal(notify_settings_parse(o, &s, &err), CAIRN_ECONFIG);
	json_decref(o);
	o = json_loads("{\"max_tries\":0}", 0, NULL);
	assert_int_equal(notify_settings_parse(o, &s, &err), CAIRN_ECONFIG);
	json_decref(o);
	o = json_loads("{\"typo\":1}", 0, NULL);
	assert_int_equal(notify_settings_parse(o, &s, &err), CAIRN_ECONFIG);
	json_decref(o);
	/* owners, approvers, digest mode, issuer routes, STARTTLS modes */
	o = json_loads("{\"smtp\":{\"url\":\"smtp://x\",\"from\":\"c@x.test\",\"digest\":true,"
		       "\"starttls\":\"require\",\"ca_file\":\"ca.pem\"},\"email\":[{\"name\":\"o\","
		       "\"to_owner\":true,\"match\":{\"issuer\":[\"issuing\"]}},{\"name\":\"a\","
		       "\"to_approvers\":true,\"mode\":\"each\"}]}", 0, NULL);
	assert_int_equal(notify_settings_parse(o, &s, &err), 0);
	assert_int_equal(s.n_sinks, 2);
	assert_true(s.sinks[0].to_owner && s.sinks[0].digest && s.sinks[0].n_to == 0);
	assert_true(s.sinks[1].to_approvers && !s.sinks[1].digest);
	assert_int_equal(s.smtp_starttls, NOTIFY_STARTTLS_REQUIRE);
	assert_string_equal(s.smtp_ca_file, "ca.pem");
	json_decref(o);
	j = json_loads("{\"type\":\"cert.issued\",\"data\":{\"issuer\":\"issuing\"}}", 0, NULL);
	assert_true(notify_sink_wants(&s.sinks[0], j));
	json_object_set_new(json_object_get(j, "data"), "issuer", json_string("other"));
	assert_false(notify_sink_wants(&s.sinks[0], j));
	json_object_del(json_object_get(j, "data"), "issuer");
	assert_false(notify_sink_wants(&s.sinks[0], j)); /* no issuer: not one listed */
	json_decref(j);
	o = json_loads("{\"smtp\":{\"url\":\"smtp://x\",\"from\":\"c@x.test\"},"
		       "\"email\":[{\"name\":\"n\",\"events\":[\"cert.issued\"]}]}", 0, NULL);
	assert_int_equal(notify_settings_parse(o, &s, &err), CAIRN_ECONFIG); /* nobody to mail */
	assert_non_null(strstr(cairn_err_msg(&err), "notify.email[0].to"));
	json_decref(o);
	o = json_loads("{\"smtp\":{\"url\":\"smtp://x\",\"from\":\"c@x.test\",\"user\":\"u\","
		       "\"password_file\":\"p\",\"starttls\":\"none\"}}", 0, NULL);
	assert_int_equal(notify_settings_parse(o, &s, &err), CAIRN_ECONFIG); /* AUTH in clear */
	json_decref(o);
	o = json_loads("{\"smtp\":{\"url\":\"smtps://x\",\"from\":\"c@x.test\",\"user\":\"u\","
		       "\"password_file\":\"p\",\"starttls\":\"none\"}}", 0, NULL);
	assert_int_equal(notify_settings_parse(o, &s, &err), 0); /* TLS from the start */
	json_decref(o);
	assert_true(notify_address_ok("a.b+c@x.test"));
	assert_false(notify_address_ok("a@x.test\r\nBcc: e@v.test"));
	assert_false(notify_address_ok("A <a@x.test>"));
	assert_false(notify_address_ok("a@x.test,b@x.test"));
	assert_false(notify_address_ok("@x.test"));
	assert_false(notify_address_ok("a@"));
	assert_false(notify_address_ok("a@b@c"));
}

/* ---- signature: HMAC-SHA256("secret", "1700000000.{}"), computed independently ---- */
static void test_sign(void **state)
{
	char out[160];
	(void)state;

	assert_int_equal(notify_sign("secret", 6, 1700000000, "{}", 2, out, sizeof(out)), 0);
	assert_string_equal(out, "t=1700000000,v1="
				 "b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163");
	assert_int_equal(notify_sign("secret", 6, 1, "{}", 2, out, 10), CAIRN_ECRYPTO);
}

/* ---- expiry scan ---- */
struct put_op {
	uint8_t serial;
	int64_t nb, na;
	int revoked;
};

static int put_run(db_txn_t *txn, void *arg, cairn_err_t *err)
{
	struct put_op *p = arg;
	db_cert_t c;
	const char *names[] = { "a.example" };
	(void)err;

	memset(&c, 0, sizeof(c));
	c.serial[0] = p->serial;
	c.serial_len = 1;
	c.not_before = p->nb;
	c.not_after = p->na;
	c.reason = -1;
	strcpy(c.issuer, "issuing");
	strcpy(c.profile, "tls-server");
	snprintf(c.requester, sizeof(c.requester), "req-%u", p->serial);
	c.der = (const uint8_t *)"x";
	c.der_len = 1;
	if (db_cert_put(txn, &c, names, 1) != 0)
		return CAIRN_EDB;
	return p->revoked ? db_cert_revoke(txn, c.serial, 1, p->nb, 1) : 0;
}

static void put_cert(db_t *db, uint8_t serial, int64_t nb, int64_t na, int revoked)
{
	struct put_op p = { serial, nb, na, revoked };
	cairn_err_t err = { 0 };

	assert_int_equal(db_write(db, put_run, &p, &err), 0);
}

/* Counts cert.expiring events per threshold for serial hex. */
static int count_expiring(db_t *db, const char *hex, int days)
{
	db_txn_t *txn = NULL;
	uint64_t i, last;
	int n = 0;

	assert_int_equal(db_read_begin(db, &txn), 0);
	last = notify_meta_u64(txn, "notify_seq");
	db_txn_end(txn);
	for (i = 1; i <= last; i++) {
		json_t *j = event_get(db, i), *d = json_object_get(j, "data");
		if (j && strcmp(json_string_value(json_object_get(j, "type")), "cert.expiring") == 0 &&
		    strcmp(json_string_value(json_object_get(d, "serial")), hex) == 0 &&
		    json_integer_value(json_object_get(d, "threshold_days")) == days)
			n++;
		json_decref(j);
	}
	return n;
}

static void test_scan(void **state)
{
	db_t *db = ((void **)*state)[1];
	notify_settings_t set;
	notify_scan_stats_t st;
	cairn_err_t err = { 0 };
	int64_t t0 = 1800000000;

	assert_int_equal(notify_settings_parse(NULL, &set, &err), 0);
	put_cert(db, 1, t0 - 60 * DAY, t0 + 40 * DAY, 0);  /* crosses 30, 7, 1 later */
	put_cert(db, 2, t0 - 60 * DAY, t0 + 40 * DAY, 1);  /* revoked: never */
	put_cert(db, 3, t0 - 1 * DAY, t0 + 15 * DAY, 0);   /* born inside 30: only 7 and 1 */
	put_cert(db, 4, t0 - 60 * DAY, t0 + 400 * DAY, 0); /* far away */

	assert_int_equal(notify_scan_expiry(db, &set, t0, NULL, NULL, &st, &err), 0);
	assert_int_equal(st.emitted, 0);
	/* 11 days later: serial 1 is inside 30 days. Scans in between add nothing twice. */
	assert_int_equal(notify_scan_expiry(db, &set, t0 + 11 * DAY, NULL, NULL, &st, &err), 0);
	assert_int_equal(notify_scan_expiry(db, &set, t0 + 11 * DAY + 5, NULL, NULL, &st, &err), 0);
	assert_int_equal(count_expiring(db, "01", 30), 1);
	assert_int_equal(count_expiring(db, "03", 30), 0);
	assert_int_equal(count_expiring(db, "02", 30), 0);
	/* Serial 3 crossed its 7-day threshold (it expires at t0 + 15d) at t0 + 8d. */
	assert_int_equal(count_expiring(db, "03", 7), 1);
	assert_int_equal(notify_scan_expiry(db, &set, t0 + 34 * DAY, NULL, NULL, &st, &err), 0);
	assert_int_equal(notify_scan_expiry(db, &set, t0 + 39 * DAY + 1, NULL, NULL, &st, &err), 0);
	assert_int_equal(count_expiring(db, "01", 30), 1);
	assert_int_equal(count_expiring(db, "01", 7), 1);
	assert_int_equal(count_expiring(db, "01", 1), 1);
	assert_int_equal(count_expiring(db, "02", 1), 0);
	assert_int_equal(count_expiring(db, "04", 30), 0);
	/* The walk reads only what lies between the horizons: here nothing new. */
	assert_int_equal(notify_scan_expiry(db, &set, t0 + 39 * DAY + 2, NULL, NULL, &st, &err), 0);
	assert_int_equal(st.visited, 0);
}

/* ---- the CA's own material: one ca.expiring per (what, state, at) ---- */
/* Decodes quoted-printable q into out (cap bytes); returns the longest line of q. */
static size_t qp_decode(const char *q, char *out, size_t cap)
{
	size_t used = 0, col = 0, longest = 0;
	unsigned v;

	for (; *q && used + 1 < cap; q++) {
		if (q[0] == '\r' && q[1] == '\n') {
			out[used++] = '\n';
			col = 0;
			q++;
		} else if (q[0] == '=' && q[1] == '\r' && q[2] == '\n') {
			if (col + 1 > longest) /* the soft break's "=" is on the line */
				longest = col + 1;
			col = 0;
			q += 2;
		} else if (q[0] == '=') {
			assert_int_equal(sscanf(q + 1, "%2X", &v), 1);
			out[used++] = (char)v;
			col += 3;
			q += 2;
		} else {
			out[used++] = *q;
			col++;
		}
		if (col > longest)
			longest = col;
	}
	out[used] = '\0';
	return longest;
}

/* Mail bodies: any line (a kilobytes-long subject included) arrives in lines of at most
 * 76 characters and decodes to exactly the text. */
static void test_qp_body(void **state)
{
	static char text[8192], back[8192];
	const char *cases[] = { "", "short\n", "trailing space \nand tab\t\nend \t",
				"a=b \xc3\xa9\x01\x7f\n\n\n",
				"01234567890123456789012345678901234567890123456789012345678901234567890123456"
				"\n012345678901234567890123456789012345678901234567890123456789012345678901234=\n" };
	size_t i, longest;
	char *q;
	(void)state;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		q = notify_qp_body(cases[i]);
		assert_non_null(q);
		longest = qp_decode(q, back, sizeof(back));
		assert_true(longest <= 76);
		assert_string_equal(back, cases[i]);
		assert_null(strstr(q, " \r\n")); /* no space before a line end */
		free(q);
	}
	/* One line of 3,000 bytes: every byte value but NUL and LF, spaces among them. */
	for (i = 0; i < 3000; i++) {
		unsigned char c = (unsigned char)(1 + i % 255);
		text[i] = c == '\n' ? ' ' : (char)c;
	}
	text[3000] = '\0';
	q = notify_qp_body(text);
	assert_non_null(q);
	longest = qp_decode(q, back, sizeof(back));
	assert_true(longest <= 76);
	assert_string_equal(back, text);
	free(q);
}

static void test_material(void **state)
{
	db_t *db = ((void **)*state)[1];
	json_t *p = json_pack("{s:s, s:s, s:s}", "what", "issuing", "state", "expiring", "at",
			      "2030-01-01T00:00:00Z");
	json_t *q = json_pack("{s:s, s:s, s:s}", "what", "issuing", "state", "expired", "at",
			      "2030-01-01T00:00:00Z");
	json_t *bad = json_pack("{s:s}", "what", "issuing"), *j;
	cairn_err_t err = { 0 };
	db_txn_t *txn = NULL;

	assert_int_equal(notify_material(db, p, &err), 0);
	assert_int_equal(notify_material(db, p, &err), 0);
	assert_int_equal(notify_material(db, q, &err), 0);
	assert_int_equal(notify_material(db, bad, &err), CAIRN_EINVAL);
	assert_int_equal(db_read_begin(db, &txn), 0);
	assert_int_equal(notify_meta_u64(txn, "notify_seq"), 2);
	db_txn_end(txn);
	j = event_get(db, 2);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "ca.expiring");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(j, "data"), "state")), "expired");
	json_decref(j);
	json_decref(p);
	json_decref(q);
	json_decref(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_outbox_ids, fixture_db_setup, fixture_db_teardown),
		cmocka_unit_test(test_settings),
		cmocka_unit_test_setup_teardown(test_dead_letters, fixture_db_setup, fixture_db_teardown),
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_qp_body),
		cmocka_unit_test_setup_teardown(test_scan, fixture_db_setup, fixture_db_teardown),
		cmocka_unit_test_setup_teardown(test_material, fixture_db_setup, fixture_db_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
