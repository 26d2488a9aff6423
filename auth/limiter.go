package auth

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// LimiterConfig configures a Limiter; zero fields take the defaults.
type LimiterConfig struct {
	// Base is the delay after the first failure (default 200 ms); each
	// further failure doubles it.
	Base time.Duration
	// Max caps the delay (default 10 s).
	Max time.Duration
	// Forget is how long after its last failure an address starts afresh
	// (default 10 min).
	Forget time.Duration
	// Size bounds the number of addresses remembered (default 10,000); past
	// it the address that failed least recently is forgotten.
	Size int
	// Now reads the clock; nil means time.Now. For tests.
	Now func() time.Time
}

// Limiter slows down repeated failed logins from one address: the broker
// asks Delay before checking a CONNECT's credentials and waits that long,
// then reports the outcome with Failure or Success. The delay doubles
// with each consecutive failure, from Base up to Max. IPv6 addresses are
// counted per /64, which is what one host usually holds.
//
// Safe for concurrent use. Its memory is bounded by Size.
type Limiter struct {
	base, max, forget time.Duration
	now               func() time.Time

	mu   sync.Mutex
	seen *lru[string, failures]
}

type failures struct {
	n    int
	last time.Time
}

// NewLimiter returns a Limiter configured by cfg.
func NewLimiter(cfg LimiterConfig) *Limiter {
	l := &Limiter{base: cfg.Base, max: cfg.Max, forget: cfg.Forget, now: cfg.Now}
	if l.base <= 0 {
		l.base = 200 * time.Millisecond
	}
	if l.max <= 0 {
		l.max = 10 * time.Second
	}
	if l.forget <= 0 {
		l.forget = 10 * time.Minute
	}
	if l.now == nil {
		l.now = time.Now
	}
	size := cfg.Size
	if size <= 0 {
		size = 10000
	}
	l.seen = newLRU[string, failures](size)
	return l
}

// Delay returns how long to wait before answering a login from remote.
func (l *Limiter) Delay(remote net.Addr) time.Duration {
	key := limiterKey(remote)
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.seen.peek(key)
	if !ok {
		return 0
	}
	if l.now().Sub(f.last) > l.forget {
		l.seen.remove(key)
		return 0
	}
	return l.delay(f.n)
}

func (l *Limiter) delay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := l.base
	for i := 1; i < n && d < l.max; i++ {
		d *= 2
	}
	return min(d, l.max)
}

// Failure records a failed login from remote.
func (l *Limiter) Failure(remote net.Addr) {
	key := limiterKey(remote)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f, _ := l.seen.get(key)
	if now.Sub(f.last) > l.forget {
		f.n = 0
	}
	if f.n < 64 {
		f.n++
	}
	f.last = now
	l.seen.put(key, f)
}

// Success records a successful login from remote: its address starts
// afresh.
func (l *Limiter) Success(remote net.Addr) {
	key := limiterKey(remote)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen.remove(key)
}

// Len returns the number of addresses remembered.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen.len()
}

// limiterKey is the address a failure counts against: the IP of a TCP
// peer (the /64 for IPv6), else the address as text.
func limiterKey(a net.Addr) string {
	if a == nil {
		return ""
	}
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		} else if p, err := netip.ParseAddr(a.String()); err == nil {
			ip = p
		}
	}
	if !ip.IsValid() {
		return a.Network() + ":" + a.String()
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
