// Package botauth validates the Bot Framework JWT that the Teams / Bot
// Connector service sends with every activity it posts to a bot, the way
// the official SDKs do on their channel path, with the stricter choices of
// docs/reference/botauth.md §6 (cited below as botauth.md): keys without
// endorsements, activities without serviceUrl or channelId, and tokens of
// any other issuer are all rejected. There is no way to turn validation
// off.
//
// A Validator is safe for concurrent use. Its key set comes from the
// cloud's OpenID metadata document and jwks_uri, refreshed at least every
// 24 hours and refetched (rate-limited, single-flight) when a token names
// an unknown kid; a failed fetch keeps the last good set, and without any
// set every token is rejected. Tokens whose signature verified are cached
// by their SHA-256 until they expire, so a request that reuses a token
// costs no RSA operation and no allocation, while the checks that depend
// on the activity run every time.
package botauth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// Validator checks Bot Framework channel tokens against one cloud's keys.
type Validator struct {
	cfg     settings
	parser  *jwt.Parser
	cache   *tokenCache
	keys    atomic.Pointer[keySet]
	flight  singleflight.Group
	limiter *rate.Limiter

	started atomic.Bool
	stopped chan struct{} // closed when Start's loop ends

	lastAttempt     atomic.Int64 // Unix nanoseconds of the last fetch attempt
	lastRefresh     atomic.Int64 // Unix nanoseconds of the last successful fetch
	refreshes       atomic.Uint64
	refreshFailures atomic.Uint64
	hits, misses    atomic.Uint64
	verifications   atomic.Uint64
}

// New checks cfg and returns a Validator. It fetches nothing: call Start to
// fetch the keys eagerly and keep them fresh.
func New(cfg Config) (*Validator, error) {
	s, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	v := &Validator{
		cfg: s,
		// The algorithm is pinned here and never taken from the token
		// alone (botauth.md §6.2); claims are checked by hand in keyFunc,
		// before any key lookup or RSA work.
		parser: jwt.NewParser(
			jwt.WithValidMethods(s.algorithms),
			jwt.WithoutClaimsValidation(),
			jwt.WithStrictDecoding(),
		),
		cache:   newTokenCache(s.cacheSize),
		limiter: rate.NewLimiter(rate.Every(s.minRefetchInterval), 1),
		stopped: make(chan struct{}),
	}
	return v, nil
}

// Result is the decision on one request.
type Result struct {
	// Reason is OK when the request is accepted, otherwise why not.
	Reason Reason
	// AppID is the configured app id the token's aud matched; set only
	// when Reason is OK.
	AppID string
	// Cached reports that the token's signature was verified by an
	// earlier request and taken from the cache.
	Cached bool
}

// OK reports whether the request is accepted.
func (r Result) OK() bool { return r.Reason == OK }

// Stats are counters for metrics.
type Stats struct {
	// KeyRefreshes and KeyRefreshFailures count metadata + JWKS fetches.
	KeyRefreshes, KeyRefreshFailures uint64
	// LastKeyRefresh is when the key set in use was fetched; zero if never.
	LastKeyRefresh time.Time
	// Keys is the number of usable signing keys.
	Keys int
	// CacheHits and CacheMisses count verified-token cache lookups;
	// CacheEntries is the cache's current size.
	CacheHits, CacheMisses uint64
	CacheEntries           int
	// Verifications counts RSA signature verifications.
	Verifications uint64
}

// Stats returns the validator's counters.
func (v *Validator) Stats() Stats {
	s := Stats{
		KeyRefreshes:       v.refreshes.Load(),
		KeyRefreshFailures: v.refreshFailures.Load(),
		CacheHits:          v.hits.Load(),
		CacheMisses:        v.misses.Load(),
		CacheEntries:       v.cache.len(),
		Verifications:      v.verifications.Load(),
	}
	if t := v.lastRefresh.Load(); t != 0 {
		s.LastKeyRefresh = time.Unix(0, t)
	}
	if ks := v.keys.Load(); ks != nil {
		s.Keys = len(ks.keys)
	}
	return s
}

// Authorization returns the value of the one Authorization header in h
// (botauth.md §6.1: one header), MissingHeader if there is none and
// MultipleHeaders if there are several.
func Authorization(h http.Header) (string, Reason) {
	vs := h["Authorization"]
	switch len(vs) {
	case 0:
		return "", MissingHeader
	case 1:
		return vs[0], OK
	}
	return "", MultipleHeaders
}

