/* SPDX-License-Identifier: MIT */
/* The daemon's life: lock the data dir, log in once, open db and CA, serve, shut down cleanly. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>

#include "audit/audit.h"
#include "server/internal.h"

int server_lock_dir(const char *dir, cairn_err_t *err)
{
	char *path = fs_join(dir, "cairn.lock");
	int fd;

	if (path == NULL)
		return CAIRN_ENOMEM;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		cairn_err_set(err, CAIRN_EIO, "%s: %s", path, strerror(errno));
		free(path);
		return CAIRN_EIO;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		cairn_err_set(err, CAIRN_EBUSY,
			      "%s is held by another cairn process (one daemon per data dir)", dir);
		close(fd);
		free(path);
		return CAIRN_EBUSY;
	}
	free(path);
	return fd;
}

static int write_serve_file(const server_t *s, cairn_err_t *err)
{
	json_t *doc = json_pack("{s:i, s:s, s:s}", "pid", (int)getpid(), "https", s->https_url,
				"http", s->http_url);
	char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	char *path = fs_join(s->cfg->dir, "serve.json");
	int rc = CAIRN_ENOMEM;

	if (text && path)
		rc = fs_write_atomic(path, text, strlen(text), 0644);
	if (rc)
		cairn_err_set(err, rc, "writing %s: %s", path ? path : "serve.json",
			      cairn_strerror(rc));
	free(path);
	free(text);
	json_decref(doc);
	return rc;
}

/* Signs the audit head now and then, so exports can be verified offline. */
static void *checkpointer(void *arg)
{
	server_t *s = arg;
	int64_t every = 0, next;

	/* Validated by the config table (at least 60 s). */
	if (duration_parse(s->cfg->checkpoint_interval, &every) != 0)
		return NULL;
	pthread_mutex_lock(&s->cp_lock);
	next = (int64_t)time(NULL) + every;
	while (!s->cp_stop) {
		cairn_err_t err = { 0 };
		int64_t now = (int64_t)time(NULL);
		next = time_next_within(next, now, every);
		if (now < next) {
			time_wait_until(&s->cp_wake, &s->cp_lock, next);
			continue;
		}
		next = now + every;
		pthread_mutex_unlock(&s->cp_lock);
		if (audit_checkpoint(s->db, s->admin.audit_key, s->admin.audit_cert,
				     "server:checkpoint", NULL, &err) != 0)
			log_warn("server", "audit checkpoint: %s", cairn_err_msg(&err));
		pthread_mutex_lock(&s->cp_lock);
	}
	pthread_mutex_unlock(&s->cp_lock);
	return NULL;
}

/* Certificates indexed per write by the indexer: ~50 ms of the writer each. */
#define INDEX_BATCH 10000

/* Builds, in the background, the indexes a database made before them lacks
 * (db_requester_build), a batch per write: a start-up never waits for a walk of every
 * certificate, and issuance interleaves with the batches. Searches work meanwhile (by a
 * walk); the build resumes where it stopped after a restart. */
static void *indexer(void *arg)
{
	server_t *s = arg;
	cairn_err_t err = { 0 };
	int done = 0, batches = 0;

	while (!atomic_load(&s->idx_stop)) {
		if (db_requester_build(s->db, INDEX_BATCH, &done, &err) != 0) {
			log_warn("server", "building the requester index: %s (again at the next "
				 "start)", cairn_err_msg(&err));
			break;
		}
		if (done)
			break;
		if (batches++ == 0)
			log_info("server", "building the requester index of a database made before "
				 "it, %d certificates per write", INDEX_BATCH);
	}
	if (done && batches > 0)
		log_info("server", "requester index built");
	return NULL;
}

/* token.timeout as hsm_open takes it: -1 is 10 s, or no bound for SoftHSM2's module (a
 * software token in this process has no link to lose, and the hand-off to a signer thread
 * costs more than its signature: bench/README.md). */
static unsigned token_timeout_ms(const cairn_config_t *cfg)
{
	const char *base = strrchr(cfg->token_module, '/');
	long secs = cfg->token_timeout;

	if (secs < 0)
		secs = strstr(base != NULL ? base + 1 : cfg->token_module, "softhsm") != NULL
			       ? 0
			       : HSM_TIMEOUT_S;
	return (unsigned)secs * 1000;
}

/* policy_requester_fn: may the requester of a request that waited for approvers still be
 * issued its certificate? Each channel answers for its own requesters (an ACME account
 * revoked or an authorization of its order deactivated, an EST account deleted, an admin
 * disabled meanwhile); the others may. */
