/*
 * sevpn-testhub: command line, key and certificate, the listener and the loop.
 * See hub.h for what the hub is; `sevpn-testhub --help` for how to run it.
 */
#define _GNU_SOURCE /* memmem */
#define SV_LOG_MODULE "hub"

#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "server.h"

static const char usage[] =
	"usage: sevpn-testhub --cert FILE --key FILE [--listen [127.0.0.1:]PORT]\n"
	"                     [--user NAME:PASSWORD]... [--anonymous NAME]... [options]\n"
	"\n"
	"A SoftEther-protocol VPN server for tests, without root: TLS, the signature and\n"
	"hello, password or anonymous login, then the session's frames go to a libslirp\n"
	"LAN: DHCP (10.77.0.100+), IPv6 router advertisements (fd77::/64), DNS from a\n"
	"fixed table, and TCP/UDP to the gateway 10.77.0.1 / fd77::1 mapped to this\n"
	"machine's 127.0.0.1 / ::1. Nothing else is reachable: every frame to another\n"
	"address is dropped before libslirp sees it.\n"
	"\n"
	"  --listen [HOST:]PORT      listening address (default 127.0.0.1:0 = any free port)\n"
	"  --cert FILE, --key FILE   server certificate and RSA key (PEM or DER)\n"
	"  --hub NAME                Virtual Hub name (repeatable; default DEFAULT)\n"
	"  --user NAME:PASSWORD      password user (authtype 1 hashed, 2 plain); --user NAME\n"
	"                            takes the password from $SEVPN_TESTHUB_PASSWORD\n"
	"  --anonymous NAME          anonymous user (authtype 0)\n"
	"  --dns-name NAME=IP        DNS record (repeatable; default intranet.test=10.77.0.1)\n"
	"  --hostfwd tcp:HIP:HP-GIP:GP  connections to HIP:HP here go to GIP:GP on the LAN\n"
	"  --dhcp-route DST/LEN,GW   a static route in DHCP option 121 (repeatable; test only:\n"
	"                            appended to libslirp's OFFER and ACK)\n"
	"  --dhcp-domain NAME        DHCP domain name (option 15)\n"
	"  --dhcp-search NAME        DHCP domain search list entry (option 119; up to 4)\n"
	"                            (a client's address; for reverse-forward tests)\n"
	"  --control PATH            a Unix socket (0600) taking commands at run time, one a\n"
	"                            line, answered \"ok\" or \"error: ...\":\n"
	"                              hostfwd tcp:HIP:HP-GIP:GP   as --hostfwd\n"
	"  --timeout MS              session timeout sent in the welcome (default 20000)\n"
	"  --max-sessions N          concurrent sessions (default 64; then error 16)\n"
	"  --arp-claim IP            another host has IP: ARP for it is answered with\n"
	"                            02:00:5e:c1:a1:4d; a client that declines it is\n"
	"                            offered the next address (conflict-detection tests)\n"
	"Fault injection:\n"
	"  --policy-auto-disconnect S  welcome policy AutoDisconnect: sessions end after S s\n"
	"  --fault-login-error N     refuse every login of a known hub with ERR_* code N\n"
	"  --fault-drop-after-bytes N  abort a session's TCP connection after N bytes to\n"
	"                            the client in the data phase\n"
	"  --fault-drop-after-ms N   ... or N ms after the welcome\n"
	"  --fault-drop-rst          abort with RST instead of FIN\n"
	"  --fault-drop-alternate    FIN, RST, FIN, ... one drop after the other\n"
	"  --fault-kill-session      a connection that ends without close_notify (a drop,\n"
	"                            FIN or RST) destroys its whole session, as 5.01 does:\n"
	"                            other connections close, its key is refused (13)\n"
	"  --fault-delay-ms N        delay every frame by N ms (both directions)\n"
	"  --fault-jitter-ms N       ... plus 0..N ms at random (order kept)\n"
	"  --fault-loss PERCENT      lose frames at random (both directions), e.g. 0.5\n"
	"  --fault-seed N            seed of the loss and jitter generator (default 1)\n"
	"  --fault-rate BYTES        cap each session at BYTES/s per direction (token\n"
	"                            bucket; queue of 512 KiB, then frames are dropped)\n"
	"  --fault-slow-tls-ms N     wait N ms before reading a connection's ClientHello\n"
	"  --fault-malformed WHAT    send something a client must reject:\n"
	"                              hello-random19     hello `random` of 19 bytes\n"
	"                              hello-truncated    hello PACK cut in the middle\n"
	"                              welcome-duplicate  welcome with an element twice\n"
	"                              welcome-oversized  welcome Content-Length of 2 MiB\n"
	"                              block-3201         a block with wire length 3201 at\n"
	"                                                 the drop trigger (else after 1 s)\n"
	"                              keepalive-513      a 513-byte keep-alive, likewise\n"
	"  -v, --verbose             more log output (repeat for more)\n"
	"  --log-level LEVEL         error, warn, info, debug or trace\n"
	"\n"
	"When ready it prints to stdout:  listening 127.0.0.1:PORT sha256=<certificate hash>\n";

