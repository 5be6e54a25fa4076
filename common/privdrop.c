/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * privdrop.c — see privdrop.h.  Linux only (setresuid, prctl).
 */
#include "common/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int
privdrop_lookup(const char *user, const char *group, uid_t *uid, gid_t *gid,
    char *err, size_t cap)
{
	struct passwd *pw;
	struct group *gr;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, cap, "unknown user '%s'", user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL) {
			snprintf(err, cap, "unknown group '%s'", group);
			return -1;
		}
		*gid = gr->gr_gid;
	}
	return 0;
}

int
privdrop_no_new_privs(void)
{
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : -1;
}

int
privdrop_to(uid_t uid, gid_t gid, char *err, size_t cap)
{
	if (setgroups(1, &gid) == -1) {
		snprintf(err, cap, "setgroups: %s", strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) == -1) {
		snprintf(err, cap, "setresgid(%u): %s", (unsigned)gid,
		    strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) == -1) {
		snprintf(err, cap, "setresuid(%u): %s", (unsigned)uid,
		    strerror(errno));
		return -1;
	}
	/* Paranoia (OpenBSD style): root must be out of reach now. */
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		snprintf(err, cap, "could regain root after dropping privileges");
		return -1;
	}
	if (privdrop_no_new_privs() == -1) {
		snprintf(err, cap, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	return 0;
}
