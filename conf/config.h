/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config.h — the typed, immutable configuration (SPEC §2).
 *
 * conf_load() reads a YAML file, applies defaults, validates everything and
 * returns a whole `struct config`, or NULL with every problem in a diag
 * list.  A loaded config is never modified: a reload builds a new one and
 * publishes it with one atomic pointer swap.  Readers that keep a config
 * beyond one callback hold a reference (conf_ref/conf_unref); the last
 * unref frees it, all of it, because everything hangs off one arena.
 *
 * Conventions: durations are in milliseconds (uint64_t *_ms), sizes in
 * bytes (uint64_t), strings are NUL-terminated and owned by the config,
 * arrays come as (pointer, n_*) pairs.  A NULL string means "not set".
 * Secrets given as `*_file` keys are read at load time into the field
 * without the suffix (e.g. admin.token); the file name is kept too.
 */
#ifndef LIMEN_CONF_CONFIG_H
#define LIMEN_CONF_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "common/log.h"

struct arena;
struct diag;

/* An address as written: "host:port", ":port", "[::1]:port".  host is
 * NULL for "all interfaces".  When host is an IP literal (or NULL), `sa`
 * holds the parsed socket address (NULL host: the IPv6 wildcard with
 * dual-stack, or 0.0.0.0 if the machine has no IPv6); otherwise
 * is_name is true and the name must be resolved (pool servers only). */
struct conf_addr {
	char *text;		/* as written, for messages */
	char *host;		/* NULL = any */
	uint16_t port;
	bool is_name;
	struct sockaddr_storage sa;
	socklen_t sa_len;
};

/* An IPv4 or IPv6 network; IPv4 is stored as IPv4-mapped IPv6. */
struct conf_cidr {
	uint8_t addr[16];
	uint8_t prefix;		/* 0..128, counted on the mapped form */
};

struct conf_global {
	char *state_dir;		/* default /var/lib/limen */
	char *pid_file;			/* default NULL (none) */
	unsigned workers;		/* 0 = auto (one per core) */
	uint64_t shutdown_timeout_ms;	/* default 30s */
	enum log_level log_level;	/* default info */
	enum log_format log_format;	/* default text */
	char *access_log_path;		/* NULL = off; "-" = stderr */
	enum log_format access_log_format;	/* default json */
	char *user;			/* drop privileges to this user after bind */
	char *group;
	bool watch_config;		/* reload when the file changes */
	uint32_t max_conns_per_ip;	/* 0 = unlimited */
	uint32_t max_conns;		/* per process, 0 = unlimited */
	uint64_t header_timeout_ms;	/* request head read, total; 0 = 10s (408) */
	uint64_t keepalive_timeout_ms;	/* idle client connection; 0 = 60s */
	char **resolvers;		/* "127.0.0.1:5353": DNS servers for pool
					 * names; n_resolvers == 0: resolv.conf */
	size_t n_resolvers;
};

struct conf_admin {
	bool enabled;			/* the section is present */
	struct conf_addr listen;	/* default 127.0.0.1:9090 */
	char *token_file;
	char *token;			/* read from token_file; never logged */
};

struct conf_cert {
	char *cert_file;
	char *key_file;
};

struct conf_tls {
	bool enabled;			/* the listener has a tls: section */
	bool acme;
	struct conf_cert *certs;
	size_t n_certs;
	int min_version;		/* TLS1_2_VERSION or TLS1_3_VERSION */
};

struct conf_listener {
	char *name;
	struct conf_addr *addrs;
	size_t n_addrs;
	bool redirect_https;
	bool proxy_protocol;
	bool http2;			/* default true on TLS listeners */
	struct conf_tls tls;
	int line, col;			/* where it was defined */
};

enum conf_rl_key { RL_KEY_CLIENT_IP, RL_KEY_HEADER };

struct conf_rate_limit {
	bool enabled;
	double rate;			/* tokens per second ("100/s", "10/m") */
	uint32_t burst;			/* default: one second's worth, >= 1 */
	enum conf_rl_key key;
	char *key_header;		/* for key: header:NAME */
};

struct conf_header_kv {
	char *name;
	char *value;
};

struct conf_headers {
	struct conf_header_kv *set;	/* on the response */
	size_t n_set;
	char **remove;			/* from the response */
	size_t n_remove;
	struct conf_header_kv *request_set;	/* extension: to upstream */
	size_t n_request_set;
};

