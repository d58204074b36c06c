/*
 * lwIP 2.1.3 compile-time options for sevpn-proxy: NO_SYS=1 raw API on one Ethernet netif,
 * used as the client side of a proxy (many outgoing TCP connections, DHCP, DNS, SLAAC).
 *
 * Sizing (see docs/dependencies.md 1.3-1.5):
 *  - Memory comes from malloc (MEM_LIBC_MALLOC, MEMP_MEM_MALLOC): no fixed pools, so the
 *    MEMP_NUM_* counts do not limit connections. Bounds are set where lwIP keeps static
 *    tables (DNS, ARP, ND6) and on the out-of-order queue (at most the window, and one
 *    pbuf per KiB of it).
 *  - Receive window 4 MB (window scaling, shift 7); it costs memory only while a local
 *    reader is slow, and tcpconn.c reopens it as data drains (tcp_recved).
 *  - Send buffer 512 KB: tcp_output/tcp_write walk the whole unsent/unacked lists, so a
 *    multi-megabyte send buffer costs several times the CPU per byte.
 */
#ifndef SV_LWIPOPTS_H
#define SV_LWIPOPTS_H

/* --- system ------------------------------------------------------------------------- */
#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_NETIF_API 0
#define LWIP_TIMERS 1
/* Our byte-order helpers must not clash with <arpa/inet.h> in any translation unit. */
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS 1

/* --- memory ------------------------------------------------------------------------- */
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 8
#define LWIP_STATS 0
#define LWIP_STATS_DISPLAY 0
#define PBUF_LINK_HLEN 14
#define ETH_PAD_SIZE 0

/* --- link layer --------------------------------------------------------------------- */
#define LWIP_ETHERNET 1
#define LWIP_ARP 1
#define ARP_QUEUEING 1
#define ARP_QUEUE_LEN 16
/* The hub's LAN is reached through the gateway; a few on-link peers at most. */
#define ARP_TABLE_SIZE 64
#define ETHARP_SUPPORT_STATIC_ENTRIES 0
#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_LINK_CALLBACK 1
#define LWIP_NETIF_EXT_STATUS_CALLBACK 1
#define LWIP_NETIF_HOSTNAME 0
#define LWIP_NETIF_LOOPBACK 0
#define LWIP_SINGLE_NETIF 1

/* --- IPv4 --------------------------------------------------------------------------- */
#define LWIP_IPV4 1
#define IP_FORWARD 0
#define IP_REASSEMBLY 1
#define IP_FRAG 1
#define IP_REASS_MAX_PBUFS 64
#define LWIP_ICMP 1
#define LWIP_RAW 0
#define LWIP_IGMP 0
#define LWIP_AUTOIP 0

#define LWIP_DHCP 1
/* Off: 2.1.3's check holds the lease back for two 500 ms ARP probes. stack.c probes the
 * address once at binding instead and declines it if another host answers within 1 s. */
#define DHCP_DOES_ARP_CHECK 0
#define LWIP_DHCP_MAX_DNS_SERVERS DNS_MAX_SERVERS

/* --- IPv6 --------------------------------------------------------------------------- */
#define LWIP_IPV6 1
#define LWIP_IPV6_NUM_ADDRESSES 3 /* matches struct sv_lease.ip6 */
#define LWIP_IPV6_AUTOCONFIG 1
#define LWIP_IPV6_MLD 1
#define LWIP_IPV6_FORWARD 0
#define LWIP_IPV6_REASS 1
#define LWIP_IPV6_FRAG 1
/* Required on LP64 with IPv6 reassembly, else ip6_frag.c asserts at run time. */
#define IPV6_FRAG_COPYHEADER 1
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 1
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 1
/* Stateless DHCPv6 (RA "O" flag) would write its DNS servers into slot 0 over the
 * DHCPv4 ones (traps.md), flipping the resolver at every renewal; DNS servers come from
 * DHCPv4 only (SoftEther hubs are IPv4-first: SecureNAT serves DHCPv4). */
#define LWIP_IPV6_DHCP6 1
#define LWIP_IPV6_DHCP6_STATELESS 1
#define LWIP_DHCP6_MAX_DNS_SERVERS 0
#define LWIP_ND6_RDNSS_MAX_DNS_SERVERS 0
/* One destination-cache entry per remote IPv6 address in use (recycled when full).
 * nd6.c indexes these tables with s8_t: more than 127 entries loops forever. */
#define LWIP_ND6_NUM_DESTINATIONS 127
#define LWIP_ND6_NUM_NEIGHBORS 32
#define LWIP_ND6_NUM_PREFIXES 8
#define LWIP_ND6_NUM_ROUTERS 4
#define LWIP_ND6_QUEUEING 1
#define MEMP_NUM_ND6_QUEUE 64

/* --- UDP / DNS ---------------------------------------------------------------------- */
#define LWIP_UDP 1
#define LWIP_DNS 1
#define DNS_MAX_SERVERS 4
/* Concurrent lookups (one entry per distinct name, also the cache); u8_t indices.
 * dns_call_found() walks dns_table[] with the DNS_MAX_REQUESTS bound: the two must be
 * equal or it reads past the table. */
#define DNS_TABLE_SIZE 128
#define DNS_MAX_REQUESTS DNS_TABLE_SIZE
#define DNS_MAX_NAME_LENGTH 256
/* Sends per server before the next one is asked: at 0, 1 and 2 s, so a dead first
 * server costs 4 s (the default 4 costs 7 s). An error answer (SERVFAIL, REFUSED,
 * NXDOMAIN) moves to the next server at once. */
