/* SPDX-License-Identifier: MIT */
/* The daemon and its service manager: sd_notify readiness (systemd Type=notify) and the
 * SIGHUP reload with its one log line. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "server/internal.h"

/*
 * The sd_notify protocol is one datagram on the AF_UNIX socket named by $NOTIFY_SOCKET
 * (a path, or "@name" for the abstract namespace); done here in a few lines so that the
 * daemon needs no libsystemd. Without $NOTIFY_SOCKET (not under systemd) nothing is sent.
 */
int server_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t salen;
	size_t len;
	ssize_t sent;
	int fd;

	if (path == NULL || path[0] == '\0')
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return CAIRN_EINVAL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return CAIRN_EIO;
	sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	close(fd);
	return sent == (ssize_t)strlen(state) ? 0 : CAIRN_EIO;
}

int server_config_digest(const char *dir, unsigned char out[32])
{
	char *path = fs_join(dir, "cairn.json"), *text = NULL;
	size_t len = 0;
	int rc = path ? fs_read(path, 1 << 20, &text, &len) : CAIRN_ENOMEM;

	if (rc == 0 && EVP_Digest(text, len, out, NULL, EVP_sha256(), NULL) != 1)
		rc = CAIRN_ENOMEM;
	free(text);
	free(path);
	return rc;
}

void server_reload(server_t *s, const unsigned char cfg_digest[32])
{
	cairn_err_t err = { 0 };
	unsigned char now[32];
	char *before, *after = NULL, policy[600];
	const char *cfg_state;
	int failed;

	(void)server_sd_notify("RELOADING=1");
	before = policy_engine_text(s->policy);
	if ((failed = policy_engine_reload_as(s->policy, "server:sighup", &err) != 0)) {
		snprintf(policy, sizeof(policy), "not reloaded, the old one stays (%s)",
			 cairn_err_msg(&err));
	} else {
		after = policy_engine_text(s->policy);
		snprintf(policy, sizeof(policy), "reloaded, %s",
			 before && after && strcmp(before, after) == 0 ? "unchanged" : "changed");
	}
	/* Everything in cairn.json is bound at start (listeners, token, CA, profiles, ACME,
	 * EST, notify): say whether the file changed, so the operator knows to restart. */
	if (server_config_digest(s->cfg->dir, now) != 0)
		cfg_state = "unreadable";
	else if (memcmp(now, cfg_digest, 32) == 0)
		cfg_state = "unchanged";
	else
		cfg_state = "changed on disk, restart to apply";
	log_msg(failed ? LOG_LVL_ERROR : LOG_LVL_INFO, "server",
		"SIGHUP: policy %s; cairn.json not reloadable: %s", policy, cfg_state);
	free(before);
	free(after);
	(void)server_sd_notify("READY=1");
}
