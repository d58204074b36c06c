/* Status formatting; see status.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/addr.h"
#include "platform/status.h"

struct out {
	char *p;
	size_t cap, len;
	bool overflow;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	if (o->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->overflow = true;
		return;
	}
	o->len += (size_t)n;
}

/* A JSON string: quotes, backslash and control characters escaped. */
static void
put_jstr(struct out *o, const char *s)
{
	put(o, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			put(o, "\\%c", c);
		else if (c < 0x20)
			put(o, "\\u%04x", c);
		else
			put(o, "%c", c);
	}
	put(o, "\"");
}

static void
put_kstr(struct out *o, const char *key, const char *val, bool comma)
{
	put(o, "\"%s\":", key);
	put_jstr(o, val);
	if (comma)
		put(o, ",");
}

static void
put_ip(struct out *o, const char *key, const struct sv_ip *ip)
{
	char b[SV_IP_STRLEN];
	put_kstr(o, key, ip->family ? sv_ip_format(ip, b, sizeof b) : "", true);
}

static int
finish(struct out *o)
{
	return o->overflow ? -1 : (int)o->len;
}

/* "routes":[{"dst":"10.1.0.0/16","via":"10.77.0.1"},...] (via 0.0.0.0: on the link) */
static void
put_routes_json(struct out *o, const struct sv_lease *l)
{
	char d[SV_IP_STRLEN], v[SV_IP_STRLEN];

	put(o, "\"routes\":[");
	for (unsigned i = 0; i < l->n_routes && i < SV_DHCP_ROUTES_MAX; i++)
		put(o, "{\"dst\":\"%s/%u\",\"via\":\"%s\"}%s",
			sv_ip_format(&l->routes[i].dst, d, sizeof d), l->routes[i].prefix_len,
			sv_ip_format(&l->routes[i].via, v, sizeof v),
			i + 1 < l->n_routes ? "," : "");
	put(o, "]");
}

/* "domain":"...","search":[...],"routes":[...] */
static void
put_names_routes_json(struct out *o, const struct sv_lease *l)
{
	put(o, "\"domain\":");
	put_jstr(o, l->domain);
	put(o, ",\"search\":[");
	for (unsigned i = 0; i < l->n_search; i++) {
		put_jstr(o, l->search[i]);
		put(o, "%s", i + 1 < l->n_search ? "," : "");
	}
	put(o, "],");
	put_routes_json(o, l);
}

/* see status.h */
int
sv_status_lease_extra_json(const struct sv_lease *l, char *out, size_t cap)
{
	struct out o = { .p = out, .cap = cap };

	put_names_routes_json(&o, l);
	return finish(&o);
}

static void
put_lease_json(struct out *o, const struct sv_status *st)
{
	char b[SV_IP_STRLEN];
	const struct sv_lease *l = &st->lease;
	put(o, "\"address\":{");
	if (st->have_lease) {
		put_ip(o, "ip", &l->ip);
		put(o, "\"prefix_len\":%u,", l->prefix_len);
		put_ip(o, "gateway", &l->gw);
		put(o, "\"dns\":[");
		for (unsigned i = 0; i < l->n_dns; i++) {
			put_jstr(o, sv_ip_format(&l->dns[i], b, sizeof b));
			put(o, "%s", i + 1 < l->n_dns ? "," : "");
		}
		put(o, "],");
		put_names_routes_json(o, l);
		put(o, ",\"ipv6\":[");
		for (unsigned i = 0; i < l->n_ip6; i++) {
			put_jstr(o, sv_ip_format(&l->ip6[i], b, sizeof b));
			put(o, "%s", i + 1 < l->n_ip6 ? "," : "");
		}
		put(o, "]");
	}
	put(o, "},");
}

