/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tls_testutil.h — helpers shared by test_tls.c and test_certstore.c:
 * certificates made at test time (no key material in the tree), PEM
 * files in a scratch directory, and TLS handshakes between two SSL
 * objects joined by a BIO pair, in memory, without sockets.
 *
 * Header-only (static inline) because the Makefile links each test file
 * with the harness alone.
 */
#ifndef LIMEN_TESTS_TLS_TESTUTIL_H
#define LIMEN_TESTS_TLS_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proxy/certstore.h"

/* One RSA key made once in the parent process (keygen is slow) and
 * inherited by every forked test; EC keys are made on demand. */
static EVP_PKEY *tu_rsa_key;

__attribute__((constructor)) static void
tu_init(void)
{
	tu_rsa_key = EVP_RSA_gen(2048);
	if (tu_rsa_key == NULL)
		abort();
}

static inline EVP_PKEY *
tu_key(enum certbundle_key type)
{
	EVP_PKEY *k;

	if (type == CERTBUNDLE_KEY_RSA) {
		EVP_PKEY_up_ref(tu_rsa_key);
		return tu_rsa_key;
	}
	if ((k = EVP_EC_gen("P-256")) == NULL)
		abort();
	return k;
}

static inline void
tu_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL ||
	    !X509_add_ext(x, e, -1))
		abort();
	X509_EXTENSION_free(e);
}

/*
 * A certificate for key with subject CN=cn and the DNS names in san
 * ("DNS:a,DNS:b" form, may be NULL), valid from not_before to not_after
 * seconds relative to now, signed by (issuer, issuer_key) or self-signed
 * when issuer is NULL; ca makes it a CA.
 */
static inline X509 *
tu_cert(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer,
    EVP_PKEY *issuer_key, int ca, long not_before, long not_after)
{
	static long serial = 1000;
	X509 *x = X509_new();

	if (x == NULL || !X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), serial++) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), not_before) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), not_after) ||
	    !X509_set_pubkey(x, key) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) :
	    X509_get_subject_name(x)))
		abort();
	tu_ext(x, issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" :
	    "critical,CA:FALSE");
	tu_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (san != NULL)
		tu_ext(x, issuer, NID_subject_alt_name, san);
	if (!X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()))
		abort();
	return x;
}

/* A self-signed leaf of the given type for san, valid a year. */
static inline struct cert_bundle *
tu_bundle(enum certbundle_key type, const char *cn, const char *san)
{
	char err[256];
	EVP_PKEY *k = tu_key(type);
	X509 *x = tu_cert(k, cn, san, NULL, NULL, 0, -60, 365L * 86400);
	struct cert_bundle *b = certbundle_new(x, NULL, k, err,
	    sizeof err);

	if (b == NULL) {
		fprintf(stderr, "tu_bundle: %s\n", err);
		abort();
	}
	X509_free(x);
	EVP_PKEY_free(k);
	return b;
}

/* A scratch directory for this test process. */
static inline const char *
tu_dir(void)
{
	static char dir[64];

	if (dir[0] == '\0') {
		snprintf(dir, sizeof dir, "/tmp/limen-tls-XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
	}
	return dir;
}

/* Write leaf + chain to DIR/base.crt and the key to DIR/base.key.
 * Returns static paths, valid until the next call. */
static inline void
tu_write_pem(X509 *leaf, STACK_OF(X509) *chain, EVP_PKEY *key,
    const char *base, const char **cert_path, const char **key_path)
{
	static char cp[128], kp[128];
	FILE *f;

	snprintf(cp, sizeof cp, "%s/%s.crt", tu_dir(), base);
	snprintf(kp, sizeof kp, "%s/%s.key", tu_dir(), base);
	if ((f = fopen(cp, "w")) == NULL || !PEM_write_X509(f, leaf))
		abort();
	for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++)
		if (!PEM_write_X509(f, sk_X509_value(chain, i)))
			abort();
	fclose(f);
	if ((f = fopen(kp, "w")) == NULL ||
	    !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL))
		abort();
	fclose(f);
	*cert_path = cp;
	*key_path = kp;
}

