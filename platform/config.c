/* Command line parsing; see config.h. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/log.h"
#include "core/session.h"
#include "platform/config.h"

static const char usage[] =
	"usage: sevpn-proxy --server HOST[:PORT] --user NAME [--hub HUB]\n"
	"                   [--pin SHA256 | --ca FILE | --system-ca | --insecure]\n"
	"                   --socks [ADDR:]PORT [options]\n"
	"\n"
	"Connects to a SoftEther VPN Server without root, TUN/TAP or a daemon, takes an\n"
	"address on the Virtual Hub's network by DHCP, and serves that network locally as\n"
	"a SOCKS5 proxy.\n"
	"\n"
	"Server and account:\n"
	"  --server HOST[:PORT]    VPN server (port 443 by default)\n"
	"  --hub HUB               Virtual Hub name (default DEFAULT)\n"
	"  --user NAME             user name on the hub\n"
	"  --password-file FILE    read the password from FILE (first line)\n"
	"                          (else $SEVPN_PASSWORD, else a prompt on the terminal)\n"
	"  --auth TYPE             password (default), plain (RADIUS / NT domain users),\n"
	"                          anonymous, or cert (needs --cert and --key)\n"
	"  --cert FILE             client certificate for --auth cert (PEM or DER)\n"
	"  --key FILE              its RSA private key (PEM or DER, PKCS#1 or PKCS#8,\n"
	"                          unencrypted; RSA 1024..4096 bits, no EC)\n"
	"Server certificate (default: the system CA bundle and the host name):\n"
	"  --pin SHA256            SHA-256 fingerprint of the server certificate, as\n"
	"                          `openssl x509 -noout -fingerprint -sha256` prints it\n"
	"  --ca FILE               trust the CA certificates in FILE (PEM), check the name\n"
	"  --system-ca             trust the system CA bundle, check the name\n"
	"  --insecure              accept any certificate (exposes the session to\n"
	"                          anyone on the path; for tests only)\n"
	"Local side:\n"
	"  --socks [ADDR:]PORT     SOCKS5 listener (default address 127.0.0.1);\n"
	"                          may be given several times\n"
	"  --mac MAC               Ethernet address on the hub (default: derived from\n"
	"                          this machine and account, stable across runs)\n"
	"  --connect-timeout SEC   TCP connect timeout through the tunnel (default 10)\n"
	"  -v, --verbose           more log output (repeat for protocol detail)\n"
	"  -q, --quiet             errors only\n"
	"  --log-level LEVEL       error, warn, info, debug or trace\n"
	"  -h, --help              this text\n"
	"  --version               version\n"
	"\n"
	"When the tunnel is up, one line is printed to stderr:\n"
	"  ready socks5=127.0.0.1:1080 ip=10.77.0.123/24 gw=10.77.0.1 dns=10.77.0.1\n"
	"Exit status: 0 after SIGINT/SIGTERM, 2 if the server refused the login or the\n"
	"command line is wrong, 3 if the server certificate failed verification,\n"
	"1 for other failures.\n";

/* see config.h */
const char *
sv_config_usage(void)
{
	return usage;
}

/* see config.h */
void
sv_config_init(struct sv_config *c)
{
	memset(c, 0, sizeof *c);
	c->server_port = 443;
	c->authtype = SV_AUTH_PASSWORD;
	c->verify = SV_TLS_VERIFY_PIN;
	c->connect_timeout_ms = 10000;
	c->log_level = SV_LOG_INFO;
}

/* see config.h */
void
sv_config_cleanup(struct sv_config *c)
{
	free(c->server_host);
	free(c->hub);
	free(c->user);
	free(c->password_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->ca_file);
	for (unsigned i = 0; i < c->n_socks; i++)
		free(c->socks[i]);
	memset(c, 0, sizeof *c);
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* see config.h */
int
sv_config_parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t m[6];
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
		if (hi < 0 || lo < 0)
			return SV_E_INVAL;
		m[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (i < 5) {
			if (*s != ':' && *s != '-')
				return SV_E_INVAL;
			s++;
		}
	}
	if (*s != '\0' || (m[0] & 1)) /* multicast addresses cannot be a NIC's */
		return SV_E_INVAL;
	memcpy(mac, m, 6);
	return 0;
}

