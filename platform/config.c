/*
 * Command line, configuration file and .vpn account; see config.h.
 *
 * Parsing runs in three steps so that the layers can be applied bottom-up
 * whatever order they were found in:
 *   1. the command line is collected into a list of (option, value) entries
 *      (getopt_long); --help and --version stop here;
 *   2. the configuration file is collected the same way, its keys mapped to
 *      the same options (two lists: before any section, and the chosen
 *      profile), paths resolved against the file's directory;
 *   3. the .vpn account named by the last "account" entry is read and
 *      applied, then the file's lists, then the command line, each through
 *      apply() (one switch for every option, whichever layer it comes from);
 *      validate() checks the result and makes the decisions that need all of
 *      it (stored credentials, upstream proxy, known servers).
 */
#define SV_LOG_MODULE "config"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/ini.h"
#include "core/log.h"
#include "core/session.h"
#include "core/vpnfile.h"
#include "netstack/resolve.h"
#include "platform/config.h"
#include "platform/known.h"
#include "platform/os.h"
#include "platform/upstream_cfg.h"
#include "socks/forward.h"
#include "socks/proxy.h"

static const char usage[] =
	"usage: sevpn-proxy --server HOST[:PORT] --user NAME [--hub HUB]\n"
	"                   [--pin SHA256 | --ca FILE | --system-ca | --insecure]\n"
	"                   --socks [ADDR:]PORT [options]\n"
	"       sevpn-proxy --account FILE.vpn --socks [ADDR:]PORT [options]\n"
	"       sevpn-proxy [--config FILE] [--profile NAME] [options]\n"
	"       sevpn-proxy [options] -- COMMAND [ARGS...]\n"
	"       sevpn-proxy [options] --stdio HOST:PORT\n"
	"       sevpn-proxy status [--control [ADDR:]PORT]\n"
	"\n"
	"Connects to a SoftEther VPN Server without root, TUN/TAP or a daemon, takes an\n"
	"address on the Virtual Hub's network by DHCP, and serves that network locally as\n"
	"a SOCKS5, SOCKS4 and HTTP proxy.\n"
	"\n"
	"Configuration (the command line overrides the file, the file the account):\n"
	"  --config FILE           settings file (default ~/.config/sevpn-proxy/config,\n"
	"                          read if it exists); keys are the long option names:\n"
	"                          `server = vpn.example.com`, `socks = 1080`\n"
	"  --no-config             do not read the default settings file\n"
	"  --profile NAME          also apply the file's [profile NAME] section\n"
	"  --account FILE.vpn      import an account exported by the SoftEther client\n"
	"                          (vpncmd AccountExport): server, hub, user, password,\n"
	"                          certificates, upstream proxy\n"
	"  --check-config          print the effective settings (no secrets) and exit:\n"
	"                          0 if valid, 2 if not\n"
	"Server and account:\n"
	"  --server HOST[:PORT]    VPN server (port 443 by default)\n"
	"  --hub HUB               Virtual Hub name (default DEFAULT)\n"
	"  --user NAME             user name on the hub\n"
	"  --password-file FILE    read the password from FILE (first line)\n"
	"  --password-env VAR      read the password from the environment variable VAR\n"
	"                          (else $SEVPN_PASSWORD, the account's stored password,\n"
	"                          or a prompt on the terminal)\n"
	"  --auth TYPE             password (default), plain (RADIUS / NT domain users),\n"
	"                          anonymous, or cert (needs --cert and --key)\n"
	"  --cert FILE             client certificate for --auth cert (PEM or DER)\n"
	"  --key FILE              its RSA private key (PEM or DER, PKCS#1 or PKCS#8,\n"
	"                          unencrypted; RSA 1024..4096 bits, no EC)\n"
	"Server certificate (default: the system CA bundle and the host name):\n"
	"  --pin SHA256            SHA-256 fingerprint of the server certificate, as\n"
	"                          `openssl x509 -noout -fingerprint -sha256` prints it\n"
	"  --ca FILE               trust the CA certificates in FILE (PEM), check names\n"
	"  --system-ca             trust the system CA bundle, check the name\n"
	"  --insecure              accept any certificate (exposes the session to\n"
	"                          anyone on the path; for tests only)\n"
	"  --trust-on-first-use    no pin known yet: accept the first certificate and\n"
	"                          record it in the known-servers file; later\n"
	"                          connections must present the same one\n"
	"  --known-servers FILE    the known-servers file (default\n"
	"                          ~/.local/share/sevpn-proxy/known_servers; a server\n"
	"                          recorded there is pinned even without the option\n"
	"                          above)\n"
	"Upstream proxy (to reach the VPN server):\n"
	"  --upstream-proxy URL    http://[USER:PASS@]HOST[:PORT] (HTTP CONNECT) or\n"
	"                          socks5://[USER:PASS@]HOST[:PORT]; default: the\n"
	"                          account's proxy, else $HTTPS_PROXY / $ALL_PROXY\n"
	"                          unless $NO_PROXY matches the server\n"
	"  --no-upstream-proxy     connect directly, whatever the above say\n"
	"Local side:\n"
	"  --socks [ADDR:]PORT     SOCKS5 and SOCKS4/4a listener (default address\n"
	"                          127.0.0.1); `unix:PATH` for a Unix socket (mode 0600);\n"
	"                          may be given several times\n"
	"  --http [ADDR:]PORT      HTTP proxy listener (CONNECT and http:// URLs), or\n"
	"                          unix:PATH; may be given several times\n"
	"  --proxy [ADDR:]PORT     one port for all: SOCKS4/5 or HTTP, told apart by the\n"
	"                          first byte; or unix:PATH; may be given several times\n"
	"  -L, --local-forward [BIND:]PORT:HOST:HOSTPORT\n"
	"                          local TCP forward to HOST:HOSTPORT through the\n"
	"                          tunnel (BIND default 127.0.0.1; IPv6 in brackets);\n"
	"                          -L udp:[BIND:]PORT:HOST:HOSTPORT forwards UDP\n"
	"  -R, --remote-forward PORT:HOST:HOSTPORT\n"
	"                          listen on PORT of the tunnel address, connect to\n"
	"                          HOST:HOSTPORT here\n"
	"  --stdio HOST:PORT       relay stdin/stdout to HOST:PORT through the tunnel and\n"
	"                          exit when it closes (ssh ProxyCommand); attaches to\n"
	"                          a running instance for the same account if there is\n"
	"                          one (no login of its own)\n"
	"  --no-attach             with --stdio: always log in; without: serve no\n"
	"                          --stdio runs\n"
	"  --control-path PATH     the Unix socket where an instance serves --stdio runs\n"
	"                          (default: per account, in $XDG_RUNTIME_DIR/sevpn-proxy\n"
	"                          or /tmp/sevpn-proxy-UID)\n"
	"  --proxy-user USER       clients must log in as USER (SOCKS5 username/password,\n"
	"                          HTTP Proxy-Authorization: Basic; SOCKS4 is refused)\n"
	"                          with the password in $SEVPN_PROXY_PASSWORD or in\n"
	"  --proxy-password-file FILE  (its first line)\n"
	"  --allow-unauthenticated-remote  serve a listener on a non-loopback address\n"
	"                          without --proxy-user (refused otherwise)\n"
	"  --max-clients N         simultaneous local clients over all listeners; more\n"
	"                          are refused with a log line (default 10000)\n"
	"  --max-conns-per-client N  proxied connections at once from one client address\n"
	"                          (Unix sockets: per listener; SOCKS5 UDP ASSOCIATE and\n"
	"                          BIND count too); more are refused with the\n"
	"                          protocol's error (default 0 = no limit)\n"
	"  --resolve-local PATTERN look names matching PATTERN up on this host (e.g.\n"
	"                          /etc/hosts), not through the tunnel's DNS; still\n"
	"                          connected through the tunnel. PATTERN: a name,\n"
	"                          *.DOMAIN or .DOMAIN (names under it), or *; repeatable\n"
	"  --idle-timeout SEC      close a proxied connection after SEC seconds without\n"
	"                          a byte either way (default 7200; 0 = never)\n"
	"  --max-buffer-memory SIZE  data held for local clients that read slowly, over\n"
	"                          all connections (K, M or G suffix; default 64M)\n"
	"  --max-tcp N             TCP connections per VPN session (default 1; more\n"
	"                          multiply the damage of an abrupt loss on 5.01 servers)\n"
	"  --half-duplex           one-way TCP connections (needs --max-tcp 2 or more)\n"
	"  --compress              ask for per-frame zlib compression (costs CPU; only\n"
	"                          helps on slow links: the tunnel is already TLS)\n"
	"  --mac MAC               Ethernet address on the hub (default: derived from\n"
	"                          this machine and account, stable across runs)\n"
	"  --connect-timeout SEC   TCP connect timeout through the tunnel (default 10)\n"
	"  -v, --verbose           more log output (repeat for protocol detail)\n"
	"  -q, --quiet             errors only\n"
	"  --log-level LEVEL       error, warn, info, debug or trace\n"
	"  --log-file FILE         append log lines to FILE instead of stderr\n"
	"For scripts and CI:\n"
	"  -- COMMAND [ARGS...]    exec mode: once ready, run COMMAND with ALL_PROXY,\n"
	"                          HTTP_PROXY and HTTPS_PROXY set to the SOCKS5 listener\n"
	"                          (socks5h://), then stop and exit with its status;\n"
	"                          125 if the tunnel never came up\n"
	"  --ready-file PATH       once ready, write the listeners, addresses, DHCP\n"
	"                          domain and routes there as JSON (atomically);\n"
	"                          rewritten when the address changes\n"
	"  --control [ADDR:]PORT   loopback HTTP status listener: /status (JSON),\n"
	"                          /metrics (Prometheus), /healthz; `sevpn-proxy status\n"
	"                          --control [ADDR:]PORT` prints its status\n"
	"  -h, --help              this text\n"
	"  --version               version\n"
	"\n"
	"When the tunnel is up (the DHCP server acknowledged the lease), one line is\n"
	"printed to stderr:\n"
	"  ready socks5=127.0.0.1:1080 ip=10.77.0.123/24 gw=10.77.0.1 dns=10.77.0.1\n"
	"Exit status: 0 after SIGINT/SIGTERM/SIGHUP (or --stdio's connection closed),\n"
	"2 if the server refused the login or the command line or configuration is\n"
	"wrong, 3 if the server certificate failed verification, 1 for other failures;\n"
	"in exec mode the command's status (128+N if killed by signal N), or 125 when\n"
	"the tunnel never came up (126/127: the command could not be run).\n"
	"See sevpn-proxy(1).\n";

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
	c->max_clients = SV_DEFAULT_MAX_CLIENTS;
	c->idle_timeout_ms = SV_DEFAULT_IDLE_TIMEOUT_S * 1000u;
	c->max_buffer_memory = SV_DEFAULT_MAX_BUFFER_MEMORY;
}

