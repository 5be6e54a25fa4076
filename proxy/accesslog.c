/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * accesslog.c — see accesslog.h.
 */
#include "proxy/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "proxy/exchange.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"

struct al_chunk {
	struct al_chunk *next;
	size_t len;
	char data[];
};

struct accesslog_buf {
	struct worker *w;
	char *data;
	size_t len;
	struct event *timer;
	bool timer_armed;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running;
	bool stop;
	bool reopen;
	char *path;			/* guarded by mu */
	int fd;				/* writer thread only */
	int new_fd;			/* opened by accesslog_configure, -2 = none */
	struct al_chunk *head, *tail;
	size_t queued;
	atomic_bool enabled;
	uint64_t dropped;
} al = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
	.fd = -1, .new_fd = -2 };

static int
al_open(const char *path)
{
	if (path == NULL)
		return -1;
	if (strcmp(path, "-") == 0)
		return dup(STDERR_FILENO);
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

static void
al_write_all(int fd, const char *p, size_t n)
{
	while (n > 0 && fd >= 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void *
al_thread(void *arg)
{
	struct al_chunk *c;
	char *path = NULL;

	(void)arg;
	pthread_mutex_lock(&al.mu);
	for (;;) {
		while (al.head == NULL && !al.stop && !al.reopen &&
		    al.new_fd == -2)
			pthread_cond_wait(&al.cv, &al.mu);
		if (al.new_fd != -2) {
			/* a new file from accesslog_configure */
			int fd = al.new_fd;

			al.new_fd = -2;
			free(path);
			path = al.path ? strdup(al.path) : NULL;
			pthread_mutex_unlock(&al.mu);
			if (al.fd >= 0)
				close(al.fd);
			al.fd = fd;
			pthread_mutex_lock(&al.mu);
			continue;
		}
		if (al.reopen) {
			al.reopen = false;
			free(path);
			path = al.path ? strdup(al.path) : NULL;
			pthread_mutex_unlock(&al.mu);
			if (al.fd >= 0)
				close(al.fd);
			if ((al.fd = al_open(path)) == -1 && path != NULL)
				log_warn("access log %s", path);
			pthread_mutex_lock(&al.mu);
			continue;
		}
		if (al.head == NULL && al.stop)
			break;
		c = al.head;
		al.head = NULL;
		al.tail = NULL;
		al.queued = 0;
		if (al.dropped) {
			log_warnx("access log: %llu lines' worth of buffers "
			    "dropped (the disk is too slow)",
			    (unsigned long long)al.dropped);
			al.dropped = 0;
		}
		pthread_mutex_unlock(&al.mu);
		while (c != NULL) {
			struct al_chunk *n = c->next;
			al_write_all(al.fd, c->data, c->len);
			free(c);
			c = n;
		}
		pthread_mutex_lock(&al.mu);
	}
	pthread_mutex_unlock(&al.mu);
	if (al.fd >= 0)
		close(al.fd);
	al.fd = -1;
	free(path);
	return NULL;
}

int
accesslog_configure(const char *path)
{
	bool changed;
	int fd = -1;

	if (path != NULL && strcmp(path, "off") == 0)
		path = NULL;
	pthread_mutex_lock(&al.mu);
	changed = (path == NULL) != (al.path == NULL) ||
	    (path != NULL && strcmp(path, al.path) != 0);
	pthread_mutex_unlock(&al.mu);
	/* Opened here, by the caller (still privileged at startup). */
	if (changed && path != NULL && (fd = al_open(path)) == -1) {
		log_warn("access log %s", path);
		return -1;
	}
	pthread_mutex_lock(&al.mu);
	if (changed) {
		free(al.path);
		al.path = path ? strdup(path) : NULL;
		if (al.new_fd >= 0)
			close(al.new_fd);
		al.new_fd = fd;
		pthread_cond_signal(&al.cv);
	}
	if (!al.running) {
		al.stop = false;
		if (pthread_create(&al.thread, NULL, al_thread, NULL) != 0) {
			pthread_mutex_unlock(&al.mu);
			return -1;
		}
		al.running = true;
	}
	atomic_store(&al.enabled, path != NULL);
	pthread_mutex_unlock(&al.mu);
	return 0;
}

void
accesslog_reopen(void)
{
	pthread_mutex_lock(&al.mu);
	al.reopen = true;
	pthread_cond_signal(&al.cv);
	pthread_mutex_unlock(&al.mu);
}

void
accesslog_shutdown(void)
{
	pthread_mutex_lock(&al.mu);
	if (!al.running) {
		pthread_mutex_unlock(&al.mu);
		return;
	}
	al.stop = true;
	pthread_cond_signal(&al.cv);
	pthread_mutex_unlock(&al.mu);
	pthread_join(al.thread, NULL);
	pthread_mutex_lock(&al.mu);
	al.running = false;
	if (al.new_fd >= 0)
		close(al.new_fd);
	al.new_fd = -2;
	free(al.path);
	al.path = NULL;
	pthread_mutex_unlock(&al.mu);
}

/* ---- worker side ------------------------------------------------------ */

void
accesslog_flush(struct accesslog_buf *b)
{
	struct al_chunk *c;

	if (b == NULL || b->len == 0)
		return;
	c = malloc(sizeof(*c) + b->len);
	if (c != NULL) {
		memcpy(c->data, b->data, b->len);
		c->len = b->len;
		c->next = NULL;
	}
	pthread_mutex_lock(&al.mu);
	if (c != NULL && al.queued + c->len > ACCESSLOG_QUEUE_MAX) {
		al.dropped++;
		free(c);
		c = NULL;
	}
	if (c != NULL) {
		if (al.tail)
			al.tail->next = c;
		else
			al.head = c;
		al.tail = c;
		al.queued += c->len;
		pthread_cond_signal(&al.cv);
	}
	pthread_mutex_unlock(&al.mu);
	b->len = 0;
}

static void
al_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct accesslog_buf *b = arg;

	b->timer_armed = false;
	accesslog_flush(b);
}

struct accesslog_buf *
accesslog_buf_new(struct worker *w)
{
	struct accesslog_buf *b;

	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->data = malloc(ACCESSLOG_BUF_SIZE)) == NULL ||
	    (b->timer = evtimer_new(w->base, al_timer_cb, b)) == NULL) {
		if (b)
			free(b->data);
		free(b);
		return NULL;
	}
	b->w = w;
	return b;
}

