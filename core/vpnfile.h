/*
 * The official SoftEther client's account files (`vpncmd AccountExport`, the
 * ".vpn" files of the Client Manager), spec section 17: a UTF-8 text with a
 * BOM and CRLF line ends holding one folder tree,
 *
 *   declare root
 *   {
 *   	bool CheckServerCert true
 *   	declare ClientAuth
 *   	{
 *   		uint AuthType 1
 *   		byte HashedPassword 9C9Hs/lKqIQvtJNEupweER7NH6c=
 *   ...
 *
 * where each item is "<type> <name> <value>" (types uint, uint64, bool,
 * string, byte = base64), names and values escape bytes below 0x21 and '$' as
 * "$XX", and a lone "$" is the empty value. Lines that are no item, folder or
 * brace are ignored, as the official client does.
 *
 * sv_vpnfile_parse() pulls out what a client needs: server, hub, user, the
 * authentication and its stored secret (the SHA-0 password hash, the RC4
 * obfuscated plain password, or the client certificate and key), the pinned
 * server certificate, and the upstream proxy. No I/O; secrets are wiped by
 * sv_vpnfile_cleanup().
 */
#ifndef SV_VPNFILE_H
#define SV_VPNFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest account file we read (a 4096-bit certificate and key in base64
 * stay well below 32 KiB). */
#define SV_VPNFILE_MAX (1024u * 1024u)

enum sv_vpnfile_proxy {
	SV_VPNFILE_PROXY_DIRECT = 0,
	SV_VPNFILE_PROXY_HTTP = 1,
	SV_VPNFILE_PROXY_SOCKS4 = 2,
	SV_VPNFILE_PROXY_SOCKS5 = 3,
};

struct sv_vpnfile {
	char *account_name; /* owned; "" if absent */
	char *hostname;     /* owned */
	uint16_t port;
	char *hub;          /* owned */
	char *username;     /* owned; "" for an anonymous account without one */
	unsigned authtype;  /* 0 anonymous, 1 password, 2 plain, 3 certificate */

	/* AuthType 1: the 20-byte SHA-0 hash SoftEther stores (spec 7.3) */
	bool have_password_hash;
	uint8_t password_hash[20];
	/* AuthType 2: the de-obfuscated password; owned, NULL if none stored */
	char *plain_password;
	/* AuthType 3: DER certificate and private key, owned */
	uint8_t *client_cert, *client_key;
	size_t client_cert_len, client_key_len;

	bool check_server_cert;   /* CheckServerCert */
	bool have_server_cert;    /* ServerCert was present (non-empty) */
	uint8_t server_cert_sha256[32];

	unsigned proxy_type;      /* enum sv_vpnfile_proxy (other values kept) */
	char *proxy_name;         /* owned; "" if none */
	uint16_t proxy_port;
	char *proxy_username;     /* owned; "" if none */
	char *proxy_password;     /* owned, de-obfuscated; "" if none */
	char *custom_http_header; /* owned; "" if none */

	unsigned max_connection;  /* MaxConnection (1..32) */
	bool half_connection, use_compress, use_encrypt;
};

/*
 * Parses data[0..len) (borrowed). On success fills *v (every pointer owned;
 * release with sv_vpnfile_cleanup) and returns 0. Else SV_E_INVAL with a
 * sentence in err ("line 12: Port: ...", or what is missing), SV_E_TOOBIG
 * when len > SV_VPNFILE_MAX, or SV_E_NOMEM; *v is then left empty (safe to
 * clean up). Never puts secrets into err.
 */
int sv_vpnfile_parse(struct sv_vpnfile *v, const uint8_t *data, size_t len,
	char *err, size_t errcap);

/* Wipes the secrets and frees; leaves *v zeroed. Accepts an all-zero *v. */
void sv_vpnfile_cleanup(struct sv_vpnfile *v);

/*
 * Undoes SoftEther's password obfuscation (spec 17.2): RC4 with the key
 * "EncryptP", or "Encr" (32-bit builds) when the first result is not text.
 * Returns the password as a heap string (owned; wipe before freeing), or
 * NULL (neither key gives text without control characters, or no memory).
 */
char *sv_vpnfile_deobfuscate(const uint8_t *p, size_t n);

/*
 * Decodes base64 (RFC 4648, '=' padding optional, no blanks) of s[0..n)
 * into out[0..cap). Returns the decoded length, or -1 for bad input or a
 * too-small out.
 */
long sv_vpnfile_base64_decode(const char *s, size_t n, uint8_t *out,
	size_t cap);

#endif
