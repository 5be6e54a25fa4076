/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tls.h — the TLS side of a listener (SPEC §4): one SSL_CTX per TLS
 * listener, built from its `tls:` section.
 *
 * Policy: TLS 1.2 and 1.3 only (min_version from the configuration), the
 * Mozilla "intermediate" cipher suites and groups (guidelines 6.0), the
 * client's cipher order (as Mozilla says), no compression, no
 * renegotiation, no 0-RTT.  Certificates come from a certstore chosen by
 * SNI at handshake time, ECDSA and RSA side by side.  ALPN: `acme-tls/1`
 * when the ACME hook has a challenge certificate for the name, else `h2`
 * (listeners with http2), else `http/1.1`.  Session resumption by tickets
 * whose keys come from a tls_keyring shared by every context of the
 * process; no server-side session cache.
 *
 * The SSL_CTX returned by tls_ctx_new() is an ordinary OpenSSL object:
 * the runtime makes SSL objects from it (or uses tls_bufferevent_accept)
 * and frees it with SSL_CTX_free().  Everything limen hangs on it (store
 * and keyring references, the ACME hook) is released when OpenSSL frees
 * the context, i.e. after the last connection made from it is gone, so a
 * reload can drop its reference while old connections still run.
 */
#ifndef LIMEN_PROXY_TLS_H
#define LIMEN_PROXY_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "conf/config.h"
#include "proxy/certstore.h"

/* The protocol negotiated by ALPN. */
enum tls_alpn {
	TLS_ALPN_NONE,		/* client sent no ALPN we support: HTTP/1.1 */
	TLS_ALPN_HTTP11,
	TLS_ALPN_H2,
	TLS_ALPN_ACME,		/* acme-tls/1: answer nothing, close */
};

/* Mozilla intermediate (guidelines 6.0), OpenSSL names. */
#define TLS_CIPHERS_TLS12 \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_CIPHERS_TLS13 \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256"
/* Groups: the hybrid post-quantum one first where OpenSSL has it. */
#define TLS_GROUPS_PQ	"X25519MLKEM768:X25519:prime256v1:secp384r1"
#define TLS_GROUPS	"X25519:prime256v1:secp384r1"

/* Default ticket key rotation: a ticket stays valid 12 to 24 hours. */
#define TLS_TICKET_ROTATE_MS (12ULL * 3600 * 1000)

/* ---- ticket keys -------------------------------------------------------- */

/*
 * The process-wide ring of session ticket keys: a current key that
 * encrypts (and decrypts) and the previous one that only decrypts (the
 * client then gets a fresh ticket).  Keys are random, live only in
 * memory, and rotate every rotate_ms, checked at each ticket operation.
 * Readers copy a key under a sequence counter and never take a lock;
 * only a rotation takes a mutex.  A ticket thus resumes for one to two
 * rotation periods, and the session lifetime is set to one period.
 */
struct tls_keyring;

struct tls_keyring *tls_keyring_new(uint64_t rotate_ms);
void tls_keyring_ref(struct tls_keyring *r);
void tls_keyring_unref(struct tls_keyring *r);
/* Rotate now (tests; also fine from a timer).  0 or -1 (no randomness). */
int tls_keyring_rotate(struct tls_keyring *r);
/* How many keys the ring has made so far (the first counts). */
uint64_t tls_keyring_generation(struct tls_keyring *r);

/* ---- listener contexts -------------------------------------------------- */

/*
 * The TLS-ALPN-01 hook (RFC 8737): given the SNI name of a handshake that
 * offers `acme-tls/1`, return the challenge certificate for it with a new
 * reference, or NULL when no challenge is pending for that name.  Called
 * on worker threads during handshakes: it must be thread-safe and must
 * not block.
 */
typedef struct cert_bundle *tls_acme_alpn_fn(const char *servername,
    void *arg);

/*
 * The context for listener l (l->tls.enabled): protocol range from
 * l->tls.min_version, ALPN h2 iff l->http2, certificates from store,
 * ticket keys from ring (both referenced, never copied).  Returns NULL
 * with the reason in err.
 */
