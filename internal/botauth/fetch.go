package botauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// errRateLimited says an on-demand refetch was not made because the last
// one was less than MinRefetchInterval ago.
var errRateLimited = errors.New("refetch rate-limited")

// fetchKey is the single-flight key shared by every kind of fetch, so that
// a periodic refresh, a stale-set refresh and any number of unknown-kid
// refetches in flight at once make one pair of requests.
const fetchKey = "keys"

// Start fetches the key set once, then refreshes it every RefreshInterval
// until ctx is done. It returns after the first fetch attempt, with that
// attempt's error; after a failure the background loop keeps retrying with
// backoff, and Validate rejects with NoKeys until a fetch succeeds. Start
// may be called once. A Validator that is never started fetches its keys
// lazily on first use, rate-limited like an unknown-kid refetch.
func (v *Validator) Start(ctx context.Context) error {
	if !v.started.CompareAndSwap(false, true) {
		return errors.New("botauth: validator already started")
	}
	err := v.refresh(ctx, false)
	go v.loop(ctx, err)
	return err
}

// noKeysMaxBackoff is the default bound of the retry interval while no key
// set was ever fetched: every activity is refused then, so recovery should
// take seconds, not the minutes of MinRefetchInterval.
const noKeysMaxBackoff = 30 * time.Second

// loop refreshes the key set every refreshInterval, and after a failed
// fetch retries after 1 s, 2 s, 4 s … up to minRefetchInterval (up to
// noKeysMaxBackoff while it has no keys at all).
func (v *Validator) loop(ctx context.Context, err error) {
	defer close(v.stopped)
	backoff := time.Second
	for {
		wait := v.cfg.refreshInterval
		if err != nil {
			limit := v.cfg.minRefetchInterval
			if v.keys.Load() == nil {
				limit = min(limit, v.cfg.noKeysMaxBackoff)
			}
			wait = min(backoff, limit, v.cfg.refreshInterval)
			backoff *= 2
		} else {
			backoff = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		err = v.refresh(ctx, false)
	}
}

// refresh fetches the key set through the single flight and waits for it
// or for ctx. With limited, it is an on-demand refetch subject to the
// MinRefetchInterval rate limit; a limited flight that was refused is not
// good enough for an unlimited caller, which then tries again.
func (v *Validator) refresh(ctx context.Context, limited bool) error {
	for {
		ch := v.flight.DoChan(fetchKey, func() (any, error) {
			if limited && !v.limiter.AllowN(v.cfg.now(), 1) {
				return nil, errRateLimited
			}
			return nil, v.fetch()
		})
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-ch:
			if !limited && errors.Is(r.Err, errRateLimited) {
				continue
			}
			return r.Err
		}
	}
}

// maybeRefresh starts a background refresh when the key set is older than
// RefreshInterval by the injected clock, at most once per
// MinRefetchInterval. This keeps the 24-hour promise of botauth.md §1.2
// even when the process was suspended and the loop's timer is late.
func (v *Validator) maybeRefresh(ks *keySet, now time.Time) {
	if ks == nil || now.Sub(ks.fetched) < v.cfg.refreshInterval {
		return
	}
	last := v.lastAttempt.Load()
	if now.UnixNano()-last < int64(v.cfg.minRefetchInterval) || !v.lastAttempt.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	go v.refresh(context.Background(), false) //nolint:errcheck // fetch records and logs its own outcome
}

// fetch gets the metadata document and its jwks_uri and, on success,
// publishes the new key set. On failure the last good set stays in use
// (botauth.md §6.4); nothing is ever published that would accept more.
func (v *Validator) fetch() error {
	start := v.cfg.now()
	v.lastAttempt.Store(start.UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), v.cfg.fetchTimeout)
	defer cancel()
	ks, err := v.fetchKeySet(ctx, start)
	if err != nil {
		v.refreshFailures.Add(1)
		v.cfg.log.Warn("botauth: key set refresh failed; keeping the last good set",
			"metadata", v.cfg.metadataURL.String(), "error", err, "have_keys", v.keys.Load() != nil)
		return err
	}
	v.keys.Store(ks)
	v.refreshes.Add(1)
	v.lastRefresh.Store(start.UnixNano())
	return nil
}

// fetchKeySet fetches and parses the metadata and JWKS documents.
func (v *Validator) fetchKeySet(ctx context.Context, now time.Time) (*keySet, error) {
	b, err := v.get(ctx, v.cfg.metadataURL)
	if err != nil {
		return nil, err
	}
	md, err := parseMetadata(b)
	if err != nil {
		return nil, err
	}
	if md.Issuer != "" && md.Issuer != v.cfg.issuer {
		v.cfg.log.Warn("botauth: metadata issuer differs from the configured issuer; tokens are checked against the configured one",
			"metadata_issuer", md.Issuer, "issuer", v.cfg.issuer)
	}
	ref, err := url.Parse(md.JWKSURI)
	if err != nil {
		return nil, fmt.Errorf("metadata: jwks_uri %q: %w", md.JWKSURI, err)
	}
	jwksURL, err := checkFetchURL(v.cfg.metadataURL.ResolveReference(ref).String(), v.cfg.insecureLoopback)
	if err != nil {
		return nil, fmt.Errorf("metadata: jwks_uri: %w", err)
	}
	algs := v.cfg.algorithms
	if md.Algorithms != nil {
		algs = slices.DeleteFunc(slices.Clone(algs), func(a string) bool { return !slices.Contains(md.Algorithms, a) })
		if len(algs) == 0 {
			return nil, fmt.Errorf("metadata: id_token_signing_alg_values_supported %q shares no algorithm with %q", md.Algorithms, v.cfg.algorithms)
		}
	}
	b, err = v.get(ctx, jwksURL)
	if err != nil {
		return nil, err
	}
	keys, skipped, err := parseJWKS(b)
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		v.cfg.log.Debug("botauth: key skipped", "kid", s.Kid, "reason", s.Reason)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("jwks %q: no usable RSA signing key among %d", jwksURL.String(), len(skipped))
	}
	v.cfg.log.Info("botauth: key set refreshed", "keys", len(keys), "skipped", len(skipped), "algorithms", algs)
	return &keySet{keys: keys, algorithms: algs, fetched: now}, nil
}

// get fetches u, requiring 200 OK and at most maxDocumentBytes.
func (v *Validator) get(ctx context.Context, u *url.URL) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", u.String(), err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", u.String(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) //nolint:errcheck // drained for connection reuse only
		return nil, fmt.Errorf("get %q: status %s", u.String(), resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", u.String(), err)
	}
	if len(b) > maxDocumentBytes {
		return nil, fmt.Errorf("get %q: document exceeds %d bytes", u.String(), maxDocumentBytes)
	}
	return b, nil
}
