/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_tls.c — real OpenSSL handshakes against listener contexts from
 * tls_ctx_new(), client and server joined by BIO pairs in memory (one
 * test also runs the handshake in a libevent loop over a socketpair).
 * Protocol versions, the cipher list, SNI, ECDSA/RSA choice, ALPN,
 * ticket resumption across contexts and key rotations, renegotiation,
 * and a certificate swap under an established connection.
 */
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "proxy/certstore.h"
#include "proxy/tls.h"
#include "tests/unit/harness.h"
#include "tests/unit/tls_testutil.h"

static struct conf_listener
listener(const char *name, bool h2, int min)
{
	struct conf_listener l;

	memset(&l, 0, sizeof l);
	l.name = (char *)name;
	l.http2 = h2;
	l.tls.enabled = true;
	l.tls.min_version = min;
	return l;
}

static SSL_CTX *
server_ctx(struct certstore *s, struct tls_keyring *r, const char *name,
    bool h2, int min)
{
	struct conf_listener l = listener(name, h2, min);
	char err[256] = "";
	SSL_CTX *ctx = tls_ctx_new(&l, s, r, err, sizeof err);

	if (ctx == NULL) {
		fprintf(stderr, "tls_ctx_new: %s\n", err);
		abort();
	}
	return ctx;
}

/* A store serving one ECDSA certificate for app.example.com. */
static struct certstore *
simple_store(struct cert_bundle **out)
{
	struct certstore *s = certstore_new();
	struct cert_bundle *b = tu_bundle(CERTBUNDLE_KEY_ECDSA, "app",
	    "DNS:app.example.com");
	char err[256];

	if (certstore_install_bundle(s, "app.example.com", b, err,
	    sizeof err) == -1)
		abort();
	if (out != NULL)
		*out = b;
	else
		certbundle_unref(b);
	return s;
}

/* Whether a client limited to [min, max] completes a handshake. */
static int
handshake_ok(SSL_CTX *sctx, int min, int max, int *version)
{
	SSL_CTX *cctx = tu_client_ctx(min, max);
	SSL *c, *s;
	int ok;

	if (min < TLS1_2_VERSION) {
		/* let the client try what OpenSSL 3 would refuse itself */
		SSL_CTX_set_security_level(cctx, 0);
		SSL_CTX_set_cipher_list(cctx, "DEFAULT:@SECLEVEL=0");
	}
	c = tu_connect(cctx, sctx, "app.example.com", &s);
	ok = c != NULL;
	if (ok && version != NULL)
		*version = SSL_version(s);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	return ok;
}

static void
test_tls_refuses_tls10_and_tls11(void)
{
	struct tls_keyring *r = tls_keyring_new(0);
	struct certstore *s = simple_store(NULL);
	SSL_CTX *sctx = server_ctx(s, r, "web", true, TLS1_2_VERSION);

	CHECK(!handshake_ok(sctx, TLS1_VERSION, TLS1_VERSION, NULL));
	CHECK(!handshake_ok(sctx, TLS1_1_VERSION, TLS1_1_VERSION, NULL));
	CHECK(!handshake_ok(sctx, TLS1_VERSION, TLS1_1_VERSION, NULL));
	/* the same permissive client does get in once it may use 1.2 */
	CHECK(handshake_ok(sctx, TLS1_VERSION, TLS1_2_VERSION, NULL));
	SSL_CTX_free(sctx);
	certstore_unref(s);
	tls_keyring_unref(r);
}

static void
test_tls_accepts_tls12_and_tls13(void)
{
	struct tls_keyring *r = tls_keyring_new(0);
	struct certstore *s = simple_store(NULL);
	SSL_CTX *sctx = server_ctx(s, r, "web", true, 0);
	int v = 0;

	CHECK(handshake_ok(sctx, TLS1_2_VERSION, TLS1_2_VERSION, &v));
	CHECK_INT(v, ==, TLS1_2_VERSION);
	CHECK(handshake_ok(sctx, TLS1_3_VERSION, TLS1_3_VERSION, &v));
	CHECK_INT(v, ==, TLS1_3_VERSION);
	CHECK(handshake_ok(sctx, TLS1_2_VERSION, TLS1_3_VERSION, &v));
	CHECK_INT(v, ==, TLS1_3_VERSION);
	SSL_CTX_free(sctx);
	certstore_unref(s);
	tls_keyring_unref(r);
}

