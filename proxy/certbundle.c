/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * certbundle.c — see certbundle.h.
 *
 * Parsing goes through OpenSSL's PEM readers on memory BIOs over files
 * read whole (bounded), with a passphrase callback that refuses, so an
 * encrypted key fails instead of prompting on a terminal.  Every failure
 * path empties this thread's OpenSSL error queue: a stale error would
 * confuse the next SSL_get_error() of a connection on the same thread.
 */
#include "proxy/certbundle.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/fsutil.h"

struct cert_bundle {
	atomic_uint refs;
	X509 *leaf;
	STACK_OF(X509) *chain;		/* never NULL, may be empty */
	EVP_PKEY *key;
	enum certbundle_key type;
	time_t not_after;
	char **names;			/* normalised DNS names */
	size_t n_names;
};

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

/* The reason of the last OpenSSL error on this thread, then an empty
 * queue: a stale error would confuse the next SSL_get_error() here. */
static const char *
ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "unknown error";
}

int
certbundle_name_normalize(const char *in, size_t len, char *out,
    bool allow_wildcard)
{
	size_t i = 0, label = 0;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > CERTBUNDLE_NAME_MAX)
		return -1;
	if (allow_wildcard && len > 2 && in[0] == '*' && in[1] == '.') {
		out[0] = '*';
		out[1] = '.';
		i = 2;
	}
	for (; i < len; i++) {
		char c = in[i];

		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
			out[i] = c;
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			return -1;
		if (++label > 63)
			return -1;
		out[i] = c;
	}
	if (label == 0)
		return -1;
	out[len] = '\0';
	return (int)len;
}

/* ---- bundles ------------------------------------------------------------ */

static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static int
bundle_add_name(struct cert_bundle *b, const char *name, size_t len)
{
	char norm[CERTBUNDLE_NAME_MAX + 1], **names;

	if (certbundle_name_normalize(name, len, norm, true) == -1)
		return 0;		/* not a DNS name we could ever match */
	for (size_t i = 0; i < b->n_names; i++)
		if (strcmp(b->names[i], norm) == 0)
			return 0;
	names = realloc(b->names, (b->n_names + 1) * sizeof *names);
	if (names == NULL)
		return -1;
	b->names = names;
	if ((names[b->n_names] = strdup(norm)) == NULL)
		return -1;
	b->n_names++;
	return 0;
}

/* subjectAltName dNSName entries, or the CN when there is none. */
static int
bundle_collect_names(struct cert_bundle *b)
{
	GENERAL_NAMES *gens;
	X509_NAME *subj;
	int rc = 0, i;

	gens = X509_get_ext_d2i(b->leaf, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_IA5STRING *s;

		if (g->type != GEN_DNS)
			continue;
		s = g->d.dNSName;
		if (memchr(ASN1_STRING_get0_data(s), '\0',
		    (size_t)ASN1_STRING_length(s)) != NULL)
			continue;
		if (bundle_add_name(b, (const char *)ASN1_STRING_get0_data(s),
		    (size_t)ASN1_STRING_length(s)) == -1)
			rc = -1;
	}
	GENERAL_NAMES_free(gens);
	if (rc == 0 && b->n_names == 0 &&
	    (subj = X509_get_subject_name(b->leaf)) != NULL) {
		i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
		if (i >= 0) {
			ASN1_STRING *cn = X509_NAME_ENTRY_get_data(
			    X509_NAME_get_entry(subj, i));
			unsigned char *utf8 = NULL;
			int n = ASN1_STRING_to_UTF8(&utf8, cn);

			if (n > 0 && memchr(utf8, '\0', (size_t)n) == NULL)
				rc = bundle_add_name(b, (const char *)utf8,
				    (size_t)n);
			OPENSSL_free(utf8);
		}
	}
	ERR_clear_error();
	return rc;
}

/*
 * Check the pair the way a handshake will use it: a scratch context at our
 * security level (2: 112 bits, no SHA-1 signatures) accepts it or says
 * why not, so a weak certificate fails at load time instead of at every
 * handshake.
 */
static int
bundle_check_usable(X509 *leaf, STACK_OF(X509) *chain, EVP_PKEY *key,
    char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int ok;

	if (ctx == NULL) {
		errf(err, errlen, "%s", ssl_reason());
		return -1;
	}
	SSL_CTX_set_security_level(ctx, 2);
	ok = SSL_CTX_use_cert_and_key(ctx, leaf, key, chain, 1) == 1;
	SSL_CTX_free(ctx);
	if (!ok) {
		errf(err, errlen, "certificate and key not usable: %s",
		    ssl_reason());
		return -1;
	}
	return 0;
}

