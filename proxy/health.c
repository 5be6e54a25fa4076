/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * health.c — the control thread: active health checks for every pool of
 * the current `struct pools`, DNS re-resolution (resolve.c) and the
 * reclaiming of swapped-out server sets, all in one thread with its own
 * event_base (relayd's hce, HAProxy's checks): checks run once, not once
 * per worker, and publish through the servers' `up` atomics.
 *
 * Each pool with a `health:` section has a timer every `interval`; at
 * each tick every server of the pool's current set (DNS may have changed
 * it) gets one check unless the previous one still runs: a TCP connect
 * (`tcp: true`) or an HTTP/1.1 GET of `path` whose status line must be in
 * expect_status (only the status line is read, at most 1 KiB).  Each
 * check has `timeout`.  Hysteresis: `fall` consecutive failures mark an
 * up server down, `rise` consecutive successes mark a down server up.
 * Servers start up (as HAProxy's do): a server that is down when limen
 * starts is found out by its first `fall` checks (the first runs at once)
 * and, meanwhile, by passive checks and retries.
 *
 * Other threads talk to this one through an eventfd: health_update hands
 * over a new `struct pools` (after a reload), health_stop ends the loop.
 * The check counters of a server survive a reload (matched by pool and
 * server name).
 */
#include "proxy/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "proxy/pool_internal.h"
#include "proxy/resolve.h"

#define HEALTH_STATUS_LINE_MAX	1024
#define HEALTH_RECLAIM_MS	200

struct hc_pool;

struct hc_check {
	struct hc_pool *hp;
	struct server *s;		/* a reference */
	unsigned oks, fails;		/* consecutive results */
	struct bufferevent *bev;	/* while a check runs */
	struct event *timeout;
	bool connected;
	bool seen;			/* still in the set (sync) */
};

struct hc_pool {
	struct pool *pool;
	struct event *tick;
	uint64_t gen;			/* the set `checks` was synced with */
	struct hc_check **checks;
	size_t n;
};

static struct {
	bool running;
	pthread_t thread;
	struct event_base *base;
	int wake_fd;
	struct event *wake;
	struct event *reclaim;
	pthread_mutex_t lock;
	struct pools *pending;		/* from health_update, a reference */
	bool stop;
	struct pools *cur;		/* a reference */
	struct hc_pool *pools;
	size_t n_pools;
	struct resolve *resolve;
} health = { .wake_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static void health_check_start(struct hc_check *c);

static void
health_ms(struct timeval *tv, uint64_t ms)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

/* The end of one check: hysteresis and publication. */
static void
health_check_done(struct hc_check *c, bool ok, const char *reason)
{
	const struct conf_pool *conf = c->hp->pool->conf;
	struct server *s = c->s;

	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	evtimer_del(c->timeout);
	if (ok) {
		c->fails = 0;
		if (c->oks < UINT32_MAX)
			c->oks++;
		if (!atomic_load(&s->up) && c->oks >= conf->health.rise) {
			atomic_store(&s->up, true);
			log_info("health: %s/%s: UP after %u successes",
			    conf->name, s->name, c->oks);
		}
		return;
	}
	c->oks = 0;
	if (c->fails < UINT32_MAX)
		c->fails++;
	log_debug("health: %s/%s: check failed (%s), %u in a row",
	    conf->name, s->name, reason, c->fails);
	if (atomic_load(&s->up) && c->fails >= conf->health.fall) {
		atomic_store(&s->up, false);
		log_warnx("health: %s/%s: DOWN after %u failures (%s)",
		    conf->name, s->name, c->fails, reason);
	}
}

/* "HTTP/1.x NNN ..." -> NNN, or -1. */
static int
health_parse_status(const char *line, size_t len)
{
	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 ||
	    (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
	    line[9] < '1' || line[9] > '5' || line[10] < '0' ||
	    line[10] > '9' || line[11] < '0' || line[11] > '9' ||
	    (len > 12 && line[12] != ' '))
		return -1;
	return (line[9] - '0') * 100 + (line[10] - '0') * 10 + line[11] - '0';
}

static void
health_read_cb(struct bufferevent *bev, void *arg)
{
	struct hc_check *c = arg;
	const struct conf_health *h = &c->hp->pool->conf->health;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	char line[HEALTH_STATUS_LINE_MAX], reason[48];
	size_t eol_len = 0;
	int status;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
	if (eol.pos < 0) {
		if (evbuffer_get_length(in) >= HEALTH_STATUS_LINE_MAX)
			health_check_done(c, false, "status line too long");
		return;
	}
	if ((size_t)eol.pos >= sizeof(line)) {
		health_check_done(c, false, "status line too long");
		return;
	}
	evbuffer_copyout(in, line, (size_t)eol.pos);
	if ((status = health_parse_status(line, (size_t)eol.pos)) == -1) {
		health_check_done(c, false, "not an HTTP response");
		return;
	}
	if (status < h->expect_min || status > h->expect_max) {
		snprintf(reason, sizeof(reason), "status %d", status);
		health_check_done(c, false, reason);
		return;
	}
	health_check_done(c, true, NULL);
}

static void
health_send_request(struct hc_check *c)
{
	const struct conf_health *h = &c->hp->pool->conf->health;
	const char *host = h->host != NULL ? h->host : c->s->host_header;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (evbuffer_add_printf(out, "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: limen-health\r\nAccept: */*\r\n"
	    "Connection: close\r\n\r\n", h->path ? h->path : "/", host) < 0 ||
	    bufferevent_enable(c->bev, EV_READ) == -1)
		health_check_done(c, false, "out of memory");
}

static void
health_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct hc_check *c = arg;
	char reason[96];
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		c->connected = true;
		if (c->hp->pool->conf->health.tcp)
			health_check_done(c, true, NULL);
		else
			health_send_request(c);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		health_check_done(c, false, "closed before the status line");
		return;
	}
	snprintf(reason, sizeof(reason), "%s: %s",
	    c->connected ? "read error" : "connect failed",
	    err ? evutil_socket_error_to_string(err) : "error");
	health_check_done(c, false, reason);
}

