/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * server.c — the running proxy as a whole, and its control thread.
 *
 * Start: load the configuration, build the first snapshot, open every
 * listening socket (one per worker, SO_REUSEPORT), the access log, the pid
 * file and the control socket, drop privileges, start the health thread
 * and the workers, tell systemd READY=1.  The main thread then runs the
 * control loop: signals (SIGHUP reload, SIGTERM/SIGINT graceful shutdown,
 * SIGUSR1 reopen logs) and the control socket that `limen reload` talks
 * to.
 *
 * Reload (SIGHUP or `limen reload`): conf_load + snapshot_build off the
 * data path (here, in the control thread); open the sockets of new
 * addresses; then post the new snapshot, the new sockets and the sockets
 * to close to every worker.  Each worker switches at once; exchanges in
 * flight keep the old snapshot until they end; connections are never
 * closed by a reload.  When every worker acknowledged, the reload is live
 * and `limen reload` gets "ok".  Any failure before the post leaves the
 * old configuration serving and is reported with the loader's messages.
 *
 * The control socket is `global.state_dir`/control.sock (mode 0600, owned
 * by the user limen runs as; the peer must be root or that user).  The
 * protocol is one line each way: "reload\n" -> "ok GENERATION\n", or
 * "error\n" followed by the reasons, one per line.
 */
#include "proxy/server.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/privdrop.h"
#include "common/sdnotify.h"
#include "conf/config.h"
#include "conf/diag.h"
#include "proxy/accesslog.h"
#include "proxy/admin.h"	/* admin hook */
#include "proxy/listener.h"
#include "proxy/metrics.h"	/* admin hook */
#include "proxy/pool.h"
#include "proxy/server_internal.h"
#include "proxy/snapshot.h"
#include "proxy/acme_glue.h"
#include "proxy/jwks.h"
#include "proxy/tls_listen.h"
#include "proxy/worker.h"

#define CONTROL_SOCK "control.sock"
#define CONTROL_TIMEOUT_S 60

struct ctl_client {
	struct bufferevent *bev;
	struct ctl_client *next;
};

static struct control {
	const char *config_path;
	struct event_base *base;
	struct worker *workers;
	unsigned n_workers;
	struct snapshot *snap;
	struct lsock *lsocks;

	/* reload in progress */
	bool reloading;
	bool reload_again;
	struct snapshot *next_snap;
	struct lsock **added, **removed;
	size_t n_added, n_removed;
	atomic_uint acks_pending;
	struct event *ack_ev;
	struct ctl_client *waiting;	/* `limen reload` clients */

	/* shutdown */
	bool stopping;
	atomic_uint exited;
	struct event *exit_ev;
	struct event *force_ev;

	char *user;			/* global.user once dropped to it */

	struct evconnlistener *ctl;
	char ctl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *pid_file;
} srv;

/* ---- from the workers ---------------------------------------------------- */

void
server_worker_ack(struct worker *w, struct worker_msg *m)
{
	(void)w;
	if (m->type == WORKER_MSG_SNAPSHOT &&
	    atomic_fetch_sub(&srv.acks_pending, 1) == 1)
		event_active(srv.ack_ev, EV_READ, 0);
}

void
server_worker_exited(struct worker *w)
{
	(void)w;
	if (atomic_fetch_add(&srv.exited, 1) + 1 == srv.n_workers)
		event_active(srv.exit_ev, EV_READ, 0);
}

/* ---- replies to `limen reload` -------------------------------------------- */

static void
ctl_client_free(struct ctl_client *cl)
{
	bufferevent_free(cl->bev);
	free(cl);
}

static void
ctl_close_after_write(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		ctl_client_free(arg);
}

static void
ctl_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_client *cl = arg, **pp;

	for (pp = &srv.waiting; *pp != NULL; pp = &(*pp)->next)
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	ctl_client_free(cl);
}

static void
ctl_reply(struct ctl_client *cl, const char *text)
{
	evbuffer_add(bufferevent_get_output(cl->bev), text, strlen(text));
	bufferevent_disable(cl->bev, EV_READ);
	bufferevent_setcb(cl->bev, NULL, ctl_close_after_write, ctl_event_cb, cl);
}

