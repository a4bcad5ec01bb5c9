/* SPDX-License-Identifier: MIT */
/* The connections the listeners may hold, within the process's file descriptors. */
#include <dirent.h>
#include <sys/resource.h>

#include "server/internal.h"

/* Kept for the daemon's own work: LMDB, the token, logs, the workers' epoll and wake-up
 * descriptors, outgoing challenge validations, webhooks and SMTP, CRL and backup files.
 * Discovery's connections come on top (server_discover_parallel). */
#define CONNS_FD_RESERVE 256
/* Below a limit that leaves the full reserve, a quarter of it, at least this much. */
#define CONNS_FD_RESERVE_MIN 64
/* The least a listener may be left with (server.max_connections' own minimum). */
#define CONNS_MIN 16

/*
 * Sets s->conn_max, the connections each of n listeners may hold: server.max_connections,
 * unless the file-descriptor limit cannot hold that many on every listener beside the
 * daemon's own work. A listener that cannot accept for want of a descriptor makes
 * libmicrohttpd retry at once, on every worker: the daemon spins on both CPUs and answers
 * nothing, OCSP included, while the connections stay open. A listener at its connection
 * limit stops accepting instead (new connections wait in the kernel's backlog), so the
 * limits are kept below what the descriptors allow.
 *
 * First the soft RLIMIT_NOFILE is raised as far as needed, up to the hard one (systemd
 * starts services at 1024 soft, 524288 hard; a shell often has 1024 for both). Then, if
 * it still falls short, each listener gets an equal share of what is left after the
 * reserve, and the start-up log says so and why. Fewer than CONNS_MIN each refuses to
 * start: CAIRN_ECONFIG with what to raise.
 */
int server_conns_budget(server_t *s, unsigned listeners, cairn_err_t *err)
{
	const cairn_config_t *cfg = s->cfg;
	unsigned long need, limit, want, reserve, share;
	struct rlimit rl;

	want = CONNS_FD_RESERVE + (unsigned long)server_discover_parallel(cfg);
	need = (unsigned long)cfg->max_connections * listeners + want;
	s->conn_max = (unsigned)cfg->max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		s->fd_limit = 0; /* not known: libmicrohttpd's own limits as configured */
		return 0;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
		if (rl.rlim_cur > was && setrlimit(RLIMIT_NOFILE, &rl) == 0)
			log_info("server", "file descriptors: limit raised from %lu to %lu",
				 (unsigned long)was, (unsigned long)rl.rlim_cur);
		else
			rl.rlim_cur = was;
	}
	limit = rl.rlim_cur == RLIM_INFINITY ? need : (unsigned long)rl.rlim_cur;
	s->fd_limit = limit;
	if (limit >= need)
		return 0;
	reserve = want;
	if (limit / 4 < reserve)
		reserve = limit / 4 > CONNS_FD_RESERVE_MIN ? limit / 4 : CONNS_FD_RESERVE_MIN;
	share = limit > reserve ? (limit - reserve) / listeners : 0;
	if (share < CONNS_MIN)
		return cairn_err_set(err, CAIRN_ECONFIG,
				     "the file descriptor limit %lu (hard %lu) leaves fewer than %d "
				     "connections per listener once %lu are kept for the daemon's own "
				     "work: raise it (LimitNOFILE in the service unit, ulimit -n)",
				     limit, (unsigned long)rl.rlim_max, CONNS_MIN, reserve);
	s->conn_max = (unsigned)share;
	log_warn("server",
		 "server.max_connections %ld on %u listener%s needs %lu file descriptors with %lu "
		 "for the daemon's own work, the limit is %lu (hard %lu): each listener takes at "
		 "most %lu connections, %lu descriptors are kept for the rest (raise LimitNOFILE "
		 "in the service unit, or ulimit -n)",
		 cfg->max_connections, listeners, listeners == 1 ? "" : "s", need, want, limit,
		 (unsigned long)rl.rlim_max, share, reserve);
	return 0;
}

/* The connections from one address a listener may hold: never more than it holds. */
unsigned server_conns_per_ip(const server_t *s)
{
	unsigned long per_ip = (unsigned long)s->cfg->max_connections_per_ip;

	return per_ip < s->conn_max ? (unsigned)per_ip : s->conn_max;
}

/* Descriptors the process has open now (the entries of /proc/self/fd, less the one
 * reading it), or -1 when that cannot be read. */
long server_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}