static int
parse_port(const char *s, uint16_t *port)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v == 0 || v > 65535)
		return SV_E_INVAL;
	*port = (uint16_t)v;
	return 0;
}

/* see config.h */
int
sv_config_parse_hostport(const char *s, uint16_t defport, char **host, uint16_t *port)
{
	const char *h = s, *p = NULL;
	size_t hlen;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL)
			return SV_E_INVAL;
		h = s + 1;
		hlen = (size_t)(close - h);
		if (close[1] == ':')
			p = close + 2;
		else if (close[1] != '\0')
			return SV_E_INVAL;
	} else {
		const char *colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			hlen = (size_t)(colon - s);
			p = colon + 1;
		} else {
			hlen = strlen(s); /* no port, or a bare IPv6 literal */
		}
	}
	uint16_t pv = defport;
	if (hlen == 0 || (p != NULL && parse_port(p, &pv) != 0))
		return SV_E_INVAL;
	char *copy = strndup(h, hlen);
	if (copy == NULL)
		return SV_E_NOMEM;
	*host = copy;
	*port = pv;
	return 0;
}

enum {
	OPT_SERVER = 256,
	OPT_HUB,
	OPT_USER,
	OPT_PASSWORD_FILE,
	OPT_AUTH,
	OPT_CERT,
	OPT_KEY,
	OPT_PIN,
	OPT_CA,
	OPT_SYSTEM_CA,
	OPT_INSECURE,
	OPT_SOCKS,
	OPT_MAC,
	OPT_CONNECT_TIMEOUT,
	OPT_LOG_LEVEL,
	OPT_VERSION,
};

static const struct option options[] = {
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "hub", required_argument, NULL, OPT_HUB },
	{ "user", required_argument, NULL, OPT_USER },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "auth", required_argument, NULL, OPT_AUTH },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "pin", required_argument, NULL, OPT_PIN },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "system-ca", no_argument, NULL, OPT_SYSTEM_CA },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "socks", required_argument, NULL, OPT_SOCKS },
	{ "mac", required_argument, NULL, OPT_MAC },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static int fail(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return SV_E_INVAL;
}

static int
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : SV_E_NOMEM;
}

/* One option; returns 0 or SV_E_INVAL with err filled. */
static int
apply(struct sv_config *c, int opt, const char *arg, int *nverify, char *err, size_t cap)
{
	switch (opt) {
	case OPT_SERVER:
		free(c->server_host);
		c->server_host = NULL;
		if (sv_config_parse_hostport(arg, 443, &c->server_host, &c->server_port) != 0)
			return fail(err, cap, "--server '%s': expected HOST, HOST:PORT or [IPv6]:PORT", arg);
		return 0;
	case OPT_HUB:
		return set_str(&c->hub, arg);
	case OPT_USER:
		return set_str(&c->user, arg);
	case OPT_PASSWORD_FILE:
		return set_str(&c->password_file, arg);
	case OPT_AUTH:
		if (strcasecmp(arg, "password") == 0)
			c->authtype = SV_AUTH_PASSWORD;
		else if (strcasecmp(arg, "plain") == 0)
			c->authtype = SV_AUTH_PLAIN;
		else if (strcasecmp(arg, "anonymous") == 0)
			c->authtype = SV_AUTH_ANONYMOUS;
		else if (strcasecmp(arg, "cert") == 0)
			c->authtype = SV_AUTH_CERT;
		else
			return fail(err, cap, "--auth '%s': expected password, plain, anonymous or cert",
				arg);
		return 0;
	case OPT_CERT:
		return set_str(&c->cert_file, arg);
	case OPT_KEY:
		return set_str(&c->key_file, arg);
	case OPT_PIN:
		if (sv_tls_parse_pin(arg, c->pin) != 0)
			return fail(err, cap, "--pin '%s': expected the certificate's SHA-256 "
				"fingerprint, 64 hex digits (colons allowed), as "
				"`openssl x509 -noout -fingerprint -sha256` prints it", arg);
		c->have_pin = true;
		c->verify = SV_TLS_VERIFY_PIN;
		(*nverify)++;
		return 0;
	case OPT_CA:
		c->verify = SV_TLS_VERIFY_CA;
		(*nverify)++;
		return set_str(&c->ca_file, arg);
	case OPT_SYSTEM_CA:
		c->verify = SV_TLS_VERIFY_CA;
		(*nverify)++;
		return 0;
	case OPT_INSECURE:
		c->verify = SV_TLS_VERIFY_INSECURE;
		(*nverify)++;
		return 0;
	case OPT_SOCKS:
		if (c->n_socks == SV_MAX_LISTENERS)
			return fail(err, cap, "--socks %s: too many listeners", arg);
		c->socks[c->n_socks] = strdup(arg);
		if (c->socks[c->n_socks] == NULL)
			return SV_E_NOMEM;
		c->n_socks++;
		return 0;
	case OPT_MAC:
		if (sv_config_parse_mac(arg, c->mac) != 0)
			return fail(err, cap, "--mac '%s': expected six hex bytes like "
				"02:5e:00:00:00:01 (not a multicast address)", arg);
		c->have_mac = true;
		return 0;
	case OPT_CONNECT_TIMEOUT: {
		char *end;
		double v = strtod(arg, &end);
		if (end == arg || *end != '\0' || !(v > 0 && v <= 600))
			return fail(err, cap, "--connect-timeout '%s': expected seconds between 0 and 600", arg);
		c->connect_timeout_ms = (unsigned)(v * 1000);
		return 0;
	}
	case OPT_LOG_LEVEL:
		c->log_level = sv_log_parse_level(arg);
		if (c->log_level < 0)
			return fail(err, cap, "--log-level '%s': expected error, warn, info, debug or trace", arg);
		return 0;
	case 'v':
		if (c->log_level < SV_LOG_TRACE)
			c->log_level++;
		return 0;
	case 'q':
		c->log_level = SV_LOG_ERR;
		return 0;
	case 'h':
		c->want_help = true;
		return 0;
	case OPT_VERSION:
		c->want_version = true;
		return 0;
	default:
		return fail(err, cap, "%s", "unknown option; see --help");
	}
}

