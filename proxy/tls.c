/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tls.c — see tls.h.
 *
 * A handshake runs three of our callbacks, in OpenSSL's order:
 *   servername  acknowledges SNI (the name is read later);
 *   ALPN        picks acme-tls/1 (and installs the challenge certificate
 *               right there), h2 or http/1.1;
 *   cert        asks the certstore for the SNI name and installs its
 *               ECDSA and RSA bundles on the SSL; OpenSSL then picks the
 *               one the client's signature algorithms and ciphers allow.
 * plus the ticket key callback when a ticket is issued or presented.
 * None of them blocks or takes a lock: the certstore lookup runs under a
 * hazard pointer, the key ring is read under a sequence counter.
 *
 * Limen's state hangs on the SSL_CTX as ex_data, freed by OpenSSL when
 * the context itself goes (after its last SSL), which is what makes
 * dropping a context on reload safe for connections still running.
 */
#include "proxy/tls.h"

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "proxy/tlsio.h"

/* ---- ticket keys -------------------------------------------------------- */

#define KEY_NAME_LEN	16
#define KEY_AES_LEN	32
#define KEY_HMAC_LEN	32
#define KEY_WORDS	((KEY_NAME_LEN + KEY_AES_LEN + KEY_HMAC_LEN) / 8)

struct ticket_key {
	unsigned char name[KEY_NAME_LEN];
	unsigned char aes[KEY_AES_LEN];
	unsigned char hmac[KEY_HMAC_LEN];
};

_Static_assert(sizeof(struct ticket_key) == KEY_WORDS * 8,
    "ticket key is a whole number of words");

/*
 * The two keys are kept as atomic words so that readers may copy them
 * while a rotation writes (a sequence lock: readers retry when seq was
 * odd or changed).  Only rotate_lock serialises writers.
 */
struct tls_keyring {
	atomic_uint refs;
	uint64_t rotate_ms;
	pthread_mutex_t rotate_lock;
	atomic_uint seq;
	_Atomic uint64_t words[2][KEY_WORDS];	/* [0] current, [1] previous */
	_Atomic uint64_t has_previous;
	_Atomic uint64_t next_rotation;		/* CLOCK_MONOTONIC, ms */
	_Atomic uint64_t generation;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Copy the current key, and the previous one if it is still valid. */
static void
keyring_read(struct tls_keyring *r, struct ticket_key *cur,
    struct ticket_key *prev, bool *has_prev)
{
	uint64_t w[2][KEY_WORDS], hp;
	unsigned s1, s2, spins = 0;

