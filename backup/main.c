/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * main.c — the `limen-backup` command line (SPEC §1).
 *
 *   run | now JOB | list [JOB] [--json] | verify JOB [--id ID]
 *   restore JOB [--id ID] [--time RFC3339] --to-db NAME [--force]
 *   prune JOB [--dry-run] | archive-wal JOB PATH NAME
 *
 * Options may stand before or after the command.  Exit 0 on success, 1 on
 * a user error (configuration, argument, unknown job or backup, existing
 * target database), 2 when the work itself failed.  Messages go to stderr;
 * stdout carries only results (a new backup's id, the catalog, a plan).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/backup.h"
#include "common/evlog.h"
#include "conf/config.h"
#include "conf/diag.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: limen-backup [-c FILE] COMMAND [ARGS]\n"
	    "  run                          the scheduler, in the foreground\n"
	    "  now JOB                      one backup now; prints its id\n"
	    "  list [JOB] [--json]          the catalog\n"
	    "  verify JOB [--id ID]         restore-test a backup\n"
	    "  restore JOB [--id ID] [--time RFC3339] --to-db NAME [--force]\n"
	    "  prune JOB [--dry-run]        apply the retention policy\n"
	    "  archive-wal JOB PATH NAME    archive_command for physical jobs\n"
	    "options: -c/--config FILE (default %s), --version, -h/--help\n",
	    CONF_DEFAULT_PATH);
}

static void
main_signal(int sig)
{
	(void)sig;
	backup_stop = 1;
	pg_cancel_all();
}

struct args {
	const char *config;
	bool json, force, dry_run;
	const char *id, *time_text, *to_db;
	char *pos[8];
	int npos;
};

static int
parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "id", required_argument, NULL, 'i' },
		{ "time", required_argument, NULL, 't' },
		{ "to-db", required_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(a, 0, sizeof *a);
	a->config = CONF_DEFAULT_PATH;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': a->config = optarg; break;
		case 'j': a->json = true; break;
		case 'i': a->id = optarg; break;
		case 't': a->time_text = optarg; break;
		case 'd': a->to_db = optarg; break;
		case 'f': a->force = true; break;
		case 'n': a->dry_run = true; break;
		case 'V':
			printf("limen-backup %s\n", LIMEN_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (optopt && optopt != '?')
				fprintf(stderr, "limen-backup: option -%c needs "
				    "an argument or is unknown\n", optopt);
			else
				fprintf(stderr, "limen-backup: unknown option "
				    "%s\n", argv[optind - 1]);
			return -1;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (a->npos == 8) {
			fprintf(stderr, "limen-backup: too many arguments\n");
			return -1;
		}
		a->pos[a->npos++] = argv[i];
	}
	return 0;
}

/* Options given that the command does not take. */
static int
check_opts(const struct args *a, const char *cmd, const char *allowed)
{
	struct { bool set; const char *name; char key; } o[] = {
		{ a->json, "--json", 'j' }, { a->id != NULL, "--id", 'i' },
		{ a->time_text != NULL, "--time", 't' },
		{ a->to_db != NULL, "--to-db", 'd' },
		{ a->force, "--force", 'f' }, { a->dry_run, "--dry-run", 'n' },
	};

	for (size_t i = 0; i < sizeof o / sizeof o[0]; i++)
		if (o[i].set && strchr(allowed, o[i].key) == NULL) {
			fprintf(stderr, "limen-backup: %s does not take %s\n",
			    cmd, o[i].name);
			return -1;
		}
	return 0;
}

static void
fmt_size(uint64_t n, char *buf, size_t len)
{
	if (n >= 1024ull * 1024 * 1024)
		snprintf(buf, len, "%.1fG", (double)n / (1024.0 * 1024 * 1024));
	else if (n >= 1024 * 1024)
		snprintf(buf, len, "%.1fM", (double)n / (1024.0 * 1024));
	else if (n >= 1024)
		snprintf(buf, len, "%.1fk", (double)n / 1024.0);
	else
		snprintf(buf, len, "%llu", (unsigned long long)n);
}

