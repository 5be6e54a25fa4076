/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * evlog.c — see evlog.h.
 */
#include "common/evlog.h"

#include <event2/event.h>

#include "common/log.h"

void
evlog_cb(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	case EVENT_LOG_WARN:
		log_warnx("libevent: %s", msg);
		break;
	default:
		log_error("libevent: %s", msg);
		break;
	}
}

void
evlog_install(void)
{
	event_set_log_callback(evlog_cb);
}