static void
server_reply_all(const char *text)
{
	struct ctl_client *cl;

	while ((cl = srv.waiting) != NULL) {
		srv.waiting = cl->next;
		ctl_reply(cl, text);
	}
}

/* ---- reload ----------------------------------------------------------------- */

static unsigned
server_workers_for(const struct config *c)
{
	long n = c->global.workers;

	if (n == 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > 256)
		n = 256;
	return (unsigned)n;
}

static void
server_reject(struct diag *d, const char *why)
{
	char *joined;
	size_t len;
	char *msg;

	diag_sort(d);
	joined = diag_join(d);
	log_warnx("reload: rejected, the old configuration keeps serving%s%s",
	    why ? ": " : "", why ? why : "");
	metrics_reload_done(false, joined && *joined ? joined : why);	/* admin hook */
	for (size_t i = 0; i < d->n; i++)
		log_warnx("reload: %s:%d:%d: %s", d->items[i].file ?
		    d->items[i].file : srv.config_path, d->items[i].line,
		    d->items[i].col, d->items[i].msg);
	len = (joined ? strlen(joined) : 0) + (why ? strlen(why) : 0) + 16;
	if ((msg = malloc(len)) != NULL) {
		snprintf(msg, len, "error\n%s%s%s\n", why ? why : "",
		    why && joined && *joined ? "\n" : "", joined ? joined : "");
		server_reply_all(msg);
		free(msg);
	} else {
		server_reply_all("error\n");
	}
	free(joined);
	sdnotify_send("READY=1");
}

static void server_reload(void);

/* After the drop to global.user, a file readable only by root (the
 * configuration, a key, a users file...) fails a reload: say why, and
 * what to do, next to the loader's own "Permission denied". */
static const char *
server_access_hint(const struct diag *d)
{
	static char buf[512];
	const char *denied = strerror(EACCES);

	if (srv.user == NULL)
		return NULL;
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->items[i].msg, denied) != NULL) {
			snprintf(buf, sizeof(buf), "limen runs as %s "
			    "(global.user) since it started and cannot read "
			    "a file this configuration needs; make it "
			    "readable by %s, or restart limen "
			    "(docs/operations.md)", srv.user, srv.user);
			return buf;
		}
	return NULL;
}

/* Every worker switched: the new configuration is live. */
static void
server_ack_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lsock **pp, *ls;
	char reply[64];

	for (size_t i = 0; i < srv.n_removed; i++) {
		for (pp = &srv.lsocks; (ls = *pp) != NULL; pp = &ls->next)
			if (ls == srv.removed[i]) {
				*pp = ls->next;
				break;
			}
		log_info("reload: closed listener %s", srv.removed[i]->text);
		listener_free(srv.removed[i]);
	}
	for (size_t i = 0; i < srv.n_added; i++) {
		srv.added[i]->next = srv.lsocks;
		srv.lsocks = srv.added[i];
	}
	free(srv.added);
	free(srv.removed);
	srv.added = srv.removed = NULL;
	srv.n_added = srv.n_removed = 0;
	snapshot_unref(srv.snap);
	srv.snap = srv.next_snap;
	srv.next_snap = NULL;
	health_update(srv.snap->pools);
	admin_publish(srv.snap);	/* admin hook */
	metrics_reload_done(true, NULL);	/* admin hook */
	acme_glue_reload(srv.snap->conf);
	log_init(srv.snap->conf->global.log_level,
	    srv.snap->conf->global.log_format);
	accesslog_configure(srv.snap->conf->global.access_log_path);
	srv.reloading = false;
	log_info("reload: configuration %llu is live",
	    (unsigned long long)srv.snap->generation);
	snprintf(reply, sizeof(reply), "ok %llu\n",
	    (unsigned long long)srv.snap->generation);
	server_reply_all(reply);
	sdnotify_send("READY=1");
	if (srv.reload_again) {
		srv.reload_again = false;
		server_reload();
	}
}

