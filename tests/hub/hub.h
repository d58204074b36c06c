/*
 * sevpn-testhub: a SoftEther-protocol test server whose Virtual Hub is libslirp.
 *
 * Tests, the demo and benchmarks use it to run the whole client path without root:
 *
 *   client --TLS--> hub_conn (HTTP signature, hello, login, welcome, data blocks)
 *          --TLS--> hub_conn (additional_connect with the session key) ...
 *                      |  frames of all of a session's connections
 *                      v
 *                   hub_sess (session key, MAC learning, fault pipe)
 *                      |  frames, filtered by hub_frame_filter()
 *                      v
 *                   hub_lan (ONE libslirp instance for the hub, shared by the sessions
 *                            like a LAN segment: DHCP, RA, NAT from the virtual host
 *                            10.77.0.1 to 127.0.0.1; DNS answered here)
 *
 * Safety (shared/docs/traps.md): libslirp is a real NAT, so every frame from the client
 * passes hub_frame_filter() before slirp_input(): only the hub's own virtual addresses
 * (and DHCP broadcasts, link-local ICMPv6 multicast) reach slirp, DNS is answered by the
 * hub from a fixed table, so slirp never opens a socket anywhere but 127.0.0.1 / ::1.
 * IPv4 fragments pass only as pieces of a datagram whose first fragment passed.
 *
 * Modules:
 *   frame.c    pure: filter (and its IPv4 fragment table), DNS responder, DHCP/RA
 *              DNS-option rewrite, test-only DHCP routes (option 121) appended to
 *              slirp's replies (unit-tested)
 *   httpreq.c  pure: server-side HTTP request parser (unit-tested)
 *   login.c    pure: login / additional_connect PACK check -> error code or welcome
 *              PACK (unit-tested)
 *   fault.c    pure: fault names, the frame pipe (delay, jitter, loss, token bucket)
 *   conn.c     one TLS connection: BearSSL server engine pump on libuv, protocol states,
 *              per-connection faults (drops, slow TLS, malformed hello/welcome/blocks)
 *   sess.c     sessions (several connections each, spec 12) and the MAC switch between
 *              them and the LAN
 *   lan.c      libslirp glue: poll fds and timers on libuv (one LAN for the whole hub)
 *   control.c  the test-only control socket (--control PATH: host forwards at run time)
 *   main.c     command line, certificate loading, listener
 */
#ifndef SV_HUB_H
#define SV_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/pack.h"

/* --- network of the virtual hub ---------------------------------------------------- */

struct hub_net {
	uint8_t network[4], netmask[4];
	uint8_t vhost[4];      /* gateway, DNS as advertised; slirp maps it to 127.0.0.1 */
	uint8_t slirp_dns[4];  /* slirp's own vnameserver: never reachable (see lan.c) */
	uint8_t dhcp_start[4];
	uint8_t prefix6[16];
	unsigned prefix6_len;
	uint8_t vhost6[16];     /* maps to ::1 */
	uint8_t slirp_dns6[16]; /* slirp's vnameserver6: never reachable */
	/* Test-only DHCP extras (libslirp's DHCP server cannot send them itself): option
	 * 121 data appended to every OFFER and ACK (hub_frame_add_dhcp_routes), and the
	 * domain (15) and search list (119) handed to slirp (strings borrowed from argv). */
	uint8_t dhcp_routes[255];
	size_t dhcp_routes_len;
	const char *dhcp_domain;
	const char *dhcp_search[5]; /* NULL-terminated */
	/* --arp-claim (tests of address-conflict detection): another host, HUB_CLAIM_MAC,
	 * has this address; the hub answers ARP for it (lan.c) */
	bool has_claim;
	uint8_t claim[4];
};

#define HUB_CLAIM_MAC { 0x02, 0x00, 0x5e, 0xc1, 0xa1, 0x4d }

/* 10.77.0.0/24, vhost .1, slirp's DNS .3, DHCP from .100; fd77::/64, vhost fd77::1. */
void hub_net_defaults(struct hub_net *n);

#define HUB_DNS_MAX 32
#define HUB_DNS_NAME_MAX 253

struct hub_dns_entry {
	char name[HUB_DNS_NAME_MAX + 1]; /* lower case, no trailing dot */
	int family;                      /* 4 or 6 */
	uint8_t addr[16];
};

struct hub_dns {
	struct hub_dns_entry e[HUB_DNS_MAX];
	size_t n;
};

