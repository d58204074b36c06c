/* The per-account socket path for --stdio attach (platform/mux.h): the name's hash and
 * the private directory checks. */
#include <errno.h>
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

#include "platform/config.h"
#include "platform/mux.h"

static char dir[] = "/tmp/sevpn-test-mux-XXXXXX";

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[200];
	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
account(struct sv_config *c)
{
	sv_config_init(c);
	c->server_host = (char *)"vpn.example.com";
	c->server_port = 443;
	c->hub = (char *)"DEFAULT";
	c->user = (char *)"alice";
}

static void
mux_name_is_the_same_for_one_account(void **state)
{
	char a[SV_MUX_NAME_LEN], b[SV_MUX_NAME_LEN];
	(void)state;
	sv_mux_name(a, "vpn.example.com", 443, "DEFAULT", "alice");
	sv_mux_name(b, "vpn.example.com", 443, "DEFAULT", "alice");
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), SV_MUX_NAME_LEN - 1);
	assert_memory_equal(a, "mux-", 4);
	assert_string_equal(a + 20, ".sock");
	for (int i = 4; i < 20; i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
}

static void
mux_name_ignores_case_as_softether_does(void **state)
{
	char a[SV_MUX_NAME_LEN], b[SV_MUX_NAME_LEN];
	(void)state;
	sv_mux_name(a, "vpn.example.com", 443, "DEFAULT", "alice");
	sv_mux_name(b, "VPN.Example.com", 443, "default", "ALICE");
	assert_string_equal(a, b);
}

static void
mux_name_differs_between_accounts(void **state)
{
	char base[SV_MUX_NAME_LEN], other[SV_MUX_NAME_LEN];
	(void)state;
	sv_mux_name(base, "vpn.example.com", 443, "DEFAULT", "alice");
	sv_mux_name(other, "vpn.example.org", 443, "DEFAULT", "alice");
	assert_string_not_equal(base, other);
	sv_mux_name(other, "vpn.example.com", 992, "DEFAULT", "alice");
	assert_string_not_equal(base, other);
	sv_mux_name(other, "vpn.example.com", 443, "OTHER", "alice");
	assert_string_not_equal(base, other);
	sv_mux_name(other, "vpn.example.com", 443, "DEFAULT", "bob");
	assert_string_not_equal(base, other);
	/* fields are separated: moving a character from the hub to the user changes it */
	sv_mux_name(base, "h", 1, "ab", "c");
	sv_mux_name(other, "h", 1, "a", "bc");
	assert_string_not_equal(base, other);
	/* NULL counts as empty */
	sv_mux_name(base, "h", 1, NULL, "");
	sv_mux_name(other, "h", 1, "", NULL);
	assert_string_equal(base, other);
}

static void
check_dir_accepts_a_private_directory_of_ours(void **state)
{
	struct stat st = { .st_mode = S_IFDIR | 0700, .st_uid = 1000 };
	char err[256] = "";
	(void)state;
	assert_int_equal(sv_mux_check_dir(&st, 1000, "/run/user/1000/sevpn-proxy", err,
				 sizeof err), 0);
}

static void
check_dir_refuses_a_directory_of_another_user(void **state)
{
	/* someone made /tmp/sevpn-proxy-1000 first, with mode 0700 and a trap inside */
	struct stat st = { .st_mode = S_IFDIR | 0700, .st_uid = 1001 };
	char err[256] = "";
	(void)state;
	assert_int_equal(sv_mux_check_dir(&st, 1000, "/tmp/sevpn-proxy-1000", err,
				 sizeof err), -EPERM);
	assert_non_null(strstr(err, "belongs to uid 1001"));
}

static void
check_dir_refuses_access_for_group_or_others(void **state)
{
	static const mode_t modes[] = { 0750, 0705, 0701, 0710, 0777, 01777 };
	char err[256];
	(void)state;
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		struct stat st = { .st_mode = S_IFDIR | modes[i], .st_uid = 1000 };
		err[0] = '\0';
		assert_int_equal(sv_mux_check_dir(&st, 1000, "/d", err, sizeof err), -EPERM);
		assert_non_null(strstr(err, "open to other users"));
	}
}

static void
check_dir_refuses_links_and_files(void **state)
{
	struct stat link = { .st_mode = S_IFLNK | 0777, .st_uid = 1000 };
	struct stat file = { .st_mode = S_IFREG | 0700, .st_uid = 1000 };
	char err[256];
	(void)state;
	assert_int_equal(sv_mux_check_dir(&link, 1000, "/d", err, sizeof err), -ENOTDIR);
	assert_non_null(strstr(err, "remove it or give --control-path"));
	assert_int_equal(sv_mux_check_dir(&file, 1000, "/d", err, sizeof err), -ENOTDIR);
	assert_non_null(strstr(err, "not a directory"));
}

