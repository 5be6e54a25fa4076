/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pg.c — what limen-backup asks PostgreSQL directly, through libpq.
 *
 * Connections are short and synchronous (each one lives inside a job's
 * child process or a one-shot command, never inside the scheduler's event
 * loop), with a connect timeout.  The password comes from the config's
 * password_file (or the conninfo itself) and is handed to libpq as a
 * parameter; for child tools the conninfo is rebuilt without it and the
 * password travels in PGPASSWORD.
 */
#include "backup/backup.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"

struct pg_conn {
	PGconn *conn;
	int slot;		/* in pg_cancels, -1 = none */
};

/*
 * Cancel handles of the open connections, for the SIGTERM handler: a
 * query waiting on a lock would otherwise keep a stopping job alive
 * (libpq retries its poll after EINTR).  PQcancel is async-signal-safe.
 */
#define PG_CANCEL_SLOTS 8
static PGcancel *volatile pg_cancels[PG_CANCEL_SLOTS];

void
pg_cancel_all(void)
{
	char err[256];

	for (int i = 0; i < PG_CANCEL_SLOTS; i++) {
		PGcancel *c = pg_cancels[i];
		if (c != NULL)
			PQcancel(c, err, sizeof err);
	}
}

/* The job's password: the loaded secret, else read password_file, else
 * one given inside the conninfo.  malloc'd or NULL. */
static char *
pg_password(const struct conf_backup_job *job)
{
	PQconninfoOption *opts, *o;
	char *pw = NULL;
	size_t len;

	if (job->password != NULL)
		return strdup(job->password);
	if (job->password_file != NULL) {
		if (fsutil_read_secret(job->password_file, 4096, 0, &pw,
		    &len) == -1) {
			log_warn("job %s: password_file %s", job->name,
			    job->password_file);
			return NULL;
		}
		return pw;
	}
	if ((opts = PQconninfoParse(job->conninfo, NULL)) == NULL)
		return NULL;
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
			pw = strdup(o->val);
	PQconninfoFree(opts);
	return pw;
}

/* Server notices ("database does not exist, skipping") are not news. */
static void
pg_notice(void *arg, const char *msg)
{
	(void)arg;
	log_debug("postgresql: %.*s", (int)strcspn(msg, "\n"), msg);
}

static struct pg_conn *
pg_wrap(PGconn *conn, const char *what)
{
	struct pg_conn *c;

	if (conn == NULL) {
		log_warnx("%s: out of memory", what);
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		char *msg = strdup(PQerrorMessage(conn));
		if (msg) {
			msg[strcspn(msg, "\n")] = '\0';
			log_warnx("%s: cannot connect: %s", what, msg);
		}
		free(msg);
		PQfinish(conn);
		return NULL;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		PQfinish(conn);
		return NULL;
	}
	c->conn = conn;
	c->slot = -1;
	PQsetNoticeProcessor(conn, pg_notice, NULL);
	for (int i = 0; i < PG_CANCEL_SLOTS; i++)
		if (pg_cancels[i] == NULL) {
			pg_cancels[i] = PQgetCancel(conn);
			c->slot = i;
			break;
		}
	return c;
}

struct pg_conn *
pg_connect(const struct conf_backup_job *job, const char *dbname)
{
	const char *keys[8], *vals[8];
	char *pw = pg_password(job), what[128];
	int n = 0;
	PGconn *conn;

	keys[n] = "dbname";
	vals[n++] = job->conninfo ? job->conninfo : "";
	if (pw != NULL) {
		keys[n] = "password";
		vals[n++] = pw;
	}
	if (dbname != NULL) {
		keys[n] = "dbname";
		vals[n++] = dbname;
	}
	keys[n] = "connect_timeout";
	vals[n++] = "15";
	keys[n] = "application_name";
	vals[n++] = "limen-backup";
	keys[n] = NULL;
	vals[n] = NULL;
	conn = PQconnectdbParams(keys, vals, 1);
	if (pw) {
		memset(pw, 0, strlen(pw));
		free(pw);
	}
	snprintf(what, sizeof what, "job %s", job->name);
	return pg_wrap(conn, what);
}

struct pg_conn *
pg_connect_socket(const char *sockdir, const char *user, const char *dbname)
{
	const char *keys[] = { "host", "port", "user", "dbname",
		"connect_timeout", "application_name", NULL };
	const char *vals[] = { sockdir, "5432", user, dbname, "15",
		"limen-backup", NULL };

	return pg_wrap(PQconnectdbParams(keys, vals, 0), "scratch cluster");
}

