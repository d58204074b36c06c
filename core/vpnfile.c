/*
 * SoftEther account files; see vpnfile.h.
 *
 * The reader walks the lines once, keeping the stack of folder names (only the
 * first three levels matter: root, root/ClientOption, root/ClientAuth). Each
 * item of interest is found in a table by folder and name (case-insensitive,
 * as SoftEther's Cfg* functions compare) and stored according to its kind; the
 * declared type must be the one the official client writes. The checks that
 * need the whole file (required folders and items, per-AuthType secrets) run
 * at the end.
 */
#include <bearssl.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "err.h"
#include "vpnfile.h"

#define DEPTH_MAX 16
#define NAME_MAX_LEN 64

enum folder { F_OTHER, F_ROOT, F_OPTION, F_AUTH };

enum kind {
	K_STR,        /* char * */
	K_PORT,       /* uint16_t, 1..65535 */
	K_PORT0,      /* uint16_t, 0..65535 (0: none) */
	K_UINT,       /* unsigned */
	K_BOOL,       /* bool */
	K_HASH,       /* HashedPassword: 20 bytes */
	K_OBFUSCATED, /* char *, from RC4-obfuscated bytes */
	K_BYTES,      /* uint8_t * and its size_t length at len_off */
	K_CERTPIN,    /* ServerCert: its SHA-256 */
};

struct item {
	enum folder folder;
	const char *name;
	const char *type; /* as written in the file */
	enum kind kind;
	size_t off;       /* field in struct sv_vpnfile */
	size_t len_off;   /* K_BYTES: its length field */
};

#define F(x) offsetof(struct sv_vpnfile, x)
static const struct item items[] = {
	{ F_ROOT, "CheckServerCert", "bool", K_BOOL, F(check_server_cert), 0 },
	{ F_ROOT, "ServerCert", "byte", K_CERTPIN, 0, 0 },
	{ F_OPTION, "AccountName", "string", K_STR, F(account_name), 0 },
	{ F_OPTION, "Hostname", "string", K_STR, F(hostname), 0 },
	{ F_OPTION, "Port", "uint", K_PORT, F(port), 0 },
	{ F_OPTION, "HubName", "string", K_STR, F(hub), 0 },
	{ F_OPTION, "ProxyType", "uint", K_UINT, F(proxy_type), 0 },
	{ F_OPTION, "ProxyName", "string", K_STR, F(proxy_name), 0 },
	{ F_OPTION, "ProxyPort", "uint", K_PORT0, F(proxy_port), 0 },
	{ F_OPTION, "ProxyUsername", "string", K_STR, F(proxy_username), 0 },
	{ F_OPTION, "ProxyPassword", "byte", K_OBFUSCATED, F(proxy_password), 0 },
	{ F_OPTION, "CustomHttpHeader", "string", K_STR, F(custom_http_header), 0 },
	{ F_OPTION, "MaxConnection", "uint", K_UINT, F(max_connection), 0 },
	{ F_OPTION, "HalfConnection", "bool", K_BOOL, F(half_connection), 0 },
	{ F_OPTION, "UseCompress", "bool", K_BOOL, F(use_compress), 0 },
	{ F_OPTION, "UseEncrypt", "bool", K_BOOL, F(use_encrypt), 0 },
	{ F_AUTH, "AuthType", "uint", K_UINT, F(authtype), 0 },
	{ F_AUTH, "Username", "string", K_STR, F(username), 0 },
	{ F_AUTH, "HashedPassword", "byte", K_HASH, 0, 0 },
	{ F_AUTH, "EncryptedPassword", "byte", K_OBFUSCATED, F(plain_password), 0 },
	{ F_AUTH, "ClientCert", "byte", K_BYTES, F(client_cert), F(client_cert_len) },
	{ F_AUTH, "ClientKey", "byte", K_BYTES, F(client_key), F(client_key_len) },
};
#undef F

struct parser {
	struct sv_vpnfile *v;
	enum folder stack[DEPTH_MAX];
	int depth;
	bool pending;          /* "declare X" seen, waiting for '{' */
	enum folder pending_folder;
	bool seen_root, seen_option, seen_auth, seen_authtype;
	unsigned line;
	char *err;
	size_t cap;
};

