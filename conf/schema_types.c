/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * schema_types.c — the value types of the key tables: each parses one YAML
 * node into one field with common/strict.c and reports what is wrong.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/fsutil.h"
#include "common/strict.h"
#include "conf/diag.h"
#include "conf/schema.h"

#define SECRET_MAX (64 * 1024)

static void
oom(struct conf_ctx *x, const struct ynode *n)
{
	conf_err(x, n, "out of memory");
}

static const char *
scalar_text(struct conf_ctx *x, const struct ynode *n, const char *what)
{
	const char *s = conf_scalar(x, n, what);
	if (s != NULL && strlen(s) != n->len) {
		conf_err(x, n, "contains a NUL character");
		return NULL;
	}
	return s;
}

static char *
copy_string(struct conf_ctx *x, const struct conf_key *k, const struct ynode *n)
{
	const char *s = scalar_text(x, n, "a string");
	char *r;

	if (s == NULL)
		return NULL;
	if ((r = arena_strdup(x->a, s)) == NULL) {
		oom(x, n);
		return NULL;
	}
	if (k != NULL && (k->flags & CK_LOWER))
		for (char *p = r; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	return r;
}

static int
parse_string(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	char *s = copy_string(x, k, n);
	if (s == NULL)
		return -1;
	*(char **)dst = s;
	return 0;
}

static int
parse_path(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	char *s = copy_string(x, k, n);
	if (s == NULL)
		return -1;
	if (*s == '\0') {
		conf_err(x, n, "empty file name");
		return -1;
	}
	*(char **)dst = s;
	return 0;
}

static int
parse_bool(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	const char *s = scalar_text(x, n, "true or false"), *e;
	if (s == NULL)
		return -1;
	if (strict_bool(s, dst, &e) == -1) {
		conf_err(x, n, "expected true or false, not '%s'", s);
		return -1;
	}
	return 0;
}

static int
parse_number(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, int64_t dmin, int64_t dmax, int64_t *v)
{
	const char *s = scalar_text(x, n, "a number"), *e;
	int64_t min = k->min, max = k->max ? k->max : dmax;

	if (s == NULL)
		return -1;
	if (min < dmin)
		min = dmin;
	if (strict_int(s, min, max, v, &e) == -1) {
		conf_err(x, n, "invalid number '%s' (expected %lld..%lld)", s,
		    (long long)min, (long long)max);
		return -1;
	}
	return 0;
}

static int
parse_u32(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	int64_t v;
	if (parse_number(x, k, n, 0, UINT32_MAX, &v) == -1)
		return -1;
	*(uint32_t *)dst = (uint32_t)v;
	return 0;
}

static int
parse_int(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	int64_t v;
	if (parse_number(x, k, n, 0, INT32_MAX, &v) == -1)
		return -1;
	*(int *)dst = (int)v;
	return 0;
}

static int
parse_duration(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	const char *s = scalar_text(x, n, "a duration"), *e;
	uint64_t ms;

	if (s == NULL)
		return -1;
	if (strict_duration(s, &ms, &e) == -1) {
		conf_err(x, n, "invalid duration '%s': %s", s, e);
		return -1;
	}
	if (ms < (uint64_t)k->min || (k->max && ms > (uint64_t)k->max)) {
		conf_err(x, n, "duration '%s' out of range", s);
		return -1;
	}
	*(uint64_t *)dst = ms;
	return 0;
}

static int
parse_size(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	const char *s = scalar_text(x, n, "a size"), *e;
	uint64_t v;

	if (s == NULL)
		return -1;
	if (strict_size(s, &v, &e) == -1) {
		conf_err(x, n, "invalid size '%s': %s", s, e);
		return -1;
	}
	*(uint64_t *)dst = v;
	return 0;
}

static int
parse_rate(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	const char *s = scalar_text(x, n, "a rate"), *e;
	double r;

	if (s == NULL)
		return -1;
	if (strict_rate(s, &r, &e) == -1) {
		conf_err(x, n, "invalid rate '%s': %s", s, e);
		return -1;
	}
	*(double *)dst = r;
	return 0;
}

static int
parse_enum(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	const char *s = scalar_text(x, n, "a string"), *names[32];
	char list[512];
	size_t nn = 0, len = 0;

	if (s == NULL)
		return -1;
	for (const struct conf_enum *e = k->enums; e->name; e++) {
		if (strcmp(e->name, s) == 0) {
			*(int *)dst = e->value;
			return 0;
		}
		if (nn < 32)
			names[nn++] = e->name;
	}
	list[0] = '\0';
	for (size_t i = 0; i < nn; i++) {
		int w = snprintf(list + len, sizeof list - len, "%s%s",
		    i == 0 ? "" : i + 1 == nn ? " or " : ", ", names[i]);
		if (w < 0 || (size_t)w >= sizeof list - len)
			break;
		len += (size_t)w;
	}
	const char *hint = conf_did_you_mean(s, names, nn);
	if (hint)
		conf_err(x, n, "invalid value '%s' (did you mean '%s'?)", s, hint);
	else
		conf_err(x, n, "invalid value '%s' (expected %s)", s, list);
	return -1;
}

static int
addr_one(struct conf_ctx *x, const struct ynode *n, struct conf_addr *out)
{
	const char *s = scalar_text(x, n, "an address"), *e;

	if (s == NULL)
		return -1;
	if (strict_addr(x->a, s, out, &e) == -1) {
		conf_err(x, n, "invalid address '%s': %s", s, e);
		return -1;
	}
	return 0;
}

static int
parse_addr(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	return addr_one(x, n, dst);
}

/*
 * A list of n items of `size` bytes from a sequence (or one scalar, which
 * counts as a list of one); each item parsed by fn.
 */
static void *
parse_scalar_list(struct conf_ctx *x, const struct ynode *n, size_t size,
    size_t *count, int (*fn)(struct conf_ctx *, const struct ynode *, void *,
    const struct conf_key *), const struct conf_key *k)
{
	const struct ynode *const *items;
	size_t cnt;
	char *arr;

	if (n->kind == YNODE_SCALAR) {
		items = &n;
		cnt = 1;
	} else if (n->kind == YNODE_SEQ) {
		items = (const struct ynode *const *)n->items;
		cnt = n->n_items;
	} else {
		conf_err(x, n, "expected a list, not a mapping");
		return NULL;
	}
	if ((arr = arena_calloc(x->a, cnt ? cnt : 1, size)) == NULL) {
		oom(x, n);
		return NULL;
	}
	for (size_t i = 0; i < cnt; i++) {
		size_t old = n->kind == YNODE_SEQ ? conf_path_push_index(x, i) :
		    x->plen;
		fn(x, items[i], arr + i * size, k);
		conf_path_pop(x, old);
	}
	*count = cnt;
	return arr;
}

static int
item_addr(struct conf_ctx *x, const struct ynode *n, void *dst,
    const struct conf_key *k)
{
	return addr_one(x, n, dst);
}

static int
parse_addrs(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	size_t cnt = 0;
	void *arr = parse_scalar_list(x, n, sizeof(struct conf_addr), &cnt,
	    item_addr, k);
	if (arr == NULL)
		return -1;
	*(void **)dst = arr;
	*(size_t *)((char *)base + k->off2) = cnt;
	return 0;
}

static int
item_string(struct conf_ctx *x, const struct ynode *n, void *dst,
    const struct conf_key *k)
{
	char *s = copy_string(x, k, n);
	if (s == NULL)
		return -1;
	*(char **)dst = s;
	return 0;
}

static int
parse_strings(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	size_t cnt = 0;
	void *arr = parse_scalar_list(x, n, sizeof(char *), &cnt, item_string,
	    k);
	if (arr == NULL)
		return -1;
	*(void **)dst = arr;
	*(size_t *)((char *)base + k->off2) = cnt;
	return 0;
}

static int
item_cidr(struct conf_ctx *x, const struct ynode *n, void *dst,
    const struct conf_key *k)
{
	const char *s = scalar_text(x, n, "a network"), *e;

	if (s == NULL)
		return -1;
	if (strict_cidr(s, dst, &e) == -1) {
		conf_err(x, n, "invalid network '%s': %s", s, e);
		return -1;
	}
	return 0;
}

static int
parse_cidrs(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	size_t cnt = 0;
	void *arr = parse_scalar_list(x, n, sizeof(struct conf_cidr), &cnt,
	    item_cidr, k);
	if (arr == NULL)
		return -1;
	*(void **)dst = arr;
	*(size_t *)((char *)base + k->off2) = cnt;
	return 0;
}

static int
parse_kv(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	struct conf_header_kv *kv;

	if (n->kind != YNODE_MAP) {
		conf_err(x, n, "expected a mapping, not %s",
		    conf_yaml_kind_name(n));
		return -1;
	}
	if ((kv = arena_calloc(x->a, n->n_pairs ? n->n_pairs : 1,
	    sizeof *kv)) == NULL) {
		oom(x, n);
		return -1;
	}
	for (size_t i = 0; i < n->n_pairs; i++) {
		size_t old = conf_path_push_key(x, n->pairs[i].key->str);
		kv[i].name = copy_string(x, NULL, n->pairs[i].key);
		kv[i].value = copy_string(x, NULL, n->pairs[i].value);
		conf_path_pop(x, old);
	}
	*(struct conf_header_kv **)dst = kv;
	*(size_t *)((char *)base + k->off2) = n->n_pairs;
	return 0;
}

static void
wipe_secret(void *p)
{
	explicit_bzero(p, strlen(p));
}

static int
parse_secret_file(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	char *path, *data;
	size_t len;

	if (parse_path(x, k, n, dst, base) == -1)
		return -1;
	path = *(char **)dst;
	if (((k->flags & CK_BACKUP) &&
	    (x->flags & CONF_CTX_SKIP_BACKUP_SECRETS)) ||
	    ((k->flags & CK_PROXY) && (x->flags & CONF_CTX_SKIP_PROXY_SECRETS)))
		return 0;
	if (fsutil_read_secret(path, SECRET_MAX, 0, &data, &len) == -1) {
		if (errno == EPERM)
			conf_err(x, n, "'%s' is readable by group or others "
			    "(chmod 600 it)", path);
		else if (errno == EFBIG)
			conf_err(x, n, "'%s' is larger than %d bytes", path,
			    SECRET_MAX);
		else
			conf_err(x, n, "cannot read '%s': %s", path,
			    strerror(errno));
		return -1;
	}
	if (len == 0 || strlen(data) != len) {
		conf_err(x, n, "'%s' is empty or holds a NUL byte", path);
		explicit_bzero(data, len);
		free(data);
		return -1;
	}
	char *copy = arena_memdup(x->a, data, len);
	explicit_bzero(data, len);
	free(data);
	if (copy == NULL) {
		oom(x, n);
		return -1;
	}
	/* the copy lives as long as the config; wiped when the arena goes */
	*(char **)((char *)base + k->off2) = copy;
	return arena_add_cleanup(x->a, wipe_secret, copy);
}

static int
parse_secret(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	if (parse_string(x, k, n, dst, base) == -1)
		return -1;
	return arena_add_cleanup(x->a, wipe_secret, *(char **)dst);
}

static int
parse_section(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	if (k->off2 != CONF_NO_OFF2)
		*(bool *)((char *)base + k->off2) = true;
	conf_schema_section(x, k->sub, n, dst);
	return 0;
}

static int
parse_inline(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	conf_schema_section(x, k->sub, n, base);
	return 0;
}

static int
parse_section_ptr(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	void *obj = arena_alloc(x->a, k->sub->size);

	if (obj == NULL) {
		oom(x, n);
		return -1;
	}
	conf_schema_section(x, k->sub, n, obj);
	*(void **)dst = obj;
	return 0;
}

static int
parse_list(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	char *arr;

	if (n->kind != YNODE_SEQ) {
		conf_err(x, n, "expected a list, not %s", conf_yaml_kind_name(n));
		return -1;
	}
	if ((arr = arena_calloc(x->a, n->n_items ? n->n_items : 1,
	    k->sub->size)) == NULL) {
		oom(x, n);
		return -1;
	}
	for (size_t i = 0; i < n->n_items; i++) {
		size_t old = conf_path_push_index(x, i);
		x->index = i;
		conf_schema_section(x, k->sub, n->items[i], arr + i * k->sub->size);
		conf_path_pop(x, old);
	}
	*(void **)dst = arr;
	*(size_t *)((char *)base + k->off2) = n->n_items;
	return 0;
}

static int
parse_named(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	char *arr;

	if (n->kind != YNODE_MAP) {
		conf_err(x, n, "expected a mapping of names, not %s",
		    conf_yaml_kind_name(n));
		return -1;
	}
	if ((arr = arena_calloc(x->a, n->n_pairs ? n->n_pairs : 1,
	    k->sub->size)) == NULL) {
		oom(x, n);
		return -1;
	}
	for (size_t i = 0; i < n->n_pairs; i++) {
		char *item = arr + i * k->sub->size;
		const struct ynode *key = n->pairs[i].key;
		size_t old = conf_path_push_key(x, key->str);
		*(char **)(item + k->sub->name_off - 1) =
		    arena_strdup(x->a, key->str);
		x->index = i;
		conf_schema_section(x, k->sub, n->pairs[i].value, item);
		conf_path_pop(x, old);
	}
	*(void **)dst = arr;
	*(size_t *)((char *)base + k->off2) = n->n_pairs;
	return 0;
}

const struct conf_type conf_t_string = { "string", parse_string };
const struct conf_type conf_t_path = { "file", parse_path };
const struct conf_type conf_t_bool = { "bool", parse_bool };
const struct conf_type conf_t_u32 = { "integer", parse_u32 };
const struct conf_type conf_t_int = { "integer", parse_int };
const struct conf_type conf_t_duration = { "duration", parse_duration };
const struct conf_type conf_t_size = { "size", parse_size };
const struct conf_type conf_t_rate = { "rate", parse_rate };
const struct conf_type conf_t_enum = { "enum", parse_enum };
const struct conf_type conf_t_addr = { "address", parse_addr };
const struct conf_type conf_t_addrs = { "address or list", parse_addrs };
const struct conf_type conf_t_strings = { "string or list", parse_strings };
const struct conf_type conf_t_cidrs = { "CIDR or list", parse_cidrs };
const struct conf_type conf_t_kv = { "mapping", parse_kv };
const struct conf_type conf_t_secret = { "secret", parse_secret };
const struct conf_type conf_t_secret_file = { "secret file", parse_secret_file };
const struct conf_type conf_t_section = { "section", parse_section };
const struct conf_type conf_t_inline = { "section", parse_inline };
const struct conf_type conf_t_section_ptr = { "section", parse_section_ptr };
const struct conf_type conf_t_list = { "list", parse_list };
const struct conf_type conf_t_named = { "mapping", parse_named };