/* --- key and certificate -------------------------------------------------------------- */

struct pem_obj {
	char name[64];
	uint8_t *data;
	size_t len, cap;
};

static void
pem_append(void *ctx, const void *p, size_t n)
{
	struct pem_obj *o = ctx;
	if (o->data == NULL && o->cap == (size_t)-1)
		return;
	if (o->len + n > o->cap) {
		size_t cap = (o->len + n) * 2;
		uint8_t *d = realloc(o->data, cap);
		if (d == NULL) {
			free(o->data);
			o->data = NULL;
			o->cap = (size_t)-1;
			return;
		}
		o->data = d;
		o->cap = cap;
	}
	memcpy(o->data + o->len, p, n);
	o->len += n;
}

static int
read_file(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -errno;
	uint8_t *d = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8192;
			if (cap > (1u << 20)) {
				free(d);
				fclose(f);
				return SV_E_TOOBIG;
			}
			uint8_t *nd = realloc(d, cap + 1);
			if (nd == NULL) {
				free(d);
				fclose(f);
				return SV_E_NOMEM;
			}
			d = nd;
		}
		size_t r = fread(d + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	*out = d;
	*len = n;
	return 0;
}

/* Finds the first object whose PEM name contains want (or the whole file if DER). */
static int
load_der(const char *path, const char *want, uint8_t **der, size_t *dlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = read_file(path, &buf, &len);
	if (r != 0)
		return r;
	if (len < 10 || memmem(buf, len, "-----BEGIN", 10) == NULL) {
		*der = buf;
		*dlen = len;
		return 0;
	}
	br_pem_decoder_context pc;
	struct pem_obj obj = { 0 };
	bool in = false, found = false;
	br_pem_decoder_init(&pc);
	buf[len++] = '\n'; /* read_file leaves one byte of room */
	const uint8_t *p = buf;
	size_t left = len;
	while (left > 0 && !found) {
		size_t t = br_pem_decoder_push(&pc, p, left);
		p += t;
		left -= t;
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			in = strstr(br_pem_decoder_name(&pc), want) != NULL;
			if (in) {
				const char *name = br_pem_decoder_name(&pc);
				size_t nl = strnlen(name, sizeof obj.name - 1);
				memcpy(obj.name, name, nl); /* truncated: it only names the object */
				obj.name[nl] = '\0';
				br_pem_decoder_setdest(&pc, pem_append, &obj);
			} else {
				br_pem_decoder_setdest(&pc, NULL, NULL);
			}
			break;
		case BR_PEM_END_OBJ:
			found = in && obj.data != NULL;
			break;
		case BR_PEM_ERROR:
			left = 0;
			break;
		default:
			break;
		}
	}
	explicit_bzero(buf, len);
	free(buf);
	if (!found) {
		free(obj.data);
		return SV_E_INVAL;
	}
	*der = obj.data;
	*dlen = obj.len;
	return 0;
}

