/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * wal.c — the WAL archive of a physical job: DESTINATION/JOB/wal/.
 *
 * `archive-wal JOB %p %f` is PostgreSQL's archive_command.  PostgreSQL
 * recycles a segment as soon as the command exits 0, so 0 must mean
 * "durably stored": the file is encoded (compressed, encrypted like the
 * job's backups) into a temporary file that is fsynced, then linked to its
 * final name (link(2) fails instead of replacing an existing file), then
 * the directory is fsynced.  If the name is already archived, the stored
 * copy is decoded and compared: the same content exits 0 (PostgreSQL
 * retries after a crash between our exit and its bookkeeping), a
 * different content is refused — never overwritten.
 *
 * Stored names are the WAL file name plus the suffix of its encoding
 * (".gz", ".zst.enc", ...), so a job can change compression without
 * making old segments unreadable.
 */
#include "backup/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"

static bool
wal_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

bool
wal_is_segment(const char *name)
{
	return strlen(name) == 24 && wal_hex(name, 24);
}

bool
wal_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 24)
		return wal_hex(name, 24);
	if (len == 32 && strcmp(name + 24, ".partial") == 0)
		return wal_hex(name, 24);
	if (len == 40 && name[24] == '.' && strcmp(name + 33, ".backup") == 0)
		return wal_hex(name, 24) && wal_hex(name + 25, 8);
	if (len == 16 && strcmp(name + 8, ".history") == 0)
		return wal_hex(name, 8);
	return false;
}

void
wal_dir(const struct job_ctx *ctx, char *out, size_t len)
{
	bpath(out, len, "%s/wal", ctx->jobdir);
}

/* Split a stored name into the WAL name and its encoding. */
static int
wal_stored_codec(const char *stored, char *base, size_t baselen,
    enum conf_compression *comp, bool *enc)
{
	size_t len = strlen(stored);

	*comp = COMPRESS_NONE;
	*enc = false;
	if (len >= baselen)
		return -1;
	memcpy(base, stored, len + 1);
	if (len > 4 && strcmp(base + len - 4, ".enc") == 0) {
		*enc = true;
		base[len -= 4] = '\0';
	}
	if (len > 3 && strcmp(base + len - 3, ".gz") == 0) {
		*comp = COMPRESS_GZIP;
		base[len -= 3] = '\0';
	} else if (len > 4 && strcmp(base + len - 4, ".zst") == 0) {
		*comp = COMPRESS_ZSTD;
		base[len -= 4] = '\0';
	}
	return wal_name_valid(base) ? 0 : -1;
}

int
wal_list(const struct job_ctx *ctx, char ***names, size_t *n)
{
	char dir[PATH_MAX];
	DIR *d;
	struct dirent *de;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	wal_dir(ctx, dir, sizeof dir);
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		char base[64];
		enum conf_compression comp;
		bool enc;

		if (de->d_name[0] == '.' ||
		    wal_stored_codec(de->d_name, base, sizeof base, &comp,
		    &enc) == -1)
			continue;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nn = realloc(*names, ncap * sizeof *nn);
			if (nn == NULL)
				goto fail;
			*names = nn;
			cap = ncap;
		}
		if (((*names)[*n] = strdup(de->d_name)) == NULL)
			goto fail;
		(*n)++;
	}
	closedir(d);
	return 0;
fail:
	closedir(d);
	for (size_t i = 0; i < *n; i++)
		free((*names)[i]);
	free(*names);
	*names = NULL;
	*n = 0;
	return -1;
}

static void
wal_list_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Stored file for WAL name, any encoding: 1 found (path in out), 0 not. */
static int
wal_find_stored(const struct job_ctx *ctx, const char *name, char *out,
    size_t len)
{
	static const char *const sfx[] = { "", ".enc", ".gz", ".gz.enc",
		".zst", ".zst.enc" };
	char dir[PATH_MAX];

	wal_dir(ctx, dir, sizeof dir);
	for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		bpath(out, len, "%s/%s%s", dir, name, sfx[i]);
		if (access(out, F_OK) == 0)
			return 1;
	}
	return 0;
}