static void
test_tls_min_version_13_refuses_tls12(void)
{
	struct tls_keyring *r = tls_keyring_new(0);
	struct certstore *s = simple_store(NULL);
	SSL_CTX *sctx = server_ctx(s, r, "web", true, TLS1_3_VERSION);
	struct conf_listener l = listener("bad", true, TLS1_1_VERSION);
	char err[256] = "";

	CHECK(!handshake_ok(sctx, TLS1_2_VERSION, TLS1_2_VERSION, NULL));
	CHECK(handshake_ok(sctx, TLS1_2_VERSION, TLS1_3_VERSION, NULL));
	CHECK(tls_ctx_new(&l, s, r, err, sizeof err) == NULL);
	CHECK(strstr(err, "min_version") != NULL);
	SSL_CTX_free(sctx);
	certstore_unref(s);
	tls_keyring_unref(r);
}

static void
test_tls_cipher_list_is_mozilla_intermediate(void)
{
	static const char *const want[] = {
		"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
		"TLS_CHACHA20_POLY1305_SHA256",
		"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
		"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
		"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
	};
	struct tls_keyring *r = tls_keyring_new(0);
	struct certstore *s = simple_store(NULL);
	SSL_CTX *sctx = server_ctx(s, r, "web", true, 0);
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(sctx);
	SSL_CTX *cctx;
	SSL *c, *sv;

	REQUIRE(sk != NULL);
	CHECK_INT(sk_SSL_CIPHER_num(sk), ==, 9);
	for (int i = 0; i < sk_SSL_CIPHER_num(sk) && i < 9; i++)
		CHECK_STR(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(sk, i)),
		    want[i]);
	CHECK((SSL_CTX_get_options(sctx) & SSL_OP_CIPHER_SERVER_PREFERENCE)
	    == 0);
	CHECK(SSL_CTX_get_options(sctx) & SSL_OP_NO_COMPRESSION);
	CHECK(SSL_CTX_get_options(sctx) & SSL_OP_NO_RENEGOTIATION);

	/* TLS 1.2 suites outside the list are refused */
	cctx = tu_client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
	SSL_CTX_set_cipher_list(cctx, "ECDHE-ECDSA-AES128-SHA:AES128-GCM-SHA256");
	CHECK(tu_connect(cctx, sctx, "app.example.com", &sv) == NULL);
	SSL_CTX_free(cctx);
	/* the client's order is honoured (no server preference) */
	cctx = tu_client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
	SSL_CTX_set_cipher_list(cctx, "ECDHE-ECDSA-CHACHA20-POLY1305:"
	    "ECDHE-ECDSA-AES128-GCM-SHA256");
	c = tu_connect(cctx, sctx, "app.example.com", &sv);
	REQUIRE(c != NULL);
	CHECK_STR(SSL_get_cipher_name(sv), "ECDHE-ECDSA-CHACHA20-POLY1305");
	CHECK(SSL_get_current_compression(sv) == NULL);
	SSL_free(c);
	SSL_free(sv);
	SSL_CTX_free(cctx);
	cctx = tu_client_ctx(TLS1_3_VERSION, TLS1_3_VERSION);
	SSL_CTX_set_ciphersuites(cctx, "TLS_CHACHA20_POLY1305_SHA256:"
	    "TLS_AES_128_GCM_SHA256");
	c = tu_connect(cctx, sctx, "app.example.com", &sv);
	REQUIRE(c != NULL);
	CHECK_STR(SSL_get_cipher_name(sv), "TLS_CHACHA20_POLY1305_SHA256");
	SSL_free(c);
	SSL_free(sv);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	certstore_unref(s);
	tls_keyring_unref(r);
}