static void
server_reload(void)
{
	struct diag d;
	struct config *c;
	struct snapshot *s;
	struct lsock *ls;
	char err[256];
	size_t n_addrs = 0;

	if (srv.stopping)
		return;
	if (srv.reloading) {
		srv.reload_again = true;
		return;
	}
	sdnotify_reloading();
	log_info("reload: loading %s", srv.config_path);
	diag_init(&d);
	if ((c = conf_load_ex(srv.config_path, CONF_LOAD_SKIP_BACKUP_SECRETS, &d)) == NULL) {
		server_reject(&d, server_access_hint(&d));
		diag_free(&d);
		return;
	}
	if (server_workers_for(c) != srv.n_workers)
		log_warnx("reload: global.workers changes only on restart "
		    "(keeping %u)", srv.n_workers);
	if ((s = snapshot_build(c, srv.snap, srv.n_workers, &d)) == NULL) {
		server_reject(&d, server_access_hint(&d));
		diag_free(&d);
		return;
	}

	/* Which sockets stay, which come, which go. */
	for (ls = srv.lsocks; ls != NULL; ls = ls->next)
		ls->mark = false;
	for (size_t i = 0; i < c->n_listeners; i++)
		n_addrs += c->listeners[i].n_addrs;
	srv.added = calloc(n_addrs + 1, sizeof(*srv.added));
	srv.removed = calloc(1, sizeof(*srv.removed));
	srv.n_added = srv.n_removed = 0;
	if (srv.added == NULL || srv.removed == NULL)
		goto oom;
	for (size_t i = 0; i < c->n_listeners; i++) {
		for (size_t j = 0; j < c->listeners[i].n_addrs; j++) {
			const struct conf_addr *a = &c->listeners[i].addrs[j];
			bool found = false;

			for (ls = srv.lsocks; ls != NULL; ls = ls->next)
				if (listener_same_addr(&ls->sa, ls->sa_len,
				    &a->sa, a->sa_len)) {
					ls->mark = true;
					found = true;
				}
			for (size_t k = 0; k < srv.n_added; k++)
				if (listener_same_addr(&srv.added[k]->sa,
				    srv.added[k]->sa_len, &a->sa, a->sa_len))
					found = true;
			if (found)
				continue;
			if ((ls = listener_open(a, srv.n_workers, err,
			    sizeof(err))) == NULL) {
				for (size_t k = 0; k < srv.n_added; k++)
					listener_free(srv.added[k]);
				free(srv.added);
				free(srv.removed);
				srv.added = srv.removed = NULL;
				srv.n_added = 0;
				diag_error(&d, c->path, c->listeners[i].line,
				    c->listeners[i].col, "%s", err);
				snapshot_unref(s);
				server_reject(&d, NULL);
				diag_free(&d);
				return;
			}
			log_info("reload: new listener %s", ls->text);
			srv.added[srv.n_added++] = ls;
		}
	}
	{
		size_t n = 0;
		for (ls = srv.lsocks; ls != NULL; ls = ls->next)
			if (!ls->mark)
				n++;
		free(srv.removed);
		if ((srv.removed = calloc(n + 1, sizeof(*srv.removed))) == NULL)
			goto oom;
		for (ls = srv.lsocks; ls != NULL; ls = ls->next)
			if (!ls->mark)
				srv.removed[srv.n_removed++] = ls;
	}
	diag_free(&d);

	/* Publish: one message per worker; they all switch. */
	srv.reloading = true;
	srv.next_snap = s;
	atomic_store(&srv.acks_pending, srv.n_workers);
	for (unsigned i = 0; i < srv.n_workers; i++) {
		struct worker_msg *m = calloc(1, sizeof(*m));
		if (m == NULL)
			fatalx("reload: out of memory posting to workers");
		m->type = WORKER_MSG_SNAPSHOT;
		m->snap = s;
		m->add = srv.added;
		m->n_add = srv.n_added;
		m->remove = srv.removed;
		m->n_remove = srv.n_removed;
		worker_post(&srv.workers[i], m);
	}
	return;
oom:
	for (size_t k = 0; k < srv.n_added; k++)
		listener_free(srv.added[k]);
	free(srv.added);
	free(srv.removed);
	srv.added = srv.removed = NULL;
	srv.n_added = srv.n_removed = 0;
	snapshot_unref(s);
	server_reject(&d, "out of memory");
	diag_free(&d);
}