void
accesslog_buf_free(struct accesslog_buf *b)
{
	if (b == NULL)
		return;
	accesslog_flush(b);
	event_free(b->timer);
	free(b->data);
	free(b);
}

/* JSON string body: escapes quotes, backslashes and control bytes. */
static size_t
al_json(char *o, size_t cap, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t k = 0;

	for (size_t i = 0; i < n && k + 6 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			o[k++] = '\\';
			o[k++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o[k++] = '\\';
			o[k++] = 'u';
			o[k++] = '0';
			o[k++] = '0';
			o[k++] = hex[c >> 4];
			o[k++] = hex[c & 15];
		} else {
			o[k++] = (char)c;
		}
	}
	return k;
}

/* Text form: no spaces or quotes inside a field. */
static size_t
al_text(char *o, size_t cap, const char *s, size_t n)
{
	size_t k = 0;

	if (n == 0 && cap > 1) {
		o[k++] = '-';
		return k;
	}
	for (size_t i = 0; i < n && k + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		o[k++] = (c <= 0x20 || c == '"' || c >= 0x7f) ? '_' : (char)c;
	}
	return k;
}

void
accesslog_exchange(struct worker *w, const struct exchange *x)
{
	struct accesslog_buf *b = w->alog;
	const struct conf_global *g = &x->conf->global;
	char line[4096], ts[40], f[6][1200];
	size_t fl[6];
	struct timeval tv;
	struct tm tm;
	double dur;
	int n;
	const char *route = "-";
	char rbuf[300], rq[620];
	size_t rql;
	bool json = g->access_log_format == LOG_FMT_JSON;
	size_t (*esc)(char *, size_t, const char *, size_t) =
	    json ? al_json : al_text;

	if (b == NULL || !atomic_load_explicit(&al.enabled,
	    memory_order_relaxed) || x->method == NULL)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, 24, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%03uZ",
	    (unsigned)(tv.tv_usec / 1000) % 1000);
	dur = (double)(worker_now_ns() - x->start_ns) / 1e6;
	if (x->route != NULL) {
		/* a route is named by its first host and its path */
		snprintf(rbuf, sizeof(rbuf), "%s%s", x->route->n_hosts ?
		    x->route->hosts[0] : "*", x->route->path ? x->route->path :
		    "/");
		route = rbuf;
	}
	rql = esc(rq, sizeof(rq), route, strlen(route));
	fl[0] = esc(f[0], sizeof(f[0]), x->host ? x->host : "",
	    x->host ? x->host_len : 0);
	fl[1] = esc(f[1], sizeof(f[1]), x->method, x->method_len);
	fl[2] = esc(f[2], sizeof(f[2]), x->path ? x->path : "",
	    x->path ? x->path_len : 0);
	fl[3] = esc(f[3], sizeof(f[3]), x->request_id, x->request_id_len);
	fl[4] = esc(f[4], sizeof(f[4]), x->pool ? x->route->pool_name : "",
	    x->pool ? strlen(x->route->pool_name) : 0);
	fl[5] = esc(f[5], sizeof(f[5]), x->upstream_name ? x->upstream_name :
	    "", x->upstream_name ? strlen(x->upstream_name) : 0);
	if (json)
		n = snprintf(line, sizeof(line),
		    "{\"time\":\"%s\",\"client\":\"%s\",\"host\":\"%.*s\","
		    "\"method\":\"%.*s\",\"path\":\"%.*s\",\"status\":%d,"
		    "\"bytes_in\":%llu,\"bytes_out\":%llu,\"duration_ms\":%.3f,"
		    "\"route\":%s%.*s%s,\"pool\":%s%.*s%s,\"upstream\":%s%.*s%s,"
		    "\"request_id\":\"%.*s\"}\n",
		    ts, x->client_ip, (int)fl[0], f[0], (int)fl[1], f[1],
		    (int)fl[2], f[2], x->status,
		    (unsigned long long)x->bytes_in_wire,
		    (unsigned long long)x->bytes_out, dur,
		    x->route ? "\"" : "null", x->route ? (int)rql : 0, rq,
		    x->route ? "\"" : "",
		    x->pool ? "\"" : "null", (int)fl[4], f[4], x->pool ? "\"" : "",
		    x->upstream_name ? "\"" : "null", (int)fl[5], f[5],
		    x->upstream_name ? "\"" : "",
		    (int)fl[3], f[3]);
	else
		n = snprintf(line, sizeof(line),
		    "%s %s %.*s \"%.*s %.*s\" %d %llu %llu %.3f route=%.*s "
		    "pool=%.*s upstream=%.*s id=%.*s\n",
		    ts, x->client_ip[0] ? x->client_ip : "-", (int)fl[0], f[0],
		    (int)fl[1], f[1], (int)fl[2], f[2], x->status,
		    (unsigned long long)x->bytes_in_wire,
		    (unsigned long long)x->bytes_out, dur, (int)rql, rq,
		    fl[4] ? (int)fl[4] : 1, fl[4] ? f[4] : "-",
		    fl[5] ? (int)fl[5] : 1, fl[5] ? f[5] : "-",
		    (int)fl[3], f[3]);
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (b->len + (size_t)n > ACCESSLOG_BUF_SIZE)
		accesslog_flush(b);
	memcpy(b->data + b->len, line, (size_t)n);
	b->len += (size_t)n;
	if (!b->timer_armed) {
		struct timeval t = { 0, ACCESSLOG_FLUSH_MS * 1000 };
		evtimer_add(b->timer, &t);
		b->timer_armed = true;
	}
}