static int fail(struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "line N: <message>" (or just the message when line is 0). */
static int
fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (p->line > 0)
		n = snprintf(p->err, p->cap, "line %u: ", p->line);
	if (n < 0 || (size_t)n >= p->cap)
		return SV_E_INVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->cap - (size_t)n, fmt, ap);
	va_end(ap);
	return SV_E_INVAL;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Undoes SoftEther's "$XX" escaping of s[0..n) into a new string; a lone "$"
 * is "". *outlen gets the length (the result may hold NUL bytes). */
static char *
unescape(const char *s, size_t n, size_t *outlen)
{
	char *out = malloc(n + 1);
	size_t w = 0;

	if (out == NULL)
		return NULL;
	if (n == 1 && s[0] == '$')
		n = 0;
	for (size_t i = 0; i < n; i++) {
		int hi = 0, lo = 0;
		if (s[i] == '$' && i + 2 < n && (hi = sv_hexval(s[i + 1])) >= 0 &&
		    (lo = sv_hexval(s[i + 2])) >= 0) {
			out[w++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[w++] = s[i];
		}
	}
	out[w] = '\0';
	*outlen = w;
	return out;
}

/* see vpnfile.h */
long
sv_vpnfile_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t w = 0, pad = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int v;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0)
			return -1; /* data after padding */
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (w == cap)
				return -1;
			out[w++] = (uint8_t)(acc >> bits);
		}
	}
	/* a lone sextet cannot end a quantum; leftover bits must be zero */
	if (bits >= 6 || pad > 2 || (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (long)w;
}

static void
rc4(const uint8_t *key, size_t klen, const uint8_t *in, uint8_t *out, size_t n)
{
	uint8_t S[256];
	unsigned i, j = 0;

	for (i = 0; i < 256; i++)
		S[i] = (uint8_t)i;
	for (i = 0; i < 256; i++) {
		j = (j + S[i] + key[i % klen]) & 0xff;
		uint8_t t = S[i];
		S[i] = S[j];
		S[j] = t;
	}
	i = j = 0;
	for (size_t k = 0; k < n; k++) {
		i = (i + 1) & 0xff;
		j = (j + S[i]) & 0xff;
		uint8_t t = S[i];
		S[i] = S[j];
		S[j] = t;
		out[k] = in[k] ^ S[(S[i] + S[j]) & 0xff];
	}
	explicit_bzero(S, sizeof S);
}

/* Text: no control characters, valid UTF-8. */
static bool
is_text(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t more;
		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80)
			more = 0;
		else if (c >= 0xc2 && c <= 0xdf)
			more = 1;
		else if (c >= 0xe0 && c <= 0xef)
			more = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			more = 3;
		else
			return false;
		if (more >= n - i)
			return more == 0;
		for (size_t k = 1; k <= more; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		i += more + 1;
	}
	return true;
}

/* see vpnfile.h */
char *
sv_vpnfile_deobfuscate(const uint8_t *p, size_t n)
{
	static const char *const keys[] = { "EncryptP", "Encr" };
	char *out = malloc(n + 1);

	if (out == NULL)
		return NULL;
	for (size_t k = 0; k < 2; k++) {
		rc4((const uint8_t *)keys[k], strlen(keys[k]), p, (uint8_t *)out, n);
		if (is_text((const uint8_t *)out, n)) {
			out[n] = '\0';
			return out;
		}
	}
	explicit_bzero(out, n);
	free(out);
	return NULL;
}

static void
wipe_free(void *p, size_t n)
{
	if (p != NULL) {
		explicit_bzero(p, n);
		free(p);
	}
}

static void
wipe_str(char **s)
{
	if (*s != NULL)
		wipe_free(*s, strlen(*s));
	*s = NULL;
}

/* see vpnfile.h */
void
sv_vpnfile_cleanup(struct sv_vpnfile *v)
{
	free(v->account_name);
	free(v->hostname);
	free(v->hub);
	free(v->username);
	wipe_str(&v->plain_password);
	free(v->client_cert);
	wipe_free(v->client_key, v->client_key_len);
	free(v->proxy_name);
	free(v->proxy_username);
	wipe_str(&v->proxy_password);
	free(v->custom_http_header);
	explicit_bzero(v, sizeof *v);
}

