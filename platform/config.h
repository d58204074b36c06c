/*
 * Command line, configuration file and .vpn account -> struct sv_config,
 * validated in one place.
 *
 * Settings come in layers; a later layer overrides an earlier one, option by
 * option:
 *   1. the .vpn account (--account FILE, or "account" in the config file),
 *   2. the configuration file: its keys before any section, then those of the
 *      [profile NAME] chosen with --profile NAME,
 *   3. the command line.
 * A repeatable option (socks, proxy, http) given in a layer replaces the list
 * of the layers below. The certificate check (pin, ca, system-ca, insecure) is
 * one setting: a layer that names one replaces the choice of the layers below;
 * two in the same layer are an error.
 *
 * The configuration file is --config FILE, else $XDG_CONFIG_HOME/sevpn-proxy/
 * config (~/.config/sevpn-proxy/config) when it exists; --no-config skips it.
 * Its keys are the long option names, e.g. "server = vpn.example.com:443",
 * "socks = 1080" (repeated for several), "insecure = yes"; see core/ini.h for
 * the syntax. Relative paths in it are relative to its directory, and "~/" is
 * the home directory.
 *
 * sv_config_parse() never exits and never prints: it returns 0, or SV_E_INVAL
 * (or SV_E_NOMEM) with a sentence for the user in err, naming FILE:LINE for
 * mistakes in a file. It reads the configuration file, the .vpn account and
 * the known-servers file, and the upstream-proxy environment variables.
 * Help and version are reported through cfg->want_help / cfg->want_version.
 */
#ifndef SV_CONFIG_H
#define SV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/tls.h"
#include "core/upstream.h"
#include "socks/forward.h"

#define SV_MAX_LISTENERS 8
#define SV_MAX_RESOLVE_LOCAL 32
#define SV_MAX_FORWARDS 16
#define SV_DEFAULT_MAX_CLIENTS 10000
#define SV_DEFAULT_IDLE_TIMEOUT_S 7200
/* Data received for local clients that read slowly (netstack/tcpconn.h). */
#define SV_DEFAULT_MAX_BUFFER_MEMORY (64u * 1024u * 1024u)
/* The largest configuration file we read. */
#define SV_CONFIG_FILE_MAX (256u * 1024u)

struct sv_config {
	char *server_host;    /* owned */
	uint16_t server_port; /* default 443 */
	char *hub;            /* owned; default "DEFAULT" */
	char *user;           /* owned */
	int authtype;         /* enum sv_authtype */
	char *password_file;  /* owned or NULL */
	char *password_env;   /* owned or NULL: name of the variable to read */
	char *cert_file;      /* owned or NULL; SV_AUTH_CERT only */
	char *key_file;       /* owned or NULL; SV_AUTH_CERT only */

	enum sv_tls_verify verify;
	bool have_pin;
	uint8_t pin[32];
	char *ca_file;        /* owned or NULL (system bundle) */
	/* What chose verify (static string): "command line", "config file",
	 * "account" (the .vpn ServerCert), "known-servers",
	 * "trust-on-first-use" or "default". */
	const char *verify_source;

	char *socks[SV_MAX_LISTENERS]; /* owned listen addresses: SOCKS4/4a/5 */
	unsigned n_socks;
	char *proxy[SV_MAX_LISTENERS]; /* --proxy: SOCKS4/5 and HTTP on one port */
	unsigned n_proxy;
	char *http[SV_MAX_LISTENERS];  /* --http: the HTTP proxy */
	unsigned n_http;
	/* -L/--local-forward and -R/--remote-forward (config keys local-forward,
	 * remote-forward), in the order given; --stdio HOST:PORT (key stdio). */
	struct sv_forward_spec fwd[SV_MAX_FORWARDS];
	unsigned n_fwd;
	bool have_stdio;
	struct sv_forward_spec stdio;
	/*
	 * Credentials the local proxy asks its clients for (SOCKS5 RFC 1929, HTTP
	 * Proxy-Authorization: Basic); proxy_user NULL: none. proxy_password is owned
	 * and wiped; it comes from $SEVPN_PROXY_PASSWORD, else the first line of
	 * --proxy-password-file. A listener that is not loopback-only or a Unix socket
	 * needs them unless allow_unauthenticated_remote.
	 */
	char *proxy_user;
	char *proxy_password_file;
	char *proxy_password;
	bool allow_unauthenticated_remote;
	unsigned max_clients;      /* --max-clients, default SV_DEFAULT_MAX_CLIENTS */
	unsigned max_conns_per_client; /* --max-conns-per-client; 0 = no limit */
	/* --resolve-local PATTERN (key resolve-local): names looked up on this host
	 * (netstack/resolve.h sv_resolve_set_local syntax); owned. */
	char *resolve_local[SV_MAX_RESOLVE_LOCAL];
	unsigned n_resolve_local;
	unsigned idle_timeout_ms;  /* --idle-timeout, default 2 h; 0 = none */
	size_t max_buffer_memory;  /* --max-buffer-memory, bytes */
	unsigned max_tcp;          /* --max-tcp: TCP connections per session, 1..32 */
	bool compress;             /* --compress: per-frame zlib (spec 11.4) */
	bool half_duplex;          /* --half-duplex: one-way connections (spec 11.5) */

