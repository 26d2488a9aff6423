package auth_test

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mastmq/mast/auth"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func tcp(s string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}

func TestLimiterBackoff(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	l := auth.NewLimiter(auth.LimiterConfig{Base: 100 * time.Millisecond, Max: time.Second, Forget: time.Minute, Now: clock.Now})
	a := tcp("192.0.2.1:1000")
	if d := l.Delay(a); d != 0 {
		t.Fatalf("first attempt delayed %v", d)
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		l.Failure(a)
		if d := l.Delay(a); d != w*time.Millisecond && !(w == 1000 && d == time.Second) {
			t.Errorf("after %d failures: %v, want %v", i+1, d, w*time.Millisecond)
		}
	}
	// Another port of the same host counts as the same address; another
	// host does not.
	if d := l.Delay(tcp("192.0.2.1:2000")); d != time.Second {
		t.Errorf("same host, other port: %v", d)
	}
	if d := l.Delay(tcp("192.0.2.2:1000")); d != 0 {
		t.Errorf("other host: %v", d)
	}
	// A success starts the address afresh.
	l.Success(a)
	if d := l.Delay(a); d != 0 {
		t.Errorf("after success: %v", d)
	}
	// So does a quiet minute.
	l.Failure(a)
	l.Failure(a)
	clock.advance(time.Minute + time.Second)
	if d := l.Delay(a); d != 0 {
		t.Errorf("after a quiet minute: %v", d)
	}
	l.Failure(a)
	if d := l.Delay(a); d != 100*time.Millisecond {
		t.Errorf("first failure after a quiet minute: %v", d)
	}
}

func TestLimiterIPv6Prefix(t *testing.T) {
	l := auth.NewLimiter(auth.LimiterConfig{Base: time.Second, Max: time.Hour})
	l.Failure(tcp("[2001:db8:1:2::1]:1000"))
	if d := l.Delay(tcp("[2001:db8:1:2:ffff::9]:1")); d != time.Second {
		t.Errorf("same /64: %v", d)
	}
	if d := l.Delay(tcp("[2001:db8:1:3::1]:1")); d != 0 {
		t.Errorf("other /64: %v", d)
	}
	// An IPv4-mapped address is its IPv4 address.
	l.Failure(tcp("[::ffff:192.0.2.9]:1"))
	if d := l.Delay(tcp("192.0.2.9:5")); d != time.Second {
		t.Errorf("mapped: %v", d)
	}
	// Addresses that are not IP still count, by their text.
	u := &net.UnixAddr{Name: "/run/mast.sock", Net: "unix"}
	l.Failure(u)
	if d := l.Delay(u); d != time.Second {
		t.Errorf("unix: %v", d)
	}
}

func TestLimiterBounded(t *testing.T) {
	l := auth.NewLimiter(auth.LimiterConfig{Size: 100})
	for i := range 1000 {
		l.Failure(tcp("10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256) + ":1"))
	}
	if n := l.Len(); n != 100 {
		t.Errorf("remembers %d addresses, want 100", n)
	}
	// The most recent ones are kept.
	if d := l.Delay(tcp("10.0.3.231:1")); d == 0 {
		t.Error("the last address was forgotten")
	}
	if d := l.Delay(tcp("10.0.0.0:1")); d != 0 {
		t.Error("the first address is still remembered")
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := auth.NewLimiter(auth.LimiterConfig{Size: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				a := tcp("10.1." + strconv.Itoa(g) + "." + strconv.Itoa(i%100) + ":1")
				l.Delay(a)
				l.Failure(a)
				if i%7 == 0 {
					l.Success(a)
				}
			}
		})
	}
	wg.Wait()
	if l.Len() > 50 {
		t.Errorf("%d addresses remembered, bound is 50", l.Len())
	}
}