/* Decodes a byte item's value; returns owned bytes (NULL with *n = 0 for an
 * empty value) or an error. */
static int
decode_bytes(struct parser *p, const char *name, const char *val, size_t vlen,
	uint8_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (vlen == 0)
		return 0;
	uint8_t *b = malloc(vlen / 4 * 3 + 3);
	if (b == NULL)
		return SV_E_NOMEM;
	long r = sv_vpnfile_base64_decode(val, vlen, b, vlen / 4 * 3 + 3);
	if (r < 0) {
		free(b);
		return fail(p, "%s: not valid base64", name);
	}
	if (r == 0) {
		free(b);
		return 0;
	}
	*out = b;
	*n = (size_t)r;
	return 0;
}

static int
parse_uint(struct parser *p, const char *name, const char *val,
	unsigned long max, unsigned long *out)
{
	char *end;
	if (val[0] < '0' || val[0] > '9')
		return fail(p, "%s: expected a number", name);
	errno = 0;
	unsigned long x = strtoul(val, &end, 10);
	if (errno != 0 || *end != '\0' || x > max)
		return fail(p, "%s: expected a number up to %lu", name, max);
	*out = x;
	return 0;
}

/* Stores one item value (val: unescaped, NUL-terminated, vlen bytes). */
static int
store(struct parser *p, const struct item *it, const char *val, size_t vlen)
{
	char *base = (char *)p->v;
	unsigned long x;
	uint8_t *b = NULL;
	size_t n = 0;
	int r;

	switch (it->kind) {
	case K_STR: {
		char **dst = (char **)(base + it->off);
		if (strlen(val) != vlen)
			return fail(p, "%s: NUL byte in the value", it->name);
		char *copy = strdup(val);
		if (copy == NULL)
			return SV_E_NOMEM;
		free(*dst);
		*dst = copy;
		return 0;
	}
	case K_PORT:
	case K_PORT0:
		if ((r = parse_uint(p, it->name, val, 65535, &x)) != 0)
			return r;
		if (x == 0 && it->kind == K_PORT)
			return fail(p, "%s: port 0", it->name);
		*(uint16_t *)(base + it->off) = (uint16_t)x;
		return 0;
	case K_UINT:
		if ((r = parse_uint(p, it->name, val, 0xffffffffUL, &x)) != 0)
			return r;
		*(unsigned *)(base + it->off) = (unsigned)x;
		if (it->off == offsetof(struct sv_vpnfile, authtype))
			p->seen_authtype = true;
		return 0;
	case K_BOOL:
		/* "true"/"false"; on import any non-zero number is true, too */
		if (strcasecmp(val, "true") == 0)
			*(bool *)(base + it->off) = true;
		else if (strcasecmp(val, "false") == 0 || vlen == 0)
			*(bool *)(base + it->off) = false;
		else if (val[0] >= '0' && val[0] <= '9')
			*(bool *)(base + it->off) = strtoul(val, NULL, 10) != 0;
		else
			return fail(p, "%s: expected true or false", it->name);
		return 0;
	case K_HASH: {
		static const uint8_t zero[20];
		if ((r = decode_bytes(p, it->name, val, vlen, &b, &n)) != 0)
			return r;
		if (n != 0 && n != 20) {
			wipe_free(b, n);
			return fail(p, "%s: %zu bytes, expected the 20-byte hash",
				it->name, n);
		}
		p->v->have_password_hash = n == 20 && memcmp(b, zero, 20) != 0;
		if (n == 20)
			memcpy(p->v->password_hash, b, 20);
		wipe_free(b, n);
		return 0;
	}
	case K_OBFUSCATED: {
		char **dst = (char **)(base + it->off);
		char *pw;
		if ((r = decode_bytes(p, it->name, val, vlen, &b, &n)) != 0)
			return r;
		pw = n == 0 ? strdup("") : sv_vpnfile_deobfuscate(b, n);
		wipe_free(b, n);
		if (pw == NULL)
			return fail(p, "%s: does not decode to a password (not "
				"written by a SoftEther client?)", it->name);
		wipe_str(dst);
		*dst = pw;
		return 0;
	}
	case K_BYTES: {
		uint8_t **dst = (uint8_t **)(base + it->off);
		size_t *len = (size_t *)(base + it->len_off);
		if ((r = decode_bytes(p, it->name, val, vlen, &b, &n)) != 0)
			return r;
		wipe_free(*dst, *len);
		*dst = b;
		*len = n;
		return 0;
	}
	case K_CERTPIN:
		if ((r = decode_bytes(p, it->name, val, vlen, &b, &n)) != 0)
			return r;
		p->v->have_server_cert = n > 0;
		if (n > 0) {
			br_sha256_context h;
			br_sha256_init(&h);
			br_sha256_update(&h, b, n);
			br_sha256_out(&h, p->v->server_cert_sha256);
		}
		free(b);
		return 0;
	}
	return SV_E_INTERNAL;
}