static int
load_identity(struct hub *h, const char *cert, const char *key)
{
	uint8_t *der;
	size_t n;
	int r;
	if ((r = load_der(cert, "CERTIFICATE", &der, &n)) != 0) {
		log_err_r(r, "cannot load a certificate from %s", cert);
		return r;
	}
	h->chain[0].data = der;
	h->chain[0].data_len = n;
	h->chain_len = 1;
	br_sha256_context sh;
	br_sha256_init(&sh);
	br_sha256_update(&sh, der, n);
	br_sha256_out(&sh, h->cert_sha256);
	if ((r = load_der(key, "PRIVATE KEY", &der, &n)) != 0) {
		log_err_r(r, "cannot load a private key from %s", key);
		return r;
	}
	br_skey_decoder_init(&h->skey);
	br_skey_decoder_push(&h->skey, der, n);
	explicit_bzero(der, n);
	free(der);
	if (br_skey_decoder_last_error(&h->skey) != 0 ||
		br_skey_decoder_key_type(&h->skey) != BR_KEYTYPE_RSA) {
		log_err("%s: not an RSA private key", key);
		return SV_E_INVAL;
	}
	h->rsa = br_skey_decoder_get_rsa(&h->skey);
	return 0;
}

/* --- command line ------------------------------------------------------------------- */

static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-')
		return SV_E_INVAL;
	*out = v;
	return 0;
}

static int
parse_listen(struct hub_config *c, const char *arg)
{
	static char host[64];
	const char *colon = strrchr(arg, ':');
	uint64_t port;
	if (colon) {
		size_t n = (size_t)(colon - arg);
		if (arg[0] == '[' && n >= 2 && arg[n - 1] == ']') {
			arg++;
			n -= 2;
		}
		if (n == 0 || n >= sizeof host)
			return SV_E_INVAL;
		memcpy(host, arg, n);
		host[n] = '\0';
		c->listen_host = host;
		arg = colon + 1;
	}
	if (parse_u64(arg, 65535, &port) != 0)
		return SV_E_INVAL;
	c->listen_port = (unsigned)port;
	return 0;
}

/* "NAME:PASSWORD", or "NAME" with the password in $SEVPN_TESTHUB_PASSWORD (kept out of
 * the process list). */
static int
add_user(struct hub_config *c, const char *arg)
{
	const char *pw = getenv("SEVPN_TESTHUB_PASSWORD");
	if (strchr(arg, ':') != NULL || pw == NULL)
		return hub_config_add_user(c, arg);
	size_t n = strlen(arg) + strlen(pw) + 2;
	char *spec = malloc(n);
	if (spec == NULL)
		return SV_E_NOMEM;
	snprintf(spec, n, "%s:%s", arg, pw);
	int r = hub_config_add_user(c, spec);
	explicit_bzero(spec, n);
	free(spec);
	return r;
}

enum {
	OPT_LISTEN = 256, OPT_CERT, OPT_KEY, OPT_HUB, OPT_USER, OPT_ANON, OPT_DNS, OPT_TIMEOUT,
	OPT_MAXSESS, OPT_ARP_CLAIM, OPT_AUTO_DISC, OPT_F_LOGIN, OPT_F_BYTES, OPT_F_MS, OPT_F_RST, OPT_F_ALT, OPT_F_KILL,
	OPT_F_DELAY, OPT_F_JITTER, OPT_F_LOSS, OPT_F_SEED, OPT_F_RATE, OPT_F_SLOWTLS, OPT_F_BAD,
	OPT_LOGLEVEL, OPT_HOSTFWD, OPT_DHCP_ROUTE, OPT_DHCP_DOMAIN, OPT_DHCP_SEARCH,
	OPT_CONTROL,
};

/* --hostfwd specs (argv strings), applied once the LAN exists. */
static const char *hostfwds[8];
static size_t n_hostfwds;
static const char *control_path;