void
pg_close(struct pg_conn *c)
{
	if (c == NULL)
		return;
	if (c->slot >= 0) {
		PGcancel *k = pg_cancels[c->slot];
		pg_cancels[c->slot] = NULL;
		PQfreeCancel(k);
	}
	PQfinish(c->conn);
	free(c);
}

static void
pg_log_error(struct pg_conn *c, PGresult *r, const char *sql)
{
	const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c->conn);
	char *m = strdup(msg ? msg : "");

	if (m) {
		m[strcspn(m, "\n")] = '\0';
		log_warnx("postgresql: %s (in: %.60s)", m, sql);
	}
	free(m);
}

int
pg_exec(struct pg_conn *c, const char *sql)
{
	PGresult *r = PQexec(c->conn, sql);
	int ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK ||
	    PQresultStatus(r) == PGRES_TUPLES_OK);

	if (!ok)
		pg_log_error(c, r, sql);
	PQclear(r);
	return ok ? 0 : -1;
}

char *
pg_query_value(struct pg_conn *c, const char *sql)
{
	PGresult *r = PQexec(c->conn, sql);
	char *v = NULL;

	if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
	    PQnfields(r) > 0)
		v = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
	else
		pg_log_error(c, r, sql);
	PQclear(r);
	return v;
}

const char *
pg_dbname(struct pg_conn *c)
{
	return PQdb(c->conn);
}

int
pg_server_version_num(struct pg_conn *c)
{
	return PQserverVersion(c->conn);
}

const char *
pg_server_version(struct pg_conn *c)
{
	const char *v = PQparameterStatus(c->conn, "server_version");
	return v ? v : "";
}

int
pg_count_rows(struct pg_conn *c, bool persistent_only, struct manifest *m)
{
	char sql[1024];
	PGresult *r;
	int n, rc = -1;

	snprintf(sql, sizeof sql,
	    "SELECT n.nspname, c.relname FROM pg_class c "
	    "JOIN pg_namespace n ON n.oid = c.relnamespace "
	    "WHERE c.relkind = 'r' AND c.relpersistence %s "
	    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
	    "AND n.nspname NOT LIKE 'pg\\_toast%%' "
	    "AND n.nspname NOT LIKE 'pg\\_temp%%' "
	    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE "
	    "d.classid = 'pg_class'::regclass AND d.objid = c.oid AND "
	    "d.deptype = 'e') ORDER BY 1, 2",
	    persistent_only ? "= 'p'" : "<> 't'");
	r = PQexec(c->conn, sql);
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_log_error(c, r, sql);
		PQclear(r);
		return -1;
	}
	n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		const char *nsp = PQgetvalue(r, i, 0), *rel = PQgetvalue(r, i, 1);
		char *qn = PQescapeIdentifier(c->conn, nsp, strlen(nsp));
		char *qr = PQescapeIdentifier(c->conn, rel, strlen(rel));
		char *q = NULL, *name = NULL, *v = NULL;
		long long rows;

		if (qn && qr && asprintf(&q, "SELECT count(*) FROM ONLY %s.%s",
		    qn, qr) != -1 && asprintf(&name, "%s.%s", nsp, rel) != -1)
			v = pg_query_value(c, q);
		PQfreemem(qn);
		PQfreemem(qr);
		free(q);
		if (v == NULL || sscanf(v, "%lld", &rows) != 1 ||
		    manifest_add_table(m, name, rows) == -1) {
			free(v);
			free(name);
			goto out;
		}
		free(v);
		free(name);
	}
	rc = 0;
out:
	PQclear(r);
	return rc;
}

char *
pg_quote_literal(struct pg_conn *c, const char *s)
{
	char *q = PQescapeLiteral(c->conn, s, strlen(s)), *r;

	if (q == NULL)
		return NULL;
	r = strdup(q);
	PQfreemem(q);
	return r;
}

int
pg_database_exists(struct pg_conn *c, const char *name)
{
	const char *params[1] = { name };
	PGresult *r = PQexecParams(c->conn,
	    "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, params,
	    NULL, NULL, 0);
	int rc = -1;

	if (r && PQresultStatus(r) == PGRES_TUPLES_OK)
		rc = PQntuples(r) > 0;
	else
		pg_log_error(c, r, "pg_database lookup");
	PQclear(r);
	return rc;
}

