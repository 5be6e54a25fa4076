/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * confwatch.c — reload on configuration file change (see confwatch.h).
 *
 * Which events count: those naming the file itself, the file it resolves
 * to, or a name starting with ".." (a ConfigMap's `..data` and its
 * timestamped directories); plus IN_Q_OVERFLOW and IN_IGNORED (a watched
 * directory went away: watch again).  Everything else in the directory
 * (editors' swap files, other configs in /etc) is ignored.  After the
 * debounce the watches are set again, since a symlink swap may have moved
 * the resolved file to a new directory.
 */
#include "proxy/confwatch.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "common/log.h"

#define CONFWATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | \
    IN_CREATE | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

static struct {
	char *path;
	char *dir;			/* directory of path as written */
	char base[NAME_MAX + 1];	/* its last component */
	char target_base[NAME_MAX + 1];	/* last component of the resolved file */
	int fd;
	int wd_dir, wd_target;
	struct event *ev, *timer;
	unsigned char hash[EVP_MAX_MD_SIZE];
	unsigned hash_len;
	bool have_hash;
} cw = { .fd = -1, .wd_dir = -1, .wd_target = -1 };

/* SHA-256 of the file's contents; 0 or -1. */
static int
confwatch_hash(const char *path, unsigned char *out, unsigned *out_len)
{
	unsigned char buf[65536];
	EVP_MD_CTX *md = NULL;
	struct stat st;
	size_t total = 0;
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto fail;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		total += (size_t)n;
		if (total > CONFWATCH_MAX_SIZE ||
		    EVP_DigestUpdate(md, buf, (size_t)n) != 1)
			goto fail;
	}
	if (n == -1 || EVP_DigestFinal_ex(md, out, out_len) != 1)
		goto fail;
	rc = 0;
fail:
	EVP_MD_CTX_free(md);
	close(fd);
	return rc;
}

/* (Re)add the watches on the file's directory and its target's. */
static void
confwatch_add_watches(void)
{
	char real[PATH_MAX], realdir[PATH_MAX], tdir[PATH_MAX], tmp[PATH_MAX];
	int wd;

	if (cw.wd_dir == -1) {
		cw.wd_dir = inotify_add_watch(cw.fd, cw.dir, CONFWATCH_MASK);
		if (cw.wd_dir == -1)
			log_warn("watch_config: %s", cw.dir);
	}
	cw.target_base[0] = '\0';
	if (realpath(cw.path, real) == NULL)
		return;		/* mid-swap; the next event will tell */
	{
		const char *b = strrchr(real, '/') ? strrchr(real, '/') + 1 :
		    real;
		size_t n = strnlen(b, sizeof(cw.target_base) - 1);

		memcpy(cw.target_base, b, n);
		cw.target_base[n] = '\0';
	}
	memcpy(tmp, real, sizeof(tmp));
	snprintf(tdir, sizeof(tdir), "%s", dirname(tmp));
	if (realpath(cw.dir, realdir) != NULL && strcmp(realdir, tdir) == 0) {
		if (cw.wd_target != -1 && cw.wd_target != cw.wd_dir)
			inotify_rm_watch(cw.fd, cw.wd_target);
		cw.wd_target = -1;
		return;
	}
	wd = inotify_add_watch(cw.fd, tdir, CONFWATCH_MASK);
	if (wd == -1) {
		log_warn("watch_config: %s", tdir);
		return;
	}
	if (cw.wd_target != -1 && cw.wd_target != wd && cw.wd_target != cw.wd_dir)
		inotify_rm_watch(cw.fd, cw.wd_target);
	cw.wd_target = wd;
}

static void
confwatch_settle_cb(evutil_socket_t fd, short what, void *arg)
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	confwatch_add_watches();
	if (confwatch_hash(cw.path, h, &len) == -1) {
		log_debug("watch_config: %s not readable right now", cw.path);
		return;
	}
	if (cw.have_hash && len == cw.hash_len &&
	    memcmp(h, cw.hash, len) == 0)
		return;
	memcpy(cw.hash, h, len);
	cw.hash_len = len;
	cw.have_hash = true;
	log_info("watch_config: %s changed; reloading", cw.path);
	kill(getpid(), SIGHUP);
}

static bool
confwatch_relevant(const struct inotify_event *e)
{
	if (e->mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF |
	    IN_MOVE_SELF))
		return true;
	if (e->len == 0)
		return false;
	return strcmp(e->name, cw.base) == 0 ||
	    strcmp(e->name, cw.target_base) == 0 ||
	    strncmp(e->name, "..", 2) == 0;
}

static void
confwatch_read_cb(evutil_socket_t fd, short what, void *arg)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct timeval tv = { 0, CONFWATCH_DEBOUNCE_MS * 1000 };
	bool arm = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const void *)p;

			if (e->mask & IN_IGNORED) {
				if (e->wd == cw.wd_dir)
					cw.wd_dir = -1;
				if (e->wd == cw.wd_target)
					cw.wd_target = -1;
			}
			if (confwatch_relevant(e))
				arm = true;
			p += sizeof(*e) + e->len;
		}
	}
	if (arm)
		evtimer_add(cw.timer, &tv);	/* restarts the debounce */
}

int
confwatch_start(struct event_base *base, const char *path)
{
	char *tmp;
	const char *slash;

	if (cw.fd != -1 && strcmp(cw.path, path) == 0)
		return 0;
	confwatch_stop();
	if ((cw.path = strdup(path)) == NULL || (tmp = strdup(path)) == NULL)
		goto fail;
	cw.dir = strdup(dirname(tmp));
	free(tmp);
	if (cw.dir == NULL)
		goto fail;
	slash = strrchr(path, '/');
	snprintf(cw.base, sizeof(cw.base), "%s", slash ? slash + 1 : path);
	if ((cw.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		log_warn("watch_config: inotify");
		goto fail;
	}
	if ((cw.ev = event_new(base, cw.fd, EV_READ | EV_PERSIST,
	    confwatch_read_cb, NULL)) == NULL ||
	    (cw.timer = evtimer_new(base, confwatch_settle_cb, NULL)) == NULL ||
	    event_add(cw.ev, NULL) == -1)
		goto fail;
	confwatch_add_watches();
	if (cw.wd_dir == -1)
		goto fail;
	cw.have_hash = confwatch_hash(cw.path, cw.hash, &cw.hash_len) == 0;
	log_info("watch_config: watching %s", cw.path);
	return 0;
fail:
	confwatch_stop();
	return -1;
}

void
confwatch_stop(void)
{
	if (cw.ev != NULL)
		event_free(cw.ev);
	if (cw.timer != NULL)
		event_free(cw.timer);
	if (cw.fd != -1)
		close(cw.fd);
	free(cw.path);
	free(cw.dir);
	memset(&cw, 0, sizeof(cw));
	cw.fd = cw.wd_dir = cw.wd_target = -1;
}

bool
confwatch_active(void)
{
	return cw.fd != -1;
}