static int requester_active(db_txn_t *txn, const char *requester, const char *request,
			    void *arg, cairn_err_t *err)
{
	int rc;

	if ((rc = acme_requester_active(txn, requester, request, arg, err)) != 0 ||
	    (rc = est_requester_active(txn, requester, request, arg, err)) != 0)
		return rc;
	return admin_requester_active(txn, requester, request, arg, err);
}

static int open_core(server_t *s, cairn_err_t *err)
{
	const cairn_config_t *cfg = s->cfg;
	char *pin = NULL, *softhsm = NULL, *dbdir = NULL, *root = NULL, *issuing = NULL;
	char *policy = NULL;
	int64_t ttl = 0;
	hsm_config_t hc = { 0 };
	ca_config_t cc = { 0 };
	int rc;

	rc = config_read_pin(cfg, &pin, err);
	if (rc)
		goto out;
	if (cfg->softhsm_conf[0] != '\0')
		softhsm = config_path(cfg, cfg->softhsm_conf);
	hc.module = cfg->token_module;
	hc.token_label = cfg->token_label;
	hc.pin = pin;
	hc.softhsm_conf = softhsm;
	hc.timeout_ms = token_timeout_ms(cfg);
	/* Said before: a token that does not answer holds the start in its login. */
	log_info("server", "token: opening \"%s\" with %s", cfg->token_label, cfg->token_module);
	rc = hsm_open(&hc, &s->hsm, err);
	if (rc)
		goto out;
	if (hc.timeout_ms == 0)
		log_info("server", "token: no bound on a signature's wait (token.timeout %ld): "
			 "the thread that asks makes the token calls", cfg->token_timeout);
	else
		log_info("server", "token: a signature or other token call is waited for at "
			 "most %u s (token.timeout), then refused", hc.timeout_ms / 1000);
	dbdir = fs_join(cfg->dir, "db");
	root = config_path(cfg, cfg->root_cert);
	issuing = config_path(cfg, cfg->issuing_cert);
	if (dbdir == NULL || root == NULL || issuing == NULL) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	rc = db_open(dbdir, &s->db, err);
	if (rc)
		goto out;
	cc.hsm = s->hsm;
	cc.db = s->db;
	cc.root_cert_file = root;
	cc.issuing_cert_file = issuing;
	cc.issuing_key_label = cfg->issuing_key;
	cc.http_base_url = s->http_url;
	cc.profiles = cfg->profiles;
	cc.crl_shards = (unsigned)cfg->crl_shards;
	rc = ca_open(&cc, &s->ca, err);
	if (rc)
		goto out;
	server_material_to_ca(s); /* the HTTPS certificate, served since http_start */
	server_material_update(s, "root", ca_issuer_cert(s->ca, "root"));
	{
		ca_issuer_info_t info;
		size_t i;
		for (i = 0; ca_issuer_at(s->ca, i, &info) == 0; i++)
			server_material_update(s, info.name, info.cert);
	}
	policy = config_path(cfg, cfg->policy_file);
	/* pending_ttl was validated by the config table. */
	if (policy == NULL || duration_parse(cfg->pending_ttl, &ttl) != 0) {
		rc = CAIRN_ENOMEM;
		goto out;
	}
	rc = policy_engine_new(s->ca, s->db, policy, ttl, &s->policy, err);
	if (rc)
		goto out;
	/* Approvals count only from enabled admins who existed when the request came. */
	policy_engine_set_approver_check(s->policy, admin_approver_counts, NULL);
	/* A request issued on approval goes to no requester gone while it waited. */
	policy_engine_set_requester_check(s->policy, requester_active, NULL);
	s->est_settings = *cfg->est_settings;
	if ((rc = est_new(&s->est_settings, s->ca, s->db, s->policy, &s->est, err)) != 0)
		goto out;
	s->admin.ca = s->ca;
	s->admin.db = s->db;
	s->admin.json.max_depth = (int)cfg->max_json_depth;
	s->admin.json.max_bytes = cfg->max_body;
	s->admin.policy = s->policy;
	s->admin.renew = server_renew_now;
	s->admin.renew_arg = s;
	s->admin.rotate = server_rotate_now;
	/* Console sessions live in memory: a restart signs everyone out (docs/console.md). */
	{
		int64_t life = 0;
		if (duration_parse(cfg->ui_session_lifetime, &life) != 0 ||
		    (s->admin.sessions = admin_sessions_new(ADMIN_SESSIONS_MAX)) == NULL ||
		    util_ratelimit_new(ADMIN_AUTH_FAIL_KEYS, ADMIN_AUTH_FAIL_LIMIT,
				       ADMIN_AUTH_FAIL_WINDOW * 1000ULL, &s->admin.fails) != 0) {
			rc = cairn_err_set(err, CAIRN_ENOMEM,
					   "cannot set up console sessions and the refusal limit");
			goto out;
		}
		s->admin.session_lifetime = (long)life;
	}
	/* Audit checkpoints are signed by the issuing CA key, in the token. */
	rc = hsm_key_get(s->hsm, cfg->issuing_key, &s->admin.audit_key, err);
	if (rc)
		goto out;
	s->admin.audit_cert = ca_issuer_cert(s->ca, "issuing");
	pthread_mutex_init(&s->cp_lock, NULL);
	time_mono_cond_init(&s->cp_wake); /* time_wait_until */
	if (pthread_create(&s->checkpointer, NULL, checkpointer, s) != 0) {
		rc = cairn_err_set(err, CAIRN_ENOMEM, "cannot start the audit checkpoint thread");
		goto out;
	}
	s->cp_running = 1;
	if ((rc = server_revocation_open(s, err)) != 0 || (rc = server_metrics_start(s, err)) != 0)
		goto out;
	/* After the revocation listeners: the ca is shared with ACME's threads from here. */
	{
		acme_config_t ac = { 0 };
		ac.db = s->db;
		ac.ca = s->ca;
		ac.policy = s->policy;
		ac.https_base = s->https_url;
		ac.http_base = s->http_url;
		ac.settings = &cfg->acme_settings;
		ac.max_json_depth = (int)cfg->max_json_depth;
		rc = acme_new(&ac, &s->acme, err);
		if (rc)
			goto out;
		s->admin.acme = s->acme;
		policy_engine_set_presign_check(s->policy, acme_request_presign, s->acme);
	}
	rc = server_events_start(s, err);
	if (rc == 0 && pthread_create(&s->indexer, NULL, indexer, s) != 0)
		rc = cairn_err_set(err, CAIRN_ENOMEM, "cannot start the indexer thread");
	else if (rc == 0)
		s->idx_running = 1;
	if (rc == 0)
		rc = server_discover_start(s, err);
	if (rc == 0)
		rc = server_replace_start(s, err);
	if (rc == 0)
		rc = policy_expiry_start(s->policy, err);
	if (rc == 0)
		rc = server_audit_check_start(s, err);
out:
	if (pin != NULL)
		OPENSSL_cleanse(pin, strlen(pin));
	free(pin);
	free(softhsm);
	free(dbdir);
	free(root);
	free(issuing);
	free(policy);
	return rc;
}

