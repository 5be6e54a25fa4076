/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * yaml.c — see yaml.h.  One pass over libyaml's events with an explicit
 * stack of open collections; children are gathered in malloc'd growable
 * arrays and copied into the arena when their collection closes.
 * Duplicate mapping keys are refused; a mapping past YAML_KEY_INDEX_MIN
 * keys gets a hash index of them, so that a huge map (a generated
 * headers.set, say) loads in linear time, not quadratic.
 */
#include "conf/yaml.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/arena.h"
#include "conf/diag.h"

struct yframe {
	struct ynode *node;
	struct ynode **kids;		/* seq items, or key, value, key, ... */
	size_t n, cap;
	bool drop_value;		/* the key was a duplicate */
	/* maps only, once large: open addressing over kids[] key slots,
	 * each entry the key's index in kids + 1 (0 = empty) */
	size_t *index;
	size_t index_cap;		/* a power of two; 0 = no index yet */
};

#define YAML_KEY_INDEX_MIN	16

static size_t
yaml_key_hash(const struct ynode *k)
{
	size_t h = 2166136261u;		/* FNV-1a */

	for (size_t i = 0; i < k->len; i++)
		h = (h ^ (unsigned char)k->str[i]) * 16777619u;
	return h;
}

static bool
yaml_key_same(const struct ynode *a, const struct ynode *b)
{
	return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
}

/* Put kids[at] (a key) into the index; the index has room. */
static void
yaml_index_put(struct yframe *f, size_t at)
{
	size_t mask = f->index_cap - 1;
	size_t i = yaml_key_hash(f->kids[at]) & mask;

	while (f->index[i] != 0)
		i = (i + 1) & mask;
	f->index[i] = at + 1;
}

/* (Re)build the index at twice the keys' count, rounded up. */
static int
yaml_index_grow(struct yframe *f)
{
	size_t cap = f->index_cap ? f->index_cap * 2 : 64;
	size_t *idx;

	while (cap < f->n * 2)
		cap *= 2;
	if ((idx = calloc(cap, sizeof *idx)) == NULL)
		return -1;
	free(f->index);
	f->index = idx;
	f->index_cap = cap;
	for (size_t i = 0; i < f->n; i += 2)
		yaml_index_put(f, i);
	return 0;
}

/* The earlier key equal to k in this map, or NULL. */
static struct ynode *
yaml_key_find(const struct yframe *f, const struct ynode *k)
{
	if (f->index_cap == 0) {
		for (size_t i = 0; i < f->n; i += 2)
			if (yaml_key_same(f->kids[i], k))
				return f->kids[i];
		return NULL;
	}
	size_t mask = f->index_cap - 1;
	for (size_t i = yaml_key_hash(k) & mask; f->index[i] != 0;
	    i = (i + 1) & mask)
		if (yaml_key_same(f->kids[f->index[i] - 1], k))
			return f->kids[f->index[i] - 1];
	return NULL;
}

struct ybuild {
	struct arena *a;
	const char *name;
	struct diag *d;
	struct yframe stack[CONF_YAML_MAX_DEPTH];
	size_t depth;
	struct ynode *root;
	int errors;
	bool oom;
};

static struct ynode *
yaml_node_new(struct ybuild *b, enum ynode_kind kind, const yaml_mark_t *m)
{
	struct ynode *n = arena_alloc(b->a, sizeof *n);
	if (n == NULL) {
		b->oom = true;
		return NULL;
	}
	n->kind = kind;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	return n;
}

static void
yaml_error(struct ybuild *b, const yaml_mark_t *m, const char *msg,
    const char *arg)
{
	diag_error(b->d, b->name, (int)m->line + 1, (int)m->column + 1,
	    "%s%s%s%s", msg, arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
	b->errors++;
}

static int
yaml_frame_push_kid(struct ybuild *b, struct yframe *f, struct ynode *n)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		void *p = realloc(f->kids, cap * sizeof *f->kids);
		if (p == NULL) {
			b->oom = true;
			return -1;
		}
		f->kids = p;
		f->cap = cap;
	}
	f->kids[f->n++] = n;
	return 0;
}