SSL_CTX *tls_ctx_new(const struct conf_listener *l, struct certstore *store,
    struct tls_keyring *ring, char *err, size_t errlen);

/*
 * Set the ACME hook of ctx.  Call before the context serves handshakes
 * (right after tls_ctx_new); fn NULL turns acme-tls/1 off.
 */
void tls_ctx_set_acme_hook(SSL_CTX *ctx, tls_acme_alpn_fn *fn, void *arg);

/* The store and keyring of a context made by tls_ctx_new (borrowed). */
struct certstore *tls_ctx_store(SSL_CTX *ctx);

/*
 * A bufferevent running the server side of a TLS handshake on the
 * accepted socket fd, with a new SSL from ctx.  options as for
 * bufferevent_socket_new (BEV_OPT_CLOSE_ON_FREE closes fd and frees the
 * SSL with the bufferevent).  The handshake ends with BEV_EVENT_CONNECTED
 * or BEV_EVENT_ERROR on the event callback; the caller sets callbacks and
 * a handshake timeout (bufferevent_set_timeouts) and enables reading.
 * Dirty shutdowns (no close_notify) are allowed: HTTP frames its own
 * messages.  NULL on failure (fd is then not closed).
 */
struct bufferevent *tls_bufferevent_accept(SSL_CTX *ctx,
    struct event_base *base, evutil_socket_t fd, int options);

/*
 * Send a TLS close_notify on bev (a bufferevent from
 * tls_bufferevent_accept) whose output buffer is empty, right to its
 * socket, so the client can tell our close from a truncation.  Does
 * nothing on a plain bufferevent or when the alert cannot go out at once.
 */
void tls_bufferevent_close_notify(struct bufferevent *bev);

/*
 * With nothing to send: take bev's write event off the event loop, where
 * bufferevent_openssl_socket_new, the end of the handshake (libevent's
 * set_open_callbacks) and bufferevent_enable(EV_WRITE) put it.  During
 * the handshake, libevent puts it back when a write would block; after
 * it, with EV_WRITE still enabled, as soon as output is added (and takes
 * it off again once the output is empty): the same states, reached
 * without an epoll_ctl pair and a wakeup for an empty write.
 */
void tls_bufferevent_write_idle(struct bufferevent *bev);

/*
 * Have bev's output written in this loop pass, after the callbacks
 * already queued, instead of after an epoll_wait that says the socket is
 * writable (bufferevent_openssl waits for that: its output callback only
 * registers the write event).  The write event registered and dropped in
 * the same pass costs no epoll_ctl either (the worker's changelist).  A
 * write that would block leaves the write event registered, as before.
 */
void tls_bufferevent_write_soon(struct bufferevent *bev);

/* Whether bev's SSL holds received bytes not yet read through it (a
 * partial or unread record); false on a plain bufferevent. */
bool tls_bufferevent_pending(struct bufferevent *bev);

/* The largest TLS record's plaintext: one SSL_read never returns more,
 * so a bufferevent_openssl reads at most this much at a time (a larger
 * reservation only makes libevent malloc, and glibc mmap, a huge input
 * chain per read), and its output is coalesced to this. */
#define TLS_RECORD_MAX 16384

/* Make the head of a bufferevent_openssl's output (up to one full TLS
 * record) contiguous.  bufferevent_openssl makes one SSL_write, hence one
 * record and one write(2), per evbuffer chunk, and a response is several
 * chunks (head, body moved from upstream, chunk framing, HTTP/2 frames).
 * Call after queueing output; it copies at most 16 KiB, once. */
void tls_bufferevent_coalesce(struct bufferevent *bev);

/* The protocol ALPN selected on ssl (after the handshake). */
enum tls_alpn tls_alpn(const SSL *ssl);
/* "h2", "http/1.1", "acme-tls/1" or "" for logs. */
const char *tls_alpn_name(enum tls_alpn a);
/*
 * The client's SNI name normalised (lower-case, no trailing dot) into
 * out (CERTBUNDLE_NAME_MAX + 1 bytes).  Returns its length, or -1 when the
 * client sent none or an invalid one.
 */
int tls_servername(const SSL *ssl, char *out);

#endif
