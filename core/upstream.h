/*
 * Reaching the VPN server through an upstream proxy: HTTP CONNECT (RFC 9110
 * section 9.3.6) or SOCKS5 (RFC 1928, with RFC 1929 user name and password).
 *
 * Two parts, neither doing any I/O:
 *
 *  - sv_upstream_parse_url() turns "http://[user:pass@]host[:port]",
 *    "socks5://..." or "socks5h://..." into a struct sv_upstream_cfg.
 *
 *  - struct sv_upstream is the client side of the proxy handshake, driven
 *    like every core/ state machine: after the TCP connection to the proxy is
 *    up, send what sv_upstream_output() offers (acknowledging with
 *    sv_upstream_output_ack()), feed what the proxy sends to
 *    sv_upstream_input(), until that returns 1 (tunnel established). The bytes
 *    of that last input past *consumed already belong to the VPN server (its
 *    TLS records) and must be handed on to TLS. From then on the connection is
 *    a plain byte pipe to the VPN server and this object can be freed.
 *
 * Typical use (platform/):
 *
 *   sv_upstream_new(&u, &cfg, server_host, server_port);
 *   loop:
 *     p = sv_upstream_output(u, &n); sent = write(fd, p, n);
 *     sv_upstream_output_ack(u, sent);
 *     n = read(fd, in, sizeof in);
 *     if (n == 0) r = sv_upstream_fail(u, SV_E_CLOSED);
 *     else r = sv_upstream_input(u, in, n, &used);
 *     r < 0:  log_err("%s", sv_upstream_error_text(u)); give up or retry
 *     r == 1: start TLS, hand it in[used..n), sv_upstream_free(u)
 *
 * Errors name the proxy, not the VPN server: sv_upstream_error_text() gives one
 * sentence for the user ("the upstream proxy proxy.example:3128 requires a
 * user name and password ..."). The proxy password is never logged; every copy
 * is wiped with explicit_bzero when no longer needed.
 *
 * SOCKS5 always passes the VPN server's host name to the proxy (ATYP 3,
 * DOMAINNAME) so the proxy resolves it; "socks5://" therefore behaves like
 * curl's "socks5h://", which is accepted as an alias. IP literals go as ATYP 1
 * (IPv4) or 4 (IPv6).
 */
#ifndef SV_UPSTREAM_H
#define SV_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Port used when the URL names none: 1080 for both kinds, as curl does. */
#define SV_UPSTREAM_DEFAULT_PORT 1080
#define SV_UPSTREAM_HOST_MAX 255 /* bytes of a host name, without brackets */
#define SV_UPSTREAM_CRED_MAX 255 /* bytes of the user and of the password */
/* Longest HTTP reply header block (status line + headers + blank line). */
#define SV_UPSTREAM_REPLY_MAX 8192
#define SV_UPSTREAM_ERRTEXT_MAX 384

enum sv_upstream_kind {
	SV_UPSTREAM_HTTP = 1,   /* HTTP CONNECT */
	SV_UPSTREAM_SOCKS5 = 2, /* SOCKS5, remote name resolved by the proxy */
};

/*
 * A parsed proxy URL. Plain data, no pointers: copy it freely, but wipe every
 * copy with sv_upstream_cfg_wipe() since it may hold a password.
 */
struct sv_upstream_cfg {
	enum sv_upstream_kind kind;
	char host[SV_UPSTREAM_HOST_MAX +
	          1]; /* name or IP literal, no brackets */
	uint16_t port;
	bool
	    have_auth; /* user/pass were given (user may be "" for HTTP only) */
	char user[SV_UPSTREAM_CRED_MAX + 1]; /* percent-decoded */
	char pass[SV_UPSTREAM_CRED_MAX + 1]; /* percent-decoded; never log */
};

/*
 * Parses a proxy URL (borrowed) into *cfg. Accepted:
 *   scheme://[user[:password]@]host[:port][/]
 * scheme is http, socks5 or socks5h (case-insensitive); a URL without
 * "scheme://" is taken as http, like curl. host is a DNS name (letters,
 * digits, '-', '.', '_'), an IPv4 literal, or an IPv6 literal in brackets.
 * user and password may be percent-encoded (%40 for '@', %3A for ':'); %00 is
 * refused. Without a port, SV_UPSTREAM_DEFAULT_PORT.
 *
 * Returns 0, or SV_E_INVAL with a sentence in err[0..errcap) saying what is
 * wrong (never quoting the password); *cfg is written only on success.
 */
int sv_upstream_parse_url(const char *url, struct sv_upstream_cfg *cfg,
                          char *err, size_t errcap);

/* Wipes the whole struct (explicit_bzero). Accepts NULL. */
void sv_upstream_cfg_wipe(struct sv_upstream_cfg *cfg);

