#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_hub (tests/hub/corpus/hub/). Run from anywhere."""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.argv = ["x", "127.0.0.1", "0", "", "none"]  # hub_probe.py reads argv at import
import importlib.util  # noqa: E402

spec = importlib.util.spec_from_file_location(
    "probe", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hub_probe.py"))
src = open(spec.origin).read().rsplit("\n{", 1)[0]  # drop the scenario dispatch
probe = {}
exec(compile(src, spec.origin, "exec"), probe)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hub")
os.makedirs(out, exist_ok=True)
GW, CLI = bytes([10, 77, 0, 1]), bytes([10, 77, 0, 100])
gw_mac = bytes.fromhex("52550a4d0001")
seeds = {
    "http_signature": b"\0POST /vpnsvc/connect.cgi HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Type: image/jpeg\r\nContent-Length: 10\r\n\r\nVPNCONNECT",
    "http_login_hdr": b"\0POST /vpnsvc/vpn.cgi HTTP/1.1\r\ncontent-type: application/octet-stream"
                      b"\r\ncontent-length: 120\r\nConnection: Keep-Alive\r\n\r\n",
    "frame_dns_a": b"\1" + probe["ipv4_udp"](CLI, GW, 5353, 53, probe["dns_query"](7, "intranet.test"), gw_mac),
    "frame_dns_aaaa": b"\1" + probe["ipv4_udp"](CLI, GW, 5353, 53, probe["dns_query"](8, "intranet.test", 28), gw_mac),
    "frame_dhcp_discover": b"\1" + probe["dhcp_discover"](0x1234),
    "frame_syn_outside": b"\1" + probe["ipv4_tcp_syn"](CLI, bytes([192, 0, 2, 1]), 80, gw_mac),
    "login_plain": b"\2" + probe["pack_encode"]([
        ("method", 2, "login"), ("hubname", 2, "DEFAULT"), ("username", 2, "alice"),
        ("authtype", 0, 2), ("plain_password", 2, "Secr3tPass"), ("use_encrypt", 0, 1)]),
    "login_secure": b"\2" + probe["pack_encode"]([
        ("method", 2, "login"), ("hubname", 2, "DEFAULT"), ("username", 2, "alice"),
        ("authtype", 0, 1), ("secure_password", 1, bytes(20)), ("use_encrypt", 0, 1)]),
    "login_additional": b"\2" + probe["pack_encode"]([
        ("method", 2, "additional_connect"), ("session_key", 1, bytes(range(20))),
        ("client_str", 2, "SoftEther VPN Client"), ("client_ver", 0, 501)]),
    "login_qos": b"\2" + probe["pack_encode"]([
        ("method", 2, "login"), ("hubname", 2, "DEFAULT"), ("username", 2, "alice"),
        ("authtype", 0, 2), ("plain_password", 2, "Secr3tPass"), ("use_encrypt", 0, 1),
        ("max_connection", 0, 8), ("qos", 0, 1)]),
}
# A DHCP offer as slirp sends it (DNS option = slirp's own nameserver, rewritten by the hub).
bootp = bytearray(240)
bootp[0] = 2
bootp[236:240] = bytes([99, 130, 83, 99])
bootp += bytes([53, 1, 2, 3, 4]) + GW + bytes([6, 4, 10, 77, 0, 3, 255])
offer = bytearray(probe["ipv4_udp"](GW, b"\xff" * 4, 67, 68, bytes(bootp)))
seeds["frame_dhcp_offer"] = b"\1" + bytes(offer)
# A UDP datagram to the gateway in two IPv4 fragments (the filter's fragment table):
# the first (offset 0, MF) and the last (offset 1480).
first = bytearray(probe["ipv4_udp"](CLI, GW, 40000, 9000, bytes(1472), gw_mac))
first[14 + 4:14 + 8] = bytes([0x12, 0x34, 0x20, 0x00])
seeds["frame_udp_frag_first"] = b"\1" + bytes(first)
last = bytearray(first)
last[14 + 6:14 + 8] = struct.pack(">H", 1480 // 8)
seeds["frame_udp_frag_last"] = b"\1" + bytes(last)
# An RFC 5227 ARP probe for the first lease (answered by hub --arp-claim 10.77.0.100).
cli_mac = bytes.fromhex("025e840525b8")
seeds["frame_arp_probe"] = b"\1" + b"\xff" * 6 + cli_mac + bytes([8, 6, 0, 1, 8, 0, 6, 4, 0, 1]) + \
    cli_mac + bytes(4) + bytes(6) + CLI
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print("%d seeds in %s" % (len(seeds), out))
