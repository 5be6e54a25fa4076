/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tlsio.c — see tlsio.h.
 *
 * The SSL gets one BIO of ours for both directions:
 *   read   serves the bytes of the current read pass (and, rarely, bytes
 *          kept from an earlier pass), then says "retry": OpenSSL never
 *          makes a system call of its own to read;
 *   write  send(2) of each record, "retry" on EAGAIN;
 *   ctrl   no file descriptor (BIO_get_fd is -1), so freeing the
 *          handshake's bufferevent_openssl, which closes the descriptor
 *          of its SSL's write BIO, closes nothing.
 * OpenSSL keeps a partial record in its own buffer and asks for the rest
 * on the next pass, so a pass only keeps raw bytes when SSL_read stops
 * early (it wants to write first, a close_notify or an error).
 *
 * The two events of the socket bufferevent are reached through the public
 * struct in event2/bufferevent_struct.h, as rawread.c does; each callback
 * mirrors libevent 2.1's bufferevent_readcb / bufferevent_writecb
 * (watermarks, max single read/write, EOF, timeouts, error events).
 */
#include "proxy/tlsio.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <openssl/bio.h>
#include <openssl/err.h>

#include "proxy/rawread.h"
#include "proxy/tls.h"

/* Raw bytes per read(2): two full records and more; what they decrypt to
 * (less) may go past the read high watermark, by at most this much. */
#define TLSIO_RAW (32 * 1024)

#define TLSIO_GOT 1		/* plaintext added to the input */
#define TLSIO_EOF 2		/* close_notify */
#define TLSIO_ERR 4		/* TLS error or no memory */

struct tlsio {
	struct bufferevent *bev;
	SSL *ssl;
	BIO *bio;
	evutil_socket_t fd;
	const unsigned char *rp;	/* this pass's raw bytes left */
	size_t rn;
	unsigned char *keep;		/* raw bytes kept for the next pass */
	size_t keep_off, keep_n;
	int write_len;			/* a blocked SSL_write, repeated as is */
	bool read_wants_write;		/* SSL_read stopped to write first */
};

static _Thread_local unsigned char tlsio_raw[TLSIO_RAW];

static pthread_once_t method_once = PTHREAD_ONCE_INIT;
static BIO_METHOD *tlsio_method;

static void tlsio_read_cb(evutil_socket_t fd, short what, void *arg);
static void tlsio_write_cb(evutil_socket_t fd, short what, void *arg);

/* ---- the BIO ----------------------------------------------------------- */

static int
tlsio_bio_read(BIO *b, char *out, int len)
{
	struct tlsio *t = BIO_get_data(b);
	size_t n;

	BIO_clear_retry_flags(b);
	if (t == NULL || len <= 0)
		return -1;
	if (t->keep_n > 0) {
		n = t->keep_n < (size_t)len ? t->keep_n : (size_t)len;
		memcpy(out, t->keep + t->keep_off, n);
		t->keep_off += n;
		t->keep_n -= n;
		return (int)n;
	}
	if (t->rn > 0) {
		n = t->rn < (size_t)len ? t->rn : (size_t)len;
		memcpy(out, t->rp, n);
		t->rp += n;
		t->rn -= n;
		return (int)n;
	}
	BIO_set_retry_read(b);
	return -1;
}

static int
tlsio_bio_write(BIO *b, const char *in, int len)
{
	struct tlsio *t = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (t == NULL || len < 0)
		return -1;
	n = send(t->fd, in, (size_t)len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		BIO_set_retry_write(b);
	return (int)n;
}

static long
tlsio_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tlsio *t = BIO_get_data(b);

	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_C_GET_FD:
		return -1;	/* see the header comment */
	case BIO_CTRL_PENDING:
		return t != NULL ? (long)(t->keep_n + t->rn) : 0;
	default:
		return 0;
	}
}

static int
tlsio_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int
tlsio_bio_destroy(BIO *b)
{
	return 1;	/* the data is the tlsio's, freed by tlsio_free */
}

