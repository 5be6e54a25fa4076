/* SPDX-License-Identifier: BSD-2-Clause */
/* schema_acme.c — the key table of `acme:`. */
#include <string.h>

#include "common/arena.h"
#include "conf/schema.h"

#define AC(f) offsetof(struct conf_acme, f)

static const struct conf_enum key_types[] = {
	{ "ecdsa-p256", KEY_ECDSA_P256 }, { "rsa-2048", KEY_RSA_2048 },
	{ NULL, 0 },
};

static const struct conf_enum challenge_names[] = {
	{ "http-01", ACME_CHALLENGE_HTTP01 },
	{ "tls-alpn-01", ACME_CHALLENGE_TLSALPN01 },
	{ NULL, 0 },
};

/* challenges: one or both of http-01, tls-alpn-01, in order of preference */
static int
parse_challenges(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	struct conf_acme *a = base;
	struct conf_key one = { .name = k->name, .type = &conf_t_enum,
	    .enums = challenge_names };
	const struct ynode *const *items = &n;
	size_t cnt = 1;

	if (n->kind == YNODE_SEQ) {
		items = (const struct ynode *const *)n->items;
		cnt = n->n_items;
	} else if (n->kind != YNODE_SCALAR) {
		conf_err(x, n, "expected a list, not a mapping");
		return -1;
	}
	if (cnt == 0 || cnt > 2) {
		conf_err(x, n, "expected one or both of http-01 and tls-alpn-01");
		return -1;
	}
	a->n_challenges = 0;
	for (size_t i = 0; i < cnt; i++) {
		int v;
		size_t old = n->kind == YNODE_SEQ ? conf_path_push_index(x, i) :
		    x->plen;
		if (conf_t_enum.parse(x, &one, items[i], &v, base) == 0) {
			if (a->n_challenges == 1 && a->challenges[0] ==
			    (enum conf_acme_challenge)v)
				conf_err(x, items[i], "'%s' is listed twice",
				    items[i]->str);
			else
				a->challenges[a->n_challenges++] = v;
		}
		conf_path_pop(x, old);
	}
	return 0;
}

static const struct conf_type t_challenges = { "list", parse_challenges };

static const struct conf_key storage_keys[] = {
	{ .name = "postgres", .type = &conf_t_secret,
	  .off = AC(storage_pg_conninfo),
	  .example = "\"host=db dbname=limen user=limen\"",
	  .doc = "libpq connection string of the shared store" },
	{ .name = "key", .type = &conf_t_secret, .off = AC(storage_key),
	  .example = "${LIMEN_STORE_KEY}",
	  .doc = "passphrase that encrypts private keys kept in PostgreSQL" },
	{ .name = "key_file", .type = &conf_t_secret_file,
	  .off = AC(storage_key_file), .off2 = AC(storage_key),
	  .flags = CK_PROXY, .example = "/etc/limen/store.key",
	  .doc = "the same, read from a 0600 file" },
	{ .name = NULL },
};

static void
storage_finish(struct conf_ctx *x, const struct ynode *n, void *obj,
    const bool *seen)
{
	struct conf_acme *a = obj;

	if (a->storage_pg_conninfo == NULL)
		conf_err(x, n, "needs postgres: CONNINFO (or write storage: "
		    "local)");
	else if (a->storage_key == NULL && a->storage_key_file == NULL)
		conf_err(x, n, "needs key or key_file to encrypt the private "
		    "keys it stores");
}

static const struct conf_section storage_section = {
	.name = "acme.storage", .keys = storage_keys, .finish = storage_finish,
	.doc = "`local` (the default: files in global.state_dir) or a "
	    "PostgreSQL store shared by several instances.",
};

/* storage: local | { postgres: CONNINFO, key_file: FILE } */
static int
parse_storage(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	if (n->kind == YNODE_SCALAR && strcmp(n->str, "local") == 0)
		return 0;
	if (n->kind != YNODE_MAP) {
		conf_err(x, n, "expected local or a mapping with postgres");
		return -1;
	}
	conf_schema_section(x, &storage_section, n, base);
	return 0;
}

static const struct conf_type t_storage = { "local or section",
	parse_storage };

static void
acme_finish(struct conf_ctx *x, const struct ynode *n, void *obj,
    const bool *seen)
{
	struct conf_acme *a = obj;

	if (a->directory != NULL && strncmp(a->directory, "https://", 8) != 0)
		conf_err_key(x, n, "directory", "must be an https:// URL");
	if (a->email != NULL && (strchr(a->email, '@') == NULL ||
	    strchr(a->email, ' ') != NULL))
		conf_err_key(x, n, "email", "'%s' is not an email address",
		    a->email);
}

static const struct conf_key acme_keys[] = {
	{ .name = "directory", .type = &conf_t_string, .off = AC(directory),
	  .def = "https://acme-v02.api.letsencrypt.org/directory",
	  .doc = "the CA's directory URL" },
	{ .name = "email", .type = &conf_t_string, .off = AC(email),
	  .example = "ops@example.com", .doc = "account contact" },
	{ .name = "ca_roots", .type = &conf_t_path, .off = AC(ca_roots),
	  .example = "/etc/limen/acme-ca.pem",
	  .doc = "trust for the directory's own TLS (tests, private CAs); "
	    "system roots if unset" },
	{ .name = "challenges", .type = &t_challenges, .off = AC(challenges),
	  .def = "[http-01, tls-alpn-01]",
	  .doc = "http-01 and/or tls-alpn-01, in order of preference" },
	{ .name = "key_type", .type = &conf_t_enum, .off = AC(key_type),
	  .def = "ecdsa-p256", .enums = key_types,
	  .doc = "certificate key: ecdsa-p256 or rsa-2048" },
	{ .name = "profile", .type = &conf_t_string, .off = AC(profile),
	  .example = "shortlived", .doc = "ACME profile; the CA's default if "
	    "unset" },
	{ .name = "storage", .type = &t_storage, .sub = &storage_section,
	  .def = "local", .doc = "local, or { postgres: CONNINFO, key_file: "
	    "FILE }" },
	{ .name = "renew_before", .type = &conf_t_duration,
	  .off = AC(renew_before_ms), .def = "0",
	  .doc = "renew this long before expiry; 0 = ARI window or 2/3 of the "
	    "lifetime" },
	{ .name = NULL },
};

const struct conf_section conf_schema_acme = {
	.name = "acme", .keys = acme_keys, .size = sizeof(struct conf_acme),
	.finish = acme_finish,
	.doc = "The built-in ACME client; needed when a listener has "
	    "`tls: { acme: true }`.",
};
