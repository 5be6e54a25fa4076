/* SPDX-License-Identifier: BSD-2-Clause */
/* test_log.c — level/format parsing of common/log. */
#include "common/log.h"
#include "tests/unit/harness.h"

static void
test_log_level_parse_accepts_known_names(void)
{
	CHECK_INT(log_level_parse("error"), ==, LOG_LVL_ERROR);
	CHECK_INT(log_level_parse("warn"), ==, LOG_LVL_WARN);
	CHECK_INT(log_level_parse("INFO"), ==, LOG_LVL_INFO);
	CHECK_INT(log_level_parse("debug"), ==, LOG_LVL_DEBUG);
	CHECK_INT(log_level_parse("verbose"), ==, -1);
}

static void
test_log_format_parse(void)
{
	CHECK_INT(log_format_parse("text"), ==, LOG_FMT_TEXT);
	CHECK_INT(log_format_parse("json"), ==, LOG_FMT_JSON);
	CHECK_INT(log_format_parse("xml"), ==, -1);
}

HARNESS_MAIN(T(test_log_level_parse_accepts_known_names),
    T(test_log_format_parse))
