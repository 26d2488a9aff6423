package listener

import (
	"net"
	"syscall"
)

// tcpListenConfig sets TCP keep-alive once, on the listening socket, with
// the values Go would set on each accepted connection (15 s idle, 15 s
// between probes, 9 probes). Linux copies these options to every socket
// the listener accepts, which saves four setsockopt calls per
// connection: at a connection storm that is a few per cent of the
// broker's CPU.
var tcpListenConfig = net.ListenConfig{
	KeepAlive: -1, // accepted sockets inherit the listener's settings
	Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			for _, o := range [...]struct{ level, opt, v int }{
				{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
				{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 15},
				{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 15},
				{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 9},
			} {
				if serr = syscall.SetsockoptInt(int(fd), o.level, o.opt, o.v); serr != nil {
					return
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	},
}