static void
health_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hc_check *c = arg;

	health_check_done(c, false, c->connected ? "response timeout" :
	    "connect timeout");
}

static void
health_check_start(struct hc_check *c)
{
	const struct conf_health *h = &c->hp->pool->conf->health;
	struct timeval tv;

	if (c->bev != NULL)
		return;		/* the previous check is still running */
	c->connected = false;
	c->bev = bufferevent_socket_new(health.base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		health_check_done(c, false, "out of memory");
		return;
	}
	bufferevent_setcb(c->bev, health_read_cb, NULL, health_event_cb, c);
	health_ms(&tv, h->timeout_ms ? h->timeout_ms : 1000);
	evtimer_add(c->timeout, &tv);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&c->s->sa,
	    (int)c->s->sa_len) == -1)
		health_check_done(c, false, "connect failed");
}

static void
health_check_free(struct hc_check *c)
{
	if (c == NULL)
		return;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->timeout != NULL)
		event_free(c->timeout);
	server_unref(c->s);
	free(c);
}

static struct hc_check *
health_check_new(struct hc_pool *hp, struct server *s)
{
	struct hc_check *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->hp = hp;
	if ((c->timeout = evtimer_new(health.base, health_timeout_cb, c)) ==
	    NULL) {
		free(c);
		return NULL;
	}
	server_ref(s);
	c->s = s;
	return c;
}

/*
 * Make hp's checks follow the pool's current set: keep the checks of
 * servers still there, add checks for new servers (their counters taken
 * from `old` by name after a reload), drop the others.
 */
static int
health_sync(struct hc_pool *hp, struct hc_pool *old)
{
	struct server_set *set;
	struct hc_check **checks, *c;
	size_t i, j, n = 0;

	if ((set = pool_servers(hp->pool)) == NULL)
		return -1;
	if (set->gen == hp->gen) {
		server_set_unref(set);
		return 0;
	}
	if ((checks = calloc(set->n ? set->n : 1, sizeof(*checks))) == NULL) {
		server_set_unref(set);
		return -1;
	}
	for (j = 0; j < hp->n; j++)
		hp->checks[j]->seen = false;
	for (i = 0; i < set->n; i++) {
		c = NULL;
		for (j = 0; j < hp->n && c == NULL; j++)
			if (hp->checks[j]->s == set->servers[i]) {
				c = hp->checks[j];
				c->seen = true;
			}
		if (c == NULL && (c = health_check_new(hp, set->servers[i])) !=
		    NULL && old != NULL)
			for (j = 0; j < old->n; j++)
				if (strcmp(old->checks[j]->s->name,
				    c->s->name) == 0) {
					c->oks = old->checks[j]->oks;
					c->fails = old->checks[j]->fails;
				}
		if (c != NULL)
			checks[n++] = c;
	}
	for (j = 0; j < hp->n; j++)
		if (!hp->checks[j]->seen)
			health_check_free(hp->checks[j]);
	free(hp->checks);
	hp->checks = checks;
	hp->n = n;
	hp->gen = set->gen;
	server_set_unref(set);
	return 0;
}

static void
health_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hc_pool *hp = arg;
	size_t i;

	if (health_sync(hp, NULL) == -1)
		log_warnx("health: %s: out of memory", hp->pool->conf->name);
	for (i = 0; i < hp->n; i++)
		health_check_start(hp->checks[i]);
}

static void
health_pools_free(struct hc_pool *hps, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < hps[i].n; j++)
			health_check_free(hps[i].checks[j]);
		free(hps[i].checks);
		if (hps[i].tick != NULL)
			event_free(hps[i].tick);
	}
	free(hps);
}

