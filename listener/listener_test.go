package listener_test

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/mastmq/mast/listener"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in      string
		network string
		wantErr bool
	}{
		{"127.0.0.1:1883", "tcp4", false},
		{"[::1]:1883", "tcp6", false},
		{":1883", "tcp", false},
		{"localhost:1883", "tcp", false},
		{"unix:/tmp/x.sock", "unix", false},
		{"unix:", "", true},
		{"1883", "", true},
		{"127.0.0.1:notaport", "", true},
	}
	for _, c := range cases {
		got, err := listener.Parse(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("Parse(%q) error = %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if err == nil && got.Network != c.network {
			t.Errorf("Parse(%q).Network = %q, want %q", c.in, got.Network, c.network)
		}
	}
}

func TestLoopback(t *testing.T) {
	for in, want := range map[string]bool{
		"127.0.0.1:1883": true, "[::1]:1883": true, "localhost:1883": true, "unix:/x": true,
		"0.0.0.0:1883": false, ":1883": false, "[::]:1883": false, "10.0.0.1:1883": false,
	} {
		c, err := listener.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.IsLoopback(); got != want {
			t.Errorf("%s IsLoopback = %v, want %v", in, got, want)
		}
	}
}

func TestListenTCPAndUnix(t *testing.T) {
	addrs := []string{"127.0.0.1:0", "unix:" + filepath.Join(t.TempDir(), "m.sock")}
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln.Close()
		addrs = append(addrs, "[::1]:0")
	} else {
		t.Logf("IPv6 loopback unavailable on this machine (%v); tested IPv4 and unix only", err)
	}
	for _, addr := range addrs {
		c, err := listener.Parse(addr)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := listener.Listen(c)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			if s, err := ln.Accept(); err == nil {
				s.Write([]byte("x"))
				s.Close()
			}
		}()
		conn, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := conn.Read(b); err != nil || b[0] != 'x' {
			t.Fatalf("%s: read %q, %v", addr, b, err)
		}
		conn.Close()
		ln.Close()
	}
}

func TestUnixSocketInUseRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.sock")
	c, _ := listener.Parse("unix:" + path)
	ln, err := listener.Listen(c)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			s, err := ln.Accept()
			if err != nil {
				return
			}
			s.Close()
		}
	}()
	if _, err := listener.Listen(c); err == nil {
		t.Fatal("second listener on a socket in use was allowed")
	}
}
