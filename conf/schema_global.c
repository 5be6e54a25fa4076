/* SPDX-License-Identifier: BSD-2-Clause */
/* schema_global.c — the key tables of `global:` and `admin:`. */
#include <string.h>

#include "common/strict.h"
#include "conf/schema.h"

#define G(f) offsetof(struct conf_global, f)
#define A(f) offsetof(struct conf_admin, f)

static const struct conf_enum log_levels[] = {
	{ "error", LOG_LVL_ERROR }, { "warn", LOG_LVL_WARN },
	{ "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG }, { NULL, 0 },
};

static const struct conf_enum log_formats[] = {
	{ "text", LOG_FMT_TEXT }, { "json", LOG_FMT_JSON }, { NULL, 0 },
};

/* workers: "auto" (0) or 1..1024 */
static int
parse_workers(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	const char *s = conf_scalar(x, n, "auto or a number"), *e;
	uint64_t v;

	if (s == NULL)
		return -1;
	if (strcmp(s, "auto") == 0) {
		*(unsigned *)dst = 0;
		return 0;
	}
	if (strict_uint(s, 1, 1024, &v, &e) == -1) {
		conf_err(x, n, "expected auto or a number 1..1024, not '%s'", s);
		return -1;
	}
	*(unsigned *)dst = (unsigned)v;
	return 0;
}

static const struct conf_type t_workers = { "auto or integer", parse_workers };

static const struct conf_key log_keys[] = {
	{ .name = "level", .type = &conf_t_enum, .off = G(log_level),
	  .def = "info", .enums = log_levels,
	  .doc = "error, warn, info or debug" },
	{ .name = "format", .type = &conf_t_enum, .off = G(log_format),
	  .def = "text", .enums = log_formats,
	  .doc = "text or json lines on stderr" },
	{ .name = NULL },
};

static const struct conf_section log_section = {
	.name = "global.log", .keys = log_keys,
	.doc = "The process log, always on stderr (journald collects it).",
};

static const struct conf_key access_log_keys[] = {
	{ .name = "path", .type = &conf_t_path, .off = G(access_log_path),
	  .flags = CK_REQUIRED, .example = "/var/log/limen/access.log",
	  .doc = "file to append to; \"-\" is stderr; reopened on SIGUSR1" },
	{ .name = "format", .type = &conf_t_enum, .off = G(access_log_format),
	  .def = "json", .enums = log_formats, .doc = "json or text" },
	{ .name = NULL },
};

static const struct conf_section access_log_section = {
	.name = "global.access_log", .keys = access_log_keys,
	.doc = "One line per request.  `access_log: off` (the default) "
	    "turns it off.",
};

/* access_log: off | { path, format } */
static int
parse_access_log(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	struct conf_global *g = base;

	if (n->kind == YNODE_SCALAR && strcmp(n->str, "off") == 0) {
		g->access_log_path = NULL;
		g->access_log_format = LOG_FMT_JSON;
		return 0;
	}
	if (n->kind != YNODE_MAP) {
		conf_err(x, n, "expected off or a mapping with path and format");
		return -1;
	}
	conf_schema_section(x, &access_log_section, n, base);
	return 0;
}

static const struct conf_type t_access_log = { "off or section",
	parse_access_log };

static const struct conf_key global_keys[] = {
	{ .name = "state_dir", .type = &conf_t_path, .off = G(state_dir),
	  .def = "/var/lib/limen",
	  .doc = "certificates, the ACME account, caches" },
	{ .name = "pid_file", .type = &conf_t_path, .off = G(pid_file),
	  .example = "/run/limen/limen.pid",
	  .doc = "written at start, used by `limen reload`; none if unset" },
	{ .name = "workers", .type = &t_workers, .off = G(workers),
	  .def = "auto", .doc = "event-loop threads; auto = one per core" },
	{ .name = "shutdown_timeout", .type = &conf_t_duration,
	  .off = G(shutdown_timeout_ms), .def = "30s",
	  .doc = "how long in-flight requests may finish after SIGTERM" },
	{ .name = "log", .type = &conf_t_inline, .sub = &log_section,
	  .doc = "process log: level and format" },
	{ .name = "access_log", .type = &t_access_log,
	  .sub = &access_log_section, .def = "off",
	  .doc = "request log: off, or path and format" },
	{ .name = "user", .type = &conf_t_string, .off = G(user),
	  .example = "limen",
	  .doc = "drop privileges to this user after binding the ports" },
	{ .name = "group", .type = &conf_t_string, .off = G(group),
	  .example = "limen",
	  .doc = "and to this group (default: the user's primary group)" },
	{ .name = "watch_config", .type = &conf_t_bool, .off = G(watch_config),
	  .def = "false", .doc = "reload by itself when the file changes" },
	{ .name = "max_conns_per_ip", .type = &conf_t_u32,
	  .off = G(max_conns_per_ip), .def = "0",
	  .doc = "open connections per client address; 0 = unlimited" },
	{ .name = "max_conns", .type = &conf_t_u32, .off = G(max_conns),
	  .def = "0", .doc = "open client connections per process; 0 = unlimited" },
	{ .name = "header_timeout", .type = &conf_t_duration,
	  .off = G(header_timeout_ms), .def = "10s",
	  .doc = "time a client has to send a whole request head (else 408)" },
	{ .name = "keepalive_timeout", .type = &conf_t_duration,
	  .off = G(keepalive_timeout_ms), .def = "60s",
	  .doc = "idle time allowed on a client connection between requests" },
	{ .name = "resolvers", .type = &conf_t_strings, .off = G(resolvers),
	  .off2 = G(n_resolvers), .example = "[\"127.0.0.1:53\"]",
	  .doc = "DNS servers (ip:port) for pool server names; "
	    "/etc/resolv.conf if unset" },
	{ .name = NULL },
};

const struct conf_section conf_schema_global = {
	.name = "global", .keys = global_keys,
	.size = sizeof(struct conf_global),
	.doc = "Process-wide settings.",
};

static const struct conf_key admin_keys[] = {
	{ .name = "listen", .type = &conf_t_addr, .off = A(listen),
	  .def = "127.0.0.1:9090",
	  .doc = "address of /metrics, /healthz and the admin API; keep it "
	    "private" },
	{ .name = "token", .type = &conf_t_secret, .off = A(token),
	  .example = "${LIMEN_ADMIN_TOKEN}",
	  .doc = "bearer token required for POST endpoints" },
	{ .name = "token_file", .type = &conf_t_secret_file,
	  .off = A(token_file), .off2 = A(token), .flags = CK_PROXY,
	  .example = "/etc/limen/admin.token",
	  .doc = "the token, read from a 0600 file at load time" },
	{ .name = NULL },
};

const struct conf_section conf_schema_admin = {
	.name = "admin", .keys = admin_keys, .size = sizeof(struct conf_admin),
	.doc = "The admin endpoint.  Present only if the section is; never on "
	    "a public address by default.",
};
