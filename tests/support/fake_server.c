/*
 * Scripted in-memory SoftEther server for tests (see fake_server.h).
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "support/fake_server.h"

#define FS_IN_MAX (1u << 20)

void
fake_server_init(struct fake_server *fs)
{
	memset(fs, 0, sizeof *fs);
	sv_buf_init(&fs->in, FS_IN_MAX);
	sv_buf_init(&fs->last_body, FS_IN_MAX);
	sv_pack_init(&fs->last_pack);
	sv_tunnel_rx_init(&fs->rx);
}

void
fake_server_cleanup(struct fake_server *fs)
{
	sv_buf_cleanup(&fs->in);
	sv_buf_cleanup(&fs->last_body);
	sv_pack_cleanup(&fs->last_pack);
}

static void
on_frame(void *arg, const uint8_t *f, size_t len)
{
	struct fake_server *fs = arg;

	if (fs->nframes >= FAKE_SERVER_MAX_FRAMES)
		return;
	fs->frame_len[fs->nframes] = len;
	memcpy(fs->frame[fs->nframes], f, len < 64 ? len : 64);
	fs->nframes++;
}

/* Content-Length of a NUL-terminated header block; -1 if absent. */
static long
content_length(const char *headers)
{
	const char *line = headers;

	while ((line = strstr(line, "\r\n")) != NULL) {
		line += 2;
		if (strncasecmp(line, "Content-Length:", 15) == 0)
			return strtol(line + 15, NULL, 10);
	}
	return -1;
}

/* One complete request from fs->in, if there: 1 parsed, 0 need more, <0 error.
 */
static int
parse_request(struct fake_server *fs)
{
	size_t n;
	const uint8_t *p = sv_buf_peek(&fs->in, &n);
	const uint8_t *end = memmem(p, n, "\r\n\r\n", 4);

	if (end == NULL)
		return 0;
	size_t hlen = (size_t)(end - p) + 4;
	if (hlen >= sizeof fs->last_headers)
		return SV_E_TOOBIG;
	memcpy(fs->last_headers, p, hlen);
	fs->last_headers[hlen] = 0;
	long clen = content_length(fs->last_headers);
	if (clen < 0)
		return SV_E_PROTO;
	if (n - hlen < (size_t)clen)
		return 0;
	if (sscanf(fs->last_headers, "POST %127s HTTP/1.1\r\n",
	           fs->last_path) != 1)
		return SV_E_PROTO;
	sv_buf_reset(&fs->last_body);
	if (sv_buf_put(&fs->last_body, p + hlen, (size_t)clen) != 0)
		return SV_E_TOOBIG;
	sv_buf_consume(&fs->in, hlen + (size_t)clen);
	fs->requests++;
	if (strcmp(fs->last_path, "/vpnsvc/vpn.cgi") == 0) {
		const uint8_t *b = sv_buf_peek(&fs->last_body, &n);
		sv_pack_cleanup(&fs->last_pack);
		sv_pack_init(&fs->last_pack);
		int r = sv_pack_decode(&fs->last_pack, b, n);
		if (r != 0)
			return r;
		fs->data_phase = true;
	}
	return 1;
}

int
fake_server_recv(struct fake_server *fs, const uint8_t *p, size_t n)
{
	int r;

	fs->bytes += n;
	if (fs->data_phase)
		return sv_tunnel_rx_input(&fs->rx, p, n, on_frame, fs);
	if ((r = sv_buf_put(&fs->in, p, n)) != 0)
		return r;
	while (!fs->data_phase && (r = parse_request(fs)) == 1)
		;
	if (r < 0)
		return r;
	if (fs->data_phase) {
		/* Blocks right behind the login request. */
		const uint8_t *rest = sv_buf_peek(&fs->in, &n);
		r = n > 0 ? sv_tunnel_rx_input(&fs->rx, rest, n, on_frame, fs)
		          : 0;
		sv_buf_reset(&fs->in);
		return r;
	}
	return 0;
}