/* Handshake with SNI name (may be NULL) and check the leaf served is b. */
static int
served(SSL_CTX *sctx, SSL_CTX *cctx, const char *name,
    const struct cert_bundle *b)
{
	SSL *c, *s;
	int ok;

	c = tu_connect(cctx, sctx, name, &s);
	ok = c != NULL && tu_served(c, b);
	SSL_free(c);
	SSL_free(s);
	return ok;
}

static void
test_tls_sni_picks_exact_then_wildcard_then_first(void)
{
	struct cert_bundle *first = tu_bundle(CERTBUNDLE_KEY_ECDSA, "first",
	    "DNS:first.example");
	struct cert_bundle *wild = tu_bundle(CERTBUNDLE_KEY_ECDSA, "wild",
	    "DNS:*.example.com");
	struct cert_bundle *exact = tu_bundle(CERTBUNDLE_KEY_ECDSA, "exact",
	    "DNS:app.example.com");
	struct tls_keyring *r = tls_keyring_new(0);
	struct certstore *s = certstore_new();
	struct conf_cert cc[3];
	char err[256];
	SSL_CTX *sctx, *cctx = tu_client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
	struct cert_bundle *list[] = { first, wild, exact };
	const char *base[] = { "first", "wild", "exact" };

	for (int i = 0; i < 3; i++)
		cc[i] = tu_conf_cert(list[i], base[i]);
	REQUIRE(certstore_set_static(s, cc, 3, err, sizeof err) == 0);
	sctx = server_ctx(s, r, "web", true, 0);
	CHECK(served(sctx, cctx, "app.example.com", exact));
	CHECK(served(sctx, cctx, "APP.example.com", exact));
	CHECK(served(sctx, cctx, "www.example.com", wild));
	CHECK(served(sctx, cctx, "a.b.example.com", first));
	CHECK(served(sctx, cctx, "example.com", first));
	CHECK(served(sctx, cctx, "nothing.test", first));
	CHECK(served(sctx, cctx, NULL, first));
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	certstore_unref(s);
	tls_keyring_unref(r);
	for (int i = 0; i < 3; i++)
		certbundle_unref(list[i]);
}

static void
test_tls_ecdsa_client_gets_ecdsa_rsa_only_client_gets_rsa(void)
{
	struct cert_bundle *ec = tu_bundle(CERTBUNDLE_KEY_ECDSA, "ec",
	    "DNS:app.example.com");
	struct cert_bundle *rsa = tu_bundle(CERTBUNDLE_KEY_RSA, "rsa",
	    "DNS:app.example.com");
	struct tls_keyring *r = tls_keyring_new(0);
	struct certstore *s = certstore_new();
	struct conf_cert cc[2];
	char err[256];
	SSL_CTX *sctx, *cctx;

	/* RSA first in the file: the ECDSA one must still win */
	cc[0] = tu_conf_cert(rsa, "rsa");
	cc[1] = tu_conf_cert(ec, "ec");
	REQUIRE(certstore_set_static(s, cc, 2, err, sizeof err) == 0);
	sctx = server_ctx(s, r, "web", true, 0);

	cctx = tu_client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
	CHECK(served(sctx, cctx, "app.example.com", ec));
	SSL_CTX_free(cctx);
	cctx = tu_client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
	CHECK(served(sctx, cctx, "app.example.com", ec));
	SSL_CTX_free(cctx);

	/* TLS 1.2 with RSA-only suites and signature algorithms */
	cctx = tu_client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
	REQUIRE(SSL_CTX_set_cipher_list(cctx, "ECDHE-RSA-AES128-GCM-SHA256:"
	    "ECDHE-RSA-AES256-GCM-SHA384"));
	REQUIRE(SSL_CTX_set1_sigalgs_list(cctx, "RSA-PSS+SHA256:RSA+SHA256"));
	CHECK(served(sctx, cctx, "app.example.com", rsa));
	SSL_CTX_free(cctx);
	/* TLS 1.3 with RSA-only signature algorithms */
	cctx = tu_client_ctx(TLS1_3_VERSION, TLS1_3_VERSION);
	REQUIRE(SSL_CTX_set1_sigalgs_list(cctx, "RSA-PSS+SHA256"));
	CHECK(served(sctx, cctx, "app.example.com", rsa));
	SSL_CTX_free(cctx);

	SSL_CTX_free(sctx);
	certstore_unref(s);
	tls_keyring_unref(r);
	certbundle_unref(ec);
	certbundle_unref(rsa);
}

