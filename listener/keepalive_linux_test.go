package listener_test

import (
	"net"
	"syscall"
	"testing"

	"github.com/mastmq/mast/listener"
)

// TestAcceptedKeepAlive checks that connections accepted on a TCP
// listener have TCP keep-alive on with Go's usual timings, set once on
// the listening socket and inherited.
func TestAcceptedKeepAlive(t *testing.T) {
	c, err := listener.Parse("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := listener.Listen(c)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rc, err := s.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ level, opt, v int }{
		"SO_KEEPALIVE":  {syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
		"TCP_KEEPIDLE":  {syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 15},
		"TCP_KEEPINTVL": {syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 15},
		"TCP_KEEPCNT":   {syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 9},
		"TCP_NODELAY":   {syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1},
	}
	for name, o := range want {
		var got int
		var gerr error
		if err := rc.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), o.level, o.opt) }); err != nil {
			t.Fatal(err)
		}
		if gerr != nil {
			t.Fatalf("%s: %v", name, gerr)
		}
		if got != o.v {
			t.Errorf("%s = %d, want %d", name, got, o.v)
		}
	}
}
