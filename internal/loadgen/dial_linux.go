package loadgen

import "syscall"

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT from linux/in.h.
const ipBindAddressNoPort = 24

// bindNoPort lets the kernel pick the source port at connect time rather
// than at bind time, so that a bound source address can be reused for every
// ephemeral port towards each destination (the 4-tuple must be unique, not
// the port), which is what --ifaddr is for.
func bindNoPort(_, _ string, rc syscall.RawConn) error {
	return rc.Control(func(fd uintptr) {
		// Best effort: without it, binding still works up to one
		// address's port range.
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
}
