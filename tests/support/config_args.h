/*
 * parse(c, err, cap, "--option", "value", ..., NULL): sv_config_init + sv_config_parse of
 * a minimal valid account (no config file, server vpn.test, user bob, --insecure) followed
 * by the given arguments (at most 24). For the option tests of platform/config.c.
 */
#ifndef SV_TESTS_SUPPORT_CONFIG_ARGS_H
#define SV_TESTS_SUPPORT_CONFIG_ARGS_H

#include <stdarg.h>
#include <stddef.h>

#include "platform/config.h"

static int
parse(struct sv_config *c, char *err, size_t cap, ...)
{
	char *argv[32] = { "sevpn-proxy", "--no-config", "--server", "vpn.test", "--user",
		"bob", "--insecure" };
	int argc = 7;
	va_list ap;

	va_start(ap, cap);
	for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
		argv[argc++] = a;
	va_end(ap);
	sv_config_init(c);
	return sv_config_parse(c, argc, argv, err, cap);
}

#endif
