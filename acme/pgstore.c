/* SPDX-License-Identifier: BSD-2-Clause */
/* pgstore.c — see pgstore.h: the thread that talks to PostgreSQL. */
#include "acme/pgstore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "acme/store_crypt.h"
#include "common/log.h"

#define SCHEMA_VERSION	1
#define BACKOFF_MIN_MS	1000
#define BACKOFF_MAX_MS	60000
/* pg_advisory_xact_lock key of the table setup ("LIMENSCH") */
#define SETUP_LOCK_KEY	"5497449788071773000"
#define PGSTORE_STOP_WAIT_S 2
#define PGSTORE_CONNECT_TIMEOUT_S 5
#define KEY_CHECK_TEXT	"limen acme storage key check"

enum job_kind { JOB_LOCK, JOB_UNLOCK, JOB_SAVE, JOB_ACCOUNT_URL };

struct job {
	TAILQ_ENTRY(job) entry;
	enum job_kind kind;
	char *name;
	char *cert;
	char *key;
	char *url;
	time_t not_after;
	bool account;		/* JOB_LOCK: the account's lock too */
};

struct pending {
	TAILQ_ENTRY(pending) entry;
	struct pgstore_event ev;
};

struct pgstore {
	/* shared, under mu */
	pthread_mutex_t mu;
	TAILQ_HEAD(, job) jobs;
	TAILQ_HEAD(, pending) events;
	bool stop;
	bool finished;		/* the thread is about to return */
	bool detached;		/* nobody joins it: it frees itself */
	int wake[2];		/* loop -> thread */
	int notify[2];		/* thread -> loop */
	/* the loop's */
	struct event *ev;
	pgstore_cb *cb;
	void *arg;
	/* the thread's */
	pthread_t th;
	PGconn *conn;
	char *conninfo;
	char *directory;
	char *local_account;
	char ident[128];
	char connect_timeout[16];
	uint8_t key[STORE_CRYPT_KEY_LEN];
	int64_t seen_rev;
	char account_lock[32];	/* its pg_advisory_lock key */
	char **acct_names;	/* names whose lock took the account's */
	size_t n_acct_names;
	bool up;
	char err[512];
	char last_down[512];
};

/* ---- helpers -------------------------------------------------------------- */