/* see status.h */
int
sv_status_json(const struct sv_status *st, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0, false };
	put(&o, "{");
	put_kstr(&o, "state", st->state, true);
	put_kstr(&o, "server", st->server, true);
	put(&o, "\"port\":%u,", st->port);
	put_kstr(&o, "hub", st->hub, true);
	put_kstr(&o, "user", st->user, true);
	put_kstr(&o, "server_product", st->server_product, true);
	put(&o, "\"server_version\":%u,\"server_build\":%u,", st->server_version,
		st->server_build);
	put_kstr(&o, "session_name", st->session_name, true);
	put_kstr(&o, "connection_name", st->connection_name, true);
	put(&o, "\"connections\":%u,\"max_connection\":%u,", st->connections,
		st->max_connection);
	put(&o, "\"half_duplex\":%s,\"encryption\":%s,\"compression\":%s,",
		st->half_duplex ? "true" : "false", st->encryption ? "true" : "false",
		st->compression ? "true" : "false");
	put_kstr(&o, "cipher", st->cipher, true);
	put_kstr(&o, "server_cert_sha256", st->cert_sha256, true);
	put_kstr(&o, "upstream_proxy", st->upstream_proxy, true);
	put_kstr(&o, "attach_socket", st->attach_socket, true);
	put(&o, "\"started_at\":%llu,\"first_session_at\":%llu,\"session_at\":%llu,",
		(unsigned long long)st->started_at, (unsigned long long)st->first_session_at,
		(unsigned long long)st->session_at);
	put(&o, "\"sessions\":%u,\"reconnects\":%u,", st->sessions, st->reconnects);
	put_lease_json(&o, st);
	put(&o, "\"buffered_bytes\":%llu,\"buffer_budget_bytes\":%llu,"
		"\"upload_queued_bytes\":%llu,", (unsigned long long)st->buffered_bytes,
		(unsigned long long)st->buffer_budget_bytes,
		(unsigned long long)st->upload_queued_bytes);
	put(&o, "\"bytes_in\":%llu,\"bytes_out\":%llu,\"frames_in\":%llu,"
		"\"frames_out\":%llu,\"proxy_connections\":%zu}\n",
		(unsigned long long)st->bytes_in, (unsigned long long)st->bytes_out,
		(unsigned long long)st->frames_in, (unsigned long long)st->frames_out,
		st->proxy_connections);
	return finish(&o);
}

static void
metric(struct out *o, const char *name, const char *type, const char *help,
	unsigned long long v)
{
	put(o, "# HELP sevpn_%s %s\n# TYPE sevpn_%s %s\nsevpn_%s %llu\n", name, help, name,
		type, name, v);
}

/* see status.h */
int
sv_status_metrics(const struct sv_status *st, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0, false };
	metric(&o, "up", "gauge", "1 while a VPN session is established.",
		strcmp(st->state, "established") == 0);
	metric(&o, "sessions_total", "counter", "VPN sessions established.", st->sessions);
	metric(&o, "reconnects_total", "counter", "Attempts after a lost session.",
		st->reconnects);
	metric(&o, "tunnel_bytes_received_total", "counter",
		"Ethernet frame bytes received from the hub.", st->bytes_in);
	metric(&o, "tunnel_bytes_sent_total", "counter",
		"Ethernet frame bytes sent to the hub.", st->bytes_out);
	metric(&o, "tunnel_frames_received_total", "counter",
		"Ethernet frames received from the hub.", st->frames_in);
	metric(&o, "tunnel_frames_sent_total", "counter", "Ethernet frames sent to the hub.",
		st->frames_out);
	metric(&o, "proxy_connections", "gauge", "Open proxied connections.",
		st->proxy_connections);
	metric(&o, "buffered_bytes", "gauge",
		"Bytes received for local clients and not yet written to them.",
		st->buffered_bytes);
	metric(&o, "buffer_budget_bytes", "gauge",
		"Limit on buffered bytes plus open receive windows (--max-buffer-memory).",
		st->buffer_budget_bytes);
	metric(&o, "upload_queued_bytes", "gauge",
		"Bytes from local clients not yet acknowledged by their targets.",
		st->upload_queued_bytes);
	metric(&o, "session_start_time_seconds", "gauge",
		"Unix time the current session began (0: none).", st->session_at);
	return finish(&o);
}

