/*
 * Fuzz target for the test hub's parsers of client bytes. The first input byte picks
 * the parser, the rest is its input:
 *   0  hub_http_parse_request
 *   1  an Ethernet frame: hub_frame_filter (with a fragment table kept across inputs),
 *      hub_frame_classify, hub_dns_reply, hub_frame_rewrite_dns
 *   2  a login PACK: sv_pack_decode then hub_login_check
 * Seeds in tests/hub/corpus/hub/ (made by corpus/make_seeds.py).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/pack.h"
#include "hub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_frame(const uint8_t *p, size_t n)
{
	static struct hub_net net;
	static struct hub_dns dns;
	static uint8_t out[2048];
	if (dns.n == 0) {
		hub_net_defaults(&net);
		(void)hub_dns_add(&dns, "intranet.test=10.77.0.1");
		(void)hub_dns_add(&dns, "intranet.test=fd77::1");
	}
	/* the stateful filter, its fragment table kept across inputs, the clock advancing
	 * by a step taken from the input so entries also expire */
	static struct hub_frag_table frags;
	static uint64_t now;
	now += n ? p[0] % 8 * 1000u : 1;
	(void)hub_frame_filter(&net, &frags, now, p, n);
	if (frags.n > HUB_FRAG_MAX)
		abort();
	if (hub_frame_classify(&net, p, n) == HUB_DNS) {
		size_t r = hub_dns_reply(&dns, p, n, out, sizeof out);
		if (r > sizeof out)
			abort();
	}
	uint8_t *copy = malloc(n ? n : 1);
	if (copy == NULL)
		return;
	memcpy(copy, p, n);
	hub_frame_rewrite_dns(&net, copy, n);
	free(copy);
	/* --arp-claim: the ARP answer and the DHCP option-50 rewrite (may grow by 7) */
	static const uint8_t claim[4] = { 10, 77, 0, 100 }, mac[6] = HUB_CLAIM_MAC;
	uint8_t arp[42], ch[6], req[4];
	(void)hub_arp_claim_reply(claim, mac, p, n, arp);
	(void)hub_dhcp_peek(p, n, ch, req);
	size_t cap = n + 7;
	uint8_t *grow = malloc(cap);
	if (grow == NULL)
		return;
	memcpy(grow, p, n);
	if (hub_dhcp_set_requested(grow, n, cap, claim) > cap)
		abort();
	free(grow);
}

static void
fuzz_login(const uint8_t *p, size_t n)
{
	static struct hub_config cfg;
	static bool ready;
	static const uint8_t rnd[20];
	if (!ready) {
		hub_config_init(&cfg);
		(void)hub_config_add_user(&cfg, "alice:Secr3tPass");
		(void)hub_config_add_anonymous(&cfg, "guest");
		ready = true;
	}
	struct sv_pack pk;
	struct hub_login_result res;
	sv_pack_init(&pk);
	if (sv_pack_decode(&pk, p, n) == 0)
		hub_login_check(&cfg, &pk, rnd, &res);
	sv_pack_cleanup(&pk);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct hub_http_req req;
	switch (data[0]) {
	case 0: {
		/* a copy of exactly the input, so reads past it are caught */
		uint8_t *copy = malloc(size - 1 ? size - 1 : 1);
		if (copy == NULL)
			return 0;
		memcpy(copy, data + 1, size - 1);
		(void)hub_http_parse_request(copy, size - 1, &req);
		free(copy);
		break;
	}
	case 1:
		fuzz_frame(data + 1, size - 1);
		break;
	case 2:
		fuzz_login(data + 1, size - 1);
		break;
	default:
		break;
	}
	return 0;
}