static inline void
tu_write_bundle(const struct cert_bundle *b, const char *base,
    const char **cert_path, const char **key_path)
{
	tu_write_pem(certbundle_leaf(b), certbundle_chain(b),
	    certbundle_key(b), base, cert_path, key_path);
}

/* Write b to files and return them as a `certificates:` entry (paths in
 * a static pool: enough for a test). */
static inline struct conf_cert
tu_conf_cert(const struct cert_bundle *b, const char *base)
{
	static char pool[32][2][128];
	static int next;
	const char *cp, *kp;
	struct conf_cert cc;

	if (next == 32)
		abort();
	tu_write_bundle(b, base, &cp, &kp);
	snprintf(pool[next][0], sizeof pool[next][0], "%s", cp);
	snprintf(pool[next][1], sizeof pool[next][1], "%s", kp);
	cc.cert_file = pool[next][0];
	cc.key_file = pool[next][1];
	next++;
	return cc;
}

/* A client context for [min, max] that verifies nothing. */
static inline SSL_CTX *
tu_client_ctx(int min, int max)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	if (c == NULL)
		abort();
	SSL_CTX_set_min_proto_version(c, min);
	SSL_CTX_set_max_proto_version(c, max);
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	return c;
}

/* A client and a server SSL joined by a BIO pair. */
static inline void
tu_pair(SSL_CTX *client_ctx, SSL_CTX *server_ctx, SSL **client,
    SSL **server)
{
	BIO *cb, *sb;

	if (!BIO_new_bio_pair(&cb, 0, &sb, 0))
		abort();
	*client = SSL_new(client_ctx);
	*server = SSL_new(server_ctx);
	if (*client == NULL || *server == NULL)
		abort();
	SSL_set_bio(*client, cb, cb);
	SSL_set_bio(*server, sb, sb);
	SSL_set_connect_state(*client);
	SSL_set_accept_state(*server);
}

/* Run both handshakes to the end; 0 when both completed. */
static inline int
tu_handshake(SSL *client, SSL *server)
{
	int cdone = 0, sdone = 0;

	for (int i = 0; i < 64 && !(cdone && sdone); i++) {
		if (!cdone) {
			int r = SSL_do_handshake(client), e;

			if (r == 1)
				cdone = 1;
			else if ((e = SSL_get_error(client, r)) !=
			    SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				break;
		}
		if (!sdone) {
			int r = SSL_do_handshake(server), e;

			if (r == 1)
				sdone = 1;
			else if ((e = SSL_get_error(server, r)) !=
			    SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				break;
		}
	}
	ERR_clear_error();
	return cdone && sdone ? 0 : -1;
}

/* Move len bytes from one side to the other; 0 when they arrived whole
 * (this also makes the client read TLS 1.3 session tickets). */
static inline int
tu_transfer(SSL *from, SSL *to, const char *data, int len)
{
	char buf[256];
	int n;

	if (len > (int)sizeof buf || SSL_write(from, data, len) != len)
		return -1;
	n = SSL_read(to, buf, sizeof buf);
	return n == len && memcmp(buf, data, (size_t)len) == 0 ? 0 : -1;
}

/* Handshake a fresh pair; on success return the client (server in *srv). */
static inline SSL *
tu_connect(SSL_CTX *cctx, SSL_CTX *sctx, const char *sni, SSL **srv)
{
	SSL *c, *s;

	tu_pair(cctx, sctx, &c, &s);
	if (sni != NULL)
		SSL_set_tlsext_host_name(c, sni);
	if (tu_handshake(c, s) == -1) {
		SSL_free(c);
		SSL_free(s);
		*srv = NULL;
		return NULL;
	}
	*srv = s;
	return c;
}

/* The leaf the client was served is b's leaf. */
static inline int
tu_served(SSL *client, const struct cert_bundle *b)
{
	X509 *peer = SSL_get0_peer_certificate(client);

	return peer != NULL && X509_cmp(peer, certbundle_leaf(b)) == 0;
}

#endif
