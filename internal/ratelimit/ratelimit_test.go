package ratelimit

import (
	"net/netip"
	"testing"
	"time"
)

// TestRateLimiterBounded: a flood of unique sources never holds more
// buckets than the configured maximum, and a known source keeps its state
// while it is active.
func TestRateLimiterBounded(t *testing.T) {
	l := New(10, 5, 1000)
	now := time.Now()
	base := netip.MustParseAddr("198.18.0.0").As4()
	for i := range 100_000 {
		a := base
		a[2], a[3] = byte(i>>8), byte(i)
		a[1] += byte(i >> 16)
		l.Allow(netip.AddrFrom4(a), now)
	}
	if n := l.Len(); n > 1000 {
		t.Errorf("%d buckets after 100000 unique sources, max 1000", n)
	}
	// IPv6 sources share a bucket per /64.
	l = New(1, 2, 10)
	a, b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:2")
	if ok, _ := l.Allow(a, now); !ok {
		t.Fatal("first request refused")
	}
	if ok, _ := l.Allow(b, now); !ok {
		t.Fatal("second request refused")
	}
	ok, wait := l.Allow(a, now)
	if ok || wait <= 0 || wait > time.Second {
		t.Errorf("third request in the same /64: ok %v, wait %v; want refused with ~1s", ok, wait)
	}
	if ok, _ := l.Allow(a, now.Add(time.Second)); !ok {
		t.Error("refused after a refill")
	}
}

func BenchmarkRateLimiter(b *testing.B) {
	l := New(1e9, 1e9, 10000)
	a := netip.MustParseAddr("52.112.0.1")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(a, now)
	}
}