/* An item line: type, name, value (each raw, still escaped). */
static int
item_line(struct parser *p, const char *type, size_t tlen, const char *name,
	size_t nlen, const char *val, size_t vlen)
{
	enum folder f = p->depth > 0 ? p->stack[p->depth - 1] : F_OTHER;
	const struct item *it = NULL;
	size_t ulen;
	int r;

	if (f == F_OTHER)
		return 0;
	char *uname = unescape(name, nlen, &ulen);
	if (uname == NULL)
		return SV_E_NOMEM;
	for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
		if (items[i].folder == f && strcasecmp(items[i].name, uname) == 0) {
			it = &items[i];
			break;
		}
	}
	free(uname);
	if (it == NULL)
		return 0; /* not one we use */
	if (strlen(it->type) != tlen || strncasecmp(it->type, type, tlen) != 0)
		return fail(p, "%s: declared as '%.*s', expected '%s'", it->name,
			(int)(tlen > 16 ? 16 : tlen), type, it->type);
	char *uval = unescape(val, vlen, &ulen);
	if (uval == NULL)
		return SV_E_NOMEM;
	r = store(p, it, uval, ulen);
	wipe_free(uval, ulen);
	return r;
}

static enum folder
folder_of(struct parser *p, const char *name, size_t n)
{
	if (p->depth == 0 && n == 4 && strncasecmp(name, "root", 4) == 0)
		return F_ROOT;
	if (p->depth == 1 && p->stack[0] == F_ROOT) {
		if (n == 12 && strncasecmp(name, "ClientOption", 12) == 0)
			return F_OPTION;
		if (n == 10 && strncasecmp(name, "ClientAuth", 10) == 0)
			return F_AUTH;
	}
	return F_OTHER;
}

static int
open_folder(struct parser *p)
{
	if (!p->pending)
		return fail(p, "%s", "'{' without 'declare NAME' before it");
	if (p->depth == DEPTH_MAX)
		return fail(p, "folders nested deeper than %d", DEPTH_MAX);
	p->pending = false;
	p->stack[p->depth++] = p->pending_folder;
	p->seen_root |= p->pending_folder == F_ROOT;
	p->seen_option |= p->pending_folder == F_OPTION;
	p->seen_auth |= p->pending_folder == F_AUTH;
	return 0;
}

/* Splits s[0..n) on blanks into at most 4 tokens; returns the count (4 means
 * "4 or more"). */
static int
tokenize(const char *s, size_t n, const char *tok[4], size_t len[4])
{
	int k = 0;
	size_t i = 0;
	while (k < 4) {
		while (i < n && is_blank(s[i]))
			i++;
		if (i == n)
			break;
		tok[k] = s + i;
		while (i < n && !is_blank(s[i]))
			i++;
		len[k] = (size_t)(s + i - tok[k]);
		k++;
	}
	return k;
}

static bool
tok_is(const char *t, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(t, word, n) == 0;
}