/* In the thread: switch to pools p (the pending reference moves here). */
static void
health_apply(struct pools *p)
{
	struct hc_pool *hps = NULL, *old;
	struct timeval tv;
	size_t i, j, n = 0;

	if (p != NULL && p->n > 0 &&
	    (hps = calloc(p->n, sizeof(*hps))) == NULL) {
		log_warnx("health: out of memory; checks keep the old pools");
		pools_unref(p);
		return;
	}
	for (i = 0; p != NULL && i < p->n; i++) {
		if (!p->pools[i].conf->health.enabled)
			continue;
		hps[n].pool = &p->pools[i];
		old = NULL;
		for (j = 0; j < health.n_pools; j++)
			if (strcmp(health.pools[j].pool->conf->name,
			    p->pools[i].conf->name) == 0)
				old = &health.pools[j];
		hps[n].tick = event_new(health.base, -1, EV_PERSIST,
		    health_tick_cb, &hps[n]);
		if (hps[n].tick == NULL || health_sync(&hps[n], old) == -1) {
			log_warnx("health: %s: out of memory, no checks",
			    p->pools[i].conf->name);
			if (hps[n].tick != NULL)
				event_free(hps[n].tick);
			memset(&hps[n], 0, sizeof(hps[n]));
			continue;
		}
		health_ms(&tv, p->pools[i].conf->health.interval_ms ?
		    p->pools[i].conf->health.interval_ms : 2000);
		event_add(hps[n].tick, &tv);
		event_active(hps[n].tick, EV_TIMEOUT, 0);	/* check now */
		n++;
	}
	health_pools_free(health.pools, health.n_pools);
	health.pools = hps;
	health.n_pools = n;
	resolve_apply(health.resolve, p);
	pools_unref(health.cur);
	health.cur = p;
}

static void
health_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pools *p;
	uint64_t v;
	bool stop;

	if (read(fd, &v, sizeof(v)) == -1 && errno != EAGAIN)
		log_warn("health: eventfd");
	pthread_mutex_lock(&health.lock);
	p = health.pending;
	health.pending = NULL;
	stop = health.stop;
	pthread_mutex_unlock(&health.lock);
	if (stop) {
		pools_unref(p);
		event_base_loopbreak(health.base);
		return;
	}
	if (p != NULL)
		health_apply(p);
}

static void
health_reclaim_cb(evutil_socket_t fd, short what, void *arg)
{
	pool_reclaim(false);
}

static void *
health_main(void *arg)
{
	event_base_loop(health.base, EVLOOP_NO_EXIT_ON_EMPTY);
	/* stopping: cancel everything, let libevent run the callbacks */
	health_pools_free(health.pools, health.n_pools);
	health.pools = NULL;
	health.n_pools = 0;
	resolve_free(health.resolve);
	health.resolve = NULL;
	return NULL;
}

static void
health_wake(void)
{
	uint64_t one = 1;

	if (write(health.wake_fd, &one, sizeof(one)) == -1)
		log_warn("health: eventfd");
}

int
health_start(struct pools *p)
{
	struct timeval tv;

	if (health.running)
		return -1;
	if ((health.base = event_base_new()) == NULL)
		goto fail;
	if ((health.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		goto fail;
	health.wake = event_new(health.base, health.wake_fd,
	    EV_READ | EV_PERSIST, health_wake_cb, NULL);
	health.reclaim = event_new(health.base, -1, EV_PERSIST,
	    health_reclaim_cb, NULL);
	if (health.wake == NULL || health.reclaim == NULL ||
	    event_add(health.wake, NULL) == -1)
		goto fail;
	health_ms(&tv, HEALTH_RECLAIM_MS);
	event_add(health.reclaim, &tv);
	if ((health.resolve = resolve_new(health.base)) == NULL)
		goto fail;
	health.stop = false;
	pools_ref(p);
	health.pending = p;
	if (pthread_create(&health.thread, NULL, health_main, NULL) != 0) {
		health.pending = NULL;
		pools_unref(p);
		goto fail;
	}
	health.running = true;
	health_wake();
	return 0;
fail:
	log_warnx("health: cannot start the control thread");
	resolve_free(health.resolve);
	health.resolve = NULL;
	if (health.wake != NULL)
		event_free(health.wake);
	if (health.reclaim != NULL)
		event_free(health.reclaim);
	health.wake = health.reclaim = NULL;
	if (health.wake_fd != -1)
		close(health.wake_fd);
	health.wake_fd = -1;
	if (health.base != NULL)
		event_base_free(health.base);
	health.base = NULL;
	return -1;
}

void
health_update(struct pools *p)
{
	struct pools *old;

	if (!health.running)
		return;
	pools_ref(p);
	pthread_mutex_lock(&health.lock);
	old = health.pending;
	health.pending = p;
	pthread_mutex_unlock(&health.lock);
	pools_unref(old);
	health_wake();
}

void
health_stop(void)
{
	if (!health.running)
		return;
	pthread_mutex_lock(&health.lock);
	health.stop = true;
	pthread_mutex_unlock(&health.lock);
	health_wake();
	pthread_join(health.thread, NULL);
	health.running = false;
	pools_unref(health.pending);
	health.pending = NULL;
	pools_unref(health.cur);
	health.cur = NULL;
	event_free(health.wake);
	event_free(health.reclaim);
	health.wake = health.reclaim = NULL;
	close(health.wake_fd);
	health.wake_fd = -1;
	event_base_free(health.base);
	health.base = NULL;
	pool_reclaim(true);
}
