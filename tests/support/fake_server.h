/*
 * An in-memory, scripted SoftEther server for session tests: it parses what the
 * client sends (the two HTTP POSTs, then block messages) and builds the
 * server's answers (hello, welcome, error PACKs in HTTP 200 responses). No
 * sockets, no clock.
 *
 * Typical use: feed sv_session_output() bytes to fake_server_recv(), inspect
 * fs.requests / fs.last_path / fs.last_pack / fs.frames, and pass a response
 * built with fake_server_hello() etc. to sv_session_input().
 */
#ifndef SV_TEST_FAKE_SERVER_H
#define SV_TEST_FAKE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/pack.h"
#include "core/tunnel.h"

#define FAKE_SERVER_MAX_FRAMES 64

struct fake_server {
	struct sv_buf in; /* unparsed client bytes of the HTTP phase */
	int requests;     /* complete requests parsed */
	char last_path[128];
	char last_headers[2048]; /* raw header block of the last request */
	struct sv_buf last_body;
	struct sv_pack last_pack; /* decoded body of the last vpn.cgi request */
	bool data_phase;          /* after the PACK request: block messages */
	struct sv_tunnel_rx rx;
	size_t nframes; /* frames received in the data phase */
	size_t frame_len[FAKE_SERVER_MAX_FRAMES];
	uint8_t frame[FAKE_SERVER_MAX_FRAMES]
	             [64]; /* first bytes of each frame */
	uint64_t bytes;    /* every byte the client sent */
};

void fake_server_init(struct fake_server *fs);
void fake_server_cleanup(struct fake_server *fs);

/* Client -> server bytes. 0, or an SV_E_* code when the client broke the
 * protocol. */
int fake_server_recv(struct fake_server *fs, const uint8_t *p, size_t n);

/* Appends "HTTP/1.1 200 OK" + the encoded PACK to out. */
int fake_server_reply_pack(struct sv_buf *out, const struct sv_pack *pk);
/* Hello PACK as the 5.01 server sends it, with the given 20-byte random. */
int fake_server_reply_hello(struct sv_buf *out, const uint8_t random[20]);
/* Welcome PACK; timeout_ms 0 leaves the element out. */
int fake_server_reply_welcome(struct sv_buf *out, uint32_t timeout_ms);
/* Error PACK {error=code, no_save_password=0}. */
int fake_server_reply_error(struct sv_buf *out, uint32_t code);
/* Appends an HTTP response with any status, content type and body. */
int fake_server_reply_raw(struct sv_buf *out, const char *status_line,
                          const char *content_type, const void *body, size_t n);

#endif
