/* SPDX-License-Identifier: MIT */
/* `cairn`: the command table, dispatch, help and the shared failure helpers. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lmdb.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "config.h"
#include "cli/cli.h"
#include "util/util.h"

#define CLI_CONN_HELP                                                                        \
	"  --dir DIR                         CA host: URL, CA bundle and admin.token from DIR\n"  \
	"  --url URL --cacert FILE           a remote daemon\n"                                    \
	"  --token-file FILE                 act as another admin (also $CAIRN_TOKEN)\n"

static const cli_command_t commands[] = {
	{ "init", cli_init, "init --dir DIR [options]",
	  "  --dir DIR              data directory to create (0700)\n"
	  "  --listen-https ADDR    HTTPS listener (default 127.0.0.1:8443)\n"
	  "  --listen-http ADDR     HTTP listener (default 127.0.0.1:8080)\n"
	  "  --public-https URL     public HTTPS base URL (default: follows the listener)\n"
	  "  --public-http URL      public HTTP base URL for AIA/CDP (default: follows the listener;\n"
	  "                         needed when --listen-http is on port 0 or every address)\n"
	  "  --org NAME             organisation in CA names (default \"cairn\")\n"
	  "  --root-cn CN           root CA common name (default \"<org> Root CA\")\n"
	  "  --issuing-cn CN        issuing CA common name (default \"<org> Issuing CA\")\n"
	  "  --root-key TYPE        p384 | p256 | rsa3072 (default p384)\n"
	  "  --issuing-key TYPE     p256 | p384 | rsa3072 (default p256)\n"
	  "  --root-days N          root validity (default 3650)\n"
	  "  --issuing-days N       issuing CA validity (default 1825)\n"
	  "  --external-root        no root here: the issuing key in the token and a CSR\n"
	  "                         for it in DIR/ca/issuing.csr for an outside root to\n"
	  "                         sign; then `cairn ca import-cert` (docs/operations.md)\n"
	  "  --module PATH          PKCS#11 module of an existing token (default: embedded SoftHSM2)\n"
	  "  --token-label LABEL    token label (default \"cairn\")\n"
	  "  --pin-file FILE        PIN of an existing token (with --module)\n" },
	{ "serve", cli_serve, "serve --dir DIR [--role issuer|responder] [--listen ADDR:PORT]",
	  "  --dir DIR              data directory made by `cairn init`\n"
	  "  --role R               issuer (default): the one daemon of DIR, token and all;\n"
	  "                         responder: OCSP, CRLs and CA certificates only, read-only\n"
	  "                         beside the issuer (no token, no lock; several may run)\n"
	  "  --listen ADDR:PORT     the responder's HTTP listener (default listen.http)\n" },
	{ "issue", cli_issue, "issue --dir DIR --csr FILE --profile NAME [--out FILE]",
	  "  --dir DIR              data directory of the running daemon\n"
	  "  --csr FILE             PKCS#10 request, PEM or DER\n"
	  "  --profile NAME         tls-server | tls-client | code-signing | document-signing | ...\n"
	  "  --validity-days N      shorter validity than the profile's (1..3650 days)\n"
	  "  --out FILE             write the certificate chain here (default: stdout)\n"
	  "  exit 3: the policy wants approvals; the request id is printed\n"
	  "  (`cairn requests show ID`)\n" },
	{ "revoke", cli_revoke,
	  "revoke --dir DIR (SERIAL [--confirm-issuing-ca] | --file FILE | --issued-by-key "
	  "SPKI-SHA256) --reason R",
	  "  --dir DIR              data directory of the running daemon\n"
	  "  --reason R             unspecified | keyCompromise | cACompromise | affiliationChanged |\n"
	  "                         superseded | cessationOfOperation | certificateHold |\n"
	  "                         removeFromCRL (releases a hold) | privilegeWithdrawn |\n"
	  "                         aACompromise\n"
	  "  --invalidity-date T    when the key is known or suspected compromised (RFC 3339;\n"
	  "                         not later than now)\n"
	  "  --file FILE            revoke every serial listed in FILE (one hex serial a line)\n"
	  "  --issued-by-key HEX    revoke every valid certificate whose SubjectPublicKeyInfo\n"
	  "                         has this SHA-256 (openssl pkey -pubout -outform DER | sha256sum)\n"
	  "  --confirm-issuing-ca   SERIAL is a retired issuing CA: revoke it although every\n"
	  "                         certificate it issued then fails validation\n" },
	{ "show", cli_show, "show --dir DIR SERIAL",
	  "  --dir DIR              data directory\n"
	  "  SERIAL                 hex, any case; \"0x\" and colons (aa:bb:...) allowed\n"
	  "  --pem                  print only the certificate PEM\n"
	  "  --json                 the record as one JSON object (docs/cli.md)\n" },
	{ "list", cli_list, "list --dir DIR [--expiring-within 30d] [--name NAME] [--requester R]",
	  "  --dir DIR              data directory\n"
	  "  --expiring-within D    only certificates expiring within D (1y, 12w, 90d, 36h, 30m)\n"
	  "  --name NAME            only certificates for NAME (.suffix matches a domain)\n"
	  "  --requester R          only certificates requested by R (admin:NAME, acme:acct/N,\n"
	  "                         est:USER, ...); the filters combine\n"
	  "  --json                 {\"items\", \"total\", \"next\"} (docs/cli.md)\n"
	  "  --limit N --after CUR  with --json: N items (1..1000) after cursor CUR (a \"next\")\n"
	  "  --count                with --json: an exact total (walks every match; else null\n"
	  "                         when more than one page matches a filter)\n" },
	{ "audit", cli_audit, "audit verify|export|checkpoint --dir DIR [options]",
	  "  verify --dir DIR                  check the whole hash chain\n"
	  "  verify --export FILE --ca ROOT.pem\n"
	  "                                    check a JSONL export offline: its signed head line\n"
	  "                                    (nothing cut off), the chain; names the line at fault\n"
	  "  export --dir DIR --format jsonl|csv [--since T] [--until T] [--out FILE]\n"
	  "                                    T: RFC 3339 time or YYYY-MM-DD. jsonl: through the\n"
	  "                                    daemon, which signs the head line in the token;\n"
	  "                                    csv: a plain-value report (not verifiable)\n"
	  "  export --dir DIR --unsigned       jsonl without the daemon; verify refuses it\n"
	  "  export --json                     the same as --format jsonl (JSON lines)\n"
	  "  checkpoint --dir DIR              have the daemon sign the chain head now\n" },
	{ "requests", cli_requests, "requests list|show|approve|reject [ID] --dir DIR [options]",
	  "  list [--status S] [--json] [--limit N] [--after CUR]\n"
	  "                                    S: pending (default), issued, rejected, expired,\n"
	  "                                    failed, all\n"
	  "  show ID                           one request with its approvals (JSON)\n"
	  "  approve ID [--comment TEXT]       one approval; the last needed one issues\n"
	  "  reject ID [--comment TEXT]        ends the request\n"
	  CLI_CONN_HELP },
	{ "admin", cli_admin, "admin add|list|disable --dir DIR [options]",
	  "  add --name NAME --role ROLE       ROLE: admin, approver, operator, auditor\n"
	  "  list [--json]                     admins with role and state\n"
	  "  disable NAME                      its tokens and certificates stop working\n"
	  CLI_CONN_HELP },
	{ "token", cli_token, "token create|list|revoke --dir DIR [options]",
	  "  create --name NAME --role ROLE [--expires-in 30d]\n"
	  "                                    prints the new token once (the admin is added\n"
	  "                                    when absent)\n"
	  "  list [--json]                     tokens (ids, never secrets) and their expiry\n"
	  "  revoke ID                         stops the token at once\n"
	  CLI_CONN_HELP },
	{ "policy", cli_policy, "policy test|check|show|reload [options]",
	  "  test --dir DIR --csr FILE --channel acme|est|admin [--requester X] [--group G]\n"
	  "       [--profile P] [--validity-days N] [--file POLICY] [--json]\n"
	  "                                    which rule decides, and why the others did not\n"
	  "  check [FILE | --dir DIR]          validate a policy file\n"
	  "  show --dir DIR [--json]           the policy the daemon enforces\n"
	  "  reload --dir DIR                  re-read the file (a bad one is refused)\n" },
	{ "est", cli_est, "est user add|del|list --dir DIR [options]",
	  "  user add --dir DIR --name NAME --password-file FILE [--labels L1,L2]\n"
	  "                         add an EST enrollment account (HTTP Basic); the daemon keeps\n"
	  "                         only a salted scrypt hash of the password. The account may\n"
	  "                         enroll on the labels given (without --labels: the default\n"
	  "                         label only)\n"
	  "  user del --dir DIR --name NAME   remove an account\n"
	  "  user list --dir DIR [--json]     list the accounts and their labels\n" },
	{ "acme", cli_acme, "acme eab create|list|revoke | acme account show|revoke --dir DIR [options]",
	  "  eab create [--group G] [--profile P] [--expires-in 7d]\n"
	  "                         new External Account Binding key id and HMAC key (shown once),\n"
	  "                         binding the account to policy group G and certificate\n"
	  "                         profile P; unused, the key stops working after --expires-in\n"
	  "                         (default 7d, at most 10y)\n"
	  "  eab list [--json]      every key: state (unused, bound, expired, revoked), group,\n"
	  "                         profile, expiry and the account it bound; never the HMAC key\n"
	  "  eab revoke KID         the key binds no account from now on; the account it bound\n"
	  "                         is revoked with it (its requests get 401)\n"
	  "  account show ID [--json]\n"
	  "                         an ACME account (ID as in its certificates' requester\n"
	  "                         acme:acct/ID): status, contacts, key thumbprint, EAB key\n"
	  "  account revoke ID      the account's requests are refused from now on (a leaked\n"
	  "                         account key); its certificates stay valid\n"
	  "  An id made before 8 Dec 2026 may begin with '-': give it after --\n"
	  CLI_CONN_HELP },
	{ "backup", cli_backup, "backup --dir DIR --out FILE",
	  "  --dir DIR              data directory (the daemon may run: a hot copy)\n"
	  "  --out FILE             the archive to write (tar.xz, mode 0600; must not exist)\n"
	  "  The archive holds the database (LMDB's compacted copy), the SoftHSM2 token with its\n"
	  "  PIN files, cairn.json, the policy, the certificates and every other file of DIR, with\n"
	  "  a SHA-256 manifest: the CA's private keys. Audited as event ca.backup.\n" },
	{ "restore", cli_restore, "restore --from FILE --dir NEWDIR [--keep-paths]",
	  "  --from FILE            an archive made by `cairn backup`\n"
	  "  --dir NEWDIR           a new or empty directory to restore into (0700)\n"
	  "  --keep-paths           keep ocsp.publish, crl.publish and crl.publish_dir that lead\n"
	  "                         out of NEWDIR (else they are cleared, each named)\n"
	  "  Every member is checked against the manifest first; a damaged or altered archive is\n"
	  "  refused and NEWDIR left as it was. Paths that named the old directory are moved to\n"
	  "  NEWDIR. Audited in the restored CA as event ca.restore.\n" },
	{ "notify", cli_notify, "notify list|retry|test --dir DIR [options]",
	  "  list [--json]                     webhook sinks: cursor, backlog, delivered/failed,\n"
	  "                                    last error, and the dead-lettered events (in\n"
	  "                                    --json: each sink's own, as \"dead\")\n"
	  "  retry [SINK [ID]]                 deliver dead-lettered events again (all of them,\n"
	  "                                    a sink's, or one)\n"
	  "  test SINK                         queue a notify.test event for SINK\n"
	  CLI_CONN_HELP },
	{ "ca", cli_ca, "ca renew --ocsp-signer | --https | ca rotate | ca cross-sign PREFIX --dir DIR\n"
	  "       cairn ca import-cert FILE --chain ROOT --dir DIR",
	  "  import-cert FILE --chain ROOT     install the issuing CA certificate an outside root\n"
	  "                                    signed (after `init --external-root`; offline,\n"
	  "                                    before the first `serve`)\n"
	  "  renew --ocsp-signer               a new delegated OCSP signer now (new key in the\n"
	  "                                    token); the daemon also renews it by itself at two\n"
	  "                                    thirds of its lifetime\n"
	  "  renew --https                     a new HTTPS certificate now (same names, new key),\n"
	  "                                    served to new connections at once\n"
	  "  rotate                            a new issuing CA now: new key in the token, signed\n"
	  "                                    by the root; new certificates get it at once, the\n"
	  "                                    old ones keep their OCSP answers and CRL (admin)\n"
	  "  cross-sign PREFIX                 root rollover: a new root key in the token, its\n"
	  "                                    root and cross-certificates both ways, written to\n"
	  "                                    PREFIX-root.pem, PREFIX-cross-new-by-old.pem and\n"
	  "                                    PREFIX-cross-old-by-new.pem (admin)\n"
	  CLI_CONN_HELP },
	{ "inventory", cli_inventory, "inventory import|owner|list|show --dir DIR [options]",
	  "  import --pem-dir DIR                every certificate under DIR (recursive; PEM\n"
	  "                                      bundles and DER); unreadable files are reported\n"
	  "  import --csv FILE                   columns (header row): pem or path, owner, tags\n"
	  "                                      (a;b); through the daemon, idempotent\n"
	  "  owner set FP|SERIAL OWNER           audited; a cairn serial joins the inventory\n"
	  "  list [--format table|csv|json]      every inventory certificate (read from DIR);\n"
	  "                                      --json = --format json\n"
	  "  show FINGERPRINT                    one record with its sightings\n"
	  "  (see docs/inventory.md)\n" },
	{ "report", cli_report,
	  "report expiring|weak|revoked-in-use|unknown-issuer --dir DIR [options]",
	  "  expiring [--within 30d] [--by owner|issuer|profile]\n"
	  "                                      cairn's certificates and the inventory's\n"
	  "  weak                                RSA < 2048 bits, SHA-1 or MD5 signatures\n"
	  "  revoked-in-use                      endpoints seen serving a revoked cairn certificate\n"
	  "  unknown-issuer                      chains to neither cairn's root nor the system store\n"
	  "  --format table|csv|json             csv is spreadsheet-safe (default table);\n"
	  "                                      --json = --format json\n" },
	{ "discover", cli_discover,
	  "discover --dir DIR --targets LIST [--ports 443,8443] [--sni-file F] [options]",
	  "  --targets LIST         addresses, CIDR ranges, host:port, comma-separated\n"
	  "  --ports LIST           ports for targets without one (default 443)\n"
	  "  --sni-file F           server names to try on each endpoint, one a line\n"
	  "  --parallel N           connections at once (default 32, at most 256)\n"
	  "  --timeout-ms N         connect and handshake timeout each (default 3000)\n"
	  "  --rate N               new connections per second (default 200; 0 = unbounded)\n"
	  "  --format table|csv|json (or --json)\n"
	  "  Only addresses inside discover.allowed (cairn.json; default loopback) are scanned;\n"
	  "  what is found is recorded in the inventory through the daemon.\n" },
	{ "replace", cli_replace,
	  "replace --issued-by-key SPKI|--issuer CA|--profile P|--file SERIALS --by DATE [options]",
	  "  --issued-by-key SPKI              certificates for this key: SHA-256 of the\n"
	  "                                    SubjectPublicKeyInfo (hex, or base64 pin-sha256)\n"
	  "  --issuer CA | --profile P         every certificate of an issuer or a profile\n"
	  "  --file SERIALS                    the serials listed, one a line (at most 10000)\n"
	  "  --by DATE                         renewal deadline announced by ACME renewalInfo\n"
	  "  --revoke-after DATE               then revoke what has no successor yet\n"
	  "  --reason NAME                     the CRLReason of every revocation, with or\n"
	  "                                    without a successor (default superseded)\n"
	  "  --explanation-url URL             for renewalInfo's explanationURL\n"
	  "  status ID | list [--json]         progress: replaced, revoked, pending\n"
	  "  cancel ID                         stop a campaign: nothing more is revoked,\n"
	  "                                    its pending certificates are unmarked\n"
	  "  A key campaign, like a keyCompromise revocation, blocks the key: no new\n"
	  "  certificate for it on any channel (lifted by cancel).\n"
	  "  (admin role; see docs/operations.md)\n"
	  CLI_CONN_HELP },
	{ "publish", cli_publish, "publish --dir DIR --to OUT",
	  "  --dir DIR              data directory (the daemon may run: the database is only read)\n"
	  "  --to OUT               the tree to write (created when missing)\n"
	  "  Writes what ocsp.publish and crl.publish keep up to date: every current pre-signed\n"
	  "  OCSP answer as OUT/ocsp/<base64 GET path> and OUT/ocsp/sha256/<hh>/<hex>, the CRLs\n"
	  "  as OUT/crl/NAME.crl, the CA certificates as OUT/ca/NAME.crt; each file atomically.\n"
	  "  Then removes a crash's leftovers: stray temporaries and answers the database no\n"
	  "  longer has (nothing else; OUT must be this user's directory, not a symlink).\n"
	  "  Serve OUT with docs/nginx-publish.conf (docs/scaling.md).\n" },
	{ "config", cli_config, "config keys [--json] | config check --dir DIR | config profiles [--dir DIR]",
	  "  keys                   every cairn.json key with type, default and meaning (Markdown)\n"
	  "  keys --json            the same table as JSON (docs/cli.md)\n"
	  "  check --dir DIR        validate DIR/cairn.json without starting anything\n"
	  "  profiles [--dir DIR]   the certificate profile names of DIR (default: init's), one a line\n" },
};

const cli_command_t *cli_commands(size_t *n)
{
	*n = sizeof(commands) / sizeof(commands[0]);
	return commands;
}

void cli_usage(FILE *out, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (name != NULL && strcmp(name, commands[i].name) != 0)
			continue;
		fprintf(out, "usage: cairn %s\n", commands[i].synopsis);
		if (name != NULL)
			fprintf(out, "%s", commands[i].help);
	}
	if (name == NULL)
		fprintf(out, "\n`cairn COMMAND --help` describes a command.\n");
}

int cli_serial_norm(const char *in, char *hex, size_t cap, size_t max_bytes)
{
	size_t n = 0;

	while (isspace((unsigned char)*in))
		in++;
	if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X'))
		in += 2;
	for (; *in && !isspace((unsigned char)*in); in++) {
		if (*in == ':')
			continue;
		if (!isxdigit((unsigned char)*in) || n + 1 >= cap)
			return -1;
		hex[n++] = (char)tolower((unsigned char)*in);
	}
	while (isspace((unsigned char)*in))
		in++;
	hex[n] = '\0';
	return *in == '\0' && n > 0 && n % 2 == 0 && n / 2 <= max_bytes ? 0 : -1;
}

int cli_int_arg(const char *name, const char *opt, const char *text, long min, long max,
		long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || isspace((unsigned char)*text) ||
	    v < min || v > max)
		return cli_usage_error(name, "%s %s: must be an integer %ld..%ld", opt, text, min, max);
	*out = v;
	return CLI_OK;
}

int cli_text_arg(const char *name, const char *opt, const char *text)
{
	if (text == NULL || util_utf8_valid(text))
		return CLI_OK;
	return cli_usage_error(name, "%s is not UTF-8 text", opt);
}

int cli_text_args(const char *name, const cli_text_t *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (cli_text_arg(name, t[i].opt, t[i].value) != CLI_OK)
			return CLI_USAGE;
	return CLI_OK;
}

int cli_fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cairn %s: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAILED;
}

int cli_usage_error(const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cairn %s: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see `cairn %s --help`)\n", name);
	return CLI_USAGE;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		cli_usage(argc < 2 ? stderr : stdout, NULL);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		/* The libraries as loaded at run time, which may be newer than the headers. */
		printf("cairn %s\n%s\n%s\nlibmicrohttpd %s\n", PACKAGE_VERSION,
		       OpenSSL_version(OPENSSL_VERSION), mdb_version(NULL, NULL, NULL),
		       MHD_get_version());
		return CLI_OK;
	}
	/* Not in the table: it prints the pages that describe the table (the build runs it). */
	if (strcmp(argv[1], "man") == 0)
		return cli_man(argc - 1, argv + 1);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		int j;
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		for (j = 2; j < argc; j++) {
			if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
				cli_usage(stdout, commands[i].name);
				return CLI_OK;
			}
		}
		return commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "cairn: unknown command %s\n", argv[1]);
	cli_usage(stderr, NULL);
	return CLI_USAGE;
}
