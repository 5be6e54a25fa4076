/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * proc.c — child processes: pg_dump, pg_restore, pg_basebackup, tar and a
 * scratch postgres.
 *
 * A child's stderr goes to an anonymous temporary file, not a pipe: the
 * parent may be busy writing the child's stdin or reading its stdout, and
 * a full stderr pipe would then deadlock both.  When the child ends, its
 * stderr is logged line by line under the child's name.  Secrets reach a
 * child only through its environment (PGPASSWORD), never its argv.
 * Waiting is bounded: on backup_stop or a timeout the child gets SIGTERM,
 * then SIGKILL.
 */
#include "backup/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROC_LOG_LINES	40
#define PROC_ERR_MAX	(256 * 1024)

static int
proc_tmpfile(void)
{
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX];
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) != -1)
		return fd;
	snprintf(path, sizeof path, "%s/limen-backup-XXXXXX", dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
		return -1;
	unlink(path);
	return fd;
}

int
proc_spawn(const struct proc_opts *o, struct proc *p)
{
	int errfd, devnull = -1;
	pid_t pid;

	memset(p, 0, sizeof *p);
	p->errfd = -1;
	snprintf(p->name, sizeof p->name, "%s", o->name ? o->name : o->argv[0]);
	if ((errfd = proc_tmpfile()) == -1) {
		log_warn("%s: temporary file for stderr", p->name);
		return -1;
	}
	if (o->drop && fchown(errfd, o->uid, o->gid) == -1) {
		log_warn("%s: chown stderr file", p->name);
		close(errfd);
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("%s: fork", p->name);
		close(errfd);
		return -1;
	}
	if (pid == 0) {
		/* child: only async-signal-safe work until exec */
		struct sigaction sa;

		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_DFL;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGPIPE, &sa, NULL);
		sigaction(SIGCHLD, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		{
			sigset_t none;
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
		}
		devnull = open("/dev/null", O_RDWR);
		if (dup2(o->stdin_fd >= 0 ? o->stdin_fd : devnull, 0) == -1 ||
		    dup2(o->stdout_fd >= 0 ? o->stdout_fd : devnull, 1) == -1 ||
		    dup2(errfd, 2) == -1)
			_exit(127);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		if (o->env)
			for (size_t i = 0; o->env[i]; i++)
				putenv((char *)(uintptr_t)o->env[i]);
		if (o->drop) {
			if (setgroups(0, NULL) == -1 ||
			    setresgid(o->gid, o->gid, o->gid) == -1 ||
			    setresuid(o->uid, o->uid, o->uid) == -1) {
				dprintf(2, "cannot drop privileges: %s\n",
				    strerror(errno));
				_exit(127);
			}
		}
		if (o->cwd && chdir(o->cwd) == -1) {
			dprintf(2, "chdir %s: %s\n", o->cwd, strerror(errno));
			_exit(127);
		}
		execvp(o->argv[0], (char *const *)(uintptr_t)o->argv);
		dprintf(2, "cannot run %s: %s\n", o->argv[0], strerror(errno));
		_exit(127);
	}
	p->pid = pid;
	p->errfd = errfd;
	log_debug("started %s (pid %d)", p->name, (int)pid);
	return 0;
}

/* Log the child's stderr; return it when out is set. */
static void
proc_drain_stderr(struct proc *p, bool failed, char **out)
{
	char *buf, *line, *save = NULL;
	ssize_t n;
	off_t size;
	int lines = 0, more = 0;

	if (out)
		*out = NULL;
	if (p->errfd == -1)
		return;
	size = lseek(p->errfd, 0, SEEK_END);
	if (size <= 0)
		goto done;
	if (size > PROC_ERR_MAX)
		size = PROC_ERR_MAX;
	if ((buf = malloc((size_t)size + 1)) == NULL)
		goto done;
	n = pread(p->errfd, buf, (size_t)size, 0);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	if (out)
		*out = strdup(buf);
	/* keep the last lines: that is where tools say why they failed */
	{
		size_t plen = strlen(p->name);
		char *lines_v[PROC_LOG_LINES];
		int nl = 0;

		for (line = strtok_r(buf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			/* "pg_dump: error: x" under the name pg_dump */
			if (strncmp(line, p->name, plen) == 0 &&
			    strncmp(line + plen, ": ", 2) == 0)
				line += plen + 2;
			if (nl == PROC_LOG_LINES) {
				memmove(lines_v, lines_v + 1,
				    (PROC_LOG_LINES - 1) * sizeof *lines_v);
				nl--;
				more++;
			}
			lines_v[nl++] = line;
			lines++;
		}
		if (more)
			log_warnx("%s: (%d earlier lines not shown)", p->name,
			    more);
		for (int i = 0; i < nl; i++) {
			if (failed)
				log_warnx("%s: %s", p->name, lines_v[i]);
			else
				log_info("%s: %s", p->name, lines_v[i]);
		}
	}
	free(buf);
done:
	close(p->errfd);
	p->errfd = -1;
}

void
proc_log_stderr(struct proc *p)
{
	proc_drain_stderr(p, true, NULL);
}

static int
proc_reap(struct proc *p, int timeout_s, int *status)
{
	time_t start = time(NULL);
	int term_sent = 0;

	for (;;) {
		pid_t r = waitpid(p->pid, status, WNOHANG);
		if (r == p->pid)
			return 0;
		if (r == -1 && errno != EINTR)
			return -1;
		if (!term_sent && (backup_stop ||
		    (timeout_s > 0 && time(NULL) - start > timeout_s))) {
			if (!backup_stop)
				log_warnx("%s: no end after %d s, stopping it",
				    p->name, timeout_s);
			kill(p->pid, SIGTERM);
			term_sent = 1;
			start = time(NULL);
			timeout_s = 10;
		} else if (term_sent && time(NULL) - start > timeout_s) {
			kill(p->pid, SIGKILL);
			term_sent = 2;
			timeout_s = 1 << 30;
		}
		usleep(20000);
	}
}

int
proc_wait(struct proc *p, int timeout_s, char **out)
{
	int status = 0, rc = -1;

	if (p->pid <= 0)
		return -1;
	if (proc_reap(p, timeout_s, &status) == -1) {
		log_warn("%s: waitpid", p->name);
		proc_drain_stderr(p, true, out);
		return -1;
	}
	p->pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rc = 0;
	proc_drain_stderr(p, rc != 0, out);
	if (rc != 0) {
		if (WIFEXITED(status))
			log_warnx("%s exited with status %d", p->name,
			    WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			log_warnx("%s was killed by signal %d", p->name,
			    WTERMSIG(status));
	}
	return rc;
}

void
proc_kill(struct proc *p)
{
	int status;

	if (p->pid <= 0)
		return;
	kill(p->pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			break;
		}
		usleep(20000);
	}
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &status, 0);
		p->pid = 0;
	}
	proc_drain_stderr(p, true, NULL);
}

int
proc_run(const struct proc_opts *o, int timeout_s, char **out)
{
	struct proc p;

	if (proc_spawn(o, &p) == -1)
		return -1;
	return proc_wait(&p, timeout_s, out);
}

void
proc_tool(const char *bindir, const char *name, char *out, size_t len)
{
	if (bindir != NULL && *bindir != '\0') {
		snprintf(out, len, "%s/%s", bindir, name);
		if (access(out, X_OK) == 0)
			return;
	}
	snprintf(out, len, "%s", name);
}
