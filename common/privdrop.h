/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * privdrop.h — bind first, then give up root (STYLE-DETAILS 3.8).
 *
 * privdrop_to() is called once, by the main thread, after every listening
 * socket is open and every root-only file is read, before the worker
 * threads start (setresuid in glibc changes every thread, but starting
 * them afterwards keeps the order obvious).  It follows relayd's order:
 * setgroups -> setresgid -> setresuid, then checks that root cannot be
 * regained, and sets PR_SET_NO_NEW_PRIVS.
 */
#ifndef LIMEN_COMMON_PRIVDROP_H
#define LIMEN_COMMON_PRIVDROP_H

#include <sys/types.h>

/* Resolve user (and group, or the user's primary group when NULL) to ids.
 * Returns 0, or -1 with a message in err (cap bytes). */
int privdrop_lookup(const char *user, const char *group, uid_t *uid,
    gid_t *gid, char *err, size_t cap);
/* Drop to uid/gid for good.  Returns 0, or -1 with a message in err. */
int privdrop_to(uid_t uid, gid_t gid, char *err, size_t cap);
/* PR_SET_NO_NEW_PRIVS (also done by privdrop_to); 0 or -1. */
int privdrop_no_new_privs(void);

#endif
