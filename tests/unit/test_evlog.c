/* SPDX-License-Identifier: BSD-2-Clause */
/* test_evlog.c — libevent's own warnings come out through common/log.h
 * (common/evlog.c), in limen's format, not as bare "[warn]" lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "common/log.h"
#include "common/evlog.h"
#include "tests/unit/harness.h"

/* Run fn with stderr captured; returns the text (static buffer). */
static const char *
capture_stderr(void (*fn)(void))
{
	static char buf[4096];
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	if (f == NULL || saved == -1)
		return "";
	fflush(stderr);
	dup2(fileno(f), STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
add_unassigned_event(void)
{
	struct event ev;

	memset(&ev, 0, sizeof(ev));
	/* libevent warns: "event_add: event has no event_base set." */
	CHECK_INT(event_add(&ev, NULL), ==, -1);
}

static void
test_evlog_routes_libevent_warnings_through_log(void)
{
	const char *out;

	log_init(LOG_LVL_INFO, LOG_FMT_JSON);
	evlog_install();
	out = capture_stderr(add_unassigned_event);
	CHECK_INT(strstr(out, "\"level\":\"warn\"") != NULL, ==, 1);
	CHECK_INT(strstr(out, "libevent: event_add: event has no event_base")
	    != NULL, ==, 1);
	CHECK_INT(strstr(out, "[warn]") == NULL, ==, 1);
	event_set_log_callback(NULL);
}

static void
test_evlog_respects_the_log_level(void)
{
	const char *out;

	log_init(LOG_LVL_ERROR, LOG_FMT_TEXT);
	evlog_install();
	out = capture_stderr(add_unassigned_event);
	CHECK_STR(out, "");
	event_set_log_callback(NULL);
	log_init(LOG_LVL_INFO, LOG_FMT_TEXT);
}

HARNESS_MAIN(T(test_evlog_routes_libevent_warnings_through_log),
    T(test_evlog_respects_the_log_level))
