/*
 * Fuzz target for the upstream proxy client (core/upstream): the input is a
 * proxy's answer stream, fed to an HTTP CONNECT or SOCKS5 handshake; the
 * whole input is also tried as a proxy URL.
 *
 * Input: byte 0 chooses the setup (bit 0: SOCKS5, bit 1: credentials, bits
 * 2-3: target is a name / IPv4 / IPv6, bits 4-7: chunk size 1..15 of the split
 * run, 0 meaning 1); the rest is what the proxy sends. It is fed once whole
 * and once split into chunks.
 *
 * Properties checked: the outcome (established at the same offset, or the
 * same error) and the bytes sent do not depend on how the answer is split;
 * an error sticks and has a sentence naming the proxy, never the password
 * (unless the proxy itself sent it, as quoted answers may show); a
 * URL that parses describes itself without the credentials.
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/upstream.h"

#define PASSWORD "fuzzpw"

struct outcome {
	int r;     /* last result */
	size_t at; /* input offset where the tunnel began, if r == 1 */
	uint8_t out[2048];
	size_t out_len;
};

static void
drain(struct sv_upstream *u, struct outcome *o)
{
	size_t len;
	const uint8_t *p = sv_upstream_output(u, &len);
	if (o->out_len + len > sizeof o->out)
		abort();
	memcpy(o->out + o->out_len, p, len);
	o->out_len += len;
	sv_upstream_output_ack(u, len);
}

/* answer[0..n): what the proxy sent, which the text may quote. */
static void
check_error(struct sv_upstream *u, int r, const uint8_t *answer, size_t n)
{
	const char *t = sv_upstream_error_text(u);
	if (r >= 0 || sv_upstream_error(u) != r)
		abort();
	if (strncmp(t, "the upstream proxy ", 19) != 0)
		abort();
	if (strstr(t, PASSWORD) != NULL &&
	    memmem(answer, n, PASSWORD, strlen(PASSWORD)) == NULL)
		abort();
	if (sv_upstream_input(u, (const uint8_t *)"x", 1, NULL) != r)
		abort();
}

static void
run(const struct sv_upstream_cfg *cfg, const char *target, size_t chunk,
    const uint8_t *p, size_t n, struct outcome *o)
{
	struct sv_upstream *u = NULL;
	size_t off = 0;

	memset(o, 0, sizeof *o);
	if (sv_upstream_new(&u, cfg, target, 443) != 0)
		abort();
	drain(u, o);
	while (off < n) {
		size_t k = chunk == 0 || chunk > n - off ? n - off : chunk;
		size_t used = k + 1;
		o->r = sv_upstream_input(u, p + off, k, &used);
		drain(u, o);
		if (o->r == 1) {
			if (used > k || !sv_upstream_is_established(u))
				abort();
			o->at = off + used;
			break;
		}
		if (o->r < 0) {
			check_error(u, o->r, p, n);
			break;
		}
		if (o->r != 0)
			abort();
		off += k;
	}
	sv_upstream_free(u);
}

static void
check_url(const uint8_t *data, size_t size)
{
	char url[600], err[256], desc[600], desc2[600];
	struct sv_upstream_cfg c;
	size_t n = size < sizeof url - 1 ? size : sizeof url - 1;

	memcpy(url, data, n);
	url[n] = '\0';
	if (sv_upstream_parse_url(url, &c, err, sizeof err) != 0)
		return;
	if (c.host[0] == '\0' || c.port == 0)
		abort();
	/* the description must not depend on the credentials */
	sv_upstream_cfg_describe(&c, desc, sizeof desc);
	strcpy(c.user, "other");
	strcpy(c.pass, "other");
	sv_upstream_cfg_describe(&c, desc2, sizeof desc2);
	if (strcmp(desc, desc2) != 0)
		abort();
	sv_upstream_cfg_wipe(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const targets[] = {"vpn.example", "192.0.2.1",
	                                      "fd00::1", "vpn.example"};
	struct sv_upstream_cfg cfg;
	static struct outcome whole, split;

	check_url(data, size);
	if (size < 1)
		return 0;
	memset(&cfg, 0, sizeof cfg);
	cfg.kind = data[0] & 1 ? SV_UPSTREAM_SOCKS5 : SV_UPSTREAM_HTTP;
	strcpy(cfg.host, "proxy.example");
	cfg.port = 3128;
	if (data[0] & 2) {
		cfg.have_auth = true;
		strcpy(cfg.user, "fuzzuser");
		strcpy(cfg.pass, PASSWORD);
	}
	const char *target = targets[(data[0] >> 2) & 3];
	size_t chunk = data[0] >> 4;

	run(&cfg, target, 0, data + 1, size - 1, &whole);
	run(&cfg, target, chunk == 0 ? 1 : chunk, data + 1, size - 1, &split);
	if (whole.r != split.r || whole.at != split.at ||
	    whole.out_len != split.out_len ||
	    memcmp(whole.out, split.out, whole.out_len) != 0)
		abort();
	return 0;
}