/* ---- the control socket -------------------------------------------------- */

static void
ctl_read_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	if ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) == NULL) {
		if (evbuffer_get_length(in) > 256)
			ctl_reply(cl, "error\nline too long\n");
		return;
	}
	if (strcmp(line, "reload") == 0) {
		bufferevent_disable(bev, EV_READ);
		cl->next = srv.waiting;
		srv.waiting = cl;
		server_reload();
	} else {
		ctl_reply(cl, "error\nunknown command\n");
	}
	free(line);
}

static void
ctl_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct ucred cred;
	socklen_t cl_len = sizeof(cred);
	struct ctl_client *cl;
	struct timeval tv = { CONTROL_TIMEOUT_S, 0 };

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl_len) == -1 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		close(fd);
		return;
	}
	if ((cl = calloc(1, sizeof(*cl))) == NULL ||
	    (cl->bev = bufferevent_socket_new(srv.base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(cl);
		close(fd);
		return;
	}
	bufferevent_setcb(cl->bev, ctl_read_cb, NULL, ctl_event_cb, cl);
	bufferevent_set_timeouts(cl->bev, &tv, &tv);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
}

static int
ctl_socket_path(const struct config *c, char *out, size_t cap)
{
	const char *dir = c->global.state_dir ? c->global.state_dir :
	    "/var/lib/limen";
	int n = snprintf(out, cap, "%s/%s", dir, CONTROL_SOCK);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int
ctl_open(const struct config *c)
{
	struct sockaddr_un sun;
	int fd;

	if (ctl_socket_path(c, srv.ctl_path, sizeof(srv.ctl_path)) == -1) {
		log_warnx("control socket: path under %s too long; `limen "
		    "reload` will not work (SIGHUP does)", c->global.state_dir);
		srv.ctl_path[0] = '\0';
		return -1;
	}
	if (c->global.state_dir != NULL &&
	    fsutil_mkdirs(c->global.state_dir, 0700) == -1) {
		log_warn("state_dir %s", c->global.state_dir);
		srv.ctl_path[0] = '\0';
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, srv.ctl_path, strlen(srv.ctl_path) + 1);
	/* Another live instance on the same state_dir keeps its socket. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) != -1) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(fd);
			log_warnx("control socket %s: another instance uses "
			    "it; `limen reload` will reach that one",
			    srv.ctl_path);
			srv.ctl_path[0] = '\0';
			return -1;
		}
		close(fd);
	}
	unlink(srv.ctl_path);
	srv.ctl = evconnlistener_new_bind(srv.base, ctl_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
	    (struct sockaddr *)&sun, sizeof(sun));
	if (srv.ctl == NULL) {
		log_warn("control socket %s", srv.ctl_path);
		srv.ctl_path[0] = '\0';
		return -1;
	}
	chmod(srv.ctl_path, 0600);
	return 0;
}

/* ---- signals and shutdown -------------------------------------------------- */

static void
server_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(srv.base, NULL);
}

static void
server_force_cb(evutil_socket_t fd, short what, void *arg)
{
	log_warnx("shutdown: shutdown_timeout reached, closing the "
	    "remaining connections");
	for (unsigned i = 0; i < srv.n_workers; i++)
		worker_break(&srv.workers[i]);
}

static void
server_stop(void)
{
	struct timeval tv;
	uint64_t ms = srv.snap->conf->global.shutdown_timeout_ms;

	if (srv.stopping)
		return;
	srv.stopping = true;
	sdnotify_send("STOPPING=1");
	admin_stopping();	/* admin hook */
	log_info("shutdown: no new connections; waiting up to %llums for "
	    "requests in flight", (unsigned long long)ms);
	if (srv.ctl != NULL) {
		evconnlistener_free(srv.ctl);
		srv.ctl = NULL;
	}
	server_reply_all("error\nshutting down\n");
	for (unsigned i = 0; i < srv.n_workers; i++) {
		struct worker_msg *m = calloc(1, sizeof(*m));
		if (m == NULL)
			fatalx("shutdown: out of memory");
		m->type = WORKER_MSG_SHUTDOWN;
		worker_post(&srv.workers[i], m);
	}
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(srv.force_ev, &tv);
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	switch (sig) {
	case SIGHUP:
		server_reload();
		break;
	case SIGUSR1:
		log_info("reopening log files");
		accesslog_reopen();
		break;
	case SIGTERM:
	case SIGINT:
		if (srv.stopping)
			log_info("shutdown: already in progress, signal %d "
			    "ignored", (int)sig);
		server_stop();
		break;
	default:
		break;
	}
}

/* Stop watching sigs through the loop and ignore them from now on.  The
 * events go first: freeing one restores the disposition it replaced. */
static void
server_ignore_signals(const int *sigs, struct event **sigev, int n)
{
	for (int i = 0; i < n; i++) {
		if (sigev[i] != NULL)
			event_free(sigev[i]);
		sigev[i] = NULL;
		signal(sigs[i], SIG_IGN);
	}
}

/* ---- start ------------------------------------------------------------------ */

/*
 * Every client connection costs a descriptor (two while proxied): raise
 * the soft RLIMIT_NOFILE to the hard limit, as nginx's
 * worker_rlimit_nofile and HAProxy do, so a default soft limit of 1024
 * does not cap limen at a few hundred connections.  The hard limit is the
 * administrator's (LimitNOFILE= in the unit).
 */
static void
server_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit(RLIMIT_NOFILE)");
		return;
	}
	if (rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("raising the descriptor limit to %llu",
		    (unsigned long long)rl.rlim_max);
	else
		log_debug("descriptor limit raised to %llu",
		    (unsigned long long)rl.rlim_max);
}

static int
server_write_pid(const char *path)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	return fsutil_write_atomic(path, buf, (size_t)n, 0644);
}