static void
wipe_free(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static void
job_free(struct job *j)
{
	free(j->name);
	free(j->cert);
	wipe_free(j->key);
	free(j->url);
	free(j);
}

static void
event_clear(struct pgstore_event *e)
{
	free(e->name);
	free(e->cert_pem);
	wipe_free(e->key_pem);
	wipe_free(e->account_key_pem);
	free(e->account_url);
	free(e->error);
	memset(e, 0, sizeof *e);
}

static char *
xstrdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static bool
stopping(struct pgstore *s)
{
	bool stop;

	pthread_mutex_lock(&s->mu);
	stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	return stop;
}

/* Hand an event to the loop; takes the strings in *e. */
static void
emit(struct pgstore *s, struct pgstore_event *e)
{
	struct pending *p = calloc(1, sizeof *p);
	char c = 0;

	if (p == NULL) {
		event_clear(e);
		return;
	}
	p->ev = *e;
	memset(e, 0, sizeof *e);
	pthread_mutex_lock(&s->mu);
	TAILQ_INSERT_TAIL(&s->events, p, entry);
	pthread_mutex_unlock(&s->mu);
	if (write(s->notify[1], &c, 1) == -1 && errno != EAGAIN)
		log_warn("acme: storage: notify pipe");
}

static void
emit_simple(struct pgstore *s, enum pgstore_event_type type,
    const char *name, const char *error)
{
	struct pgstore_event e = { .type = type };

	e.name = xstrdup(name);
	e.error = xstrdup(error);
	emit(s, &e);
}

/* libpq's messages span lines: make s->err one line for the log. */
static void
one_line(char *e)
{
	char *w = e;

	for (const char *r = e; *r; r++) {
		char c = *r == '\n' || *r == '\t' || *r == '\r' ? ' ' : *r;

		if (c == ' ' && (w == e || w[-1] == ' '))
			continue;
		*w++ = c;
	}
	while (w > e && w[-1] == ' ')
		w--;
	*w = '\0';
}

/* The last libpq error, as one line. */
static const char *
pg_error(struct pgstore *s, const char *what)
{
	const char *m = s->conn ? PQerrorMessage(s->conn) : "no connection";

	snprintf(s->err, sizeof s->err, "%s: %s", what, m && *m ? m :
	    "unknown error");
	one_line(s->err);
	return s->err;
}

static void
hex_encode(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
hex_decode(const char *h, uint8_t *out, size_t max, size_t *n)
{
	size_t len = strlen(h);

	if (len % 2 != 0 || len / 2 > max)
		return -1;
	for (size_t i = 0; i < len / 2; i++) {
		unsigned v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*n = len / 2;
	return 0;
}

/*
 * Run a statement.  Returns the result (caller PQclear's) if its status
 * is want, else NULL with s->err set; a lost connection is dropped so the
 * main loop reconnects.
 */
static PGresult *
pg_exec(struct pgstore *s, const char *what, ExecStatusType want,
    const char *sql, int n, const char *const *vals, const int *lens,
    const int *fmts)
{
	PGresult *r;

	if (s->conn == NULL) {
		snprintf(s->err, sizeof s->err, "%s: not connected", what);
		return NULL;
	}
	r = n > 0 ? PQexecParams(s->conn, sql, n, NULL, vals, lens, fmts, 0) :
	    PQexec(s->conn, sql);
	if (r != NULL && PQresultStatus(r) == want)
		return r;
	if (r != NULL && PQresultErrorMessage(r)[0] != '\0') {
		snprintf(s->err, sizeof s->err, "%s: %s", what,
		    PQresultErrorMessage(r));
		one_line(s->err);
	} else {
		pg_error(s, what);
	}
	PQclear(r);
	if (PQstatus(s->conn) != CONNECTION_OK) {
		PQfinish(s->conn);
		s->conn = NULL;
	}
	return NULL;
}

/* Open a bytea column (text format) sealed for ctx. */
static char *
open_blob(struct pgstore *s, const char *col, const char *ctx)
{
	size_t blen = 0, plen;
	unsigned char *blob = PQunescapeBytea((const unsigned char *)col,
	    &blen);
	char *plain = NULL;

	if (blob == NULL)
		return NULL;
	if (store_crypt_open(s->key, ctx, blob, blen, &plain, &plen) == -1)
		plain = NULL;
	PQfreemem(blob);
	return plain;
}

/* Forget the account locks (the session that held them is gone). */
static void
account_locks_clear(struct pgstore *s)
{
	for (size_t i = 0; i < s->n_acct_names; i++)
		free(s->acct_names[i]);
	free(s->acct_names);
	s->acct_names = NULL;
	s->n_acct_names = 0;
}

/* ---- connection and setup ------------------------------------------------- */

static const char setup_sql[] =
    "SET client_min_messages = warning;"
    "SET statement_timeout = '15s';"
    "SET lock_timeout = '10s';"
    "SET idle_in_transaction_session_timeout = '60s';"
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(" SETUP_LOCK_KEY ");"
    "CREATE TABLE IF NOT EXISTS limen_acme_meta ("
    "  key text PRIMARY KEY, value text NOT NULL);"
    "CREATE SEQUENCE IF NOT EXISTS limen_acme_rev;"
    "CREATE TABLE IF NOT EXISTS limen_acme_account ("
    "  directory text PRIMARY KEY, key_enc bytea NOT NULL, url text,"
    "  updated_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS limen_acme_certs ("
    "  name text PRIMARY KEY, cert_pem text NOT NULL,"
    "  key_enc bytea NOT NULL, not_after timestamptz NOT NULL,"
    "  rev bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),"
    "  updated_by text NOT NULL);"
    "INSERT INTO limen_acme_meta VALUES ('schema_version', '1')"
    "  ON CONFLICT DO NOTHING;"
    "COMMIT;"
    "LISTEN limen_acme;";

/* The value of a meta key (malloc'd), or NULL (absent: s->err empty). */
static char *
meta_get(struct pgstore *s, const char *key)
{
	const char *v[1] = { key };
	PGresult *r = pg_exec(s, "read limen_acme_meta", PGRES_TUPLES_OK,
	    "SELECT value FROM limen_acme_meta WHERE key = $1", 1, v, NULL,
	    NULL);
	char *out = NULL;

	if (r == NULL)
		return NULL;
	s->err[0] = '\0';
	if (PQntuples(r) == 1)
		out = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return out;
}

/* Is this instance's key the one the tables were set up with? */
static int
check_key(struct pgstore *s)
{
	uint8_t blob[256], *sealed = NULL;
	char hex[2 * sizeof blob + 1], *v, *plain = NULL;
	size_t blen, slen, plen;
	PGresult *r;
	const char *vals[1];

	if ((v = meta_get(s, "key_check")) == NULL) {
		if (s->err[0] != '\0')
			return -1;
		if (store_crypt_seal(s->key, "key-check", KEY_CHECK_TEXT,
		    sizeof KEY_CHECK_TEXT - 1, &sealed, &slen) == -1 ||
		    slen > sizeof blob) {
			free(sealed);
			snprintf(s->err, sizeof s->err, "cannot seal");
			return -1;
		}
		hex_encode(sealed, slen, hex);
		free(sealed);
		vals[0] = hex;
		if ((r = pg_exec(s, "write limen_acme_meta", PGRES_COMMAND_OK,
		    "INSERT INTO limen_acme_meta VALUES ('key_check', $1) "
		    "ON CONFLICT DO NOTHING", 1, vals, NULL, NULL)) == NULL)
			return -1;
		PQclear(r);
		if ((v = meta_get(s, "key_check")) == NULL) {
			if (s->err[0] == '\0')
				snprintf(s->err, sizeof s->err,
				    "limen_acme_meta: key_check vanished");
			return -1;
		}
	}
	if (hex_decode(v, blob, sizeof blob, &blen) == -1 ||
	    store_crypt_open(s->key, "key-check", blob, blen, &plain,
	    &plen) == -1 || strcmp(plain, KEY_CHECK_TEXT) != 0) {
		snprintf(s->err, sizeof s->err, "the storage key (acme.storage "
		    "key_file or key) is not the one the shared store was set "
		    "up with: wrong key, nothing is read or written");
		free(v);
		free(plain);
		return -1;
	}
	free(v);
	free(plain);
	return 0;
}

/* Read (or, first, offer) this directory's account. */
static int
sync_account(struct pgstore *s, struct pgstore_event *e)
{
	char ctx[1100];
	const char *vals[2] = { s->directory, NULL };
	int lens[2] = { 0, 0 }, fmts[2] = { 0, 1 };
	uint8_t *sealed = NULL;
	size_t slen;
	PGresult *r;

	snprintf(ctx, sizeof ctx, "account:%s", s->directory);
	for (int round = 0; round < 2; round++) {
		r = pg_exec(s, "read limen_acme_account", PGRES_TUPLES_OK,
		    "SELECT key_enc, url FROM limen_acme_account "
		    "WHERE directory = $1", 1, vals, NULL, NULL);
		if (r == NULL)
			return -1;
		if (PQntuples(r) == 1) {
			e->account_key_pem = open_blob(s, PQgetvalue(r, 0, 0),
			    ctx);
			if (!PQgetisnull(r, 0, 1))
				e->account_url = strdup(PQgetvalue(r, 0, 1));
			PQclear(r);
			if (e->account_key_pem == NULL) {
				snprintf(s->err, sizeof s->err, "cannot decrypt "
				    "the account key in limen_acme_account: "
				    "wrong storage key or a damaged row");
				return -1;
			}
			return 0;
		}
		PQclear(r);
		if (round == 1)
			break;
		/* none yet: offer ours; if another instance was faster, its
		 * key is read back on the next round */
		if (store_crypt_seal(s->key, ctx, s->local_account,
		    strlen(s->local_account), &sealed, &slen) == -1) {
			snprintf(s->err, sizeof s->err, "cannot seal");
			return -1;
		}
		vals[1] = (const char *)sealed;
		lens[1] = (int)slen;
		r = pg_exec(s, "write limen_acme_account", PGRES_COMMAND_OK,
		    "INSERT INTO limen_acme_account (directory, key_enc) "
		    "VALUES ($1, $2) ON CONFLICT DO NOTHING", 2, vals, lens,
		    fmts);
		free(sealed);
		vals[1] = NULL;
		if (r == NULL)
			return -1;
		PQclear(r);
	}
	snprintf(s->err, sizeof s->err, "limen_acme_account: row vanished");
	return -1;
}

/* Server notices (e.g. unlocking a lock lost with an old session) are
 * not errors: libpq would print them on stderr. */
static void
quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int
pg_connect(struct pgstore *s)
{
	static const char *const kw[] = { "application_name", "keepalives",
	    "keepalives_idle", "keepalives_interval", "keepalives_count",
	    "tcp_user_timeout", "dbname", "connect_timeout", NULL };
	/* CONNINFO (dbname) overrides the defaults before it; the connect
	 * timeout after it is CONNINFO's, bounded (pgstore_new) */
	const char *const val[] = { "limen-acme", "1", "10", "5", "3",
	    "20000", s->conninfo, s->connect_timeout, NULL };
	struct pgstore_event e = { .type = PGSTORE_READY };
	PGresult *r;
	char *ver;

	s->conn = PQconnectdbParams(kw, val, 1);
	if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK) {
		pg_error(s, "cannot connect");
		goto fail;
	}
	PQsetNoticeProcessor(s->conn, quiet_notice, NULL);
	if ((r = pg_exec(s, "create the tables", PGRES_COMMAND_OK, setup_sql,
	    0, NULL, NULL, NULL)) == NULL)
		goto fail;
	PQclear(r);
	if ((ver = meta_get(s, "schema_version")) == NULL) {
		if (s->err[0] == '\0')
			snprintf(s->err, sizeof s->err,
			    "limen_acme_meta has no schema_version");
		goto fail;
	}
	if (atoi(ver) != SCHEMA_VERSION) {
		snprintf(s->err, sizeof s->err, "the tables have schema "
		    "version %.20s; this limen knows version %d", ver,
		    SCHEMA_VERSION);
		free(ver);
		goto fail;
	}
	free(ver);
	if (check_key(s) == -1 || sync_account(s, &e) == -1)
		goto fail;
	s->seen_rev = 0;
	account_locks_clear(s);
	emit(s, &e);
	return 0;
fail:
	event_clear(&e);
	if (s->conn != NULL) {
		PQfinish(s->conn);
		s->conn = NULL;
	}
	return -1;
}

/* ---- work ------------------------------------------------------------------ */

/* Rows written since the last look: one CERT event each. */
static int
fetch_changes(struct pgstore *s)
{
	char rev[32], ctx[300];
	const char *vals[1] = { rev };
	PGresult *r;

	snprintf(rev, sizeof rev, "%" PRId64, s->seen_rev);
	r = pg_exec(s, "read limen_acme_certs", PGRES_TUPLES_OK,
	    "SELECT name, cert_pem, key_enc, rev FROM limen_acme_certs "
	    "WHERE rev > $1::bigint ORDER BY rev", 1, vals, NULL, NULL);
	if (r == NULL)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		struct pgstore_event e = { .type = PGSTORE_CERT };
		int64_t v = strtoll(PQgetvalue(r, i, 3), NULL, 10);

		snprintf(ctx, sizeof ctx, "cert:%s", PQgetvalue(r, i, 0));
		e.name = strdup(PQgetvalue(r, i, 0));
		e.rev = v;
		if ((e.key_pem = open_blob(s, PQgetvalue(r, i, 2), ctx)) ==
		    NULL)
			e.error = strdup("cannot decrypt its private key: "
			    "wrong storage key or a damaged row");
		else
			e.cert_pem = strdup(PQgetvalue(r, i, 1));
		if (v > s->seen_rev)
			s->seen_rev = v;
		emit(s, &e);
	}
	PQclear(r);
	return 0;
}

static void do_unlock(struct pgstore *s, const char *name);

/* The account URL stored for this directory (malloc'd), or NULL. */
static char *
account_url(struct pgstore *s)
{
	const char *v[1] = { s->directory };
	PGresult *r = pg_exec(s, "read limen_acme_account", PGRES_TUPLES_OK,
	    "SELECT url FROM limen_acme_account WHERE directory = $1", 1, v,
	    NULL, NULL);
	char *url = NULL;

	if (r == NULL)
		return NULL;
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		url = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return url;
}

/* Take the account's lock along with name's: *got, or -1 on an error. */
static int
account_lock(struct pgstore *s, const char *name, bool *got)
{
	const char *v[1] = { s->account_lock };
	PGresult *r;
	char **nv, *copy;

	*got = false;
	if ((r = pg_exec(s, "pg_try_advisory_lock", PGRES_TUPLES_OK,
	    "SELECT pg_try_advisory_lock($1::bigint)", 1, v, NULL,
	    NULL)) == NULL)
		return -1;
	*got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!*got)
		return 0;
	/* session locks stack: one unlock per name that took it */
	if ((copy = strdup(name)) == NULL || (nv = realloc(s->acct_names,
	    (s->n_acct_names + 1) * sizeof *nv)) == NULL) {
		free(copy);
		if ((r = pg_exec(s, "pg_advisory_unlock", PGRES_TUPLES_OK,
		    "SELECT pg_advisory_unlock($1::bigint)", 1, v, NULL,
		    NULL)) != NULL)
			PQclear(r);
		snprintf(s->err, sizeof s->err, "out of memory");
		return -1;
	}
	s->acct_names = nv;
	s->acct_names[s->n_acct_names++] = copy;
	return 0;
}

