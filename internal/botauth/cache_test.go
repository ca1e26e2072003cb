package botauth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestCacheHitSkipsSignature: the second request with a token costs no
// RSA verification, yet its activity is still checked.
func TestCacheHitSkipsSignature(t *testing.T) {
	testKeys(t)
	clk := newClock(base)
	is := newIssuer(t, standardKeys(t)...)
	v := mustValidator(t, is, clk, nil)
	ctx := context.Background()
	h := "Bearer " + sign(t, rsVerify, mainKey, "k1", claimsAt(base))

	steps := []struct {
		name string
		act  Activity
		want Result
	}{
		{name: "first-verifies", act: teamsActivity, want: Result{Reason: OK, AppID: appID}},
		{name: "second-cached", act: teamsActivity, want: Result{Reason: OK, AppID: appID, Cached: true}},
		{name: "cached-serviceurl-mismatch", act: Activity{ChannelID: "msteams", ServiceURL: "https://evil.trafficmanager.net/teams/"}, want: Result{Reason: ServiceURLMismatch, Cached: true}},
		{name: "cached-channel-missing", act: Activity{ServiceURL: teamsURL}, want: Result{Reason: ChannelMissing, Cached: true}},
		{name: "cached-channel-not-allowed", act: Activity{ChannelID: "webchat", ServiceURL: teamsURL}, want: Result{Reason: ChannelNotAllowed, Cached: true}},
		{name: "cached-activity-serviceurl-missing", act: Activity{ChannelID: "msteams"}, want: Result{Reason: ActivityServiceURLMissing, Cached: true}},
		{name: "cached-again-ok", act: teamsActivity, want: Result{Reason: OK, AppID: appID, Cached: true}},
	}
	for _, s := range steps {
		got := v.Validate(ctx, h, s.act)
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s: Validate (-want +got):\n%s", s.name, diff)
		}
	}
	st := v.Stats()
	if st.Verifications != 1 || st.CacheHits != uint64(len(steps)-1) || st.CacheMisses != 1 {
		t.Errorf("Stats: verifications %d hits %d misses %d, want 1, %d, 1", st.Verifications, st.CacheHits, len(steps)-1, st.CacheMisses)
	}
}

// TestCacheEndorsementPerActivity: the endorsement check of a cached token
// uses the key's endorsements against each activity's channel.
func TestCacheEndorsementPerActivity(t *testing.T) {
	testKeys(t)
	is := newIssuer(t, standardKeys(t)...)
	v := mustValidator(t, is, newClock(base), func(c *Config) { c.Channels = []string{"msteams", "webchat"} })
	h := "Bearer " + sign(t, rsVerify, mainKey, "k-webchat", claimsAt(base))
	ctx := context.Background()
	if got := v.Validate(ctx, h, Activity{ChannelID: "webchat", ServiceURL: teamsURL}); got.Reason != OK || got.Cached {
		t.Fatalf("first = %+v, want ok, not cached", got)
	}
	if got := v.Validate(ctx, h, teamsActivity); got.Reason != ChannelNotEndorsed || !got.Cached {
		t.Fatalf("msteams on a webchat key = %+v, want channel-not-endorsed, cached", got)
	}
}

// TestCacheExpiry: a cached token stops being accepted when it expires
// (exp plus skew), and is then reported as expired.
func TestCacheExpiry(t *testing.T) {
	testKeys(t)
	clk := newClock(base)
	is := newIssuer(t, standardKeys(t)...)
	v := mustValidator(t, is, clk, nil)
	ctx := context.Background()
	h := "Bearer " + sign(t, rsVerify, mainKey, "k1", claimsAt(base))
	if got := v.Validate(ctx, h, teamsActivity); !got.OK() {
		t.Fatalf("fresh token: %v", got.Reason)
	}
	clk.Add(time.Hour + DefaultClockSkew - time.Second)
	if got := v.Validate(ctx, h, teamsActivity); !got.OK() || !got.Cached {
		t.Fatalf("1 s before exp+skew: %+v, want ok and cached", got)
	}
	clk.Add(time.Second)
	if got := v.Validate(ctx, h, teamsActivity); got.Reason != Expired || got.Cached {
		t.Fatalf("at exp+skew: %+v, want expired, not cached", got)
	}
}

