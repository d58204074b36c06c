/* INI reader: the syntax the configuration file documents, and where errors point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/ini.h"

/* Records every callback as "section|key|value" lines ("-" for NULL). */
struct rec {
	char out[2048];
	size_t n;
	unsigned fail_at; /* line on which the callback refuses; 0 never */
};

static int
record(void *arg, const char *section, const char *key, const char *value, unsigned line,
	char *err, size_t cap)
{
	struct rec *r = arg;
	if (line == r->fail_at) {
		snprintf(err, cap, "refused %s", key ? key : "section");
		return SV_E_INVAL;
	}
	r->n += (size_t)snprintf(r->out + r->n, sizeof r->out - r->n, "%u:%s|%s|%s\n", line,
		section, key ? key : "-", value ? value : "-");
	return 0;
}

static int
run(const char *text, struct rec *r, unsigned *line, char *err, size_t cap)
{
	return sv_ini_parse(text, strlen(text), record, r, line, err, cap);
}

static void
ini_reads_keys_sections_and_comments(void **state)
{
	struct rec r = { 0 };
	char err[128] = "";
	const char *text = "# comment\n"
			   "; another\n"
			   "\n"
			   "server = vpn.example.com:443\n"
			   "  socks=1080  \n"
			   "[profile work]\n"
			   "hub = WORK\n";
	assert_int_equal(run(text, &r, NULL, err, sizeof err), 0);
	assert_string_equal(r.out, "4:|server|vpn.example.com:443\n"
				   "5:|socks|1080\n"
				   "6:profile work|-|-\n"
				   "7:profile work|hub|WORK\n");
}

static void
ini_skips_bom_and_accepts_crlf(void **state)
{
	struct rec r = { 0 };
	char err[128] = "";
	assert_int_equal(run("\xEF\xBB\xBFuser = alice\r\nhub = H\r\n", &r, NULL, err,
				 sizeof err),
		0);
	assert_string_equal(r.out, "1:|user|alice\n2:|hub|H\n");
}

static void
ini_inline_comment_needs_a_blank_before_it(void **state)
{
	struct rec r = { 0 };
	char err[128] = "";
	assert_int_equal(run("a = b#c\nd = e # note\nf = g\t; note\nh = # only a note\n", &r,
				 NULL, err, sizeof err),
		0);
	assert_string_equal(r.out, "1:|a|b#c\n2:|d|e\n3:|f|g\n4:|h|\n");
}

static void
ini_quotes_keep_blanks_and_comment_characters(void **state)
{
	struct rec r = { 0 };
	char err[128] = "";
	assert_int_equal(run("hub = \"My Hub # 1\"  # note\n"
			     "q = \"say \\\"hi\\\" \\\\ there\"\n"
			     "e = \"\"\n",
				 &r, NULL, err, sizeof err),
		0);
	assert_string_equal(r.out, "1:|hub|My Hub # 1\n2:|q|say \"hi\" \\ there\n3:|e|\n");
}

static void
ini_key_alone_has_no_value(void **state)
{
	struct rec r = { 0 };
	char err[128] = "";
	assert_int_equal(run("insecure\ntrust-on-first-use   # yes\n", &r, NULL, err,
				 sizeof err),
		0);
	assert_string_equal(r.out, "1:|insecure|-\n2:|trust-on-first-use|-\n");
}

static void
ini_collapses_blanks_inside_section_names(void **state)
{
	struct rec r = { 0 };
	char err[128] = "";
	assert_int_equal(run("[  profile \t  work  ] # note\n", &r, NULL, err, sizeof err), 0);
	assert_string_equal(r.out, "1:profile work|-|-\n");
}

static void
ini_syntax_errors_name_the_line(void **state)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *msg;
	} cases[] = {
		{ "a = 1\nthis is wrong\n", 2, "expected 'key = value'" },
		{ "a = 1\n\nb = \"open\n", 3, "missing closing" },
		{ "[profile x\n", 1, "closing ']'" },
		{ "[]\n", 1, "empty section" },
		{ "[a] b\n", 1, "after ']'" },
		{ "k = \"v\" extra\n", 1, "after the closing" },
		{ "k = \"a\\nb\"\n", 1, "may only precede" },
		{ "= v\n", 1, "expected 'key = value'" },
		{ "k$ = v\n", 1, "expected 'key = value'" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rec r = { 0 };
		char err[160] = "";
		unsigned line = 0;
		assert_int_equal(run(cases[i].text, &r, &line, err, sizeof err), SV_E_INVAL);
		assert_int_equal(line, cases[i].line);
		if (strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
	}
}

static void
ini_refuses_nul_bytes_and_overlong_lines(void **state)
{
	struct rec r = { 0 };
	char err[128] = "";
	unsigned line = 0;
	const char nul[] = "a = 1\nb = x\0y\n";
	assert_int_equal(sv_ini_parse(nul, sizeof nul - 1, record, &r, &line, err, sizeof err),
		SV_E_INVAL);
	assert_int_equal(line, 2);
	assert_non_null(strstr(err, "NUL"));

	size_t n = SV_INI_LINE_MAX + 10;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'a', n);
	big[1] = '=';
	big[n] = '\0';
	assert_int_equal(run(big, &r, &line, err, sizeof err), SV_E_INVAL);
	assert_int_equal(line, 1);
	assert_non_null(strstr(err, "longer than"));
	free(big);
}

static void
ini_callback_refusal_stops_at_its_line(void **state)
{
	struct rec r = { .fail_at = 3 };
	char err[128] = "";
	unsigned line = 0;
	assert_int_equal(run("a = 1\nb = 2\nc = 3\nd = 4\n", &r, &line, err, sizeof err),
		SV_E_INVAL);
	assert_int_equal(line, 3);
	assert_string_equal(err, "refused c");
	assert_string_equal(r.out, "1:|a|1\n2:|b|2\n");
}

static void
ini_last_line_without_newline_is_read(void **state)
{
	struct rec r = { 0 };
	char err[128] = "";
	assert_int_equal(run("a = 1\nb = 2", &r, NULL, err, sizeof err), 0);
	assert_string_equal(r.out, "1:|a|1\n2:|b|2\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ini_reads_keys_sections_and_comments),
		cmocka_unit_test(ini_skips_bom_and_accepts_crlf),
		cmocka_unit_test(ini_inline_comment_needs_a_blank_before_it),
		cmocka_unit_test(ini_quotes_keep_blanks_and_comment_characters),
		cmocka_unit_test(ini_key_alone_has_no_value),
		cmocka_unit_test(ini_collapses_blanks_inside_section_names),
		cmocka_unit_test(ini_syntax_errors_name_the_line),
		cmocka_unit_test(ini_refuses_nul_bytes_and_overlong_lines),
		cmocka_unit_test(ini_callback_refusal_stops_at_its_line),
		cmocka_unit_test(ini_last_line_without_newline_is_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
