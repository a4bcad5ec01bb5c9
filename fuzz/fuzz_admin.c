/* SPDX-License-Identifier: MIT */
/* Fuzz target: the admin API request handling (routing, bearer token, JSON body) on a
 * real database in a temporary directory. The CA and the policy engine are absent, so a
 * body that passes every admin check is refused by policy_submit (EINVAL) instead of
 * signing (the csr target covers what comes next). Input, as seed files hold it:
 *   METHOD PATH\n AUTHORIZATION\n CONTENT-TYPE\n BODY
 * where "-" is an absent header and "@token@" stands for a valid operator token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin/admin.h"
#include "fuzz/fuzz.h"

static db_t *db;
static char *token;
static char bearer[256];

static void open_db(void)
{
	char path[512];

	/* OpenSSL's one-time set-up on this thread, not on the db writer thread: set up
	 * there, it leaves that thread's error state behind when the thread ends (LSan). */
	FUZZ_ASSERT(OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) == 1);
	snprintf(path, sizeof(path), "%s/db", fuzz_tmpdir());
	FUZZ_ASSERT(fs_mkdirs(path, 0700) == 0);
	FUZZ_ASSERT(db_open(path, &db, NULL) == 0);
	FUZZ_ASSERT(admin_add(db, "fuzz", "operator", NULL, "fuzz", NULL) == 0);
	FUZZ_ASSERT(admin_token_create(db, "fuzz", "operator", 0, "fuzz", &token, NULL) == 0);
	snprintf(bearer, sizeof(bearer), "Bearer %s", token);
}

__attribute__((destructor)) static void close_db(void)
{
	db_close(db);
	free(token);
	db = NULL;
	token = NULL;
}

/* Next '\n'-terminated line of [*p, end) as a NUL-terminated copy (malloc'd). */
static char *take_line(const char **p, const char *end)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	char *s = malloc(n + 1);

	FUZZ_ASSERT(s != NULL);
	memcpy(s, *p, n);
	s[n] = '\0';
	*p = nl ? nl + 1 : end;
	return s;
}

FUZZ_TARGET(admin)
{
	const char *p = (const char *)data, *end = p + size;
	char *reqline, *auth, *ctype, *path;
	admin_ctx_t ctx = { 0 };
	admin_request_t req = { 0 };
	http_reply_t reply = { 0 };

	if (db == NULL)
		open_db();
	ctx.db = db;
	reqline = take_line(&p, end);
	auth = take_line(&p, end);
	ctype = take_line(&p, end);
	path = strchr(reqline, ' ');
	if (path != NULL)
		*path++ = '\0';
	req.method = reqline;
	req.path = path ? path : "/";
	req.authorization = strcmp(auth, "-") == 0 ? NULL
			    : strcmp(auth, "@token@") == 0 ? bearer : auth;
	req.content_type = strcmp(ctype, "-") == 0 ? NULL : ctype;
	req.body = p;
	req.body_len = (size_t)(end - p);
	req.remote = "127.0.0.1";
	admin_handle(&ctx, &req, &reply);
	/* Every request gets an answer, and only the missing CA may cause a 5xx. */
	FUZZ_ASSERT(reply.status >= 200 && reply.status < 600 && reply.body != NULL);
	http_reply_clear(&reply);
	free(reqline);
	free(auth);
	free(ctype);
	return 0;
}