struct cert_bundle *
certbundle_new(X509 *leaf, STACK_OF(X509) *chain, EVP_PKEY *key,
    char *err, size_t errlen)
{
	struct cert_bundle *b;
	struct tm tm;

	if ((b = calloc(1, sizeof *b)) == NULL) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&b->refs, 1);
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		b->type = CERTBUNDLE_KEY_ECDSA;
		break;
	case EVP_PKEY_RSA:
		b->type = CERTBUNDLE_KEY_RSA;
		break;
	default:
		errf(err, errlen, "unsupported key type (ECDSA or RSA only)");
		goto fail;
	}
	if (X509_check_private_key(leaf, key) != 1) {
		ERR_clear_error();
		errf(err, errlen, "the private key does not match the "
		    "certificate");
		goto fail;
	}
	if (bundle_check_usable(leaf, chain, key, err, errlen) == -1)
		goto fail;
	b->chain = chain ? X509_chain_up_ref(chain) : sk_X509_new_null();
	if (b->chain == NULL || !X509_up_ref(leaf) || !EVP_PKEY_up_ref(key)) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	b->leaf = leaf;
	b->key = key;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) != 1) {
		errf(err, errlen, "certificate has an invalid notAfter");
		goto fail;
	}
	b->not_after = timegm(&tm);
	if (bundle_collect_names(b) == -1) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	return b;
fail:
	ERR_clear_error();
	certbundle_unref(b);
	return NULL;
}

struct cert_bundle *
certbundle_load(const char *cert_path, const char *key_path,
    char *err, size_t errlen)
{
	struct cert_bundle *b = NULL;
	char *cbuf = NULL, *kbuf = NULL, sub[256];
	size_t clen = 0, klen = 0;
	BIO *bio = NULL;
	X509 *leaf = NULL, *x;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;

	if (fsutil_read_file(cert_path, CERTBUNDLE_FILE_MAX, &cbuf,
	    &clen) == -1) {
		errf(err, errlen, "%s: %s", cert_path, strerror(errno));
		goto out;
	}
	if ((bio = BIO_new_mem_buf(cbuf, (int)clen)) == NULL ||
	    (chain = sk_X509_new_null()) == NULL) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	if ((leaf = PEM_read_bio_X509(bio, NULL, no_passphrase,
	    NULL)) == NULL) {
		errf(err, errlen, "%s: no PEM certificate (%s)", cert_path,
		    ssl_reason());
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase,
	    NULL)) != NULL) {
		if (sk_X509_num(chain) == CERTBUNDLE_CHAIN_MAX ||
		    !sk_X509_push(chain, x)) {
			X509_free(x);
			errf(err, errlen, "%s: more than %d chain "
			    "certificates", cert_path, CERTBUNDLE_CHAIN_MAX);
			goto out;
		}
	}
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		errf(err, errlen, "%s: bad chain certificate (%s)",
		    cert_path, ssl_reason());
		goto out;
	}
	ERR_clear_error();
	BIO_free(bio);
	bio = NULL;

	if (fsutil_read_file(key_path, CERTBUNDLE_FILE_MAX, &kbuf,
	    &klen) == -1) {
		errf(err, errlen, "%s: %s", key_path, strerror(errno));
		goto out;
	}
	if ((bio = BIO_new_mem_buf(kbuf, (int)klen)) == NULL) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	if ((key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase,
	    NULL)) == NULL) {
		ERR_clear_error();
		errf(err, errlen, "%s: no usable PEM private key (encrypted "
		    "keys are not supported)", key_path);
		goto out;
	}
	if ((b = certbundle_new(leaf, chain, key, sub,
	    sizeof sub)) == NULL)
		errf(err, errlen, "%s: %s", cert_path, sub);
out:
	BIO_free(bio);
	if (kbuf != NULL) {
		OPENSSL_cleanse(kbuf, klen);
		free(kbuf);
	}
	free(cbuf);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return b;
}