static void
wipe_str(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

static void
free_list(char **v, unsigned *n)
{
	for (unsigned i = 0; i < *n; i++)
		free(v[i]);
	*n = 0;
}

static void
free_socks(struct sv_config *c)
{
	free_list(c->socks, &c->n_socks);
}

static void
drop_account_secrets(struct sv_config *c)
{
	explicit_bzero(c->password_hash, sizeof c->password_hash);
	c->have_password_hash = false;
	wipe_str(&c->stored_password);
	free(c->account_cert);
	c->account_cert = NULL;
	c->account_cert_len = 0;
	if (c->account_key != NULL) {
		explicit_bzero(c->account_key, c->account_key_len);
		free(c->account_key);
	}
	c->account_key = NULL;
	c->account_key_len = 0;
}

/* see config.h */
void
sv_config_cleanup(struct sv_config *c)
{
	free(c->server_host);
	free(c->hub);
	free(c->user);
	free(c->password_file);
	free(c->password_env);
	free(c->cert_file);
	free(c->key_file);
	free(c->ca_file);
	free_socks(c);
	free_list(c->proxy, &c->n_proxy);
	free_list(c->http, &c->n_http);
	free_list(c->resolve_local, &c->n_resolve_local);
	free(c->proxy_user);
	free(c->proxy_password_file);
	wipe_str(&c->proxy_password);
	free(c->log_file);
	free(c->control);
	free(c->ready_file);
	free(c->control_path);
	free(c->config_file);
	free(c->profile);
	free(c->account_file);
	drop_account_secrets(c);
	wipe_str(&c->upstream_proxy);
	sv_upstream_cfg_wipe(&c->upstream);
	free(c->known_servers);
	explicit_bzero(c, sizeof *c);
}

/* see config.h */
int
sv_config_parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t m[6];
	for (int i = 0; i < 6; i++) {
		int hi = sv_hexval(s[0]), lo = hi < 0 ? -1 : sv_hexval(s[1]);
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
	if (errno != 0 || end == s || *end != '\0' || v == 0 || v > 65535 ||
	    s[0] < '0' || s[0] > '9')
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
	for (size_t i = 0; i < hlen; i++)
		if ((unsigned char)h[i] <= ' ' || h[i] == 0x7f || h[i] == '/')
			return SV_E_INVAL;
	char *copy = strndup(h, hlen);
	if (copy == NULL)
		return SV_E_NOMEM;
	*host = copy;
	*port = pv;
	return 0;
}

/* --- options ---------------------------------------------------------------------- */

enum {
	OPT_SERVER = 256,
	OPT_HUB,
	OPT_USER,
	OPT_PASSWORD_FILE,
	OPT_PASSWORD_ENV,
	OPT_AUTH,
	OPT_CERT,
	OPT_KEY,
	OPT_PIN,
	OPT_CA,
	OPT_SYSTEM_CA,
	OPT_INSECURE,
	OPT_TOFU,
	OPT_KNOWN_SERVERS,
	OPT_UPSTREAM_PROXY,
	OPT_NO_UPSTREAM_PROXY,
	OPT_SOCKS,
	OPT_MAC,
	OPT_CONNECT_TIMEOUT,
	OPT_LOG_LEVEL,
	OPT_LOG_FILE,
	OPT_VERSION,
	OPT_CONFIG,
	OPT_NO_CONFIG,
	OPT_PROFILE,
	OPT_ACCOUNT,
	OPT_CHECK_CONFIG,
	OPT_CONTROL,
	OPT_READY_FILE,
	OPT_PROXY,
	OPT_HTTP,
	OPT_PROXY_USER,
	OPT_PROXY_PASSWORD_FILE,
	OPT_ALLOW_UNAUTH_REMOTE,
	OPT_MAX_CLIENTS,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_CONNS_PER_CLIENT,
	OPT_RESOLVE_LOCAL,
	OPT_MAX_BUFFER_MEMORY,
	OPT_MAX_TCP,
	OPT_COMPRESS,
	OPT_HALF_DUPLEX,
	OPT_STDIO,
	OPT_NO_ATTACH,
	OPT_CONTROL_PATH,
};

static const struct option options[] = {
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "hub", required_argument, NULL, OPT_HUB },
	{ "user", required_argument, NULL, OPT_USER },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "password-env", required_argument, NULL, OPT_PASSWORD_ENV },
	{ "auth", required_argument, NULL, OPT_AUTH },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "pin", required_argument, NULL, OPT_PIN },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "system-ca", no_argument, NULL, OPT_SYSTEM_CA },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "trust-on-first-use", no_argument, NULL, OPT_TOFU },
	{ "known-servers", required_argument, NULL, OPT_KNOWN_SERVERS },
	{ "upstream-proxy", required_argument, NULL, OPT_UPSTREAM_PROXY },
	{ "no-upstream-proxy", no_argument, NULL, OPT_NO_UPSTREAM_PROXY },
	{ "socks", required_argument, NULL, OPT_SOCKS },
	{ "mac", required_argument, NULL, OPT_MAC },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "no-config", no_argument, NULL, OPT_NO_CONFIG },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ "account", required_argument, NULL, OPT_ACCOUNT },
	{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "ready-file", required_argument, NULL, OPT_READY_FILE },
	{ "proxy", required_argument, NULL, OPT_PROXY },
	{ "http", required_argument, NULL, OPT_HTTP },
	{ "proxy-user", required_argument, NULL, OPT_PROXY_USER },
	{ "proxy-password-file", required_argument, NULL, OPT_PROXY_PASSWORD_FILE },
	{ "allow-unauthenticated-remote", no_argument, NULL, OPT_ALLOW_UNAUTH_REMOTE },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "max-conns-per-client", required_argument, NULL, OPT_MAX_CONNS_PER_CLIENT },
	{ "resolve-local", required_argument, NULL, OPT_RESOLVE_LOCAL },
	{ "max-buffer-memory", required_argument, NULL, OPT_MAX_BUFFER_MEMORY },
	{ "max-tcp", required_argument, NULL, OPT_MAX_TCP },
	{ "compress", no_argument, NULL, OPT_COMPRESS },
	{ "half-duplex", no_argument, NULL, OPT_HALF_DUPLEX },
	{ "local-forward", required_argument, NULL, 'L' },
	{ "remote-forward", required_argument, NULL, 'R' },
	{ "stdio", required_argument, NULL, OPT_STDIO },
	{ "no-attach", no_argument, NULL, OPT_NO_ATTACH },
	{ "control-path", required_argument, NULL, OPT_CONTROL_PATH },
	{ NULL, 0, NULL, 0 },
};

