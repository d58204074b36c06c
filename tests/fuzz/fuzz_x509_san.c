/*
 * Fuzz target for the iPAddress subjectAltName walker in core/tls.c: the input
 * is taken as a DER certificate and searched for a few fixed addresses. The
 * walker must stay inside the input and answer 0 or 1.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/tls.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t v4[4] = {127, 0, 0, 1};
	static const uint8_t v6[16] = {[15] = 1};
	int r4 = sv_tls_cert_has_ip(data, size, v4, sizeof v4);
	int r6 = sv_tls_cert_has_ip(data, size, v6, sizeof v6);

	if ((r4 != 0 && r4 != 1) || (r6 != 0 && r6 != 1))
		abort();
	/* an address taken from the input itself reaches the comparison more
	 * often */
	if (size >= 4 && sv_tls_cert_has_ip(data, size, data + size - 4, 4) > 1)
		abort();
	return 0;
}
