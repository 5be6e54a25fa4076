/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * evlog.h — libevent's own messages through common/log.h.
 *
 * Left alone, libevent writes "[warn] ..." / "[msg] ..." lines straight to
 * stderr, outside limen's log format (no timestamp, never JSON) and
 * outside the log level.  evlog_install() routes them through log.h:
 * libevent's err as an error, warn as a warning, msg as info, debug as
 * debug, each prefixed "libevent: ".  Installed first thing in main() of
 * limen and limen-backup, before any event_base exists.
 */
#ifndef LIMEN_COMMON_EVLOG_H
#define LIMEN_COMMON_EVLOG_H

void evlog_install(void);
/* The callback itself (for tests): severity is libevent's EVENT_LOG_*. */
void evlog_cb(int severity, const char *msg);

#endif