	bool have_mac;
	uint8_t mac[6];
	unsigned connect_timeout_ms;
	int log_level;
	char *log_file;       /* owned or NULL: --log-file */
	bool want_help, want_version;
	bool check_config;    /* --check-config: print the settings, exit */

	/* Where the settings came from (owned or NULL), for messages. */
	char *config_file;    /* the configuration file read */
	char *profile;        /* --profile */
	char *account_file;   /* the .vpn account read */

	/*
	 * Stored credentials from the .vpn account; dropped when a later layer
	 * changes --auth (or --user, for the hash, which depends on it), and
	 * not used when --password-file or --password-env is given.
	 */
	bool have_password_hash;     /* SV_AUTH_PASSWORD: SoftEther's hash */
	uint8_t password_hash[20];
	char *stored_password;       /* owned; SV_AUTH_PLAIN */
	uint8_t *account_cert;       /* owned DER; SV_AUTH_CERT without --cert */
	size_t account_cert_len;
	uint8_t *account_key;        /* owned DER (wiped on cleanup) */
	size_t account_key_len;

	/*
	 * Upstream proxy to reach the VPN server. The options as given
	 * (upstream_proxy owned, may hold a password; never print it), and the
	 * decision made from them, the .vpn account's Proxy* items and the
	 * environment (platform/upstream_cfg.h): use_upstream says whether to
	 * connect through cfg->upstream; upstream_source names what decided
	 * ("--upstream-proxy", "account", "HTTPS_PROXY", ...; static string,
	 * NULL when nothing was configured).
	 */
	char *upstream_proxy;
	bool no_upstream_proxy;
	bool use_upstream;
	struct sv_upstream_cfg upstream;
	const char *upstream_source;

	/*
	 * Trust on first use. known_servers: the file consulted when no
	 * pin/ca/system-ca/insecure was chosen (owned; --known-servers or the
	 * default path; NULL if there is none). known_line > 0: verify is
	 * SV_TLS_VERIFY_PIN with the pin recorded on that line. tofu_record:
	 * --trust-on-first-use and no entry yet: verify is
	 * SV_TLS_VERIFY_INSECURE and the certificate seen must be recorded
	 * (sv_known_servers_add) once the login succeeded.
	 */
	bool tofu;
	char *known_servers;
	unsigned known_line;
	bool tofu_record;

	/* --control ADDR (loopback status listener), --ready-file PATH; owned or NULL. */
	char *control;
	char *ready_file;
	/* --stdio attaches to an instance serving the same account (platform/mux.h),
	 * unless --no-attach; --control-path PATH (owned or NULL) replaces the default
	 * per-account socket path, for both sides. */
	bool no_attach;
	char *control_path;
	/* Exec mode: the command after `--` (borrowed from argv), or NULL. */
	char **exec_argv;

	/* What the .vpn account asked for that we do not do (for a log line). */
	unsigned account_max_connection;
	bool account_half_connection, account_use_compress;
	bool account_check_server_cert, account_has_server_cert;
};

void sv_config_init(struct sv_config *c);
/* Frees and wipes the secrets; leaves *c zeroed. */
void sv_config_cleanup(struct sv_config *c);
int sv_config_parse(struct sv_config *c, int argc, char **argv, char *err, size_t errcap);
/* Usage text for --help. */
const char *sv_config_usage(void);

/*
 * Writes the effective settings to f in the configuration file's syntax, with
 * comments saying where secrets come from (never the secrets themselves).
 */
void sv_config_print(const struct sv_config *c, FILE *f);

/* Logs (info) what the .vpn account asked for that is handled differently:
 * several connections, half-duplex, compression, the certificate check. */
void sv_config_log_notes(const struct sv_config *c);

/* "02:5e:00:11:22:33" or "02-5e-..." -> mac; 0 or SV_E_INVAL. */
int sv_config_parse_mac(const char *s, uint8_t mac[6]);
/* "host", "host:port", "[v6]:port", "v6" (no port) -> host (owned) + port. */
int sv_config_parse_hostport(const char *s, uint16_t defport, char **host, uint16_t *port);

#endif
