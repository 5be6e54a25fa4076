/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cron.c — see cron.h.
 *
 * Parsing turns each field into a bit mask.  Finding the next run happens
 * in two spaces: "wall" times are broken-down local times encoded as if
 * they were UTC (timegm), where every day has 1440 minutes and the field
 * masks apply directly; real instants are time_t.  cron_next walks wall
 * minutes forward (skipping whole months, days and hours that cannot
 * match) and maps each match to an instant through the zone's UTC offset:
 * a wall time that exists twice maps to its first instant, one that does
 * not exist (inside a spring-forward gap) maps to the end of the gap.  The
 * first mapped instant later than `after` is the answer, which gives the
 * "once, and only once" behaviour around DST changes.
 */
#include "common/cron.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct cron_field {
	int min, max;
	const char *const *names;	/* names[i] is value min + i, or NULL */
	int n_names;
};

static const char *const cron_month_names[] = { "JAN", "FEB", "MAR", "APR",
	"MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const cron_day_names[] = { "SUN", "MON", "TUE", "WED",
	"THU", "FRI", "SAT" };

static const struct cron_field cron_fields[5] = {
	{ 0, 59, NULL, 0 },
	{ 0, 23, NULL, 0 },
	{ 1, 31, NULL, 0 },
	{ 1, 12, cron_month_names, 12 },
	{ 0, 7, cron_day_names, 7 },
};

static const char *const cron_field_errors[5] = {
	"invalid minute field (0-59)",
	"invalid hour field (0-23)",
	"invalid day-of-month field (1-31)",
	"invalid month field (1-12 or JAN-DEC)",
	"invalid day-of-week field (0-7 or SUN-SAT)",
};

/* Parse one number or name at *pp; advances *pp.  -1 if none. */
static int
cron_value(const struct cron_field *f, const char **pp, int *out)
{
	const char *p = *pp;

	if (isdigit((unsigned char)*p)) {
		long v = 0;
		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (*p - '0');
			if (v > 1000)
				return -1;
			p++;
		}
		if (v < f->min || v > f->max)
			return -1;
		*out = (int)v;
		*pp = p;
		return 0;
	}
	for (int i = 0; i < f->n_names; i++) {
		if (strncasecmp(p, f->names[i], 3) == 0 &&
		    !isalpha((unsigned char)p[3])) {
			*out = f->min + i;
			*pp = p + 3;
			return 0;
		}
	}
	return -1;
}

/* Parse one field (the text between spaces, NUL-terminated) into a mask. */
static int
cron_parse_field(const struct cron_field *f, const char *s, uint64_t *mask)
{
	const char *p = s;

	*mask = 0;
	for (;;) {
		int lo, hi, step = 1;

		if (*p == '*') {
			lo = f->min;
			hi = f->max;
			p++;
		} else {
			if (cron_value(f, &p, &lo) == -1)
				return -1;
			hi = lo;
			if (*p == '-') {
				p++;
				if (cron_value(f, &p, &hi) == -1 || hi < lo)
					return -1;
			} else if (*p == '/')
				hi = f->max;	/* "N/S": from N to the end */
		}
		if (*p == '/') {
			long v = 0;
			p++;
			if (!isdigit((unsigned char)*p))
				return -1;
			while (isdigit((unsigned char)*p)) {
				v = v * 10 + (*p - '0');
				if (v > 1000)
					return -1;
				p++;
			}
			if (v < 1)
				return -1;
			step = (int)v;
		}
		for (int v = lo; v <= hi; v += step)
			*mask |= (uint64_t)1 << v;
		if (*p == '\0')
			return 0;
		if (*p != ',')
			return -1;
		p++;
	}
}