#define DNS_MAX_RETRIES 3
#define LWIP_DNS_SUPPORT_MDNS_QUERIES 0
#define DNS_LOCAL_HOSTLIST 0
/* UDP sockets for SOCKS5 UDP ASSOCIATE and udp forwards (netstack/udpconn.c) come from
 * malloc like everything else; udp_new picks ephemeral ports from 0xC000-0xFFFF. Large
 * datagrams leave as IP fragments (IP_FRAG, LWIP_IPV6_FRAG) and arrive reassembled
 * (IP_REASSEMBLY: at most IP_REASS_MAX_PBUFS fragments held at once). */

/* --- TCP ---------------------------------------------------------------------------- */
#define LWIP_TCP 1
#define TCP_MSS 1460
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 7 /* TCP_WND must stay <= 0xFFFF << 7 (~8 MB) */
#define TCP_WND (4u * 1024u * 1024u)
#define TCP_SND_BUF (512u * 1024u)
/* tcp_write needs one queue entry per segment (TCP_WRITE_FLAG_COPY); must be <= 0xFFFF. */
#define TCP_SND_QUEUELEN ((4u * (TCP_SND_BUF) + (TCP_MSS - 1u)) / (TCP_MSS))
/* The default formula overflows u16 with a large send buffer (init.c #error); it only
 * matters for the socket API's select(). */
#define TCP_SNDLOWAT (0xFFFFu - 4u * TCP_MSS - 1u)
#define TCP_SNDQUEUELOWAT LWIP_MAX(((TCP_SND_QUEUELEN) / 2), 5)
#define TCP_OVERSIZE TCP_MSS
#define TCP_QUEUE_OOSEQ 1
/* Out-of-order data: lwIP keeps it inside the receive window (a segment must start in
 * it, and only the one it ends with may overrun it), so its payload stays within the
 * window the receive budget (rxbudget.h) has granted. The byte limit must not be lower:
 * beyond it lwIP drops queued segments it has already SACKed, the sender must then wait
 * for its retransmission timeout (SACK reneging; on the real server, with ~7% of frames
 * lost at its bridge, several 200+ ms stalls per 512 MiB with a 1 MiB limit, none with
 * this one: bench/RESULTS.md). Memory is one ~1.5 KiB pool pbuf per frame whatever its
 * payload (stack.c), so the pbuf count follows the pcb's window too: one per KiB of it
 * (full-sized segments of a window always fit) plus a few for the segment that
 * overruns, not a fixed 4,096 (6 MiB of tiny segments in a 64 KiB window, per
 * connection, outside the budget). */
#define TCP_OOSEQ_MAX_BYTES TCP_WND
#define SV_OOSEQ_BYTES_PER_PBUF 1024u
#define SV_OOSEQ_PBUFS_SLACK 4u
#define TCP_OOSEQ_PBUFS_LIMIT(pcb) \
	((u16_t)((pcb)->rcv_wnd / SV_OOSEQ_BYTES_PER_PBUF + SV_OOSEQ_PBUFS_SLACK))
#define LWIP_TCP_SACK_OUT 1
#define LWIP_TCP_MAX_SACK_NUM 4
/* Listeners (netstack/tcplisten.c): the backlog counts half-open connections and those
 * accepted but not yet handed to the user (tcp_backlog_delayed). */
#define TCP_LISTEN_BACKLOG 1
/* SOF_REUSEADDR, set on listeners only: a listener can be reopened on its port while
 * connections it accepted sit in TIME_WAIT (never two listeners on one port). */
#define SO_REUSE 1
#define LWIP_TCP_KEEPALIVE 1
#define TCP_KEEPIDLE_DEFAULT 60000UL  /* first probe after 60 s idle */
#define TCP_KEEPINTVL_DEFAULT 15000UL /* then every 15 s */
#define TCP_KEEPCNT_DEFAULT 4U        /* dead after 4 unanswered probes */
#define TCP_MAXRTX 12
#define TCP_SYNMAXRTX 12 /* SYNs 1 s apart (tcpconn.c); our connect timeout ends it first */
#define LWIP_TCP_TIMESTAMPS 0
#define LWIP_CHECKSUM_ON_COPY 1
/* Our faster Internet checksum (netstack/chksum.c): lwIP verifies every received TCP
 * segment's checksum, ~9% of the client's CPU on a download with lwIP's 16-bit loop. */
#define LWIP_CHKSUM sv_lwip_chksum
#define LWIP_CALLBACK_API 1
#define LWIP_EVENT_API 0

/* --- hooks and randomness (implemented in netstack/stack.c) ------------------------- */
#define LWIP_HOOK_FILENAME "arch/sv_hooks.h"
/* RFC 6528 initial sequence numbers: keyed hash of the 4-tuple plus a 4 us clock. */
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) \
	sv_lwip_tcp_isn((local_ip), (local_port), (remote_ip), (remote_port))
/* DHCP options lwIP ignores: domain (15), search list (119), MTU (26), static routes
 * (121, 249, 33); see stack.c. */
#define LWIP_HOOK_DHCP_APPEND_OPTIONS(netif, dhcp, state, msg, msg_type, options_len_ptr) \
	sv_lwip_dhcp_append((netif), (dhcp), (state), (msg), (msg_type), (options_len_ptr))
#define LWIP_HOOK_DHCP_PARSE_OPTION(netif, dhcp, state, msg, msg_type, option, len, pbuf, \
	offset) \
	sv_lwip_dhcp_parse((netif), (dhcp), (state), (msg), (msg_type), (option), (len), \
		(pbuf), (offset))
/* LWIP_RAND() is defined in arch/cc.h (sv_lwip_rand, seeded from OS entropy). */

/* --- debugging ---------------------------------------------------------------------- */
/* LWIP_DEBUG stays undefined: LWIP_DEBUGF compiles to nothing. */
#define LWIP_DBG_TYPES_ON 0

#endif
