// Package kerneltest proves the nftables and iptables renders in the
// kernel: its tests load rendered rules with the real nft and
// iptables-restore into network namespaces they create, send real TCP and
// UDP packets through them, and check that what the plan requires gets
// through and what it does not is dropped. The package has no code outside
// its tests; see README.md.
package kerneltest