int
server_run(const char *config_path)
{
	static const int sigs[] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1 };
	struct event *sigev[4] = { 0 };
	struct diag d;
	struct config *c;
	struct lsock *ls, **first = NULL;
	size_t n_first = 0;
	char err[256];
	int rc = 2;
	unsigned started = 0;

	memset(&srv, 0, sizeof(srv));
	srv.config_path = config_path;
	diag_init(&d);
	c = conf_load_ex(config_path, CONF_LOAD_SKIP_BACKUP_SECRETS, &d);
	diag_sort(&d);
	diag_print(&d, stderr);
	if (c == NULL) {
		rc = d.oom ? 2 : 1;	/* out of memory: internal failure */
		diag_free(&d);
		return rc;
	}
	log_init(c->global.log_level, c->global.log_format);
	signal(SIGPIPE, SIG_IGN);
	/* The request path allocates and frees buffers of a few KiB at the
	 * top of each worker's heap; with glibc's default trim threshold
	 * (128 KiB) frees kept shrinking the heap (madvise) and mallocs
	 * faulted the pages back in (perf: sysmalloc 7 %; about 80 instead
	 * of 50 us of CPU per request, issue 6).  Idle memory goes back to the
	 * system by explicit malloc_trim calls instead (conn.c, when idle
	 * connections free their buffers).
	 * This also pins the mmap threshold at its default, 128 KiB. */
	(void)mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
	server_raise_nofile();
	/* Locks for the bases other threads poke: workers make the control
	 * base's events active (server_worker_ack, jwks kicks, admin).  The
	 * workers' own bases opt out (EVENT_BASE_FLAG_NOLOCK, worker.h). */
	if (evthread_use_pthreads() == -1) {
		log_warnx("libevent: no thread support");
		conf_unref(c);
		diag_free(&d);
		return 2;
	}
	srv.n_workers = server_workers_for(c);
	if ((srv.snap = snapshot_build(c, NULL, srv.n_workers, &d)) == NULL) {
		diag_sort(&d);
		diag_print(&d, stderr);
		rc = d.oom ? 2 : 1;
		diag_free(&d);
		return rc;
	}
	diag_free(&d);
	c = srv.snap->conf;

	/* Bind everything while still privileged. */
	for (size_t i = 0; i < c->n_listeners; i++) {
		for (size_t j = 0; j < c->listeners[i].n_addrs; j++) {
			const struct conf_addr *a = &c->listeners[i].addrs[j];
			bool dup = false;

			for (ls = srv.lsocks; ls != NULL; ls = ls->next)
				if (listener_same_addr(&ls->sa, ls->sa_len,
				    &a->sa, a->sa_len))
					dup = true;
			if (dup)
				continue;
			if ((ls = listener_open(a, srv.n_workers, err,
			    sizeof(err))) == NULL) {
				log_error("%s", err);
				rc = 1;
				goto out;
			}
			ls->next = srv.lsocks;
			srv.lsocks = ls;
			n_first++;
		}
	}
	if ((first = calloc(n_first + 1, sizeof(*first))) == NULL)
		goto out;
	n_first = 0;
	for (ls = srv.lsocks; ls != NULL; ls = ls->next)
		first[n_first++] = ls;

	if ((srv.base = event_base_new()) == NULL ||
	    (srv.ack_ev = event_new(srv.base, -1, EV_PERSIST, server_ack_cb,
	    NULL)) == NULL ||
	    (srv.exit_ev = event_new(srv.base, -1, EV_PERSIST, server_exit_cb,
	    NULL)) == NULL ||
	    (srv.force_ev = evtimer_new(srv.base, server_force_cb, NULL)) == NULL)
		goto out;
	for (int i = 0; i < 4; i++) {
		if ((sigev[i] = evsignal_new(srv.base, sigs[i], server_signal_cb,
		    NULL)) == NULL || evsignal_add(sigev[i], NULL) == -1)
			goto out;
	}
	if (accesslog_configure(c->global.access_log_path) == -1)
		log_warnx("access log disabled until the next reload");
	ctl_open(c);
	if (admin_open(c) == -1) {	/* admin hook */
		rc = 1;
		goto out;
	}
	if (c->global.pid_file != NULL) {
		if (server_write_pid(c->global.pid_file) == -1)
			log_warn("pid file %s", c->global.pid_file);
		else
			srv.pid_file = strdup(c->global.pid_file);
	}

	if (c->global.user != NULL) {
		uid_t uid;
		gid_t gid;

		if (privdrop_lookup(c->global.user, c->global.group, &uid, &gid,
		    err, sizeof(err)) == -1) {
			log_error("global.user: %s", err);
			rc = 1;
			goto out;
		}
		if (c->global.state_dir != NULL &&
		    chown(c->global.state_dir, uid, gid) == -1)
			log_warn("chown %s", c->global.state_dir);
		if (srv.ctl_path[0] && chown(srv.ctl_path, uid, gid) == -1)
			log_warn("chown %s", srv.ctl_path);
		if (privdrop_to(uid, gid, err, sizeof(err)) == -1) {
			log_error("dropping privileges: %s", err);
			goto out;
		}
		log_info("running as %s (uid %u)", c->global.user, (unsigned)uid);
		srv.user = strdup(c->global.user);
		/* Reloads read the file again, as this user. */
		if (access(config_path, R_OK) == -1)
			log_warnx("%s: %s as %s: reloads will be rejected until "
			    "%s can read it (docs/operations.md)", config_path,
			    strerror(errno), c->global.user, c->global.user);
	} else {
		if (geteuid() == 0)
			log_warnx("running as root: set global.user to drop "
			    "privileges after binding");
		(void)privdrop_no_new_privs();
	}

	/* ACME on this loop, after the drop (its files belong to the
	 * user), before the workers (stored certificates installed). */
	(void)acme_glue_start(srv.base, srv.snap->conf);
	if (jwks_start(srv.base) == -1)	/* routes' jwks_url */
		log_warnx("jwks: cannot start fetching; jwks_url routes "
		    "refuse tokens");
	if (health_start(srv.snap->pools) == -1)
		log_warnx("health checks could not start");
	if ((srv.workers = workers_new(srv.n_workers)) == NULL)
		goto out;
	for (started = 0; started < srv.n_workers; started++)
		if (worker_start(&srv.workers[started], srv.snap, first,
		    n_first) == -1) {
			log_error("worker %u could not start", started);
			goto out;
		}
	free(first);
	first = NULL;

	log_info("limen %s: %u workers, %zu listeners, %zu routes, %zu pools",
	    LIMEN_VERSION, srv.n_workers, c->n_listeners, c->n_routes,
	    c->n_pools);
	for (ls = srv.lsocks; ls != NULL; ls = ls->next)
		log_info("listening on %s", ls->text);
	admin_start(srv.snap, config_path);	/* admin hook */
	sdnotify_send("READY=1");
	event_base_dispatch(srv.base);
	rc = 0;
	/* Shutting down: from here on no loop watches the signals, and
	 * another SIGTERM must not kill the cleanup (or the leak check of
	 * a sanitizer build) half-way. */
	server_ignore_signals(sigs, sigev, 4);
	log_info("shutdown: complete");
