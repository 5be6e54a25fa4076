/* SPDX-License-Identifier: BSD-2-Clause */
/* test_conf_yaml.c — YAML to node tree: positions, refusals, ${ENV}. */
#include <stdlib.h>

#include "common/arena.h"
#include "conf/diag.h"
#include "conf/env.h"
#include "conf/yaml.h"
#include "tests/unit/conf_testutil.h"
#include "tests/unit/harness.h"

static void
test_conf_yaml_tree_keeps_positions_and_order(void)
{
	const char *y = "a: 1\nb:\n  - x\n  - { c: \"q\" }\nd: |\n  text\ne:\n";
	struct arena *a = arena_new(0);
	struct diag d;
	struct ynode *root;

	diag_init(&d);
	REQUIRE(conf_yaml_parse(a, "t.yaml", y, strlen(y), &root, &d) == 0);
	REQUIRE(root->kind == YNODE_MAP);
	REQUIRE(root->n_pairs == 4);
	CHECK_STR(root->pairs[0].key->str, "a");
	CHECK_INT(root->pairs[0].key->line, ==, 1);
	CHECK_INT(root->pairs[0].value->col, ==, 4);
	struct ynode *b = conf_yaml_get(root, "b");
	REQUIRE(b && b->kind == YNODE_SEQ && b->n_items == 2);
	CHECK_INT(b->items[0]->line, ==, 3);
	CHECK_INT(b->items[0]->col, ==, 5);
	CHECK_STR(b->items[0]->str, "x");
	CHECK(b->items[0]->plain);
	struct ynode *c = conf_yaml_get(b->items[1], "c");
	REQUIRE(c != NULL);
	CHECK_STR(c->str, "q");
	CHECK(!c->plain);
	CHECK_INT(c->line, ==, 4);
	CHECK_INT(c->col, ==, 10);
	CHECK_STR(conf_yaml_get(root, "d")->str, "text\n");
	CHECK(conf_yaml_get(root, "e")->null);
	CHECK(conf_yaml_get(root, "zz") == NULL);
	CHECK_INT(d.n, ==, 0);
	diag_free(&d);
	arena_free(a);
}

static void
test_conf_yaml_empty_document_is_null(void)
{
	struct arena *a = arena_new(0);
	struct diag d;
	struct ynode *root;

	diag_init(&d);
	REQUIRE(conf_yaml_parse(a, "t", "# nothing\n", 10, &root, &d) == 0);
	CHECK(root->kind == YNODE_SCALAR && root->null);
	diag_free(&d);
	arena_free(a);
	CHECK_STR(conf_test_errors(""),
	    "t.yaml:1:1: error: the configuration is empty\n");
}

static void
test_conf_yaml_rejects_duplicate_keys(void)
{
	CHECK_STR(conf_test_errors("global:\n  workers: 1\n  workers: 2\n"),
	    "t.yaml:3:3: error: duplicate key 'workers' (first at line 2)\n");
	CHECK_STR(conf_test_errors("global: {}\nglobal: {}\n"),
	    "t.yaml:2:1: error: duplicate key 'global' (first at line 1)\n");
}

/* Past 16 keys a map is indexed by hash: duplicates are still found,
 * order and values kept, and 50,000 keys load (linear, not quadratic). */
static void
test_conf_yaml_large_map_keeps_order_and_finds_duplicates(void)
{
	enum { N = 50000 };
	size_t cap = (size_t)N * 24 + 64, len = 0;
	char *y = malloc(cap);
	struct arena *a = arena_new(0);
	struct ynode *root;
	struct diag d;

	REQUIRE(y != NULL && a != NULL);
	for (int i = 0; i < N; i++)
		len += (size_t)snprintf(y + len, cap - len, "k%d: %d\n", i, i);
	diag_init(&d);
	REQUIRE(conf_yaml_parse(a, "t.yaml", y, len, &root, &d) == 0);
	REQUIRE(root->kind == YNODE_MAP && root->n_pairs == N);
	CHECK_STR(root->pairs[0].key->str, "k0");
	CHECK_STR(root->pairs[N - 1].key->str, "k49999");
	CHECK_STR(conf_yaml_get(root, "k31337")->str, "31337");
	CHECK_INT(d.n, ==, 0);
	diag_free(&d);
	/* duplicates of an early, a middle and the 16th key, past the index */
	len += (size_t)snprintf(y + len, cap - len, "k0: x\nk25000: x\nk15: x\n");
	diag_init(&d);
	CHECK_INT(conf_yaml_parse(a, "t.yaml", y, len, &root, &d), ==, -1);
	CHECK_INT(d.n, ==, 3);
	diag_free(&d);
	arena_free(a);
	free(y);
	CHECK_STR(conf_test_errors("a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\n"
	    "g: 7\nh: 8\ni: 9\nj: 10\nk: 11\nl: 12\nm: 13\nn: 14\n"
	    "o: 15\np: 16\nq: 17\nc: 18\n"),
	    "t.yaml:18:1: error: duplicate key 'c' (first at line 3)\n");
}

static void
test_conf_yaml_rejects_anchors_aliases_and_tags(void)
{
	CHECK_STR(conf_test_errors(
	    "global:\n  state_dir: &x /a\n  pid_file: *x\n"),
	    "t.yaml:2:14: error: YAML anchors are not supported: 'x'\n"
	    "t.yaml:3:13: error: YAML aliases are not supported: 'x'\n");
	CHECK_STR(conf_test_errors("global: !!map\n  workers: !foo 2\n"),
	    "t.yaml:1:9: error: YAML tags are not supported: "
	    "'tag:yaml.org,2002:map'\n"
	    "t.yaml:2:12: error: YAML tags are not supported: '!foo'\n");
}

