package botauth

import (
	"context"
	"testing"
)

func benchValidator(b *testing.B, cacheSize int) (*Validator, string) {
	testKeys(b)
	is := newIssuer(b, standardKeys(b)...)
	v := mustValidator(b, is, newClock(base), func(c *Config) { c.CacheSize = cacheSize })
	h := "Bearer " + sign(b, rsVerify, mainKey, "k1", claimsAt(base))
	if got := v.Validate(context.Background(), h, teamsActivity); !got.OK() {
		b.Fatal(got.Reason)
	}
	return v, h
}

// BenchmarkValidateCold is the signature path: parse, claims, key lookup
// and an RS256 verification, every time (cache disabled).
func BenchmarkValidateCold(b *testing.B) {
	v, h := benchValidator(b, -1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r := v.Validate(ctx, h, teamsActivity); !r.OK() || r.Cached {
			b.Fatal(r)
		}
	}
}

// BenchmarkValidateCached is a token seen before: hash, cache lookup and
// the activity checks.
func BenchmarkValidateCached(b *testing.B) {
	v, h := benchValidator(b, 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r := v.Validate(ctx, h, teamsActivity); !r.OK() || !r.Cached {
			b.Fatal(r)
		}
	}
}

// BenchmarkValidateCachedParallel is the cached path under concurrency.
func BenchmarkValidateCachedParallel(b *testing.B) {
	v, h := benchValidator(b, 0)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := v.Validate(ctx, h, teamsActivity); !r.OK() {
				b.Fatal(r)
			}
		}
	})
}

func BenchmarkParseActivity(b *testing.B) {
	body := []byte(teamsBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParseActivity(body); err != nil {
			b.Fatal(err)
		}
	}
}