static int
parse_line(struct parser *p, const char *s, size_t n)
{
	const char *tok[4];
	size_t len[4];
	int k = tokenize(s, n, tok, len);

	if (k == 0 || tok[0][0] == '#' || (len[0] >= 2 && tok[0][0] == '/' &&
		tok[0][1] == '/'))
		return 0;
	if (k == 1 && tok_is(tok[0], len[0], "{"))
		return open_folder(p);
	if (k == 1 && tok_is(tok[0], len[0], "}")) {
		if (p->depth == 0)
			return fail(p, "%s", "'}' without a folder to close");
		p->depth--;
		return 0;
	}
	if (p->pending)
		return fail(p, "%s", "expected '{' after 'declare NAME'");
	if (k == 2 && tok_is(tok[0], len[0], "declare")) {
		p->pending = true;
		p->pending_folder = folder_of(p, tok[1], len[1]);
		return 0;
	}
	if (k == 3)
		return item_line(p, tok[0], len[0], tok[1], len[1], tok[2],
			len[2]);
	return 0; /* the official client ignores other lines */
}

static int
check_whole(struct parser *p)
{
	struct sv_vpnfile *v = p->v;

	p->line = 0;
	if (p->depth != 0 || p->pending)
		return fail(p, "%s", "the file ends inside a folder (missing '}')");
	if (!p->seen_root || !p->seen_option || !p->seen_auth)
		return fail(p, "%s", "not a SoftEther account file: it needs the "
			"folders 'declare root' with 'ClientOption' and 'ClientAuth' "
			"(export one with vpncmd AccountExport)");
	if (v->hostname == NULL || v->hostname[0] == '\0')
		return fail(p, "%s", "ClientOption has no Hostname");
	if (v->hub == NULL || v->hub[0] == '\0')
		return fail(p, "%s", "ClientOption has no HubName");
	if (v->port == 0)
		v->port = 443;
	if (!p->seen_authtype)
		return fail(p, "%s", "ClientAuth has no AuthType");
	if (v->authtype == 4)
		return fail(p, "%s", "AuthType 4 (smart card) is not supported; "
			"use --auth cert with --cert and --key");
	if (v->authtype > 4)
		return fail(p, "AuthType %u is unknown (expected 0 anonymous, 1 "
			"password, 2 plain, 3 certificate)", v->authtype);
	if (v->authtype != 0 && (v->username == NULL || v->username[0] == '\0'))
		return fail(p, "%s", "ClientAuth has no Username");
	if (v->authtype == 3 && (v->client_cert == NULL || v->client_key == NULL))
		return fail(p, "%s", "AuthType 3 (certificate) without ClientCert "
			"and ClientKey");
	if (v->proxy_type >= 1 && v->proxy_type <= 3 &&
	    (v->proxy_name == NULL || v->proxy_name[0] == '\0' || v->proxy_port == 0))
		return fail(p, "%s", "ProxyType asks for a proxy but ProxyName or "
			"ProxyPort is missing");
	if (v->max_connection == 0)
		v->max_connection = 1;
	/* absent strings read as "" so that callers need no NULL checks */
	char **strs[] = { &v->account_name, &v->username, &v->proxy_name,
		&v->proxy_username, &v->proxy_password, &v->custom_http_header };
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
		if (*strs[i] == NULL && (*strs[i] = strdup("")) == NULL)
			return SV_E_NOMEM;
	return 0;
}

/* see vpnfile.h */
int
sv_vpnfile_parse(struct sv_vpnfile *v, const uint8_t *data, size_t len,
	char *err, size_t errcap)
{
	struct parser p = { .v = v, .err = err, .cap = errcap };
	const char *s = (const char *)data;
	int r = 0;

	memset(v, 0, sizeof *v);
	v->use_encrypt = true;
	if (len > SV_VPNFILE_MAX) {
		snprintf(err, errcap, "larger than %u KiB: not an account file",
			SV_VPNFILE_MAX / 1024);
		return SV_E_TOOBIG;
	}
	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
		s += 3;
		len -= 3;
	}
	while (len > 0 && r == 0) {
		const char *nl = memchr(s, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - s) : len;
		size_t step = nl != NULL ? n + 1 : n;
		p.line++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		r = parse_line(&p, s, n);
		s += step;
		len -= step;
	}
	if (r == 0)
		r = check_whole(&p);
	if (r == SV_E_NOMEM)
		snprintf(err, errcap, "%s", "out of memory");
	if (r != 0)
		sv_vpnfile_cleanup(v);
	return r;
}