	for (;;) {
		s1 = atomic_load_explicit(&r->seq, memory_order_acquire);
		for (int k = 0; k < 2; k++)
			for (int i = 0; i < KEY_WORDS; i++)
				w[k][i] = atomic_load_explicit(&r->words[k][i],
				    memory_order_relaxed);
		hp = atomic_load_explicit(&r->has_previous,
		    memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&r->seq, memory_order_relaxed);
		if (s1 == s2 && (s1 & 1) == 0)
			break;
		if (++spins % 64 == 0)
			sched_yield();	/* the writer was preempted */
	}
	memcpy(cur, w[0], sizeof *cur);
	if (prev != NULL)
		memcpy(prev, w[1], sizeof *prev);
	if (has_prev != NULL)
		*has_prev = hp != 0;
	OPENSSL_cleanse(w, sizeof w);
}

/* With rotate_lock held: previous <- current (if still fresh enough),
 * current <- a new random key. */
static int
keyring_rotate_locked(struct tls_keyring *r, bool keep_previous)
{
	struct ticket_key k;
	uint64_t nw[KEY_WORDS], old[KEY_WORDS];
	unsigned s;

	if (RAND_bytes(k.name, sizeof k.name) != 1 ||
	    RAND_priv_bytes(k.aes, sizeof k.aes) != 1 ||
	    RAND_priv_bytes(k.hmac, sizeof k.hmac) != 1) {
		ERR_clear_error();
		OPENSSL_cleanse(&k, sizeof k);
		return -1;
	}
	memcpy(nw, &k, sizeof nw);
	for (int i = 0; i < KEY_WORDS; i++)
		old[i] = atomic_load_explicit(&r->words[0][i],
		    memory_order_relaxed);

	s = atomic_load_explicit(&r->seq, memory_order_relaxed);
	atomic_store_explicit(&r->seq, s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	for (int i = 0; i < KEY_WORDS; i++) {
		atomic_store_explicit(&r->words[1][i], old[i],
		    memory_order_relaxed);
		atomic_store_explicit(&r->words[0][i], nw[i],
		    memory_order_relaxed);
	}
	atomic_store_explicit(&r->has_previous,
	    keep_previous && atomic_load(&r->generation) > 0,
	    memory_order_relaxed);
	atomic_store_explicit(&r->seq, s + 2, memory_order_release);

	atomic_store(&r->next_rotation, now_ms() + r->rotate_ms);
	atomic_fetch_add(&r->generation, 1);
	OPENSSL_cleanse(&k, sizeof k);
	OPENSSL_cleanse(nw, sizeof nw);
	OPENSSL_cleanse(old, sizeof old);
	return 0;
}

/*
 * Rotate when the period is over.  Whoever sees it first rotates; the
 * others carry on with the key they read.  A current key older than two
 * periods (an idle process) is not kept as the previous one.
 */
static void
keyring_maybe_rotate(struct tls_keyring *r)
{
	uint64_t now = now_ms(), due;

	due = atomic_load_explicit(&r->next_rotation, memory_order_relaxed);
	if (now < due || pthread_mutex_trylock(&r->rotate_lock) != 0)
		return;
	due = atomic_load(&r->next_rotation);
	if (now >= due && keyring_rotate_locked(r, now < due + r->rotate_ms)
	    == -1)
		log_warnx("tls: ticket key rotation failed: no randomness");
	pthread_mutex_unlock(&r->rotate_lock);
}

struct tls_keyring *
tls_keyring_new(uint64_t rotate_ms)
{
	struct tls_keyring *r = calloc(1, sizeof *r);

	if (r == NULL)
		return NULL;
	atomic_init(&r->refs, 1);
	r->rotate_ms = rotate_ms ? rotate_ms : TLS_TICKET_ROTATE_MS;
	if (pthread_mutex_init(&r->rotate_lock, NULL) != 0) {
		free(r);
		return NULL;
	}
	if (keyring_rotate_locked(r, false) == -1) {
		tls_keyring_unref(r);
		return NULL;
	}
	return r;
}

void
tls_keyring_ref(struct tls_keyring *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void
tls_keyring_unref(struct tls_keyring *r)
{
	if (r == NULL ||
	    atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
		return;
	pthread_mutex_destroy(&r->rotate_lock);
	OPENSSL_cleanse(r, sizeof *r);
	free(r);
}

int
tls_keyring_rotate(struct tls_keyring *r)
{
	int rc;

	pthread_mutex_lock(&r->rotate_lock);
	rc = keyring_rotate_locked(r, true);
	pthread_mutex_unlock(&r->rotate_lock);
	return rc;
}

uint64_t
tls_keyring_generation(struct tls_keyring *r)
{
	return atomic_load(&r->generation);
}

/* ---- per-context state -------------------------------------------------- */

struct tls_state {
	struct certstore *store;
	struct tls_keyring *ring;
	bool h2;
	tls_acme_alpn_fn *acme_fn;
	void *acme_arg;
};

static pthread_once_t state_once = PTHREAD_ONCE_INIT;
static int state_index = -1;

static void
state_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	struct tls_state *st = ptr;

	if (st == NULL)
		return;
	certstore_unref(st->store);
	tls_keyring_unref(st->ring);
	free(st);
}

static void
state_index_init(void)
{
	state_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
	    state_free);
}

static struct tls_state *
state_of_ctx(const SSL_CTX *ctx)
{
	return state_index < 0 ? NULL : SSL_CTX_get_ex_data(ctx, state_index);
}

static struct tls_state *
state_of(const SSL *ssl)
{
	return state_of_ctx(SSL_get_SSL_CTX(ssl));
}

static void
errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- handshake callbacks ------------------------------------------------ */

static const unsigned char alpn_h2[] = "h2";
static const unsigned char alpn_http11[] = "http/1.1";
static const unsigned char alpn_acme[] = "acme-tls/1";

int
tls_servername(const SSL *ssl, char *out)
{
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (sni == NULL)
		return -1;
	return certbundle_name_normalize(sni, strnlen(sni,
	    CERTBUNDLE_NAME_MAX + 2), out, false);
}

static int
tls_on_servername(SSL *ssl, int *alert, void *arg)
{
	return SSL_TLSEXT_ERR_OK;
}

static int
use_bundle(SSL *ssl, struct cert_bundle *b)
{
	return SSL_use_cert_and_key(ssl, certbundle_leaf(b),
	    certbundle_key(b), certbundle_chain(b), 1) == 1;
}

/*
 * ALPN, server preference: acme-tls/1 with a pending challenge, then h2
 * (if the listener speaks it), then http/1.1.  A client offering only
 * protocols we do not speak goes on without ALPN (HTTP/1.1), except a
 * validator offering only acme-tls/1 for a name with nothing pending,
 * which gets no_application_protocol.
 */
static int
tls_on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	struct tls_state *st = arg;
	bool h2 = false, h11 = false, acme = false, other = false;
	char name[CERTBUNDLE_NAME_MAX + 1];
	struct cert_bundle *b;
	unsigned int i = 0;

	while (i < inlen) {
		unsigned int n = in[i++];
		const unsigned char *p = in + i;

		if (n == 0 || n > inlen - i)
			return SSL_TLSEXT_ERR_ALERT_FATAL;
		if (n == 2 && memcmp(p, alpn_h2, 2) == 0)
			h2 = true;
		else if (n == 8 && memcmp(p, alpn_http11, 8) == 0)
			h11 = true;
		else if (n == 10 && memcmp(p, alpn_acme, 10) == 0)
			acme = true;
		else
			other = true;
		i += n;
	}
	if (acme && st->acme_fn != NULL && tls_servername(ssl, name) != -1 &&
	    (b = st->acme_fn(name, st->acme_arg)) != NULL) {
		int ok = use_bundle(ssl, b);

		certbundle_unref(b);
		if (!ok)
			return SSL_TLSEXT_ERR_ALERT_FATAL;
		*out = alpn_acme;
		*outlen = 10;
		return SSL_TLSEXT_ERR_OK;
	}
	if (h2 && st->h2) {
		*out = alpn_h2;
		*outlen = 2;
		return SSL_TLSEXT_ERR_OK;
	}
	if (h11) {
		*out = alpn_http11;
		*outlen = 8;
		return SSL_TLSEXT_ERR_OK;
	}
	if (acme && !h2 && !other)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_NOACK;
}

/*
 * Certificates for this handshake: every key type the store has for the
 * name goes on the SSL; OpenSSL's own selection (tls1_set_server_sigalgs,
 * ssl3_choose_cipher) then serves ECDSA to clients that can verify it and
 * RSA to the others.  Returning 0 aborts with internal_error.
 */
static int
tls_on_cert(SSL *ssl, void *arg)
{
	struct tls_state *st = arg;
	struct cert_bundle *b[CERTBUNDLE_KEY__MAX];
	char name[CERTBUNDLE_NAME_MAX + 1];
	int ok = 1;

	if (tls_alpn(ssl) == TLS_ALPN_ACME)
		return 1;		/* installed by tls_on_alpn */
	if (certstore_select(st->store, tls_servername(ssl, name) == -1 ?
	    NULL : name, b) == 0)
		return 0;
	for (int k = 0; k < CERTBUNDLE_KEY__MAX; k++) {
		if (b[k] == NULL)
			continue;
		if (!use_bundle(ssl, b[k]))
			ok = 0;
		certbundle_unref(b[k]);
	}
	return ok;
}

/*
 * Session tickets (OpenSSL 3 EVP callback): AES-256-CBC and HMAC-SHA256
 * under the ring's current key; a ticket under the previous key still
 * decrypts and returns 2 so the client gets a fresh one.
 */
static int
tls_on_ticket_key(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_state *st = state_of(ssl);
	struct ticket_key cur, prev;
	const struct ticket_key *k = NULL;
	char digest[] = "SHA256";
	OSSL_PARAM params[3];
	bool has_prev;
	int rc = -1;

	if (st == NULL)
		return -1;
	keyring_maybe_rotate(st->ring);
	keyring_read(st->ring, &cur, &prev, &has_prev);
	if (enc) {
		k = &cur;
		memcpy(key_name, k->name, KEY_NAME_LEN);
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(
		    EVP_aes_256_cbc())) != 1) {
			ERR_clear_error();
			rc = 0;		/* no ticket this time */
			goto out;
		}
		rc = 1;
	} else if (memcmp(key_name, cur.name, KEY_NAME_LEN) == 0) {
		k = &cur;
		rc = 1;
	} else if (has_prev &&
	    memcmp(key_name, prev.name, KEY_NAME_LEN) == 0) {
		k = &prev;
		rc = 2;
	} else {
		rc = 0;			/* unknown key: full handshake */
		goto out;
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    (void *)k->hmac, KEY_HMAC_LEN);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    digest, 0);
	params[2] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(hctx, params) ||
	    (enc ? !EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes,
	    iv) : !EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes,
	    iv)))
		rc = -1;