static void
tlsio_method_init(void)
{
	BIO_METHOD *m;

	m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "limen tlsio");
	if (m == NULL)
		return;
	if (!BIO_meth_set_read(m, tlsio_bio_read) ||
	    !BIO_meth_set_write(m, tlsio_bio_write) ||
	    !BIO_meth_set_ctrl(m, tlsio_bio_ctrl) ||
	    !BIO_meth_set_create(m, tlsio_bio_create) ||
	    !BIO_meth_set_destroy(m, tlsio_bio_destroy)) {
		BIO_meth_free(m);
		return;
	}
	tlsio_method = m;
}

/* ---- reading ----------------------------------------------------------- */

/*
 * The tlsio of bev: the argument of its write event.  The read event's
 * argument must stay the bufferevent itself: when no event of the
 * bufferevent is running, libevent finalizes it through its read event
 * and hands that event's argument to the finalizer as the bufferevent.
 * (The write event only runs its own finalizer when bufferevent_free is
 * called from inside it, and tlsio_write_cb never runs a user callback:
 * they are all deferred.)
 */
static struct tlsio *
tlsio_of(struct bufferevent *bev)
{
	if (bev == NULL || event_get_callback(&bev->ev_write) != tlsio_write_cb)
		return NULL;
	return event_get_callback_arg(&bev->ev_write);
}

/* Keep the pass's unread raw bytes for the next one (rare: SSL_read
 * stopped before it had used them). */
static int
tlsio_keep(struct tlsio *t)
{
	unsigned char *p;

	if (t->keep_n == 0) {
		free(t->keep);
		t->keep = NULL;
		t->keep_off = 0;
	}
	if (t->rn == 0)
		return 0;
	if ((p = malloc(t->keep_n + t->rn)) == NULL)
		return -1;
	if (t->keep_n > 0)
		memcpy(p, t->keep + t->keep_off, t->keep_n);
	memcpy(p + t->keep_n, t->rp, t->rn);
	free(t->keep);
	t->keep = p;
	t->keep_off = 0;
	t->keep_n += t->rn;
	t->rn = 0;
	return 0;
}

