package egress

import (
	"net/netip"
	"sync"
	"time"
)

// dnsCache keeps the answers of the names the proxy resolved for a short
// time, as a forward proxy's resolver cache does (Squid's ipcache): a bot
// opens its few allowed hosts over and over, and each CONNECT otherwise
// costs two queries. It holds answers, not verdicts: every use classifies
// them again, and the proxy dials exactly the cached address it checked,
// so the cache cannot let a rebinding through; it only makes a name's
// addresses stable for ttl. Failures are not kept. It is bounded: at max
// names, expired entries go first, then arbitrary ones.
type dnsCache struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[string]dnsEntry
}

type dnsEntry struct {
	addrs   []netip.Addr
	expires time.Time
}

// newDNSCache returns a cache of at most max names for ttl, or nil (no
// cache) when ttl is not positive.
func newDNSCache(ttl time.Duration, max int) *dnsCache {
	if ttl <= 0 {
		return nil
	}
	return &dnsCache{ttl: ttl, max: max, m: make(map[string]dnsEntry)}
}

// get returns the cached answers for host, if any are still fresh. The
// slice is the cache's: callers copy before changing it.
func (c *dnsCache) get(host string, now time.Time) ([]netip.Addr, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	e, ok := c.m[host]
	c.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.addrs, true
}

// put keeps addrs for host.
func (c *dnsCache) put(host string, addrs []netip.Addr, now time.Time) {
	if c == nil || len(addrs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[host]; !ok && len(c.m) >= c.max {
		for h, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, h)
			}
		}
		for h := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, h)
		}
	}
	c.m[host] = dnsEntry{addrs: addrs, expires: now.Add(c.ttl)}
}

// len is the number of names held, expired ones included.
func (c *dnsCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