out:
	OPENSSL_cleanse(&cur, sizeof cur);
	OPENSSL_cleanse(&prev, sizeof prev);
	return rc;
}

/* ---- contexts ----------------------------------------------------------- */

SSL_CTX *
tls_ctx_new(const struct conf_listener *l, struct certstore *store,
    struct tls_keyring *ring, char *err, size_t errlen)
{
	unsigned char sid[SHA256_DIGEST_LENGTH];
	struct tls_state *st = NULL;
	SSL_CTX *ctx = NULL;
	int min = l->tls.min_version ? l->tls.min_version : TLS1_2_VERSION;
	const char *name = l->name ? l->name : "";
	long timeout;

	pthread_once(&state_once, state_index_init);
	if (state_index < 0) {
		errf(err, errlen, "no OpenSSL ex_data index");
		return NULL;
	}
	if (min != TLS1_2_VERSION && min != TLS1_3_VERSION) {
		errf(err, errlen, "%s: min_version must be TLS 1.2 or 1.3",
		    name);
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    (st = calloc(1, sizeof *st)) == NULL)
		goto fail;
	st->store = store;
	st->ring = ring;
	st->h2 = l->http2;
	certstore_ref(store);
	tls_keyring_ref(ring);
	if (!SSL_CTX_set_ex_data(ctx, state_index, st)) {
		state_free(NULL, st, NULL, 0, 0, NULL);
		st = NULL;
		goto fail;
	}