/* Options that make no sense inside the configuration file. */
static bool
is_cli_only(int opt)
{
	return opt == 'h' || opt == OPT_VERSION || opt == OPT_CONFIG ||
		opt == OPT_NO_CONFIG || opt == OPT_PROFILE || opt == OPT_CHECK_CONFIG;
}

/* Options whose value is a path (resolved against the file's directory). */
static bool
is_path(int opt)
{
	return opt == OPT_PASSWORD_FILE || opt == OPT_CERT || opt == OPT_KEY ||
		opt == OPT_CA || opt == OPT_KNOWN_SERVERS || opt == OPT_LOG_FILE ||
		opt == OPT_ACCOUNT || opt == OPT_READY_FILE ||
		opt == OPT_PROXY_PASSWORD_FILE || opt == OPT_CONTROL_PATH;
}

static const struct option *
option_by_val(int opt)
{
	for (const struct option *o = options; o->name != NULL; o++)
		if (o->val == opt)
			return o;
	return NULL;
}

/* One setting from one layer. */
struct entry {
	int opt;
	char *arg;      /* owned or NULL */
	unsigned line;  /* 0: the command line */
};

struct layer {
	struct entry *e;
	size_t n, cap;
	const char *source; /* for cfg->verify_source */
};

/* The state of one sv_config_parse() call. */
struct parse {
	struct sv_config *c;
	struct layer cli, file, profile;
	char *dir;            /* the configuration file's directory, owned */
	bool any_verify;      /* some layer chose the certificate check */
	bool profile_found;
	/* from the .vpn account */
	bool have_account;
	int account_authtype;
	char *account_user;   /* owned */
	unsigned account_proxy_type;
	struct sv_upstream_cfg account_proxy;
	char *err;
	size_t cap;
};

static int
set_str(char **dst, const char *v)
{
	char *copy = strdup(v);
	if (copy == NULL)
		return SV_E_NOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

static int
layer_add(struct layer *l, int opt, const char *arg, unsigned line)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct entry *e = realloc(l->e, cap * sizeof *e);
		if (e == NULL)
			return SV_E_NOMEM;
		l->e = e;
		l->cap = cap;
	}
	char *copy = NULL;
	if (arg != NULL && (copy = strdup(arg)) == NULL)
		return SV_E_NOMEM;
	l->e[l->n++] = (struct entry){ .opt = opt, .arg = copy, .line = line };
	return 0;
}

static void
layer_free(struct layer *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->e[i].arg != NULL) {
			explicit_bzero(l->e[i].arg, strlen(l->e[i].arg));
			free(l->e[i].arg);
		}
	free(l->e);
	memset(l, 0, sizeof *l);
}

/* The last entry for opt in l, or NULL. */
static const struct entry *
layer_last(const struct layer *l, int opt)
{
	for (size_t i = l->n; i > 0; i--)
		if (l->e[i - 1].opt == opt)
			return &l->e[i - 1];
	return NULL;
}

static int
parse_auth(const char *arg)
{
	static const char *const names[] = { "anonymous", "password", "plain", "cert" };
	for (int i = 0; i < 4; i++)
		if (strcasecmp(arg, names[i]) == 0)
			return i; /* == enum sv_authtype */
	return -1;
}

static const char *
auth_name(int authtype)
{
	static const char *const names[] = { "anonymous", "password", "plain", "cert" };
	return authtype >= 0 && authtype < 4 ? names[authtype] : "?";
}

/* A decimal number in [lo, hi]; 0 or SV_E_INVAL. */
static int
parse_uint(const char *arg, unsigned long lo, unsigned long hi, unsigned *out)
{
	char *end;
	unsigned long v;

	if (arg[0] < '0' || arg[0] > '9')
		return SV_E_INVAL;
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return SV_E_INVAL;
	*out = (unsigned)v;
	return 0;
}

/* A byte count with an optional K, M or G suffix (powers of 1024), lo..hi. */
static int
parse_size(const char *arg, unsigned long long lo, unsigned long long hi, size_t *out)
{
	char *end;
	unsigned long long v, mul = 1;

	if (arg[0] < '0' || arg[0] > '9')
		return SV_E_INVAL;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0)
		return SV_E_INVAL;
	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	default: break;
	}
	if ((*end == 'i' || *end == 'B') && mul > 1)
		end += *end == 'i' && end[1] == 'B' ? 2 : 1; /* 64MiB, 64MB */
	if (*end != '\0' || v > hi / mul || v * mul < lo)
		return SV_E_INVAL;
	*out = (size_t)(v * mul);
	return 0;
}

/* One more listen address for a repeatable listener option. */
static int
add_listener(char **list, unsigned *n, const char *what, const char *arg, char *err,
	size_t cap)
{
	if (*n == SV_MAX_LISTENERS)
		return sv_errf(err, cap, "%s %s: too many listeners (at most %d)", what, arg,
			SV_MAX_LISTENERS);
	if (strncmp(arg, "unix:", 5) == 0 && arg[5] == '\0')
		return sv_errf(err, cap, "%s %s: expected unix:PATH", what, arg);
	if ((list[*n] = strdup(arg)) == NULL)
		return SV_E_NOMEM;
	(*n)++;
	return 0;
}

/*
 * One option from any layer; what is its name as the user wrote it
 * ("--server" or "server"). 0, or SV_E_INVAL with err filled.
 */
