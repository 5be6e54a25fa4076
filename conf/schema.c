/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * schema.c — walks YAML nodes against the key tables of schema.h: known
 * keys are parsed by their type, unknown keys get a did-you-mean hint
 * (HAProxy), missing keys get their default or a "missing" error, and
 * every problem is collected with its key path and position.
 */
#include "conf/schema.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "conf/diag.h"

static void conf_verr(struct conf_ctx *, int, int, const char *, va_list)
    __attribute__((format(printf, 4, 0)));

static void
conf_verr(struct conf_ctx *x, int line, int col, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (x->plen > 0)
		diag_error(x->d, x->file, line, col, "%s: %s", x->path, msg);
	else
		diag_error(x->d, x->file, line, col, "%s", msg);
	x->errors++;
}

void
conf_err(struct conf_ctx *x, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verr(x, n ? n->line : 0, n ? n->col : 0, fmt, ap);
	va_end(ap);
}

void
conf_err_at(struct conf_ctx *x, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verr(x, line, col, fmt, ap);
	va_end(ap);
}

void
conf_err_key(struct conf_ctx *x, const struct ynode *n, const char *key,
    const char *fmt, ...)
{
	const struct ynode *v = conf_yaml_get(n, key);
	size_t old = conf_path_push_key(x, key);
	va_list ap;

	va_start(ap, fmt);
	conf_verr(x, v ? v->line : n->line, v ? v->col : n->col, fmt, ap);
	va_end(ap);
	conf_path_pop(x, old);
}

size_t
conf_path_push_key(struct conf_ctx *x, const char *key)
{
	size_t old = x->plen;
	int n = snprintf(x->path + old, sizeof x->path - old, "%s%s",
	    old ? "." : "", key);
	if (n > 0)
		x->plen = strnlen(x->path, sizeof x->path - 1);
	return old;
}

size_t
conf_path_push_index(struct conf_ctx *x, size_t i)
{
	size_t old = x->plen;
	int n = snprintf(x->path + old, sizeof x->path - old, "[%zu]", i);
	if (n > 0)
		x->plen = strnlen(x->path, sizeof x->path - 1);
	return old;
}

void
conf_path_pop(struct conf_ctx *x, size_t old)
{
	x->plen = old;
	x->path[old] = '\0';
}

/* Damerau-Levenshtein (optimal string alignment), two rows + one. */
size_t
conf_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t rows[3][65], *pp, *p, *c;

	if (la > 64 || lb > 64)
		return (size_t)-1;
	pp = rows[0];
	p = rows[1];
	c = rows[2];
	for (size_t j = 0; j <= lb; j++)
		p[j] = j;
	for (size_t i = 1; i <= la; i++) {
		c[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t v = p[j] + 1;
			if (c[j - 1] + 1 < v)
				v = c[j - 1] + 1;
			if (p[j - 1] + cost < v)
				v = p[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			c[j] = v;
		}
		size_t *t = pp;
		pp = p;
		p = c;
		c = t;
	}
	return p[lb];
}

const char *
conf_did_you_mean(const char *word, const char *const *names, size_t n)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1, wl = strlen(word);
	/* allow about one typo per three characters, at least one, at most 3 */
	size_t limit = wl / 3 < 1 ? 1 : wl / 3 > 3 ? 3 : wl / 3;

	/* numbers are not typos of each other: 300 is not "301?" */
	if (strspn(word, "0123456789") == wl)
		return NULL;

	for (size_t i = 0; i < n; i++) {
		size_t dist = conf_edit_distance(word, names[i]);
		if (dist < best_d) {
			best_d = dist;
			best = names[i];
		}
	}
	return best_d <= limit ? best : NULL;
}

const char *
conf_scalar(struct conf_ctx *x, const struct ynode *n, const char *what)
{
	if (n->bad)
		return NULL;
	if (n->kind != YNODE_SCALAR || n->null) {
		conf_err(x, n, "expected %s, not %s", what,
		    conf_yaml_kind_name(n));
		return NULL;
	}
	return n->str;
}

int
conf_key_index(const struct conf_section *s, const char *name)
{
	for (int i = 0; s->keys[i].name != NULL; i++)
		if (strcmp(s->keys[i].name, name) == 0)
			return i;
	return -1;
}

static void
conf_unknown_key(struct conf_ctx *x, const struct conf_section *s,
    const struct ynode *k)
{
	const char *names[64];
	size_t n = 0;

	for (size_t i = 0; s->keys[i].name != NULL && n < 64; i++)
		names[n++] = s->keys[i].name;
	const char *hint = conf_did_you_mean(k->str, names, n);
	if (hint)
		conf_err(x, k, "unknown key '%s' (did you mean '%s'?)", k->str,
		    hint);
	else
		conf_err(x, k, "unknown key '%s'", k->str);
}

