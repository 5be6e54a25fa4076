/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sched.c — `limen-backup run`: the scheduler.
 *
 * One libevent loop holds a timer per job, the signal handlers and the
 * /metrics endpoint.  When a job is due, the scheduler forks a child that
 * does the whole run (job_run: lock, clean, back up, verify, prune) and
 * exits with its status; a crash of a child is a failed run, never a
 * dead scheduler.  A job whose previous run still goes is not started
 * again (and its lock file would refuse it anyway).
 *
 * Timers wake at least once a minute and compare the wall clock with the
 * job's next run, so a clock that jumps (suspend, NTP, DST) delays
 * nothing by more than a minute.  At start, a job whose last run is older
 * than the last time its schedule came due (the companion was down, or
 * the job never ran) runs once at once — once, not once per missed slot.
 *
 * SIGTERM / SIGINT: stop starting runs, pass SIGTERM to running children
 * (they stop pg_dump, remove their partial backup and exit failed), wait
 * for them up to global.shutdown_timeout, exit 0.
 */
#include "backup/backup.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cron.h"

#define SCHED_TICK_S	60

struct sched_job {
	const struct conf_backup_job *job;
	struct cron_expr cron;
	char jobdir[PATH_MAX];
	struct event *timer;
	time_t next;
	pid_t child;
	time_t started;
	struct metrics_job m;
	struct sched *s;
};

struct sched {
	struct config *cfg;
	const char *config_path;
	struct event_base *base;
	struct sched_job *jobs;
	struct metrics_job *mview;	/* contiguous copy for rendering */
	size_t n;
	bool stopping;
	struct timespec stop_at;
	struct event *stop_timer;
	struct metrics_http *http;
};

static void sched_arm(struct sched_job *sj);

static void
sched_child_signal(int sig)
{
	(void)sig;
	backup_stop = 1;
	pg_cancel_all();
}

