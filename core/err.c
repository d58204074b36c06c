/*
 * Error texts: SV_E_* codes, negative errno, and SoftEther's ERR_* numbers
 * (spec section 10 and Appendix A).
 */
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

/* see err.h */
const char *
sv_strerror(int r)
{
	switch (r) {
	case 0:
		return "success";
	case SV_E_INCOMPLETE:
		return "need more input";
	case SV_E_PROTO:
		return "protocol violation";
	case SV_E_TOOBIG:
		return "size or count exceeds its limit";
	case SV_E_AUTH:
		return "login refused";
	case SV_E_TLS:
		return "TLS failure";
	case SV_E_CLOSED:
		return "connection closed by peer";
	case SV_E_TIMEOUT:
		return "timed out";
	case SV_E_NOMEM:
		return "out of memory";
	case SV_E_INTERNAL:
		return "internal error";
	case SV_E_INVAL:
		return "invalid argument";
	case SV_E_NOTVPN:
		return "not a SoftEther VPN server";
	case SV_E_SERVER:
		return "refused by the server";
	case SV_E_CERT:
		return "server certificate not trusted";
	case SV_E_NOTFOUND:
		return "not found";
	case SV_E_NOPORT:
		return "no free local port in the tunnel: about 16,000 connections are open "
		       "or closing at once; close some and try again";
	default:
		break;
	}
	/* Negative errno from platform/; strerror's table is static text. */
	if (r < 0 && r > -4096)
		return strerror(-r);
	return "unknown error";
}

/*
 * Appendix A: every ERR_* name, indexed by code (70-72 are unused upstream),
 * with a plain-words text. Codes a client can meet (spec sections 7.4 and 10)
 * say what happened, the likely cause and what to do (T); the rest get a
 * generic sentence that names the code (G).
 */
struct err_info {
	const char *name;
	const char *text;
};

#define T(n, NAME, TEXT) [n] = {#NAME, TEXT}
#define G(n, NAME)                                                             \
	[n] = {#NAME, "the server returned error " #n " (" #NAME "), "         \
	              "which a VPN client does not normally get; see the "     \
	              "server log"}