static void
test_conf_yaml_rejects_second_document(void)
{
	CHECK_STR(conf_test_errors("---\nglobal: {}\n---\nglobal: {}\n"),
	    "t.yaml:3:1: error: only one YAML document is allowed\n");
}

static void
test_conf_yaml_rejects_complex_keys(void)
{
	CHECK_STR(conf_test_errors("? [a]\n: b\n"),
	    "t.yaml:1:3: error: a mapping key must be a plain string, not a "
	    "list\n");
}

static void
test_conf_yaml_syntax_errors_have_positions(void)
{
	CHECK_STR(conf_test_errors("global:\n  workers: [1\n"),
	    "t.yaml:3:1: error: YAML syntax error: did not find expected ',' "
	    "or ']' (while parsing a flow sequence)\n");
	CHECK_STR(conf_test_errors("global:\n\tworkers: 1\n"),
	    "t.yaml:2:1: error: YAML syntax error: found character that cannot "
	    "start any token (while scanning for the next token) (YAML does "
	    "not allow tabs for indentation)\n");
	CHECK_STR(conf_test_errors("global: {workers: 2}}\n"),
	    "t.yaml:1:21: error: YAML syntax error: did not find expected key "
	    "(while parsing a block mapping)\n");
}

static void
test_conf_yaml_limits_nesting(void)
{
	char y[400];
	size_t n = 0;
	for (int i = 0; i < 70; i++)
		y[n++] = '[';
	y[n] = '\0';
	CHECK_STR(conf_test_errors(y),
	    "t.yaml:1:65: error: nesting too deep\n");
}

static void
test_conf_yaml_keeps_nul_out_of_strings(void)
{
	CHECK_STR(conf_test_errors("global:\n  state_dir: \"a\\0b\"\n"),
	    "t.yaml:2:14: error: global.state_dir: contains a NUL character\n");
}

static void
test_conf_env_expands_values(void)
{
	struct arena *a = arena_new(0);
	const char *name;
	size_t nl, ol;
	char *out;

	setenv("LIMEN_T_A", "alpha", 1);
	unsetenv("LIMEN_T_UNSET");
	const char *s = "x-${LIMEN_T_A}-$${LIT}-${LIMEN_T_A}";
	REQUIRE(conf_env_expand(a, s, strlen(s), &out, &ol, &name, &nl) == 0);
	CHECK_STR(out, "x-alpha-${LIT}-alpha");
	CHECK_INT(ol, ==, strlen(out));
	s = "no dollars";
	REQUIRE(conf_env_expand(a, s, strlen(s), &out, &ol, &name, &nl) == 0);
	CHECK(out == s);
	s = "a ${LIMEN_T_UNSET} b";
	CHECK_INT(conf_env_expand(a, s, strlen(s), &out, &ol, &name, &nl), ==, -1);
	CHECK_MEM(name, nl, "LIMEN_T_UNSET", 13);
	s = "${1BAD}";
	CHECK_INT(conf_env_expand(a, s, strlen(s), &out, &ol, &name, &nl), ==, -1);
	CHECK(name == NULL);
	s = "${OPEN";
	CHECK_INT(conf_env_expand(a, s, strlen(s), &out, &ol, &name, &nl), ==, -1);
	s = "cost: $5 and $";
	REQUIRE(conf_env_expand(a, s, strlen(s), &out, &ol, &name, &nl) == 0);
	CHECK_STR(out, "cost: $5 and $");
	arena_free(a);
}

static void
test_conf_env_errors_name_the_key(void)
{
	unsetenv("LIMEN_T_UNSET");
	setenv("LIMEN_T_DIR", "/tmp/limen-t", 1);
	CHECK_STR(conf_test_errors(
	    "global:\n  state_dir: ${LIMEN_T_DIR}\n"
	    "  pid_file: \"${LIMEN_T_UNSET}\"\n"
	    "routes:\n  - respond: { body: \"${bad-name}\" }\n"),
	    "t.yaml:3:13: error: global.pid_file: environment variable "
	    "'LIMEN_T_UNSET' is not set\n"
	    "t.yaml:5:22: error: routes[0].respond.body: invalid ${NAME} "
	    "reference (a name is letters, digits and '_'; write $${ for a "
	    "literal ${)\n");
	struct config *c = conf_test_load("global:\n  state_dir: "
	    "${LIMEN_T_DIR}/x\n");
	REQUIRE(c != NULL);
	CHECK_STR(c->global.state_dir, "/tmp/limen-t/x");
	conf_unref(c);
}

HARNESS_MAIN(T(test_conf_yaml_tree_keeps_positions_and_order),
    T(test_conf_yaml_empty_document_is_null),
    T(test_conf_yaml_rejects_duplicate_keys),
    T(test_conf_yaml_large_map_keeps_order_and_finds_duplicates),
    T(test_conf_yaml_rejects_anchors_aliases_and_tags),
    T(test_conf_yaml_rejects_second_document),
    T(test_conf_yaml_rejects_complex_keys),
    T(test_conf_yaml_syntax_errors_have_positions),
    T(test_conf_yaml_limits_nesting),
    T(test_conf_yaml_keeps_nul_out_of_strings),
    T(test_conf_env_expands_values),
    T(test_conf_env_errors_name_the_key))
