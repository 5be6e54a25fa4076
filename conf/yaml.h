/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * yaml.h — YAML text to a small node tree with positions (h2o's yoml).
 *
 * conf_yaml_parse() drives libyaml's event API and builds scalars,
 * sequences and mappings in an arena; every node keeps its 1-based line
 * and column so that each later message can point at the exact place.
 * Only the part of YAML a configuration needs is accepted: one document,
 * plain/quoted/block scalars, flow and block collections.  Anchors,
 * aliases, explicit tags, non-scalar mapping keys, duplicate keys and a
 * second document are errors, reported with their positions.  Scalars
 * stay text: the schema decides what "true" or "30s" means.
 */
#ifndef LIMEN_CONF_YAML_H
#define LIMEN_CONF_YAML_H

#include <stdbool.h>
#include <stddef.h>

struct arena;
struct diag;

enum ynode_kind { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };

struct ynode;

struct ypair {
	struct ynode *key;		/* always a scalar */
	struct ynode *value;
};

struct ynode {
	enum ynode_kind kind;
	int line, col;			/* 1-based, of the node's first char */
	/* scalar */
	char *str;			/* NUL-terminated (may hold NULs) */
	size_t len;
	bool plain;			/* unquoted, not a block scalar */
	bool null;			/* plain "", "~" or "null" */
	bool bad;			/* already reported (e.g. ${X} unset) */
	/* sequence */
	struct ynode **items;
	size_t n_items;
	/* mapping, in document order */
	struct ypair *pairs;
	size_t n_pairs;
};

/* Deepest nesting accepted (a configuration needs about 8). */
#define CONF_YAML_MAX_DEPTH 64

/*
 * Parse len bytes of text.  On success *root is the document's root node
 * (a null scalar for an empty document) and 0 is returned; on failure -1,
 * with every problem found added to d under the file name `name`.
 */
int conf_yaml_parse(struct arena *a, const char *name, const char *text,
    size_t len, struct ynode **root, struct diag *d);

/* The value of key in a mapping, or NULL. */
struct ynode *conf_yaml_get(const struct ynode *map, const char *key);
/* "a scalar", "a list", "a mapping" — for messages. */
const char *conf_yaml_kind_name(const struct ynode *n);

#endif
