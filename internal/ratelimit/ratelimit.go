// Package ratelimit is the per-source token bucket the daemons share: one
// bucket per client address in a bounded map.
package ratelimit

import (
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"time"
)

// Limiter keeps one token bucket per source in a bounded map. Sources
// can be forged by whoever is allowed to send (and by anyone in report
// mode), so memory must not grow with the number of sources
// (gateway-anchors.md §4, golang.org/x/time/rate). When a shard is full, a
// bucket that has refilled completely is dropped first, which loses nothing
// since a new bucket starts full; failing that, an arbitrary one.
type Limiter struct {
	rate   float64 // tokens per nanosecond
	burst  float64
	seed   maphash.Seed
	shards []limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[netip.Addr]bucket
	max     int
	_       [40]byte // keep shards on separate cache lines
}

type bucket struct {
	tokens float64
	last   int64 // Unix nanoseconds of the last update
}

const limiterShards = 16

// New returns a limiter of perSecond tokens a second and burst tokens per
// source, tracking at most maxSources sources.
func New(perSecond float64, burst, maxSources int) *Limiter {
	l := &Limiter{
		rate:   perSecond / float64(time.Second),
		burst:  float64(burst),
		seed:   maphash.MakeSeed(),
		shards: make([]limiterShard, limiterShards),
	}
	for i := range l.shards {
		n := maxSources / limiterShards
		if i < maxSources%limiterShards {
			n++
		}
		l.shards[i].max = max(n, 1)
		l.shards[i].buckets = make(map[netip.Addr]bucket, min(l.shards[i].max, 256))
	}
	return l
}

// Key is the rate-limit key of a client: the address itself for IPv4,
// its /64 for IPv6, since one host usually holds a whole /64.
func Key(a netip.Addr) netip.Addr {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a.Unmap()
}

// Allow takes a token for client at now. When none is left it returns how
// long until one will be.
func (l *Limiter) Allow(client netip.Addr, now time.Time) (bool, time.Duration) {
	k := Key(client)
	s := &l.shards[maphash.Comparable(l.seed, k)%limiterShards]
	t := now.UnixNano()
	s.mu.Lock()
	b, ok := s.buckets[k]
	if !ok {
		if len(s.buckets) >= s.max {
			s.evict(t, l)
		}
		b = bucket{tokens: l.burst, last: t}
	} else if t > b.last {
		b.tokens = math.Min(l.burst, b.tokens+float64(t-b.last)*l.rate)
		b.last = t
	}
	if b.tokens < 1 {
		s.buckets[k] = b
		s.mu.Unlock()
		return false, time.Duration((1 - b.tokens) / l.rate)
	}
	b.tokens--
	s.buckets[k] = b
	s.mu.Unlock()
	return true, 0
}

// evict makes room for one bucket. s.mu must be held.
func (s *limiterShard) evict(now int64, l *Limiter) {
	const probe = 8
	var victim netip.Addr
	i := 0
	for k, b := range s.buckets {
		if b.tokens+float64(now-b.last)*l.rate >= l.burst {
			victim = k
			break
		}
		if i == 0 {
			victim = k
		}
		if i++; i == probe {
			break
		}
	}
	delete(s.buckets, victim)
}

// Len returns the number of sources tracked.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}