/* Run head IDENT_A [mid IDENT_B] tail, with the identifiers quoted. */
static int
pg_exec_ident(struct pg_conn *c, const char *head, const char *a,
    const char *mid, const char *b, const char *tail)
{
	char *qa = PQescapeIdentifier(c->conn, a, strlen(a));
	char *qb = b ? PQescapeIdentifier(c->conn, b, strlen(b)) : NULL;
	char *sql = NULL;
	int rc = -1;

	if (qa && (b == NULL || qb) && asprintf(&sql, "%s%s%s%s%s", head, qa,
	    b ? mid : "", qb ? qb : "", tail) != -1)
		rc = pg_exec(c, sql);
	PQfreemem(qa);
	PQfreemem(qb);
	free(sql);
	return rc;
}

int
pg_create_database(struct pg_conn *c, const char *name)
{
	return pg_exec_ident(c, "CREATE DATABASE ", name, "", NULL,
	    " TEMPLATE template0");
}

int
pg_drop_database(struct pg_conn *c, const char *name)
{
	return pg_exec_ident(c, "DROP DATABASE IF EXISTS ", name, "", NULL,
	    " WITH (FORCE)");
}

int
pg_rename_database(struct pg_conn *c, const char *from, const char *to)
{
	return pg_exec_ident(c, "ALTER DATABASE ", from, " RENAME TO ", to,
	    "");
}

/* Append key='value' to a conninfo string under construction. */
static int
conninfo_add(char **s, size_t *len, size_t *cap, const char *key,
    const char *val)
{
	size_t need = strlen(key) + 2 * strlen(val) + 5;

	if (*len + need + 1 > *cap) {
		size_t ncap = (*cap + need + 1) * 2;
		char *n = realloc(*s, ncap);
		if (n == NULL)
			return -1;
		*s = n;
		*cap = ncap;
	}
	*len += (size_t)sprintf(*s + *len, "%s%s='", *len ? " " : "", key);
	for (const char *p = val; *p; p++) {
		if (*p == '\'' || *p == '\\')
			(*s)[(*len)++] = '\\';
		(*s)[(*len)++] = *p;
	}
	(*s)[(*len)++] = '\'';
	(*s)[*len] = '\0';
	return 0;
}

char *
pg_child_conninfo(const struct conf_backup_job *job, const char *dbname)
{
	PQconninfoOption *opts, *o;
	char *err = NULL, *s = NULL;
	size_t len = 0, cap = 0;
	bool have_db = false;

	if ((opts = PQconninfoParse(job->conninfo ? job->conninfo : "",
	    &err)) == NULL) {
		log_warnx("job %s: conninfo: %s", job->name,
		    err ? err : "out of memory");
		PQfreemem(err);
		return NULL;
	}
	if ((s = strdup("")) == NULL)
		goto fail;
	cap = 1;
	for (o = opts; o->keyword != NULL; o++) {
		const char *v = o->val;
		if (v == NULL || strcmp(o->keyword, "password") == 0)
			continue;
		if (strcmp(o->keyword, "dbname") == 0) {
			have_db = true;
			if (dbname)
				v = dbname;
		}
		if (conninfo_add(&s, &len, &cap, o->keyword, v) == -1)
			goto fail;
	}
	if (!have_db && dbname &&
	    conninfo_add(&s, &len, &cap, "dbname", dbname) == -1)
		goto fail;
	PQconninfoFree(opts);
	return s;
fail:
	PQconninfoFree(opts);
	free(s);
	return NULL;
}

char *
pg_child_password_env(const struct conf_backup_job *job)
{
	char *pw = pg_password(job), *env = NULL;

	if (pw == NULL)
		return NULL;
	if (asprintf(&env, "PGPASSWORD=%s", pw) == -1)
		env = NULL;
	memset(pw, 0, strlen(pw));
	free(pw);
	return env;
}

void
pg_bindir(const struct conf_backup_job *job, int server_version_num,
    char *out, size_t len)
{
	if (job->pg_bindir != NULL) {
		snprintf(out, len, "%s", job->pg_bindir);
		return;
	}
	snprintf(out, len, "/usr/lib/postgresql/%d/bin",
	    server_version_num / 10000);
	if (access(out, X_OK) == 0)
		return;
	out[0] = '\0';
}