/* A finished node: becomes the root, an item, a key or a value. */
static int
yaml_attach(struct ybuild *b, struct ynode *n)
{
	struct yframe *f;

	if (b->depth == 0) {
		b->root = n;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	if (f->node->kind == YNODE_SEQ)
		return yaml_frame_push_kid(b, f, n);
	if (f->drop_value) {
		/* the value of a duplicate key: parsed, then dropped */
		f->drop_value = false;
		return 0;
	}
	if (f->n % 2 == 0) {
		/* a key */
		if (n->kind != YNODE_SCALAR) {
			diag_error(b->d, b->name, n->line, n->col,
			    "a mapping key must be a plain string, not %s",
			    conf_yaml_kind_name(n));
			b->errors++;
			return -1;
		}
		struct ynode *k = yaml_key_find(f, n);
		if (k != NULL) {
			diag_error(b->d, b->name, n->line, n->col,
			    "duplicate key '%s' (first at line %d)",
			    n->str, k->line);
			b->errors++;
			f->drop_value = true;
			return 0;
		}
		if (yaml_frame_push_kid(b, f, n) == -1)
			return -1;
		if (f->index_cap != 0 && f->n * 2 <= f->index_cap) {
			yaml_index_put(f, f->n - 1);
		} else if (f->n / 2 + 1 >= YAML_KEY_INDEX_MIN &&
		    yaml_index_grow(f) == -1) {
			b->oom = true;
			return -1;
		}
		return 0;
	}
	return yaml_frame_push_kid(b, f, n);
}

static int
yaml_open(struct ybuild *b, enum ynode_kind kind, const yaml_mark_t *m)
{
	struct ynode *n;

	if (b->depth == CONF_YAML_MAX_DEPTH) {
		yaml_error(b, m, "nesting too deep", NULL);
		return -1;
	}
	if ((n = yaml_node_new(b, kind, m)) == NULL)
		return -1;
	b->stack[b->depth++] = (struct yframe){ .node = n };
	return 0;
}

static int
yaml_close(struct ybuild *b)
{
	struct yframe *f = &b->stack[--b->depth];
	struct ynode *n = f->node;
	int rc = -1;

	if (n->kind == YNODE_SEQ) {
		n->items = arena_calloc(b->a, f->n ? f->n : 1, sizeof *n->items);
		if (n->items == NULL)
			goto fail;
		if (f->n > 0)
			memcpy(n->items, f->kids, f->n * sizeof *n->items);
		n->n_items = f->n;
	} else {
		size_t np = f->n / 2;	/* a dangling key cannot happen */
		n->pairs = arena_calloc(b->a, np ? np : 1, sizeof *n->pairs);
		if (n->pairs == NULL)
			goto fail;
		for (size_t i = 0; i < np; i++) {
			n->pairs[i].key = f->kids[2 * i];
			n->pairs[i].value = f->kids[2 * i + 1];
		}
		n->n_pairs = np;
	}
	rc = yaml_attach(b, n);
fail:
	if (rc == -1 && n->items == NULL && n->pairs == NULL)
		b->oom = b->errors == 0;
	free(f->kids);
	free(f->index);
	return rc;
}

static int
yaml_scalar(struct ybuild *b, const yaml_event_t *ev)
{
	struct ynode *n = yaml_node_new(b, YNODE_SCALAR, &ev->start_mark);
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	if (n == NULL)
		return -1;
	if ((n->str = arena_memdup(b->a, v, len)) == NULL) {
		b->oom = true;
		return -1;
	}
	n->len = len;
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	n->null = n->plain && (len == 0 || strcmp(n->str, "~") == 0 ||
	    strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
	    strcmp(n->str, "NULL") == 0);
	return yaml_attach(b, n);
}

/* Anchors and tags are reported but the node is still built. */
static void
yaml_check_props(struct ybuild *b, const yaml_event_t *ev,
    const yaml_char_t *anchor, const yaml_char_t *tag, int implicit)
{
	if (anchor != NULL)
		yaml_error(b, &ev->start_mark, "YAML anchors are not supported:",
		    (const char *)anchor);
	if (tag != NULL && !implicit)
		yaml_error(b, &ev->start_mark, "YAML tags are not supported:",
		    (const char *)tag);
}

static int
yaml_event(struct ybuild *b, yaml_event_t *ev, int *docs)
{
	struct ynode *n;

	switch (ev->type) {
	case YAML_STREAM_START_EVENT:
	case YAML_STREAM_END_EVENT:
	case YAML_DOCUMENT_END_EVENT:
	case YAML_NO_EVENT:
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1) {
			yaml_error(b, &ev->start_mark,
			    "only one YAML document is allowed", NULL);
			return -1;
		}
		return 0;
	case YAML_ALIAS_EVENT:
		yaml_error(b, &ev->start_mark, "YAML aliases are not supported:",
		    (const char *)ev->data.alias.anchor);
		if ((n = yaml_node_new(b, YNODE_SCALAR, &ev->start_mark)) == NULL)
			return -1;
		n->str = "";
		n->null = n->plain = true;
		return yaml_attach(b, n);
	case YAML_SCALAR_EVENT:
		yaml_check_props(b, ev, ev->data.scalar.anchor,
		    ev->data.scalar.tag, ev->data.scalar.plain_implicit ||
		    ev->data.scalar.quoted_implicit);
		return yaml_scalar(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		yaml_check_props(b, ev, ev->data.sequence_start.anchor,
		    ev->data.sequence_start.tag,
		    ev->data.sequence_start.implicit);
		return yaml_open(b, YNODE_SEQ, &ev->start_mark);
	case YAML_MAPPING_START_EVENT:
		yaml_check_props(b, ev, ev->data.mapping_start.anchor,
		    ev->data.mapping_start.tag,
		    ev->data.mapping_start.implicit);
		return yaml_open(b, YNODE_MAP, &ev->start_mark);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return yaml_close(b);
	}
	return 0;
}

static void
yaml_syntax_error(struct ybuild *b, const yaml_parser_t *p, const char *text,
    size_t len)
{
	const yaml_mark_t *m = &p->problem_mark;
	const char *problem = p->problem ? p->problem : "cannot parse";
	const char *hint = "";

	if (p->error == YAML_MEMORY_ERROR) {
		b->oom = true;
		return;
	}
	if (m->index < len && text[m->index] == '\t')
		hint = " (YAML does not allow tabs for indentation)";
	if (p->context != NULL)
		diag_error(b->d, b->name, (int)m->line + 1, (int)m->column + 1,
		    "YAML syntax error: %s (%s)%s", problem, p->context, hint);
	else
		diag_error(b->d, b->name, (int)m->line + 1, (int)m->column + 1,
		    "YAML syntax error: %s%s", problem, hint);
	b->errors++;
}

int
conf_yaml_parse(struct arena *a, const char *name, const char *text,
    size_t len, struct ynode **root, struct diag *d)
{
	struct ybuild b = { .a = a, .name = name, .d = d };
	yaml_parser_t p;
	yaml_event_t ev;
	int docs = 0, done = 0;
	static const yaml_mark_t start = { 0, 0, 0 };

	if (!yaml_parser_initialize(&p)) {
		diag_error(d, name, 0, 0, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			yaml_syntax_error(&b, &p, text, len);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		int rc = yaml_event(&b, &ev, &docs);
		yaml_event_delete(&ev);
		if (rc == -1 || b.oom)
			break;
	}
	yaml_parser_delete(&p);
	while (b.depth > 0) {
		b.depth--;
		free(b.stack[b.depth].kids);
		free(b.stack[b.depth].index);
	}
	if (b.oom) {
		diag_error(d, name, 0, 0, "out of memory");
		return -1;
	}
	if (b.errors > 0)
		return -1;
	if (b.root == NULL) {
		/* an empty document */
		if ((b.root = yaml_node_new(&b, YNODE_SCALAR, &start)) == NULL) {
			diag_error(d, name, 0, 0, "out of memory");
			return -1;
		}
		b.root->str = "";
		b.root->null = b.root->plain = true;
	}
	*root = b.root;
	return 0;
}

struct ynode *
conf_yaml_get(const struct ynode *map, const char *key)
{
	if (map == NULL || map->kind != YNODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n_pairs; i++)
		if (strcmp(map->pairs[i].key->str, key) == 0)
			return map->pairs[i].value;
	return NULL;
}

const char *
conf_yaml_kind_name(const struct ynode *n)
{
	switch (n->kind) {
	case YNODE_SCALAR:
		return n->null ? "nothing" : "a string";
	case YNODE_SEQ:
		return "a list";
	case YNODE_MAP:
		return "a mapping";
	}
	return "?";
}