static void
do_lock(struct pgstore *s, struct job *j)
{
	char lk[32], ctx[300];
	const char *v1[1] = { lk }, *v2[1] = { j->name };
	struct pgstore_event e = { .type = PGSTORE_LOCKED };
	PGresult *r;
	bool got;

	snprintf(lk, sizeof lk, "%" PRId64, store_crypt_lock_key(j->name));
	if ((r = pg_exec(s, "pg_try_advisory_lock", PGRES_TUPLES_OK,
	    "SELECT pg_try_advisory_lock($1::bigint)", 1, v1, NULL,
	    NULL)) == NULL) {
		emit_simple(s, PGSTORE_LOCK_FAILED, j->name, s->err);
		return;
	}
	got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!got) {
		emit_simple(s, PGSTORE_BUSY, j->name, NULL);
		return;
	}
	if (j->account && account_lock(s, j->name, &got) == -1) {
		emit_simple(s, PGSTORE_LOCK_FAILED, j->name, s->err);
		do_unlock(s, j->name);
		return;
	}
	if (!got) {
		do_unlock(s, j->name);
		emit_simple(s, PGSTORE_BUSY, j->name, NULL);
		return;
	}
	if ((r = pg_exec(s, "read limen_acme_certs", PGRES_TUPLES_OK,
	    "SELECT cert_pem, key_enc, rev FROM limen_acme_certs "
	    "WHERE name = $1", 1, v2, NULL, NULL)) == NULL) {
		emit_simple(s, PGSTORE_LOCK_FAILED, j->name, s->err);
		/* the lock is released with the session if it was lost;
		 * otherwise release it now */
		if (s->conn != NULL && (r = pg_exec(s, "unlock",
		    PGRES_TUPLES_OK, "SELECT pg_advisory_unlock($1::bigint)",
		    1, v1, NULL, NULL)) != NULL)
			PQclear(r);
		return;
	}
	e.name = strdup(j->name);
	e.account_url = account_url(s);
	if (PQntuples(r) == 1) {
		snprintf(ctx, sizeof ctx, "cert:%s", j->name);
		e.rev = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
		if ((e.key_pem = open_blob(s, PQgetvalue(r, 0, 1), ctx)) ==
		    NULL) {
			/* a damaged row: order anew, the save replaces it */
			e.error = strdup("cannot decrypt the stored private "
			    "key: wrong storage key or a damaged row");
			e.rev = 0;
		} else {
			e.cert_pem = strdup(PQgetvalue(r, 0, 0));
		}
	}
	PQclear(r);
	emit(s, &e);
}

