/* SPDX-License-Identifier: MIT */
/* The one config table: every key of cairn.json with its type, default, bounds and doc line. */
#include <stddef.h>

#include "config.h"
#include "ca/ca.h"
#include "hsm/hsm.h"
#include "server/internal.h"

#define Q(x) #x
#define QV(x) Q(x)
/* type, field, default */
#define F(t, field) t, offsetof(cairn_config_t, field)
#define NF(t) t, CFG_NO_FIELD
#define CFG_STR_(x) #x
#define CFG_NUM(x) CFG_STR_(x)
#define A(field) F(CFG_STR, acme_settings.field)

const cfg_key_t config_keys[] = {
	{ "listen", NF(CFG_OBJ), "", 0, 0, NULL, 0, "the listeners" },
	{ "listen.https", F(CFG_ADDR, listen_https), "127.0.0.1:8443", 0, 65535, NULL, CFG_INIT,
	  "HTTPS listener (ACME, EST, admin API), host:port or [v6]:port; port 0 = ephemeral" },
	{ "listen.http", F(CFG_ADDR, listen_http), "127.0.0.1:8080", 0, 65535, NULL, CFG_INIT,
	  "plain HTTP listener (OCSP, CRL, CA certificates)" },
	{ "public_urls", NF(CFG_OBJ), "", 0, 0, NULL, 0, "the URLs clients see" },
	{ "public_urls.https", F(CFG_URL, public_https), "", 0, 0, NULL,
	  CFG_INIT | CFG_EMPTY | CFG_BASE | CFG_HTTPS,
	  "base URL clients use for HTTPS (https://host:port; no user@, ?query, #fragment or "
	  "trailing /); empty = follows the listener" },
	{ "public_urls.http", F(CFG_URL, public_http), "", 0, 0, NULL,
	  CFG_INIT | CFG_EMPTY | CFG_BASE,
	  "base URL put into AIA/CDP (http://host:port; no user@, ?query, #fragment or "
	  "trailing /); empty = follows the listener" },
	{ "token", NF(CFG_OBJ), "", 0, 0, NULL, 0, "the PKCS#11 token holding the CA keys" },
	{ "token.module", F(CFG_STR, token_module), CAIRN_DEFAULT_MODULE, 0, 0, NULL, CFG_INIT,
	  "PKCS#11 module" },
	{ "token.label", F(CFG_STR, token_label), "cairn", 0, 0, NULL, CFG_INIT, "token label" },
	{ "token.pin_file", F(CFG_STR, pin_file), "token.pin", 0, 0, NULL, CFG_INIT,
	  "file holding the user PIN" },
	{ "token.pin_env", F(CFG_STR, pin_env), "", 0, 0, NULL, 0,
	  "environment variable holding the PIN (wins over pin_file when set)" },
	{ "token.softhsm_conf", F(CFG_STR, softhsm_conf), "", 0, 0, NULL, 0,
	  "SoftHSM2 config (the embedded token; `cairn init` writes softhsm2.conf); empty for "
	  "another module" },
	{ "token.timeout", F(CFG_INT, token_timeout), "-1", -1, 600, NULL, 0,
	  "seconds a token call (the login at start, a signature, a key generation or lookup) "
	  "is waited for; then what asked for it is refused (503; a start fails) while "
	  "the call stays with the token (a network HSM whose link died answers nothing). "
	  "While a call has been in the token this long with none back since, calls are "
	  "refused at once, but one per period that sees whether the token is back. 0: no "
	  "bound, the thread that asks makes the token calls itself (no thread hand-off per "
	  "signature; a token that hangs holds it). -1: " CFG_NUM(HSM_TIMEOUT_S) ", or 0 when "
	  "the module's file name holds \"softhsm\" (SoftHSM2 runs in the daemon's own "
	  "process: no link to lose)" },
	{ "ca", NF(CFG_OBJ), "", 0, 0, NULL, 0, "the CA hierarchy" },
	{ "ca.root_cert", F(CFG_STR, root_cert), "ca/root.pem", 0, 0, NULL, CFG_INIT,
	  "root CA certificate" },
	{ "ca.issuing_cert", F(CFG_STR, issuing_cert), "ca/issuing.pem", 0, 0, NULL, CFG_INIT,
	  "issuing CA certificate" },
	{ "ca.ocsp_cert", F(CFG_STR, ocsp_cert), "ca/ocsp.pem", 0, 0, NULL, CFG_INIT,
	  "delegated OCSP signer certificate; the daemon rewrites it with the signer in use "
	  "after each renewal" },
	{ "ca.issuing_key", F(CFG_STR, issuing_key), "issuing", 0, 0, NULL, CFG_INIT,
	  "token label of the issuing key" },
	{ "ca.ocsp_key", F(CFG_STR, ocsp_key), "ocsp", 0, 0, NULL, CFG_INIT,
	  "token label of the OCSP signer key init made; once a signer was renewed, the "
	  "database names the signer in use (key label and certificate)" },
	{ "tls", NF(CFG_OBJ), "", 0, 0, NULL, 0, "the daemon's own HTTPS certificate" },
	{ "tls.cert", F(CFG_STR, tls_cert), "tls/server.pem", 0, 0, NULL, CFG_INIT,
	  "daemon HTTPS certificate chain" },
	{ "tls.key", F(CFG_STR, tls_key), "tls/server.key", 0, 0, NULL, CFG_INIT,
	  "daemon HTTPS private key" },
	{ "tls.validity_days", F(CFG_INT, tls_days), CFG_NUM(CA_HTTPS_DAYS), 1, 825, NULL, 0,
	  "lifetime of the HTTPS certificate the daemon issues itself when it renews it "
	  "(at two thirds of the current one's lifetime, same names, new key)" },
	{ "log_level", F(CFG_STR, log_level), "info", 0, 0, "debug|info|warn|error", 0,
	  "debug, info, warn or error" },
	{ "server", NF(CFG_OBJ), "", 0, 0, NULL, 0, "HTTP limits and TLS" },
	{ "server.threads", F(CFG_INT, threads), "4", 1, 256, NULL, CFG_INIT,
	  "HTTPS worker threads (ACME, EST, admin: requests that wait on commits and the token)" },
	{ "server.http_threads", F(CFG_INT, http_threads), "0", 0, 256, NULL, 0,
	  "plain HTTP worker threads (OCSP, CRL, CA certificates); 0: one per CPU the daemon "
	  "may run on (more workers than CPUs time-slice and raise the OCSP p99)" },
	{ "server.max_body", F(CFG_INT, max_body), "65536", 1024, 16777216, NULL, CFG_INIT,
	  "largest request body (bytes)" },
	{ "server.max_connections", F(CFG_INT, max_connections), "1024", 16, 65536, NULL, 0,
	  "concurrent connections per listener; fewer when the file descriptor limit cannot "
	  "hold them beside the daemon's own work (the start-up log says so)" },
	{ "server.max_connections_per_ip", F(CFG_INT, max_connections_per_ip), "64", 1, 65536,
	  NULL, 0, "concurrent connections from one client address, per listener" },
	{ "server.max_header_bytes", F(CFG_INT, max_header_bytes), "32768", 4096, 1048576, NULL, 0,
	  "memory per connection for the request line, headers and read buffer; "
	  "larger headers get 431" },
	{ "server.http_max_header_bytes", F(CFG_INT, http_max_header_bytes), "16384", 4096,
	  1048576, NULL, 0,
	  "the same for the plain HTTP listener (OCSP, CRL): small, because libmicrohttpd "
	  "zeroes a connection's whole pool between keep-alive requests" },
	{ "server.connection_timeout", F(CFG_INT, connection_timeout), "30", 1, 3600, NULL, 0,
	  "seconds a connection may stay idle (slow clients are dropped)" },
	{ "server.max_json_depth", F(CFG_INT, max_json_depth), "32", 2, 1000, NULL, 0,
	  "deepest nesting of arrays/objects accepted in JSON request bodies" },
	{ "server.disk_min_free_mb", F(CFG_INT, disk_min_free_mb), "256", 0, 16777216, NULL, 0,
	  "MiB: /healthz says degraded (disk low) while the disk holding the database has less "
	  "free space than this, and notify sends an alert; 0 = not watched" },
	{ "server.tls_min_version", F(CFG_STR, tls_min_version), "1.2", 0, 0, "1.2|1.3", 0,
	  "oldest TLS version the HTTPS listener accepts: 1.2 or 1.3 (1.0 and 1.1 never)" },
	{ "server.tls_priorities", F(CFG_STR, tls_priorities), CONFIG_TLS_PRIORITIES, 0, 0, NULL, 0,
	  "GnuTLS priority string for the HTTPS listener's ciphers, key exchanges and signature "
	  "algorithms (the default: forward-secret AEAD suites only); no VERS- items, the "
	  "versions come from server.tls_min_version" },
	{ "policy_file", F(CFG_STR, policy_file), "policy.json", 0, 0, NULL, CFG_INIT,
	  "approval policy rules (see docs/policy.md); reloaded on SIGHUP" },
	{ "requests", NF(CFG_OBJ), "", 0, 0, NULL, 0, "pending requests" },
	{ "requests.pending_ttl", F(CFG_DUR, pending_ttl), "7d", 1, 3650L * 86400, NULL, CFG_INIT,
	  "how long a request waiting for approvals stays open (30d, 12h, ...)" },
	{ "audit", NF(CFG_OBJ), "", 0, 0, NULL, 0, "the audit log" },
	{ "audit.checkpoint_interval", F(CFG_DUR, checkpoint_interval), "1h", 60, 400L * 86400,
	  NULL, 0, "how often the daemon signs the audit chain head (also at shutdown and on demand)" },
	{ "ui", NF(CFG_OBJ), "", 0, 0, NULL, 0, "the web console at /ui/" },
	{ "ui.session_lifetime", F(CFG_DUR, ui_session_lifetime), "8h", 60, 7L * 86400, NULL, 0,
	  "how long a console sign-in lasts (sessions are kept in memory: a restart ends them)" },

	{ "profiles", F(CFG_MAP, profiles), NULL, 1, CA_MAX_PROFILES, NULL, 0,
	  "certificate profiles by name ([a-z0-9_-]{1,63})" },
	{ "profiles.*", NF(CFG_OBJ), NULL, 0, 0, NULL, 0, "one profile" },
	{ "profiles.*.validity_days", NF(CFG_INT), NULL, 1, CA_PROFILE_MAX_VALIDITY, NULL, 0,
	  "longest validity of a certificate of this profile, days" },
	{ "profiles.*.key_usage", NF(CFG_LIST), NULL, 0, 16, NULL, 0,
	  "key usages (digitalSignature, keyEncipherment, keyAgreement, nonRepudiation, ...; "
	  "keyCertSign and cRLSign refused)" },
	{ "profiles.*.ext_key_usage", NF(CFG_LIST), "", 0, 16, NULL, 0,
	  "extended key usages (serverAuth, clientAuth, codeSigning, emailProtection, "
	  "timeStamping, OCSPSigning, documentSigning) or dotted OIDs" },
	{ "profiles.*.san_types", NF(CFG_LIST), "", 0, 4, NULL, 0,
	  "subject alternative name types allowed: dns, ip, email, uri" },
	{ "profiles.*.require_san", NF(CFG_BOOL), "false", 0, 0, NULL, 0,
	  "true refuses requests without a subject alternative name" },
	{ "profiles.*.min_rsa_bits", NF(CFG_INT), QV(CA_PROFILE_MIN_RSA), CA_PROFILE_MIN_RSA,
	  CA_PROFILE_MAX_RSA, NULL, 0, "smallest RSA key accepted" },
	{ "profiles.*.must_staple", NF(CFG_STR), "request", 0, 0, "request|always|never", 0,
	  "OCSP Must-Staple (RFC 7633): certified when the CSR asks for it, in every "
	  "certificate, or never (a CSR asking for it is refused)" },

	{ "acme", F(CFG_OBJ, acme), "", 0, 0, NULL, 0, "the ACME server" },
	{ "acme.profile", A(profile), ACME_DEFAULT_PROFILE, 0, 63, NULL, 0,
	  "certificate profile of ACME orders (not admin)" },
	{ "acme.terms_of_service", F(CFG_URL, acme_settings.terms_of_service), "", 0, 255, NULL,
	  CFG_EMPTY, "termsOfService URL in the directory's meta" },
	{ "acme.website", F(CFG_URL, acme_settings.website), "", 0, 255, NULL, CFG_EMPTY,
	  "website URL in the directory's meta" },
	{ "acme.caa_identities", F(CFG_LIST, acme_settings.caa_identities), "", 0, 32, NULL, 0,
	  "CAA issuer domain names of this CA; empty = no CAA check" },
	{ "acme.external_account_required", F(CFG_BOOL, acme_settings.external_account_required),
	  "false", 0, 0, NULL, 0, "true: new accounts need an EAB key (`cairn acme eab`)" },
	{ "acme.authz_reuse_seconds", F(CFG_INT, acme_settings.authz_reuse_seconds),
	  QV(ACME_DEFAULT_AUTHZ_REUSE), 0, 400L * 86400, NULL, 0,
	  "a valid authorization is reused for new orders while its validation is at most "
	  "this many seconds old; 0 = never" },
	{ "acme.order_lifetime_seconds", F(CFG_INT, acme_settings.order_lifetime_seconds),
	  QV(ACME_DEFAULT_ORDER_LIFETIME), 60, 30L * 86400, NULL, 0,
	  "seconds until an unfinished order expires" },
	{ "acme.renewal_window_percent", F(CFG_INT, acme_settings.renewal_window_percent),
	  QV(ACME_DEFAULT_RENEWAL_PERCENT), 1, 99, NULL, 0,
	  "ARI: renewal window starts after this percent of the lifetime" },
	{ "acme.validation_workers", F(CFG_INT, acme_settings.validation_workers),
	  QV(ACME_DEFAULT_WORKERS), 1, 64, NULL, 0, "challenge validation threads" },
	{ "acme.retention_days", F(CFG_INT, acme_settings.retention_days),
	  QV(ACME_DEFAULT_RETENTION_DAYS), 0, 3650, NULL, 0,
	  "days an expired order is kept (at least order_lifetime_seconds), then deleted with "
	  "its authorizations (swept at start and hourly); its certificate stays downloadable "
	  "and revocable by the account; an order waiting for approvers is kept; 0 = kept for "
	  "ever" },
	{ "acme.rate_limits", NF(CFG_OBJ), "", 0, 0, NULL, 0, "per-account limits; 0 = none" },
	{ "acme.rate_limits.orders_per_hour", F(CFG_INT, acme_settings.orders_per_hour), "0", 0,
	  1000000, NULL, 0,
	  "new orders per account and hour (counted from the stored orders: a restart keeps the "
	  "count)" },
	{ "acme.rate_limits.pending_authorizations",
	  F(CFG_INT, acme_settings.pending_authorizations), "0", 0, 1000000, NULL, 0,
	  "pending authorizations per account" },
	{ "acme.rate_limits.accounts_per_address_per_hour",
	  F(CFG_INT, acme_settings.accounts_per_address_per_hour), "100", 0, 1000000, NULL, 0,
	  "new accounts per client address (IPv6: per /64) and hour, kept in memory (a restart "
	  "starts afresh); over it newAccount answers 429 with Retry-After" },
	{ "acme.rate_limits.failed_validations_per_hour",
	  F(CFG_INT, acme_settings.failed_validations_per_hour), "0", 0, 1000000, NULL, 0,
	  "failed validations per account and name and hour (counted per account: one "
	  "account's failures never hold back another's; kept in the database: a restart keeps "
	  "the count)" },
	{ "acme.validation", NF(CFG_OBJ), "", 0, 0, NULL, 0, "where challenges are validated" },
	{ "acme.validation.dns_server", F(CFG_ADDR, acme_settings.dns_server), "", 1, 65535, NULL,
	  CFG_INIT | CFG_EMPTY, "DNS server host:port for dns-01 and CAA; empty = system resolver" },
	{ "acme.validation.http01_port", F(CFG_INT, acme_settings.http01_port),
	  QV(ACME_DEFAULT_HTTP01_PORT), 1, 65535, NULL, CFG_INIT, "port http-01 connects to" },
	{ "acme.validation.tlsalpn01_port", F(CFG_INT, acme_settings.tlsalpn01_port),
	  QV(ACME_DEFAULT_TLSALPN01_PORT), 1, 65535, NULL, CFG_INIT,
	  "port tls-alpn-01 connects to" },
	{ "acme.validation.timeout_ms", F(CFG_INT, acme_settings.timeout_ms),
	  QV(ACME_DEFAULT_TIMEOUT_MS), 100, 60000, NULL, 0, "time allowed for one validation" },
	{ "acme.validation.answer_wait_ms", F(CFG_INT, acme_settings.answer_wait_ms),
	  QV(ACME_DEFAULT_ANSWER_WAIT_MS), 0, 1000, NULL, 0,
	  "how long a challenge answer waits for its validation before answering processing "
	  "(parked: no HTTPS worker held; 0 = never waits)" },
	{ "acme.validation.hosts", F(CFG_MAP, acme_settings.hosts), "", 0, ACME_MAX_HOSTS, NULL,
	  CFG_INIT, "name -> address overrides for validation (tests)" },
	{ "acme.validation.hosts.*", NF(CFG_IP), NULL, 0, 0, NULL, 0, "IPv4 or IPv6 address" },

	{ "ocsp", NF(CFG_OBJ), "", 0, 0, NULL, 0, "the OCSP responder" },
	{ "ocsp.signer", F(CFG_STR, ocsp_signer), "delegated", 0, 0, "delegated|ca", 0,
	  "who signs OCSP answers for the issuing CA: delegated (ca.ocsp_key) or ca (the CA key)" },
	{ "ocsp.validity", F(CFG_INT, ocsp_validity), "345600", 300, 2592000, NULL, 0,
	  "seconds from thisUpdate to nextUpdate; cached answers are re-signed at half-life" },
	{ "ocsp.signer_validity_days", F(CFG_INT, ocsp_signer_days), CFG_NUM(CA_OCSP_SIGNER_DAYS),
	  1, 3650, NULL, 0,
	  "lifetime of a delegated OCSP signer the daemon renews (new key in the token, at two "
	  "thirds of the current one's lifetime); at least twice ocsp.validity" },
	{ "ocsp.publish", F(CFG_STR, ocsp_publish), "", 0, 4096, NULL, 0,
	  "directory of the published tree (docs/scaling.md): every current pre-signed answer "
	  "written as ocsp/BASE64 (its RFC 5019 GET path) and ocsp/sha256/HH/HEX (SHA-256 of "
	  "the request), for a web server or CDN (docs/nginx-publish.conf); empty = off" },
	{ "ocsp.publish_delay", F(CFG_INT, ocsp_publish_delay), "1", 0, 3600, NULL, 0,
	  "seconds changes (issuance, revocation, re-signing) are gathered before they are "
	  "written to ocsp.publish" },
	{ "crl", NF(CFG_OBJ), "", 0, 0, NULL, 0, "CRLs" },
	{ "crl.publish_dir", F(CFG_STR, crl_publish_dir), "crl", 0, 0, NULL, 0,
	  "directory the CRLs are written to atomically (NAME.crl) for a web server or CDN" },
	{ "crl.publish", F(CFG_STR, crl_publish), "", 0, 4096, NULL, 0,
	  "directory of the published tree (usually ocsp.publish's): each CRL also written as "
	  "crl/NAME.crl and each CA certificate as ca/NAME.crt; empty = off" },
	{ "crl.period", F(CFG_INT, crl_period), "86400", 60, 2592000, NULL, 0,
	  "seconds between scheduled CRL rebuilds" },
	{ "crl.overlap", F(CFG_INT, crl_overlap), "86400", 0, 2592000, NULL, 0,
	  "extra seconds of CRL validity: nextUpdate = thisUpdate + period + overlap" },
	{ "crl.debounce", F(CFG_INT, crl_debounce), "2", 0, 3600, NULL, 0,
	  "seconds to gather revocations before the CRL is rebuilt" },
	{ "crl.delta_period", F(CFG_INT, crl_delta_period), "0", 0, 2592000, NULL, 0,
	  "0: no delta CRLs; else seconds between delta CRLs (NAME-delta.crl, also after "
	  "revocations)" },
	{ "crl.keep_expired", F(CFG_INT, crl_keep_expired), "0", 0, 1, NULL, 0,
	  "1 keeps revoked certificates on the CRL after they expire; 0 drops them once "
	  "one CRL built after the expiry has listed them (RFC 5280 3.3)" },
	{ "crl.shards", F(CFG_INT, crl_shards), "0", 0, 255, NULL, 0,
	  "0 or 1: one CRL per issuer; K: new certificates name one of K shard CRLs "
	  "(/crl/NAME/S.crl, each with a critical Issuing Distribution Point), the full CRL "
	  "stays; lowering K later keeps serving the largest K used (issued certificates name "
	  "those shards)" },

	{ "notify", F(CFG_SUB, notify), "", 0, 0, NULL, 0,
	  "events and their sinks, checked whole by notify/: expiry_days, webhooks (name, url, "
	  "secret_file, events, max_tries, match), smtp (url, from, user, password_file, "
	  "starttls, ca_file, digest), email (name, to, to_owner, to_approvers, mode, events, "
	  "max_tries, match), match (dns_suffix, profile, issuer), max_tries, backoff_ms, "
	  "backoff_max_ms, scan_interval, poll_ms, timeout_ms, dead_letters_max (see "
	  "docs/notify.md)" },
	{ "discover", NF(CFG_OBJ), "", 0, 0, NULL, 0, "TLS discovery scans (`cairn discover`)" },
	{ "discover.allowed", NF(CFG_LIST), "", 0, 64, NULL, 0,
	  "address ranges (CIDR, e.g. 10.0.0.0/24) scans may connect to; a target outside "
	  "them is refused before any connection; empty = loopback only (127.0.0.0/8, ::1)" },
	{ "discover.schedules", NF(CFG_MAP), "", 0, 16, NULL, 0,
	  "scans the daemon runs by itself, by name: at start-up, then every interval; "
	  "findings recorded in the inventory by server:discover" },
	{ "discover.schedules.*", NF(CFG_OBJ), NULL, 0, 0, NULL, 0, "one schedule" },
	{ "discover.schedules.*.targets", NF(CFG_STR), NULL, 0, 4096, NULL, 0,
	  "addresses, CIDR ranges, host:port, comma-separated; each inside discover.allowed "
	  "(checked at start-up)" },
	{ "discover.schedules.*.ports", NF(CFG_STR), "443", 0, 512, NULL, 0,
	  "ports for targets without one, comma-separated" },
	{ "discover.schedules.*.interval", NF(CFG_DUR), "1d", 60, 31536000, NULL, 0,
	  "time between two scans" },
	{ "discover.schedules.*.timeout_ms", NF(CFG_INT), "3000", 10, 60000, NULL, 0,
	  "connect and TLS handshake timeout, each" },
	{ "discover.schedules.*.parallel", NF(CFG_INT), "32", 1, 256, NULL, 0,
	  "connections at once" },
	{ "discover.schedules.*.rate", NF(CFG_INT), "200", 0, 1000, NULL, 0,
	  "new connections per second (0 = unbounded)" },
	{ "replace", NF(CFG_OBJ), "", 0, 0, NULL, 0,
	  "mass replacement campaigns (`cairn replace`)" },
	{ "replace.interval", NF(CFG_DUR), "5m", 1, 86400, NULL, 0,
	  "time between two rounds over unfinished campaigns: revoke what has a successor, "
	  "and after revoke_after what has none" },
	{ "est", F(CFG_OBJ, est), "", 0, 0, NULL, 0,
	  "EST; absent = one label \"default\" (tls-client, 365 days)" },
	{ "est.labels", NF(CFG_MAP), "", 0, EST_MAX_LABELS, NULL, 0,
	  "labels by name ([a-z0-9_-]{1,63}, not an EST operation): /.well-known/est/LABEL/" },
	{ "est.labels.*", NF(CFG_OBJ), NULL, 0, 0, NULL, 0, "one label" },
	{ "est.labels.*.profile", NF(CFG_STR), NULL, 0, 63, NULL, 0,
	  "certificate profile issued under this label (not admin)" },
	{ "est.labels.*.validity_days", NF(CFG_INT), "0", 0, 3650, NULL, 0,
	  "validity in days; 0 = the profile's" },
	{ "est.labels.*.serverkeygen", NF(CFG_BOOL), "false", 0, 0, NULL, 0,
	  "true allows /serverkeygen (the key is made by the daemon)" },
	{ "est.labels.*.policy_group", NF(CFG_STR), "", 0, 63, NULL, 0,
	  "policy group the label's requests are decided under: 1..63 of [A-Za-z0-9_.-], as "
	  "EAB keys and policy rules hold it" },
	{ "est.labels.*.client_cert_profiles", NF(CFG_LIST), "", 0, EST_MAX_CERT_PROFILES, NULL, 0,
	  "profiles whose certificates from outside EST may authenticate (re-)enrollment under "
	  "this label" },
	{ "est.default_label", NF(CFG_STR), "default", 0, 63, NULL, 0,
	  "the label of /.well-known/est/OP (must be in est.labels)" },
	{ "est.channel_binding", NF(CFG_STR), "off", 0, 0, "off|tls-unique|tls-exporter", 0,
	  "require the TLS channel binding in the CSR's challengePassword" },
	{ "est.revoke_superseded", NF(CFG_BOOL), "false", 0, 0, NULL, 0,
	  "true revokes the old certificate on re-enrollment" },
	{ "est.retry_after", NF(CFG_INT), QV(EST_DEFAULT_RETRY_AFTER), 1, 86400, NULL, 0,
	  "seconds a client is told to wait on a pending request" },
	{ "est.auth_fail_limit", NF(CFG_INT), QV(EST_AUTH_FAIL_LIMIT), 1, 1000, NULL, 0,
	  "failed Basic logins (or requests without credentials) from one address per window "
	  "before it is refused" },
	{ "est.auth_fail_window", NF(CFG_INT), QV(EST_AUTH_FAIL_WINDOW), 1, 86400, NULL, 0,
	  "seconds of that window" },
	{ "est.auth_cache_seconds", NF(CFG_INT), QV(EST_AUTH_CACHE_SECONDS), 0, 3600, NULL, 0,
	  "seconds a verified Basic login is kept in memory (keyed by an HMAC, never the "
	  "password; an account deleted or given a new password is refused at once); 0 = off" },
	{ "est.auth_cache_entries", NF(CFG_INT), QV(EST_AUTH_CACHE_ENTRIES), 0, 65536, NULL, 0,
	  "most Basic logins kept in memory; 0 = off" },
	{ "est.scrypt_n", NF(CFG_INT), QV(EST_SCRYPT_N), 1024, 1048576, NULL, 0,
	  "scrypt N (a power of two) of passwords set from now on; existing accounts keep "
	  "theirs; scrypt's 128 * r * (N + p + 2) bytes at most 64 MiB, N < 65536 if r = 1" },
	{ "est.scrypt_r", NF(CFG_INT), QV(EST_SCRYPT_R), 1, 32, NULL, 0,
	  "scrypt r of passwords set from now on" },
	{ "est.scrypt_p", NF(CFG_INT), QV(EST_SCRYPT_P), 1, 16, NULL, 0,
	  "scrypt p of passwords set from now on" },
};

const size_t config_n_keys = sizeof(config_keys) / sizeof(config_keys[0]);
