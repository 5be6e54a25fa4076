/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * certstore.c — see certstore.h.
 *
 * Two levels.  Sources are what writers manage: static certificate pairs
 * from the configuration, certificates installed per name (ACME) and
 * self-signed fallbacks.  They live under write_lock and are only touched
 * by writers.  From the sources a writer builds a table — a sorted array
 * of names, each with its ECDSA and RSA bundle, plus the default entry —
 * and publishes it with one atomic pointer exchange.  Readers (handshakes)
 * never lock: they protect the table they loaded with a hazard pointer
 * (proxy/hazard.h: a store to their own cache line), binary-search it and
 * take references on the bundles they found.  The writer frees the old
 * table once no thread protects it any more, which is a matter of
 * microseconds since a reader's critical section is one lookup.  A table
 * owns one reference on each bundle it lists, so a replaced bundle is
 * freed when the old table is freed and the last handshake that picked it
 * lets go.
 */
#include "proxy/certstore.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "proxy/hazard.h"

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
	struct cert_bundle *b[CERTBUNDLE_KEY__MAX];
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
	/* the current table: hazard_protect() to read, swapped by writers */
	struct certstore_table *_Atomic table;

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
		for (int k = 0; k < CERTBUNDLE_KEY__MAX; k++)
			certbundle_unref(t->entries[i].b[k]);
	}
	for (int k = 0; k < CERTBUNDLE_KEY__MAX; k++)
		certbundle_unref(t->def.b[k]);
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
	char wild[CERTBUNDLE_NAME_MAX + 2];
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
		if (certbundle_n_names(b) > 0)
			e = table_find(t, certbundle_name(b, 0));
	} else
		e = table_find(t, src->name);
	for (int k = 0; k < CERTBUNDLE_KEY__MAX; k++) {
		t->def.b[k] = e ? e->b[k] : NULL;
		if (t->def.b[k] != NULL)
			certbundle_ref(t->def.b[k]);
	}
	if (e == NULL) {
		t->def.b[certbundle_type(b)] = b;
		certbundle_ref(b);
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
	char wild[CERTBUNDLE_NAME_MAX + 2];

	if ((t = calloc(1, sizeof *t)) == NULL)
		return NULL;
	for (i = 0; i < n_st; i++)
		cap += certbundle_n_names(st[i].bundle);
	cap += n_in;
	if (cap > 0 && (items = calloc(cap, sizeof *items)) == NULL)
		goto fail;
	for (i = 0; i < n_st; i++)
		for (j = 0; j < certbundle_n_names(st[i].bundle); j++)
			items[n_items++] = (struct table_item){
			    certbundle_name(st[i].bundle, j), st[i].bundle,
			    SRC_STATIC, seq++ };
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
			if (e->b[certbundle_type(b)] == NULL) {
				e->b[certbundle_type(b)] = b;
				certbundle_ref(b);
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
			for (int k = 0; k < CERTBUNDLE_KEY__MAX; k++)
				certbundle_unref(e->b[k]);
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
	atomic_init(&s->table, NULL);
	if (pthread_mutex_init(&s->write_lock, NULL) != 0) {
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
	certbundle_unref(src->bundle);
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
	table_free(atomic_load(&s->table));
	sources_free(s->statics, s->n_statics);
	sources_free(s->installed, s->n_installed);
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
	old = atomic_exchange(&s->table, t);
	atomic_fetch_add(&s->generation, 1);
	while (old != NULL && hazard_in_use(old))
		sched_yield();		/* a lookup is finishing on it */
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
		v[i].bundle = certbundle_load(certs[i].cert_file,
		    certs[i].key_file, err, errlen);
		if (v[i].bundle == NULL)
			goto fail;
		v[i].cert_path = xstrdup(certs[i].cert_file);
		v[i].key_path = xstrdup(certs[i].key_file);
		if (v[i].cert_path == NULL || v[i].key_path == NULL) {
			errf(err, errlen, "out of memory");
			goto fail;
		}
		if (certbundle_not_after(v[i].bundle) < now)
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
	if (!certbundle_covers(b, name)) {
		errf(err, errlen, "%s: the certificate does not cover this "
		    "name", name);
		return -1;
	}
	if (certbundle_not_after(b) < time(NULL)) {
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
	char norm[CERTBUNDLE_NAME_MAX + 1];
	int rc;

	if (certbundle_name_normalize(name, strlen(name), norm, false) == -1) {
		errf(err, errlen, "%s: not a DNS name", name);
		certbundle_unref(b);
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

	if ((b = certbundle_load(cert_path, key_path, err,
	    errlen)) == NULL)
		return -1;
	return install(s, name, cert_path, key_path, b, err, errlen);
}

int
certstore_install_bundle(struct certstore *s, const char *name,
    struct cert_bundle *b, char *err, size_t errlen)
{
	certbundle_ref(b);
	return install(s, name, NULL, NULL, b, err, errlen);
}

static bool
table_covers(const struct certstore_table *t, const char *name)
{
	const struct certstore_entry *e = table_lookup(t, name);

	if (e != NULL && e->fallback_only) {
		char wild[CERTBUNDLE_NAME_MAX + 2];
		const char *w = table_wildcard_of(name, wild, sizeof wild);

		e = w ? table_find(t, w) : NULL;
	}
	return e != NULL && !e->fallback_only;
}

bool
certstore_covers(struct certstore *s, const char *name)
{
	char norm[CERTBUNDLE_NAME_MAX + 1];
	bool r;

	if (certbundle_name_normalize(name, strlen(name), norm, false) == -1)
		return false;
	r = table_covers(hazard_protect((void *_Atomic *)&s->table), norm);
	hazard_clear();
	return r;
}

int
certstore_ensure_fallback(struct certstore *s, const char *name,
    bool *created, char *err, size_t errlen)
{
	struct certstore_source src = { .kind = SRC_FALLBACK };
	char norm[CERTBUNDLE_NAME_MAX + 1];
	const char *names[1] = { norm };
	time_t now = time(NULL);
	int rc = -1;

	if (created != NULL)
		*created = false;
	if (certbundle_name_normalize(name, strlen(name), norm, false) == -1) {
		errf(err, errlen, "%s: not a DNS name", name);
		return -1;
	}
	pthread_mutex_lock(&s->write_lock);
	if (table_covers(atomic_load(&s->table), norm)) {
		rc = 0;
		goto out;
	}
	for (size_t i = 0; i < s->n_installed; i++) {
		const struct certstore_source *o = &s->installed[i];

		if (o->kind == SRC_FALLBACK && strcmp(o->name, norm) == 0 &&
		    certbundle_not_after(o->bundle) - now >
		    CERTSTORE_FALLBACK_LIFETIME / 2) {
			rc = 0;
			goto out;
		}
	}
	src.bundle = certbundle_selfsigned(names, 1, CERTBUNDLE_KEY_ECDSA,
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
	char norm[CERTBUNDLE_NAME_MAX + 1];
	bool found = false;
	int rc = -1;

	if (certbundle_name_normalize(name, strlen(name), norm, false) == -1)
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
	b = certbundle_load(src->cert_path, src->key_path, err, errlen);
	if (b == NULL)
		return -1;
	if (src->kind == SRC_INSTALLED &&
	    check_installable(b, src->name, err, errlen) == -1) {
		certbundle_unref(b);
		return -1;
	}
	certbundle_unref(src->bundle);
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
    struct cert_bundle *out[CERTBUNDLE_KEY__MAX])
{
	const struct certstore_table *t;
	const struct certstore_entry *e;
	int n = 0;

	t = hazard_protect((void *_Atomic *)&s->table);
	e = table_lookup(t, servername);
	if (e == NULL && t != NULL && t->has_def)
		e = &t->def;
	for (int k = 0; k < CERTBUNDLE_KEY__MAX; k++) {
		out[k] = e ? e->b[k] : NULL;
		if (out[k] != NULL) {
			certbundle_ref(out[k]);
			n++;
		}
	}
	hazard_clear();
	return n;
}

unsigned long
certstore_generation(struct certstore *s)
{
	return atomic_load(&s->generation);
}