bool
wal_archived(struct job_ctx *ctx, const char *name)
{
	char path[PATH_MAX];

	return wal_find_stored(ctx, name, path, sizeof path) == 1;
}

/* SHA-256 of the decoded content of a stored WAL file. */
static int
wal_decoded_hash(struct job_ctx *ctx, const char *path, char hex[65])
{
	char base[64], err[512];
	const char *slash = strrchr(path, '/');
	enum conf_compression comp;
	bool enc;
	struct stream *sink;
	int rc;

	if (wal_stored_codec(slash ? slash + 1 : path, base, sizeof base,
	    &comp, &enc) == -1)
		return -1;
	if (enc && !ctx->has_key) {
		log_warnx("%s is encrypted and the job has no key", path);
		return -1;
	}
	if ((sink = stream_sink_new(-1, false)) == NULL)
		return -1;
	rc = stream_decode_file(path, comp, enc ? ctx->key : NULL, sink, NULL,
	    NULL, err, sizeof err);
	if (rc == 0)
		stream_sink_result(sink, NULL, hex);
	else
		log_warnx("%s", err);
	stream_free(sink);
	return rc;
}

/* Compare an already archived copy with the file at path. */
static int
wal_compare_existing(struct job_ctx *ctx, const char *stored,
    const char *path, const char *name)
{
	char have[65], want[65];
	uint64_t size;

	if (stream_hash_file(path, &size, want) == -1) {
		log_warn("archive-wal: %s", path);
		return BACKUP_EXIT_FAIL;
	}
	if (wal_decoded_hash(ctx, stored, have) == -1) {
		log_warnx("archive-wal: %s exists and cannot be read; refusing "
		    "to overwrite it", stored);
		return BACKUP_EXIT_FAIL;
	}
	if (strcmp(have, want) != 0) {
		log_warnx("archive-wal: %s is already archived with different "
		    "content; refusing to overwrite it (is another server "
		    "archiving into the same job?)", name);
		return BACKUP_EXIT_FAIL;
	}
	log_info("archive-wal: %s was already archived (same content)", name);
	return BACKUP_EXIT_OK;
}