static const char *
yesno(bool b)
{
	return b ? "yes" : "no";
}

/* see status.h */
int
sv_status_text(const struct sv_status *st, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0, false };
	char b[SV_IP_STRLEN];
	put(&o, "State:             %s\n", st->state);
	put(&o, "Server:            %s:%u (hub %s, user %s)\n", st->server, st->port, st->hub,
		st->user);
	if (st->upstream_proxy[0])
		put(&o, "Upstream proxy:    %s\n", st->upstream_proxy);
	if (st->attach_socket[0])
		put(&o, "Attach socket:     %s\n", st->attach_socket);
	if (st->server_product[0])
		put(&o, "Server product:    %s (version %u.%02u, build %u)\n", st->server_product,
			st->server_version / 100, st->server_version % 100, st->server_build);
	if (st->session_name[0])
		put(&o, "Session:           %s (%s)\n", st->session_name, st->connection_name);
	put(&o, "TCP connections:   %u of %u (half-duplex %s)\n", st->connections,
		st->max_connection, yesno(st->half_duplex));
	put(&o, "Encryption:        %s%s%s%s\n", yesno(st->encryption),
		st->cipher[0] ? " (" : "", st->cipher, st->cipher[0] ? ")" : "");
	put(&o, "Compression:       %s\n", yesno(st->compression));
	if (st->cert_sha256[0])
		put(&o, "Server cert:       SHA-256 %s\n", st->cert_sha256);
	put(&o, "Sessions:          %u established, %u reconnect attempts\n", st->sessions,
		st->reconnects);
	if (st->have_lease) {
		put(&o, "Address:           %s/%u", sv_ip_format(&st->lease.ip, b, sizeof b),
			st->lease.prefix_len);
		put(&o, " gateway %s\n", sv_ip_format(&st->lease.gw, b, sizeof b));
		for (unsigned i = 0; i < st->lease.n_dns; i++)
			put(&o, "DNS server:        %s\n",
				sv_ip_format(&st->lease.dns[i], b, sizeof b));
		if (st->lease.domain[0])
			put(&o, "DNS domain:        %s\n", st->lease.domain);
		for (unsigned i = 0; i < st->lease.n_search; i++)
			put(&o, "Search domain:     %s\n", st->lease.search[i]);
		for (unsigned i = 0; i < st->lease.n_routes && i < SV_DHCP_ROUTES_MAX; i++) {
			const struct sv_dhcp_route *r = &st->lease.routes[i];
			char v[SV_IP_STRLEN];
			bool on_link = r->via.b[0] == 0 && r->via.b[1] == 0 &&
				r->via.b[2] == 0 && r->via.b[3] == 0;
			put(&o, "Route:             %s/%u %s%s\n",
				sv_ip_format(&r->dst, b, sizeof b), r->prefix_len,
				on_link ? "on the link" : "via ",
				on_link ? "" : sv_ip_format(&r->via, v, sizeof v));
		}
		for (unsigned i = 0; i < st->lease.n_ip6; i++)
			put(&o, "IPv6 address:      %s\n",
				sv_ip_format(&st->lease.ip6[i], b, sizeof b));
	}
	put(&o, "Traffic:           %llu bytes in (%llu frames), %llu bytes out (%llu frames)\n",
		(unsigned long long)st->bytes_in, (unsigned long long)st->frames_in,
		(unsigned long long)st->bytes_out, (unsigned long long)st->frames_out);
	put(&o, "Proxy connections: %zu\n", st->proxy_connections);
	put(&o, "Buffered:          %llu KiB for local clients (budget %llu KiB), %llu KiB "
		"to send\n", (unsigned long long)st->buffered_bytes / 1024,
		(unsigned long long)st->buffer_budget_bytes / 1024,
		(unsigned long long)st->upload_queued_bytes / 1024);
	return finish(&o);
}
