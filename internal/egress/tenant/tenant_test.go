package tenant

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testConfig is a valid configuration with ca as the CA.
func testConfig(ca *testCA) Config {
	return Config{
		Tenants:   []string{"botframework.com", "contoso.com"},
		Context:   testContext,
		Hosts:     []string{testHost},
		CACertPEM: ca.certPEM,
		CAKeyPEM:  ca.keyPEM,
	}
}

func pemBlock(typ string, b []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})
}

func TestNewErrors(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, c *Config)
		want string
	}{
		{name: "no tenants", edit: func(_ *testing.T, c *Config) { c.Tenants = nil }, want: "no tenants"},
		{name: "tenant with a comma", edit: func(_ *testing.T, c *Config) { c.Tenants = []string{"contoso.com,evil.example"} }, want: `tenant "contoso.com,evil.example"`},
		{name: "tenant twice", edit: func(_ *testing.T, c *Config) { c.Tenants = []string{"contoso.com", "Contoso.com"} }, want: `tenant "Contoso.com" is listed twice`},
		{name: "no context", edit: func(_ *testing.T, c *Config) { c.Context = "" }, want: "no context"},
		{name: "context a domain", edit: func(_ *testing.T, c *Config) { c.Context = "contoso.com" }, want: "not a directory ID"},
		{name: "no hosts", edit: func(_ *testing.T, c *Config) { c.Hosts = nil }, want: "no hosts"},
		{name: "host upper case", edit: func(_ *testing.T, c *Config) { c.Hosts = []string{"Login.microsoftonline.com"} }, want: "not in normal form"},
		{name: "host trailing dot", edit: func(_ *testing.T, c *Config) { c.Hosts = []string{testHost + "."} }, want: "not in normal form"},
		{name: "host wildcard", edit: func(_ *testing.T, c *Config) { c.Hosts = []string{"*.login.microsoftonline.com"} }, want: "wildcard"},
		{name: "host twice", edit: func(_ *testing.T, c *Config) { c.Hosts = []string{testHost, testHost} }, want: "listed twice"},
		{name: "no certificate", edit: func(_ *testing.T, c *Config) { c.CACertPEM = nil }, want: "no PEM CERTIFICATE block"},
		{name: "certificate garbage", edit: func(_ *testing.T, c *Config) { c.CACertPEM = pemBlock("CERTIFICATE", []byte("junk")) }, want: "ca certificate: x509"},
		{
			name: "not a CA",
			edit: func(t *testing.T, c *Config) {
				*c = testConfig(newCA(t, "leaf", nil, func(x *x509.Certificate) { x.IsCA = false; x.KeyUsage = x509.KeyUsageDigitalSignature }))
			},
			want: `ca certificate "CN=leaf" is not a CA certificate`,
		},
		{
			name: "CA may not sign certificates",
			edit: func(t *testing.T, c *Config) {
				*c = testConfig(newCA(t, "crl only", nil, func(x *x509.Certificate) { x.KeyUsage = x509.KeyUsageCRLSign }))
			},
			want: "may not sign certificates",
		},
		{
			name: "CA expired",
			edit: func(t *testing.T, c *Config) {
				*c = testConfig(newCA(t, "old", nil, func(x *x509.Certificate) { x.NotBefore, x.NotAfter = now.Add(-48*time.Hour), now.Add(-time.Hour) }))
			},
			want: `ca certificate "CN=old" expired`,
		},
		{
			name: "CA not yet valid",
			edit: func(t *testing.T, c *Config) {
				*c = testConfig(newCA(t, "new", nil, func(x *x509.Certificate) { x.NotBefore, x.NotAfter = now.Add(time.Hour), now.Add(48*time.Hour) }))
			},
			want: "not valid before",
		},
		{
			name: "CA constrained to other names",
			edit: func(t *testing.T, c *Config) {
				*c = testConfig(newCA(t, "constrained", nil, func(x *x509.Certificate) {
					x.PermittedDNSDomainsCritical = true
					x.PermittedDNSDomains = []string{"example.com"}
				}))
			},
			want: `cannot issue a certificate clients accept for "login.microsoftonline.com"`,
		},
		{name: "key of another CA", edit: func(t *testing.T, c *Config) { c.CAKeyPEM = newCA(t, "other", nil, nil).keyPEM }, want: "ca key does not match"},
		{name: "no key", edit: func(_ *testing.T, c *Config) { c.CAKeyPEM = c.CACertPEM }, want: "no PEM PRIVATE KEY"},
		{name: "encrypted key", edit: func(_ *testing.T, c *Config) { c.CAKeyPEM = pemBlock("ENCRYPTED PRIVATE KEY", []byte("junk")) }, want: "ca key is encrypted"},
		{name: "key garbage", edit: func(_ *testing.T, c *Config) { c.CAKeyPEM = pemBlock("PRIVATE KEY", []byte("junk")) }, want: "ca key: "},
		{
			name: "X25519 key",
			edit: func(t *testing.T, c *Config) {
				k, err := ecdh.X25519().GenerateKey(rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				der, err := x509.MarshalPKCS8PrivateKey(k)
				if err != nil {
					t.Fatal(err)
				}
				c.CAKeyPEM = pemBlock("PRIVATE KEY", der)
			},
			want: "key type *ecdh.PrivateKey unsupported",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(newCA(t, "ca", nil, nil))
			tc.edit(t, &c)
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestNewKeyFormats(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecKey := newKey(t)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ca   *testCA
		key  []byte // nil: the CA's PKCS #8
	}{
		{name: "ECDSA PKCS #8", ca: newCA(t, "ec", ecKey, nil)},
		{name: "ECDSA SEC 1 after EC PARAMETERS", ca: newCA(t, "ec", ecKey, nil), key: append(pemBlock("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), pemBlock("EC PRIVATE KEY", sec1)...)},
		{name: "RSA PKCS #8", ca: newCA(t, "rsa", rsaKey, nil)},
		{name: "RSA PKCS #1", ca: newCA(t, "rsa", rsaKey, nil), key: pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))},
		{name: "Ed25519 PKCS #8", ca: newCA(t, "ed", edKey, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(tc.ca)
			if tc.key != nil {
				c.CAKeyPEM = tc.key
			}
			i, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := i.issuer.certificate(testHost)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: tc.ca.pool, DNSName: testHost}); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestIntercepts(t *testing.T) {
	c := testConfig(newCA(t, "ca", nil, nil))
	c.Hosts = []string{"login.microsoftonline.com", "login.microsoft.com", "login.windows.net"}
	i, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host string
		want bool
	}{
		{host: "login.microsoftonline.com", want: true},
		{host: "login.microsoft.com", want: true},
		{host: "login.windows.net", want: true},
		{host: "login.microsoftonline.com.evil.example"},
		{host: "evil.login.microsoftonline.com"},
		{host: "device.login.microsoftonline.com"},
		{host: "LOGIN.microsoftonline.com"},
		{host: "login.microsoftonline.com."},
		{host: "login.live.com"},
		{host: "login.botframework.com"},
		{host: ""},
	} {
		if got := i.Intercepts(tc.host); got != tc.want {
			t.Errorf("Intercepts(%q) = %t, want %t", tc.host, got, tc.want)
		}
	}
}

func TestSetHeaders(t *testing.T) {
	r := restriction{tenants: testTenants, context: testContext}
	want := func(other http.Header) http.Header {
		h := other.Clone()
		if h == nil {
			h = http.Header{}
		}
		h["Restrict-Access-To-Tenants"] = []string{testTenants}
		h["Restrict-Access-Context"] = []string{testContext}
		return h
	}
	for _, tc := range []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{name: "none sent", in: http.Header{}, want: want(nil)},
		{
			name: "client values replaced",
			in:   http.Header{"Restrict-Access-To-Tenants": {"evil.example"}, "Restrict-Access-Context": {"00000000-0000-0000-0000-000000000000"}},
			want: want(nil),
		},
		{
			name: "every copy, any case",
			in: http.Header{
				"Restrict-Access-To-Tenants": {"evil.example", "evil2.example"},
				"restrict-access-to-tenants": {"evil3.example"},
				"RESTRICT-ACCESS-CONTEXT":    {"00000000-0000-0000-0000-000000000000"},
				"restrict-Access-context":    {""},
			},
			want: want(nil),
		},
		{
			name: "other headers kept",
			in:   http.Header{"Authorization": {"Bearer x"}, "Restrict-Access-To": {"kept"}, "Cookie": {"a=b", "c=d"}},
			want: want(http.Header{"Authorization": {"Bearer x"}, "Restrict-Access-To": {"kept"}, "Cookie": {"a=b", "c=d"}}),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.in.Clone()
			r.setHeaders(h)
			if diff := cmp.Diff(tc.want, h); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewRestrictionNormalises(t *testing.T) {
	r, err := newRestriction([]string{"Contoso.COM", "botframework.com.", "72F988BF-86F1-41AF-91AB-2D7CD011DB47"}, "72F988BF-86F1-41AF-91AB-2D7CD011DB47")
	if err != nil {
		t.Fatal(err)
	}
	want := restriction{tenants: "contoso.com,botframework.com," + testContext, context: testContext}
	if r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
}

func TestDropUpgrade(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{name: "no upgrade", in: http.Header{"Connection": {"keep-alive"}}, want: http.Header{"Connection": {"keep-alive"}}},
		{name: "upgrade only", in: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, want: http.Header{}},
		{name: "upgrade among options", in: http.Header{"Connection": {"keep-alive, upgrade", "x-foo"}, "Upgrade": {"h2c"}}, want: http.Header{"Connection": {"keep-alive, x-foo"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.in.Clone()
			dropUpgrade(h)
			if diff := cmp.Diff(tc.want, h); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
