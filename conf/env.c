/* SPDX-License-Identifier: BSD-2-Clause */
/* env.c — see env.h. */
#include "conf/env.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "conf/diag.h"
#include "conf/yaml.h"

static bool
env_name_char(char c, bool first)
{
	return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (!first && c >= '0' && c <= '9');
}

/* Two passes: the first measures, the second copies. */
static int
env_pass(const char *s, size_t len, char *out, size_t *outlen,
    const char **errname, size_t *errlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; ) {
		if (s[i] == '$' && i + 2 < len && s[i + 1] == '$' &&
		    s[i + 2] == '{') {
			if (out)
				memcpy(out + o, "${", 2);
			o += 2;
			i += 3;
			continue;
		}
		if (s[i] != '$' || i + 1 >= len || s[i + 1] != '{') {
			if (out)
				out[o] = s[i];
			o++;
			i++;
			continue;
		}
		size_t start = i + 2, j = start;
		while (j < len && env_name_char(s[j], j == start))
			j++;
		if (j == len || s[j] != '}' || j == start) {
			*errname = NULL;
			*errlen = 0;
			return -1;
		}
		char name[256];
		if (j - start >= sizeof name) {
			*errname = NULL;
			return -1;
		}
		memcpy(name, s + start, j - start);
		name[j - start] = '\0';
		const char *v = getenv(name);
		if (v == NULL) {
			*errname = s + start;
			*errlen = j - start;
			return -1;
		}
		size_t vl = strlen(v);
		if (out)
			memcpy(out + o, v, vl);
		o += vl;
		i = j + 1;
	}
	*outlen = o;
	return 0;
}

int
conf_env_expand(struct arena *a, const char *s, size_t len, char **out,
    size_t *outlen, const char **errname, size_t *errlen)
{
	size_t n;
	char *buf;

	if (memchr(s, '$', len) == NULL) {
		*out = (char *)s;
		*outlen = len;
		return 0;
	}
	if (env_pass(s, len, NULL, &n, errname, errlen) == -1)
		return -1;
	if ((buf = arena_alloc(a, n + 1)) == NULL) {
		*errname = NULL;
		*errlen = 0;
		return -1;
	}
	/* the environment cannot change between passes: we are its only reader */
	if (env_pass(s, len, buf, &n, errname, errlen) == -1)
		return -1;
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

struct env_walk {
	struct arena *a;
	const char *file;
	struct diag *d;
	int errors;
	char path[512];
};

static void
env_walk(struct env_walk *w, struct ynode *n, size_t plen)
{
	const char *name;
	size_t nlen;

	switch (n->kind) {
	case YNODE_SCALAR:
		if (conf_env_expand(w->a, n->str, n->len, &n->str, &n->len,
		    &name, &nlen) == 0)
			return;
		w->errors++;
		n->bad = true;
		if (name != NULL)
			diag_error(w->d, w->file, n->line, n->col,
			    "%s%senvironment variable '%.*s' is not set",
			    w->path, plen ? ": " : "", (int)nlen, name);
		else
			diag_error(w->d, w->file, n->line, n->col,
			    "%s%sinvalid ${NAME} reference (a name is letters, "
			    "digits and '_'; write $${ for a literal ${)",
			    w->path, plen ? ": " : "");
		return;
	case YNODE_SEQ:
		for (size_t i = 0; i < n->n_items; i++) {
			snprintf(w->path + plen, sizeof w->path - plen, "[%zu]", i);
			env_walk(w, n->items[i], strlen(w->path));
			w->path[plen] = '\0';
		}
		return;
	case YNODE_MAP:
		for (size_t i = 0; i < n->n_pairs; i++) {
			snprintf(w->path + plen, sizeof w->path - plen, "%s%s",
			    plen ? "." : "", n->pairs[i].key->str);
			env_walk(w, n->pairs[i].value, strlen(w->path));
			w->path[plen] = '\0';
		}
		return;
	}
}

int
conf_env_expand_tree(struct arena *a, const char *file, struct ynode *root,
    struct diag *d)
{
	struct env_walk w = { .a = a, .file = file, .d = d };

	env_walk(&w, root, 0);
	return w.errors;
}
