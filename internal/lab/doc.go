// Package lab owns the end-to-end mail lab: a test that builds a small
// network of Linux network namespaces joined by a bridge, runs real mail
// software in it (dnsmasq for DNS and a DNSBL zone, one Postfix instance
// per receiving MTA, a platform relay, an outside smarthost with SASL
// AUTH, PHP's mail() through msmtp, swaks as a compromised host sending
// directly to MX), and checks what `mxwatch capture`, running live on the
// bridge, makes of that traffic: the class of every platform host's
// connections, the DNS pairing of direct-to-MX mail, the DNSBL rejection
// and the PHP script attribution.
//
// The package has no non-test code. The test needs root, iproute2 and the
// tools listed in lab_test.go (requiredTools); it skips with a message
// naming what is missing, and MXWATCH_LAB=0 skips it. It uses only
// 10.99.0.0/16 inside the namespaces it creates and removes them, their
// /etc/netns directories, its processes and its files when it ends.
package lab