static const struct {
	const char *name;
	const char *expr;
} cron_macros[] = {
	{ "@hourly", "0 * * * *" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@monthly", "0 0 1 * *" },
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
};

static const int cron_mdays[13] = { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30,
	31, 30, 31 };

int
cron_parse(const char *expr, struct cron_expr *out, const char **errstr)
{
	char buf[256], *fields[5], *p;
	const char *err = NULL;
	uint64_t masks[5];
	int n = 0;

	memset(out, 0, sizeof *out);
	if (expr == NULL) {
		err = "empty cron expression";
		goto fail;
	}
	while (isspace((unsigned char)*expr))
		expr++;
	if (*expr == '@') {
		size_t len = strlen(expr);
		while (len > 0 && isspace((unsigned char)expr[len - 1]))
			len--;
		for (size_t i = 0; i < sizeof cron_macros / sizeof cron_macros[0];
		    i++)
			if (strlen(cron_macros[i].name) == len &&
			    strncasecmp(expr, cron_macros[i].name, len) == 0)
				return cron_parse(cron_macros[i].expr, out, errstr);
		err = "unknown @ macro (use @hourly, @daily, @weekly, @monthly "
		    "or @yearly)";
		goto fail;
	}
	if (strlen(expr) >= sizeof buf) {
		err = "cron expression too long";
		goto fail;
	}
	strcpy(buf, expr);
	for (p = strtok(buf, " \t\n"); p != NULL; p = strtok(NULL, " \t\n")) {
		if (n == 5) {
			err = "too many fields in cron expression (want 5: "
			    "minute hour day-of-month month day-of-week)";
			goto fail;
		}
		fields[n++] = p;
	}
	if (n < 5) {
		err = n == 0 ? "empty cron expression" :
		    "too few fields in cron expression (want 5: minute hour "
		    "day-of-month month day-of-week)";
		goto fail;
	}
	for (int i = 0; i < 5; i++)
		if (cron_parse_field(&cron_fields[i], fields[i], &masks[i]) == -1) {
			err = cron_field_errors[i];
			goto fail;
		}
	out->minutes = masks[0];
	out->hours = (uint32_t)masks[1];
	out->days = (uint32_t)masks[2];
	out->months = (uint16_t)masks[3];
	if (masks[4] & (1u << 7))
		masks[4] = (masks[4] | 1u) & 0x7f;	/* 7 is Sunday too */
	out->weekdays = (uint8_t)masks[4];
	out->dom_star = fields[2][0] == '*';
	out->dow_star = fields[4][0] == '*';

	/* A day-of-month that no selected month has would never run. */
	if (!out->dom_star && out->dow_star) {
		int possible = 0;
		for (int m = 1; m <= 12 && !possible; m++) {
			if (!(out->months & (1u << m)))
				continue;
			for (int d = 1; d <= cron_mdays[m]; d++)
				if (out->days & (1u << d))
					possible = 1;
		}
		if (!possible) {
			err = "day of month never occurs in the selected months";
			goto fail;
		}
	}
	return 0;
fail:
	memset(out, 0, sizeof *out);
	if (errstr)
		*errstr = err;
	return -1;
}

/* ---- time zones ------------------------------------------------------- */

enum cron_zone { CRON_ZONE_LOCAL, CRON_ZONE_UTC, CRON_ZONE_NAMED };

static bool
cron_is_utc(const char *tz)
{
	return strcmp(tz, "UTC") == 0 || strcmp(tz, "Etc/UTC") == 0 ||
	    strcmp(tz, "Z") == 0;
}

bool
cron_timezone_valid(const char *tz)
{
	char path[PATH_MAX];
	const char *dir;
	struct stat st;

	if (tz == NULL || cron_is_utc(tz))
		return true;
	if (*tz == '\0' || *tz == '/' || strstr(tz, "..") != NULL ||
	    strlen(tz) > 128)
		return false;
	for (const char *p = tz; *p; p++)
		if (!isalnum((unsigned char)*p) && strchr("/_-+", *p) == NULL)
			return false;
	if ((dir = getenv("TZDIR")) == NULL || *dir == '\0')
		dir = "/usr/share/zoneinfo";
	if (snprintf(path, sizeof path, "%s/%s", dir, tz) >= (int)sizeof path)
		return false;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* UTC offset (seconds east) of instant t in the current zone. */
static long
cron_offset(enum cron_zone z, time_t t)
{
	struct tm tm;

	if (z == CRON_ZONE_UTC)
		return 0;
	if (localtime_r(&t, &tm) == NULL)
		return 0;
	return tm.tm_gmtoff;
}

/* Wall clock (as fake-UTC seconds) of instant t. */
static time_t
cron_wall(enum cron_zone z, time_t t)
{
	return t + cron_offset(z, t);
}

/*
 * The instant for wall time w: its first occurrence if it exists, else
 * (a spring-forward gap) the first instant after the gap.
 */
static time_t
cron_instant(enum cron_zone z, time_t w)
{
	long oa, ob;
	time_t ta, tb, lo, hi;
	bool va, vb;

	if (z == CRON_ZONE_UTC)
		return w;
	oa = cron_offset(z, w - 86400);
	ob = cron_offset(z, w + 86400);
	ta = w - oa;
	tb = w - ob;
	va = cron_wall(z, ta) == w;
	vb = cron_wall(z, tb) == w;
	if (va && vb)
		return ta < tb ? ta : tb;
	if (va)
		return ta;
	if (vb)
		return tb;
	/* In a gap: the offset changes somewhere between the two guesses;
	 * the answer is the first instant with the later offset. */
	lo = ta < tb ? ta : tb;
	hi = ta < tb ? tb : ta;
	if (cron_offset(z, hi) == cron_offset(z, lo))
		return ta;	/* not a plain gap; keep the older offset */
	{
		long late = cron_offset(z, hi);
		while (hi - lo > 1) {
			time_t mid = lo + (hi - lo) / 2;
			if (cron_offset(z, mid) == late)
				hi = mid;
			else
				lo = mid;
		}
	}
	return hi;
}

/* ---- matching ---------------------------------------------------------- */

static bool
cron_day_matches(const struct cron_expr *c, const struct tm *tm)
{
	bool dom = (c->days >> tm->tm_mday) & 1;
	bool dow = (c->weekdays >> tm->tm_wday) & 1;

	if (c->dom_star || c->dow_star)
		return dom && dow;
	return dom || dow;
}

/* The first wall minute >= w that matches c; -1 past `limit`. */
static time_t
cron_next_wall(const struct cron_expr *c, time_t w, time_t limit)
{
	struct tm tm;

	while (w <= limit) {
		if (gmtime_r(&w, &tm) == NULL)
			return -1;
		if (!((c->months >> (tm.tm_mon + 1)) & 1)) {
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
			w = timegm(&tm);
			continue;
		}
		if (!cron_day_matches(c, &tm)) {
			tm.tm_mday++;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
			w = timegm(&tm);
			continue;
		}
		if (!((c->hours >> tm.tm_hour) & 1)) {
			tm.tm_hour++;
			tm.tm_min = tm.tm_sec = 0;
			w = timegm(&tm);
			continue;
		}
		if (!((c->minutes >> tm.tm_min) & 1)) {
			w += 60 - tm.tm_sec;
			continue;
		}
		return w - tm.tm_sec;
	}
	return -1;
}

/* Switch TZ to name; remember the old value in *saved (malloc'd or NULL). */
static void
cron_tz_push(const char *name, char **saved, bool *had)
{
	const char *old = getenv("TZ");

	*had = old != NULL;
	*saved = old ? strdup(old) : NULL;
	setenv("TZ", name, 1);
	tzset();
}

static void
cron_tz_pop(char *saved, bool had)
{
	if (had && saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	free(saved);
	tzset();
}

int
cron_next(const struct cron_expr *c, time_t after, const char *tz,
    time_t *next)
{
	enum cron_zone z = CRON_ZONE_LOCAL;
	char *saved = NULL;
	bool had = false;
	time_t w, limit, t;
	int rc = -1;

	if (c->minutes == 0 || c->hours == 0 || c->days == 0 ||
	    c->months == 0 || c->weekdays == 0)
		return -1;
	if (tz != NULL) {
		if (cron_is_utc(tz))
			z = CRON_ZONE_UTC;
		else if (!cron_timezone_valid(tz))
			return -1;
		else {
			z = CRON_ZONE_NAMED;
			cron_tz_push(tz, &saved, &had);
		}
	} else
		tzset();

	w = cron_wall(z, after);
	w -= ((w % 60) + 60) % 60;
	w += 60;
	limit = w + (time_t)30 * 366 * 86400;
	for (int i = 0; i < 100000; i++) {
		if ((w = cron_next_wall(c, w, limit)) == -1)
			break;
		t = cron_instant(z, w);
		if (t > after) {
			*next = t;
			rc = 0;
			break;
		}
		w += 60;
	}
	if (z == CRON_ZONE_NAMED)
		cron_tz_pop(saved, had);
	return rc;
}