/* SSL_read every record the raw bytes complete, into the input. */
static int
tlsio_decrypt(struct tlsio *t)
{
	struct bufferevent *bev = t->bev;
	struct evbuffer *in = bev->input;
	struct evbuffer_iovec v;
	int r, rc = 0;

	ERR_clear_error();
	/* the socket bufferevent keeps its input's end frozen outside its
	 * own reads; thaw it for ours, as rawread.c does */
	evbuffer_unfreeze(in, 0);
	for (;;) {
		if (evbuffer_reserve_space(in, TLS_RECORD_MAX, &v, 1) != 1) {
			rc |= TLSIO_ERR;
			break;
		}
		r = SSL_read(t->ssl, v.iov_base,
		    v.iov_len > INT_MAX ? INT_MAX : (int)v.iov_len);
		if (r > 0) {
			v.iov_len = (size_t)r;
			evbuffer_commit_space(in, &v, 1);
			rc |= TLSIO_GOT;
			/* more only if bytes are left to decrypt (no
			 * second reservation for a pass of one record) */
			if (t->rn > 0 || t->keep_n > 0 || SSL_pending(t->ssl) > 0)
				continue;
			break;
		}
		evbuffer_commit_space(in, &v, 0);
		switch (SSL_get_error(t->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			break;
		case SSL_ERROR_WANT_WRITE:
			/* a reply (key update) waits for a writable socket */
			t->read_wants_write = true;
			(void)event_add(&bev->ev_write,
			    evutil_timerisset(&bev->timeout_write) ?
			    &bev->timeout_write : NULL);
			break;
		case SSL_ERROR_ZERO_RETURN:
			rc |= TLSIO_EOF;
			break;
		default:
			rc |= TLSIO_ERR;
			break;
		}
		break;
	}
	evbuffer_freeze(in, 0);
	if (rc & (TLSIO_EOF | TLSIO_ERR)) {
		ERR_clear_error();
		t->rn = 0;
	} else if (tlsio_keep(t) == -1) {
		rc |= TLSIO_ERR;
	}
	t->rp = NULL;
	t->rn = 0;
	return rc;
}

/* After a decrypt pass: callbacks and, on EOF or error, the event. */
static void
tlsio_after_read(struct tlsio *t, int rc)
{
	struct bufferevent *bev = t->bev;
	short ev = BEV_EVENT_READING;

	if (rc & TLSIO_GOT)
		bufferevent_trigger(bev, EV_READ, 0);	/* honours low mark */
	if (!(rc & (TLSIO_EOF | TLSIO_ERR)))
		return;
	ev |= (rc & TLSIO_ERR) ? BEV_EVENT_ERROR : BEV_EVENT_EOF;
	bufferevent_disable(bev, EV_READ);
	bufferevent_trigger_event(bev, ev, 0);
}

static void
tlsio_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bufferevent *bev = arg;
	struct tlsio *t = tlsio_of(bev);
	size_t low = 0, high = 0, want;
	ssize_t n;
	short ev = BEV_EVENT_READING;

	if (what == EV_TIMEOUT) {	/* EV_TIMEOUT|EV_READ: bytes came */
		ev |= BEV_EVENT_TIMEOUT;
		goto stop;
	}
	if ((want = rawread_budget(bev, TLSIO_RAW)) == 0) {
		/* at the mark: suspend as libevent does (see rawread.c) */
		bufferevent_getwatermark(bev, EV_READ, &low, &high);
		bufferevent_setwatermark(bev, EV_READ, low, high);
		return;
	}
	n = read(fd, tlsio_raw, want);
	if (n > 0) {
		t->rp = tlsio_raw;
		t->rn = (size_t)n;
		tlsio_after_read(t, tlsio_decrypt(t));
		return;
	}
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		ev |= BEV_EVENT_ERROR;
	} else {
		ev |= BEV_EVENT_EOF;
	}
stop:
	bufferevent_disable(bev, EV_READ);
	bufferevent_trigger_event(bev, ev, 0);
}

/* ---- writing ----------------------------------------------------------- */

/* SSL_write the output, one record per call, until it is empty, the
 * socket is full or max single write is reached.  Bytes written, or -1. */
static ssize_t
tlsio_write(struct tlsio *t)
{
	struct bufferevent *bev = t->bev;
	struct evbuffer *out = bev->output;
	ev_ssize_t max = bufferevent_get_max_single_write(bev);
	ssize_t total = 0;
	size_t len;
	int n, r;
	unsigned char *p;

	ERR_clear_error();
	/* the socket bufferevent keeps its output's front frozen outside
	 * its own writes; thaw it for ours, as flush.c does */
	evbuffer_unfreeze(out, 1);
	while ((len = evbuffer_get_length(out)) > 0 &&
	    (max <= 0 || total < max)) {
		n = t->write_len ? t->write_len :
		    (int)(len < TLS_RECORD_MAX ? len : TLS_RECORD_MAX);
		if ((p = evbuffer_pullup(out, n)) == NULL) {
			total = -1;
			break;
		}
		r = SSL_write(t->ssl, p, n);
		if (r > 0) {
			evbuffer_drain(out, (size_t)r);
			total += r;
			t->write_len = 0;
			continue;
		}
		switch (SSL_get_error(t->ssl, r)) {
		case SSL_ERROR_WANT_WRITE:
		case SSL_ERROR_WANT_READ:
			t->write_len = n;	/* the same call again */
			break;
		default:
			ERR_clear_error();
			total = -1;
			break;
		}
		break;
	}
	evbuffer_freeze(out, 1);
	return total;
}

int
tlsio_flush(struct bufferevent *bev)
{
	struct tlsio *t = tlsio_of(bev);

	return t != NULL && tlsio_write(t) >= 0 ? 0 : -1;
}