/* In the forked child: run the job and exit. */
static void __attribute__((noreturn))
sched_child(struct sched *s, struct sched_job *sj)
{
	struct sigaction sa;
	struct job_ctx ctx;
	char id[BACKUP_ID_MAX];
	int rc;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = sched_child_signal;	/* no SA_RESTART: EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	if (job_open(&ctx, s->cfg, s->config_path, sj->job) == -1)
		_exit(BACKUP_EXIT_FAIL);
	rc = job_run(&ctx, id);
	job_close(&ctx);
	_exit(rc);
}

static void
sched_start(struct sched_job *sj)
{
	struct sched *s = sj->s;
	pid_t pid;

	if (sj->child > 0) {
		log_warnx("job %s: still running since %lds; skipping this run",
		    sj->job->name, (long)(time(NULL) - sj->started));
		return;
	}
	if ((pid = fork()) == -1) {
		log_warn("job %s: fork", sj->job->name);
		sj->m.failures++;
		return;
	}
	if (pid == 0)
		sched_child(s, sj);
	sj->child = pid;
	sj->started = time(NULL);
	sj->m.running = true;
	sj->m.last_attempt = (double)sj->started;
	log_info("job %s: run started (pid %d)", sj->job->name, (int)pid);
}

static void
sched_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched_job *sj = arg;
	time_t now = time(NULL);

	(void)fd;
	(void)what;
	if (sj->s->stopping)
		return;
	if (now >= sj->next) {
		sched_start(sj);
		if (cron_next(&sj->cron, now, sj->job->timezone, &sj->next) ==
		    -1) {
			log_warnx("job %s: no next run time", sj->job->name);
			sj->next = now + 86400;
		}
		sj->m.next_run = (double)sj->next;
	}
	sched_arm(sj);
}

static void
sched_arm(struct sched_job *sj)
{
	time_t now = time(NULL), d = sj->next - now;
	struct timeval tv;

	if (d < 0)
		d = 0;
	if (d > SCHED_TICK_S)
		d = SCHED_TICK_S;
	tv.tv_sec = d;
	tv.tv_usec = d == 0 ? 1000 : 0;
	evtimer_add(sj->timer, &tv);
}

static void
sched_reap(struct sched *s)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < s->n; i++) {
			struct sched_job *sj = &s->jobs[i];
			bool ok;

			if (sj->child != pid)
				continue;
			ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
			sj->child = 0;
			sj->m.running = false;
			sj->m.runs++;
			if (!ok)
				sj->m.failures++;
			metrics_from_catalog(&sj->m, sj->jobdir);
			if (WIFSIGNALED(status))
				log_warnx("job %s: run killed by signal %d",
				    sj->job->name, WTERMSIG(status));
			else
				log_info("job %s: run %s (%lds)", sj->job->name,
				    ok ? "succeeded" : "FAILED",
				    (long)(time(NULL) - sj->started));
		}
	}
}

static size_t
sched_running(const struct sched *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		if (s->jobs[i].child > 0)
			n++;
	return n;
}

static void
sched_stop_check(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;
	struct timespec now;
	struct timeval tv = { 0, 100000 };

	(void)fd;
	(void)what;
	sched_reap(s);
	if (sched_running(s) == 0) {
		event_base_loopbreak(s->base);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec > s->stop_at.tv_sec) {
		for (size_t i = 0; i < s->n; i++)
			if (s->jobs[i].child > 0) {
				log_warnx("job %s: not stopped in time; killing "
				    "it", s->jobs[i].job->name);
				kill(s->jobs[i].child, SIGKILL);
			}
		s->stop_at.tv_sec = now.tv_sec + 10;
	}
	evtimer_add(s->stop_timer, &tv);
}

static void
sched_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct sched *s = arg;
	uint64_t ms;
	struct timeval tv = { 0, 0 };

	(void)what;
	if (sig == SIGCHLD) {
		sched_reap(s);
		return;
	}
	if (sig == SIGHUP) {
		log_info("SIGHUP: limen-backup reads its configuration at "
		    "start; restart it to apply changes");
		return;
	}
	if (s->stopping)
		return;
	s->stopping = true;
	log_info("stopping: %zu run(s) in progress", sched_running(s));
	for (size_t i = 0; i < s->n; i++)
		if (s->jobs[i].child > 0)
			kill(s->jobs[i].child, SIGTERM);
	ms = s->cfg->global.shutdown_timeout_ms ?
	    s->cfg->global.shutdown_timeout_ms : 30000;
	clock_gettime(CLOCK_MONOTONIC, &s->stop_at);
	s->stop_at.tv_sec += (time_t)(ms / 1000) + 1;
	metrics_http_free(s->http);
	s->http = NULL;
	evtimer_add(s->stop_timer, &tv);
}

static char *
sched_render(void *arg)
{
	struct sched *s = arg;

	for (size_t i = 0; i < s->n; i++)
		s->mview[i] = s->jobs[i].m;
	return backup_metrics_render(s->mview, s->n);
}

/* When the job should run first: now if a run was missed. */
static time_t
sched_first(struct sched_job *sj, time_t now)
{
	struct catalog cat;
	time_t last = -1, due, next;

	if (catalog_load(sj->jobdir, &cat) == 0) {
		if (cat.n > 0)
			last = catalog_id_time(cat.e[cat.n - 1].id);
		catalog_free(&cat);
	}
	if (last < 0) {
		log_info("job %s: no backup yet; running it now",
		    sj->job->name);
		return now;
	}
	if (cron_next(&sj->cron, last, sj->job->timezone, &due) == 0 &&
	    due <= now) {
		log_info("job %s: a run was missed while limen-backup was "
		    "down; running it now", sj->job->name);
		return now;
	}
	if (cron_next(&sj->cron, now, sj->job->timezone, &next) == -1)
		return now + 86400;
	return next;
}

int
sched_run(struct config *cfg, const char *config_path)
{
	struct sched s;
	struct event *sigs[4] = { NULL, NULL, NULL, NULL };
	static const int signos[4] = { SIGTERM, SIGINT, SIGCHLD, SIGHUP };
	int rc = BACKUP_EXIT_FAIL;
	time_t now = time(NULL);
	char tbuf[32];

	memset(&s, 0, sizeof s);
	s.cfg = cfg;
	s.config_path = config_path;
	if (cfg->backup.n_jobs == 0) {
		log_warnx("no backup jobs in %s", config_path);
		return BACKUP_EXIT_USER;
	}
	if ((s.base = event_base_new()) == NULL)
		return BACKUP_EXIT_FAIL;
	s.n = cfg->backup.n_jobs;
	s.jobs = calloc(s.n, sizeof *s.jobs);
	s.mview = calloc(s.n, sizeof *s.mview);
	s.stop_timer = evtimer_new(s.base, sched_stop_check, &s);
	if (s.jobs == NULL || s.mview == NULL || s.stop_timer == NULL)
		goto out;
	for (size_t i = 0; i < s.n; i++) {
		struct sched_job *sj = &s.jobs[i];
		const char *err = NULL;
		struct job_ctx ctx;

		sj->s = &s;
		sj->job = &cfg->backup.jobs[i];
		sj->m.name = sj->job->name;
		sj->m.last_verify = -1;
		if (cron_parse(sj->job->schedule, &sj->cron, &err) == -1) {
			log_warnx("job %s: schedule: %s", sj->job->name, err);
			rc = BACKUP_EXIT_USER;
			goto out;
		}
		if (job_open(&ctx, cfg, config_path, sj->job) == -1) {
			rc = BACKUP_EXIT_USER;
			goto out;
		}
		snprintf(sj->jobdir, sizeof sj->jobdir, "%s", ctx.jobdir);
		job_close(&ctx);
		metrics_from_catalog(&sj->m, sj->jobdir);
		sj->next = sched_first(sj, now);
		sj->m.next_run = (double)sj->next;
		if ((sj->timer = evtimer_new(s.base, sched_timer_cb, sj)) ==
		    NULL)
			goto out;
		manifest_time_fmt(sj->next, tbuf);
		log_info("job %s: next run %s", sj->job->name, tbuf);
	}
	for (int i = 0; i < 4; i++) {
		sigs[i] = evsignal_new(s.base, signos[i], sched_signal_cb, &s);
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) == -1)
			goto out;
	}
	if (cfg->backup.has_listen &&
	    (s.http = metrics_http_start(s.base, &cfg->backup.listen,
	    sched_render, &s)) == NULL)
		goto out;
	for (size_t i = 0; i < s.n; i++)
		sched_arm(&s.jobs[i]);
	log_info("limen-backup %s: scheduler running with %zu job(s)",
	    LIMEN_VERSION, s.n);
	event_base_dispatch(s.base);
	log_info("limen-backup stopped");
	rc = BACKUP_EXIT_OK;
out:
	metrics_http_free(s.http);
	for (int i = 0; i < 4; i++)
		if (sigs[i])
			event_free(sigs[i]);
	for (size_t i = 0; i < s.n && s.jobs; i++)
		if (s.jobs[i].timer)
			event_free(s.jobs[i].timer);
	if (s.stop_timer)
		event_free(s.stop_timer);
	free(s.jobs);
	free(s.mview);
	event_base_free(s.base);
	return rc;
}