/* ---- ALPN --------------------------------------------------------------- */

static struct cert_bundle *challenge;

static struct cert_bundle *
acme_hook(const char *name, void *arg)
{
	CHECK_STR(arg, "acme-arg");
	if (strcmp(name, "app.example.com") != 0)
		return NULL;
	certbundle_ref(challenge);
	return challenge;
}

/* Handshake offering the ALPN wire list; -1 if it failed, else the
 * server's tls_alpn() (and the client must agree). */
static int
alpn_result(SSL_CTX *sctx, const char *wire, size_t len, const char *sni,
    const struct cert_bundle *expect_leaf)
{
	SSL_CTX *cctx = tu_client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
	const unsigned char *p;
	unsigned int n;
	SSL *c, *s;
	int rc;

	if (len > 0)
		SSL_CTX_set_alpn_protos(cctx, (const unsigned char *)wire,
		    (unsigned int)len);
	c = tu_connect(cctx, sctx, sni, &s);
	SSL_CTX_free(cctx);
	if (c == NULL)
		return -1;
	rc = tls_alpn(s);
	SSL_get0_alpn_selected(c, &p, &n);
	CHECK_INT(n, ==, strlen(tls_alpn_name(rc)));
	CHECK(n == 0 || memcmp(p, tls_alpn_name(rc), n) == 0);
	if (expect_leaf != NULL)
		CHECK(tu_served(c, expect_leaf));
	SSL_free(c);
	SSL_free(s);
	return rc;
}

#define WIRE(s) s, sizeof(s) - 1

static void
test_tls_alpn_selects_h2_http11_and_acme(void)
{
	struct tls_keyring *r = tls_keyring_new(0);
	struct cert_bundle *app;
	struct certstore *s = simple_store(&app);
	SSL_CTX *h2 = server_ctx(s, r, "web", true, 0);
	SSL_CTX *h1 = server_ctx(s, r, "web1", false, 0);
	const char *names[] = { "app.example.com" };
	char err[256];

	challenge = certbundle_selfsigned(names, 1, CERTBUNDLE_KEY_ECDSA, 600,
	    err, sizeof err);
	REQUIRE(challenge != NULL);
	CHECK_INT(alpn_result(h2, WIRE("\x08http/1.1\x02h2"),
	    "app.example.com", app), ==, TLS_ALPN_H2);
	CHECK_INT(alpn_result(h1, WIRE("\x02h2\x08http/1.1"),
	    "app.example.com", app), ==, TLS_ALPN_HTTP11);
	CHECK_INT(alpn_result(h2, WIRE("\x08http/1.1"), "app.example.com",
	    app), ==, TLS_ALPN_HTTP11);
	CHECK_INT(alpn_result(h2, "", 0, "app.example.com", app), ==,
	    TLS_ALPN_NONE);
	CHECK_INT(alpn_result(h2, WIRE("\x06spdy/3"), "app.example.com",
	    app), ==, TLS_ALPN_NONE);
	/* no hook: a validator offering only acme-tls/1 is refused */
	CHECK_INT(alpn_result(h2, WIRE("\x0a" "acme-tls/1"),
	    "app.example.com", NULL), ==, -1);

	tls_ctx_set_acme_hook(h2, acme_hook, "acme-arg");
	CHECK_INT(alpn_result(h2, WIRE("\x0a" "acme-tls/1"),
	    "app.example.com", challenge), ==, TLS_ALPN_ACME);
	CHECK_INT(alpn_result(h2, WIRE("\x02h2\x0a" "acme-tls/1"),
	    "app.example.com", challenge), ==, TLS_ALPN_ACME);
	/* nothing pending for this name */
	CHECK_INT(alpn_result(h2, WIRE("\x0a" "acme-tls/1"),
	    "other.example.com", NULL), ==, -1);
	CHECK_INT(alpn_result(h2, WIRE("\x0a" "acme-tls/1"), NULL, NULL),
	    ==, -1);
	CHECK_INT(alpn_result(h2, WIRE("\x02h2\x0a" "acme-tls/1"),
	    "other.example.com", app), ==, TLS_ALPN_H2);
	/* ordinary clients are untouched by the hook */
	CHECK_INT(alpn_result(h2, WIRE("\x02h2"), "app.example.com", app),
	    ==, TLS_ALPN_H2);
	CHECK_STR(tls_alpn_name(TLS_ALPN_NONE), "");

	certbundle_unref(challenge);
	certbundle_unref(app);
	SSL_CTX_free(h2);
	SSL_CTX_free(h1);
	certstore_unref(s);
	tls_keyring_unref(r);
}