static const struct err_info err_table[] = {
    T(0, NO_ERROR, "no error"),
    T(1, CONNECT_FAILED,
      "could not connect to the VPN server; check the server address and port "
      "and that the server is running"),
    T(2, SERVER_IS_NOT_VPN,
      "the server did not answer like a SoftEther VPN server; check the "
      "address and port (is it the VPN server's TLS port, e.g. 443 or 5555?)"),
    T(3, DISCONNECTED,
      "the server closed the connection, usually because it could not parse "
      "the login; retry, and report a bug if it persists"),
    T(4, PROTOCOL_ERROR,
      "the server rejected the login request as malformed (a required field "
      "was missing); this is a client bug, please report it"),
    T(5, CLIENT_IS_NOT_VPN, "the peer is not a SoftEther VPN client"),
    T(6, USER_CANCEL, "the connection was cancelled by the user"),
    T(7, AUTHTYPE_NOT_SUPPORTED,
      "the server does not support this authentication type for this user; use "
      "password or certificate authentication as configured on the hub"),
    T(8, HUB_NOT_FOUND,
      "the Virtual Hub does not exist on this server; check --hub (hub names "
      "are case-insensitive)"),
    T(9, AUTH_FAILED,
      "the user name or password was rejected by the server; check --user and "
      "the password (or the certificate for certificate login)"),
    T(10, HUB_STOPPING,
      "the Virtual Hub is offline or stopping; ask the server administrator to "
      "bring it online, then retry"),
    T(11, SESSION_REMOVED,
      "the session was removed by the server (an administrator disconnected "
      "it, or the hub was reconfigured); reconnecting may help"),
    T(12, ACCESS_DENIED,
      "access was denied by the hub's policy (user disabled or expired, or "
      "access not allowed); ask the server administrator"),
    T(13, SESSION_TIMEOUT,
      "the session ended or timed out on the server; reconnect"),
    T(14, INVALID_PROTOCOL,
      "the server refused an additional connection for this session type"),
    T(15, TOO_MANY_CONNECTION,
      "the server refused an additional TCP connection (too many connections "
      "for this session); lower --max-tcp"),
    T(16, HUB_IS_BUSY,
      "the hub or server has reached its session limit; retry later"),
    T(17, PROXY_CONNECT_FAILED,
      "could not connect to the proxy server; check the proxy address and "
      "port"),
    T(18, PROXY_ERROR, "the proxy server returned an error"),
    T(19, PROXY_AUTH_FAILED, "the proxy server rejected the proxy credentials"),
    T(20, TOO_MANY_USER_SESSION,
      "this user already has the maximum number of concurrent sessions (policy "
      "MultiLogins); close other sessions or wait for stale ones to time out, "
      "then retry"),
    G(21, LICENSE_ERROR),
    G(22, DEVICE_DRIVER_ERROR),
    T(23, INTERNAL_ERROR, "the server reported an internal error; retry later"),
    G(24, SECURE_DEVICE_OPEN_FAILED),
    G(25, SECURE_PIN_LOGIN_FAILED),
    G(26, SECURE_NO_CERT),
    G(27, SECURE_NO_PRIVATE_KEY),
    G(28, SECURE_CANT_WRITE),
    G(29, OBJECT_NOT_FOUND),
    G(30, VLAN_ALREADY_EXISTS),
    G(31, VLAN_INSTALL_ERROR),
    G(32, VLAN_INVALID_NAME),
    T(33, NOT_SUPPORTED,
      "the server does not accept VPN client connections (feature not "
      "supported); check that you are connecting to a VPN Server, not a "
      "Bridge"),
    G(34, ACCOUNT_ALREADY_EXISTS),
    G(35, ACCOUNT_ACTIVE),
    G(36, ACCOUNT_NOT_FOUND),
    G(37, ACCOUNT_INACTIVE),
    G(38, INVALID_PARAMETER),
    G(39, SECURE_DEVICE_ERROR),
    G(40, NO_SECURE_DEVICE_SPECIFIED),
    G(41, VLAN_IS_USED),
    G(42, VLAN_FOR_ACCOUNT_NOT_FOUND),
    G(43, VLAN_FOR_ACCOUNT_USED),
    G(44, VLAN_FOR_ACCOUNT_DISABLED),
    G(45, INVALID_VALUE),
    G(46, NOT_FARM_CONTROLLER),
    G(47, TRYING_TO_CONNECT),
    G(48, CONNECT_TO_FARM_CONTROLLER),
    T(49, COULD_NOT_HOST_HUB_ON_FARM,
      "the server cluster could not host the Virtual Hub; retry later or ask "
      "the administrator"),
    G(50, FARM_MEMBER_HUB_ADMIN),
    T(51, NULL_PASSWORD_LOCAL_ONLY,
      "the server refuses an empty password from a remote address; set a "
      "password for this user"),
    G(52, NOT_ENOUGH_RIGHT),
    G(53, LISTENER_NOT_FOUND),
    G(54, LISTENER_ALREADY_EXISTS),
    G(55, NOT_FARM_MEMBER),
    G(56, CIPHER_NOT_SUPPORTED),
    G(57, HUB_ALREADY_EXISTS),
    G(58, TOO_MANY_HUBS),
    G(59, LINK_ALREADY_EXISTS),
    G(60, LINK_CANT_CREATE_ON_FARM),
    G(61, LINK_IS_OFFLINE),
    G(62, TOO_MANY_ACCESS_LIST),
    T(63, TOO_MANY_USER,
      "the server has reached its licensed or configured user limit; ask the "
      "server administrator"),
    G(64, TOO_MANY_GROUP),
    G(65, GROUP_NOT_FOUND),
    G(66, USER_ALREADY_EXISTS),
    G(67, GROUP_ALREADY_EXISTS),
    G(68, USER_AUTHTYPE_NOT_PASSWORD),
    G(69, OLD_PASSWORD_WRONG),
    G(73, LINK_CANT_DISCONNECT),
    G(74, ACCOUNT_NOT_PRESENT),
    G(75, ALREADY_ONLINE),
    G(76, OFFLINE),
    G(77, NOT_RSA_1024),
    G(78, SNAT_CANT_DISCONNECT),
    G(79, SNAT_NEED_STANDALONE),
    G(80, SNAT_NOT_RUNNING),
    G(81, SE_VPN_BLOCK),
    G(82, BRIDGE_CANT_DISCONNECT),
    G(83, LOCAL_BRIDGE_STOPPING),
    G(84, LOCAL_BRIDGE_UNSUPPORTED),
    T(85, CERT_NOT_TRUSTED,
      "the server's certificate is not trusted; check --ca or the pinned "
      "certificate fingerprint"),
    G(86, PRODUCT_CODE_INVALID),
    T(87, VERSION_INVALID,
      "the server rejected this client's version (hub requires a newer client "
      "build); ask the administrator about ClientMinimumRequiredBuild"),
    G(88, CAPTURE_DEVICE_ADD_ERROR),
    G(89, VPN_CODE_INVALID),
    G(90, CAPTURE_NOT_FOUND),
    G(91, LAYER3_CANT_DISCONNECT),
    G(92, LAYER3_SW_EXISTS),
    G(93, LAYER3_SW_NOT_FOUND),
    G(94, INVALID_NAME),
    G(95, LAYER3_IF_ADD_FAILED),
    G(96, LAYER3_IF_DEL_FAILED),
    G(97, LAYER3_IF_EXISTS),
    G(98, LAYER3_TABLE_ADD_FAILED),
    G(99, LAYER3_TABLE_DEL_FAILED),
    G(100, LAYER3_TABLE_EXISTS),
    G(101, BAD_CLOCK),
    G(102, LAYER3_CANT_START_SWITCH),
    G(103, CLIENT_LICENSE_NOT_ENOUGH),
    G(104, BRIDGE_LICENSE_NOT_ENOUGH),
    T(105, SERVER_CANT_ACCEPT,
      "the server is not accepting connections to this hub (communication "
      "disabled by the administrator)"),
    T(106, SERVER_CERT_EXPIRES,
      "the server's certificate has expired; ask the administrator to renew "
      "it"),
    T(107, MONITOR_MODE_DENIED,
      "the server refused monitor (promiscuous) mode for this user"),
    T(108, BRIDGE_MODE_DENIED,
      "the server refused bridge/routing mode for this user; ask the "
      "administrator to allow it in the user's policy"),
    T(109, IP_ADDRESS_DENIED,
      "the hub's access list blocks your source IP address; ask the server "
      "administrator"),
    G(110, TOO_MANT_ITEMS),
    G(111, MEMORY_NOT_ENOUGH),
    G(112, OBJECT_EXISTS),
    G(113, FATAL),
    G(114, SERVER_LICENSE_FAILED),
    G(115, SERVER_INTERNET_FAILED),
    G(116, CLIENT_LICENSE_FAILED),
    G(117, BAD_COMMAND_OR_PARAM),
    G(118, INVALID_LICENSE_KEY),
    G(119, NO_VPN_SERVER_LICENSE),
    G(120, NO_VPN_CLUSTER_LICENSE),
    G(121, NOT_ADMINPACK_SERVER),
    G(122, NOT_ADMINPACK_SERVER_NET),
    G(123, BETA_EXPIRES),
    T(124, BRANDED_C_TO_S,
      "the server is a branded build that does not accept this client"),
    T(125, BRANDED_C_FROM_S, "the client refused the server's branding"),
    T(126, AUTO_DISCONNECTED,
      "the session was disconnected automatically by the hub's AutoDisconnect "
      "policy; reconnect"),
    T(127, CLIENT_ID_REQUIRED,
      "the hub requires a specific client ID that this client does not send; "
      "ask the administrator about RequiredClientId"),
    G(128, TOO_MANY_USERS_CREATED),
    G(129, SUBSCRIPTION_IS_OLDER),
    G(130, ILLEGAL_TRIAL_VERSION),
    T(131, NAT_T_TWO_OR_MORE, "two or more NAT-T connections collided"),
    G(132, DUPLICATE_DDNS_KEY),
    G(133, DDNS_HOSTNAME_EXISTS),
    G(134, DDNS_HOSTNAME_INVALID_CHAR),
    G(135, DDNS_HOSTNAME_TOO_LONG),
    G(136, DDNS_HOSTNAME_IS_EMPTY),
    G(137, DDNS_HOSTNAME_TOO_SHORT),
    T(138, MSCHAP2_PASSWORD_NEED_RESET,
      "the server asked for an MS-CHAPv2 password reset, which this client "
      "cannot do"),
    G(139, DDNS_DISCONNECTED),
    G(140, SPECIAL_LISTENER_ICMP_ERROR),
    G(141, SPECIAL_LISTENER_DNS_ERROR),
    G(142, OPENVPN_IS_NOT_ENABLED),
    T(143, NOT_SUPPORTED_AUTH_ON_OPENSOURCE,
      "this authentication method is not supported by the open-source server "
      "build; use password authentication"),
    G(144, VPNGATE),
    G(145, VPNGATE_CLIENT),
    G(146, VPNGATE_INCLIENT_CANT_STOP),
    G(147, NOT_SUPPORTED_FUNCTION_ON_OPENSOURCE),
    T(148, SUSPENDING, "the server is suspending; retry later"),
    T(149, HOSTNAME_MISMATCH,
      "the server certificate's host name does not match the server name; "
      "check the server address or --ca"),
    T(150, SSL_PROTOCOL_VERSION,
      "TLS protocol version mismatch with the server"),
    T(151, SSL_SHARED_CIPHER, "no shared TLS cipher with the server"),
    T(152, SSL_HANDSHAKE, "the TLS handshake with the server failed"),
};