static const struct option long_opts[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "hub", required_argument, NULL, OPT_HUB },
	{ "user", required_argument, NULL, OPT_USER },
	{ "anonymous", required_argument, NULL, OPT_ANON },
	{ "dns-name", required_argument, NULL, OPT_DNS },
	{ "hostfwd", required_argument, NULL, OPT_HOSTFWD },
	{ "dhcp-route", required_argument, NULL, OPT_DHCP_ROUTE },
	{ "dhcp-domain", required_argument, NULL, OPT_DHCP_DOMAIN },
	{ "dhcp-search", required_argument, NULL, OPT_DHCP_SEARCH },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "max-sessions", required_argument, NULL, OPT_MAXSESS },
	{ "arp-claim", required_argument, NULL, OPT_ARP_CLAIM },
	{ "fault-login-error", required_argument, NULL, OPT_F_LOGIN },
	{ "policy-auto-disconnect", required_argument, NULL, OPT_AUTO_DISC },
	{ "fault-drop-after-bytes", required_argument, NULL, OPT_F_BYTES },
	{ "fault-drop-after-ms", required_argument, NULL, OPT_F_MS },
	{ "fault-drop-rst", no_argument, NULL, OPT_F_RST },
	{ "fault-drop-alternate", no_argument, NULL, OPT_F_ALT },
	{ "fault-kill-session", no_argument, NULL, OPT_F_KILL },
	{ "fault-delay-ms", required_argument, NULL, OPT_F_DELAY },
	{ "fault-jitter-ms", required_argument, NULL, OPT_F_JITTER },
	{ "fault-loss", required_argument, NULL, OPT_F_LOSS },
	{ "fault-seed", required_argument, NULL, OPT_F_SEED },
	{ "fault-rate", required_argument, NULL, OPT_F_RATE },
	{ "fault-slow-tls-ms", required_argument, NULL, OPT_F_SLOWTLS },
	{ "fault-malformed", required_argument, NULL, OPT_F_BAD },
	{ "log-level", required_argument, NULL, OPT_LOGLEVEL },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* "0.5" (percent, up to 4 decimals) -> parts per million. */
static int
parse_percent_ppm(const char *s, uint32_t *out)
{
	uint64_t whole = 0, frac = 0, scale = 10000;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return SV_E_INVAL;
	while (*p >= '0' && *p <= '9' && whole <= 100)
		whole = whole * 10 + (uint64_t)(*p++ - '0');
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9' && scale > 1) {
			scale /= 10;
			frac += (uint64_t)(*p++ - '0') * scale;
		}
	}
	uint64_t ppm = whole * 10000 + frac;
	if (*p != '\0' || ppm > 1000000)
		return SV_E_INVAL;
	*out = (uint32_t)ppm;
	return 0;
}

static const char *
opt_name(int opt)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