static void
do_unlock(struct pgstore *s, const char *name)
{
	char lk[32];
	const char *v[1] = { lk }, *va[1] = { s->account_lock };
	PGresult *r;

	snprintf(lk, sizeof lk, "%" PRId64, store_crypt_lock_key(name));
	if ((r = pg_exec(s, "pg_advisory_unlock", PGRES_TUPLES_OK,
	    "SELECT pg_advisory_unlock($1::bigint)", 1, v, NULL, NULL)) !=
	    NULL)
		PQclear(r);
	for (size_t i = 0; i < s->n_acct_names; i++) {
		if (strcmp(s->acct_names[i], name) != 0)
			continue;
		free(s->acct_names[i]);
		s->acct_names[i] = s->acct_names[--s->n_acct_names];
		if (s->conn != NULL && (r = pg_exec(s, "pg_advisory_unlock",
		    PGRES_TUPLES_OK, "SELECT pg_advisory_unlock($1::bigint)",
		    1, va, NULL, NULL)) != NULL)
			PQclear(r);
		break;
	}
}

static void
do_save(struct pgstore *s, struct job *j)
{
	char ctx[300], na[32];
	uint8_t *sealed = NULL;
	size_t slen;
	const char *vals[5];
	int lens[5] = { 0 }, fmts[5] = { 0, 0, 1, 0, 0 };
	struct pgstore_event e = { .type = PGSTORE_SAVED };
	PGresult *r;

	snprintf(ctx, sizeof ctx, "cert:%s", j->name);
	snprintf(na, sizeof na, "%lld", (long long)j->not_after);
	if (store_crypt_seal(s->key, ctx, j->key, strlen(j->key), &sealed,
	    &slen) == -1) {
		emit_simple(s, PGSTORE_SAVE_FAILED, j->name, "cannot seal");
		do_unlock(s, j->name);
		return;
	}
	vals[0] = j->name;
	vals[1] = j->cert;
	vals[2] = (const char *)sealed;
	lens[2] = (int)slen;
	vals[3] = na;
	vals[4] = s->ident;
	/* never replace a certificate that lasts longer (a late save after
	 * a reconnect, or two instances racing after a lost lock) */
	r = pg_exec(s, "write limen_acme_certs", PGRES_TUPLES_OK,
	    "INSERT INTO limen_acme_certs (name, cert_pem, key_enc, not_after,"
	    " rev, updated_at, updated_by) VALUES ($1, $2, $3,"
	    " to_timestamp($4::bigint), nextval('limen_acme_rev'), now(), $5)"
	    " ON CONFLICT (name) DO UPDATE SET cert_pem = EXCLUDED.cert_pem,"
	    " key_enc = EXCLUDED.key_enc, not_after = EXCLUDED.not_after,"
	    " rev = EXCLUDED.rev, updated_at = now(),"
	    " updated_by = EXCLUDED.updated_by"
	    " WHERE limen_acme_certs.not_after < EXCLUDED.not_after"
	    " RETURNING rev", 5, vals, lens, fmts);
	free(sealed);
	if (r == NULL) {
		emit_simple(s, PGSTORE_SAVE_FAILED, j->name, s->err);
		if (s->conn != NULL)
			do_unlock(s, j->name);
		return;
	}
	e.rev = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) :
	    -1;
	PQclear(r);
	if (e.rev > 0 && (r = pg_exec(s, "notify", PGRES_COMMAND_OK,
	    "NOTIFY limen_acme", 0, NULL, NULL, NULL)) != NULL)
		PQclear(r);
	if (s->conn != NULL)
		do_unlock(s, j->name);
	e.name = strdup(j->name);
	emit(s, &e);
}