// Validate decides whether a request with the given Authorization header
// value and activity comes from the Bot Connector for one of the configured
// bots (botauth.md §1.3 and §6). ctx bounds the wait for a key refetch that
// an unknown kid triggers. It is Verify followed by Token.Check.
//
// The checks run in this order, and the Reason names the first that
// failed: the Bearer scheme; the JWS form and algorithm; iss, aud, exp,
// nbf and the presence of the serviceurl claim, all before any key lookup
// or RSA work, so that such tokens cannot trigger refetches; the key (by
// kid, refetched once if unknown); the signature; then, for every request
// including cached ones, the activity's channelId against Config.Channels
// and the key's endorsements, and its serviceUrl against the claim.
func (v *Validator) Validate(ctx context.Context, authorization string, act Activity) Result {
	tok, r := v.Verify(ctx, authorization)
	if r != OK {
		return Result{Reason: r}
	}
	return tok.Check(act)
}

// Token is a token whose checks that do not depend on the activity passed:
// scheme, form, algorithm, issuer, audience, lifetime, key and signature.
// Its zero value is no token. A gateway verifies it before it reads a
// request's body, so that a client without a genuine token cannot make it
// wait for one; Check then judges the activity the body holds.
type Token struct {
	v      *Validator
	k      *signingKey
	e      verified
	cached bool
}

// Verify runs the checks of Validate that need only the Authorization
// header value, in the same order, and returns the verified token.
func (v *Validator) Verify(ctx context.Context, authorization string) (Token, Reason) {
	token, r := bearer(authorization)
	if r != OK {
		return Token{}, r
	}
	now := v.cfg.now()
	ks := v.keys.Load()
	v.maybeRefresh(ks, now)

	var key tokenKey
	if v.cache != nil {
		key = sha256.Sum256(stringBytes(token))
		if e, ok := v.cache.get(&key, now.UnixNano()); ok {
			if k := ks.lookup(e.kid); k != nil && k.fingerprint == e.fingerprint && ks.allows(e.alg) && k.validAt(now, v.cfg.skew) {
				v.hits.Add(1)
				return Token{v: v, k: k, e: e, cached: true}, OK
			}
			// The key left the set, changed, or its certificate lapsed:
			// verify afresh, which reports why.
			v.cache.remove(&key)
		}
		v.misses.Add(1)
	}

	e, k, r := v.verify(ctx, token, now)
	if r != OK {
		return Token{}, r
	}
	if v.cache != nil {
		v.cache.put(&key, e, now.UnixNano())
	}
	return Token{v: v, k: k, e: e}, OK
}

// Check applies the checks that depend on the activity to a verified
// token (botauth.md §6.9, §6.10) and decides the request.
func (t Token) Check(act Activity) Result {
	if t.v == nil {
		return Result{Reason: MalformedToken}
	}
	return t.v.decide(t.k, &t.e, act, t.cached)
}

// AppID is the bot the token is for (its audience), once verified.
func (t Token) AppID() string { return t.e.appID }

// stringBytes returns the bytes of s without copying them. []byte(s)
// would copy a token longer than 32 bytes to the heap, and the cached path
// must not allocate; sha256.Sum256 only reads its input, so the bytes are
// never written.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// decide applies the activity checks to a verified token.
func (v *Validator) decide(k *signingKey, e *verified, act Activity, cached bool) Result {
	r := v.checkActivity(k, e.serviceURL, act)
	res := Result{Reason: r, Cached: cached}
	if r == OK {
		res.AppID = e.appID
	}
	return res
}

// checkActivity runs the checks that depend on the activity: botauth.md
// §6.9 (channelId present, allowed, endorsed by the key that verified the
// signature, and a key without endorsements rejected as .NET does since PR
// #6704) and §6.10 (serviceUrl present and equal to the serviceurl claim).
func (v *Validator) checkActivity(k *signingKey, claimURL string, act Activity) Reason {
	switch {
	case act.ChannelID == "":
		return ChannelMissing
	case !k.endorsed:
		return NoEndorsement
	case !k.endorses(act.ChannelID):
		return ChannelNotEndorsed
	case !v.channelAllowed(act.ChannelID):
		return ChannelNotAllowed
	case act.ServiceURL == "":
		return ActivityServiceURLMissing
	case !sameServiceURL(claimURL, act.ServiceURL):
		return ServiceURLMismatch
	}
	return OK
}

func (v *Validator) channelAllowed(c string) bool {
	for _, a := range v.cfg.channels {
		if a == c {
			return true
		}
	}
	return false
}

