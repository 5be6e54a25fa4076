/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_tls_hello.c — libFuzzer target for the server side of a handshake:
 * the input is what a client sends first (a ClientHello in TLS records),
 * fed to an SSL made by tls_ctx_new().  That drives limen's callbacks on
 * hostile input: the SNI name check and certificate selection, the ALPN
 * list parser and the acme-tls/1 hook, the ticket key callback (when the
 * hello carries a ticket or PSK).  The seeds are real ClientHellos with
 * and without SNI, ALPN lists, TLS 1.2 and 1.3.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "proxy/certstore.h"
#include "proxy/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static SSL_CTX *ctx;
static struct cert_bundle *challenge;

static struct cert_bundle *
hook(const char *name, void *arg)
{
	if (strcmp(name, "acme.example.com") != 0)
		return NULL;
	certbundle_ref(challenge);
	return challenge;
}

static void
setup(void)
{
	const char *app[] = { "app.example.com", "*.example.com" };
	const char *acme[] = { "acme.example.com" };
	struct conf_listener l;
	struct certstore *s = certstore_new();
	struct tls_keyring *r = tls_keyring_new(0);
	struct cert_bundle *b;
	char err[256];

	memset(&l, 0, sizeof l);
	l.name = "fuzz";
	l.http2 = true;
	l.tls.enabled = true;
	b = certbundle_selfsigned(app, 2, CERTBUNDLE_KEY_ECDSA, 3600, err,
	    sizeof err);
	challenge = certbundle_selfsigned(acme, 1, CERTBUNDLE_KEY_ECDSA, 3600,
	    err, sizeof err);
	if (s == NULL || r == NULL || b == NULL || challenge == NULL ||
	    certstore_install_bundle(s, "app.example.com", b, err,
	    sizeof err) == -1 ||
	    (ctx = tls_ctx_new(&l, s, r, err, sizeof err)) == NULL)
		abort();
	tls_ctx_set_acme_hook(ctx, hook, NULL);
	certbundle_unref(b);
	certstore_unref(s);
	tls_keyring_unref(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum tls_alpn a;
	BIO *in, *out;
	SSL *ssl;

	if (ctx == NULL)
		setup();
	if ((ssl = SSL_new(ctx)) == NULL ||
	    (in = BIO_new_mem_buf(data, (int)size)) == NULL ||
	    (out = BIO_new(BIO_s_mem())) == NULL)
		abort();
	BIO_set_mem_eof_return(in, -1);		/* "would block" at the end */
	SSL_set_bio(ssl, in, out);
	SSL_set_accept_state(ssl);
	(void)SSL_do_handshake(ssl);
	a = tls_alpn(ssl);
	if (a != TLS_ALPN_NONE && a != TLS_ALPN_HTTP11 && a != TLS_ALPN_H2 &&
	    a != TLS_ALPN_ACME)
		abort();
	SSL_free(ssl);
	ERR_clear_error();
	return 0;
}