/* ---- tickets ------------------------------------------------------------ */

/* A full handshake to sctx; returns the client's resumable session. */
static SSL_SESSION *
get_session(SSL_CTX *cctx, SSL_CTX *sctx)
{
	SSL_SESSION *sess;
	SSL *c, *s;

	c = tu_connect(cctx, sctx, "app.example.com", &s);
	if (c == NULL)
		return NULL;
	CHECK(!SSL_session_reused(c));
	/* TLS 1.3 tickets arrive after the handshake: read some data */
	CHECK_INT(tu_transfer(s, c, "hello", 5), ==, 0);
	sess = SSL_get1_session(c);
	CHECK(sess != NULL && SSL_SESSION_is_resumable(sess));
	/* freeing without close_notify would mark the session unusable */
	SSL_shutdown(c);
	SSL_free(c);
	SSL_free(s);
	return sess;
}

/* 1 resumed, 0 full handshake, -1 failed. */
static int
resumes(SSL_CTX *cctx, SSL_CTX *sctx, SSL_SESSION *sess)
{
	SSL *c, *s;
	int rc;

	tu_pair(cctx, sctx, &c, &s);
	SSL_set_tlsext_host_name(c, "app.example.com");
	SSL_set_session(c, sess);
	if (tu_handshake(c, s) == -1)
		rc = -1;
	else
		rc = SSL_session_reused(c) && SSL_session_reused(s);
	if (rc >= 0)
		CHECK_INT(tu_transfer(c, s, "ping", 4), ==, 0);
	SSL_shutdown(c);
	SSL_free(c);
	SSL_free(s);
	return rc;
}

static void
check_tickets(int version)
{
	struct tls_keyring *r = tls_keyring_new(0);
	struct certstore *s = simple_store(NULL);
	SSL_CTX *a1 = server_ctx(s, r, "web", true, 0);
	SSL_CTX *a2 = server_ctx(s, r, "web", true, 0);	/* e.g. after reload */
	SSL_CTX *b = server_ctx(s, r, "other", true, 0);
	SSL_CTX *cctx = tu_client_ctx(version, version);
	struct tls_keyring *r2 = tls_keyring_new(0);
	SSL_CTX *foreign = server_ctx(s, r2, "web", true, 0);
	SSL_SESSION *sess;

	/* no client cache: it would make a TLS 1.3 session single-use */
	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);
	sess = get_session(cctx, a1);
	REQUIRE(sess != NULL);
	CHECK_INT(resumes(cctx, a1, sess), ==, 1);
	CHECK_INT(resumes(cctx, a2, sess), ==, 1);
	/* another listener, or another key ring: full handshake */
	CHECK_INT(resumes(cctx, b, sess), ==, 0);
	CHECK_INT(resumes(cctx, foreign, sess), ==, 0);
	/* one rotation: the previous key still decrypts */
	CHECK_INT(tls_keyring_generation(r), ==, 1);
	REQUIRE(tls_keyring_rotate(r) == 0);
	CHECK_INT(tls_keyring_generation(r), ==, 2);
	CHECK_INT(resumes(cctx, a2, sess), ==, 1);
	/* two: it is gone */
	REQUIRE(tls_keyring_rotate(r) == 0);
	CHECK_INT(resumes(cctx, a1, sess), ==, 0);
	SSL_SESSION_free(sess);
	/* and a fresh ticket works again */
	sess = get_session(cctx, a2);
	REQUIRE(sess != NULL);
	CHECK_INT(resumes(cctx, a1, sess), ==, 1);
	SSL_SESSION_free(sess);

	SSL_CTX_free(a1);
	SSL_CTX_free(a2);
	SSL_CTX_free(b);
	SSL_CTX_free(foreign);
	SSL_CTX_free(cctx);
	certstore_unref(s);
	tls_keyring_unref(r);
	tls_keyring_unref(r2);
}