static int
apply(struct sv_config *c, int opt, const char *what, const char *arg, int *nverify,
	char *err, size_t cap)
{
	switch (opt) {
	case OPT_SERVER:
		free(c->server_host);
		c->server_host = NULL;
		if (sv_config_parse_hostport(arg, 443, &c->server_host, &c->server_port) != 0)
			return sv_errf(err, cap, "%s '%s': expected HOST, HOST:PORT or "
				"[IPv6]:PORT", what, arg);
		return 0;
	case OPT_HUB:
		return set_str(&c->hub, arg);
	case OPT_USER:
		return set_str(&c->user, arg);
	case OPT_PASSWORD_FILE:
		free(c->password_env);
		c->password_env = NULL;
		return set_str(&c->password_file, arg);
	case OPT_PASSWORD_ENV:
		if (arg[0] == '\0' || strchr(arg, '=') != NULL)
			return sv_errf(err, cap, "%s '%s': expected the name of an "
				"environment variable", what, arg);
		free(c->password_file);
		c->password_file = NULL;
		return set_str(&c->password_env, arg);
	case OPT_AUTH: {
		int a = parse_auth(arg);
		if (a < 0)
			return sv_errf(err, cap, "%s '%s': expected password, plain, "
				"anonymous or cert", what, arg);
		c->authtype = a;
		return 0;
	}
	case OPT_CERT:
		return set_str(&c->cert_file, arg);
	case OPT_KEY:
		return set_str(&c->key_file, arg);
	case OPT_PIN:
		if (sv_tls_parse_pin(arg, c->pin) != 0)
			return sv_errf(err, cap, "%s '%s': expected the certificate's SHA-256 "
				"fingerprint, 64 hex digits (colons allowed), as "
				"`openssl x509 -noout -fingerprint -sha256` prints it",
				what, arg);
		c->have_pin = true;
		c->verify = SV_TLS_VERIFY_PIN;
		(*nverify)++;
		return 0;
	case OPT_CA:
		c->verify = SV_TLS_VERIFY_CA;
		c->have_pin = false;
		(*nverify)++;
		return set_str(&c->ca_file, arg);
	case OPT_SYSTEM_CA:
		c->verify = SV_TLS_VERIFY_CA;
		c->have_pin = false;
		free(c->ca_file);
		c->ca_file = NULL;
		(*nverify)++;
		return 0;
	case OPT_INSECURE:
		c->verify = SV_TLS_VERIFY_INSECURE;
		c->have_pin = false;
		(*nverify)++;
		return 0;
	case OPT_TOFU:
		c->tofu = true;
		return 0;
	case OPT_KNOWN_SERVERS:
		return set_str(&c->known_servers, arg);
	case OPT_UPSTREAM_PROXY:
		c->no_upstream_proxy = false;
		wipe_str(&c->upstream_proxy);
		return set_str(&c->upstream_proxy, arg);
	case OPT_NO_UPSTREAM_PROXY:
		c->no_upstream_proxy = true;
		wipe_str(&c->upstream_proxy);
		return 0;
	case OPT_SOCKS:
		return add_listener(c->socks, &c->n_socks, what, arg, err, cap);
	case OPT_PROXY:
		return add_listener(c->proxy, &c->n_proxy, what, arg, err, cap);
	case OPT_HTTP:
		return add_listener(c->http, &c->n_http, what, arg, err, cap);
	case 'L':
	case 'R':
		if (c->n_fwd == SV_MAX_FORWARDS)
			return sv_errf(err, cap, "%s %s: too many forwards (at most %d)", what, arg,
				SV_MAX_FORWARDS);
		{
			char why[300];
			if (sv_forward_parse(arg, opt == 'L' ? SV_FWD_LOCAL_TCP : SV_FWD_REMOTE,
				&c->fwd[c->n_fwd], why, sizeof why) != 0)
				return sv_errf(err, cap, "%s %s", what, why);
		}
		c->n_fwd++;
		return 0;
	case OPT_STDIO: {
		char why[300];
		if (sv_forward_parse(arg, SV_FWD_STDIO, &c->stdio, why, sizeof why) != 0)
			return sv_errf(err, cap, "%s %s", what, why);
		c->have_stdio = true;
		return 0;
	}
	case OPT_NO_ATTACH:
		c->no_attach = true;
		return 0;
	case OPT_CONTROL_PATH:
		if (arg[0] == '\0')
			return sv_errf(err, cap, "%s: expected the path of a Unix socket", what);
		return set_str(&c->control_path, arg);
	case OPT_PROXY_USER:
		if (arg[0] == '\0' || strlen(arg) > 255 || strchr(arg, ':') != NULL)
			return sv_errf(err, cap, "%s '%s': expected a user name of 1 to 255 "
				"bytes without ':' (HTTP Basic cannot carry one)", what, arg);
		return set_str(&c->proxy_user, arg);
	case OPT_PROXY_PASSWORD_FILE:
		return set_str(&c->proxy_password_file, arg);
	case OPT_ALLOW_UNAUTH_REMOTE:
		c->allow_unauthenticated_remote = true;
		return 0;
	case OPT_MAX_CLIENTS:
		if (parse_uint(arg, 1, 1000000, &c->max_clients) != 0)
			return sv_errf(err, cap, "%s '%s': expected a number of clients "
				"between 1 and 1000000", what, arg);
		return 0;
	case OPT_MAX_CONNS_PER_CLIENT:
		if (parse_uint(arg, 0, 1000000, &c->max_conns_per_client) != 0)
			return sv_errf(err, cap, "%s '%s': expected a number of connections "
				"between 0 (no limit) and 1000000", what, arg);
		return 0;
	case OPT_RESOLVE_LOCAL:
		if (!sv_resolve_local_pattern_is_valid(arg))
			return sv_errf(err, cap, "%s '%s': expected a host name, *.DOMAIN, "
				".DOMAIN or *", what, arg);
		if (c->n_resolve_local == SV_MAX_RESOLVE_LOCAL)
			return sv_errf(err, cap, "%s %s: too many patterns (at most %d)", what,
				arg, SV_MAX_RESOLVE_LOCAL);
		if ((c->resolve_local[c->n_resolve_local] = strdup(arg)) == NULL)
			return SV_E_NOMEM;
		c->n_resolve_local++;
		return 0;
	case OPT_MAX_TCP: {
		unsigned v;
		if (parse_uint(arg, 1, 32, &v) != 0)
			return sv_errf(err, cap, "%s '%s': expected 1 to 32 TCP connections", what,
				arg);
		c->max_tcp = v;
		return 0;
	}
	case OPT_COMPRESS:
		c->compress = true;
		return 0;
	case OPT_HALF_DUPLEX:
		c->half_duplex = true;
		return 0;
	case OPT_IDLE_TIMEOUT: {
		unsigned v;
		if (parse_uint(arg, 0, 30 * 86400, &v) != 0)
			return sv_errf(err, cap, "%s '%s': expected seconds between 0 (never) "
				"and 2592000 (30 days)", what, arg);
		c->idle_timeout_ms = v * 1000u;
		return 0;
	}
	case OPT_MAX_BUFFER_MEMORY:
		if (parse_size(arg, 1ull << 20, 1ull << 40, &c->max_buffer_memory) != 0)
			return sv_errf(err, cap, "%s '%s': expected a size between 1M and 1024G, "
				"like 64M (K, M and G count in 1024s)", what, arg);
		return 0;
	case OPT_MAC:
		if (sv_config_parse_mac(arg, c->mac) != 0)
			return sv_errf(err, cap, "%s '%s': expected six hex bytes like "
				"02:5e:00:00:00:01 (not a multicast address)", what, arg);
		c->have_mac = true;
		return 0;
	case OPT_CONNECT_TIMEOUT: {
		char *end;
		double v = strtod(arg, &end);
		if (end == arg || *end != '\0' || !(v > 0 && v <= 600))
			return sv_errf(err, cap, "%s '%s': expected seconds between 0 and "
				"600", what, arg);
		c->connect_timeout_ms = (unsigned)(v * 1000);
		return 0;
	}
	case OPT_LOG_LEVEL: {
		int level = sv_log_parse_level(arg);
		if (level < 0)
			return sv_errf(err, cap, "%s '%s': expected error, warn, info, debug "
				"or trace", what, arg);
		c->log_level = level;
		return 0;
	}
	case OPT_LOG_FILE:
		return set_str(&c->log_file, arg);
	case OPT_CONTROL:
		return set_str(&c->control, arg);
	case OPT_READY_FILE:
		return set_str(&c->ready_file, arg);
	case OPT_ACCOUNT:
		return 0; /* read before the layers are applied */
	case 'v':
		if (c->log_level < SV_LOG_TRACE)
			c->log_level++;
		return 0;
	case 'q':
		c->log_level = SV_LOG_ERR;
		return 0;
	case OPT_CHECK_CONFIG:
		c->check_config = true;
		return 0;
	case OPT_CONFIG:
	case OPT_NO_CONFIG:
	case OPT_PROFILE:
		return 0; /* used while collecting */
	default:
		return sv_errf(err, cap, "%s", "unknown option; see --help");
	}
}

/* Prefixes err with "FILE:LINE: " for a setting from the configuration file. */
static void
locate(struct parse *s, unsigned line)
{
	char tmp[512];
	if (line == 0 || s->c->config_file == NULL)
		return;
	snprintf(tmp, sizeof tmp, "%s", s->err);
	snprintf(s->err, s->cap, "%s:%u: %s", s->c->config_file, line, tmp);
}

