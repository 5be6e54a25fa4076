/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fsutil.h — files that are either whole or absent.
 *
 * fsutil_write_atomic() publishes a file the way Redis saves its RDB: write
 * a temporary file in the same directory, fsync it, rename it over the
 * target, fsync the directory.  A crash at any point leaves either the old
 * file or the new one, never a torn one.  Functions return 0 or -1 with
 * errno set; they log nothing (the caller knows the context).
 */
#ifndef LIMEN_COMMON_FSUTIL_H
#define LIMEN_COMMON_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Write data to path atomically with the given mode (e.g. 0600). */
int fsutil_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode);
/* fsync a directory (after a rename or unlink in it). */
int fsutil_fsync_dir(const char *dir);
/* fsync the directory that contains path. */
int fsutil_fsync_parent(const char *path);
/* mkdir -p with mode for every directory it creates. */
int fsutil_mkdirs(const char *path, mode_t mode);
/* Read a whole file of at most max bytes into a malloc'd, NUL-terminated
 * buffer (the NUL is not counted in *len).  Fails with EFBIG past max. */
int fsutil_read_file(const char *path, size_t max, char **out, size_t *len);
/* Read a secret file: like fsutil_read_file, then strips one trailing
 * newline.  Fails with EPERM if the file is readable by group or others
 * (mode & 077) unless allow_open is set. */
int fsutil_read_secret(const char *path, size_t max, int allow_open,
    char **out, size_t *len);

#endif