static void
do_account_url(struct pgstore *s, struct job *j)
{
	const char *vals[2] = { s->directory, j->url };
	PGresult *r;

	if ((r = pg_exec(s, "write limen_acme_account", PGRES_COMMAND_OK,
	    "UPDATE limen_acme_account SET url = $2, updated_at = now() "
	    "WHERE directory = $1", 2, vals, NULL, NULL)) == NULL)
		log_warnx("acme: storage: %s", s->err);
	else
		PQclear(r);
}

static struct job *
job_take(struct pgstore *s)
{
	struct job *j;

	pthread_mutex_lock(&s->mu);
	if ((j = TAILQ_FIRST(&s->jobs)) != NULL)
		TAILQ_REMOVE(&s->jobs, j, entry);
	pthread_mutex_unlock(&s->mu);
	return j;
}

/* Do the queued requests; without a connection they fail at once.  When
 * stopping, what was asked before (saves above all) is still done, but no
 * new lock is taken. */
static void
run_jobs(struct pgstore *s, bool final)
{
	struct job *j;

	while ((j = job_take(s)) != NULL) {
		if (final && j->kind == JOB_LOCK) {
			job_free(j);
			continue;
		}
		if (s->conn == NULL) {
			const char *why = s->last_down[0] ? s->last_down :
			    "not connected";

			if (j->kind == JOB_LOCK)
				emit_simple(s, PGSTORE_LOCK_FAILED, j->name,
				    why);
			else if (j->kind == JOB_SAVE)
				emit_simple(s, PGSTORE_SAVE_FAILED, j->name,
				    why);
			job_free(j);
			continue;
		}
		switch (j->kind) {
		case JOB_LOCK:
			do_lock(s, j);
			break;
		case JOB_UNLOCK:
			do_unlock(s, j->name);
			break;
		case JOB_SAVE:
			do_save(s, j);
			break;
		case JOB_ACCOUNT_URL:
			do_account_url(s, j);
			break;
		}
		job_free(j);
	}
}