static void
test_tls13_tickets_resume_across_contexts_and_one_rotation(void)
{
	check_tickets(TLS1_3_VERSION);
}

static void
test_tls12_tickets_resume_across_contexts_and_one_rotation(void)
{
	check_tickets(TLS1_2_VERSION);
}

static void
test_tls_keyring_rotates_by_itself_when_due(void)
{
	struct tls_keyring *r = tls_keyring_new(20);
	struct certstore *s = simple_store(NULL);
	SSL_CTX *sctx = server_ctx(s, r, "web", true, 0);
	SSL_CTX *cctx = tu_client_ctx(TLS1_3_VERSION, TLS1_3_VERSION);
	struct timespec start, now, tick = { 0, 2 * 1000 * 1000 };
	SSL_SESSION *sess;
	uint64_t gen;
	long ms;

	sess = get_session(cctx, sctx);
	REQUIRE(sess != NULL);
	gen = tls_keyring_generation(r);
	/* once the period is over, the next ticket turns the key over
	 * (a loaded machine may already have rotated during the first
	 * handshake: count from what we saw) */
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		nanosleep(&tick, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000;
	} while (ms < 25);
	SSL_SESSION_free(get_session(cctx, sctx));
	CHECK(tls_keyring_generation(r) > gen);
	SSL_SESSION_free(sess);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	certstore_unref(s);
	tls_keyring_unref(r);
}

struct hs_thread {
	SSL_CTX *sctx;
	int failures;
};

static void *
handshake_loop(void *p)
{
	struct hs_thread *t = p;
	SSL_CTX *cctx = tu_client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);

	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);
	for (int i = 0; i < 40; i++) {
		SSL_SESSION *sess = get_session(cctx, t->sctx);

		/* resumed or not (two rotations may pass), never failed */
		if (sess == NULL || resumes(cctx, t->sctx, sess) == -1)
			t->failures++;
		SSL_SESSION_free(sess);
	}
	SSL_CTX_free(cctx);
	return NULL;
}

static void
test_tls_tickets_while_keys_rotate_on_another_thread(void)
{
	struct tls_keyring *r = tls_keyring_new(0);
	struct certstore *s = simple_store(NULL);
	struct hs_thread t[2];
	pthread_t th[2];

	for (int i = 0; i < 2; i++) {
		t[i] = (struct hs_thread){ server_ctx(s, r, "web", true, 0), 0 };
		REQUIRE(pthread_create(&th[i], NULL, handshake_loop,
		    &t[i]) == 0);
	}
	for (int i = 0; i < 200; i++)
		CHECK_INT(tls_keyring_rotate(r), ==, 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(t[i].failures, ==, 0);
		SSL_CTX_free(t[i].sctx);
	}
	certstore_unref(s);
	tls_keyring_unref(r);
}

/* ---- renegotiation and swaps -------------------------------------------- */

