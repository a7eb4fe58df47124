/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Osprey logging: levels, named flags for debug output, and a timestamp and
 * thread name on every line.
 */
#ifndef OSPREY_LOG_H
#define OSPREY_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum osp_log_level {
	OSP_LOG_DISABLED = -1,
	OSP_LOG_ERROR,
	OSP_LOG_WARN,
	OSP_LOG_NOTICE,
	OSP_LOG_INFO,
	OSP_LOG_DEBUG,
};

struct osp_log_flag {
	const char *name;
	bool enabled;
	struct osp_log_flag *next;
};

/* Messages at or below this level are logged (default NOTICE). */
void osp_log_set_level(enum osp_log_level level);
enum osp_log_level osp_log_get_level(void);
/* Messages at or below this level are also printed to stderr (default NOTICE). */
void osp_log_set_print_level(enum osp_log_level level);
enum osp_log_level osp_log_get_print_level(void);
/* "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG" (case-insensitive); -1 if unknown. */
int osp_log_level_from_name(const char *name);
const char *osp_log_level_name(enum osp_log_level level);

/* Optional sink replacing syslog-style output; NULL restores the default. */
typedef void (*osp_log_fn)(int level, const char *file, int line, const char *func,
			   const char *format, va_list args);
void osp_log_open(osp_log_fn logfn);
void osp_log_close(void);

/* Thread name printed on each line; set by the thread library. */
void osp_log_set_thread_name_fn(const char *(*fn)(void));

void osp_log(enum osp_log_level level, const char *file, int line, const char *func,
	     const char *format, ...) __attribute__((format(printf, 5, 6)));
void osp_vlog(enum osp_log_level level, const char *file, int line, const char *func,
	      const char *format, va_list ap);

/* Flags: registered at start-up with OSP_LOG_REGISTER_COMPONENT(name). */
void osp_log_register_flag(struct osp_log_flag *flag);
/* "all" sets or clears every flag. Returns 0 or -EINVAL for an unknown name. */
int osp_log_set_flag(const char *name);
int osp_log_clear_flag(const char *name);
/* Returns 1/0 for a known flag, -EINVAL otherwise. */
int osp_log_get_flag(const char *name);
struct osp_log_flag *osp_log_get_first_flag(void);
struct osp_log_flag *osp_log_get_next_flag(struct osp_log_flag *flag);

#define OSP_LOG_REGISTER_COMPONENT(FLAG) \
	struct osp_log_flag OSP_LOG_##FLAG = { .name = #FLAG }; \
	__attribute__((constructor)) static void osp_log_flag_register_##FLAG(void) \
	{ osp_log_register_flag(&OSP_LOG_##FLAG); }

#define OSP_ERRLOG(...)    osp_log(OSP_LOG_ERROR, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define OSP_WARNLOG(...)   osp_log(OSP_LOG_WARN, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define OSP_NOTICELOG(...) osp_log(OSP_LOG_NOTICE, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define OSP_INFOLOG(...)   osp_log(OSP_LOG_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__)
/* Debug messages of component FLAG, printed only when the flag is set. */
#define OSP_DEBUGLOG(FLAG, ...) \
	do { \
		extern struct osp_log_flag OSP_LOG_##FLAG; \
		if (__builtin_expect(OSP_LOG_##FLAG.enabled, 0)) { \
			osp_log(OSP_LOG_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__); \
		} \
	} while (0)

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_LOG_H */