#undef T
#undef G

#define N_ERR (sizeof err_table / sizeof err_table[0])

/* see err.h */
const char *
sv_softether_err_name(unsigned code)
{
	if (code < N_ERR && err_table[code].name != NULL)
		return err_table[code].name;
	return "UNKNOWN";
}

/* see err.h */
const char *
sv_softether_err_text(unsigned code)
{
	/* One buffer per thread: the text stays valid until the next call. */
	static _Thread_local char unknown[96];

	if (code < N_ERR && err_table[code].text != NULL)
		return err_table[code].text;
	snprintf(unknown, sizeof unknown,
	         "the server returned error %u, which this client does not "
	         "know; see the server log",
	         code);
	return unknown;
}

/*
 * Codes where repeating the same login cannot succeed until someone changes
 * the configuration (ours or the server's). Everything else -- network
 * trouble, busy hubs, session limits, timeouts -- is worth a retry with
 * back-off. Besides the list in the brief: 2 (not a VPN server), 14
 * (invalid protocol), 19 (proxy credentials), 106 (certificate expired),
 * 124/125 (branding), 138, 143, 150/151 (TLS version or cipher mismatch)
 * are configuration problems too.
 */
static const unsigned char permanent_codes[] = {
    2,   7,   8,   9,   12,  14,  19,  33,  51,  85,  87,  105,
    106, 107, 108, 109, 124, 125, 127, 138, 143, 149, 150, 151,
};

/* see err.h */
int
sv_softether_err_is_permanent(unsigned code)
{
	for (size_t i = 0; i < sizeof permanent_codes; i++)
		if (permanent_codes[i] == code)
			return 1;
	return 0;
}

/* see err.h */
int
sv_errf(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return SV_E_INVAL;
}