static void
test_tls_refuses_client_renegotiation(void)
{
	struct tls_keyring *r = tls_keyring_new(0);
	struct certstore *s = simple_store(NULL);
	SSL_CTX *sctx = server_ctx(s, r, "web", true, 0);
	SSL_CTX *cctx = tu_client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
	SSL *c, *sv;
	char buf[16];
	int rc = 1;

	c = tu_connect(cctx, sctx, "app.example.com", &sv);
	REQUIRE(c != NULL);
	REQUIRE(SSL_renegotiate(c) == 1);
	for (int i = 0; i < 8 && rc == 1; i++) {
		rc = SSL_do_handshake(c);
		(void)SSL_read(sv, buf, sizeof buf);
		if (rc == 1 && !SSL_renegotiate_pending(c))
			break;
		if (rc <= 0 && SSL_get_error(c, rc) == SSL_ERROR_WANT_READ)
			rc = 1;
	}
	CHECK(rc != 1);
	CHECK(SSL_renegotiate_pending(c));
	ERR_clear_error();
	SSL_free(c);
	SSL_free(sv);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	certstore_unref(s);
	tls_keyring_unref(r);
}

static void
test_tls_cert_swap_spares_established_connection(void)
{
	struct tls_keyring *r = tls_keyring_new(0);
	struct certstore *s = certstore_new();
	struct cert_bundle *v1 = tu_bundle(CERTBUNDLE_KEY_ECDSA, "v1",
	    "DNS:app.example.com");
	struct cert_bundle *v2 = tu_bundle(CERTBUNDLE_KEY_ECDSA, "v2",
	    "DNS:app.example.com");
	SSL_CTX *sctx = server_ctx(s, r, "web", true, 0);
	SSL_CTX *cctx = tu_client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
	const char *cp, *kp;
	char err[256];
	SSL *c1, *s1, *c2, *s2;

	tu_write_bundle(v1, "v1", &cp, &kp);
	REQUIRE(certstore_install(s, "app.example.com", cp, kp, err,
	    sizeof err) == 0);
	c1 = tu_connect(cctx, sctx, "app.example.com", &s1);
	REQUIRE(c1 != NULL);
	CHECK(tu_served(c1, v1));

	/* a renewal lands while c1 is open */
	tu_write_bundle(v2, "v2", &cp, &kp);
	REQUIRE(certstore_install(s, "app.example.com", cp, kp, err,
	    sizeof err) == 0);
	c2 = tu_connect(cctx, sctx, "app.example.com", &s2);
	REQUIRE(c2 != NULL);
	CHECK(tu_served(c2, v2));

	CHECK_INT(tu_transfer(c1, s1, "request", 7), ==, 0);
	CHECK_INT(tu_transfer(s1, c1, "response", 8), ==, 0);
	CHECK(tu_served(c1, v1));
	CHECK_INT(tu_transfer(c2, s2, "request", 7), ==, 0);
	SSL_free(c2);
	SSL_free(s2);
	/* the store and the context may go before the connection does */
	SSL_CTX_free(sctx);
	certstore_unref(s);
	CHECK_INT(tu_transfer(s1, c1, "late", 4), ==, 0);
	SSL_free(c1);
	SSL_free(s1);
	SSL_CTX_free(cctx);
	tls_keyring_unref(r);
	certbundle_unref(v1);
	certbundle_unref(v2);
}

static void
test_tls_without_any_certificate_fails_handshake(void)
{
	struct tls_keyring *r = tls_keyring_new(0);
	struct certstore *s = certstore_new();
	SSL_CTX *sctx = server_ctx(s, r, "web", true, 0);

	CHECK(!handshake_ok(sctx, TLS1_2_VERSION, TLS1_3_VERSION, NULL));
	CHECK(tls_ctx_store(sctx) == s);
	SSL_CTX_free(sctx);
	certstore_unref(s);
	tls_keyring_unref(r);
}

/* ---- in a libevent loop ------------------------------------------------- */