static int
validate(struct sv_config *c, int nverify, char *err, size_t cap)
{
	if (c->server_host == NULL)
		return fail(err, cap, "%s", "no --server given: say which SoftEther VPN Server to "
			"connect to (--server HOST[:PORT])");
	if (c->user == NULL && c->authtype != SV_AUTH_ANONYMOUS)
		return fail(err, cap, "%s", "no --user given: name the user account on the hub");
	if (c->user == NULL && (c->user = strdup("anonymous")) == NULL)
		return SV_E_NOMEM;
	if (c->authtype == SV_AUTH_CERT && (c->cert_file == NULL || c->key_file == NULL))
		return fail(err, cap, "%s", "--auth cert needs both --cert FILE (the client "
			"certificate) and --key FILE (its RSA private key)");
	if (c->authtype != SV_AUTH_CERT && (c->cert_file != NULL || c->key_file != NULL))
		return fail(err, cap, "%s", "--cert and --key are used only with --auth cert");
	if (nverify == 0) /* like curl: the system's CAs and the host name, unless told */
		c->verify = SV_TLS_VERIFY_CA;
	if (nverify > 1)
		return fail(err, cap, "%s", "--pin, --ca, --system-ca and --insecure exclude each "
			"other: give exactly one");
	if (c->n_socks == 0)
		return fail(err, cap, "%s", "no --socks listener given: nothing would use the "
			"tunnel (try --socks 1080)");
	if (c->hub == NULL && (c->hub = strdup("DEFAULT")) == NULL)
		return SV_E_NOMEM;
	return 0;
}

/* see config.h */
int
sv_config_parse(struct sv_config *c, int argc, char **argv, char *err, size_t errcap)
{
	int opt, nverify = 0, r;
	optind = 0; /* glibc: full reinitialisation, so tests can parse repeatedly */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":vqh", options, NULL)) != -1) {
		if (opt == '?') {
			snprintf(err, errcap, "unknown option '%s'; see --help", argv[optind - 1]);
			return SV_E_INVAL;
		}
		if (opt == ':') {
			snprintf(err, errcap, "option '%s' needs a value", argv[optind - 1]);
			return SV_E_INVAL;
		}
		if ((r = apply(c, opt, optarg, &nverify, err, errcap)) != 0)
			return r;
	}
	if (optind < argc) {
		snprintf(err, errcap, "unexpected argument '%s'; see --help", argv[optind]);
		return SV_E_INVAL;
	}
	if (c->want_help || c->want_version)
		return 0;
	return validate(c, nverify, err, errcap);
}
