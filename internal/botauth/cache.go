package botauth

import (
	"sync"
)

// tokenKey is the SHA-256 of a raw token: the cache never holds tokens.
type tokenKey = [32]byte

// verified is what a cache entry remembers about a token whose
// activity-independent checks passed: signature, algorithm, issuer,
// audience, lifetime and the presence of the serviceurl claim. The checks
// that depend on the activity (channel, endorsement, serviceUrl) run on
// every request, cached or not.
type verified struct {
	// expires is exp plus the clock skew, in Unix nanoseconds; the entry
	// is dead from then on.
	expires int64
	// kid and fingerprint name the key that verified the signature; the
	// entry counts only while the current key set publishes the same key
	// under that kid.
	kid         string
	fingerprint [32]byte
	alg         string
	appID       string
	serviceURL  string
}

// tokenCache is a bounded map of verified tokens, split into shards so
// that concurrent lookups rarely contend. Replacement is random among a
// shard's entries once expired ones are gone: cheap, and good enough since
// only genuine tokens for our app ids are ever inserted, so an attacker
// cannot flood it.
type tokenCache struct {
	shards []cacheShard
}

type cacheShard struct {
	mu      sync.RWMutex
	entries map[tokenKey]verified
	max     int
	_       [88]byte // keep shards on separate cache lines
}

// maxShards caps the shard count; a shard holds at least one entry.
const maxShards = 16

// newTokenCache returns a cache of at most size entries, or nil if size is
// not positive.
func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	n := min(size, maxShards)
	c := &tokenCache{shards: make([]cacheShard, n)}
	for i := range c.shards {
		max := size / n
		if i < size%n {
			max++
		}
		c.shards[i].max = max
		c.shards[i].entries = make(map[tokenKey]verified, min(max, 1024))
	}
	return c
}

func (c *tokenCache) shard(k *tokenKey) *cacheShard {
	return &c.shards[int(k[0])%len(c.shards)]
}

// get returns the live entry for k at time now (Unix nanoseconds).
func (c *tokenCache) get(k *tokenKey, now int64) (verified, bool) {
	s := c.shard(k)
	s.mu.RLock()
	e, ok := s.entries[*k]
	s.mu.RUnlock()
	if !ok || now >= e.expires {
		return verified{}, false
	}
	return e, true
}

// put stores e under k, evicting an expired entry or, failing that, a
// random one when the shard is full.
func (c *tokenCache) put(k *tokenKey, e verified, now int64) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[*k]; !ok && len(s.entries) >= s.max {
		s.evict(now)
	}
	s.entries[*k] = e
}

// remove drops k, e.g. when its key has left the key set.
func (c *tokenCache) remove(k *tokenKey) {
	s := c.shard(k)
	s.mu.Lock()
	delete(s.entries, *k)
	s.mu.Unlock()
}

// evict removes one entry, preferring an expired one among the first few
// that map iteration (randomly ordered) visits. s.mu must be held.
func (s *cacheShard) evict(now int64) {
	const probe = 8
	var victim tokenKey
	i := 0
	for k, e := range s.entries {
		if now >= e.expires {
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
	delete(s.entries, victim)
}

// len returns the number of entries, live or not yet evicted.
func (c *tokenCache) len() int {
	if c == nil {
		return 0
	}
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}
