/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * certstore.c — see certstore.h.
 *
 * Two levels.  Sources are what writers manage: static certificate pairs
 * from the configuration, certificates installed per name (ACME) and
 * self-signed fallbacks.  They live under write_lock and are only touched
 * by writers.  From the sources a writer builds a table — a sorted array
 * of names, each with its ECDSA and RSA bundle, plus the default entry —
 * and publishes it by swapping the table pointer under table_lock held
 * for writing, which is held for nanoseconds.  Readers (handshakes) take
 * table_lock for reading, binary-search the table and take references on
 * the bundles they found; they never wait for a file to be read or a key
 * to be parsed.  A table owns one reference on each bundle it lists, so a
 * replaced bundle is freed when the old table is freed and the last
 * handshake that picked it lets go.
 */
#include "proxy/certstore.h"

#include <errno.h>
#include <pthread.h>
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
#include "common/log.h"

#define CERTSTORE_CHAIN_MAX 10

struct cert_bundle {
	atomic_uint refs;
	X509 *leaf;
	STACK_OF(X509) *chain;		/* never NULL, may be empty */
	EVP_PKEY *key;
	enum certstore_key type;
	time_t not_after;
	char **names;			/* normalised DNS names */
	size_t n_names;
};

enum certstore_src { SRC_STATIC, SRC_INSTALLED, SRC_FALLBACK };

struct certstore_source {
	enum certstore_src kind;
	char *name;			/* installed/fallback: the name it serves */
	char *cert_path;		/* NULL: the bundle came from memory */
	char *key_path;
	struct cert_bundle *bundle;
};

struct certstore_entry {
	char *name;
	struct cert_bundle *b[CERTSTORE_KEY__MAX];
	bool fallback_only;
	bool covered;			/* while building only */
};

struct certstore_table {
	struct certstore_entry *entries;	/* sorted by name */
	size_t n;
	struct certstore_entry def;		/* name NULL */
	bool has_def;
};

struct certstore {
	atomic_uint refs;
	atomic_ulong generation;
	pthread_rwlock_t table_lock;
	struct certstore_table *table;	/* read under table_lock */

	pthread_mutex_t write_lock;	/* everything below */
	struct certstore_source *statics;
	size_t n_statics;
	struct certstore_source *installed;	/* installed and fallbacks */
	size_t n_installed;
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
certstore_name_normalize(const char *in, size_t len, char *out,
    bool allow_wildcard)
{
	size_t i = 0, label = 0;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > CERTSTORE_NAME_MAX)
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
	char norm[CERTSTORE_NAME_MAX + 1], **names;