/* Give a parsed default (and all its children) the position `at`. */
static void
conf_place(struct ynode *n, const struct ynode *at)
{
	n->line = at->line;
	n->col = at->col;
	for (size_t i = 0; i < n->n_items; i++)
		conf_place(n->items[i], at);
	for (size_t i = 0; i < n->n_pairs; i++) {
		conf_place(n->pairs[i].key, at);
		conf_place(n->pairs[i].value, at);
	}
}

/* Defaults are YAML text: plain words as they are, flow lists through
 * the same YAML parser as the user's file. */
static void
conf_apply_default(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *at, void *obj)
{
	struct ynode def = {
		.kind = YNODE_SCALAR, .line = at->line, .col = at->col,
		.str = (char *)k->def, .len = strlen(k->def), .plain = true,
	}, *n = &def;

	if (strchr("[{\"'", k->def[0]) != NULL) {
		if (conf_yaml_parse(x->a, "(default)", k->def, strlen(k->def),
		    &n, x->d) == -1) {
			x->errors++;
			return;
		}
		conf_place(n, at);
	}
	k->type->parse(x, k, n, (char *)obj + k->off, obj);
}

/* `token` and `token_file` (any secret and its *_file) exclude each other. */
static void
conf_check_secret_pairs(struct conf_ctx *x, const struct conf_section *s,
    const struct ynode *n, const bool *seen)
{
	for (int i = 0; s->keys[i].name != NULL; i++) {
		const struct conf_key *k = &s->keys[i];
		char base[64];
		size_t l = strlen(k->name);
		if (k->type != &conf_t_secret_file || !seen[i] || l < 6 ||
		    l - 5 >= sizeof base)
			continue;
		memcpy(base, k->name, l - 5);
		base[l - 5] = '\0';
		int j = conf_key_index(s, base);
		if (j >= 0 && seen[j]) {
			const struct ynode *v = conf_yaml_get(n, k->name);
			conf_err(x, v, "give either '%s' or '%s', not both",
			    base, k->name);
		}
	}
}

void
conf_schema_section(struct conf_ctx *x, const struct conf_section *s,
    const struct ynode *n, void *obj)
{
	bool seen[64] = { false };
	size_t nkeys = 0, index = x->index;	/* nested lists change it */

	while (s->keys[nkeys].name != NULL)
		nkeys++;
	if (n->kind == YNODE_SCALAR && n->null) {
		/* "admin:" with nothing: the section, all defaults */
	} else if (n->kind != YNODE_MAP) {
		conf_err(x, n, "expected a mapping, not %s",
		    conf_yaml_kind_name(n));
		return;
	}
	for (size_t i = 0; n->kind == YNODE_MAP && i < n->n_pairs; i++) {
		const struct ynode *key = n->pairs[i].key, *val = n->pairs[i].value;
		int ki = conf_key_index(s, key->str);
		if (ki < 0) {
			conf_unknown_key(x, s, key);
			continue;
		}
		const struct conf_key *k = &s->keys[ki];
		seen[ki] = true;
		if (val->bad)
			continue;
		size_t old = conf_path_push_key(x, k->name);
		if (val->kind == YNODE_SCALAR && val->null &&
		    k->type != &conf_t_section && k->type != &conf_t_inline &&
		    k->type != &conf_t_section_ptr) {
			if (!(k->flags & CK_NULLABLE))
				conf_err(x, val, "missing value");
			else
				seen[ki] = false;
		} else
			k->type->parse(x, k, val, (char *)obj + k->off, obj);
		conf_path_pop(x, old);
	}
	for (size_t i = 0; i < nkeys; i++) {
		const struct conf_key *k = &s->keys[i];
		if (seen[i])
			continue;
		if ((k->flags & CK_REQUIRED) && !x->defaults_only) {
			conf_err(x, n, "missing required key '%s'", k->name);
		} else if (k->def != NULL) {
			size_t old = conf_path_push_key(x, k->name);
			conf_apply_default(x, k, n, obj);
			conf_path_pop(x, old);
		} else if (k->type == &conf_t_inline ||
		    (k->flags & CK_DEFAULTS)) {
			/* the defaults of an absent inline group still apply */
			struct ynode empty = { .kind = YNODE_SCALAR,
			    .line = n->line, .col = n->col, .str = "",
			    .null = true, .plain = true };
			size_t old = conf_path_push_key(x, k->name);
			bool was = x->defaults_only;
			x->defaults_only = true;
			k->type->parse(x, k, &empty, (char *)obj + k->off, obj);
			x->defaults_only = was;
			conf_path_pop(x, old);
		}
	}
	conf_check_secret_pairs(x, s, n, seen);
	x->index = index;
	if (s->finish != NULL)
		s->finish(x, n, obj, seen);
}

void
conf_schema_parse(struct conf_ctx *x, const struct ynode *root)
{
	if (root->kind == YNODE_SCALAR && root->null) {
		conf_err(x, root, "the configuration is empty");
		return;
	}
	conf_schema_section(x, &conf_schema_root, root, x->c);
}