static int
cmd_list(const struct config *cfg, const struct args *a)
{
	const char *only = a->npos > 1 ? a->pos[1] : NULL;
	json_t *arr = a->json ? json_array() : NULL;
	bool found = false;

	if (!a->json)
		printf("%-20s %-12s %-8s %-20s %-20s %8s %s\n", "ID", "JOB",
		    "KIND", "START", "END", "SIZE", "STATUS");
	for (size_t j = 0; j < cfg->backup.n_jobs; j++) {
		const struct conf_backup_job *job = &cfg->backup.jobs[j];
		char jobdir[PATH_MAX];
		struct catalog cat;

		if (only && strcmp(only, job->name) != 0)
			continue;
		found = true;
		snprintf(jobdir, sizeof jobdir, "%s/%s",
		    job->destination ? job->destination : "", job->name);
		if (catalog_load(jobdir, &cat) == -1) {
			fprintf(stderr, "limen-backup: %s: %s\n", jobdir,
			    strerror(errno));
			json_decref(arr);
			return BACKUP_EXIT_FAIL;
		}
		for (size_t i = 0; i < cat.n; i++) {
			const struct catalog_entry *e = &cat.e[i];
			bool done = catalog_is_complete(e);
			char start[32], end[32], size[32];
			const char *kind = done ?
			    (e->m.kind == BACKUP_PHYSICAL ? "physical" :
			    "logical") : (job->kind == BACKUP_PHYSICAL ?
			    "physical" : "logical");

			manifest_time_fmt(done ? e->m.start :
			    catalog_id_time(e->id), start);
			if (done) {
				manifest_time_fmt(e->m.end, end);
				fmt_size(e->m.size, size, sizeof size);
			} else {
				snprintf(end, sizeof end, "-");
				snprintf(size, sizeof size, "-");
			}
			if (arr) {
				json_t *o = json_object();
				json_object_set_new(o, "id", json_string(e->id));
				json_object_set_new(o, "job",
				    json_string(job->name));
				json_object_set_new(o, "kind", json_string(kind));
				json_object_set_new(o, "start",
				    json_string(start));
				json_object_set_new(o, "end", done ?
				    json_string(end) : json_null());
				json_object_set_new(o, "size", done ?
				    json_integer((json_int_t)e->m.size) :
				    json_null());
				json_object_set_new(o, "status", json_string(
				    catalog_status_name(e->status)));
				json_object_set_new(o, "complete",
				    json_boolean(done));
				if (e->verify_time) {
					char vt[32];
					manifest_time_fmt(e->verify_time, vt);
					json_object_set_new(o, "verified_at",
					    json_string(vt));
					json_object_set_new(o, "verify_message",
					    json_string(e->verify_msg ?
					    e->verify_msg : ""));
				}
				if (done && e->m.encrypted)
					json_object_set_new(o, "encrypted",
					    json_true());
				json_array_append_new(arr, o);
			} else
				printf("%-20s %-12s %-8s %-20s %-20s %8s %s\n",
				    e->id, job->name, kind, start, end, size,
				    catalog_status_name(e->status));
		}
		catalog_free(&cat);
	}
	if (only && !found) {
		fprintf(stderr, "limen-backup: no job named %s\n", only);
		json_decref(arr);
		return BACKUP_EXIT_USER;
	}
	if (arr) {
		char *text = json_dumps(arr, JSON_INDENT(2));
		json_decref(arr);
		if (text == NULL)
			return BACKUP_EXIT_FAIL;
		printf("%s\n", text);
		free(text);
	}
	return BACKUP_EXIT_OK;
}

