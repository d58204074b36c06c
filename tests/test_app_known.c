/* Known-servers file: lookup, recording, replacement, permissions, damaged files. */
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "platform/known.h"

static char dir[256];

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static int
setup(void **state)
{
	snprintf(dir, sizeof dir, "%s/sv-known.XXXXXX",
		getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	return nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void
path_in(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *
read_text(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static const uint8_t PIN_A[32] = { 0x87, 0x5c, 0xa0, 0x43, [31] = 0x5b };
static const uint8_t PIN_B[32] = { 0x11, 0x22, [31] = 0xff };
#define HEX_A "875ca0430000000000000000000000000000000000000000000000000000005b"

static void
known_absent_file_means_not_known(void **state)
{
	char p[300];
	uint8_t pin[32];
	path_in(p, sizeof p, "none/known_servers");
	assert_int_equal(sv_known_servers_lookup(p, "vpn.test", 443, pin, NULL), 0);
}

static void
known_add_then_lookup_finds_the_pin(void **state)
{
	char p[300];
	uint8_t pin[32] = { 0 };
	unsigned line = 0;
	struct stat st;
	path_in(p, sizeof p, "a/b/known_servers");
	assert_int_equal(sv_known_servers_add(p, "vpn.test", 443, PIN_A), 0);
	assert_int_equal(sv_known_servers_lookup(p, "VPN.test", 443, pin, &line), 1);
	assert_memory_equal(pin, PIN_A, 32);
	assert_int_equal(line, 1);
	assert_int_equal(sv_known_servers_lookup(p, "vpn.test", 444, pin, NULL), 0);
	assert_int_equal(sv_known_servers_lookup(p, "other.test", 443, pin, NULL), 0);
	/* the file is private, and so are the directories we made */
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	path_in(p, sizeof p, "a/b");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	path_in(p, sizeof p, "a/b/known_servers");
	assert_string_equal(read_text(p),
		"vpn.test:443 " HEX_A "\n");
}

static void
known_add_replaces_the_entry_and_keeps_the_rest(void **state)
{
	char p[300];
	uint8_t pin[32];
	unsigned line = 0;
	path_in(p, sizeof p, "known_servers");
	write_text(p, "# my servers\n"
		      "other.test:443 " HEX_A "\n"
		      "\n"
		      "VPN.test:443 " HEX_A "\n"
		      "[fd00::1]:5555 87:5C:A0:43:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:"
		      "00:00:00:00:00:00:00:00:00:00:00:5B");
	assert_int_equal(sv_known_servers_lookup(p, "fd00::1", 5555, pin, &line), 1);
	assert_int_equal(line, 5);
	assert_memory_equal(pin, PIN_A, 32);
	assert_int_equal(sv_known_servers_add(p, "vpn.test", 443, PIN_B), 0);
	assert_int_equal(sv_known_servers_lookup(p, "vpn.test", 443, pin, &line), 1);
	assert_memory_equal(pin, PIN_B, 32);
	assert_int_equal(line, 5); /* moved to the end */
	const char *text = read_text(p);
	assert_non_null(strstr(text, "# my servers\nother.test:443 " HEX_A "\n\n[fd00::1]:5555"));
	assert_null(strstr(text, "VPN.test"));
	/* no temporary file left behind */
	DIR *d = opendir(dir);
	unsigned files = 0;
	assert_non_null(d);
	for (struct dirent *de; (de = readdir(d)) != NULL;)
		files += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(files, 1);
}

static void
known_damaged_file_is_reported_with_its_line(void **state)
{
	char p[300];
	uint8_t pin[32], before[4096];
	unsigned line = 0;
	path_in(p, sizeof p, "known_servers");
	write_text(p, "ok.test:443 " HEX_A "\nbroken.test:443 nothex\nvpn.test:443 " HEX_A "\n");
	assert_int_equal(sv_known_servers_lookup(p, "vpn.test", 443, pin, &line), SV_E_INVAL);
	assert_int_equal(line, 2);
	/* an entry before the damage is still found */
	assert_int_equal(sv_known_servers_lookup(p, "ok.test", 443, pin, &line), 1);
	/* adding does not rewrite a file it cannot understand */
	snprintf((char *)before, sizeof before, "%s", read_text(p));
	assert_int_equal(sv_known_servers_add(p, "new.test", 443, PIN_B), SV_E_INVAL);
	assert_string_equal(read_text(p), (char *)before);
	write_text(p, "vpn.test " HEX_A "\n"); /* no port */
	assert_int_equal(sv_known_servers_lookup(p, "vpn.test", 443, pin, &line), SV_E_INVAL);
	write_text(p, "vpn.test:443 " HEX_A " extra\n");
	assert_int_equal(sv_known_servers_lookup(p, "vpn.test", 443, pin, &line), SV_E_INVAL);
}

static void
known_key_brackets_ipv6(void **state)
{
	char k[64];
	sv_known_servers_key("fd00::1", 443, k, sizeof k);
	assert_string_equal(k, "[fd00::1]:443");
	sv_known_servers_key("10.0.0.1", 992, k, sizeof k);
	assert_string_equal(k, "10.0.0.1:992");
}

static void
known_default_path_follows_xdg(void **state)
{
	setenv("XDG_DATA_HOME", "/x/data", 1);
	char *p = sv_known_servers_default_path();
	assert_string_equal(p, "/x/data/sevpn-proxy/known_servers");
	free(p);
	setenv("XDG_DATA_HOME", "relative", 1); /* ignored, as the spec says */
	setenv("HOME", "/home/u", 1);
	p = sv_known_servers_default_path();
	assert_string_equal(p, "/home/u/.local/share/sevpn-proxy/known_servers");
	free(p);
	unsetenv("XDG_DATA_HOME");
	unsetenv("HOME");
	assert_null(sv_known_servers_default_path());
}

static void
known_mismatch_text_names_file_line_and_fingerprint(void **state)
{
	char out[1024];
	sv_known_servers_mismatch_text("/h/.local/share/sevpn-proxy/known_servers", 7,
		"vpn.test", 443, PIN_A, out, sizeof out);
	assert_non_null(strstr(out, "vpn.test:443"));
	assert_non_null(strstr(out, "SHA-256 87:5C:A0:43:00:"));
	assert_non_null(strstr(out, ":00:5B)"));
	assert_non_null(strstr(out, "delete line 7 of /h/.local/share/sevpn-proxy/known_servers"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(known_absent_file_means_not_known, setup,
			teardown),
		cmocka_unit_test_setup_teardown(known_add_then_lookup_finds_the_pin, setup,
			teardown),
		cmocka_unit_test_setup_teardown(known_add_replaces_the_entry_and_keeps_the_rest,
			setup, teardown),
		cmocka_unit_test_setup_teardown(known_damaged_file_is_reported_with_its_line,
			setup, teardown),
		cmocka_unit_test(known_key_brackets_ipv6),
		cmocka_unit_test(known_default_path_follows_xdg),
		cmocka_unit_test(known_mismatch_text_names_file_line_and_fingerprint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
