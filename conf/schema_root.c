/* SPDX-License-Identifier: BSD-2-Clause */
/* schema_root.c — the top-level sections of the file. */
#include "conf/schema.h"

#define CF(f) offsetof(struct config, f)

static const struct conf_key root_keys[] = {
	{ .name = "global", .type = &conf_t_section, .off = CF(global),
	  .off2 = CONF_NO_OFF2, .flags = CK_DEFAULTS, .sub = &conf_schema_global,
	  .doc = "process-wide settings" },
	{ .name = "admin", .type = &conf_t_section, .off = CF(admin),
	  .off2 = CF(admin) + offsetof(struct conf_admin, enabled),
	  .sub = &conf_schema_admin, .doc = "admin endpoint" },
	{ .name = "listeners", .type = &conf_t_list, .off = CF(listeners),
	  .off2 = CF(n_listeners), .sub = &conf_schema_listener,
	  .doc = "where connections are accepted" },
	{ .name = "routes", .type = &conf_t_list, .off = CF(routes),
	  .off2 = CF(n_routes), .sub = &conf_schema_route,
	  .doc = "host and path to action" },
	{ .name = "pools", .type = &conf_t_named, .off = CF(pools),
	  .off2 = CF(n_pools), .sub = &conf_schema_pool,
	  .doc = "named groups of upstream servers" },
	{ .name = "acme", .type = &conf_t_section, .off = CF(acme),
	  .off2 = CF(acme) + offsetof(struct conf_acme, enabled),
	  .sub = &conf_schema_acme, .doc = "certificates over ACME" },
	{ .name = "backup", .type = &conf_t_section, .off = CF(backup),
	  .off2 = CF(backup) + offsetof(struct conf_backup, enabled),
	  .sub = &conf_schema_backup, .doc = "PostgreSQL backups" },
	{ .name = NULL },
};

const struct conf_section conf_schema_root = {
	.name = "top-level", .keys = root_keys, .size = sizeof(struct config),
	.doc = "The file's top-level sections.",
};