// TestCacheBounded: many unique genuine tokens never grow the cache past
// CacheSize, and the newest ones are served from it.
func TestCacheBounded(t *testing.T) {
	testKeys(t)
	is := newIssuer(t, standardKeys(t)...)
	const size = 20
	v := mustValidator(t, is, newClock(base), func(c *Config) { c.CacheSize = size })
	ctx := context.Background()
	var last string
	for i := range 300 {
		c := claimsAt(base)
		c["n"] = i
		last = "Bearer " + sign(t, rsVerify, mainKey, "k1", c)
		if got := v.Validate(ctx, last, teamsActivity); !got.OK() {
			t.Fatalf("token %d: %v", i, got.Reason)
		}
		if n := v.Stats().CacheEntries; n > size {
			t.Fatalf("after %d tokens the cache holds %d entries, more than %d", i+1, n, size)
		}
	}
	if got := v.Validate(ctx, last, teamsActivity); !got.Cached {
		t.Errorf("the last token was not served from the cache")
	}
	if n := v.Stats().CacheEntries; n != size {
		t.Errorf("cache holds %d entries, want %d", n, size)
	}
}

// TestTokenCacheUnit exercises eviction directly with many entries.
func TestTokenCacheUnit(t *testing.T) {
	for _, size := range []int{1, 7, 16, 100, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := newTokenCache(size)
			for i := range 20000 {
				var k tokenKey
				k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
				exp := int64(100)
				if i%3 == 0 {
					exp = 10 // expired at now=50, preferred for eviction
				}
				c.put(&k, verified{expires: exp}, 50)
				if _, ok := c.get(&k, 50); ok != (exp == 100) {
					t.Fatalf("entry %d: get ok = %v", i, ok)
				}
			}
			if n := c.len(); n > size {
				t.Fatalf("cache holds %d entries, more than %d", n, size)
			}
		})
	}
	if c := newTokenCache(-1); c != nil || c.len() != 0 {
		t.Fatal("a negative size must disable the cache")
	}
}

// TestCacheDisabled: with CacheSize < 0 every request verifies.
func TestCacheDisabled(t *testing.T) {
	testKeys(t)
	is := newIssuer(t, standardKeys(t)...)
	v := mustValidator(t, is, newClock(base), func(c *Config) { c.CacheSize = -1 })
	h := "Bearer " + sign(t, rsVerify, mainKey, "k1", claimsAt(base))
	for range 3 {
		if got := v.Validate(context.Background(), h, teamsActivity); !got.OK() || got.Cached {
			t.Fatalf("Validate = %+v", got)
		}
	}
	if n := v.Stats().Verifications; n != 3 {
		t.Errorf("verifications = %d, want 3", n)
	}
}

// TestCacheKeyRemoved: a cached token stops counting once its key is no
// longer published (the optional eviction of the brief).
func TestCacheKeyRemoved(t *testing.T) {
	testKeys(t)
	clk := newClock(base)
	is := newIssuer(t, rsaJWK("k1", &mainKey.PublicKey, teams))
	v := mustValidator(t, is, clk, nil)
	ctx := context.Background()
	h := "Bearer " + sign(t, rsVerify, mainKey, "k1", with(claimsAt(base), "exp", base.Add(48*time.Hour).Unix()))
	if got := v.Validate(ctx, h, teamsActivity); !got.OK() {
		t.Fatalf("first: %v", got.Reason)
	}
	is.set(func(is *issuer) { is.keys = []map[string]any{rsaJWK("k2", &nextKey.PublicKey, teams)} })
	clk.Add(DefaultRefreshInterval)
	v.Validate(ctx, h, teamsActivity) // notices the stale set and refreshes in the background
	waitFor(t, "the refresh", func() bool { return v.Stats().KeyRefreshes == 2 })
	if got := v.Validate(ctx, h, teamsActivity); got.Reason != UnknownKey {
		t.Fatalf("after the key left the set: %+v, want unknown-key", got)
	}
}

// TestCachedPathAllocs: the cached path allocates nothing (STYLE.md 13).
func TestCachedPathAllocs(t *testing.T) {
	testKeys(t)
	is := newIssuer(t, standardKeys(t)...)
	v := mustValidator(t, is, newClock(base), nil)
	ctx := context.Background()
	h := "Bearer " + sign(t, rsVerify, mainKey, "k1", claimsAt(base))
	if got := v.Validate(ctx, h, teamsActivity); !got.OK() {
		t.Fatal(got.Reason)
	}
	var got Result
	allocs := testing.AllocsPerRun(1000, func() { got = v.Validate(ctx, h, teamsActivity) })
	if !got.OK() || !got.Cached {
		t.Fatalf("cached Validate = %+v", got)
	}
	if allocs != 0 {
		t.Errorf("cached Validate allocates %v times per run, want 0", allocs)
	}
	bad := Activity{ChannelID: "msteams", ServiceURL: "https://evil.example/"}
	if allocs := testing.AllocsPerRun(1000, func() { got = v.Validate(ctx, h, bad) }); allocs != 0 || got.Reason != ServiceURLMismatch {
		t.Errorf("cached rejection: %v allocs, %v", allocs, got.Reason)
	}
}
