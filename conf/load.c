/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * load.c — from a file to a published `struct config` (see config.h).
 *
 * The pipeline is: read the bytes (bounded), YAML to a node tree with
 * positions (yaml.c), ${ENV} expansion (env.c), the key tables (schema*.c:
 * types, defaults, unknown keys, per-section checks), then the checks
 * across sections (validate*.c).  Every stage keeps going after a problem
 * so one run reports them all.  The tree lives in a scratch arena freed at
 * the end; the config lives in its own arena, freed by the last unref.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/arena.h"
#include "common/fsutil.h"
#include "conf/config.h"
#include "conf/diag.h"
#include "conf/env.h"
#include "conf/schema.h"
#include "conf/validate.h"
#include "conf/yaml.h"

#define CONF_MAX_FILE (4 * 1024 * 1024)

static atomic_uint_fast64_t conf_versions;

struct config *
conf_load_buffer_ex(const char *name, const char *text, size_t len,
    unsigned flags, struct diag *d)
{
	struct arena *a = NULL, *tree = NULL;
	struct config *c = NULL;
	struct ynode *root;
	size_t errors_before = d->n_errors;
	struct conf_ctx *x = NULL;

	if ((a = arena_new(16384)) == NULL || (tree = arena_new(16384)) == NULL ||
	    (c = arena_alloc(a, sizeof *c)) == NULL ||
	    (x = calloc(1, sizeof *x)) == NULL) {
		diag_error(d, name, 0, 0, "out of memory");
		goto fail;
	}
	c->arena = a;
	if ((c->path = arena_strdup(a, name)) == NULL) {
		diag_error(d, name, 0, 0, "out of memory");
		goto fail;
	}
	if (conf_yaml_parse(tree, name, text, len, &root, d) == -1)
		goto fail;
	conf_env_expand_tree(tree, name, root, d);
	*x = (struct conf_ctx){ .a = a, .file = name, .d = d, .c = c,
	    .flags = flags };
	conf_schema_parse(x, root);
	conf_validate(x, root);
	if (d->n_errors != errors_before)
		goto fail;
	atomic_init(&c->refs, 1);
	c->version = atomic_fetch_add(&conf_versions, 1) + 1;
	c->loaded_at = time(NULL);
	free(x);
	arena_free(tree);
	return c;
fail:
	free(x);
	arena_free(tree);
	arena_free(a);
	return NULL;
}

struct config *
conf_load_buffer(const char *name, const char *text, size_t len,
    struct diag *d)
{
	return conf_load_buffer_ex(name, text, len, 0, d);
}

struct config *
conf_load_ex(const char *path, unsigned flags, struct diag *d)
{
	struct config *c;
	char *text;
	size_t len;

	if (fsutil_read_file(path, CONF_MAX_FILE, &text, &len) == -1) {
		if (errno == EFBIG)
			diag_error(d, path, 0, 0, "larger than %d bytes",
			    CONF_MAX_FILE);
		else
			diag_error(d, path, 0, 0, "cannot read: %s",
			    strerror(errno));
		return NULL;
	}
	c = conf_load_buffer_ex(path, text, len, flags, d);
	free(text);
	return c;
}

struct config *
conf_load(const char *path, struct diag *d)
{
	return conf_load_ex(path, 0, d);
}

void
conf_ref(struct config *c)
{
	atomic_fetch_add(&c->refs, 1);
}

void
conf_unref(struct config *c)
{
	if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
		arena_free(c->arena);	/* c itself lives in the arena */
}

struct conf_pool *
conf_pool_find(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_pools; i++)
		if (strcmp(c->pools[i].name, name) == 0)
			return &c->pools[i];
	return NULL;
}

struct conf_listener *
conf_listener_find(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_listeners; i++)
		if (c->listeners[i].name != NULL &&
		    strcmp(c->listeners[i].name, name) == 0)
			return &c->listeners[i];
	return NULL;
}
