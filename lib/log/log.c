/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging. Each line carries a timestamp and the current thread's name.
 * "level" decides what reaches syslog, "print level" what reaches stderr.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "osprey/log.h"

static enum osp_log_level g_log_level = OSP_LOG_NOTICE;
static enum osp_log_level g_print_level = OSP_LOG_NOTICE;
static osp_log_fn g_log_fn;
static const char *(*g_thread_name_fn)(void);
static struct osp_log_flag *g_flags;

static const char *const g_level_names[] = {
	[OSP_LOG_ERROR] = "ERROR",
	[OSP_LOG_WARN] = "WARNING",
	[OSP_LOG_NOTICE] = "NOTICE",
	[OSP_LOG_INFO] = "INFO",
	[OSP_LOG_DEBUG] = "DEBUG",
};

static const int g_syslog_prio[] = {
	[OSP_LOG_ERROR] = LOG_ERR,
	[OSP_LOG_WARN] = LOG_WARNING,
	[OSP_LOG_NOTICE] = LOG_NOTICE,
	[OSP_LOG_INFO] = LOG_INFO,
	[OSP_LOG_DEBUG] = LOG_DEBUG,
};

void
osp_log_set_level(enum osp_log_level level)
{
	g_log_level = level;
}

enum osp_log_level
osp_log_get_level(void)
{
	return g_log_level;
}

void
osp_log_set_print_level(enum osp_log_level level)
{
	g_print_level = level;
}

enum osp_log_level
osp_log_get_print_level(void)
{
	return g_print_level;
}

int
osp_log_level_from_name(const char *name)
{
	int i;

	if (name == NULL) {
		return -1;
	}
	if (strcasecmp(name, "DISABLED") == 0) {
		return OSP_LOG_DISABLED;
	}
	if (strcasecmp(name, "WARN") == 0) {
		return OSP_LOG_WARN;
	}
	for (i = OSP_LOG_ERROR; i <= OSP_LOG_DEBUG; i++) {
		if (strcasecmp(name, g_level_names[i]) == 0) {
			return i;
		}
	}
	return -2;
}

const char *
osp_log_level_name(enum osp_log_level level)
{
	if (level < OSP_LOG_ERROR || level > OSP_LOG_DEBUG) {
		return "DISABLED";
	}
	return g_level_names[level];
}

void
osp_log_open(osp_log_fn logfn)
{
	g_log_fn = logfn;
	if (logfn == NULL) {
		openlog("osprey", LOG_PID, LOG_LOCAL7);
	}
}

void
osp_log_close(void)
{
	if (g_log_fn == NULL) {
		closelog();
	}
	g_log_fn = NULL;
}

void
osp_log_set_thread_name_fn(const char *(*fn)(void))
{
	g_thread_name_fn = fn;
}

void
osp_vlog(enum osp_log_level level, const char *file, int line, const char *func,
	 const char *format, va_list ap)
{
	char msg[1024], stamp[64];
	const char *tname = NULL, *base;
	struct timespec ts;
	struct tm tm;
	va_list copy;

	if (level < OSP_LOG_ERROR || level > OSP_LOG_DEBUG) {
		return;
	}
	if (g_log_fn != NULL) {
		g_log_fn(level, file, line, func, format, ap);
		return;
	}
	if (level > g_print_level && level > g_log_level) {
		return;
	}
	va_copy(copy, ap);
	vsnprintf(msg, sizeof(msg), format, copy);
	va_end(copy);
	if (level <= g_log_level) {
		syslog(g_syslog_prio[level], "%s", msg);
	}
	if (level > g_print_level) {
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	if (g_thread_name_fn != NULL) {
		tname = g_thread_name_fn();
	}
	base = file ? strrchr(file, '/') : NULL;
	base = base ? base + 1 : (file ? file : "?");
	fprintf(stderr, "[%s.%06ld] %s %s:%4d:%s: *%s*: %s%s", stamp, ts.tv_nsec / 1000,
		tname ? tname : "-", base, line, func ? func : "?", g_level_names[level], msg,
		(msg[0] && msg[strlen(msg) - 1] == '\n') ? "" : "\n");
}

void
osp_log(enum osp_log_level level, const char *file, int line, const char *func,
	const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	osp_vlog(level, file, line, func, format, ap);
	va_end(ap);
}

void
osp_log_register_flag(struct osp_log_flag *flag)
{
	struct osp_log_flag **p;

	/* Constructors run single-threaded; keep the list sorted by name. */
	for (p = &g_flags; *p != NULL; p = &(*p)->next) {
		int c = strcmp(flag->name, (*p)->name);

		if (c == 0) {
			fprintf(stderr, "osprey: duplicate log flag '%s'\n", flag->name);
			return;
		}
		if (c < 0) {
			break;
		}
	}
	flag->next = *p;
	*p = flag;
}

static int
log_flag_set(const char *name, bool value)
{
	struct osp_log_flag *f;

	if (name == NULL) {
		return -EINVAL;
	}
	if (strcasecmp(name, "all") == 0) {
		for (f = g_flags; f != NULL; f = f->next) {
			f->enabled = value;
		}
		return 0;
	}
	for (f = g_flags; f != NULL; f = f->next) {
		if (strcasecmp(f->name, name) == 0) {
			f->enabled = value;
			return 0;
		}
	}
	return -EINVAL;
}

int
osp_log_set_flag(const char *name)
{
	return log_flag_set(name, true);
}

int
osp_log_clear_flag(const char *name)
{
	return log_flag_set(name, false);
}

int
osp_log_get_flag(const char *name)
{
	struct osp_log_flag *f;

	for (f = g_flags; f != NULL && name != NULL; f = f->next) {
		if (strcasecmp(f->name, name) == 0) {
			return f->enabled;
		}
	}
	return -EINVAL;
}

struct osp_log_flag *
osp_log_get_first_flag(void)
{
	return g_flags;
}

struct osp_log_flag *
osp_log_get_next_flag(struct osp_log_flag *flag)
{
	return flag->next;
}