static int
apply_layer(struct parse *s, const struct layer *l)
{
	struct sv_config *c = s->c;
	int nverify = 0, r;
	bool socks_seen = false, proxy_seen = false, http_seen = false, fwd_seen = false;
	bool rl_seen = false;
	char what[64];

	for (size_t i = 0; i < l->n; i++) {
		const struct entry *e = &l->e[i];
		const struct option *o = option_by_val(e->opt);
		snprintf(what, sizeof what, "%s%s", e->line ? "" : "--",
			o != NULL ? o->name : "?");
		/* this layer's list replaces the ones below */
		if (e->opt == OPT_SOCKS && !socks_seen) {
			free_socks(c);
			socks_seen = true;
		}
		if (e->opt == OPT_PROXY && !proxy_seen) {
			free_list(c->proxy, &c->n_proxy);
			proxy_seen = true;
		}
		if ((e->opt == 'L' || e->opt == 'R') && !fwd_seen) {
			c->n_fwd = 0;
			fwd_seen = true;
		}
		if (e->opt == OPT_HTTP && !http_seen) {
			free_list(c->http, &c->n_http);
			http_seen = true;
		}
		if (e->opt == OPT_RESOLVE_LOCAL && !rl_seen) {
			free_list(c->resolve_local, &c->n_resolve_local);
			rl_seen = true;
		}
		if ((r = apply(c, e->opt, what, e->arg, &nverify, s->err, s->cap)) != 0) {
			locate(s, e->line);
			return r;
		}
	}
	if (nverify > 1)
		return sv_errf(s->err, s->cap, "%s%s: pin, ca, system-ca and insecure "
			"exclude each other: give exactly one",
			l == &s->cli ? "the command line" : s->c->config_file,
			l == &s->profile ? " (in the profile)" : "");
	if (nverify > 0) {
		s->any_verify = true;
		c->verify_source = l->source;
	}
	return 0;
}

/* --- collecting the command line --------------------------------------------------- */

static int
collect_cli(struct parse *s, int argc, char **argv)
{
	int opt, r;
	optind = 0; /* glibc: full reinitialisation, so tests can parse repeatedly */
	opterr = 0;
	/* "+": stop at the first non-option, so a command after `--` keeps its own */
	while ((opt = getopt_long(argc, argv, "+:vqhL:R:", options, NULL)) != -1) {
		if (opt == '?')
			return sv_errf(s->err, s->cap, "unknown option '%s'; see --help",
				argv[optind - 1]);
		if (opt == ':')
			return sv_errf(s->err, s->cap, "option '%s' needs a value",
				argv[optind - 1]);
		if ((r = layer_add(&s->cli, opt, optarg, 0)) != 0)
			return r;
	}
	if (optind < argc && optind > 0 && strcmp(argv[optind - 1], "--") == 0) {
		s->c->exec_argv = argv + optind; /* exec mode */
		return 0;
	}
	if (optind < argc)
		return sv_errf(s->err, s->cap, "unexpected argument '%s'; to run a command "
			"through the tunnel put it after `--`; see --help", argv[optind]);
	return 0;
}

/* --- the configuration file -------------------------------------------------------- */

/* A path from the file: "~/x" -> $HOME/x, relative -> the file's directory. */
static char *
resolve_path(const struct parse *s, const char *v)
{
	const char *home = getenv("HOME");
	const char *base = NULL, *rest = v;
	if (v[0] == '~' && v[1] == '/' && home != NULL) {
		base = home;
		rest = v + 2;
	} else if (v[0] != '/' && s->dir != NULL) {
		base = s->dir;
	}
	if (base == NULL)
		return strdup(v);
	size_t n = strlen(base) + strlen(rest) + 2;
	char *out = malloc(n);
	if (out != NULL)
		snprintf(out, n, "%s/%s", base, rest);
	return out;
}

static bool
is_yes(const char *v)
{
	return strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
		strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0;
}

static bool
is_no(const char *v)
{
	return strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ||
		strcasecmp(v, "off") == 0 || strcmp(v, "0") == 0;
}

/* sv_ini_fn: one line of the configuration file. */
static int
on_ini(void *arg, const char *section, const char *key, const char *value,
	unsigned line, char *err, size_t cap)
{
	struct parse *s = arg;
	bool in_profile = section[0] != '\0';

	if (in_profile && (strncasecmp(section, "profile ", 8) != 0 || section[8] == '\0'))
		return sv_errf(err, cap, "unknown section [%s]; sections are "
			"[profile NAME], chosen with --profile NAME", section);
	const char *name = in_profile ? section + 8 : NULL;
	bool chosen = in_profile && s->c->profile != NULL && strcmp(name, s->c->profile) == 0;
	if (key == NULL) {
		s->profile_found |= chosen;
		return 0;
	}
	const struct option *o = NULL;
	for (const struct option *p = options; p->name != NULL; p++)
		if (strcmp(p->name, key) == 0)
			o = p;
	if (o == NULL)
		return sv_errf(err, cap, "unknown key '%s'; keys are the long option "
			"names (see sevpn-proxy --help)", key);
	if (is_cli_only(o->val))
		return sv_errf(err, cap, "'%s' can only be given on the command line", key);
	if (o->has_arg == no_argument) {
		if (value != NULL && is_no(value))
			return 0;
		if (value != NULL && !is_yes(value))
			return sv_errf(err, cap, "%s '%s': expected yes or no", key, value);
		value = NULL;
	} else if (value == NULL) {
		return sv_errf(err, cap, "'%s' needs a value: %s = ...", key, key);
	}
	if (in_profile && !chosen)
		return 0;
	struct layer *l = in_profile ? &s->profile : &s->file;
	if (value == NULL || !is_path(o->val) || value[0] == '\0')
		return layer_add(l, o->val, value, line);
	char *path = resolve_path(s, value);
	if (path == NULL)
		return SV_E_NOMEM;
	int r = layer_add(l, o->val, path, line);
	free(path);
	return r;
}

/* $XDG_CONFIG_HOME/sevpn-proxy/config or ~/.config/sevpn-proxy/config, owned. */
static char *
default_config_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	const char *base, *sub;
	if (xdg != NULL && xdg[0] == '/') {
		base = xdg;
		sub = "";
	} else if (home != NULL && home[0] != '\0') {
		base = home;
		sub = "/.config";
	} else {
		return NULL;
	}
	size_t n = strlen(base) + strlen(sub) + sizeof "/sevpn-proxy/config";
	char *out = malloc(n);
	if (out != NULL)
		snprintf(out, n, "%s%s/sevpn-proxy/config", base, sub);
	return out;
}

static int
read_config_file(struct parse *s)
{
	struct sv_config *c = s->c;
	const struct entry *e = layer_last(&s->cli, OPT_CONFIG);
	bool explicit = e != NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	unsigned line = 0;
	int r;

	if (explicit && (r = set_str(&c->config_file, e->arg)) != 0)
		return r;
	if (!explicit && layer_last(&s->cli, OPT_NO_CONFIG) == NULL)
		c->config_file = default_config_path(); /* NULL: no HOME, no file */
	if (c->config_file == NULL)
		goto no_file;
	r = sv_os_read_file(c->config_file, SV_CONFIG_FILE_MAX, &data, &len);
	if (r == -ENOENT && !explicit) {
		free(c->config_file);
		c->config_file = NULL;
		goto no_file;
	}
	if (r == SV_E_TOOBIG)
		return sv_errf(s->err, s->cap, "%s: larger than %u KiB, not a "
			"configuration file", c->config_file, SV_CONFIG_FILE_MAX / 1024);
	if (r != 0)
		return sv_errf(s->err, s->cap, "cannot read the configuration file %s: %s",
			c->config_file, sv_strerror(r));
	const char *slash = strrchr(c->config_file, '/');
	s->dir = slash == NULL ? strdup(".") :
		strndup(c->config_file, slash == c->config_file ? 1 : (size_t)(slash - c->config_file));
	if (s->dir == NULL) {
		free(data);
		return SV_E_NOMEM;
	}
	r = sv_ini_parse((const char *)data, len, on_ini, s, &line, s->err, s->cap);
	explicit_bzero(data, len);
	free(data);
	if (r == SV_E_NOMEM)
		return r;
	if (r != 0) {
		locate(s, line);
		return r;
	}
	if (c->profile != NULL && !s->profile_found)
		return sv_errf(s->err, s->cap, "--profile %s: %s has no [profile %s] section",
			c->profile, c->config_file, c->profile);
	return 0;
no_file:
	if (c->profile != NULL)
		return sv_errf(s->err, s->cap, "--profile %s: no configuration file to take "
			"it from (give --config FILE)", c->profile);
	return 0;
}