	if (!SSL_CTX_set_min_proto_version(ctx, min) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_TLS12) ||
	    !SSL_CTX_set_ciphersuites(ctx, TLS_CIPHERS_TLS13))
		goto fail;
	if (!SSL_CTX_set1_groups_list(ctx, TLS_GROUPS_PQ)) {
		ERR_clear_error();
		if (!SSL_CTX_set1_groups_list(ctx, TLS_GROUPS))
			goto fail;
	}
	SSL_CTX_set_security_level(ctx, 2);
	/*
	 * Mozilla intermediate: the client picks among our (all strong)
	 * suites, so a client without AES hardware can prefer ChaCha20.
	 * Unexpected EOF is a plain close: HTTP detects truncation itself.
	 */
	SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_TICKET);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_NO_AUTO_CHAIN);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_max_early_data(ctx, 0);

	/*
	 * Resumption by tickets only: no server cache (it would be per
	 * context and locked per handshake).  The session id context, a
	 * hash of the listener name, keeps a ticket from one listener from
	 * resuming on another that shares the key ring, and lets it resume
	 * on the same listener after a reload.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SHA256((const unsigned char *)name, strlen(name), sid);
	if (!SSL_CTX_set_session_id_context(ctx, sid, sizeof sid))
		goto fail;
	timeout = (long)(ring->rotate_ms / 1000);
	SSL_CTX_set_timeout(ctx, timeout > 0 ? timeout : 1);
	if (!SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_on_ticket_key))
		goto fail;

	SSL_CTX_set_tlsext_servername_callback(ctx, tls_on_servername);
	SSL_CTX_set_alpn_select_cb(ctx, tls_on_alpn, st);
	SSL_CTX_set_cert_cb(ctx, tls_on_cert, st);
	return ctx;
fail:
	errf(err, errlen, "%s: cannot set up TLS: %s", name,
	    ERR_peek_last_error() ?
	    ERR_reason_error_string(ERR_peek_last_error()) : "out of memory");
	ERR_clear_error();
	SSL_CTX_free(ctx);		/* frees st once it is attached */
	return NULL;
}