static int
parse_args(struct hub_config *c, int argc, char **argv, int *level)
{
	int opt;
	uint64_t v;
	while ((opt = getopt_long(argc, argv, "vh", long_opts, NULL)) != -1) {
		int r = 0;
		switch (opt) {
		case OPT_LISTEN: r = parse_listen(c, optarg); break;
		case OPT_CERT: c->cert_file = optarg; break;
		case OPT_KEY: c->key_file = optarg; break;
		case OPT_HUB:
			if (c->n_hubs >= sizeof c->hubs / sizeof c->hubs[0] ||
				(c->hubs[c->n_hubs] = strdup(optarg)) == NULL)
				r = SV_E_INVAL;
			else
				c->n_hubs++;
			break;
		case OPT_USER: r = add_user(c, optarg); break;
		case OPT_ANON: r = hub_config_add_anonymous(c, optarg); break;
		case OPT_DNS: r = hub_dns_add(&c->dns, optarg); break;
		case OPT_HOSTFWD:
			if (n_hostfwds == sizeof hostfwds / sizeof hostfwds[0])
				r = SV_E_INVAL;
			else
				hostfwds[n_hostfwds++] = optarg;
			break;
		case OPT_DHCP_ROUTE: r = hub_dhcp_route_add(&c->net, optarg); break;
		case OPT_DHCP_DOMAIN: c->net.dhcp_domain = optarg; break;
		case OPT_DHCP_SEARCH: {
			size_t k = 0;
			while (k < 4 && c->net.dhcp_search[k] != NULL)
				k++;
			if (k == 4)
				r = SV_E_TOOBIG;
			else
				c->net.dhcp_search[k] = optarg;
			break;
		}
		case OPT_CONTROL: control_path = optarg; break;
		case OPT_TIMEOUT:
			if ((r = parse_u64(optarg, 600000, &v)) == 0 && v < 1000)
				r = SV_E_INVAL;
			c->timeout_ms = (uint32_t)v;
			break;
		case OPT_ARP_CLAIM:
			if (inet_pton(AF_INET, optarg, c->net.claim) != 1)
				r = SV_E_INVAL;
			c->net.has_claim = true;
			break;
		case OPT_MAXSESS:
			r = parse_u64(optarg, 100000, &v);
			c->max_sessions = (unsigned)v;
			break;
		case OPT_AUTO_DISC:
			r = parse_u64(optarg, 86400, &v);
			c->auto_disconnect_s = (uint32_t)v;
			break;
		case OPT_F_LOGIN:
			r = parse_u64(optarg, 1000, &v);
			c->faults.login_error = (unsigned)v;
			break;
		case OPT_F_BYTES: r = parse_u64(optarg, UINT64_MAX, &c->faults.drop_after_bytes); break;
		case OPT_F_MS: r = parse_u64(optarg, UINT64_MAX, &c->faults.drop_after_ms); break;
		case OPT_F_RST: c->faults.drop_rst = true; break;
		case OPT_F_ALT: c->faults.drop_alternate = true; break;
		case OPT_F_KILL: c->faults.kill_session = true; break;
		case OPT_F_DELAY:
			r = parse_u64(optarg, 60000, &v);
			c->faults.delay_ms = (uint32_t)v;
			break;
		case OPT_F_JITTER:
			r = parse_u64(optarg, 60000, &v);
			c->faults.jitter_ms = (uint32_t)v;
			break;
		case OPT_F_LOSS: r = parse_percent_ppm(optarg, &c->faults.loss_ppm); break;
		case OPT_F_SEED: r = parse_u64(optarg, UINT64_MAX, &c->faults.seed); break;
		case OPT_F_RATE:
			if ((r = parse_u64(optarg, UINT64_MAX / 1000000u, &c->faults.rate)) == 0 &&
				c->faults.rate > 0 && c->faults.rate < 1000)
				r = SV_E_INVAL; /* below 1000 B/s a 1514-byte frame waits > 1.5 s */
			break;
		case OPT_F_SLOWTLS:
			r = parse_u64(optarg, 120000, &v);
			c->faults.slow_tls_ms = (uint32_t)v;
			break;
		case OPT_F_BAD: {
			int m = hub_malformed_parse(optarg);
			if (m < 0)
				r = SV_E_INVAL;
			else
				c->faults.malformed = (enum hub_malformed)m;
			break;
		}
		case OPT_LOGLEVEL:
			if ((*level = sv_log_parse_level(optarg)) < 0)
				r = SV_E_INVAL;
			break;
		case 'v':
			if (*level < SV_LOG_TRACE)
				(*level)++;
			break;
		case 'h': fputs(usage, stdout); exit(0);
		default: return SV_E_INVAL;
		}
		if (r != 0) {
			fprintf(stderr, "sevpn-testhub: bad value for --%s: '%s'\n", opt_name(opt),
				optarg ? optarg : "");
			return r;
		}
	}
	if (optind != argc || c->cert_file == NULL || c->key_file == NULL) {
		fputs(usage, stderr);
		return SV_E_INVAL;
	}
	if (c->dns.n == 0)
		(void)hub_dns_add(&c->dns, "intranet.test=10.77.0.1");
	return 0;
}

/* --- loop ----------------------------------------------------------------------------- */

