// Runs a PAC file (argv[2]) the way a browser would, with the standard PAC helper
// functions and a fixed DNS table, and prints "host -> result" for each host in argv[3..].
// No dependencies: node's vm module only. Exit 1 when the file does not compile or
// FindProxyForURL throws.
"use strict";
const fs = require("fs");
const vm = require("vm");

const dns = {
	"intranet.test": "10.77.0.1",
	"db.internal": "10.99.3.4",
	"edge.internal": "10.98.7.20",
	"far.internal": "172.20.1.1",
	"www.example.com": "93.184.216.34",
};
function ip2n(s) {
	const p = String(s).split(".");
	if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || +x > 255))
		return null;
	return ((+p[0] << 24) | (+p[1] << 16) | (+p[2] << 8) | +p[3]) >>> 0;
}
const helpers = {
	isPlainHostName: (h) => h.indexOf(".") < 0,
	dnsDomainIs: (h, d) => h.length >= d.length && h.substring(h.length - d.length) === d,
	shExpMatch: (s, p) =>
		new RegExp("^" + p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")
			.replace(/\?/g, ".") + "$").test(s),
	dnsResolve: (h) => (ip2n(h) !== null ? h : dns[h] || null),
	isInNet: (ip, pat, mask) => {
		const a = ip2n(ip), p = ip2n(pat), m = ip2n(mask);
		if (a === null || p === null || m === null)
			return false;
		return ((a & m) >>> 0) === ((p & m) >>> 0);
	},
};
const src = fs.readFileSync(process.argv[2], "utf8");
const ctx = vm.createContext(Object.assign({}, helpers));
try {
	vm.runInContext(src, ctx, { filename: "proxy.pac" });
} catch (e) {
	console.error("the PAC file does not compile: " + e);
	process.exit(1);
}
if (typeof ctx.FindProxyForURL !== "function") {
	console.error("the PAC file has no FindProxyForURL");
	process.exit(1);
}
for (const h of process.argv.slice(3))
	console.log(h + " -> " + ctx.FindProxyForURL("http://" + h + "/", h));