/* The commands that work on one job. */
static int
cmd_job(struct config *cfg, const char *cmd, const struct args *a,
    const char *config_path)
{
	const struct conf_backup_job *job;
	struct job_ctx ctx;
	char id[BACKUP_ID_MAX];
	int rc = BACKUP_EXIT_FAIL;

	if (a->npos < 2) {
		fprintf(stderr, "limen-backup: %s needs a JOB\n", cmd);
		return BACKUP_EXIT_USER;
	}
	if ((job = job_find(cfg, a->pos[1])) == NULL) {
		fprintf(stderr, "limen-backup: no job named %s in %s\n",
		    a->pos[1], config_path);
		return BACKUP_EXIT_USER;
	}
	if (job_open(&ctx, cfg, config_path, job) == -1)
		return BACKUP_EXIT_USER;

	if (strcmp(cmd, "now") == 0) {
		if (a->npos != 2 || check_opts(a, cmd, "") == -1) {
			rc = BACKUP_EXIT_USER;
			goto out;
		}
		rc = job_run(&ctx, id);
		if (id[0] != '\0') {
			struct catalog cat;
			if (catalog_load(ctx.jobdir, &cat) == 0) {
				const struct catalog_entry *e =
				    catalog_find(&cat, id);
				if (e && catalog_is_complete(e))
					printf("%s\n", id);
				catalog_free(&cat);
			}
		}
	} else if (strcmp(cmd, "verify") == 0) {
		if (a->npos != 2 || check_opts(a, cmd, "i") == -1) {
			rc = BACKUP_EXIT_USER;
			goto out;
		}
		if (a->id && !catalog_id_valid(a->id)) {
			fprintf(stderr, "limen-backup: %s is not a backup id\n",
			    a->id);
			rc = BACKUP_EXIT_USER;
			goto out;
		}
		rc = verify_run(&ctx, a->id);
		printf("%s\n", rc == BACKUP_EXIT_OK ? "verified" :
		    "verification failed");
	} else if (strcmp(cmd, "restore") == 0) {
		struct restore_req r = { .id = a->id, .time_text = a->time_text,
			.to_db = a->to_db, .force = a->force };
		if (a->npos != 2 || check_opts(a, cmd, "itdf") == -1) {
			rc = BACKUP_EXIT_USER;
			goto out;
		}
		if (a->to_db == NULL || *a->to_db == '\0' ||
		    strlen(a->to_db) > 63) {
			fprintf(stderr, "limen-backup: restore needs --to-db "
			    "NAME (at most 63 bytes)\n");
			rc = BACKUP_EXIT_USER;
			goto out;
		}
		if (a->id && !catalog_id_valid(a->id)) {
			fprintf(stderr, "limen-backup: %s is not a backup id\n",
			    a->id);
			rc = BACKUP_EXIT_USER;
			goto out;
		}
		if (a->time_text &&
		    manifest_time_parse(a->time_text, &r.time) == -1) {
			fprintf(stderr, "limen-backup: --time %s: want RFC 3339 "
			    "(2026-11-22T03:00:00Z)\n", a->time_text);
			rc = BACKUP_EXIT_USER;
			goto out;
		}
		rc = restore_run(&ctx, &r);
	} else if (strcmp(cmd, "prune") == 0) {
		if (a->npos != 2 || check_opts(a, cmd, "n") == -1) {
			rc = BACKUP_EXIT_USER;
			goto out;
		}
		rc = prune_run(&ctx, a->dry_run, true) == 0 ? BACKUP_EXIT_OK :
		    BACKUP_EXIT_FAIL;
	} else if (strcmp(cmd, "archive-wal") == 0) {
		if (a->npos != 4 || check_opts(a, cmd, "") == -1) {
			fprintf(stderr, "limen-backup: usage: archive-wal JOB "
			    "PATH NAME\n");
			rc = BACKUP_EXIT_USER;
			goto out;
		}
		rc = wal_archive(&ctx, a->pos[2], a->pos[3]);
	}
out:
	job_close(&ctx);
	return rc;
}

int
main(int argc, char **argv)
{
	struct args a;
	struct config *cfg;
	struct diag d;
	struct sigaction sa;
	const char *cmd;
	char config_path[PATH_MAX];
	int rc;

	log_init(LOG_LVL_INFO, LOG_FMT_TEXT);
	evlog_install();	/* libevent's messages in limen's log format */
	if (parse_args(argc, argv, &a) == -1) {
		usage(stderr);
		return BACKUP_EXIT_USER;
	}
	cmd = a.npos > 0 ? a.pos[0] : NULL;
	if (cmd == NULL) {
		usage(stderr);
		return BACKUP_EXIT_USER;
	}
	if (strcmp(cmd, "run") != 0 && strcmp(cmd, "now") != 0 &&
	    strcmp(cmd, "list") != 0 && strcmp(cmd, "verify") != 0 &&
	    strcmp(cmd, "restore") != 0 && strcmp(cmd, "prune") != 0 &&
	    strcmp(cmd, "archive-wal") != 0) {
		fprintf(stderr, "limen-backup: unknown command %s\n", cmd);
		usage(stderr);
		return BACKUP_EXIT_USER;
	}
	if (realpath(a.config, config_path) == NULL)
		snprintf(config_path, sizeof config_path, "%s", a.config);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	if (strcmp(cmd, "run") != 0) {
		sa.sa_handler = main_signal;	/* no SA_RESTART: EINTR */
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}

	diag_init(&d);
	/* the proxy's secrets (admin token, ACME storage key) belong to
	 * another user; this process never needs them */
	if ((cfg = conf_load_ex(config_path, CONF_LOAD_SKIP_PROXY_SECRETS,
	    &d)) == NULL) {
		diag_sort(&d);
		diag_print(&d, stderr);
		diag_free(&d);
		return BACKUP_EXIT_USER;
	}
	diag_free(&d);
	log_init(cfg->global.log_level, cfg->global.log_format);

	if (strcmp(cmd, "run") == 0) {
		if (a.npos != 1 || check_opts(&a, cmd, "") == -1)
			rc = BACKUP_EXIT_USER;
		else
			rc = sched_run(cfg, config_path);
	} else if (strcmp(cmd, "list") == 0) {
		if (a.npos > 2 || check_opts(&a, cmd, "j") == -1)
			rc = BACKUP_EXIT_USER;
		else
			rc = cmd_list(cfg, &a);
	} else
		rc = cmd_job(cfg, cmd, &a, config_path);
	conf_unref(cfg);
	return rc;
}