static void
on_connection(uv_stream_t *s, int status)
{
	struct hub *h = s->data;
	if (status < 0) {
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	hub_conn_accept(h);
}

static void
on_flush(uv_prepare_t *p)
{
	struct hub *h = p->data;
	hub_conn_flush_all(h);
	if (h->stopping && h->conns == NULL)
		uv_close((uv_handle_t *)p, NULL);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct hub *h = s->data;
	if (h->stopping)
		return;
	log_info("signal %d: stopping", signum);
	h->stopping = true;
	uv_close((uv_handle_t *)&h->listener, NULL);
	uv_close((uv_handle_t *)&h->sigint, NULL);
	uv_close((uv_handle_t *)&h->sigterm, NULL);
	hub_conn_close_all(h);
	hub_sess_end_all(h);
	hub_control_stop(h);
	hub_lan_free(h->lan);
	h->lan = NULL;
}

static int
start_listener(struct hub *h, const struct hub_config *cfg)
{
	struct sockaddr_storage ss;
	int r;
	if (uv_ip4_addr(cfg->listen_host, (int)cfg->listen_port, (struct sockaddr_in *)&ss) != 0 &&
		uv_ip6_addr(cfg->listen_host, (int)cfg->listen_port, (struct sockaddr_in6 *)&ss) != 0) {
		log_err("--listen: '%s' is not an IP address", cfg->listen_host);
		return SV_E_INVAL;
	}
	uv_tcp_init(h->loop, &h->listener);
	h->listener.data = h;
	if ((r = uv_tcp_bind(&h->listener, (struct sockaddr *)&ss, 0)) != 0 ||
		(r = uv_listen((uv_stream_t *)&h->listener, 64, on_connection)) != 0) {
		log_err("listen on %s:%u: %s", cfg->listen_host, cfg->listen_port, uv_strerror(r));
		return r;
	}
	if (strcmp(cfg->listen_host, "127.0.0.1") != 0 && strcmp(cfg->listen_host, "::1") != 0)
		log_warn("listening on %s, not loopback: whoever can reach it and log in can reach "
			 "this machine's loopback services through the hub", cfg->listen_host);
	int sl = sizeof ss;
	char name[64];
	uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &sl);
	unsigned port;
	if (ss.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&ss, name, sizeof name);
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		uv_ip4_name((struct sockaddr_in *)&ss, name, sizeof name);
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	char fp[65];
	for (int i = 0; i < 32; i++)
		snprintf(fp + 2 * i, 3, "%02x", h->cert_sha256[i]);
	printf(ss.ss_family == AF_INET6 ? "listening [%s]:%u sha256=%s\n" :
					  "listening %s:%u sha256=%s\n",
		name, port, fp);
	fflush(stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	struct hub_config cfg;
	struct hub h;
	int level = SV_LOG_INFO, rc = 1;
	hub_config_init(&cfg);
	memset(&h, 0, sizeof h);
	if (parse_args(&cfg, argc, argv, &level) != 0) {
		hub_config_cleanup(&cfg);
		return 2;
	}
	sv_log_set_level(level);
	if (load_identity(&h, cfg.cert_file, cfg.key_file) != 0)
		goto out;
	h.loop = uv_default_loop();
	h.cfg = &cfg;
	h.rng = cfg.faults.seed ? cfg.faults.seed : 1;
	if ((h.lan = hub_lan_new(h.loop, &cfg.net, &cfg.dns, 0, hub_switch_emit, &h)) == NULL)
		goto out;
	for (size_t i = 0; i < n_hostfwds; i++)
		if (hub_lan_hostfwd(h.lan, hostfwds[i]) != 0)
			goto out;
	if (control_path != NULL && hub_control_start(&h, control_path) != 0)
		goto out;
	if (start_listener(&h, &cfg) != 0)
		goto out;
	uv_prepare_init(h.loop, &h.flush);
	h.flush.data = &h;
	uv_prepare_start(&h.flush, on_flush);
	uv_signal_init(h.loop, &h.sigint);
	uv_signal_init(h.loop, &h.sigterm);
	h.sigint.data = h.sigterm.data = &h;
	uv_signal_start(&h.sigint, on_signal, SIGINT);
	uv_signal_start(&h.sigterm, on_signal, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	log_info("users: %zu, hubs: %zu, DNS names: %zu", cfg.n_users, cfg.n_hubs ? cfg.n_hubs : 1,
		cfg.dns.n);
	uv_run(h.loop, UV_RUN_DEFAULT);
	uv_loop_close(h.loop);
	rc = 0;
out:
	free((void *)h.chain[0].data);
	explicit_bzero(&h.skey, sizeof h.skey);
	hub_config_cleanup(&cfg);
	return rc;
}
