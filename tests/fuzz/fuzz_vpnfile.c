/*
 * .vpn account file fuzz target: account files come from other people (mailed by an
 * administrator, downloaded), so any bytes must load or be refused with a message,
 * never crash, overrun or leak. An accepted file must satisfy what the header
 * promises: host and hub set, strings never NULL, credentials matching AuthType.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/vpnfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_vpnfile v;
	char err[384];
	err[0] = '\0';
	int r = sv_vpnfile_parse(&v, data, size, err, sizeof err);
	if (r != 0) {
		if (err[0] == '\0' || v.hostname != NULL)
			abort(); /* every refusal says why and leaves nothing behind */
		return 0;
	}
	if (v.hostname == NULL || v.hostname[0] == '\0' || v.hub == NULL || v.hub[0] == '\0' ||
	    v.port == 0 || v.username == NULL || v.account_name == NULL ||
	    v.proxy_name == NULL || v.proxy_username == NULL || v.proxy_password == NULL ||
	    v.custom_http_header == NULL || v.authtype > 3 ||
	    (v.authtype == 3 && (v.client_cert == NULL || v.client_key == NULL)) ||
	    (v.authtype != 0 && v.username[0] == '\0'))
		abort();
	sv_vpnfile_cleanup(&v);
	return 0;
}