int
wal_archive(struct job_ctx *ctx, const char *path, const char *name)
{
	const struct conf_backup_job *job = ctx->job;
	char dir[PATH_MAX], dest[PATH_MAX], tmp[PATH_MAX], stored[PATH_MAX];
	struct stream *sink = NULL, *chain = NULL;
	int in = -1, out = -1, rc = BACKUP_EXIT_FAIL;
	bool tmp_made = false;

	if (!wal_name_valid(name)) {
		log_warnx("archive-wal: %s is not a WAL file name", name);
		return BACKUP_EXIT_USER;
	}
	if (job->kind != BACKUP_PHYSICAL) {
		log_warnx("archive-wal: job %s is not a physical job",
		    job->name);
		return BACKUP_EXIT_USER;
	}
	wal_dir(ctx, dir, sizeof dir);
	if (fsutil_mkdirs(dir, 0750) == -1) {
		log_warn("archive-wal: create %s", dir);
		return BACKUP_EXIT_FAIL;
	}
	if ((in = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("archive-wal: %s", path);
		return BACKUP_EXIT_FAIL;
	}
	if (wal_find_stored(ctx, name, stored, sizeof stored) == 1) {
		rc = wal_compare_existing(ctx, stored, path, name);
		goto out;
	}
	bpath(dest, sizeof dest, "%s/%s%s", dir, name,
	    stream_suffix(job->compression, ctx->has_key));
	bpath(tmp, sizeof tmp, "%s/.%s.tmp-XXXXXX", dir, name);
	if ((out = mkostemp(tmp, O_CLOEXEC)) == -1) {
		log_warn("archive-wal: create a file in %s", dir);
		goto out;
	}
	tmp_made = true;
	fchmod(out, 0640);
	if ((sink = stream_sink_new(out, true)) == NULL ||
	    (chain = stream_encoder(job->compression, job_key(ctx), sink)) ==
	    NULL)
		goto out;
	if (stream_pump_fd(in, chain, 600, NULL, NULL) == -1 ||
	    stream_finish(chain) == -1) {
		log_warnx("archive-wal: %s: %s", name, stream_error(chain));
		goto out;
	}
	if (close(out) == -1) {
		out = -1;
		log_warn("archive-wal: close %s", tmp);
		goto out;
	}
	out = -1;
	if (link(tmp, dest) == -1) {
		if (errno == EEXIST)
			rc = wal_compare_existing(ctx, dest, path, name);
		else
			log_warn("archive-wal: link %s", dest);
		goto out;
	}
	unlink(tmp);
	tmp_made = false;
	if (fsutil_fsync_dir(dir) == -1) {
		log_warn("archive-wal: fsync %s", dir);
		goto out;
	}
	log_info("archive-wal: job %s: archived %s", job->name, name);
	rc = BACKUP_EXIT_OK;
out:
	if (chain)
		stream_free(chain);
	else if (sink)
		stream_free(sink);
	if (out != -1)
		close(out);
	if (tmp_made)
		unlink(tmp);
	if (in != -1)
		close(in);
	return rc;
}

int
wal_stage(struct job_ctx *ctx, const char *from, const char *to,
    const char *dir, bool drop, uid_t uid, gid_t gid)
{
	char waldir[PATH_MAX], **names = NULL;
	size_t n = 0, staged = 0;
	int rc = -1;

	wal_dir(ctx, waldir, sizeof waldir);
	if (wal_list(ctx, &names, &n) == -1) {
		log_warn("read %s", waldir);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char base[64], src[PATH_MAX], dst[PATH_MAX], err[512];
		enum conf_compression comp;
		bool enc;
		struct stream *sink;
		int fd;

		if (wal_stored_codec(names[i], base, sizeof base, &comp,
		    &enc) == -1)
			continue;
		if (!(strlen(base) == 16 ||
		    (wal_is_segment(base) &&
		    (from == NULL || memcmp(base + 8, from + 8, 16) >= 0) &&
		    (to == NULL || memcmp(base + 8, to + 8, 16) <= 0))))
			continue;
		if (enc && !ctx->has_key) {
			log_warnx("%s is encrypted and the job has no key",
			    names[i]);
			goto out;
		}
		bpath(src, sizeof src, "%s/%s", waldir, names[i]);
		snprintf(dst, sizeof dst, "%s/%s", dir, base);
		if ((fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600)) == -1) {
			log_warn("create %s", dst);
			goto out;
		}
		if (drop && fchown(fd, uid, gid) == -1) {
			log_warn("chown %s", dst);
			close(fd);
			goto out;
		}
		if ((sink = stream_sink_new(fd, false)) == NULL ||
		    stream_decode_file(src, comp, enc ? ctx->key : NULL, sink,
		    NULL, NULL, err, sizeof err) == -1) {
			log_warnx("WAL %s: %s", names[i], sink ? err :
			    "out of memory");
			stream_free(sink);
			close(fd);
			goto out;
		}
		stream_free(sink);
		close(fd);
		staged++;
	}
	log_info("staged %zu WAL files for recovery", staged);
	rc = 0;
out:
	wal_list_free(names, n);
	return rc;
}

int
wal_segment_name(unsigned timeline, const char *lsn, uint64_t seg_size,
    char out[25])
{
	unsigned hi, lo;
	uint64_t pos, segno, per;

	if (seg_size == 0 || sscanf(lsn, "%X/%X", &hi, &lo) != 2)
		return -1;
	pos = (uint64_t)hi << 32 | lo;
	segno = pos / seg_size;
	per = UINT64_C(0x100000000) / seg_size;
	snprintf(out, 25, "%08X%08X%08X", timeline,
	    (unsigned)(segno / per), (unsigned)(segno % per));
	return 0;
}