int
fake_server_reply_raw(struct sv_buf *out, const char *status_line,
                      const char *content_type, const void *body, size_t n)
{
	int r;

	if ((r = sv_buf_printf(out, "%s\r\nConnection: Keep-Alive\r\n",
	                       status_line)) != 0 ||
	    (r = sv_buf_printf(out, "Content-Length: %zu\r\n", n)) != 0 ||
	    (content_type != NULL &&
	     (r = sv_buf_printf(out, "Content-Type: %s\r\n", content_type)) !=
	         0) ||
	    (r = sv_buf_put_str(out,
	                        "Keep-Alive: timeout=15; max=19\r\n\r\n")) != 0)
		return r;
	return sv_buf_put(out, body, n);
}

int
fake_server_reply_pack(struct sv_buf *out, const struct sv_pack *pk)
{
	struct sv_buf body;
	const uint8_t *p;
	size_t n;
	int r;

	sv_buf_init(&body, FS_IN_MAX);
	if ((r = sv_pack_encode(pk, &body)) == 0) {
		p = sv_buf_peek(&body, &n);
		r = fake_server_reply_raw(out, "HTTP/1.1 200 OK",
		                          "application/octet-stream", p, n);
	}
	sv_buf_cleanup(&body);
	return r;
}

int
fake_server_reply_hello(struct sv_buf *out, const uint8_t random[20])
{
	struct sv_pack pk;
	static const uint8_t pad[7] = {1, 2, 3, 4, 5, 6, 7};
	int r;

	sv_pack_init(&pk);
	if ((r = sv_pack_add_str(&pk, "hello",
	                         "SoftEther VPN Server Developer Edition "
	                         "(64 bit) (Open Source)")) == 0 &&
	    (r = sv_pack_add_int(&pk, "version", 501)) == 0 &&
	    (r = sv_pack_add_int(&pk, "build", 9674)) == 0 &&
	    (r = sv_pack_add_data(&pk, "random", random, 20)) == 0 &&
	    (r = sv_pack_add_data(&pk, "pencore", pad, sizeof pad)) == 0)
		r = fake_server_reply_pack(out, &pk);
	sv_pack_cleanup(&pk);
	return r;
}

int
fake_server_reply_welcome(struct sv_buf *out, uint32_t timeout_ms)
{
	struct sv_pack pk;
	uint8_t key[20];
	int r;

	memset(key, 0x5c, sizeof key);
	sv_pack_init(&pk);
	if ((r = sv_pack_add_str(&pk, "session_name", "SID-ALICE-51")) == 0 &&
	    (r = sv_pack_add_str(&pk, "connection_name", "CID-172")) == 0 &&
	    (r = sv_pack_add_data(&pk, "session_key", key, sizeof key)) == 0 &&
	    (r = sv_pack_add_int(&pk, "max_connection", 1)) == 0 &&
	    (r = sv_pack_add_int(&pk, "use_encrypt", 1)) == 0 &&
	    (r = sv_pack_add_int(&pk, "use_compress", 0)) == 0 &&
	    (r = sv_pack_add_int(&pk, "half_connection", 0)) == 0 &&
	    (r = sv_pack_add_int(&pk, "vlan_id", 0)) == 0 &&
	    (r = sv_pack_add_int(&pk, "policy:MaxUpload", 1000000)) == 0 &&
	    (r = sv_pack_add_int(&pk, "policy:MaxDownload", 2000000)) == 0 &&
	    (r = sv_pack_add_int(&pk, "policy:AutoDisconnect", 3600)) == 0 &&
	    (r = sv_pack_add_data(&pk, "Msg", "Welcome!", 8)) == 0 &&
	    (timeout_ms == 0 ||
	     (r = sv_pack_add_int(&pk, "timeout", timeout_ms)) == 0))
		r = fake_server_reply_pack(out, &pk);
	sv_pack_cleanup(&pk);
	return r;
}

int
fake_server_reply_error(struct sv_buf *out, uint32_t code)
{
	struct sv_pack pk;
	int r;

	sv_pack_init(&pk);
	if ((r = sv_pack_add_int(&pk, "error", code)) == 0 &&
	    (r = sv_pack_add_int(&pk, "no_save_password", 0)) == 0)
		r = fake_server_reply_pack(out, &pk);
	sv_pack_cleanup(&pk);
	return r;
}
