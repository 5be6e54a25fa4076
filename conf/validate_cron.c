/* SPDX-License-Identifier: BSD-2-Clause */
/* validate_cron.c — a backup job's schedule and time zone (common/cron.h). */
#include "common/cron.h"
#include "conf/schema.h"
#include "conf/validate.h"

void
conf_validate_backup_cron(struct conf_ctx *x, const struct ynode *jn,
    const struct conf_backup_job *j, size_t i)
{
	struct cron_expr ce;
	const char *err = NULL;

	if (j->schedule != NULL && cron_parse(j->schedule, &ce, &err) == -1) {
		conf_validate_path(x, "backup.jobs[%zu].schedule", i);
		conf_err(x, conf_validate_at(jn, "schedule"),
		    "invalid cron expression '%s': %s", j->schedule,
		    err ? err : "cannot parse");
	}
	if (j->timezone != NULL && !cron_timezone_valid(j->timezone)) {
		conf_validate_path(x, "backup.jobs[%zu].timezone", i);
		conf_err(x, conf_validate_at(jn, "timezone"),
		    "unknown time zone '%s'", j->timezone);
	}
}
