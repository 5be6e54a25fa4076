/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * schema.h — the configuration as data (nginx ngx_command_t, HAProxy
 * cfg_kw_list, Redis standardConfig).
 *
 * Each section is a table of keys: name, type, offset into the typed
 * struct of config.h, default (as YAML text, parsed by the same code as a
 * user's value), required flag, bounds, enum values, nested section, and
 * a line of documentation.  schema.c walks a YAML node against a table:
 * it parses every known key, reports unknown keys with a did-you-mean
 * hint, applies defaults, checks required keys, then calls the section's
 * `finish` hook for checks that involve several keys of the same section.
 * docs.c prints docs/config.md from the very same tables.
 *
 * The tables live in schema_<section>.c, one file per top-level section;
 * shared value types (duration, size, address...) are in schema_types.c.
 */
#ifndef LIMEN_CONF_SCHEMA_H
#define LIMEN_CONF_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf/config.h"
#include "conf/yaml.h"

struct arena;
struct diag;
struct conf_key;
struct conf_section;

/* What the loader does with secrets of a part (see conf_load_ex). */
#define CONF_CTX_SKIP_BACKUP_SECRETS CONF_LOAD_SKIP_BACKUP_SECRETS
#define CONF_CTX_SKIP_PROXY_SECRETS  CONF_LOAD_SKIP_PROXY_SECRETS

/* The state of one load: where messages go and the current key path. */
struct conf_ctx {
	struct arena *a;
	const char *file;
	struct diag *d;
	struct config *c;
	unsigned flags;
	int errors;
	size_t index;			/* position of the list item being parsed */
	bool defaults_only;		/* filling an absent group: no "missing" */
	char path[512];
	size_t plen;
};

/* A value type: how to parse one node into dst, and its name in docs. */
struct conf_type {
	const char *name;
	int (*parse)(struct conf_ctx *, const struct conf_key *,
	    const struct ynode *, void *dst, void *base);
};

struct conf_enum {
	const char *name;
	int value;
};

#define CK_REQUIRED	0x01	/* must be present */
#define CK_LOWER	0x02	/* strings: lower-case them */
#define CK_SECRET_FILE	0x04	/* *_file: read the file into off2 */
#define CK_PROXY	0x08	/* secret belongs to the proxy (limen) */
#define CK_BACKUP	0x10	/* secret belongs to limen-backup */
#define CK_NULLABLE	0x20	/* "key:" with no value means "unset" */
#define CK_DEFAULTS	0x40	/* sections: apply defaults when absent */

struct conf_key {
	const char *name;
	const struct conf_type *type;
	size_t off;			/* the field in the section's struct */
	size_t off2;			/* second field: count of a list, content
					 * of a secret file, `enabled` of a section */
	const char *def;		/* default, as YAML text; NULL = none */
	unsigned flags;
	int64_t min, max;		/* bounds of integers (max 0: none) */
	const struct conf_enum *enums;	/* for enum types, NULL-terminated */
	const struct conf_section *sub;	/* nested section or list item */
	const char *doc;		/* one line for docs/config.md */
	const char *example;		/* shown when there is no default */
};

struct conf_section {
	const char *name;		/* for docs: "global", "routes[]" ... */
	const struct conf_key *keys;	/* terminated by a { NULL } entry */
	size_t size;			/* sizeof the struct items are made of */
	size_t name_off;		/* named maps: where the key goes (+1) */
	/* cross-key checks of one section; seen[i] tells if keys[i] was given */
	void (*finish)(struct conf_ctx *, const struct ynode *, void *obj,
	    const bool *seen);
	const char *doc;		/* a paragraph for docs/config.md */
};

#define CONF_NAME_OFF(type, field) (offsetof(type, field) + 1)

/* ---- the walker (schema.c) -------------------------------------------- */

/* Parse a mapping node (or null) into obj by the section's table. */
void conf_schema_section(struct conf_ctx *x, const struct conf_section *s,
    const struct ynode *n, void *obj);
/* The whole document. */
void conf_schema_parse(struct conf_ctx *x, const struct ynode *root);
/* An error at node n, prefixed by the current key path. */
void conf_err(struct conf_ctx *x, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same at an explicit position. */
void conf_err_at(struct conf_ctx *x, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An error about `key` of the section node n: path gets ".key", the
 * position is the key's value (or n when the key is absent). */
void conf_err_key(struct conf_ctx *x, const struct ynode *n, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Push ".key" / "[i]" onto the key path; returns the old length. */
size_t conf_path_push_key(struct conf_ctx *x, const char *key);
size_t conf_path_push_index(struct conf_ctx *x, size_t i);
void conf_path_pop(struct conf_ctx *x, size_t old);
/* The closest of `names` to `word` within a small edit distance, or NULL. */
const char *conf_did_you_mean(const char *word, const char *const *names,
    size_t n);
size_t conf_edit_distance(const char *a, const char *b);
/* The scalar text of n, or NULL after an error "expected a string". */
const char *conf_scalar(struct conf_ctx *x, const struct ynode *n,
    const char *what);
/* Index of key `name` in a section's table, or -1. */
int conf_key_index(const struct conf_section *s, const char *name);

/* ---- value types (schema_types.c) -------------------------------------- */

extern const struct conf_type conf_t_string;	/* char * */
extern const struct conf_type conf_t_path;	/* char *, a file name */
extern const struct conf_type conf_t_bool;	/* bool */
extern const struct conf_type conf_t_u32;	/* uint32_t / unsigned */
extern const struct conf_type conf_t_int;	/* int */
extern const struct conf_type conf_t_duration;	/* uint64_t ms */
extern const struct conf_type conf_t_size;	/* uint64_t bytes */
extern const struct conf_type conf_t_rate;	/* double per second */
extern const struct conf_type conf_t_enum;	/* int / enum */
extern const struct conf_type conf_t_addr;	/* struct conf_addr */
extern const struct conf_type conf_t_addrs;	/* conf_addr *, n at off2 */
extern const struct conf_type conf_t_strings;	/* char **, n at off2 */
extern const struct conf_type conf_t_cidrs;	/* conf_cidr *, n at off2 */
extern const struct conf_type conf_t_kv;	/* conf_header_kv *, n at off2 */
extern const struct conf_type conf_t_secret;	/* char *, a secret value */
extern const struct conf_type conf_t_secret_file; /* char * name, content at off2 */
extern const struct conf_type conf_t_section;	/* embedded struct, bool at off2 */
extern const struct conf_type conf_t_inline;	/* keys of sub at the same base */
extern const struct conf_type conf_t_section_ptr; /* struct x *, allocated */
extern const struct conf_type conf_t_list;	/* struct x *, n at off2 */
extern const struct conf_type conf_t_named;	/* mapping name -> struct x */

#define CONF_NO_OFF2 ((size_t)-1)

/* ---- the tables (schema_<section>.c) ------------------------------------ */

extern const struct conf_section conf_schema_root;
extern const struct conf_section conf_schema_global;
extern const struct conf_section conf_schema_admin;
extern const struct conf_section conf_schema_listener;
extern const struct conf_section conf_schema_route;
extern const struct conf_section conf_schema_pool;
extern const struct conf_section conf_schema_acme;
extern const struct conf_section conf_schema_backup;

/* ---- docs (docs.c) ------------------------------------------------------- */

/* Write docs/config.md's text, generated from the tables. */
int conf_docs_write(FILE *out);

#endif