static void close_core(server_t *s)
{
	policy_expiry_stop(s->policy); /* its events before the last checkpoint */
	server_audit_check_stop(s);
	server_replace_stop(s);
	server_discover_stop(s);
	server_events_stop(s);
	server_metrics_stop(s);
	if (s->idx_running) {
		atomic_store(&s->idx_stop, 1);
		pthread_join(s->indexer, NULL);
		s->idx_running = 0;
	}
	acme_free(s->acme);
	cairn_err_t err = { 0 };

	if (s->cp_running) {
		pthread_mutex_lock(&s->cp_lock);
		s->cp_stop = 1;
		pthread_cond_signal(&s->cp_wake);
		pthread_mutex_unlock(&s->cp_lock);
		pthread_join(s->checkpointer, NULL);
		s->cp_running = 0;
	}
	/* The refusals of lock-outs only memory held (counted, not yet audited), before the
	 * last checkpoint covers them: a restart does not lose them. */
	if (s->db != NULL) {
		(void)audit_limit_flush(s->db, s->admin.fails, "anonymous", "admin.login_limited",
					NULL);
		est_audit_lockouts(s->est);
	}
	/* A last signed checkpoint, so an export made while the daemon is down verifies. */
	if (s->db != NULL && s->admin.audit_key != NULL &&
	    audit_checkpoint(s->db, s->admin.audit_key, s->admin.audit_cert, "server:shutdown", NULL,
			     &err) != 0)
		log_warn("server", "final audit checkpoint: %s", cairn_err_msg(&err));
	EVP_PKEY_free(s->admin.audit_key);
	admin_sessions_free(s->admin.sessions);
	s->admin.sessions = NULL;
	util_ratelimit_free(s->admin.fails);
	s->admin.fails = NULL;
	server_revocation_close(s);
	est_free(s->est);
	policy_engine_free(s->policy);
	server_audit_check_free(s); /* after the notify worker, the last to read it */
	ca_free(s->ca);
	db_close(s->db);
	hsm_close(s->hsm);
}

/* A CA made by `cairn init --external-root` has no issuing certificate until it is
 * imported: say what to do rather than fail on a missing file. */
