/*
 * Credentials loader fuzz target: certificate and key files are user input (a wrong
 * file, a truncated download), so any bytes must load or be refused with a message,
 * never crash or loop. Input: a 2-byte big-endian length n, then n bytes of
 * certificate file, then the key file. A pair that loads must sign, and the signature
 * must have the key's size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/credentials.h"
#include "core/err.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_credentials *c = NULL;
	char err[512];
	static const uint8_t rnd[20];
	uint8_t sig[SV_SESSION_SIG_MAX];
	size_t n, siglen;

	sv_log_set_level(SV_LOG_ERR);
	if (size < 2)
		return 0;
	n = (size_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;
	if (n > size)
		n = size;
	err[0] = 0;
	int r = sv_credentials_new(&c, data, n, data + n, size - n, err, sizeof err);
	if (r == 0) {
		if (sv_credentials_sign(c, rnd, sig, sizeof sig, &siglen) != 0 ||
		    siglen != (sv_credentials_key_bits(c) + 7) / 8)
			abort();
		sv_credentials_free(c);
	} else if (err[0] == 0 || c != NULL) {
		abort(); /* every refusal says why and returns nothing */
	}
	return 0;
}
