/* SPDX-License-Identifier: BSD-2-Clause */
/* schema_backup.c — the key tables of `backup:` (limen-backup's section). */
#include "conf/schema.h"

#define B(f) offsetof(struct conf_backup, f)
#define J(f) offsetof(struct conf_backup_job, f)
#define RT(f) (offsetof(struct conf_backup_job, retention) + \
	offsetof(struct conf_retention, f))

static const struct conf_enum kinds[] = {
	{ "logical", BACKUP_LOGICAL }, { "physical", BACKUP_PHYSICAL },
	{ NULL, 0 },
};

static const struct conf_enum compressions[] = {
	{ "none", COMPRESS_NONE }, { "gzip", COMPRESS_GZIP },
	{ "zstd", COMPRESS_ZSTD }, { NULL, 0 },
};

static const struct conf_key encryption_keys[] = {
	{ .name = "key_file", .type = &conf_t_path,
	  .off = J(encryption_key_file), .flags = CK_REQUIRED,
	  .example = "/etc/limen/backup.key",
	  .doc = "32-byte key (raw or hex), 0600; AES-256-GCM" },
	{ .name = NULL },
};

static const struct conf_section encryption_section = {
	.name = "backup.jobs[].encryption", .keys = encryption_keys,
	.doc = "Encrypt backups at rest.  Without it they are not encrypted.",
};

static void
retention_finish(struct conf_ctx *x, const struct ynode *n, void *obj,
    const bool *seen)
{
	struct conf_backup_job *j = obj;
	const struct conf_retention *r = &j->retention;

	if (r->keep_last + r->keep_daily + r->keep_weekly + r->keep_monthly == 0)
		conf_err(x, n, "keeps nothing: set at least one keep_* above 0");
}

static const struct conf_key retention_keys[] = {
	{ .name = "keep_last", .type = &conf_t_u32, .off = RT(keep_last),
	  .def = "7", .max = 10000, .doc = "the newest N backups" },
	{ .name = "keep_daily", .type = &conf_t_u32, .off = RT(keep_daily),
	  .def = "0", .max = 10000, .doc = "the newest backup of each of the "
	    "last N days" },
	{ .name = "keep_weekly", .type = &conf_t_u32, .off = RT(keep_weekly),
	  .def = "0", .max = 10000, .doc = "... of each of the last N weeks" },
	{ .name = "keep_monthly", .type = &conf_t_u32, .off = RT(keep_monthly),
	  .def = "0", .max = 10000, .doc = "... of each of the last N months" },
	{ .name = NULL },
};

static const struct conf_section retention_section = {
	.name = "backup.jobs[].retention", .keys = retention_keys,
	.finish = retention_finish,
	.doc = "A backup is kept while any rule keeps it; 0 turns a rule off.",
};

static void
job_finish(struct conf_ctx *x, const struct ynode *n, void *obj,
    const bool *seen)
{
	struct conf_backup_job *j = obj;

	j->line = n->line;
	j->col = n->col;
}

static const struct conf_key job_keys[] = {
	{ .name = "name", .type = &conf_t_string, .off = J(name),
	  .flags = CK_REQUIRED, .example = "app",
	  .doc = "unique job name: letters, digits, '-', '_'" },
	{ .name = "conninfo", .type = &conf_t_secret, .off = J(conninfo),
	  .flags = CK_REQUIRED,
	  .example = "\"host=/run/postgresql dbname=app user=backup\"",
	  .doc = "libpq connection string" },
	{ .name = "password", .type = &conf_t_secret, .off = J(password),
	  .example = "${PGPASSWORD_APP}",
	  .doc = "database password (or use ~/.pgpass)" },
	{ .name = "password_file", .type = &conf_t_secret_file,
	  .off = J(password_file), .off2 = J(password), .flags = CK_BACKUP,
	  .example = "/etc/limen/backup-db.password",
	  .doc = "the password, read from a 0600 file at load time" },
	{ .name = "kind", .type = &conf_t_enum, .off = J(kind),
	  .def = "logical", .enums = kinds,
	  .doc = "logical (pg_dump) or physical (base backup + WAL, point in "
	    "time)" },
	{ .name = "schedule", .type = &conf_t_string, .off = J(schedule),
	  .flags = CK_REQUIRED, .example = "\"0 3 * * *\"",
	  .doc = "5-field cron expression, or @hourly / @daily / @weekly" },
	{ .name = "timezone", .type = &conf_t_string, .off = J(timezone),
	  .example = "Europe/Berlin",
	  .doc = "zone of the schedule; local time if unset" },
	{ .name = "destination", .type = &conf_t_path, .off = J(destination),
	  .flags = CK_REQUIRED, .example = "/var/backups/limen",
	  .doc = "directory that holds this job's backups" },
	{ .name = "compression", .type = &conf_t_enum, .off = J(compression),
	  .def = "gzip", .enums = compressions, .doc = "none, gzip or zstd" },
	{ .name = "encryption", .type = &conf_t_inline,
	  .sub = &encryption_section, .doc = "encryption at rest" },
	{ .name = "retention", .type = &conf_t_inline, .sub = &retention_section,
	  .doc = "which backups prune keeps" },
	{ .name = "verify", .type = &conf_t_bool, .off = J(verify),
	  .def = "false", .doc = "restore-test every new backup" },
	{ .name = "pg_bindir", .type = &conf_t_path, .off = J(pg_bindir),
	  .example = "/usr/lib/postgresql/16/bin",
	  .doc = "where pg_dump and friends are; default: the server's major "
	    "version under /usr/lib/postgresql, else PATH" },
	{ .name = "scratch_dir", .type = &conf_t_path, .off = J(scratch_dir),
	  .example = "/var/tmp", .doc = "scratch space for verify and restore; "
	    "default $TMPDIR or /var/tmp" },
	{ .name = "run_as", .type = &conf_t_string, .off = J(run_as),
	  .example = "postgres", .doc = "user that owns a scratch cluster when "
	    "limen-backup runs as root; default postgres" },
	{ .name = NULL },
};

static const struct conf_section job_section = {
	.name = "backup.jobs[]", .keys = job_keys,
	.size = sizeof(struct conf_backup_job), .finish = job_finish,
	.doc = "One database and how it is backed up.",
};

static void
backup_finish(struct conf_ctx *x, const struct ynode *n, void *obj,
    const bool *seen)
{
	struct conf_backup *b = obj;

	b->has_listen = seen[conf_key_index(&conf_schema_backup, "listen")];
}

static const struct conf_key backup_keys[] = {
	{ .name = "listen", .type = &conf_t_addr, .off = B(listen),
	  .example = "127.0.0.1:9091",
	  .doc = "the companion's /metrics and /healthz; none if unset" },
	{ .name = "jobs", .type = &conf_t_list, .off = B(jobs),
	  .off2 = B(n_jobs), .sub = &job_section, .doc = "the backup jobs" },
	{ .name = NULL },
};

const struct conf_section conf_schema_backup = {
	.name = "backup", .keys = backup_keys, .size = sizeof(struct conf_backup),
	.finish = backup_finish,
	.doc = "Read by `limen-backup` only.",
};