static void
tlsio_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tlsio *t = arg;
	struct bufferevent *bev = t->bev;
	short ev = BEV_EVENT_WRITING;
	ssize_t n;

	if (what == EV_TIMEOUT) {
		ev |= BEV_EVENT_TIMEOUT;
		goto stop;
	}
	if (t->read_wants_write) {
		t->read_wants_write = false;
		tlsio_after_read(t, tlsio_decrypt(t));
	}
	if ((n = tlsio_write(t)) < 0) {
		ev |= BEV_EVENT_ERROR;
		goto stop;
	}
	if (evbuffer_get_length(bev->output) == 0 && !t->read_wants_write)
		event_del(&bev->ev_write);
	if (n > 0)
		bufferevent_trigger(bev, EV_WRITE, 0);	/* honours low mark */
	return;
stop:
	bufferevent_disable(bev, EV_WRITE);
	bufferevent_trigger_event(bev, ev, 0);
}

/* ---- life -------------------------------------------------------------- */

struct bufferevent *
tlsio_adopt(struct bufferevent *hs, int options)
{
	SSL *ssl = bufferevent_openssl_get_ssl(hs);
	evutil_socket_t fd = bufferevent_getfd(hs);
	struct event_base *base = bufferevent_get_base(hs);
	struct bufferevent *bev = NULL;
	struct evbuffer *in;
	struct tlsio *t = NULL;
	BIO *bio = NULL;
	int rc;

	pthread_once(&method_once, tlsio_method_init);
	if (ssl == NULL || fd < 0 || tlsio_method == NULL ||
	    (t = calloc(1, sizeof(*t))) == NULL ||
	    (bio = BIO_new(tlsio_method)) == NULL ||
	    (bev = bufferevent_socket_new(base, fd, options |
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)) == NULL)
		goto fail;
	bufferevent_disable(hs, EV_READ | EV_WRITE);
	/* a request that came with the handshake's last flight */
	in = bufferevent_get_input(bev);
	evbuffer_unfreeze(in, 0);
	rc = evbuffer_add_buffer(in, bufferevent_get_input(hs));
	evbuffer_freeze(in, 0);
	if (rc == -1)
		goto fail;

	t->bev = bev;
	t->ssl = ssl;
	t->bio = bio;
	t->fd = fd;
	BIO_set_data(bio, t);
	SSL_up_ref(ssl);		/* hs drops its own reference */
	SSL_set_bio(ssl, bio, bio);	/* frees hs's socket BIO (no close) */
	SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	    SSL_MODE_ENABLE_PARTIAL_WRITE);
	event_assign(&bev->ev_read, base, fd, EV_READ | EV_PERSIST |
	    EV_FINALIZE, tlsio_read_cb, bev);
	event_assign(&bev->ev_write, base, fd, EV_WRITE | EV_PERSIST |
	    EV_FINALIZE, tlsio_write_cb, t);
	bufferevent_free(hs);	/* our BIO has no fd: the socket stays */
	return bev;
fail:
	BIO_free(bio);
	free(t);
	if (bev != NULL) {
		bufferevent_setfd(bev, -1);	/* hs closes the socket */
		bufferevent_free(bev);
	}
	bufferevent_free(hs);
	return NULL;
}

SSL *
tlsio_ssl(struct bufferevent *bev)
{
	struct tlsio *t = tlsio_of(bev);

	if (t != NULL)
		return t->ssl;
	return bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
}

void
tlsio_free(struct bufferevent *bev)
{
	struct tlsio *t = tlsio_of(bev);

	if (t == NULL) {
		if (bev != NULL)
			bufferevent_free(bev);
		return;
	}
	/* no callback of ours may run from here on (the bufferevent itself
	 * may live on until its deferred callbacks are done) */
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	event_del(&bev->ev_write);
	bufferevent_free(bev);
	BIO_set_data(t->bio, NULL);
	SSL_free(t->ssl);
	free(t->keep);
	free(t);
}
