/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * conf_testutil.h — load a configuration from a string in unit tests and
 * get every message back as one string ("t.yaml:L:C: error: ...\n"...).
 */
#ifndef LIMEN_TESTS_CONF_TESTUTIL_H
#define LIMEN_TESTS_CONF_TESTUTIL_H

#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "conf/diag.h"

static char conf_test_msgs[8192];

/* Loads text as "t.yaml"; returns the config (or NULL) and fills
 * conf_test_msgs with the sorted messages ("" when there are none). */
static inline struct config *
conf_test_load(const char *text)
{
	struct diag d;
	struct config *c;
	char *s;

	diag_init(&d);
	c = conf_load_buffer("t.yaml", text, strlen(text), &d);
	diag_sort(&d);
	s = diag_join(&d);
	snprintf(conf_test_msgs, sizeof conf_test_msgs, "%s", s ? s : "");
	free(s);
	diag_free(&d);
	return c;
}

/* The messages of a config that must fail to load. */
static inline const char *
conf_test_errors(const char *text)
{
	struct config *c = conf_test_load(text);
	if (c != NULL) {
		conf_unref(c);
		return "(loaded without errors)";
	}
	return conf_test_msgs;
}

#endif
