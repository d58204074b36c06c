/*
 * Leveled logging with a module tag.
 *
 * Each .c file defines SV_LOG_MODULE before including this header. The level is checked
 * before the arguments are formatted. Lines go to stderr (or the sink set by main) as
 *   "sevpn-proxy: warn: socks: conn 12: connect 10.0.0.1:80: connection refused"
 * Never log passwords, hashes or keys.
 */
#ifndef SV_LOG_H
#define SV_LOG_H

#include <stdio.h>

enum sv_log_level {
	SV_LOG_ERR = 0,
	SV_LOG_WARN,
	SV_LOG_INFO,
	SV_LOG_DEBUG,
	SV_LOG_TRACE,
};

extern int sv_log_level;

void sv_log_set_level(int level);
/* Sink for log lines; NULL restores stderr. Borrowed: caller keeps it open. */
void sv_log_set_sink(FILE *f);
/* Parse "error|warn|info|debug|trace"; returns the level or -1. */
int sv_log_parse_level(const char *s);

/* r != 0 appends ": <sv_strerror(r)>". */
void sv_log_write(int level, const char *module, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#ifndef SV_LOG_MODULE
#define SV_LOG_MODULE "main"
#endif

#define SV_LOG_AT(lvl, r, ...)                                                 \
	do {                                                                   \
		if ((lvl) <= sv_log_level)                                     \
			sv_log_write((lvl), SV_LOG_MODULE, (r), __VA_ARGS__);  \
	} while (0)

#define log_err(...) SV_LOG_AT(SV_LOG_ERR, 0, __VA_ARGS__)
#define log_warn(...) SV_LOG_AT(SV_LOG_WARN, 0, __VA_ARGS__)
#define log_info(...) SV_LOG_AT(SV_LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...) SV_LOG_AT(SV_LOG_DEBUG, 0, __VA_ARGS__)
#define log_trace(...) SV_LOG_AT(SV_LOG_TRACE, 0, __VA_ARGS__)
#define log_err_r(r, ...) SV_LOG_AT(SV_LOG_ERR, (r), __VA_ARGS__)
#define log_warn_r(r, ...) SV_LOG_AT(SV_LOG_WARN, (r), __VA_ARGS__)
#define log_info_r(r, ...) SV_LOG_AT(SV_LOG_INFO, (r), __VA_ARGS__)
#define log_debug_r(r, ...) SV_LOG_AT(SV_LOG_DEBUG, (r), __VA_ARGS__)

#endif