/*
 * Writes the proxy as "http://host:port" / "socks5://[v6]:port" into
 * out[0..cap), never with the credentials (a "user@" part is shown as
 * "***@"); for log lines. Returns out.
 */
char *sv_upstream_cfg_describe(const struct sv_upstream_cfg *cfg, char *out,
                               size_t cap);

const char *sv_upstream_kind_name(enum sv_upstream_kind kind);

struct sv_upstream;

/*
 * Starts a handshake with the proxy cfg (borrowed; the credentials are copied)
 * leading to target_host:target_port (borrowed; the VPN server, a name or an
 * IP literal, brackets allowed around IPv6). The first message (the CONNECT
 * request, or the SOCKS5 greeting) is ready in sv_upstream_output() at once.
 *
 * Returns 0 and *out (returned owned; free with sv_upstream_free), or
 * SV_E_INVAL (target host empty, longer than 255 bytes, or holding bytes other
 * than letters, digits, '-', '.', '_'; target port 0; cfg unusable) or
 * SV_E_NOMEM.
 */
int sv_upstream_new(struct sv_upstream **out, const struct sv_upstream_cfg *cfg,
                    const char *target_host, uint16_t target_port);

/* Wipes (credentials, buffered bytes) and frees. Accepts NULL. */
void sv_upstream_free(struct sv_upstream *u);

/*
 * Bytes to send to the proxy: *len of them at the returned pointer (valid until
 * the next call on u), *len == 0 when there is nothing to send.
 */
const uint8_t *sv_upstream_output(struct sv_upstream *u, size_t *len);
/* Marks n (<= the length offered) bytes as sent. */
void sv_upstream_output_ack(struct sv_upstream *u, size_t n);

/*
 * Feeds p[0..n) (borrowed) received from the proxy. Returns:
 *   0   all n bytes taken; the handshake needs more (check the output: a
 *       SOCKS5 step may have queued the next message)
 *   1   tunnel established: the first *consumed bytes were the proxy's; the
 *       rest, p[*consumed..n), come from the VPN server and must be handed to
 *       TLS. Calling again after this returns 1 with *consumed = 0.
 *   <0  the handshake failed; sv_upstream_error_text() says why. The error
 *       sticks: later calls return it again. Codes:
 *       SV_E_AUTH      the proxy wants credentials, or refused ours (HTTP 407
 *                      or 401 (tinyproxy's answer to wrong credentials),
 *                      SOCKS5 method 0xFF or RFC 1929 status != 0)
 *       SV_E_PROTO     the answer is not HTTP / SOCKS5, or malformed
 *       SV_E_TOOBIG    HTTP header block past SV_UPSTREAM_REPLY_MAX
 *       -ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH, -ETIMEDOUT, -ECONNABORTED
 *                      the proxy could not reach the VPN server (SOCKS5
 *                      REP 5, 4, 3, 6, 1; HTTP 502/503 -> -ECONNREFUSED,
 *                      504 -> -ETIMEDOUT, other 5xx -> -ECONNABORTED)
 *       -EACCES        the proxy's rules forbid it (SOCKS5 REP 2; HTTP 4xx
 *                      other than 401 and 407)
 *       -EOPNOTSUPP, -EAFNOSUPPORT   SOCKS5 REP 7, 8
 * consumed may be NULL; it is written only when 1 is returned.
 */
int sv_upstream_input(struct sv_upstream *u, const uint8_t *p, size_t n,
                      size_t *consumed);

/*
 * The transport failed before the tunnel was established: r is SV_E_CLOSED
 * (the proxy closed the connection), SV_E_TIMEOUT (no answer in time) or a
 * negative errno (connect or read failed). Records r and a sentence naming the
 * proxy (for a proxy that closed or timed out without a word, with a hint that
 * it may speak the other protocol), unless an error is already recorded (the
 * first one wins). Returns the recorded error; after success, returns r and
 * records nothing.
 */
int sv_upstream_fail(struct sv_upstream *u, int r);

/* True once sv_upstream_input() has returned 1. */
bool sv_upstream_is_established(const struct sv_upstream *u);

/* The recorded error (0 if none). */
int sv_upstream_error(const struct sv_upstream *u);

/*
 * One sentence for the user about the recorded error, naming the proxy (and
 * the VPN server where it helps); "" when there is none. Never holds the
 * password. Bytes quoted from the proxy's answer are limited to printable
 * ASCII. Valid until u is freed.
 */
const char *sv_upstream_error_text(const struct sv_upstream *u);

/*
 * True when retrying through the same proxy with the same settings cannot
 * help: credentials missing or refused, the proxy's rules forbid the target,
 * or the proxy does not speak the configured protocol. False for failures to
 * reach the VPN server and for transport errors.
 */
bool sv_upstream_error_is_permanent(const struct sv_upstream *u);

#endif