static void
drain(int fd)
{
	char buf[64];

	while (read(fd, buf, sizeof buf) > 0)
		;
}

/* Wait for the database socket (if any), a request, or ms. */
static int
wait_for(struct pgstore *s, int ms)
{
	struct pollfd p[2] = { { s->wake[0], POLLIN, 0 }, { -1, POLLIN, 0 } };
	int n;

	if (s->conn != NULL)
		p[1].fd = PQsocket(s->conn);
	n = poll(p, 2, ms);
	if (n > 0 && (p[0].revents & POLLIN))
		drain(s->wake[0]);
	return n > 0 && p[1].fd >= 0 && p[1].revents != 0 ? 1 : 0;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Free what is left once the thread has stopped (by whoever is last). */
static void
pgstore_destroy(struct pgstore *s)
{
	struct job *j;
	struct pending *p;

	while ((j = job_take(s)) != NULL)
		job_free(j);
	while ((p = TAILQ_FIRST(&s->events)) != NULL) {
		TAILQ_REMOVE(&s->events, p, entry);
		event_clear(&p->ev);
		free(p);
	}
	close(s->wake[0]);
	close(s->wake[1]);
	close(s->notify[0]);
	close(s->notify[1]);
	OPENSSL_cleanse(s->key, sizeof s->key);
	wipe_free(s->conninfo);
	wipe_free(s->local_account);
	free(s->directory);
	account_locks_clear(s);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void *
pgstore_main(void *arg)
{
	struct pgstore *s = arg;
	int backoff = BACKOFF_MIN_MS;
	time_t last_fetch = 0;
	uint64_t until, t;
	bool detached;

	while (!stopping(s)) {
		if (s->conn == NULL && s->up) {
			log_warnx("acme: storage: PostgreSQL: connection lost "
			    "(%s); reconnecting", s->err);
			snprintf(s->last_down, sizeof s->last_down, "%s",
			    s->err);
			s->up = false;
			emit_simple(s, PGSTORE_DOWN, NULL, s->err);
		}
		if (s->conn == NULL) {
			if (pg_connect(s) == -1) {
				/* log a new reason (or the first loss) once */
				if (s->up || strcmp(s->err, s->last_down) != 0) {
					log_warnx("acme: storage: PostgreSQL: "
					    "%s; retrying (installed "
					    "certificates keep serving, no "
					    "orders meanwhile)", s->err);
					emit_simple(s, PGSTORE_DOWN, NULL,
					    s->err);
				}
				snprintf(s->last_down, sizeof s->last_down,
				    "%s", s->err);
				s->up = false;
				/* requests meanwhile fail at once; the next
				 * attempt still waits out the backoff */
				until = now_ms() + (uint64_t)backoff;
				while (!stopping(s) && (t = now_ms()) < until) {
					run_jobs(s, false);
					wait_for(s, (int)(until - t));
				}
				backoff = backoff * 2 > BACKOFF_MAX_MS ?
				    BACKOFF_MAX_MS : backoff * 2;
				continue;
			}
			log_info("acme: storage: connected to PostgreSQL");
			s->up = true;
			s->last_down[0] = '\0';
			backoff = BACKOFF_MIN_MS;
			fetch_changes(s);
			last_fetch = time(NULL);
		}
		drain(s->wake[0]);
		run_jobs(s, false);
		if (s->conn == NULL)
			continue;
		if (wait_for(s, 1000) == 1) {
			bool changed = false;
			PGnotify *n;

			if (PQconsumeInput(s->conn) != 1) {
				pg_error(s, "connection lost");
				PQfinish(s->conn);
				s->conn = NULL;
				continue;
			}
			while ((n = PQnotifies(s->conn)) != NULL) {
				changed = true;
				PQfreemem(n);
			}
			if (changed) {
				fetch_changes(s);
				last_fetch = time(NULL);
			}
		}
		if (s->conn != NULL && time(NULL) - last_fetch >=
		    PGSTORE_POLL_S) {
			fetch_changes(s);
			last_fetch = time(NULL);
		}
	}
	/* stopped: the loop side is gone; finish what it asked for */
	if (s->conn != NULL) {
		run_jobs(s, true);
		PQfinish(s->conn);
	}
	s->conn = NULL;
	pthread_mutex_lock(&s->mu);
	s->finished = true;
	detached = s->detached;
	pthread_mutex_unlock(&s->mu);
	if (detached)
		pgstore_destroy(s);
	return NULL;
}

/* ---- the loop's side -------------------------------------------------------- */

static void
on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct pgstore *s = arg;
	TAILQ_HEAD(, pending) got = TAILQ_HEAD_INITIALIZER(got);
	struct pending *p;

	(void)what;
	drain(fd);
	pthread_mutex_lock(&s->mu);
	TAILQ_CONCAT(&got, &s->events, entry);
	pthread_mutex_unlock(&s->mu);
	while ((p = TAILQ_FIRST(&got)) != NULL) {
		TAILQ_REMOVE(&got, p, entry);
		s->cb(&p->ev, s->arg);
		event_clear(&p->ev);
		free(p);
	}
}

static void
job_add(struct pgstore *s, struct job *j)
{
	char c = 0;

	pthread_mutex_lock(&s->mu);
	TAILQ_INSERT_TAIL(&s->jobs, j, entry);
	pthread_mutex_unlock(&s->mu);
	if (write(s->wake[1], &c, 1) == -1 && errno != EAGAIN)
		log_warn("acme: storage: wake pipe");
}

static struct job *
job_new(enum job_kind kind, const char *name)
{
	struct job *j = calloc(1, sizeof *j);

	if (j == NULL)
		return NULL;
	j->kind = kind;
	if (name != NULL && (j->name = strdup(name)) == NULL) {
		free(j);
		return NULL;
	}
	return j;
}

void
pgstore_lock(struct pgstore *s, const char *name, bool need_account)
{
	struct job *j = job_new(JOB_LOCK, name);

	if (j == NULL) {
		struct pgstore_event e = { .type = PGSTORE_LOCK_FAILED };

		e.name = (char *)name;
		e.error = (char *)"out of memory";
		s->cb(&e, s->arg);
		return;
	}
	j->account = need_account;
	job_add(s, j);
}

void
pgstore_unlock(struct pgstore *s, const char *name)
{
	struct job *j = job_new(JOB_UNLOCK, name);

	if (j != NULL)
		job_add(s, j);
}

void
pgstore_save(struct pgstore *s, const char *name, const char *cert_pem,
    const char *key_pem, time_t not_after)
{
	struct job *j = job_new(JOB_SAVE, name);

	if (j == NULL || (j->cert = strdup(cert_pem)) == NULL ||
	    (j->key = strdup(key_pem)) == NULL) {
		if (j != NULL)
			job_free(j);
		log_warnx("acme: storage: %s: out of memory", name);
		pgstore_unlock(s, name);
		return;
	}
	j->not_after = not_after;
	job_add(s, j);
}

void
pgstore_set_account_url(struct pgstore *s, const char *url)
{
	struct job *j = job_new(JOB_ACCOUNT_URL, NULL);

	if (j == NULL || (j->url = strdup(url)) == NULL) {
		free(j);
		return;
	}
	job_add(s, j);
}

/* CONNINFO's connect_timeout, if between 1 and 60 s; else 5 s: no wait
 * without an end (0 would be one). */
static void
set_connect_timeout(struct pgstore *s, const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	long v = 0;

	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, "connect_timeout") == 0 &&
		    o->val != NULL)
			v = strtol(o->val, NULL, 10);
	PQconninfoFree(opts);
	if (v < 1 || v > 60)
		v = PGSTORE_CONNECT_TIMEOUT_S;
	snprintf(s->connect_timeout, sizeof s->connect_timeout, "%ld", v);
}