/* --- the .vpn account -------------------------------------------------------------- */

static int
account_proxy(struct parse *s, const struct sv_vpnfile *v)
{
	struct sv_upstream_cfg *u = &s->account_proxy;
	s->account_proxy_type = v->proxy_type;
	if (v->proxy_type != SV_VPNFILE_PROXY_HTTP && v->proxy_type != SV_VPNFILE_PROXY_SOCKS5)
		return 0;
	if (strlen(v->proxy_name) > SV_UPSTREAM_HOST_MAX ||
	    strlen(v->proxy_username) > SV_UPSTREAM_CRED_MAX ||
	    strlen(v->proxy_password) > SV_UPSTREAM_CRED_MAX)
		return sv_errf(s->err, s->cap, "%s: the proxy's name, user or password is "
			"too long", s->c->account_file);
	memset(u, 0, sizeof *u);
	u->kind = v->proxy_type == SV_VPNFILE_PROXY_HTTP ? SV_UPSTREAM_HTTP : SV_UPSTREAM_SOCKS5;
	snprintf(u->host, sizeof u->host, "%s", v->proxy_name);
	u->port = v->proxy_port;
	u->have_auth = v->proxy_username[0] != '\0';
	snprintf(u->user, sizeof u->user, "%s", v->proxy_username);
	snprintf(u->pass, sizeof u->pass, "%s", v->proxy_password);
	return 0;
}

/* Letters, digits and the punctuation of names and IP literals only. */
static bool
is_host_name(const char *h)
{
	if (h[0] == '\0')
		return false;
	for (const char *p = h; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || strchr("-._:", *p) != NULL))
			return false;
	return true;
}

/* Layer 1: what the account file says, as if given by options. */
static int
apply_account(struct parse *s, struct sv_vpnfile *v)
{
	struct sv_config *c = s->c;
	int r;
	if (!is_host_name(v->hostname) || strlen(v->hostname) > 255)
		return sv_errf(s->err, s->cap, "account %s: Hostname '%.64s' is not a host "
			"name or address", c->account_file, v->hostname);
	if (v->proxy_type != SV_VPNFILE_PROXY_DIRECT && !is_host_name(v->proxy_name))
		return sv_errf(s->err, s->cap, "account %s: ProxyName '%.64s' is not a host "
			"name or address", c->account_file, v->proxy_name);
	if ((r = set_str(&c->server_host, v->hostname)) != 0 ||
	    (r = set_str(&c->hub, v->hub)) != 0)
		return r;
	c->server_port = v->port;
	if (v->username[0] != '\0' && (r = set_str(&c->user, v->username)) != 0)
		return r;
	if ((s->account_user = strdup(v->username)) == NULL)
		return SV_E_NOMEM;
	c->authtype = (int)v->authtype; /* enum sv_authtype has the same numbers */
	s->account_authtype = c->authtype;
	if (v->have_password_hash) {
		c->have_password_hash = true;
		memcpy(c->password_hash, v->password_hash, 20);
	}
	if (v->authtype == SV_AUTH_PLAIN && v->plain_password != NULL) {
		c->stored_password = v->plain_password; /* taken */
		v->plain_password = NULL;
	}
	if (v->authtype == SV_AUTH_CERT) {
		c->account_cert = v->client_cert; /* taken */
		c->account_cert_len = v->client_cert_len;
		c->account_key = v->client_key;
		c->account_key_len = v->client_key_len;
		v->client_cert = v->client_key = NULL;
		v->client_cert_len = v->client_key_len = 0;
	}
	c->account_check_server_cert = v->check_server_cert;
	c->account_has_server_cert = v->have_server_cert;
	if (v->have_server_cert) { /* pinned in the account: the exact certificate */
		memcpy(c->pin, v->server_cert_sha256, 32);
		c->have_pin = true;
		c->verify = SV_TLS_VERIFY_PIN;
		c->verify_source = "account";
		s->any_verify = true;
	}
	c->account_max_connection = v->max_connection;
	c->account_half_connection = v->half_connection;
	c->account_use_compress = v->use_compress;
	s->have_account = true;
	return account_proxy(s, v);
}

static int
read_account(struct parse *s)
{
	const struct entry *e = layer_last(&s->cli, OPT_ACCOUNT);
	struct sv_config *c = s->c;
	struct sv_vpnfile v;
	uint8_t *data = NULL;
	size_t len = 0;
	char msg[384] = "";
	int r;

	if (e == NULL)
		e = layer_last(&s->profile, OPT_ACCOUNT);
	if (e == NULL)
		e = layer_last(&s->file, OPT_ACCOUNT);
	if (e == NULL)
		return 0;
	if ((r = set_str(&c->account_file, e->arg)) != 0)
		return r;
	r = sv_os_read_file(e->arg, SV_VPNFILE_MAX, &data, &len);
	if (r == SV_E_TOOBIG)
		return sv_errf(s->err, s->cap, "account %s: larger than %u KiB, not a .vpn "
			"account file", e->arg, SV_VPNFILE_MAX / 1024);
	if (r != 0)
		return sv_errf(s->err, s->cap, "cannot read the account file %s: %s", e->arg,
			sv_strerror(r));
	r = sv_vpnfile_parse(&v, data, len, msg, sizeof msg);
	explicit_bzero(data, len);
	free(data);
	if (r == SV_E_NOMEM)
		return r;
	if (r != 0)
		return sv_errf(s->err, s->cap, "account %s: %s", e->arg, msg);
	r = apply_account(s, &v);
	sv_vpnfile_cleanup(&v);
	return r;
}

/* --- validation ---------------------------------------------------------------------- */

/* The stored credentials of the account apply only to the account's login. */
static void
settle_stored_credentials(struct parse *s)
{
	struct sv_config *c = s->c;
	if (!s->have_account)
		return;
	if (c->authtype != s->account_authtype ||
	    (c->authtype == SV_AUTH_PASSWORD && c->user != NULL &&
		strcasecmp(c->user, s->account_user) != 0) ||
	    (c->authtype == SV_AUTH_CERT && (c->cert_file != NULL || c->key_file != NULL)))
		drop_account_secrets(c);
}

static int
choose_upstream(struct parse *s)
{
	struct sv_config *c = s->c;
	struct sv_upstream_env env;
	char msg[384] = "";
	int r;

	if (c->upstream_proxy == NULL && !c->no_upstream_proxy && s->have_account &&
	    s->account_proxy_type != SV_VPNFILE_PROXY_DIRECT) {
		if (s->account_proxy_type != SV_VPNFILE_PROXY_HTTP &&
		    s->account_proxy_type != SV_VPNFILE_PROXY_SOCKS5)
			return sv_errf(s->err, s->cap, "account %s: ProxyType %u (%s) is not "
				"supported; give --upstream-proxy socks5://HOST:PORT or "
				"http://HOST:PORT, or --no-upstream-proxy", c->account_file,
				s->account_proxy_type,
				s->account_proxy_type == SV_VPNFILE_PROXY_SOCKS4 ? "SOCKS4" :
				"unknown");
		c->upstream = s->account_proxy;
		c->use_upstream = true;
		c->upstream_source = "account";
		return 0;
	}
	sv_upstream_env_read(&env);
	r = sv_upstream_cfg_choose(c->upstream_proxy, c->no_upstream_proxy,
		c->server_host, &env, &c->upstream, &c->upstream_source, msg, sizeof msg);
	if (r < 0) {
		if (r == SV_E_NOMEM)
			return r;
		return sv_errf(s->err, s->cap, "%s", msg);
	}
	c->use_upstream = r == 1;
	return 0;
}