void
certbundle_ref(struct cert_bundle *b)
{
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void
certbundle_unref(struct cert_bundle *b)
{
	if (b == NULL ||
	    atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
		return;
	X509_free(b->leaf);
	sk_X509_pop_free(b->chain, X509_free);
	EVP_PKEY_free(b->key);
	for (size_t i = 0; i < b->n_names; i++)
		free(b->names[i]);
	free(b->names);
	free(b);
}

X509 *
certbundle_leaf(const struct cert_bundle *b)
{
	return b->leaf;
}

STACK_OF(X509) *
certbundle_chain(const struct cert_bundle *b)
{
	return b->chain;
}

EVP_PKEY *
certbundle_key(const struct cert_bundle *b)
{
	return b->key;
}

enum certbundle_key
certbundle_type(const struct cert_bundle *b)
{
	return b->type;
}

time_t
certbundle_not_after(const struct cert_bundle *b)
{
	return b->not_after;
}

size_t
certbundle_n_names(const struct cert_bundle *b)
{
	return b->n_names;
}

const char *
certbundle_name(const struct cert_bundle *b, size_t i)
{
	return i < b->n_names ? b->names[i] : NULL;
}

bool
certbundle_covers(const struct cert_bundle *b, const char *name)
{
	int r = X509_check_host(b->leaf, name, strlen(name), 0, NULL);

	ERR_clear_error();
	return r == 1;
}

/* ---- self-signed certificates ------------------------------------------- */

static int
selfsigned_add_ext(X509 *x, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, nid, value);
	int ok;

	if (ext == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static int
selfsigned_add_san(X509 *x, const char *const *names, size_t n)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	int rc = -1;

	if (gens == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		if (g == NULL || s == NULL ||
		    !ASN1_STRING_set(s, names[i], (int)strlen(names[i]))) {
			GENERAL_NAME_free(g);
			ASN1_IA5STRING_free(s);
			goto out;
		}
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
		if (!sk_GENERAL_NAME_push(gens, g)) {
			GENERAL_NAME_free(g);
			goto out;
		}
	}
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_DEFAULT) == 1)
		rc = 0;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

struct cert_bundle *
certbundle_selfsigned(const char *const *names, size_t n_names,
    enum certbundle_key type, long lifetime, char *err, size_t errlen)
{
	char norm[CERTBUNDLE_NAME_MAX + 1];
	unsigned char serial[16];
	struct cert_bundle *b = NULL;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	X509_NAME *subj;
	BIGNUM *bn = NULL;

	if (n_names == 0) {
		errf(err, errlen, "no name for a self-signed certificate");
		return NULL;
	}
	for (size_t i = 0; i < n_names; i++)
		if (certbundle_name_normalize(names[i], strlen(names[i]), norm,
		    true) == -1) {
			errf(err, errlen, "%s: not a DNS name", names[i]);
			return NULL;
		}
	key = type == CERTBUNDLE_KEY_RSA ? EVP_RSA_gen(2048) :
	    EVP_EC_gen("P-256");
	if (key == NULL || (x = X509_new()) == NULL ||
	    RAND_bytes(serial, sizeof serial) != 1)
		goto ssl_fail;
	serial[0] &= 0x7f;		/* positive */
	serial[0] |= 0x01;		/* and 16 bytes long */
	if ((bn = BN_bin2bn(serial, sizeof serial, NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    !X509_set_version(x, X509_VERSION_3) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -60) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), lifetime) == NULL ||
	    !X509_set_pubkey(x, key))
		goto ssl_fail;
	subj = X509_get_subject_name(x);
	if (strlen(names[0]) <= 64 && !X509_NAME_add_entry_by_txt(subj, "CN",
	    MBSTRING_ASC, (const unsigned char *)names[0], -1, -1, 0))
		goto ssl_fail;
	if (!X509_set_issuer_name(x, subj) ||
	    selfsigned_add_san(x, names, n_names) == -1 ||
	    selfsigned_add_ext(x, NID_basic_constraints,
	    "critical,CA:FALSE") == -1 ||
	    selfsigned_add_ext(x, NID_key_usage, type == CERTBUNDLE_KEY_RSA ?
	    "critical,digitalSignature,keyEncipherment" :
	    "critical,digitalSignature") == -1 ||
	    selfsigned_add_ext(x, NID_ext_key_usage, "serverAuth") == -1 ||
	    X509_sign(x, key, EVP_sha256()) == 0)
		goto ssl_fail;
	b = certbundle_new(x, NULL, key, err, errlen);
	goto out;
ssl_fail:
	errf(err, errlen, "self-signed certificate for %s: %s", names[0],
	    ssl_reason());
out:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(key);
	return b;
}

