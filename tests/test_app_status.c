/* Status snapshot formatting: JSON fields and escaping, Prometheus metrics, text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/addr.h"
#include "platform/status.h"

static void
sample(struct sv_status *st)
{
	memset(st, 0, sizeof *st);
	st->state = "established";
	strcpy(st->server, "vpn.example.com");
	st->port = 443;
	strcpy(st->hub, "DEFAULT");
	strcpy(st->user, "alice");
	strcpy(st->server_product, "SoftEther VPN Server \"Dev\" (64 bit)");
	st->server_version = 501;
	st->server_build = 9674;
	strcpy(st->session_name, "SID-ALICE-2");
	st->connections = st->max_connection = 1;
	st->encryption = true;
	strcpy(st->cipher, "ECDHE-RSA-AES256-GCM-SHA384");
	st->sessions = 2;
	st->reconnects = 1;
	st->have_lease = true;
	sv_ip_parse("10.77.0.123", &st->lease.ip);
	st->lease.prefix_len = 24;
	sv_ip_parse("10.77.0.1", &st->lease.gw);
	sv_ip_parse("10.77.0.1", &st->lease.dns[0]);
	st->lease.n_dns = 1;
	strcpy(st->lease.domain, "corp.test");
	strcpy(st->lease.search[0], "lab.test");
	strcpy(st->lease.search[1], "corp.test");
	st->lease.n_search = 2;
	sv_ip_parse("10.1.0.0", &st->lease.routes[0].dst);
	st->lease.routes[0].prefix_len = 16;
	sv_ip_parse("10.77.0.1", &st->lease.routes[0].via);
	sv_ip_parse("10.2.3.0", &st->lease.routes[1].dst);
	st->lease.routes[1].prefix_len = 24;
	sv_ip_parse("0.0.0.0", &st->lease.routes[1].via);
	st->lease.n_routes = 2;
	st->bytes_in = 1234567;
	st->frames_out = 42;
	st->proxy_connections = 3;
	strcpy(st->attach_socket, "/run/user/1000/sevpn-proxy/mux-0123456789abcdef.sock");
	st->buffered_bytes = 5000;
	st->buffer_budget_bytes = 64u << 20;
	st->upload_queued_bytes = 7;
}

static void
json_has_the_fields_and_escapes_strings(void **state)
{
	struct sv_status st;
	char buf[4096];
	sample(&st);
	int n = sv_status_json(&st, buf, sizeof buf);
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	assert_non_null(strstr(buf, "\"state\":\"established\""));
	assert_non_null(strstr(buf, "\"server\":\"vpn.example.com\",\"port\":443"));
	assert_non_null(strstr(buf, "\"server_product\":\"SoftEther VPN Server \\\"Dev\\\" (64 bit)\""));
	assert_non_null(strstr(buf, "\"session_name\":\"SID-ALICE-2\""));
	assert_non_null(strstr(buf, "\"ip\":\"10.77.0.123\",\"prefix_len\":24"));
	assert_non_null(strstr(buf, "\"dns\":[\"10.77.0.1\"]"));
	assert_non_null(strstr(buf, "\"domain\":\"corp.test\",\"search\":[\"lab.test\",\"corp.test\"]"));
	assert_non_null(strstr(buf, ",\"routes\":[{\"dst\":\"10.1.0.0/16\",\"via\":\"10.77.0.1\"},"
				    "{\"dst\":\"10.2.3.0/24\",\"via\":\"0.0.0.0\"}],\"ipv6\":["));
	assert_non_null(strstr(buf, "\"bytes_in\":1234567"));
	assert_non_null(strstr(buf, "\"proxy_connections\":3}"));
	assert_non_null(strstr(buf, "\"attach_socket\":"
		"\"/run/user/1000/sevpn-proxy/mux-0123456789abcdef.sock\""));
	assert_non_null(strstr(buf, "\"buffered_bytes\":5000,\"buffer_budget_bytes\":67108864,"
		"\"upload_queued_bytes\":7,"));
	assert_int_equal(buf[n - 1], '\n');
}

static void
json_escapes_control_characters(void **state)
{
	struct sv_status st;
	char buf[4096];
	sample(&st);
	strcpy(st.session_name, "a\nb\x01");
	assert_true(sv_status_json(&st, buf, sizeof buf) > 0);
	assert_non_null(strstr(buf, "\"a\\u000ab\\u0001\""));
}

static void
formatting_reports_a_too_small_buffer(void **state)
{
	struct sv_status st;
	char buf[64];
	sample(&st);
	assert_int_equal(sv_status_json(&st, buf, sizeof buf), -1);
	assert_int_equal(sv_status_metrics(&st, buf, sizeof buf), -1);
	assert_int_equal(sv_status_text(&st, buf, sizeof buf), -1);
}

static void
metrics_are_prometheus_text(void **state)
{
	struct sv_status st;
	char buf[8192];
	sample(&st);
	assert_true(sv_status_metrics(&st, buf, sizeof buf) > 0);
	assert_non_null(strstr(buf, "# TYPE sevpn_up gauge\nsevpn_up 1\n"));
	assert_non_null(strstr(buf, "sevpn_tunnel_bytes_received_total 1234567\n"));
	assert_non_null(strstr(buf, "sevpn_tunnel_frames_sent_total 42\n"));
	assert_non_null(strstr(buf, "sevpn_sessions_total 2\n"));
	assert_non_null(strstr(buf, "# TYPE sevpn_buffered_bytes gauge\nsevpn_buffered_bytes 5000\n"));
	assert_non_null(strstr(buf, "sevpn_buffer_budget_bytes 67108864\n"));
	st.state = "retrying";
	assert_true(sv_status_metrics(&st, buf, sizeof buf) > 0);
	assert_non_null(strstr(buf, "sevpn_up 0\n"));
}

static void
text_reads_like_a_status_screen(void **state)
{
	struct sv_status st;
	char buf[8192];
	sample(&st);
	assert_true(sv_status_text(&st, buf, sizeof buf) > 0);
	assert_non_null(strstr(buf, "State:             established\n"));
	assert_non_null(strstr(buf, "(version 5.01, build 9674)"));
	assert_non_null(strstr(buf, "Address:           10.77.0.123/24 gateway 10.77.0.1\n"));
	assert_non_null(strstr(buf, "Search domain:     lab.test\n"));
	assert_non_null(strstr(buf, "Route:             10.1.0.0/16 via 10.77.0.1\n"
				    "Route:             10.2.3.0/24 on the link\n"));
	assert_non_null(strstr(buf, "Attach socket:     "
		"/run/user/1000/sevpn-proxy/mux-0123456789abcdef.sock\n"));
	st.attach_socket[0] = '\0'; /* none: no line */
	assert_true(sv_status_text(&st, buf, sizeof buf) > 0);
	assert_null(strstr(buf, "Attach socket:"));
}

static void
lease_extras_are_json_members_for_the_ready_file(void **state)
{
	struct sv_status st;
	char buf[512];
	(void)state;
	sample(&st);
	int n = sv_status_lease_extra_json(&st.lease, buf, sizeof buf);
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(buf, "\"domain\":\"corp.test\",\"search\":[\"lab.test\","
		"\"corp.test\"],\"routes\":[{\"dst\":\"10.1.0.0/16\",\"via\":\"10.77.0.1\"},"
		"{\"dst\":\"10.2.3.0/24\",\"via\":\"0.0.0.0\"}]");
	assert_int_equal(sv_status_lease_extra_json(&st.lease, buf, 20), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_has_the_fields_and_escapes_strings),
		cmocka_unit_test(json_escapes_control_characters),
		cmocka_unit_test(formatting_reports_a_too_small_buffer),
		cmocka_unit_test(metrics_are_prometheus_text),
		cmocka_unit_test(text_reads_like_a_status_screen),
		cmocka_unit_test(lease_extras_are_json_members_for_the_ready_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
