/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * backup.h — what the files of limen-backup share (acme-client's extern.h).
 *
 * The companion is a set of small modules, each with one job:
 *   main.c        command line, exit codes
 *   sched.c       the scheduler (`run`): cron timers, one child per job run
 *   job.c         one job run: lock, clean partial, back up, commit the
 *                 manifest, verify, prune (the state machine of STYLE-DETAILS)
 *   job_logical.c pg_dump + row counts in the same snapshot
 *   job_physical.c pg_basebackup + restore point + row counts
 *   job_dump.c    a PostgreSQL tool's stdout piped into a backup file
 *   wal.c         archive-wal, WAL listing and staging for recovery
 *   manifest.c    manifest.json (jansson)
 *   catalog.c     the backups on disk, `list`
 *   retention.c   pure: which backups and WAL segments to keep
 *   prune.c       applies retention.c to the catalog
 *   verify.c      restore test into a scratch database / cluster
 *   restore.c     `restore`
 *   cluster.c     a scratch PostgreSQL cluster from a base backup
 *   pg.c          libpq helpers (connect, counts, databases)
 *   proc.c        child processes (pg_dump, pg_restore, tar, postgres)
 *   stream.c compress.c encrypt.c   the byte pipeline to and from files
 *   metrics.c     Prometheus text and the /metrics, /healthz endpoint
 *
 * Errors: functions return 0 / -1 (or pointer / NULL) and log the reason
 * with the context they know.  Secrets (database password, encryption
 * key) are never logged and never put on a child's argv.
 */
#ifndef LIMEN_BACKUP_BACKUP_H
#define LIMEN_BACKUP_BACKUP_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "conf/config.h"

struct pg_conn;

/* Set by SIGTERM / SIGINT in a process that runs a job or a command: long
 * loops check it, stop their children and fail cleanly. */
extern volatile sig_atomic_t backup_stop;

#define BACKUP_ID_MAX	32	/* "20261122T030000Z-9" and a NUL */
#define BACKUP_KEY_LEN	32	/* AES-256 */

/* Exit codes of SPEC §1. */
enum backup_exit { BACKUP_EXIT_OK = 0, BACKUP_EXIT_USER = 1,
	BACKUP_EXIT_FAIL = 2 };

/* ---- stream.c / compress.c / encrypt.c --------------------------------- */

/*
 * A chain of stages; each stage transforms what it is given and writes
 * the result to `next`.  finish() flushes and finishes the rest of the
 * chain.  On failure a stage fills err (a short reason, never secret).
 */
struct stream {
	int (*write)(struct stream *s, const void *buf, size_t len);
	int (*finish)(struct stream *s);
	void (*free)(struct stream *s);
	struct stream *next;
	char err[160];
};

int stream_write(struct stream *s, const void *buf, size_t len);
int stream_finish(struct stream *s);
/* Free the whole chain. */
void stream_free(struct stream *s);
/* The first error along the chain, or "unknown error". */
const char *stream_error(const struct stream *s);
void stream_set_err(struct stream *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sink into fd (not closed): counts bytes and hashes them (SHA-256); with
 * do_fsync, finish() fsyncs.  fd -1: hash and count only. */
struct stream *stream_sink_new(int fd, bool do_fsync);
void stream_sink_result(const struct stream *sink, uint64_t *size,
    char sha256_hex[65]);
/* Pass-through stage that hashes what goes through it. */
struct stream *stream_tap_new(struct stream *next);
#define stream_tap_result stream_sink_result

/* The encoder chain for a job (compress, then encrypt) in front of sink;
 * key NULL: no encryption.  The decoder is the reverse. */
struct stream *stream_encoder(enum conf_compression comp, const uint8_t *key,
    struct stream *sink);
struct stream *stream_decoder(enum conf_compression comp, const uint8_t *key,
    struct stream *sink);
/* File name suffix for a job's settings: ".gz", ".zst.enc", ... */
const char *stream_suffix(enum conf_compression comp, bool encrypted);

/* Read fd to EOF into s (not finished).  Stops on backup_stop, on a read
 * error, or when nothing arrived for stall_s seconds.  progress (may be
 * NULL) is called about once a second with the bytes read so far. */
int stream_pump_fd(int fd, struct stream *s, int stall_s,
    void (*progress)(uint64_t done, void *arg), void *arg);
/* Decode a whole stored file into sink (finished on success). */
int stream_decode_file(const char *path, enum conf_compression comp,
    const uint8_t *key, struct stream *sink,
    void (*progress)(uint64_t done, void *arg), void *arg, char *err,
    size_t errlen);
/* SHA-256 and size of a file. */
int stream_hash_file(const char *path, uint64_t *size, char sha256_hex[65]);

struct stream *compress_gzip_new(struct stream *next);
struct stream *compress_gunzip_new(struct stream *next);
struct stream *compress_zstd_new(struct stream *next);
struct stream *compress_unzstd_new(struct stream *next);

struct stream *encrypt_new(const uint8_t key[BACKUP_KEY_LEN],
    struct stream *next);
struct stream *decrypt_new(const uint8_t key[BACKUP_KEY_LEN],
    struct stream *next);
/* A key file holds 32 raw bytes or 64 hex digits (and maybe a newline);
 * it must not be readable by group or others. */
int encrypt_load_key(const char *path, uint8_t key[BACKUP_KEY_LEN],
    char *err, size_t errlen);

/* ---- manifest.c --------------------------------------------------------- */

struct manifest_file {
	char name[64];
	uint64_t size;
	char sha256[65];
};

struct manifest_table {
	char *name;		/* "schema.table", as quote_ident would not quote */
	int64_t rows;
};

#define MANIFEST_MAX_FILES 4

struct manifest {
	char id[BACKUP_ID_MAX];
	char *job;
	enum conf_backup_kind kind;
	char *database;
	char *server_version;
	int server_version_num;
	time_t start, end;
	uint64_t size;
	enum conf_compression compression;
	bool encrypted;
	struct manifest_file files[MANIFEST_MAX_FILES];
	size_t n_files;
	struct manifest_table *tables;
	size_t n_tables;
	/* physical only */
	char *superuser;	/* bootstrap superuser, to open a scratch cluster */
	char *start_lsn, *end_lsn;
	char *start_wal;	/* first WAL segment a restore needs */
	char *end_wal;		/* the segment that holds the restore point */
	char *restore_point;	/* recovery_target_name for the counts */
	unsigned timeline;
};

int manifest_write(const char *dir, const struct manifest *m);
/* 0, or -1 with a reason in err. */
int manifest_read(const char *path, struct manifest *m, char *err,
    size_t errlen);
void manifest_free(struct manifest *m);
int manifest_add_table(struct manifest *m, const char *name, int64_t rows);
const char *manifest_compression_name(enum conf_compression c);
/* RFC 3339 in UTC ("2026-11-22T03:00:00Z") and back. */
void manifest_time_fmt(time_t t, char buf[32]);
int manifest_time_parse(const char *s, time_t *t);

/* ---- catalog.c ---------------------------------------------------------- */

enum catalog_status { CATALOG_PARTIAL, CATALOG_INVALID, CATALOG_COMPLETE,
	CATALOG_VERIFIED, CATALOG_VERIFY_FAILED };

struct catalog_entry {
	char id[BACKUP_ID_MAX];
	enum catalog_status status;
	struct manifest m;		/* valid when status >= COMPLETE */
	time_t verify_time;		/* 0 = never verified */
	char *verify_msg;
	char *problem;			/* why INVALID */
};

struct catalog {
	struct catalog_entry *e;	/* sorted by id, oldest first */
	size_t n;
};

/* Scan jobdir; missing jobdir = empty catalog. */
int catalog_load(const char *jobdir, struct catalog *c);
void catalog_free(struct catalog *c);
bool catalog_is_complete(const struct catalog_entry *e);
const struct catalog_entry *catalog_find(const struct catalog *c,
    const char *id);
const struct catalog_entry *catalog_newest_complete(const struct catalog *c);
const char *catalog_status_name(enum catalog_status s);
int catalog_record_verify(const char *backup_dir, bool ok, const char *msg);
bool catalog_id_valid(const char *id);
/* Time encoded in an id (its first 16 characters), -1 if none. */
time_t catalog_id_time(const char *id);

/* ---- retention.c (pure) -------------------------------------------------- */

enum {
	RETENTION_KEEP_LAST = 1 << 0,
	RETENTION_KEEP_DAILY = 1 << 1,
	RETENTION_KEEP_WEEKLY = 1 << 2,
	RETENTION_KEEP_MONTHLY = 1 << 3,
	RETENTION_KEEP_NEWEST = 1 << 4,	/* the newest complete backup */
	RETENTION_KEEP_ALL = 1 << 5,	/* no policy configured */
	RETENTION_KEEP_FUTURE = 1 << 6,	/* dated after now: clock skew */
};

struct retention_item {
	time_t time;		/* when the backup started (UTC) */
	bool bad;		/* verify failed: counts for no bucket */
	unsigned keep;		/* out: RETENTION_KEEP_* reasons, 0 = delete */
};

/* Decide for every complete backup (any order) which to keep. */
void retention_plan(struct retention_item *items, size_t n,
    const struct conf_retention *policy, time_t now);
/* Whether WAL file `name` may go when `oldest_needed` (a segment name)
 * is the first segment a kept base backup needs. */
bool retention_wal_deletable(const char *name, const char *oldest_needed);
/* "keep_last,daily" for messages. */
void retention_reasons(unsigned keep, char *buf, size_t len);

/* ---- proc.c ------------------------------------------------------------- */

struct proc_opts {
	const char *const *argv;	/* argv[0] is the program (PATH search) */
	const char *name;		/* for log lines; default argv[0] */
	const char *const *env;		/* extra "K=V" entries, NULL-terminated */
	int stdin_fd;			/* -1: /dev/null */
	int stdout_fd;			/* -1: /dev/null */
	bool drop;			/* run as uid/gid */
	uid_t uid;
	gid_t gid;
	const char *cwd;
};

struct proc {
	pid_t pid;
	int errfd;			/* captured stderr (a temporary file) */
	char name[64];
};

int proc_spawn(const struct proc_opts *o, struct proc *p);
/* Wait for p (SIGTERM then SIGKILL on backup_stop or after timeout_s;
 * 0 = no limit); log its stderr; 0 only if it exited 0.  With out, the
 * captured stderr is also returned (malloc'd). */
int proc_wait(struct proc *p, int timeout_s, char **out);
/* Log (as warnings) and close the captured stderr of a reaped child. */
void proc_log_stderr(struct proc *p);
/* Stop a child now (SIGTERM, then SIGKILL) and reap it. */
void proc_kill(struct proc *p);
/* Spawn and wait. */
int proc_run(const struct proc_opts *o, int timeout_s, char **out);
/* Find a program: bindir/name if executable, else name (PATH). */
void proc_tool(const char *bindir, const char *name, char *out, size_t len);

/* ---- pg.c --------------------------------------------------------------- */

struct pg_conn *pg_connect(const struct conf_backup_job *job,
    const char *dbname);
/* Connect to a scratch cluster through its socket directory. */
struct pg_conn *pg_connect_socket(const char *sockdir, const char *user,
    const char *dbname);
void pg_close(struct pg_conn *c);
/* From a signal handler: cancel the queries of every open connection. */
void pg_cancel_all(void);
/* Run a command; 0 or -1 (logged). */
int pg_exec(struct pg_conn *c, const char *sql);
/* The first column of the first row of a query (malloc'd), NULL on error. */
char *pg_query_value(struct pg_conn *c, const char *sql);
const char *pg_dbname(struct pg_conn *c);
int pg_server_version_num(struct pg_conn *c);
const char *pg_server_version(struct pg_conn *c);
/* Row counts of every user table (persistent_only: skip unlogged) into m. */
int pg_count_rows(struct pg_conn *c, bool persistent_only, struct manifest *m);
/* A quoted SQL literal (malloc'd). */
char *pg_quote_literal(struct pg_conn *c, const char *s);
/* 1 exists, 0 not, -1 error. */
int pg_database_exists(struct pg_conn *c, const char *name);
int pg_create_database(struct pg_conn *c, const char *name);
int pg_drop_database(struct pg_conn *c, const char *name);
int pg_rename_database(struct pg_conn *c, const char *from, const char *to);
/* conninfo for a child tool, without any password, with dbname replaced
 * when dbname is not NULL (malloc'd). */
char *pg_child_conninfo(const struct conf_backup_job *job, const char *dbname);
/* "PGPASSWORD=..." for a child's environment (malloc'd), or NULL. */
char *pg_child_password_env(const struct conf_backup_job *job);
/* The directory with PostgreSQL programs for a server major version. */
void pg_bindir(const struct conf_backup_job *job, int server_version_num,
    char *out, size_t len);

/* ---- job.c -------------------------------------------------------------- */

struct job_ctx {
	const struct config *cfg;
	const char *config_path;	/* absolute; for messages */
	const struct conf_backup_job *job;
	char jobdir[PATH_MAX];		/* DESTINATION/JOB */
	uint8_t key[BACKUP_KEY_LEN];
	bool has_key;
	int lock_fd;
};

int job_open(struct job_ctx *ctx, const struct config *cfg,
    const char *config_path, const struct conf_backup_job *job);
void job_close(struct job_ctx *ctx);
const struct conf_backup_job *job_find(const struct config *cfg,
    const char *name);
/* mkdir -p the job directory (and hand a physical job's WAL directory to
 * the server's user when we are root). */
int job_prepare_dirs(struct job_ctx *ctx);
/* The exclusive job lock: 0, or -1 (busy: errno EWOULDBLOCK; logged). */
int job_lock(struct job_ctx *ctx);
/* Remove backup directories without a complete manifest (under the lock). */
int job_clean_partial(struct job_ctx *ctx);
/* One backup: write, check on disk, commit the manifest.  id_out gets
 * the id even on failure (for messages). */
int job_backup(struct job_ctx *ctx, char id_out[BACKUP_ID_MAX]);
/* A whole run (what the scheduler and `now` do): lock, clean, back up,
 * verify when configured, prune.  Returns an enum backup_exit. */
int job_run(struct job_ctx *ctx, char id_out[BACKUP_ID_MAX]);
const uint8_t *job_key(const struct job_ctx *ctx);
/* snprintf for paths: -1 (ENAMETOOLONG) when it does not fit. */
int bpath(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* rm -rf (no symlink is followed); a missing path is fine. */
int job_rmtree(const char *path);

/* ---- job_dump.c --------------------------------------------------------- */

/* A PostgreSQL tool writing one backup file to its stdout (job_dump.c). */
struct job_dump {
	const struct job_ctx *ctx;
	struct manifest_file *file;	/* m->files[0] */
	struct stream *sink, *chain;
	struct proc child;
	int fd, pipefd[2];
	char *conninfo;			/* for the tool's -d */
	char *pwenv;			/* "PGPASSWORD=...", or NULL */
	char tool[PATH_MAX];		/* the tool's path */
};

/* Create DIR/BASE(+suffix), the chain and the pipe; find TOOL. */
int job_dump_open(struct job_dump *d, const struct job_ctx *ctx,
    const char *dir, struct manifest *m, const char *base, const char *tool);
/* Start the tool (argv[0] = d->tool) with its stdout on the pipe. */
int job_dump_spawn(struct job_dump *d, const char *const *argv,
    const char *name);
/* Pump to EOF, reap the tool (its stderr into errtext when not NULL),
 * finish the chain and record the file's size and sha256. */
int job_dump_finish(struct job_dump *d, int stall_s, char **errtext);
/* Always: stop a tool still running, close and free everything. */
void job_dump_close(struct job_dump *d);

/* Hooks for the kinds: write the files into dir and fill m. */
int job_logical_run(struct job_ctx *ctx, const char *dir, struct manifest *m);
int job_physical_run(struct job_ctx *ctx, const char *dir, struct manifest *m);

/* ---- wal.c -------------------------------------------------------------- */

bool wal_name_valid(const char *name);
bool wal_is_segment(const char *name);
/* archive-wal: store one file durably.  Returns an enum backup_exit. */
int wal_archive(struct job_ctx *ctx, const char *path, const char *name);
/* Decode archived files into dir (owned by uid/gid when drop): every
 * segment from `from` (NULL = all) up to `to` (NULL = all) plus every
 * history file. */
int wal_stage(struct job_ctx *ctx, const char *from, const char *to,
    const char *dir, bool drop, uid_t uid, gid_t gid);
/* Whether the archive holds segment `name` (any suffix). */
bool wal_archived(struct job_ctx *ctx, const char *name);
/* Segment name for an LSN ("0/3000028") on a timeline. */
int wal_segment_name(unsigned timeline, const char *lsn, uint64_t seg_size,
    char out[25]);
/* The WAL directory of a job. */
void wal_dir(const struct job_ctx *ctx, char *out, size_t len);
/* Names of the files in the WAL archive (without suffixes are added). */
int wal_list(const struct job_ctx *ctx, char ***names, size_t *n);

/* ---- prune.c ------------------------------------------------------------ */

/* Apply the retention policy (print what goes to stdout when dry_run). */
int prune_run(struct job_ctx *ctx, bool dry_run, bool print);

/* ---- verify.c / restore.c / cluster.c ------------------------------------ */

/* Restore-test backup id (NULL: the newest complete); records the result
 * in the catalog.  Returns an enum backup_exit. */
int verify_run(struct job_ctx *ctx, const char *id);
/* Check every file's size and SHA-256 against the manifest. */
int verify_files(const char *backup_dir, const struct manifest *m);
/* Compare counts; logs every difference; 0 when equal. */
int verify_compare_counts(const struct manifest *want,
    const struct manifest *got);

struct restore_req {
	const char *id;			/* NULL: newest fitting */
	const char *time_text;		/* RFC 3339 or NULL */
	time_t time;
	const char *to_db;
	bool force;
};

int restore_run(struct job_ctx *ctx, const struct restore_req *r);
/* pg_restore the logical backup in dir into the existing database. */
int restore_logical_into(struct job_ctx *ctx, const char *dir,
    const struct manifest *m, const char *dbname, bool progress);

enum cluster_target { CLUSTER_TARGET_NAME, CLUSTER_TARGET_TIME,
	CLUSTER_TARGET_LATEST };

struct cluster {
	char dir[PATH_MAX];		/* scratch root */
	char data[PATH_MAX];
	char sock[PATH_MAX];
	char bindir[PATH_MAX];
	char log[PATH_MAX];
	uid_t uid;
	gid_t gid;
	bool drop;
	struct proc pm;			/* the postmaster; pid 0 = not running */
};

/* Build a scratch cluster from physical backup m in backup_dir, recover
 * it to the target and start it; cluster_destroy() in every case. */
int cluster_start(struct job_ctx *ctx, const char *backup_dir,
    const struct manifest *m, enum cluster_target target, const char *when,
    struct cluster *cl);
void cluster_destroy(struct cluster *cl);
/* Scratch directory root for a job. */
int cluster_scratch_root(const struct conf_backup_job *job, char *out,
    size_t len);
/* The user for scratch clusters and tar when we are root. */
int cluster_user(const struct conf_backup_job *job, bool *drop, uid_t *uid,
    gid_t *gid);

/* ---- metrics.c / sched.c ------------------------------------------------ */

struct metrics_job {
	const char *name;
	double last_success;		/* unix time, 0 = never */
	double last_attempt;
	double last_duration;		/* seconds */
	double last_size;		/* bytes */
	double failures;		/* counter since start */
	double runs;
	int last_verify;		/* 1 ok, 0 failed, -1 unknown */
	double last_verify_time;
	double next_run;
	bool running;
	double backups;			/* complete backups on disk */
};

/* Prometheus text for the jobs (malloc'd). */
char *backup_metrics_render(const struct metrics_job *jobs, size_t n);
/* Refresh a job's catalog-derived values (last success, size, verify). */
void metrics_from_catalog(struct metrics_job *mj, const char *jobdir);

struct event_base;
struct metrics_http;
/* Serve /metrics (render's text, freed after) and /healthz on addr. */
struct metrics_http *metrics_http_start(struct event_base *base,
    const struct conf_addr *addr, char *(*render)(void *arg), void *arg);
void metrics_http_free(struct metrics_http *mh);

/* `run`: returns an enum backup_exit. */
int sched_run(struct config *cfg, const char *config_path);

#endif