// bearer extracts the token from "Bearer <token>": exactly one space, the
// scheme case-sensitive, nothing after the token, as both SDKs'
// JwtTokenExtractor require (botauth.md §2.1, §2.2, §6.1).
func bearer(authorization string) (string, Reason) {
	const scheme = "Bearer "
	switch {
	case authorization == "":
		return "", MissingHeader
	case len(authorization) > MaxAuthorizationBytes:
		return "", TokenTooLarge
	case len(authorization) <= len(scheme) || authorization[:len(scheme)] != scheme:
		return "", BadScheme
	}
	token := authorization[len(scheme):]
	for i := 0; i < len(token); i++ {
		if token[i] == ' ' {
			return "", BadScheme
		}
	}
	return token, OK
}

// sameServiceURL compares the serviceurl claim with the activity's
// serviceUrl as teams.net (PR #549) and teams.py do: ignoring one trailing
// slash on each, and ASCII letter case (botauth.md §6.10). Case folding is
// ASCII-only on purpose: Unicode folding would equate "ſmba" (U+017F) with
// "smba", a different host once the bot's HTTP client encodes it.
func sameServiceURL(claim, activity string) bool {
	claim = trimOneSlash(claim)
	activity = trimOneSlash(activity)
	if len(claim) != len(activity) {
		return false
	}
	for i := 0; i < len(claim); i++ {
		a, b := claim[i], activity[i]
		if a == b {
			continue
		}
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

func trimOneSlash(s string) string {
	if n := len(s); n > 0 && s[n-1] == '/' {
		return s[:n-1]
	}
	return s
}

// lookup returns the key named kid, or nil; ks may be nil.
func (ks *keySet) lookup(kid string) *signingKey {
	if ks == nil {
		return nil
	}
	return ks.keys[kid]
}

// verify runs the token checks that do not depend on the activity and
// returns what the cache keeps about a token that passed them.
func (v *Validator) verify(ctx context.Context, token string, now time.Time) (verified, *signingKey, Reason) {
	st := verifyState{v: v, ctx: ctx, now: now}
	_, err := v.parser.ParseWithClaims(token, &st.claims, st.keyFunc)
	if err != nil {
		var re reasonError
		switch {
		case errors.As(err, &re):
			return verified{}, nil, re.reason
		case errors.Is(err, jwt.ErrTokenMalformed):
			return verified{}, nil, MalformedToken
		case !st.keyFuncCalled:
			// jwt rejects the alg before asking for a key: none, HS*,
			// ES*, unknown or missing algorithms.
			return verified{}, nil, BadAlgorithm
		}
		return verified{}, nil, BadSignature
	}
	k := st.key
	return verified{
		expires:     addClamped(st.claims.exp, int64(v.cfg.skew)),
		kid:         k.kid,
		fingerprint: k.fingerprint,
		alg:         st.alg,
		appID:       st.appID,
		serviceURL:  st.claims.serviceURL,
	}, k, OK
}

// reasonError carries a rejection out of the jwt key function.
type reasonError struct{ reason Reason }

func (e reasonError) Error() string { return e.reason.String() }

// verifyState is one token's trip through jwt.Parser.
type verifyState struct {
	v             *Validator
	ctx           context.Context
	now           time.Time
	claims        claims
	keyFuncCalled bool
	key           *signingKey
	alg           string
	appID         string
}

// keyFunc runs after jwt has decoded the token and accepted its alg
// (jwt.WithValidMethods) and before it verifies the signature with the key
// returned. It checks the claims first (botauth.md §6.6–§6.8, §6.10), then
// finds the key (§6.4) and checks that the key and the metadata allow the
// algorithm (§6.2) and that the key's certificate is current (§6.5).
func (st *verifyState) keyFunc(t *jwt.Token) (any, error) {
	st.keyFuncCalled = true
	v, c := st.v, &st.claims
	if !c.decoded {
		// The claims segment was JSON null, which encoding/json applies
		// without calling claims.UnmarshalJSON.
		return nil, reasonError{MalformedToken}
	}
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515 §4.1.11: extensions we do not understand must be
		// rejected; channel tokens have none.
		return nil, reasonError{MalformedToken}
	}
	if !c.hasIssuer || c.issuer != v.cfg.issuer {
		return nil, reasonError{BadIssuer}
	}
	if !c.audIsString {
		return nil, reasonError{BadAudience}
	}
	for _, id := range v.cfg.appIDs {
		if c.aud == id {
			st.appID = id
		}
	}
	if st.appID == "" {
		return nil, reasonError{BadAudience}
	}
	now := st.now.UnixNano()
	skew := int64(v.cfg.skew)
	if !c.hasExp {
		return nil, reasonError{MissingExpiry}
	}
	if now >= addClamped(c.exp, skew) {
		return nil, reasonError{Expired}
	}
	if c.hasNbf && now < addClamped(c.nbf, -skew) {
		return nil, reasonError{NotYetValid}
	}
	if c.serviceURL == "" {
		return nil, reasonError{ServiceURLMissing}
	}

	rawKid, ok := t.Header["kid"]
	if !ok || rawKid == "" {
		return nil, reasonError{MissingKeyID}
	}
	kid, ok := rawKid.(string)
	if !ok {
		return nil, reasonError{MalformedToken}
	}
	ks := v.keys.Load()
	k := ks.lookup(kid)
	if k == nil {
		// Unknown kid, or no keys yet: one rate-limited, single-flight
		// refetch, whose failure leaves the last good set in place.
		_ = v.refresh(st.ctx, true)
		ks = v.keys.Load()
		if ks == nil {
			return nil, reasonError{NoKeys}
		}
		if k = ks.lookup(kid); k == nil {
			return nil, reasonError{UnknownKey}
		}
	}
	st.alg = t.Method.Alg()
	if !ks.allows(st.alg) || (k.alg != "" && k.alg != st.alg) {
		return nil, reasonError{BadAlgorithm}
	}
	if !k.validAt(st.now, v.cfg.skew) {
		return nil, reasonError{KeyExpired}
	}
	st.key = k
	v.verifications.Add(1)
	return k.pub, nil
}

// claims are the channel token's claims (botauth.md §1.4: aud, exp, iss,
// nbf, serviceurl), decoded by exact name and type. encoding/json would
// match names case-insensitively; a claim of the wrong type makes the
// token malformed, except aud, where anything but a string is BadAudience
// (§6.7: aud is a string; arrays are refused, even with one element).
type claims struct {
	decoded     bool
	issuer      string
	hasIssuer   bool
	aud         string
	audIsString bool
	exp, nbf    int64 // Unix nanoseconds, clamped
	hasExp      bool
	hasNbf      bool
	serviceURL  string
}

var (
	errClaimsNotObject = errors.New("claims are not a JSON object")
	errClaimType       = errors.New("claim of the wrong type")
)

// UnmarshalJSON decodes the claims object.
func (c *claims) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if m == nil {
		return errClaimsNotObject
	}
	c.decoded = true
	var err error
	if raw, ok := m["iss"]; ok {
		c.hasIssuer = true
		if c.issuer, err = stringClaim(raw); err != nil {
			return err
		}
	}
	if raw, ok := m["aud"]; ok && len(raw) > 0 && raw[0] == '"' {
		c.audIsString = true
		if c.aud, err = stringClaim(raw); err != nil {
			return err
		}
	}
	if raw, ok := m["exp"]; ok {
		c.hasExp = true
		if c.exp, err = timeClaim(raw); err != nil {
			return err
		}
	}
	if raw, ok := m["nbf"]; ok {
		c.hasNbf = true
		if c.nbf, err = timeClaim(raw); err != nil {
			return err
		}
	}
	if raw, ok := m["serviceurl"]; ok {
		if c.serviceURL, err = stringClaim(raw); err != nil {
			return err
		}
	}
	return nil
}

func stringClaim(raw json.RawMessage) (string, error) {
	var s string
	if len(raw) == 0 || raw[0] != '"' {
		return "", errClaimType
	}
	err := json.Unmarshal(raw, &s)
	return s, err
}

// timeClaim decodes a NumericDate (RFC 7519 §2), seconds that may have a
// fraction, into Unix nanoseconds clamped to the int64 range.
func timeClaim(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, errClaimType
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, err
	}
	sec, frac := math.Modf(f)
	maxSec := float64(math.MaxInt64/int64(time.Second) - 1)
	switch {
	case sec > maxSec:
		return math.MaxInt64, nil
	case sec < -maxSec:
		return math.MinInt64, nil
	}
	return int64(sec)*int64(time.Second) + int64(frac*float64(time.Second)), nil
}

// addClamped returns a+b without wrapping around.
func addClamped(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}

// The jwt.Claims methods. Claims validation is done by keyFunc, so jwt
// never calls them; they exist to satisfy the interface.

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *claims) GetIssuer() (string, error)                   { return c.issuer, nil }
func (c *claims) GetSubject() (string, error)                  { return "", nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }
