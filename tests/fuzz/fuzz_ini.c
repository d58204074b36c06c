/*
 * INI reader fuzz target: the configuration file is user input (a typo, a binary
 * file given by mistake), so any bytes must parse or be refused with a message and a
 * line number, never crash, overrun or loop. Every value handed to the callback must
 * be a NUL-terminated string shorter than a line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ini.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
check(void *arg, const char *section, const char *key, const char *value, unsigned line,
	char *err, size_t cap)
{
	unsigned *last = arg;
	if (line == 0 || line < *last || strlen(section) > SV_INI_LINE_MAX ||
	    (key == NULL && value != NULL) ||
	    (key != NULL && (key[0] == '\0' || strlen(key) > SV_INI_LINE_MAX)) ||
	    (value != NULL && strlen(value) > SV_INI_LINE_MAX))
		abort();
	*last = line;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	unsigned last = 0, line = 0;
	err[0] = '\0';
	int r = sv_ini_parse((const char *)data, size, check, &last, &line, err, sizeof err);
	if (r != 0 && (r != SV_E_INVAL || err[0] == '\0' || line == 0))
		abort(); /* every refusal says why and where */
	return 0;
}