/* No pin/ca/insecure anywhere: a recorded server is pinned; else first use. */
static int
consult_known_servers(struct parse *s)
{
	struct sv_config *c = s->c;
	unsigned line = 0;
	int r;

	if (c->known_servers == NULL && (c->known_servers = sv_known_servers_default_path()) == NULL) {
		if (c->tofu)
			return sv_errf(s->err, s->cap, "%s", "--trust-on-first-use needs a "
				"known-servers file: set HOME or give --known-servers FILE");
		return 0;
	}
	r = sv_known_servers_lookup(c->known_servers, c->server_host, c->server_port,
		c->pin, &line);
	if (r == SV_E_INVAL)
		return sv_errf(s->err, s->cap, "%s:%u: not 'HOST:PORT SHA256-HEX'; fix or "
			"delete that line of the known-servers file", c->known_servers, line);
	if (r < 0) /* not "absent": the user may rely on a pin recorded there */
		return sv_errf(s->err, s->cap, "cannot read the known-servers file %s: %s",
			c->known_servers, sv_strerror(r));
	if (r == 1) {
		c->verify = SV_TLS_VERIFY_PIN;
		c->have_pin = true;
		c->known_line = line;
		c->verify_source = "known-servers";
	} else if (c->tofu) {
		c->verify = SV_TLS_VERIFY_INSECURE;
		c->tofu_record = true;
		c->verify_source = "trust-on-first-use";
	}
	return 0;
}

/* The first listen address of c that other machines can reach, or NULL. */
static const char *
first_remote_listener(const struct sv_config *c)
{
	char *const *lists[] = { c->socks, c->proxy, c->http };
	const unsigned counts[] = { c->n_socks, c->n_proxy, c->n_http };

	for (size_t k = 0; k < 3; k++)
		for (unsigned i = 0; i < counts[k]; i++)
			if (!sv_proxy_addr_is_local(lists[k][i]))
				return lists[k][i];
	return NULL;
}

/* The local proxy's password: $SEVPN_PROXY_PASSWORD, else --proxy-password-file. */
static int
read_proxy_password(struct parse *s)
{
	struct sv_config *c = s->c;
	const char *env = getenv("SEVPN_PROXY_PASSWORD");
	uint8_t *data = NULL;
	size_t len = 0, n;
	int r;

	if (env != NULL)
		return set_str(&c->proxy_password, env);
	if (c->proxy_password_file == NULL)
		return sv_errf(s->err, s->cap, "--proxy-user %s needs a password: set "
			"SEVPN_PROXY_PASSWORD or give --proxy-password-file FILE",
			c->proxy_user);
	r = sv_os_read_file(c->proxy_password_file, 4096, &data, &len);
	if (r != 0)
		return sv_errf(s->err, s->cap, "cannot read --proxy-password-file %s: %s",
			c->proxy_password_file, r == SV_E_TOOBIG ? "larger than 4 KiB, not a "
			"password file" : sv_strerror(r));
	for (n = 0; n < len && data[n] != '\n' && data[n] != '\r'; n++)
		;
	bool has_nul = memchr(data, '\0', n) != NULL;
	wipe_str(&c->proxy_password);
	if (!has_nul)
		c->proxy_password = strndup((const char *)data, n);
	explicit_bzero(data, len);
	free(data);
	if (has_nul)
		return sv_errf(s->err, s->cap, "--proxy-password-file %s: the password "
			"holds a NUL byte", c->proxy_password_file);
	return c->proxy_password == NULL ? SV_E_NOMEM : 0;
}

/* Credentials for the local listeners, and the rule for non-loopback listeners. */
static int
settle_proxy_auth(struct parse *s)
{
	struct sv_config *c = s->c;
	const char *remote = first_remote_listener(c);
	int r;

	if (c->proxy_user == NULL) {
		if (remote != NULL && !c->allow_unauthenticated_remote)
			return sv_errf(s->err, s->cap, "listener %s is reachable from other "
				"machines: give --proxy-user USER (with SEVPN_PROXY_PASSWORD or "
				"--proxy-password-file), or --allow-unauthenticated-remote to "
				"serve it to anyone who can reach it", remote);
		return 0;
	}
	if ((r = read_proxy_password(s)) != 0)
		return r;
	if (c->proxy_password[0] == '\0' || strlen(c->proxy_password) > 255)
		return sv_errf(s->err, s->cap, "the proxy password (%s) must be 1 to 255 "
			"bytes", getenv("SEVPN_PROXY_PASSWORD") != NULL ?
			"SEVPN_PROXY_PASSWORD" : c->proxy_password_file);
	return 0;
}

static int
validate(struct parse *s)
{
	struct sv_config *c = s->c;
	char *err = s->err;
	size_t cap = s->cap;

	if (c->server_host == NULL)
		return sv_errf(err, cap, "%s", "no --server given: say which SoftEther VPN "
			"Server to connect to (--server HOST[:PORT], `server = HOST` in the "
			"configuration file, or --account FILE.vpn)");
	if (c->user == NULL && c->authtype != SV_AUTH_ANONYMOUS)
		return sv_errf(err, cap, "%s", "no --user given: name the user account on "
			"the hub");
	if (c->half_duplex && c->max_tcp < 2)
		return sv_errf(err, cap, "%s", "--half-duplex needs --max-tcp 2 or more (one "
			"connection for each direction)");
	if (c->user == NULL && (c->user = strdup("anonymous")) == NULL)
		return SV_E_NOMEM;
	settle_stored_credentials(s);
	if (c->authtype == SV_AUTH_CERT && c->account_cert == NULL &&
	    (c->cert_file == NULL || c->key_file == NULL))
		return sv_errf(err, cap, "%s", "--auth cert needs both --cert FILE (the "
			"client certificate) and --key FILE (its RSA private key)");
	if (c->authtype != SV_AUTH_CERT && (c->cert_file != NULL || c->key_file != NULL))
		return sv_errf(err, cap, "%s", "--cert and --key are used only with --auth cert");
	if (c->n_socks + c->n_proxy + c->n_http + c->n_fwd == 0 && !c->have_stdio)
		return sv_errf(err, cap, "%s", "no --socks, --http or --proxy listener, -L, -R "
			"or --stdio given: nothing would use the tunnel (try --socks 1080)");
	if (c->have_stdio && c->exec_argv != NULL)
		return sv_errf(err, cap, "%s", "--stdio and a command after `--` exclude each "
			"other: both would use the terminal");
	int pr = settle_proxy_auth(s);
	if (pr != 0)
		return pr;
	if (c->hub == NULL && (c->hub = strdup("DEFAULT")) == NULL)
		return SV_E_NOMEM;
	int r = choose_upstream(s);
	if (r != 0)
		return r;
	if (s->any_verify)
		return 0;
	c->verify = SV_TLS_VERIFY_CA; /* like curl: the system's CAs and the host name */
	c->verify_source = "default";
	return consult_known_servers(s);
}

/* see config.h */
int
sv_config_parse(struct sv_config *c, int argc, char **argv, char *err, size_t errcap)
{
	struct parse s = { .c = c, .err = err, .cap = errcap };
	const struct entry *e;
	int r;

	s.cli.source = "command line";
	s.file.source = s.profile.source = "config file";
	if ((r = collect_cli(&s, argc, argv)) != 0)
		goto out;
	if (layer_last(&s.cli, 'h') != NULL || layer_last(&s.cli, OPT_VERSION) != NULL) {
		c->want_help = layer_last(&s.cli, 'h') != NULL;
		c->want_version = !c->want_help;
		goto out;
	}
	if ((e = layer_last(&s.cli, OPT_PROFILE)) != NULL &&
	    (r = set_str(&c->profile, e->arg)) != 0)
		goto out;
	if ((r = read_config_file(&s)) != 0 || (r = read_account(&s)) != 0 ||
	    (r = apply_layer(&s, &s.file)) != 0 || (r = apply_layer(&s, &s.profile)) != 0 ||
	    (r = apply_layer(&s, &s.cli)) != 0)
		goto out;
	r = validate(&s);
out:
	if (r == SV_E_NOMEM)
		snprintf(err, errcap, "%s", "out of memory");
	layer_free(&s.cli);
	layer_free(&s.file);
	layer_free(&s.profile);
	free(s.dir);
	free(s.account_user);
	sv_upstream_cfg_wipe(&s.account_proxy);
	return r;
}

