package botauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults and bounds of Config, each with the source it follows.
const (
	// DefaultClockSkew is the "industry-standard clock-skew" of the spec
	// (botauth.md §1.3 check 5), 300 s in botbuilder-js and 5 min in .NET.
	DefaultClockSkew = 5 * time.Minute
	// MaxClockSkew bounds ClockSkew: a larger skew would quietly extend the
	// one-hour lifetime of channel tokens (botauth.md §1.4) by too much.
	MaxClockSkew = 10 * time.Minute
	// DefaultRefreshInterval and MaxRefreshInterval: "all bot instances
	// should refresh their local cache of the document at least once every
	// 24 hours" (botauth.md §1.2).
	DefaultRefreshInterval = 24 * time.Hour
	MaxRefreshInterval     = 24 * time.Hour
	// DefaultMinRefetchInterval rate-limits the key set refetch that an
	// unknown kid triggers. botauth.md §6.4 asks for "≥5 min–1 h"; 5 min is
	// IdentityModel's DefaultRefreshInterval (botauth.md §2.2) and bounds
	// how long a newly rotated key can go unrecognised while an attacker
	// keeps sending unknown kids, at one metadata and one JWKS request per
	// 5 minutes at most.
	DefaultMinRefetchInterval = 5 * time.Minute
	// MinInterval is the smallest RefreshInterval or MinRefetchInterval
	// New accepts, so that a typo cannot turn the validator into a load
	// generator against login.botframework.com.
	MinInterval = time.Second
	// DefaultCacheSize is the number of verified tokens kept. A Teams token
	// lives one hour and is reused for every activity in that hour, so a
	// few entries per conversation partner suffice.
	DefaultCacheSize = 10000
	// DefaultFetchTimeout bounds one metadata + JWKS fetch.
	DefaultFetchTimeout = 10 * time.Second
	// MaxAuthorizationBytes bounds the Authorization header (botauth.md
	// §6.12 suggests 16 KiB); a real Teams token is about 1 KiB.
	MaxAuthorizationBytes = 16 << 10
	// maxDocumentBytes bounds the metadata and JWKS documents; the real
	// ones are a few KiB.
	maxDocumentBytes = 1 << 20
)

// Algorithms a Config may allow: the RSA PKCS#1 v1.5 family that both SDKs
// pin (AllowedSigningAlgorithms, botauth.md §2.1, §2.2). RS256 is what the
// metadata lists; the others are opt-in.
var permittedAlgorithms = []string{"RS256", "RS384", "RS512"}

// DefaultChannels are the activity channel ids accepted by default: this is
// a Teams ingress (botauth.md §6.9: "for a Teams-only ingress, equal
// msteams").
var DefaultChannels = []string{"msteams"}

// Config configures a Validator. The zero value is not usable: AppIDs is
// required; everything else has a documented default.
type Config struct {
	// AppIDs are the bot app ids (for a user-assigned managed identity, its
	// client id) accepted as aud, compared exactly (botauth.md §6.7).
	// Required: there is no "authentication disabled" mode (§6.11).
	AppIDs []string
	// Cloud selects the default Issuer and MetadataURL; empty is Worldwide.
	Cloud Cloud
	// Issuer and MetadataURL override the cloud's values when non-empty.
	// MetadataURL must be https, or http on a loopback IP literal with
	// AllowInsecureLoopback.
	Issuer, MetadataURL string
	// RootCAs verifies the metadata and JWKS servers; nil means the system
	// roots. Ignored when HTTPClient is set.
	RootCAs *x509.CertPool
	// AllowInsecureLoopback permits http:// metadata and JWKS URLs whose
	// host is a loopback IP literal (127.0.0.0/8, ::1); for tests and local
	// issuers only. Every other http URL is refused.
	AllowInsecureLoopback bool
	// Algorithms are the accepted token algorithms, a subset of RS256, RS384
	// and RS512; default ["RS256"]. A token's alg must also be listed in the
	// metadata's id_token_signing_alg_values_supported when that is present
	// (botauth.md §6.2).
	Algorithms []string
	// ClockSkew is the tolerance on exp, nbf and a key certificate's
	// validity; default DefaultClockSkew, at most MaxClockSkew.
	ClockSkew time.Duration
	// RefreshInterval is how often the key set is refetched; default and
	// maximum 24 h, at least MinInterval.
	RefreshInterval time.Duration
	// MinRefetchInterval is the least time between two refetches caused by
	// an unknown kid (or by having no keys); default
	// DefaultMinRefetchInterval, at least MinInterval.
	MinRefetchInterval time.Duration
	// FetchTimeout bounds one metadata + JWKS fetch; default
	// DefaultFetchTimeout.
	FetchTimeout time.Duration
	// CacheSize is the number of verified tokens cached; 0 means
	// DefaultCacheSize, a negative value disables the cache.
	CacheSize int
	// Channels are the activity channel ids accepted; default
	// DefaultChannels (msteams only). The signing key must endorse the
	// channel as well.
	Channels []string
	// HTTPClient fetches the metadata and JWKS; nil builds one from
	// RootCAs. Its redirects are held to the same URL rules as MetadataURL.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives key refresh events; nil discards them. Tokens are
	// never logged.
	Logger *slog.Logger
}

// settings is a Config after New has checked it and filled in defaults.
type settings struct {
	appIDs             []string
	issuer             string
	metadataURL        *url.URL
	insecureLoopback   bool
	algorithms         []string
	skew               time.Duration
	refreshInterval    time.Duration
	minRefetchInterval time.Duration
	// noKeysMaxBackoff bounds the retry interval while no key set was ever
	// fetched (every activity is refused then).
	noKeysMaxBackoff time.Duration
	fetchTimeout     time.Duration
	cacheSize        int
	channels         []string
	client           *http.Client
	now              func() time.Time
	log              *slog.Logger
}