	if (certstore_name_normalize(name, len, norm, true) == -1)
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
certstore_bundle_new(X509 *leaf, STACK_OF(X509) *chain, EVP_PKEY *key,
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
		b->type = CERTSTORE_KEY_ECDSA;
		break;
	case EVP_PKEY_RSA:
		b->type = CERTSTORE_KEY_RSA;
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
	certstore_bundle_unref(b);
	return NULL;
}

struct cert_bundle *
certstore_bundle_load(const char *cert_path, const char *key_path,
    char *err, size_t errlen)
{
	struct cert_bundle *b = NULL;
	char *cbuf = NULL, *kbuf = NULL, sub[256];
	size_t clen = 0, klen = 0;
	BIO *bio = NULL;
	X509 *leaf = NULL, *x;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;

	if (fsutil_read_file(cert_path, CERTSTORE_FILE_MAX, &cbuf,
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
		if (sk_X509_num(chain) == CERTSTORE_CHAIN_MAX ||
		    !sk_X509_push(chain, x)) {
			X509_free(x);
			errf(err, errlen, "%s: more than %d chain "
			    "certificates", cert_path, CERTSTORE_CHAIN_MAX);
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

	if (fsutil_read_file(key_path, CERTSTORE_FILE_MAX, &kbuf,
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
	if ((b = certstore_bundle_new(leaf, chain, key, sub,
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
certstore_bundle_ref(struct cert_bundle *b)
{
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void
certstore_bundle_unref(struct cert_bundle *b)
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
certstore_bundle_leaf(const struct cert_bundle *b)
{
	return b->leaf;
}

STACK_OF(X509) *
certstore_bundle_chain(const struct cert_bundle *b)
{
	return b->chain;
}

EVP_PKEY *
certstore_bundle_key(const struct cert_bundle *b)
{
	return b->key;
}

enum certstore_key
certstore_bundle_type(const struct cert_bundle *b)
{
	return b->type;
}

time_t
certstore_bundle_not_after(const struct cert_bundle *b)
{
	return b->not_after;
}

size_t
certstore_bundle_n_names(const struct cert_bundle *b)
{
	return b->n_names;
}

const char *
certstore_bundle_name(const struct cert_bundle *b, size_t i)
{
	return i < b->n_names ? b->names[i] : NULL;
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
certstore_selfsigned(const char *const *names, size_t n_names,
    enum certstore_key type, long lifetime, char *err, size_t errlen)
{
	char norm[CERTSTORE_NAME_MAX + 1];
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
		if (certstore_name_normalize(names[i], strlen(names[i]), norm,
		    true) == -1) {
			errf(err, errlen, "%s: not a DNS name", names[i]);
			return NULL;
		}
	key = type == CERTSTORE_KEY_RSA ? EVP_RSA_gen(2048) :
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
	    selfsigned_add_ext(x, NID_key_usage, type == CERTSTORE_KEY_RSA ?
	    "critical,digitalSignature,keyEncipherment" :
	    "critical,digitalSignature") == -1 ||
	    selfsigned_add_ext(x, NID_ext_key_usage, "serverAuth") == -1 ||
	    X509_sign(x, key, EVP_sha256()) == 0)
		goto ssl_fail;
	b = certstore_bundle_new(x, NULL, key, err, errlen);
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

/* ---- tables ------------------------------------------------------------- */

struct table_item {
	const char *name;
	struct cert_bundle *bundle;
	enum certstore_src kind;
	size_t seq;			/* priority: lower wins */
};

static int
table_item_cmp(const void *a, const void *b)
{
	const struct table_item *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
table_entry_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct certstore_entry *)elem)->name);
}

static void
table_free(struct certstore_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->entries[i].name);
		for (int k = 0; k < CERTSTORE_KEY__MAX; k++)
			certstore_bundle_unref(t->entries[i].b[k]);
	}
	for (int k = 0; k < CERTSTORE_KEY__MAX; k++)
		certstore_bundle_unref(t->def.b[k]);
	free(t->entries);
	free(t);
}

static struct certstore_entry *
table_find(const struct certstore_table *t, const char *name)
{
	if (t == NULL || t->n == 0)
		return NULL;
	return bsearch(name, t->entries, t->n, sizeof t->entries[0],
	    table_entry_cmp);
}

/* The "*.parent" form of name into buf, or NULL when name has one label. */
static const char *
table_wildcard_of(const char *name, char *buf, size_t cap)
{
	const char *dot = strchr(name, '.');

	if (dot == NULL || dot[1] == '\0' || strlen(dot) + 2 > cap)
		return NULL;
	buf[0] = '*';
	memcpy(buf + 1, dot, strlen(dot) + 1);
	return buf;
}

static const struct certstore_entry *
table_lookup(const struct certstore_table *t, const char *name)
{
	char wild[CERTSTORE_NAME_MAX + 2];
	const struct certstore_entry *e = NULL;
	const char *w;

	if (name == NULL)
		return NULL;
	if ((e = table_find(t, name)) != NULL)
		return e;
	if ((w = table_wildcard_of(name, wild, sizeof wild)) != NULL)
		e = table_find(t, w);
	return e;
}

static void
table_set_default(struct certstore_table *t, const struct certstore_source *src)
{
	const struct certstore_entry *e = NULL;
	struct cert_bundle *b = src->bundle;

	if (src->kind == SRC_STATIC) {
		if (b->n_names > 0)
			e = table_find(t, b->names[0]);
	} else
		e = table_find(t, src->name);
	for (int k = 0; k < CERTSTORE_KEY__MAX; k++) {
		t->def.b[k] = e ? e->b[k] : NULL;
		if (t->def.b[k] != NULL)
			certstore_bundle_ref(t->def.b[k]);
	}
	if (e == NULL) {
		t->def.b[b->type] = b;
		certstore_bundle_ref(b);
	}
	t->has_def = true;
}

/*
 * Build the lookup table from the sources: every (name, bundle) pair in
 * priority order, sorted by name, each run of one name merged keeping the
 * first bundle of each key type.  Fallbacks only fill names that nothing
 * else covers, exactly or by wildcard.
 */
static struct certstore_table *
table_build(const struct certstore_source *st, size_t n_st,
    const struct certstore_source *in, size_t n_in)
{
	struct certstore_table *t;
	struct table_item *items = NULL;
	size_t n_items = 0, cap = 0, seq = 0, i, j, out;
	const struct certstore_source *def = NULL;
	char wild[CERTSTORE_NAME_MAX + 2];

	if ((t = calloc(1, sizeof *t)) == NULL)
		return NULL;
	for (i = 0; i < n_st; i++)
		cap += st[i].bundle->n_names;
	cap += n_in;
	if (cap > 0 && (items = calloc(cap, sizeof *items)) == NULL)
		goto fail;
	for (i = 0; i < n_st; i++)
		for (j = 0; j < st[i].bundle->n_names; j++)
			items[n_items++] = (struct table_item){
			    st[i].bundle->names[j], st[i].bundle, SRC_STATIC,
			    seq++ };
	for (int pass = SRC_INSTALLED; pass <= SRC_FALLBACK; pass++)
		for (i = 0; i < n_in; i++)
			if ((int)in[i].kind == pass)
				items[n_items++] = (struct table_item){
				    in[i].name, in[i].bundle, in[i].kind,
				    seq++ };
	if (n_items > 0)
		qsort(items, n_items, sizeof *items, table_item_cmp);
	if (n_items > 0 &&
	    (t->entries = calloc(n_items, sizeof *t->entries)) == NULL)
		goto fail;
	for (i = 0; i < n_items; i = j) {
		struct certstore_entry *e = &t->entries[t->n];
		bool real = items[i].kind != SRC_FALLBACK;

		for (j = i; j < n_items && !strcmp(items[j].name,
		    items[i].name); j++) {
			struct cert_bundle *b = items[j].bundle;

			if (real && items[j].kind == SRC_FALLBACK)
				continue;
			if (e->b[b->type] == NULL) {
				e->b[b->type] = b;
				certstore_bundle_ref(b);
			}
		}
		e->fallback_only = !real;
		if ((e->name = strdup(items[i].name)) == NULL) {
			t->n++;
			goto fail;
		}
		t->n++;
	}
	/* Drop fallbacks that a real wildcard entry already covers: mark
	 * first (the search needs the whole sorted array), then compact. */
	for (i = 0; i < t->n; i++) {
		struct certstore_entry *e = &t->entries[i], *w;
		const char *wn;

		if (e->fallback_only && e->name[0] != '*' &&
		    (wn = table_wildcard_of(e->name, wild, sizeof wild)) &&
		    (w = table_find(t, wn)) != NULL && !w->fallback_only)
			e->covered = true;
	}
	for (i = 0, out = 0; i < t->n; i++) {
		struct certstore_entry *e = &t->entries[i];

		if (e->covered) {
			free(e->name);
			for (int k = 0; k < CERTSTORE_KEY__MAX; k++)
				certstore_bundle_unref(e->b[k]);
			continue;
		}
		t->entries[out++] = *e;
	}
	t->n = out;

	if (n_st > 0)
		def = &st[0];
	for (int pass = SRC_INSTALLED; def == NULL && pass <= SRC_FALLBACK;
	    pass++)
		for (i = 0; def == NULL && i < n_in; i++)
			if ((int)in[i].kind == pass)
				def = &in[i];
	if (def != NULL)
		table_set_default(t, def);
	free(items);
	return t;
fail:
	free(items);
	table_free(t);
	return NULL;
}

/* ---- the store ---------------------------------------------------------- */

struct certstore *
certstore_new(void)
{
	struct certstore *s = calloc(1, sizeof *s);

	if (s == NULL)
		return NULL;
	atomic_init(&s->refs, 1);
	atomic_init(&s->generation, 0);
	if (pthread_rwlock_init(&s->table_lock, NULL) != 0) {
		free(s);
		return NULL;
	}
	if (pthread_mutex_init(&s->write_lock, NULL) != 0) {
		pthread_rwlock_destroy(&s->table_lock);
		free(s);
		return NULL;
	}
	return s;
}

void
certstore_ref(struct certstore *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

static void
source_clear(struct certstore_source *src)
{
	free(src->name);
	free(src->cert_path);
	free(src->key_path);
	certstore_bundle_unref(src->bundle);
	memset(src, 0, sizeof *src);
}

static void
sources_free(struct certstore_source *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		source_clear(&v[i]);
	free(v);
}

void
certstore_unref(struct certstore *s)
{
	if (s == NULL ||
	    atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	table_free(s->table);
	sources_free(s->statics, s->n_statics);
	sources_free(s->installed, s->n_installed);
	pthread_rwlock_destroy(&s->table_lock);
	pthread_mutex_destroy(&s->write_lock);
	free(s);
}

/*
 * Build a table from (st, in) and make it current.  Called with
 * write_lock held; the old table is freed after the swap, outside the
 * read-write lock.  -1 only when memory runs out (nothing changes).
 */
static int
store_publish(struct certstore *s, const struct certstore_source *st,
    size_t n_st, const struct certstore_source *in, size_t n_in)
{
	struct certstore_table *t, *old;

	if ((t = table_build(st, n_st, in, n_in)) == NULL)
		return -1;
	pthread_rwlock_wrlock(&s->table_lock);
	old = s->table;
	s->table = t;
	pthread_rwlock_unlock(&s->table_lock);
	atomic_fetch_add(&s->generation, 1);
	table_free(old);
	return 0;
}

static char *
xstrdup(const char *p)
{
	return p ? strdup(p) : NULL;
}

int
certstore_set_static(struct certstore *s, const struct conf_cert *certs,
    size_t n, char *err, size_t errlen)
{
	struct certstore_source *v = NULL;
	time_t now = time(NULL);
	size_t i;

	if (n > 0 && (v = calloc(n, sizeof *v)) == NULL) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		v[i].kind = SRC_STATIC;
		v[i].bundle = certstore_bundle_load(certs[i].cert_file,
		    certs[i].key_file, err, errlen);
		if (v[i].bundle == NULL)
			goto fail;
		v[i].cert_path = xstrdup(certs[i].cert_file);
		v[i].key_path = xstrdup(certs[i].key_file);
		if (v[i].cert_path == NULL || v[i].key_path == NULL) {
			errf(err, errlen, "out of memory");
			goto fail;
		}
		if (v[i].bundle->not_after < now)
			log_warnx("tls: %s: certificate expired",
			    certs[i].cert_file);
	}
	pthread_mutex_lock(&s->write_lock);
	if (store_publish(s, v, n, s->installed, s->n_installed) == -1) {
		pthread_mutex_unlock(&s->write_lock);
		errf(err, errlen, "out of memory");
		goto fail;
	}
	sources_free(s->statics, s->n_statics);
	s->statics = v;
	s->n_statics = n;
	pthread_mutex_unlock(&s->write_lock);
	return 0;
fail:
	sources_free(v, n);
	return -1;
}

/*
 * Replace every installed source of kind `kind` for name (both kinds when
 * kind is SRC_INSTALLED: a real certificate drops the fallback) with src,
 * or remove them when src is NULL, then publish.  Takes over src's
 * contents on success.  Called with write_lock held.
 */
static int
store_replace_installed(struct certstore *s, const char *name,
    enum certstore_src kind, struct certstore_source *src)
{
	struct certstore_source *v;
	size_t n = 0, i;

	v = calloc(s->n_installed + 1, sizeof *v);
	if (v == NULL)
		return -1;
	for (i = 0; i < s->n_installed; i++) {
		struct certstore_source *o = &s->installed[i];

		if (strcmp(o->name, name) == 0 &&
		    (kind == SRC_INSTALLED || o->kind == kind))
			continue;
		v[n++] = *o;
	}
	if (src != NULL)
		v[n++] = *src;
	if (store_publish(s, s->statics, s->n_statics, v, n) == -1) {
		free(v);
		return -1;
	}
	for (i = 0; i < s->n_installed; i++) {
		struct certstore_source *o = &s->installed[i];

		if (strcmp(o->name, name) == 0 &&
		    (kind == SRC_INSTALLED || o->kind == kind))
			source_clear(o);
	}
	free(s->installed);
	s->installed = v;
	s->n_installed = n;
	if (src != NULL)
		memset(src, 0, sizeof *src);
	return 0;
}

/* A bundle fit to be installed for name: covers it and is not expired. */
static int
check_installable(const struct cert_bundle *b, const char *name,
    char *err, size_t errlen)
{
	if (X509_check_host(b->leaf, name, strlen(name), 0, NULL) != 1) {
		ERR_clear_error();
		errf(err, errlen, "%s: the certificate does not cover this "
		    "name", name);
		return -1;
	}
	if (b->not_after < time(NULL)) {
		errf(err, errlen, "%s: the certificate has expired", name);
		return -1;
	}
	return 0;
}

static int
install(struct certstore *s, const char *name, const char *cert_path,
    const char *key_path, struct cert_bundle *b, char *err, size_t errlen)
{
	struct certstore_source src = { .kind = SRC_INSTALLED };
	char norm[CERTSTORE_NAME_MAX + 1];
	int rc;

	if (certstore_name_normalize(name, strlen(name), norm, false) == -1) {
		errf(err, errlen, "%s: not a DNS name", name);
		certstore_bundle_unref(b);
		return -1;
	}
	src.bundle = b;
	if (check_installable(b, norm, err, errlen) == -1)
		goto fail;
	src.name = strdup(norm);
	src.cert_path = xstrdup(cert_path);
	src.key_path = xstrdup(key_path);
	if (src.name == NULL || (cert_path && src.cert_path == NULL) ||
	    (key_path && src.key_path == NULL)) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	pthread_mutex_lock(&s->write_lock);
	rc = store_replace_installed(s, norm, SRC_INSTALLED, &src);
	pthread_mutex_unlock(&s->write_lock);
	if (rc == -1) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	return 0;
fail:
	source_clear(&src);
	return -1;
}

int
certstore_install(struct certstore *s, const char *name,
    const char *cert_path, const char *key_path, char *err, size_t errlen)
{
	struct cert_bundle *b;

	if ((b = certstore_bundle_load(cert_path, key_path, err,
	    errlen)) == NULL)
		return -1;
	return install(s, name, cert_path, key_path, b, err, errlen);
}

int
certstore_install_bundle(struct certstore *s, const char *name,
    struct cert_bundle *b, char *err, size_t errlen)
{
	certstore_bundle_ref(b);
	return install(s, name, NULL, NULL, b, err, errlen);
}

static bool
table_covers(const struct certstore_table *t, const char *name)
{
	const struct certstore_entry *e = table_lookup(t, name);

	if (e != NULL && e->fallback_only) {
		char wild[CERTSTORE_NAME_MAX + 2];
		const char *w = table_wildcard_of(name, wild, sizeof wild);

		e = w ? table_find(t, w) : NULL;
	}
	return e != NULL && !e->fallback_only;
}

bool
certstore_covers(struct certstore *s, const char *name)
{
	char norm[CERTSTORE_NAME_MAX + 1];
	bool r;

	if (certstore_name_normalize(name, strlen(name), norm, false) == -1)
		return false;
	pthread_rwlock_rdlock(&s->table_lock);
	r = table_covers(s->table, norm);
	pthread_rwlock_unlock(&s->table_lock);
	return r;
}

int
certstore_ensure_fallback(struct certstore *s, const char *name,
    bool *created, char *err, size_t errlen)
{
	struct certstore_source src = { .kind = SRC_FALLBACK };
	char norm[CERTSTORE_NAME_MAX + 1];
	const char *names[1] = { norm };
	time_t now = time(NULL);
	int rc = -1;

	if (created != NULL)
		*created = false;
	if (certstore_name_normalize(name, strlen(name), norm, false) == -1) {
		errf(err, errlen, "%s: not a DNS name", name);
		return -1;
	}
	pthread_mutex_lock(&s->write_lock);
	if (table_covers(s->table, norm)) {
		rc = 0;
		goto out;
	}
	for (size_t i = 0; i < s->n_installed; i++) {
		const struct certstore_source *o = &s->installed[i];

		if (o->kind == SRC_FALLBACK && strcmp(o->name, norm) == 0 &&
		    o->bundle->not_after - now > CERTSTORE_FALLBACK_LIFETIME / 2) {
			rc = 0;
			goto out;
		}
	}
	src.bundle = certstore_selfsigned(names, 1, CERTSTORE_KEY_ECDSA,
	    CERTSTORE_FALLBACK_LIFETIME, err, errlen);
	if (src.bundle == NULL)
		goto out;
	if ((src.name = strdup(norm)) == NULL ||
	    store_replace_installed(s, norm, SRC_FALLBACK, &src) == -1) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	if (created != NULL)
		*created = true;
	rc = 0;
out:
	pthread_mutex_unlock(&s->write_lock);
	source_clear(&src);
	return rc;
}

int
certstore_remove(struct certstore *s, const char *name)
{
	char norm[CERTSTORE_NAME_MAX + 1];
	bool found = false;
	int rc = -1;

	if (certstore_name_normalize(name, strlen(name), norm, false) == -1)
		return -1;
	pthread_mutex_lock(&s->write_lock);
	for (size_t i = 0; i < s->n_installed; i++)
		if (strcmp(s->installed[i].name, norm) == 0)
			found = true;
	if (found)
		rc = store_replace_installed(s, norm, SRC_INSTALLED, NULL);
	pthread_mutex_unlock(&s->write_lock);
	return rc;
}

/* Reload one source from its files; keeps the old bundle on failure. */
static int
source_reload(struct certstore_source *src, char *err, size_t errlen)
{
	struct cert_bundle *b;

	if (src->cert_path == NULL)
		return 0;
	b = certstore_bundle_load(src->cert_path, src->key_path, err, errlen);
	if (b == NULL)
		return -1;
	if (src->kind == SRC_INSTALLED &&
	    check_installable(b, src->name, err, errlen) == -1) {
		certstore_bundle_unref(b);
		return -1;
	}
	certstore_bundle_unref(src->bundle);
	src->bundle = b;
	return 0;
}

int
certstore_reload(struct certstore *s, char *err, size_t errlen)
{
	char msg[512];
	int rc = 0;
	size_t i;

	pthread_mutex_lock(&s->write_lock);
	for (i = 0; i < s->n_statics + s->n_installed; i++) {
		struct certstore_source *src = i < s->n_statics ?
		    &s->statics[i] : &s->installed[i - s->n_statics];

		if (source_reload(src, msg, sizeof msg) == -1) {
			log_warnx("tls: reload: %s (the previous certificate "
			    "stays)", msg);
			if (rc == 0)
				errf(err, errlen, "%s", msg);
			rc = -1;
		}
	}
	if (store_publish(s, s->statics, s->n_statics, s->installed,
	    s->n_installed) == -1) {
		errf(err, errlen, "out of memory");
		rc = -1;
	}
	pthread_mutex_unlock(&s->write_lock);
	return rc;
}

int
certstore_select(struct certstore *s, const char *servername,
    struct cert_bundle *out[CERTSTORE_KEY__MAX])
{
	const struct certstore_entry *e;
	int n = 0;

	pthread_rwlock_rdlock(&s->table_lock);
	e = table_lookup(s->table, servername);
	if (e == NULL && s->table != NULL && s->table->has_def)
		e = &s->table->def;
	for (int k = 0; k < CERTSTORE_KEY__MAX; k++) {
		out[k] = e ? e->b[k] : NULL;
		if (out[k] != NULL) {
			certstore_bundle_ref(out[k]);
			n++;
		}
	}
	pthread_rwlock_unlock(&s->table_lock);
	return n;
}

unsigned long
certstore_generation(struct certstore *s)
{
	return atomic_load(&s->generation);
}
