package botauth

import (
	"fmt"
	"net/http"
)

// Reason says why a Validator accepted or rejected a request. Its String
// forms are stable: the gateway uses them as metric labels and log values.
//
// The zero Reason is Unknown, which is not OK, so a Result that was never
// filled in fails closed.
type Reason uint8

// The reasons, roughly in the order Validate checks them. See botauth.md §6
// for the checklist each one enforces.
const (
	Unknown Reason = iota
	// OK: every check of botauth.md §6 passed.
	OK
	// MissingHeader: no Authorization header (§3.3 vector 6).
	MissingHeader
	// MultipleHeaders: more than one Authorization header (§6.1).
	MultipleHeaders
	// BadScheme: not exactly "Bearer <token>" with one space; the scheme is
	// case-sensitive as in both SDKs' JwtTokenExtractor (§2.1, §2.2, §6.1).
	BadScheme
	// TokenTooLarge: the header is longer than MaxAuthorizationBytes (§6.12).
	TokenTooLarge
	// MalformedToken: not a compact JWS, bad base64url, bad JSON, a claim of
	// the wrong type, or a critical header we do not understand (§3.3 v8).
	MalformedToken
	// BadAlgorithm: alg is not one of the configured RSA algorithms that the
	// metadata also lists, e.g. none, HS256, ES256 (§6.2, vectors 9, 10).
	BadAlgorithm
	// MissingKeyID: the token header has no kid (§6.4).
	MissingKeyID
	// BadIssuer: iss is not exactly the cloud's channel issuer (§6.6, v14).
	BadIssuer
	// BadAudience: aud is not a string equal to a configured app id (§6.7, v15).
	BadAudience
	// MissingExpiry: the token has no exp (§6.8).
	MissingExpiry
	// Expired: exp is more than the clock skew in the past (§6.8, v16).
	Expired
	// NotYetValid: nbf is more than the clock skew in the future (§6.8, v16).
	NotYetValid
	// ServiceURLMissing: the token has no serviceurl claim (§6.10, v17).
	ServiceURLMissing
	// NoKeys: no key set was ever fetched; the validator rejects rather
	// than fail open (§6.4, v25).
	NoKeys
	// UnknownKey: the kid is not in the key set, even after a refetch, or
	// names a key that is not RSA (§6.4, v12, v24).
	UnknownKey
	// KeyExpired: the signing key's x5c certificate is outside its validity
	// period (§6.5, .NET ValidateIssuerSigningKey parity).
	KeyExpired
	// BadSignature: the signature does not verify with the key the kid
	// names (§6.5, v11, v13).
	BadSignature
	// ChannelMissing: the activity has no channelId (§6.9, v22).
	ChannelMissing
	// ChannelNotAllowed: the activity's channelId is not one of
	// Config.Channels, by default only msteams (§6.9).
	ChannelNotAllowed
	// NoEndorsement: the signing key has no endorsements property (§6.9, v21).
	NoEndorsement
	// ChannelNotEndorsed: the activity's channelId is not among the signing
	// key's endorsements (§1.2, §6.9, v20).
	ChannelNotEndorsed
	// ActivityServiceURLMissing: the activity has no serviceUrl (§6.10, v19).
	ActivityServiceURLMissing
	// ServiceURLMismatch: the serviceurl claim differs from the activity's
	// serviceUrl (§6.10, v18).
	ServiceURLMismatch
	// BadActivity: the request body is not an activity ParseActivity
	// accepts (§3.3 v23). Validate never returns it; the gateway uses it
	// when ParseActivity fails, so that every rejection has a Reason.
	BadActivity

	numReasons
)

var reasonNames = [numReasons]string{
	Unknown:                   "unknown",
	OK:                        "ok",
	MissingHeader:             "missing-header",
	MultipleHeaders:           "multiple-headers",
	BadScheme:                 "bad-scheme",
	TokenTooLarge:             "token-too-large",
	MalformedToken:            "malformed-token",
	BadAlgorithm:              "bad-algorithm",
	MissingKeyID:              "missing-kid",
	BadIssuer:                 "bad-issuer",
	BadAudience:               "bad-audience",
	MissingExpiry:             "missing-exp",
	Expired:                   "expired",
	NotYetValid:               "not-yet-valid",
	ServiceURLMissing:         "serviceurl-missing",
	NoKeys:                    "no-keys",
	UnknownKey:                "unknown-key",
	KeyExpired:                "key-expired",
	BadSignature:              "bad-signature",
	ChannelMissing:            "channel-missing",
	ChannelNotAllowed:         "channel-not-allowed",
	NoEndorsement:             "no-endorsement",
	ChannelNotEndorsed:        "channel-not-endorsed",
	ActivityServiceURLMissing: "activity-serviceurl-missing",
	ServiceURLMismatch:        "serviceurl-mismatch",
	BadActivity:               "bad-activity",
}

// String returns the reason's stable metric label, e.g. "bad-audience".
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// MarshalText renders the reason as its String form.
func (r Reason) MarshalText() ([]byte, error) {
	if r >= numReasons {
		return nil, fmt.Errorf("invalid reason %d", uint8(r))
	}
	return []byte(reasonNames[r]), nil
}

// UnmarshalText parses a reason's String form.
func (r *Reason) UnmarshalText(b []byte) error {
	p, err := ParseReason(string(b))
	if err != nil {
		return err
	}
	*r = p
	return nil
}

// ParseReason returns the Reason whose String is s.
func ParseReason(s string) (Reason, error) {
	for i, n := range reasonNames {
		if n == s {
			return Reason(i), nil
		}
	}
	return Unknown, fmt.Errorf("unknown reason %q", s)
}

// HTTPStatus is the status the gateway answers a request with for this
// reason: 200 for OK; 403 when the token is genuine but the key does not
// endorse the activity's channel, as the spec asks (botauth.md §1.2, §6.11);
// 503 when no key set was ever fetched, so the Bot Connector retries rather
// than treat the bot as misconfigured (§3.3 v25 allows 5xx or 401); 400 for
// a body that is not an activity; 401 for everything else. The body of a
// rejection carries no detail (§6.11).
func (r Reason) HTTPStatus() int {
	switch r {
	case OK:
		return http.StatusOK
	case NoEndorsement, ChannelNotEndorsed, ChannelNotAllowed:
		return http.StatusForbidden
	case NoKeys:
		return http.StatusServiceUnavailable
	case BadActivity:
		return http.StatusBadRequest
	}
	return http.StatusUnauthorized
}