static int awaiting_certificate(const cairn_config_t *cfg, cairn_err_t *err)
{
	char *issuing = config_path(cfg, cfg->issuing_cert), *csr = fs_join(cfg->dir, "ca/issuing.csr");
	int rc = 0;

	if (issuing == NULL || csr == NULL)
		rc = cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	else if (!fs_exists(issuing) && fs_exists(csr))
		rc = cairn_err_set(err, CAIRN_ECONFIG,
				   "%s awaits its issuing CA certificate: have the root sign %s, then "
				   "run `cairn ca import-cert CERT --chain ROOT --dir %s`", cfg->dir, csr,
				   cfg->dir);
	free(issuing);
	free(csr);
	return rc;
}

/* SOFTHSM2_CONF while the process has one thread (hsm_conf_export): the log writer, the
 * listeners and libfaketime's clock read the environment from the threads started later,
 * and setenv beside a getenv is undefined (it was the one change made so when two test
 * daemons died in getenv). */
static int export_softhsm_conf(const cairn_config_t *cfg, cairn_err_t *err)
{
	char *path;
	int rc;

	if (cfg->softhsm_conf[0] == '\0')
		return 0;
	if ((path = config_path(cfg, cfg->softhsm_conf)) == NULL)
		return cairn_err_set(err, CAIRN_ENOMEM, "out of memory");
	if ((rc = hsm_conf_export(path)) != 0)
		cairn_err_set(err, rc, "out of memory");
	free(path);
	return rc;
}

int server_run(const cairn_config_t *cfg, cairn_err_t *err)
{
	server_t s = { 0 };
	sigset_t sigs;
	char *serve_path = NULL, status[400];
	unsigned char cfg_digest[32] = { 0 };
	int lock_fd, sig = 0, rc;

	/* Block the signals before any thread starts, so only sigwait() sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* Large short-lived buffers (EST's scrypt takes 16 MiB per password check) go back to
	 * the system when freed, instead of staying cached in every worker thread's arena:
	 * a fixed threshold turns off glibc's dynamic one, which would grow past them. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	signal(SIGPIPE, SIG_IGN);

	if ((rc = awaiting_certificate(cfg, err)) != 0 || (rc = export_softhsm_conf(cfg, err)) != 0)
		return rc;
	lock_fd = server_lock_dir(cfg->dir, err);
	if (lock_fd < 0)
		return lock_fd;
	/* From here (every return goes through out, which stops it) a stderr nobody reads
	 * holds up the log's own thread only (util/log.c). */
	if (log_async_start() != 0)
		log_warn("server", "the log writer did not start: lines are written directly");
	s.cfg = cfg;
	s.started = time(NULL);
	/* What SIGHUP compares cairn.json with (cfg was read from it just before). */
	if (server_config_digest(cfg->dir, cfg_digest) != 0)
		log_warn("server", "cannot read %s/cairn.json to notice changes later", cfg->dir);
	pthread_mutex_init(&s.material_lock, NULL);
	pthread_mutex_init(&s.tls_lock, NULL);
	pthread_mutex_init(&s.metrics_lock, NULL);
	/* The listeners are bound first so AIA/CDP URLs know the real ports; the audit
	 * check's state is there before them (/healthz reads it). */
	rc = server_audit_check_open(&s, err);
	if (rc == 0)
		rc = server_renew_tls_recover(cfg, err);
	if (rc == 0)
		rc = http_start(&s, err);
	if (rc == 0)
		rc = open_core(&s, err);
	if (rc == 0) {
		atomic_store(&s.ready, 1);
		rc = write_serve_file(&s, err);
	}
	if (rc != 0)
		goto out;
	serve_path = fs_join(cfg->dir, "serve.json");
	log_info("server", "serving %s (ACME, EST, admin API) and %s (OCSP, CRL, CA certificates)",
		 s.https_url, s.http_url);
	/* Under systemd (Type=notify): ready once the listeners answer and serve.json is out. */
	snprintf(status, sizeof(status), "READY=1\nSTATUS=serving %s and %s", s.https_url,
		 s.http_url);
	if (server_sd_notify(status) != 0)
		log_warn("server", "NOTIFY_SOCKET is set but readiness could not be sent");
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			server_reload(&s, cfg_digest);
			continue;
		}
		break;
	}
	log_info("server", "signal %d: shutting down", sig);
	(void)server_sd_notify("STOPPING=1");
out:
	atomic_store(&s.ready, 0);
	server_renew_stop(&s); /* no renewal may swap the HTTPS credential from here on */
	acme_release(s.acme);   /* no challenge answer left parked when the listener stops */
	http_stop(&s);
	close_core(&s);
	if (serve_path != NULL)
		unlink(serve_path);
	free(serve_path);
	close(lock_fd);
	pthread_mutex_destroy(&s.material_lock);
	pthread_mutex_destroy(&s.tls_lock);
	pthread_mutex_destroy(&s.metrics_lock);
	free(s.expiring);
	log_async_stop(); /* the last lines out before the caller prints a failure */
	return rc;
}