struct conf_auth_basic {
	char *users_file;
	char *realm;			/* default "limen" */
};

struct conf_auth_forward {
	char *url;
	char **copy_headers;
	size_t n_copy_headers;
	uint64_t timeout_ms;		/* default 2s */
	uint64_t cache_ms;		/* 0 = no cache */
};

struct conf_auth_jwt {
	char *jwks_file;
	char *jwks_url;
	char *jwks_ca_file;		/* roots for jwks_url; NULL: system */
	char *issuer;
	char *audience;
	struct conf_header_kv *claims_to_headers;	/* name = claim, value = header */
	size_t n_claims_to_headers;
	uint64_t leeway_ms;		/* default 30s */
};

struct conf_auth {
	struct conf_auth_basic *basic;	/* NULL = not configured */
	struct conf_auth_forward *forward;
	struct conf_auth_jwt *jwt;
};

enum conf_waf_mode { WAF_BLOCK, WAF_DETECT };

struct conf_waf {
	char *rules;
	enum conf_waf_mode mode;
};

enum conf_action { ACTION_POOL, ACTION_REDIRECT, ACTION_RESPOND, ACTION_STATIC };

struct conf_redirect {
	char *to;
	int code;			/* 301 302 303 307 308; default 302 */
	bool keep_path;
};

struct conf_respond {
	int status;
	char *body;			/* may be NULL */
	size_t body_len;
	char *content_type;		/* default text/plain; charset=utf-8 */
};

struct conf_static {
	char *root;
	char *index;			/* default index.html */
	bool spa_fallback;
};

struct conf_pool;

struct conf_route {
	char **hosts;			/* lower-cased; "*" or "*.example.com";
					 * default one host, "*" */
	size_t n_hosts;
	char *path;			/* default "/" */
	bool strip_prefix;
	enum conf_action action;
	char *pool_name;
	struct conf_pool *pool;		/* resolved by the loader */
	struct conf_redirect redirect;
	struct conf_respond respond;
	struct conf_static static_files;
	struct conf_rate_limit rate_limit;
	struct conf_cidr *allow;	/* n_allow == 0: everyone */
	size_t n_allow;
	uint64_t max_body;		/* 0 = unlimited */
	struct conf_headers headers;
	struct conf_auth auth;
	bool compress;
	struct conf_waf *waf;		/* NULL = off */
	uint64_t hsts_max_age;		/* seconds; 0 = no HSTS header */
	size_t index;			/* position in routes[] */
	int line, col;
};

enum conf_balance { BALANCE_ROUND_ROBIN, BALANCE_LEAST_CONN,
	BALANCE_RANDOM_TWO, BALANCE_HASH };
enum conf_hash_key { HASH_CLIENT_IP, HASH_HEADER, HASH_COOKIE };

struct conf_server {
	struct conf_addr addr;
	uint32_t weight;		/* default 1, 1..256 */
};

struct conf_health {
	bool enabled;			/* a health: section is present */
	char *path;			/* HTTP GET path; NULL with tcp */
	bool tcp;
	uint64_t interval_ms;		/* default 2s */
	uint64_t timeout_ms;		/* default 1s */
	uint32_t rise;			/* default 2 */
	uint32_t fall;			/* default 3 */
	int expect_min, expect_max;	/* default 200-399 */
	char *host;			/* Host header for checks; default server addr */
};

struct conf_pool {
	char *name;
	enum conf_balance balance;
	enum conf_hash_key hash_key;
	char *hash_key_name;		/* header or cookie name */
	struct conf_server *servers;
	size_t n_servers;
	uint64_t resolve_interval_ms;	/* default 30s */
	struct conf_health health;
	uint32_t max_fails;		/* passive; default 3, 0 = off */
	uint64_t fail_timeout_ms;	/* default 10s */
	uint32_t retries;		/* default 1 */
	uint64_t connect_timeout_ms;	/* default 2s */
	uint64_t response_timeout_ms;	/* default 60s */
	uint64_t idle_timeout_ms;	/* default 90s */
	uint32_t keepalive;		/* default 32 */
	size_t index;			/* position in pools[] */
	int line, col;
};

enum conf_acme_challenge { ACME_CHALLENGE_HTTP01, ACME_CHALLENGE_TLSALPN01 };
enum conf_key_type { KEY_ECDSA_P256, KEY_RSA_2048 };

