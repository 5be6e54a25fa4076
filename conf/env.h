/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * env.h — `${NAME}` expansion in configuration values (SPEC §2).
 *
 * Every scalar value of the tree (not the keys) may contain `${NAME}`
 * references; each is replaced by the environment variable's value.  An
 * unset variable, a malformed reference or a bad name is an error at the
 * value's position, naming the key path.  `$${` stands for a literal
 * `${`.  Runs once over the tree, before the schema reads it.
 */
#ifndef LIMEN_CONF_ENV_H
#define LIMEN_CONF_ENV_H

#include <stddef.h>

struct arena;
struct diag;
struct ynode;

/* Returns the number of errors added to d (0 = all expanded). */
int conf_env_expand_tree(struct arena *a, const char *file,
    struct ynode *root, struct diag *d);
/*
 * Expand one string; on error returns -1 and points *errname at the bad
 * variable name (or NULL for a syntax error) inside `s`, with *errlen.
 */
int conf_env_expand(struct arena *a, const char *s, size_t len, char **out,
    size_t *outlen, const char **errname, size_t *errlen);

#endif