/* "NAME=IP" (IPv4 or IPv6) -> one more entry. 0, SV_E_INVAL, SV_E_TOOBIG (table full). */
int hub_dns_add(struct hub_dns *d, const char *spec);

enum hub_verdict {
	HUB_DROP = 0, /* never reaches slirp */
	HUB_PASS,     /* to slirp_input */
	HUB_DNS,      /* UDP query to the hub's DNS: answer with hub_dns_reply() */
};

/* What to do with one Ethernet frame f[0..n) from the client (borrowed). Stateless:
 * every IPv4 fragment is dropped (hub_frame_filter() passes them). */
enum hub_verdict hub_frame_classify(const struct hub_net *net, const uint8_t *f, size_t n);

/* IPv4 fragments: the verdict of each datagram's first fragment, remembered for the
 * ones that follow (frame.c explains why that is safe). */
#define HUB_FRAG_MAX 64         /* datagrams in flight; then the oldest is forgotten */
#define HUB_FRAG_TTL_MS 5000u   /* a datagram's fragments must arrive within this */

struct hub_frag {
	uint8_t src[4], dst[4];
	uint16_t id;
	uint8_t proto;
	bool pass;           /* the first fragment passed and nothing spoiled the key */
	uint64_t expires_ms;
};

struct hub_frag_table {
	struct hub_frag e[HUB_FRAG_MAX];
	size_t n;
	uint64_t evicted; /* live entries forgotten because the table was full */
};

/*
 * hub_frame_classify() plus IPv4 fragments, with t (caller-owned, zeroed to start) and
 * the time now_ms: a first fragment (offset 0) gets the full check and only unicast to
 * the virtual host passes; a later fragment passes only while its datagram's first
 * fragment passed within HUB_FRAG_TTL_MS, and only if it starts past the transport
 * header. t NULL: fragments are dropped.
 */
enum hub_verdict hub_frame_filter(const struct hub_net *net, struct hub_frag_table *t,
	uint64_t now_ms, const uint8_t *f, size_t n);

/*
 * For a frame classified HUB_DNS: writes the answering Ethernet frame to out[0..cap) and
 * returns its length, or 0 when the query is malformed (then nothing is sent, as a real
 * server would ignore it). Names in the table get their A/AAAA records (NOERROR, empty
 * answer for a type they lack); every other name gets NXDOMAIN.
 */
size_t hub_dns_reply(const struct hub_dns *dns, const uint8_t *q, size_t qn, uint8_t *out,
	size_t cap);

/*
 * slirp advertises its own vnameserver in DHCP (option 6) and in router advertisements
 * (RDNSS). Rewrites those addresses in f[0..n) in place to the virtual host's, fixing the
 * checksums, so the client uses the hub's DNS at the gateway address. Other frames are
 * left alone.
 */
void hub_frame_rewrite_dns(const struct hub_net *net, uint8_t *f, size_t n);

/* "DST/LEN,GATEWAY" (IPv4, e.g. "10.99.0.0/16,10.77.0.1") -> one more RFC 3442
 * descriptor in net->dhcp_routes. 0, SV_E_INVAL, SV_E_TOOBIG (option full). */
int hub_dhcp_route_add(struct hub_net *net, const char *spec);

/*
 * DHCP OFFER or ACK from slirp in f[0..n) (cap bytes of room): appends option 121 with
 * net->dhcp_routes before the END option, growing the frame when the padding after END
 * is too short, and fixes the IPv4 and UDP lengths and checksums. Returns the frame's
 * new length (n when nothing was done: another frame, no routes, no room).
 */
size_t hub_frame_add_dhcp_routes(const struct hub_net *net, uint8_t *f, size_t n, size_t cap);
/*
 * --arp-claim: for an ARP request f[0..n) asking for claim (from anyone but mac), writes
 * the reply of the host that has claim (MAC mac) to out and returns its length (42);
 * 0 for any other frame.
 */
size_t hub_arp_claim_reply(const uint8_t claim[4], const uint8_t mac[6], const uint8_t *f,
	size_t n, uint8_t out[42]);

/*
 * A DHCP message from a client (IPv4, UDP 68 -> 67) in f[0..n): returns its type
 * (option 53: 1 DISCOVER, 3 REQUEST, 4 DECLINE, ...) and fills chaddr and req (option 50,
 * zero when absent); 0 for any other frame.
 */