struct conf_acme {
	bool enabled;			/* the section is present */
	char *directory;		/* default Let's Encrypt production */
	char *email;
	char *ca_roots;
	enum conf_acme_challenge challenges[2];
	size_t n_challenges;		/* default both, http-01 first */
	enum conf_key_type key_type;
	char *profile;			/* NULL = the CA's default */
	char *storage_pg_conninfo;	/* NULL = local files in state_dir */
	char *storage_key_file;		/* encrypts keys stored in PostgreSQL */
	char *storage_key;		/* read from storage_key_file, or `key` */
	uint64_t renew_before_ms;	/* 0 = ARI or 2/3 of the lifetime */
};

enum conf_backup_kind { BACKUP_LOGICAL, BACKUP_PHYSICAL };
enum conf_compression { COMPRESS_NONE, COMPRESS_GZIP, COMPRESS_ZSTD };

/* A backup is kept while any rule keeps it; 0 turns a rule off. */
struct conf_retention {
	uint32_t keep_last;		/* default 7, the others 0 */
	uint32_t keep_daily;
	uint32_t keep_weekly;
	uint32_t keep_monthly;
};

struct conf_backup_job {
	char *name;
	char *conninfo;
	char *password_file;
	char *password;			/* read from password_file; never logged */
	enum conf_backup_kind kind;	/* default logical */
	char *schedule;			/* cron expression, validated by cron_parse */
	char *timezone;			/* NULL = local time; "UTC" or a tz name */
	char *destination;
	enum conf_compression compression;	/* default gzip */
	char *encryption_key_file;	/* NULL = not encrypted */
	struct conf_retention retention;
	bool verify;			/* default false */
	/* extensions of SPEC §2 (docs/backup.md), all optional: */
	char *pg_bindir;		/* NULL = /usr/lib/postgresql/MAJOR/bin, else PATH */
	char *scratch_dir;		/* verify/restore scratch space; NULL = $TMPDIR or /var/tmp */
	char *run_as;			/* user for a scratch cluster when run as root; NULL = postgres */
	int line, col;
};

struct conf_backup {
	bool enabled;			/* the section is present */
	struct conf_addr listen;	/* has_listen false: no HTTP endpoint */
	bool has_listen;
	struct conf_backup_job *jobs;
	size_t n_jobs;
};

struct config {
	atomic_uint refs;
	struct arena *arena;		/* owns everything below */
	char *path;			/* the file it came from */
	uint64_t version;		/* set by the loader: a load counter */
	time_t loaded_at;

	struct conf_global global;
	struct conf_admin admin;
	struct conf_listener *listeners;
	size_t n_listeners;
	struct conf_route *routes;
	size_t n_routes;
	struct conf_pool *pools;
	size_t n_pools;
	struct conf_acme acme;
	struct conf_backup backup;
};

/*
 * Load and validate `path`.  On success returns a config with one
 * reference; on failure NULL, with every problem appended to `d` (see
 * diag.h).  Never exits; safe to call from any thread (a reload builds
 * the new config off the data path).
 */
struct config *conf_load(const char *path, struct diag *d);
/* The same from a buffer; `name` is used in messages. */
struct config *conf_load_buffer(const char *name, const char *text,
    size_t len, struct diag *d);

/*
 * The same with flags: CONF_LOAD_SKIP_BACKUP_SECRETS lets `limen` (which
 * never needs them, and may not be allowed to read them) leave the backup
 * jobs' password files unread; CONF_LOAD_SKIP_PROXY_SECRETS does the
 * converse for limen-backup.  conf_load() reads every secret (`check`).
 */
#define CONF_LOAD_SKIP_BACKUP_SECRETS 0x1
#define CONF_LOAD_SKIP_PROXY_SECRETS  0x2
struct config *conf_load_ex(const char *path, unsigned flags, struct diag *d);
struct config *conf_load_buffer_ex(const char *name, const char *text,
    size_t len, unsigned flags, struct diag *d);

void conf_ref(struct config *c);
void conf_unref(struct config *c);

/* Lookups used by several parts. */
struct conf_pool *conf_pool_find(const struct config *c, const char *name);
struct conf_listener *conf_listener_find(const struct config *c,
    const char *name);

/* Default path when no -c is given. */
#define CONF_DEFAULT_PATH "/etc/limen/limen.yaml"

#endif