static void
path_is_in_the_runtime_dir_and_creates_it_private(void **state)
{
	struct sv_config c;
	char path[256], want[256], name[SV_MUX_NAME_LEN], err[256] = "", sub[200];
	struct stat st;
	(void)state;
	account(&c);
	setenv("XDG_RUNTIME_DIR", dir, 1);
	assert_int_equal(sv_mux_path(&c, true, path, sizeof path, err, sizeof err), 0);
	sv_mux_name(name, "vpn.example.com", 443, "DEFAULT", "alice");
	snprintf(want, sizeof want, "%s/sevpn-proxy/%s", dir, name);
	assert_string_equal(path, want);
	snprintf(sub, sizeof sub, "%s/sevpn-proxy", dir);
	assert_int_equal(lstat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);

	/* opened up to others afterwards: refused */
	assert_int_equal(chmod(sub, 0755), 0);
	assert_int_equal(sv_mux_path(&c, true, path, sizeof path, err, sizeof err), -EPERM);
	assert_non_null(strstr(err, "open to other users"));
	assert_int_equal(chmod(sub, 0700), 0);

	/* a symbolic link in its place (to a directory of ours) is not followed */
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(symlink(dir, sub), 0);
	assert_int_equal(sv_mux_path(&c, true, path, sizeof path, err, sizeof err), -ENOTDIR);
	assert_int_equal(unlink(sub), 0);
	unsetenv("XDG_RUNTIME_DIR");
}

static void
path_without_a_usable_runtime_dir_is_in_tmp(void **state)
{
	struct sv_config c;
	char path[256], want[64], err[256] = "";
	(void)state;
	account(&c);
	setenv("XDG_RUNTIME_DIR", "relative/dir", 1); /* not absolute: ignored */
	int r = sv_mux_path(&c, true, path, sizeof path, err, sizeof err);
	unsetenv("XDG_RUNTIME_DIR");
	if (r == -EPERM)
		skip(); /* someone else owns /tmp/sevpn-proxy-UID here: refused, as it should be */
	assert_int_equal(r, 0);
	snprintf(want, sizeof want, "/tmp/sevpn-proxy-%u/mux-", (unsigned)getuid());
	assert_memory_equal(path, want, strlen(want));
}

static void
path_from_control_path_is_taken_as_is(void **state)
{
	struct sv_config c;
	char path[256], err[256] = "", longp[200];
	(void)state;
	account(&c);
	c.control_path = (char *)"/home/a/.ssh/vpn.sock";
	assert_int_equal(sv_mux_path(&c, false, path, sizeof path, err, sizeof err), 0);
	assert_string_equal(path, "/home/a/.ssh/vpn.sock");
	memset(longp, 'x', sizeof longp - 1);
	longp[0] = '/';
	longp[sizeof longp - 1] = '\0';
	c.control_path = longp;
	assert_int_equal(sv_mux_path(&c, false, path, sizeof path, err, sizeof err),
		-ENAMETOOLONG);
	assert_non_null(strstr(err, "--control-path"));
}

static void
path_too_long_for_a_socket_is_refused(void **state)
{
	struct sv_config c;
	char path[256], err[256] = "", deep[200];
	(void)state;
	account(&c);
	/* a runtime dir whose socket path passes sun_path's 108 bytes */
	snprintf(deep, sizeof deep, "%s/%s", dir,
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(mkdir(deep, 0700), 0);
	setenv("XDG_RUNTIME_DIR", deep, 1);
	assert_int_equal(sv_mux_path(&c, true, path, sizeof path, err, sizeof err),
		-ENAMETOOLONG);
	assert_non_null(strstr(err, "--control-path"));
	unsetenv("XDG_RUNTIME_DIR");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mux_name_is_the_same_for_one_account),
		cmocka_unit_test(mux_name_ignores_case_as_softether_does),
		cmocka_unit_test(mux_name_differs_between_accounts),
		cmocka_unit_test(check_dir_accepts_a_private_directory_of_ours),
		cmocka_unit_test(check_dir_refuses_a_directory_of_another_user),
		cmocka_unit_test(check_dir_refuses_access_for_group_or_others),
		cmocka_unit_test(check_dir_refuses_links_and_files),
		cmocka_unit_test(path_is_in_the_runtime_dir_and_creates_it_private),
		cmocka_unit_test(path_without_a_usable_runtime_dir_is_in_tmp),
		cmocka_unit_test(path_from_control_path_is_taken_as_is),
		cmocka_unit_test(path_too_long_for_a_socket_is_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