/* --- output ------------------------------------------------------------------------ */

/* key = value, quoted when the value would not read back as itself. */
static void
print_kv(FILE *f, const char *key, const char *value)
{
	bool quote = value[0] == '\0' || value[0] == '"' ||
		strpbrk(value, " \t#;\\") != NULL;
	if (!quote) {
		fprintf(f, "%s = %s\n", key, value);
		return;
	}
	fprintf(f, "%s = \"", key);
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputs("\"\n", f);
}

static void
print_hex(FILE *f, const char *key, const uint8_t *p, size_t n, const char *note)
{
	fprintf(f, "%s = ", key);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
	fprintf(f, "%s%s\n", note ? "    # " : "", note ? note : "");
}

static void
print_secrets(const struct sv_config *c, FILE *f)
{
	if (c->authtype == SV_AUTH_CERT) {
		if (c->cert_file != NULL) {
			print_kv(f, "cert", c->cert_file);
			print_kv(f, "key", c->key_file);
		} else {
			fprintf(f, "# client certificate and key: from the account file\n");
		}
		return;
	}
	if (c->authtype == SV_AUTH_ANONYMOUS)
		return;
	if (c->password_file != NULL)
		print_kv(f, "password-file", c->password_file);
	else if (c->password_env != NULL)
		print_kv(f, "password-env", c->password_env);
	else if (c->have_password_hash || c->stored_password != NULL)
		fprintf(f, "# password: $SEVPN_PASSWORD if set, else the one stored "
			"in the account file\n");
	else
		fprintf(f, "# password: $SEVPN_PASSWORD if set, else asked on the "
			"terminal\n");
}

static void
print_verify(const struct sv_config *c, FILE *f)
{
	char note[512];
	switch (c->verify) {
	case SV_TLS_VERIFY_PIN:
		if (c->known_line > 0)
			snprintf(note, sizeof note, "from %s line %u", c->known_servers,
				c->known_line);
		else if (c->verify_source != NULL && strcmp(c->verify_source, "account") == 0)
			snprintf(note, sizeof note, "the account's ServerCert");
		else
			note[0] = '\0';
		print_hex(f, "pin", c->pin, 32, note[0] ? note : NULL);
		break;
	case SV_TLS_VERIFY_CA:
		if (c->ca_file != NULL)
			print_kv(f, "ca", c->ca_file);
		else
			fprintf(f, "system-ca = yes\n");
		break;
	case SV_TLS_VERIFY_INSECURE:
		if (c->tofu_record)
			fprintf(f, "trust-on-first-use = yes    # %s has no entry yet: the "
				"first certificate will be recorded\n", c->known_servers);
		else
			fprintf(f, "insecure = yes\n");
		break;
	}
	if (c->known_servers != NULL)
		print_kv(f, "known-servers", c->known_servers);
}

/* see config.h */
void
sv_config_print(const struct sv_config *c, FILE *f)
{
	char buf[600];
	static const char *const levels[] = { "error", "warn", "info", "debug", "trace" };

	fprintf(f, "# effective settings; configuration file: %s%s%s%s\n",
		c->config_file ? c->config_file : "none", c->profile ? " [profile " : "",
		c->profile ? c->profile : "", c->profile ? "]" : "");
	if (c->account_file != NULL)
		print_kv(f, "account", c->account_file);
	sv_known_servers_key(c->server_host, c->server_port, buf, sizeof buf);
	print_kv(f, "server", buf);
	print_kv(f, "hub", c->hub);
	print_kv(f, "user", c->user);
	print_kv(f, "auth", auth_name(c->authtype));
	print_secrets(c, f);
	print_verify(c, f);
	if (c->use_upstream) {
		sv_upstream_cfg_describe(&c->upstream, buf, sizeof buf);
		fprintf(f, "upstream-proxy = %s    # from %s\n", buf,
			c->upstream_source ? c->upstream_source : "?");
	} else if (c->no_upstream_proxy) {
		fprintf(f, "no-upstream-proxy = yes\n");
	}
	for (unsigned i = 0; i < c->n_socks; i++)
		print_kv(f, "socks", c->socks[i]);
	for (unsigned i = 0; i < c->n_proxy; i++)
		print_kv(f, "proxy", c->proxy[i]);
	for (unsigned i = 0; i < c->n_http; i++)
		print_kv(f, "http", c->http[i]);
	for (unsigned i = 0; i < c->n_fwd; i++) {
		char t[400];
		sv_forward_format(&c->fwd[i], t, sizeof t);
		print_kv(f, c->fwd[i].kind == SV_FWD_REMOTE ? "remote-forward" : "local-forward",
			t);
	}
	if (c->have_stdio) {
		char t[400];
		sv_forward_format(&c->stdio, t, sizeof t);
		print_kv(f, "stdio", t);
	}
	if (c->no_attach)
		fprintf(f, "no-attach = yes\n");
	if (c->control_path != NULL)
		print_kv(f, "control-path", c->control_path);
	if (c->proxy_user != NULL) {
		print_kv(f, "proxy-user", c->proxy_user);
		if (getenv("SEVPN_PROXY_PASSWORD") != NULL || c->proxy_password_file == NULL)
			fprintf(f, "# proxy password: from $SEVPN_PROXY_PASSWORD\n");
		else
			print_kv(f, "proxy-password-file", c->proxy_password_file);
	}
	if (c->allow_unauthenticated_remote)
		fprintf(f, "allow-unauthenticated-remote = yes\n");
	fprintf(f, "max-clients = %u\n", c->max_clients);
	fprintf(f, "idle-timeout = %u\n", c->idle_timeout_ms / 1000);
	if (c->max_conns_per_client > 0)
		fprintf(f, "max-conns-per-client = %u\n", c->max_conns_per_client);
	for (unsigned i = 0; i < c->n_resolve_local; i++)
		print_kv(f, "resolve-local", c->resolve_local[i]);
	fprintf(f, "max-buffer-memory = %zuK\n", c->max_buffer_memory / 1024);
	if (c->have_mac)
		fprintf(f, "mac = %02x:%02x:%02x:%02x:%02x:%02x\n", c->mac[0], c->mac[1],
			c->mac[2], c->mac[3], c->mac[4], c->mac[5]);
	fprintf(f, "connect-timeout = %g\n", c->connect_timeout_ms / 1000.0);
	if (c->log_level >= 0 && c->log_level <= SV_LOG_TRACE)
		fprintf(f, "log-level = %s\n", levels[c->log_level]);
	if (c->log_file != NULL)
		print_kv(f, "log-file", c->log_file);
}

/* see config.h */
void
sv_config_log_notes(const struct sv_config *c)
{
	if (c->account_file == NULL)
		return;
	if (c->account_max_connection > 1 || c->account_half_connection ||
	    c->account_use_compress)
		log_info("account %s asks for %u TCP connection(s)%s%s; sevpn-proxy uses "
			"one connection without compression for now", c->account_file,
			c->account_max_connection, c->account_half_connection ?
			", half-duplex" : "", c->account_use_compress ? ", compression" : "");
	if (c->account_has_server_cert && c->verify_source != NULL &&
	    strcmp(c->verify_source, "account") == 0)
		log_info("account %s: pinning its saved server certificate (ServerCert)%s",
			c->account_file, c->account_check_server_cert ? "" :
			", although CheckServerCert is off");
	else if (!c->account_has_server_cert && !c->account_check_server_cert &&
		 c->verify_source != NULL && strcmp(c->verify_source, "default") == 0)
		log_info("account %s does not check the server certificate "
			"(CheckServerCert false); sevpn-proxy still verifies it against the "
			"system CA bundle: give --pin SHA256 or --trust-on-first-use for a "
			"self-signed certificate", c->account_file);
	else if (!c->account_has_server_cert && c->account_check_server_cert &&
		 c->verify_source != NULL && strcmp(c->verify_source, "default") == 0)
		log_info("account %s checks the server certificate against the client's "
			"trusted CAs; sevpn-proxy uses the system CA bundle", c->account_file);
}