out:
	if (srv.workers != NULL) {
		if (rc != 0) {
			/* a start that failed half-way: stop what runs */
			srv.n_workers = started;
			for (unsigned i = 0; i < started; i++)
				worker_break(&srv.workers[i]);
		}
		workers_join(srv.workers, started);
		workers_free(srv.workers, srv.n_workers);
	}
	admin_stop();	/* admin hook */
	health_stop();
	acme_glue_stop();
	jwks_stop();
	accesslog_shutdown();
	free(first);
	while ((ls = srv.lsocks) != NULL) {
		srv.lsocks = ls->next;
		listener_free(ls);
	}
	for (int i = 0; i < 4; i++)
		if (sigev[i] != NULL)
			event_free(sigev[i]);
	if (srv.ctl != NULL)
		evconnlistener_free(srv.ctl);
	if (srv.ctl_path[0])
		unlink(srv.ctl_path);
	if (srv.pid_file != NULL) {
		unlink(srv.pid_file);
		free(srv.pid_file);
	}
	free(srv.user);
	if (srv.ack_ev)
		event_free(srv.ack_ev);
	if (srv.exit_ev)
		event_free(srv.exit_ev);
	if (srv.force_ev)
		event_free(srv.force_ev);
	if (srv.next_snap)
		snapshot_unref(srv.next_snap);
	snapshot_unref(srv.snap);
	tls_listen_shutdown();
	if (srv.base)
		event_base_free(srv.base);
	return rc;
}