int hub_dhcp_peek(const uint8_t *f, size_t n, uint8_t chaddr[6], uint8_t req[4]);

/*
 * Sets option 50 (requested address) of the DHCP message in f[0..n) to ip, adding it
 * when absent; the frame may grow up to cap. Fixes lengths and checksums. Returns the
 * new frame length, 0 when f is not a DHCP message from a client or cap is too small.
 * (slirp then offers ip when it is free; the hub uses this to steer a client that
 * declined the claimed address to another one, as a real server would.)
 */
size_t hub_dhcp_set_requested(uint8_t *f, size_t n, size_t cap, const uint8_t ip[4]);

/* Internet checksum (RFC 1071) of p[0..n) added to sum; not folded. */
uint32_t hub_csum_add(uint32_t sum, const uint8_t *p, size_t n);
uint16_t hub_csum_fold(uint32_t sum);

/* --- server-side HTTP request (spec section 3) ------------------------------------- */

#define HUB_HTTP_HEADER_MAX 8192u

struct hub_http_req {
	char method[16];
	char target[256];
	char version[16];
	char content_type[128]; /* "" when absent */
	bool has_length;
	size_t content_length;
	size_t header_len; /* bytes up to and including the blank line */
};

/*
 * Parses a request header block at the start of p[0..n). 0 and *req filled;
 * SV_E_INCOMPLETE (no blank line yet); SV_E_TOOBIG (header block past the ceiling);
 * SV_E_PROTO (malformed request line or header, bad or conflicting Content-Length,
 * Transfer-Encoding).
 */
int hub_http_parse_request(const uint8_t *p, size_t n, struct hub_http_req *req);

/* Appends "HTTP/1.1 <status> <reason>" with the server's headers and body to out. */
int hub_http_write_response(struct sv_buf *out, unsigned status, const char *reason,
	const char *content_type, const uint8_t *body, size_t n);

/* --- accounts and login ---------------------------------------------------------- */

enum hub_user_kind {
	HUB_USER_PASSWORD,  /* authtype 1 (hashed) and 2 (plain) */
	HUB_USER_ANONYMOUS, /* authtype 0 */
};

#define HUB_NAME_MAX 64

struct hub_user {
	char name[HUB_NAME_MAX + 1];
	enum hub_user_kind kind;
	char *password;          /* owned; NULL for anonymous */
	uint8_t stored[20];      /* SHA0(password || UPPER(name)) */
};

/* Malformed server output (--fault-malformed); see hub_malformed_parse(). */
enum hub_malformed {
	HUB_BAD_NONE = 0,
	HUB_BAD_HELLO_RANDOM19,  /* hello `random` of 19 bytes: not a VPN server */
	HUB_BAD_HELLO_TRUNCATED, /* hello PACK cut short (Content-Length matches the cut) */
	HUB_BAD_WELCOME_DUP,     /* welcome with one element twice */
	HUB_BAD_WELCOME_HUGE,    /* welcome body past the client's 1 MiB PACK ceiling */
	HUB_BAD_BLOCK_3201,      /* at the drop trigger: a block with a 3201-byte wire len */
	HUB_BAD_KEEPALIVE_513,   /* at the drop trigger: a keep-alive of 513 bytes */
};

/* "hello-random19" ... -> HUB_BAD_*; -1 for an unknown name. */
int hub_malformed_parse(const char *name);
const char *hub_malformed_name(enum hub_malformed m);

/* Fault injection, each off when zero. */
struct hub_faults {
	unsigned login_error;      /* refuse every login with this ERR_* code */
	uint64_t drop_after_bytes; /* data phase: abort the TCP connection after this many
	                            * bytes sent to the client */
	uint64_t drop_after_ms;    /* ... or this long after the welcome */
	bool drop_rst;             /* abort with RST instead of FIN */
	bool drop_alternate;       /* FIN, RST, FIN, ... by connection id */
	bool kill_session;         /* 5.01: a connection that ends without close_notify
	                            * destroys its whole session (other connections too) */
	uint32_t delay_ms, jitter_ms; /* per frame, both directions */
	uint32_t loss_ppm;         /* frames lost per million, both directions */
	uint64_t rate;             /* bytes/s per direction and session (token bucket) */
	uint64_t seed;             /* of the loss and jitter generator */
	uint32_t slow_tls_ms;      /* wait this long before reading the ClientHello */
	enum hub_malformed malformed;
};

