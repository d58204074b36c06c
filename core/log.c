/*
 * Leveled logging: one line per call, written with a single fwrite so lines
 * from different places never interleave mid-line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "log.h"

#define LOG_LINE_MAX 1024

int sv_log_level = SV_LOG_INFO;
static FILE *log_sink;

static const char *const level_names[] = {
    [SV_LOG_ERR] = "error",   [SV_LOG_WARN] = "warn",   [SV_LOG_INFO] = "info",
    [SV_LOG_DEBUG] = "debug", [SV_LOG_TRACE] = "trace",
};

#define N_LEVELS (sizeof level_names / sizeof level_names[0])

/* see log.h */
void
sv_log_set_level(int level)
{
	if (level < SV_LOG_ERR)
		level = SV_LOG_ERR;
	if (level > SV_LOG_TRACE)
		level = SV_LOG_TRACE;
	sv_log_level = level;
}

/* see log.h */
void
sv_log_set_sink(FILE *f)
{
	log_sink = f;
}

/* see log.h */
int
sv_log_parse_level(const char *s)
{
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < N_LEVELS; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcasecmp(s, "err") == 0)
		return SV_LOG_ERR;
	if (strcasecmp(s, "warning") == 0)
		return SV_LOG_WARN;
	return -1;
}

/* Appends to line[*len], clamping at cap - 1 (snprintf semantics). */
__attribute__((format(printf, 4, 0))) static void
append(char *line, size_t cap, size_t *len, const char *fmt, va_list ap)
{
	if (*len >= cap - 1)
		return;
	int n = vsnprintf(line + *len, cap - *len, fmt, ap);
	if (n < 0)
		return;
	*len += (size_t)n;
	if (*len > cap - 1)
		*len = cap - 1;
}

__attribute__((format(printf, 4, 5))) static void
appendf(char *line, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	append(line, cap, len, fmt, ap);
	va_end(ap);
}

/* see log.h */
void
sv_log_write(int level, const char *module, int r, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	size_t len = 0;
	va_list ap;
	FILE *f = log_sink != NULL ? log_sink : stderr;
	const char *lvl =
	    level >= 0 && (size_t)level < N_LEVELS ? level_names[level] : "?";

	/* Reserve room for the newline: content is at most cap - 2 bytes. */
	appendf(line, sizeof line - 1, &len, "sevpn-proxy: %s: %s: ", lvl,
	        module != NULL ? module : "?");
	va_start(ap, fmt);
	append(line, sizeof line - 1, &len, fmt, ap);
	va_end(ap);
	if (r != 0)
		appendf(line, sizeof line - 1, &len, ": %s", sv_strerror(r));
	/*
	 * Messages may quote network strings: keep one event on one line and
	 * keep terminal control bytes out of the log.
	 */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[len++] = '\n';
	fwrite(line, 1, len, f);
	fflush(f);
}