void
tls_ctx_set_acme_hook(SSL_CTX *ctx, tls_acme_alpn_fn *fn, void *arg)
{
	struct tls_state *st = state_of_ctx(ctx);

	if (st == NULL)
		return;
	st->acme_fn = fn;
	st->acme_arg = arg;
}

struct certstore *
tls_ctx_store(SSL_CTX *ctx)
{
	struct tls_state *st = state_of_ctx(ctx);

	return st ? st->store : NULL;
}

struct bufferevent *
tls_bufferevent_accept(SSL_CTX *ctx, struct event_base *base,
    evutil_socket_t fd, int options)
{
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(ctx)) == NULL) {
		ERR_clear_error();
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, options);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

void
tls_bufferevent_close_notify(struct bufferevent *bev)
{
	SSL *ssl = tlsio_ssl(bev);

	/* The SSL writes to the socket itself (a socket BIO, or tlsio's),
	 * and with an empty output buffer nothing of ours is waiting in
	 * front of it. */
	if (ssl == NULL || evbuffer_get_length(bufferevent_get_output(bev)) > 0 ||
	    !SSL_is_init_finished(ssl))
		return;
	(void)SSL_shutdown(ssl);
	ERR_clear_error();
}

void
tls_bufferevent_coalesce(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t n = evbuffer_get_length(out);

	if (n > TLS_RECORD_MAX)
		n = TLS_RECORD_MAX;
	if (n > 0 && evbuffer_get_contiguous_space(out) < n)
		(void)evbuffer_pullup(out, (ev_ssize_t)n);
}

enum tls_alpn
tls_alpn(const SSL *ssl)
{
	const unsigned char *p;
	unsigned int n;

	SSL_get0_alpn_selected(ssl, &p, &n);
	if (n == 2 && memcmp(p, alpn_h2, 2) == 0)
		return TLS_ALPN_H2;
	if (n == 8 && memcmp(p, alpn_http11, 8) == 0)
		return TLS_ALPN_HTTP11;
	if (n == 10 && memcmp(p, alpn_acme, 10) == 0)
		return TLS_ALPN_ACME;
	return TLS_ALPN_NONE;
}

const char *
tls_alpn_name(enum tls_alpn a)
{
	switch (a) {
	case TLS_ALPN_H2:
		return "h2";
	case TLS_ALPN_HTTP11:
		return "http/1.1";
	case TLS_ALPN_ACME:
		return "acme-tls/1";
	case TLS_ALPN_NONE:
		break;
	}
	return "";
}