/* --- frame pipe: delay, jitter, loss and rate limit (pure) ----------------------- */

#define HUB_PIPE_MAX_BYTES (512u * 1024u) /* queue bound per direction: then tail drop */

struct hub_pipe_frame {
	struct hub_pipe_frame *next;
	uint64_t due_us;
	size_t len;
	uint8_t data[];
};

struct hub_pipe {
	uint32_t delay_ms, jitter_ms, loss_ppm;
	uint64_t rate;      /* bytes/s, 0 = unlimited */
	uint64_t *rng;      /* shared generator state (borrowed) */
	struct hub_pipe_frame *head, *tail;
	size_t bytes;       /* queued */
	uint64_t last_due;  /* frames leave in order: never before the previous one */
	uint64_t bucket_us; /* token bucket as a virtual clock: empty at this time */
	uint64_t passed, lost, overflow;
};

/* True when any of the pipe faults is on (else frames bypass the pipe). */
bool hub_pipe_wanted(const struct hub_faults *f);
void hub_pipe_init(struct hub_pipe *p, const struct hub_faults *f, uint64_t *rng);
enum { HUB_PIPE_QUEUED = 0, HUB_PIPE_LOST = 1, HUB_PIPE_FULL = 2 };
/* Queues a copy of f[0..n) arriving at now_us: HUB_PIPE_QUEUED, HUB_PIPE_LOST (random
 * loss), HUB_PIPE_FULL (tail drop), or SV_E_NOMEM. */
int hub_pipe_put(struct hub_pipe *p, const uint8_t *f, size_t n, uint64_t now_us);
/* The first frame if it is due at now_us (caller frees it with free()), else NULL. */
struct hub_pipe_frame *hub_pipe_get(struct hub_pipe *p, uint64_t now_us);
/* Due time of the first frame, 0 when empty. */
uint64_t hub_pipe_next_due(const struct hub_pipe *p);
void hub_pipe_clear(struct hub_pipe *p);
/* xorshift64* step; *state must not be 0 (hub_pipe_init fixes a 0 seed). */
uint64_t hub_rand(uint64_t *state);

struct hub_config {
	uint32_t auto_disconnect_s; /* welcome policy:AutoDisconnect (0 = none) */
	const char *listen_host; /* 127.0.0.1 */
	unsigned listen_port;    /* 0 = ephemeral */
	const char *cert_file, *key_file;
	char *hubs[8];
	size_t n_hubs;
	struct hub_user users[16];
	size_t n_users;
	uint32_t timeout_ms; /* welcome `timeout`, and our idle limit */
	unsigned max_sessions;
	struct hub_net net;
	struct hub_dns dns;
	struct hub_faults faults;
};

void hub_config_init(struct hub_config *c);
void hub_config_cleanup(struct hub_config *c);
/* "NAME:PASSWORD" / "NAME" */
int hub_config_add_user(struct hub_config *c, const char *spec);
int hub_config_add_anonymous(struct hub_config *c, const char *name);

/* What the login step decided. */
struct hub_login_result {
	unsigned error;                 /* 0 = welcome (or attach) */
	char user[HUB_NAME_MAX + 1];    /* canonical user name on success */
	bool additional;                /* method additional_connect: attach to a session */
	uint8_t session_key[20];        /* ... the session it names */
	bool noop;                      /* method noop: answer and wait for another request */
	unsigned max_connection;        /* granted (spec 8): min(request, 32), more for qos */
	bool qos;                       /* granted: echo of the request */
};

/*
 * Checks a login PACK against the configuration and the hello random. Pure; the
 * result's error is the ERR_* code the real server would send (3, 4, 7, 8, 9, 33).
 * For additional_connect only the key's form is checked here (4 unless DATA of 20
 * bytes); the caller looks the session up (13 when unknown or ended).
 */
void hub_login_check(const struct hub_config *cfg, const struct sv_pack *req,
	const uint8_t random[20], struct hub_login_result *res);

/*
 * Builds the welcome PACK into out (freshly initialised) for a successful res:
 * session_name SID-<USER>-<id>, connection_name CID-<id>, session_key (20 bytes given),
 * max_connection and qos as granted, timeout, policies...
 */
int hub_login_welcome(const struct hub_config *cfg, const struct hub_login_result *res,
	unsigned id, const uint8_t session_key[20], uint32_t session_key_32, struct sv_pack *out);

#endif