/* ---- `limen reload` ------------------------------------------------------------ */

int
server_reload_command(const char *config_path)
{
	struct diag d;
	struct config *c;
	struct sockaddr_un sun;
	struct timeval tv = { CONTROL_TIMEOUT_S, 0 };
	char path[sizeof(sun.sun_path)], buf[8192];
	size_t got = 0;
	ssize_t n;
	int fd;

	/* The file is checked here first: a broken file is reported the
	 * same way the running instance would, without bothering it. */
	diag_init(&d);
	c = conf_load_ex(config_path, CONF_LOAD_SKIP_BACKUP_SECRETS, &d);
	diag_sort(&d);
	if (c == NULL) {
		diag_print(&d, stderr);
		fprintf(stderr, "limen: reload: rejected, the running "
		    "configuration is unchanged\n");
		int rc = d.oom ? 2 : 1;	/* out of memory: internal */

		diag_free(&d);
		return rc;
	}
	diag_free(&d);
	if (ctl_socket_path(c, path, sizeof(path)) == -1) {
		fprintf(stderr, "limen: reload: control socket path too long\n");
		conf_unref(c);
		return 2;
	}
	conf_unref(c);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "limen: reload: no running instance at %s: %s\n",
		    path, strerror(errno));
		if (fd != -1)
			close(fd);
		return 2;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (write(fd, "reload\n", 7) != 7) {
		fprintf(stderr, "limen: reload: %s\n", strerror(errno));
		close(fd);
		return 2;
	}
	while (got < sizeof(buf) - 1 &&
	    (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	if (strncmp(buf, "ok", 2) == 0) {
		printf("limen: reload: the new configuration is live (%.*s)\n",
		    (int)strcspn(buf + 3, "\n"), got > 3 ? buf + 3 : "");
		return 0;
	}
	if (strncmp(buf, "error\n", 6) == 0) {
		fprintf(stderr, "%s", buf + 6);
		fprintf(stderr, "limen: reload: rejected, the running "
		    "configuration is unchanged\n");
		return 1;
	}
	fprintf(stderr, "limen: reload: no answer from the running instance\n");
	return 2;
}