struct loop_state {
	struct event_base *base;
	enum tls_alpn alpn;
	char sni[CERTBUNDLE_NAME_MAX + 1];
	int connected, eof, error;
};

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct loop_state *ls = arg;
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (what & BEV_EVENT_CONNECTED) {
		ls->connected = 1;
		ls->alpn = tls_alpn(ssl);
		if (tls_servername(ssl, ls->sni) == -1)
			ls->sni[0] = '\0';
		bufferevent_write(bev, "hello\n", 6);
		return;
	}
	if (what & BEV_EVENT_EOF)
		ls->eof = 1;
	if (what & BEV_EVENT_ERROR)
		ls->error = 1;
	event_base_loopbreak(ls->base);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	evbuffer_drain(bufferevent_get_input(bev), (size_t)-1);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

struct client_arg {
	int fd;
	char got[16];
};

static void *
blocking_client(void *p)
{
	struct client_arg *a = p;
	SSL_CTX *cctx = tu_client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
	SSL *c = SSL_new(cctx);
	struct timeval tv = { 5, 0 };
	int n;

	setsockopt(a->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	SSL_set_fd(c, a->fd);
	SSL_set_tlsext_host_name(c, "App.Example.com");
	SSL_set_alpn_protos(c, (const unsigned char *)"\x02h2\x08http/1.1",
	    12);
	if (SSL_connect(c) == 1 &&
	    (n = SSL_read(c, a->got, sizeof a->got - 1)) > 0)
		a->got[n] = '\0';
	SSL_shutdown(c);
	SSL_free(c);
	SSL_CTX_free(cctx);
	close(a->fd);
	return NULL;
}

static void
test_tls_bufferevent_accept_handshakes_in_event_loop(void)
{
	struct tls_keyring *r = tls_keyring_new(0);
	struct certstore *s = simple_store(NULL);
	SSL_CTX *sctx = server_ctx(s, r, "web", true, 0);
	struct loop_state ls = { 0 };
	struct client_arg ca = { 0 };
	struct timeval deadline = { 10, 0 };
	struct bufferevent *bev;
	struct event *timer;
	pthread_t th;
	int sv[2];

	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	REQUIRE((ls.base = event_base_new()) != NULL);
	evutil_make_socket_nonblocking(sv[0]);
	bev = tls_bufferevent_accept(sctx, ls.base, sv[0],
	    BEV_OPT_CLOSE_ON_FREE);
	REQUIRE(bev != NULL);
	bufferevent_setcb(bev, on_read, NULL, on_event, &ls);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	timer = evtimer_new(ls.base, on_deadline, ls.base);
	evtimer_add(timer, &deadline);
	ca.fd = sv[1];
	REQUIRE(pthread_create(&th, NULL, blocking_client, &ca) == 0);
	event_base_dispatch(ls.base);
	pthread_join(th, NULL);

	CHECK(ls.connected);
	CHECK(ls.eof);
	CHECK(!ls.error);
	CHECK_INT(ls.alpn, ==, TLS_ALPN_H2);
	CHECK_STR(ls.sni, "app.example.com");
	CHECK_STR(ca.got, "hello\n");
	bufferevent_free(bev);
	event_free(timer);
	event_base_free(ls.base);
	/* the context outlived by nothing now */
	SSL_CTX_free(sctx);
	certstore_unref(s);
	tls_keyring_unref(r);
}

HARNESS_MAIN(
    T(test_tls_refuses_tls10_and_tls11),
    T(test_tls_accepts_tls12_and_tls13),
    T(test_tls_min_version_13_refuses_tls12),
    T(test_tls_cipher_list_is_mozilla_intermediate),
    T(test_tls_sni_picks_exact_then_wildcard_then_first),
    T(test_tls_ecdsa_client_gets_ecdsa_rsa_only_client_gets_rsa),
    T(test_tls_alpn_selects_h2_http11_and_acme),
    T(test_tls13_tickets_resume_across_contexts_and_one_rotation),
    T(test_tls12_tickets_resume_across_contexts_and_one_rotation),
    T(test_tls_keyring_rotates_by_itself_when_due),
    T(test_tls_tickets_while_keys_rotate_on_another_thread),
    T(test_tls_refuses_client_renegotiation),
    T(test_tls_cert_swap_spares_established_connection),
    T(test_tls_without_any_certificate_fails_handshake),
    T(test_tls_bufferevent_accept_handshakes_in_event_loop))