static int
pipe_nb(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	return 0;
}

struct pgstore *
pgstore_new(struct event_base *base, const char *conninfo, const char *secret,
    const char *directory, const char *local_account_pem, pgstore_cb *cb,
    void *arg, const char **err)
{
	struct pgstore *s = calloc(1, sizeof *s);
	char host[64];

	*err = "out of memory";
	if (s == NULL)
		return NULL;
	s->wake[0] = s->wake[1] = s->notify[0] = s->notify[1] = -1;
	pthread_mutex_init(&s->mu, NULL);
	TAILQ_INIT(&s->jobs);
	TAILQ_INIT(&s->events);
	s->cb = cb;
	s->arg = arg;
	if (gethostname(host, sizeof host) == -1)
		snprintf(host, sizeof host, "?");
	host[sizeof host - 1] = '\0';
	snprintf(s->ident, sizeof s->ident, "%s pid %ld", host,
	    (long)getpid());
	if (store_crypt_derive(secret, strlen(secret), s->key) == -1) {
		*err = "the storage key is empty";
		goto fail;
	}
	{
		char actx[1100];

		snprintf(actx, sizeof actx, "account:%s", directory);
		snprintf(s->account_lock, sizeof s->account_lock, "%" PRId64,
		    store_crypt_lock_key(actx));
	}
	set_connect_timeout(s, conninfo);
	if ((s->conninfo = strdup(conninfo)) == NULL ||
	    (s->directory = strdup(directory)) == NULL ||
	    (s->local_account = strdup(local_account_pem)) == NULL)
		goto fail;
	if (pipe_nb(s->wake) == -1 || pipe_nb(s->notify) == -1) {
		*err = "cannot create a pipe";
		goto fail;
	}
	if ((s->ev = event_new(base, s->notify[0], EV_READ | EV_PERSIST,
	    on_notify, s)) == NULL || event_add(s->ev, NULL) == -1)
		goto fail;
	if (pthread_create(&s->th, NULL, pgstore_main, s) != 0) {
		*err = "cannot start the storage thread";
		goto fail;
	}
	return s;
fail:
	if (s->ev != NULL)
		event_free(s->ev);
	for (int i = 0; i < 2; i++) {
		if (s->wake[i] != -1)
			close(s->wake[i]);
		if (s->notify[i] != -1)
			close(s->notify[i]);
	}
	OPENSSL_cleanse(s->key, sizeof s->key);
	wipe_free(s->conninfo);
	wipe_free(s->local_account);
	free(s->directory);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return NULL;
}

void
pgstore_free(struct pgstore *s)
{
	struct timespec ts;
	char c = 0;

	if (s == NULL)
		return;
	event_free(s->ev);
	s->ev = NULL;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_mutex_unlock(&s->mu);
	if (write(s->wake[1], &c, 1) == -1 && errno != EAGAIN)
		log_warn("acme: storage: wake pipe");
	/* usually the thread is idle and ends at once; one stuck in a
	 * database call (bounded by the timeouts) is left to end and free
	 * itself, so a shutdown or reload never waits long */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += PGSTORE_STOP_WAIT_S;
	if (pthread_timedjoin_np(s->th, NULL, &ts) == 0) {
		pgstore_destroy(s);
		return;
	}
	pthread_mutex_lock(&s->mu);
	if (s->finished) {
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->th, NULL);
		pgstore_destroy(s);
		return;
	}
	s->detached = true;
	pthread_mutex_unlock(&s->mu);
	pthread_detach(s->th);
}