// compile checks cfg and returns the settings it describes, reporting every
// problem at once.
func compile(cfg Config) (settings, error) {
	var errs []error
	s := settings{
		insecureLoopback:   cfg.AllowInsecureLoopback,
		skew:               orDefault(cfg.ClockSkew, DefaultClockSkew),
		refreshInterval:    orDefault(cfg.RefreshInterval, DefaultRefreshInterval),
		minRefetchInterval: orDefault(cfg.MinRefetchInterval, DefaultMinRefetchInterval),
		noKeysMaxBackoff:   noKeysMaxBackoff,
		fetchTimeout:       orDefault(cfg.FetchTimeout, DefaultFetchTimeout),
		cacheSize:          cfg.CacheSize,
		now:                cfg.Now,
		log:                cfg.Logger,
	}

	if len(cfg.AppIDs) == 0 {
		errs = append(errs, errors.New("no app ids: the bot's app id is required"))
	}
	for _, id := range cfg.AppIDs {
		switch {
		case id == "" || strings.TrimSpace(id) != id:
			errs = append(errs, fmt.Errorf("app id %q: empty or padded with spaces", id))
		case slices.Contains(s.appIDs, id):
			errs = append(errs, fmt.Errorf("app id %q: listed twice", id))
		default:
			s.appIDs = append(s.appIDs, id)
		}
	}

	issuer, metadataURL, err := CloudEndpoints(cfg.Cloud)
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.Issuer != "" {
		issuer = cfg.Issuer
	}
	if cfg.MetadataURL != "" {
		metadataURL = cfg.MetadataURL
	}
	s.issuer = issuer
	if metadataURL != "" {
		u, err := checkFetchURL(metadataURL, cfg.AllowInsecureLoopback)
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata url: %w", err))
		}
		s.metadataURL = u
	}

	s.algorithms = cfg.Algorithms
	if len(s.algorithms) == 0 {
		s.algorithms = []string{"RS256"}
	}
	for _, a := range s.algorithms {
		if !slices.Contains(permittedAlgorithms, a) {
			errs = append(errs, fmt.Errorf("algorithm %q: want one of %s", a, strings.Join(permittedAlgorithms, ", ")))
		}
	}

	if s.skew < 0 || s.skew > MaxClockSkew {
		errs = append(errs, fmt.Errorf("clock skew %v: want 0 < skew <= %v", s.skew, MaxClockSkew))
	}
	if s.refreshInterval < MinInterval || s.refreshInterval > MaxRefreshInterval {
		errs = append(errs, fmt.Errorf("refresh interval %v: want %v to %v", s.refreshInterval, MinInterval, MaxRefreshInterval))
	}
	if s.minRefetchInterval < MinInterval {
		errs = append(errs, fmt.Errorf("min refetch interval %v: want at least %v", s.minRefetchInterval, MinInterval))
	}
	if s.fetchTimeout < 0 {
		errs = append(errs, fmt.Errorf("fetch timeout %v: want a positive duration", s.fetchTimeout))
	}
	if s.cacheSize == 0 {
		s.cacheSize = DefaultCacheSize
	}

	s.channels = cfg.Channels
	if len(s.channels) == 0 {
		s.channels = DefaultChannels
	}
	for _, c := range s.channels {
		if c == "" {
			errs = append(errs, errors.New("channels: empty channel id"))
		}
	}

	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.client = fetchClient(cfg.HTTPClient, cfg.RootCAs, cfg.AllowInsecureLoopback)

	if err := errors.Join(errs...); err != nil {
		return settings{}, fmt.Errorf("botauth: %w", err)
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// checkFetchURL parses raw and checks that keys may be fetched from it: an
// absolute https URL, or an http URL on a loopback IP literal when
// insecureLoopback is set. Host names such as "localhost" do not count as
// loopback, since their resolution is outside our control. TLS with
// certificate validation is what makes the key set trustworthy (botauth.md
// §6.3).
func checkFetchURL(raw string, insecureLoopback bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", raw, err)
	}
	if u.Host == "" || u.User != nil || u.Opaque != "" {
		return nil, fmt.Errorf("%q: want an absolute URL with a host and no user info", raw)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if !insecureLoopback {
			return nil, fmt.Errorf("%q: plain http is refused (only a loopback address with AllowInsecureLoopback)", raw)
		}
		addr, err := netip.ParseAddr(u.Hostname())
		if err != nil || !addr.Unmap().IsLoopback() || addr.Zone() != "" {
			return nil, fmt.Errorf("%q: plain http is allowed only on a loopback IP address", raw)
		}
		return u, nil
	}
	return nil, fmt.Errorf("%q: scheme %q: want https", raw, u.Scheme)
}

// fetchClient returns the client for metadata and JWKS fetches: a copy of
// c, or one trusting roots, whose redirects obey checkFetchURL too, so that
// an https document cannot redirect to plain http.
func fetchClient(c *http.Client, roots *x509.CertPool, insecureLoopback bool) *http.Client {
	var client http.Client
	if c != nil {
		client = *c
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		client.Transport = t
	}
	next := client.CheckRedirect
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return fmt.Errorf("redirected %d times", len(via))
		}
		if _, err := checkFetchURL(req.URL.String(), insecureLoopback); err != nil {
			return fmt.Errorf("redirect: %w", err)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &client
}
