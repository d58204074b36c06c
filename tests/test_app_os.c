/* MAC derivation: stable across runs of one configuration, distinct between concurrent
 * instances and between configurations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "platform/os.h"

static char dir[] = "/tmp/sevpn-test-os-XXXXXX";

static int
setup(void **state)
{
	if (mkdtemp(dir) == NULL)
		return -1;
	setenv("XDG_RUNTIME_DIR", dir, 1);
	return 0;
}

/* MAC a separate process derives (its lock is released when it exits). */
static void
mac_in_child(const char *key, uint8_t mac[6])
{
	int fd[2];
	assert_int_equal(pipe(fd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsigned slot;
		uint8_t m[6] = { 0 };
		int r = sv_os_derive_mac(key, m, &slot);
		ssize_t w = write(fd[1], m, 6);
		_exit(r == 0 && w == 6 ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(read(fd[0], mac, 6), 6);
	close(fd[0]);
	close(fd[1]);
}

static void
mac_is_stable_across_runs(void **state)
{
	uint8_t a[6], b[6];
	mac_in_child("vpn.test\n443\nDEFAULT\nalice", a);
	mac_in_child("vpn.test\n443\nDEFAULT\nalice", b);
	assert_memory_equal(a, b, 6);
	assert_int_equal(a[0], 0x02); /* locally administered, unicast */
}

static void
mac_differs_between_accounts(void **state)
{
	uint8_t a[6], b[6];
	mac_in_child("vpn.test\n443\nDEFAULT\nalice", a);
	mac_in_child("vpn.test\n443\nDEFAULT\nbob", b);
	assert_memory_not_equal(a, b, 6);
}

static void
mac_differs_between_concurrent_instances(void **state)
{
	uint8_t first[6], second[6], alone[6];
	unsigned s1, s2;
	mac_in_child("vpn.test\n443\nDEFAULT\ncarol", alone);
	/* this process now holds slot 0, so the next instance must take another */
	assert_int_equal(sv_os_derive_mac("vpn.test\n443\nDEFAULT\ncarol", first, &s1), 0);
	assert_memory_equal(first, alone, 6);
	assert_int_equal(sv_os_derive_mac("vpn.test\n443\nDEFAULT\ncarol", second, &s2), 0);
	assert_int_not_equal(s1, s2);
	assert_memory_not_equal(first, second, 6);
}

static void
unique_id_is_stable(void **state)
{
	uint8_t a[20], b[20], zero[20] = { 0 };
	sv_os_unique_id(a);
	sv_os_unique_id(b);
	assert_memory_equal(a, b, 20);
	assert_memory_not_equal(a, zero, 20);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mac_is_stable_across_runs),
		cmocka_unit_test(mac_differs_between_accounts),
		cmocka_unit_test(mac_differs_between_concurrent_instances),
		cmocka_unit_test(unique_id_is_stable),
	};
	int r = cmocka_run_group_tests(tests, setup, NULL);
	char cmd[64];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return r;
}
