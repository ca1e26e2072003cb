package certcheck_test

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/certcheck"
	"github.com/teamsgate/teamsgate/internal/certcheck/certtest"
)

const day = 24 * time.Hour

// outcome is what a test pins of a result: the message is for people and
// may be reworded.
type outcome struct {
	Status  certcheck.Status
	Reason  certcheck.Reason
	Subject string
}

func outcomes(rep *certcheck.Report, rule certcheck.Rule) []outcome {
	var out []outcome
	for _, r := range rep.Results {
		if r.Rule == rule {
			out = append(out, outcome{Status: r.Status, Reason: r.Reason, Subject: r.Subject})
		}
	}
	return out
}

func pass(subject string) outcome {
	return outcome{Status: certcheck.Pass, Reason: certcheck.ReasonOK, Subject: subject}
}

func fail(r certcheck.Reason, subject string) outcome {
	return outcome{Status: certcheck.Fail, Reason: r, Subject: subject}
}

func warn(r certcheck.Reason, subject string) outcome {
	return outcome{Status: certcheck.Warn, Reason: r, Subject: subject}
}

// bundle puts a leaf issued by pki's intermediate into a bundle of format f
// with the intermediate and the leaf's key.
func bundle(f certcheck.Format, leaf *certtest.Cert, inters ...*certtest.Cert) *certcheck.Bundle {
	b := &certcheck.Bundle{Format: f, Leaf: leaf.Cert, Key: leaf.Key}
	for _, i := range inters {
		b.Intermediates = append(b.Intermediates, i.Cert)
	}
	return b
}

func check(t *testing.T, b *certcheck.Bundle, opts certcheck.Options) *certcheck.Report {
	t.Helper()
	if opts.Now == nil {
		opts.Now = certtest.Now
	}
	rep, err := certcheck.Check(b, opts)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return rep
}

type ruleCase struct {
	name   string
	bundle func(t *testing.T) *certcheck.Bundle
	opts   certcheck.Options
	want   []outcome
}

func runRule(t *testing.T, rule certcheck.Rule, pki *certtest.PKI, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.Roots == nil {
				tc.opts.Roots = pki.Roots
			}
			if tc.opts.Role == "" {
				tc.opts.Role = certcheck.RoleTeamsConnector
			}
			rep := check(t, tc.bundle(t), tc.opts)
			if diff := cmp.Diff(tc.want, outcomes(rep, rule)); diff != "" {
				t.Errorf("%s results (-want +got):\n%s\nall results: %+v", rule, diff, rep.Results)
			}
		})
	}
}

func TestCheckFormat(t *testing.T) {
	pki := certtest.NewPKI(t)
	leaf := pki.Leaf(t, certtest.Template{CN: "tc.contoso.com", DNSNames: []string{"tc.contoso.com"}})
	tc, cn, bot := certcheck.RoleTeamsConnector, certcheck.RoleConferencingNode, certcheck.RoleBotEndpoint
	noKey := func(b *certcheck.Bundle) *certcheck.Bundle { b.Key = nil; return b }
	runRule(t, certcheck.RuleFormat, pki, []ruleCase{
		{
			name:   "teams-connector pfx with key and intermediate",
			bundle: func(*testing.T) *certcheck.Bundle { return bundle(certcheck.FormatPKCS12, leaf, pki.Intermediate) },
			opts:   certcheck.Options{Role: tc},
			want:   []outcome{pass("tc.contoso.com")},
		},
		{
			name:   "teams-connector pem",
			bundle: func(*testing.T) *certcheck.Bundle { return bundle(certcheck.FormatPEM, leaf, pki.Intermediate) },
			opts:   certcheck.Options{Role: tc},
			want:   []outcome{fail(certcheck.ReasonNotPKCS12, "tc.contoso.com")},
		},
		{
			name:   "teams-connector pfx without intermediate",
			bundle: func(*testing.T) *certcheck.Bundle { return bundle(certcheck.FormatPKCS12, leaf) },
			opts:   certcheck.Options{Role: tc},
			want:   []outcome{fail(certcheck.ReasonMissingIntermediate, "tc.contoso.com")},
		},
		{
			name: "teams-connector leaf signed by root needs no intermediate",
			bundle: func(t *testing.T) *certcheck.Bundle {
				return bundle(certcheck.FormatPKCS12, certtest.Issue(t, certtest.Template{CN: "direct.contoso.com"}, pki.Root))
			},
			opts: certcheck.Options{Role: tc},
			want: []outcome{pass("direct.contoso.com")},
		},
		{
			name:   "conferencing-node pem with key",
			bundle: func(*testing.T) *certcheck.Bundle { return bundle(certcheck.FormatPEM, leaf, pki.Intermediate) },
			opts:   certcheck.Options{Role: cn},
			want:   []outcome{pass("tc.contoso.com")},
		},
		{
			name:   "conferencing-node pem without key",
			bundle: func(*testing.T) *certcheck.Bundle { return noKey(bundle(certcheck.FormatPEM, leaf, pki.Intermediate)) },
			opts:   certcheck.Options{Role: cn},
			want:   []outcome{fail(certcheck.ReasonMissingKey, "tc.contoso.com")},
		},
		{
			name:   "conferencing-node pem without intermediate warns",
			bundle: func(*testing.T) *certcheck.Bundle { return bundle(certcheck.FormatPEM, leaf) },
			opts:   certcheck.Options{Role: cn},
			want:   []outcome{warn(certcheck.ReasonMissingIntermediate, "tc.contoso.com")},
		},
		{
			name:   "bot-endpoint pem without key",
			bundle: func(*testing.T) *certcheck.Bundle { return noKey(bundle(certcheck.FormatPEM, leaf, pki.Intermediate)) },
			opts:   certcheck.Options{Role: bot},
			want:   []outcome{pass("tc.contoso.com")},
		},
		{
			name:   "server chain without intermediate",
			bundle: func(*testing.T) *certcheck.Bundle { return noKey(bundle(certcheck.FormatTLS, leaf)) },
			opts:   certcheck.Options{Role: bot},
			want:   []outcome{fail(certcheck.ReasonMissingIntermediate, "tc.contoso.com")},
		},
		{
			name: "untrusted root in the file is not a missing intermediate",
			bundle: func(*testing.T) *certcheck.Bundle {
				return bundle(certcheck.FormatPKCS12, leaf, pki.Intermediate, pki.Root)
			},
			opts: certcheck.Options{Role: tc, Roots: x509.NewCertPool()},
			want: []outcome{pass("tc.contoso.com")},
		},
	})
}

func TestCheckKey(t *testing.T) {
	pki := certtest.NewPKI(t)
	tc, cn, bot := certcheck.RoleTeamsConnector, certcheck.RoleConferencingNode, certcheck.RoleBotEndpoint
	leaf := func(kt certtest.KeyType) func(t *testing.T) *certcheck.Bundle {
		return func(t *testing.T) *certcheck.Bundle {
			return bundle(certcheck.FormatPKCS12, pki.Leaf(t, certtest.Template{CN: "k.contoso.com", Key: kt}), pki.Intermediate)
		}
	}
	keyNotChecked := outcome{Status: certcheck.Pass, Reason: certcheck.ReasonKeyNotChecked, Subject: "k.contoso.com"}
	runRule(t, certcheck.RuleKey, pki, []ruleCase{
		{
			name:   "rsa 2048 with matching key",
			bundle: leaf(certtest.RSA2048),
			opts:   certcheck.Options{Role: tc},
			want:   []outcome{pass("k.contoso.com"), pass("k.contoso.com")},
		},
		{
			name:   "rsa 1024 is too small",
			bundle: leaf(certtest.RSA1024),
			opts:   certcheck.Options{Role: tc},
			want:   []outcome{fail(certcheck.ReasonKeyTooSmall, "k.contoso.com"), pass("k.contoso.com")},
		},
		{
			name:   "ecdsa for the teams connector",
			bundle: leaf(certtest.ECDSA256),
			opts:   certcheck.Options{Role: tc},
			want:   []outcome{fail(certcheck.ReasonKeyNotRSA, "k.contoso.com"), pass("k.contoso.com")},
		},
		{
			name:   "ecdsa for a conferencing node",
			bundle: leaf(certtest.ECDSA256),
			opts:   certcheck.Options{Role: cn},
			want:   []outcome{pass("k.contoso.com"), pass("k.contoso.com")},
		},
		{
			name: "key does not match the certificate",
			bundle: func(t *testing.T) *certcheck.Bundle {
				b := leaf(certtest.RSA2048)(t)
				b.Key = certtest.Key(t, certtest.RSA2048b)
				return b
			},
			opts: certcheck.Options{Role: tc},
			want: []outcome{pass("k.contoso.com"), fail(certcheck.ReasonKeyMismatch, "k.contoso.com")},
		},
		{
			name: "bot endpoint without key",
			bundle: func(t *testing.T) *certcheck.Bundle {
				b := leaf(certtest.RSA2048)(t)
				b.Key = nil
				return b
			},
			opts: certcheck.Options{Role: bot},
			want: []outcome{pass("k.contoso.com"), keyNotChecked},
		},
	})
}

func TestCheckEKU(t *testing.T) {
	pki := certtest.NewPKI(t)
	tc, cn, bot := certcheck.RoleTeamsConnector, certcheck.RoleConferencingNode, certcheck.RoleBotEndpoint
	server, client := x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth
	leaf := func(tmpl certtest.Template) func(t *testing.T) *certcheck.Bundle {
		tmpl.CN = "e.contoso.com"
		return func(t *testing.T) *certcheck.Bundle {
			return bundle(certcheck.FormatPKCS12, pki.Leaf(t, tmpl), pki.Intermediate)
		}
	}
	const s = "e.contoso.com"
	runRule(t, certcheck.RuleEKU, pki, []ruleCase{
		{name: "teams connector with both", bundle: leaf(certtest.Template{}), opts: certcheck.Options{Role: tc}, want: []outcome{pass(s)}},
		{name: "teams connector server only", bundle: leaf(certtest.Template{EKU: []x509.ExtKeyUsage{server}}), opts: certcheck.Options{Role: tc}, want: []outcome{fail(certcheck.ReasonNoClientAuth, s)}},
		{name: "conferencing node client only", bundle: leaf(certtest.Template{EKU: []x509.ExtKeyUsage{client}}), opts: certcheck.Options{Role: cn}, want: []outcome{fail(certcheck.ReasonNoServerAuth, s)}},
		{name: "conferencing node without eku extension", bundle: leaf(certtest.Template{NoEKU: true}), opts: certcheck.Options{Role: cn}, want: []outcome{fail(certcheck.ReasonNoEKU, s)}},
		{name: "teams connector with any usage", bundle: leaf(certtest.Template{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}), opts: certcheck.Options{Role: tc}, want: []outcome{pass(s)}},
		{name: "bot endpoint server only", bundle: leaf(certtest.Template{EKU: []x509.ExtKeyUsage{server}}), opts: certcheck.Options{Role: bot}, want: []outcome{pass(s)}},
		{name: "bot endpoint client only", bundle: leaf(certtest.Template{EKU: []x509.ExtKeyUsage{client}}), opts: certcheck.Options{Role: bot}, want: []outcome{fail(certcheck.ReasonNoServerAuth, s)}},
		{
			name:   "bot endpoint without eku extension",
			bundle: leaf(certtest.Template{NoEKU: true}),
			opts:   certcheck.Options{Role: bot},
			want:   []outcome{{Status: certcheck.Pass, Reason: certcheck.ReasonEKUUnrestricted, Subject: s}},
		},
		{
			name: "intermediate restricted to serverAuth",
			bundle: func(t *testing.T) *certcheck.Bundle {
				inter := certtest.Issue(t, certtest.Template{CN: "Server Only CA", CA: true, Key: certtest.CAKey2, EKU: []x509.ExtKeyUsage{server}}, pki.Root)
				l := certtest.Issue(t, certtest.Template{CN: s}, inter)
				return bundle(certcheck.FormatPKCS12, l, inter)
			},
			opts: certcheck.Options{Role: tc},
			want: []outcome{fail(certcheck.ReasonChainEKU, s)},
		},
	})
}

func TestCheckNames(t *testing.T) {
	pki := certtest.NewPKI(t)
	tc, cn, bot := certcheck.RoleTeamsConnector, certcheck.RoleConferencingNode, certcheck.RoleBotEndpoint
	leaf := func(cn string, sans ...string) func(t *testing.T) *certcheck.Bundle {
		return func(t *testing.T) *certcheck.Bundle {
			return bundle(certcheck.FormatPKCS12, pki.Leaf(t, certtest.Template{CN: cn, DNSNames: sans}), pki.Intermediate)
		}
	}
	regional := leaf("tc-eu.contoso.com", "tc-eu.contoso.com", "tc-us.contoso.com")
	wildcard := leaf("*.contoso.com", "*.contoso.com")
	pool := leaf("meet.contoso.com", "meet.contoso.com", "node1.contoso.com", "node2.contoso.com")
	notCovered := func(n string) outcome { return fail(certcheck.ReasonNameNotCovered, n) }
	runRule(t, certcheck.RuleNames, pki, []ruleCase{
		{
			name:   "every regional name covered",
			bundle: regional,
			opts:   certcheck.Options{Role: tc, Names: []string{"tc-eu.contoso.com", "tc-us.contoso.com"}},
			want:   []outcome{pass("tc-eu.contoso.com"), pass("tc-us.contoso.com")},
		},
		{
			name:   "one regional name missing",
			bundle: regional,
			opts:   certcheck.Options{Role: tc, Names: []string{"tc-eu.contoso.com", "tc-asia.contoso.com"}},
			want:   []outcome{pass("tc-eu.contoso.com"), notCovered("tc-asia.contoso.com")},
		},
		{
			name:   "names match case-insensitively and with a trailing dot",
			bundle: regional,
			opts:   certcheck.Options{Role: tc, Names: []string{"TC-EU.Contoso.COM", "tc-us.contoso.com."}},
			want:   []outcome{pass("TC-EU.Contoso.COM"), pass("tc-us.contoso.com.")},
		},
		{
			name:   "wildcard covers one label",
			bundle: wildcard,
			opts:   certcheck.Options{Role: tc, Names: []string{"a.contoso.com"}},
			want:   []outcome{pass("a.contoso.com")},
		},
		{
			name:   "wildcard does not cover two labels",
			bundle: wildcard,
			opts:   certcheck.Options{Role: tc, Names: []string{"a.b.contoso.com"}},
			want:   []outcome{notCovered("a.b.contoso.com")},
		},
		{
			name:   "wildcard does not cover the bare domain",
			bundle: wildcard,
			opts:   certcheck.Options{Role: tc, Names: []string{"contoso.com"}},
			want:   []outcome{notCovered("contoso.com")},
		},
		{
			name:   "partial-label wildcard matches nothing",
			bundle: leaf("tc*.contoso.com", "tc*.contoso.com"),
			opts:   certcheck.Options{Role: tc, Names: []string{"tc1.contoso.com"}},
			want:   []outcome{notCovered("tc1.contoso.com")},
		},
		{
			name:   "common name alone does not cover",
			bundle: leaf("bot.contoso.com"),
			opts:   certcheck.Options{Role: bot, Names: []string{"bot.contoso.com"}},
			want:   []outcome{notCovered("bot.contoso.com")},
		},
		{
			name:   "pool name as subject and node names as SAN",
			bundle: pool,
			opts:   certcheck.Options{Role: cn, Pool: "meet.contoso.com", Names: []string{"node1.contoso.com", "node2.contoso.com"}},
			want:   []outcome{pass("meet.contoso.com"), pass("meet.contoso.com"), pass("node1.contoso.com"), pass("node2.contoso.com")},
		},
		{
			name:   "pool name not the subject",
			bundle: leaf("node1.contoso.com", "meet.contoso.com", "node1.contoso.com"),
			opts:   certcheck.Options{Role: cn, Pool: "meet.contoso.com", Names: []string{"node1.contoso.com"}},
			want:   []outcome{fail(certcheck.ReasonPoolNotSubject, "meet.contoso.com"), pass("meet.contoso.com"), pass("node1.contoso.com")},
		},
		{
			name:   "pool name subject but not a SAN, a node missing",
			bundle: leaf("meet.contoso.com", "node1.contoso.com"),
			opts:   certcheck.Options{Role: cn, Pool: "meet.contoso.com", Names: []string{"node1.contoso.com", "node3.contoso.com"}},
			want:   []outcome{pass("meet.contoso.com"), notCovered("meet.contoso.com"), pass("node1.contoso.com"), notCovered("node3.contoso.com")},
		},
		{
			name: "ip address name",
			bundle: func(t *testing.T) *certcheck.Bundle {
				return bundle(certcheck.FormatTLS, pki.Leaf(t, certtest.Template{CN: "ip", IPs: []string{"127.0.0.1"}}), pki.Intermediate)
			},
			opts: certcheck.Options{Role: bot, Names: []string{"127.0.0.1", "127.0.0.2"}},
			want: []outcome{pass("127.0.0.1"), notCovered("127.0.0.2")},
		},
		{
			name:   "no names given",
			bundle: regional,
			opts:   certcheck.Options{Role: tc},
			want:   []outcome{warn(certcheck.ReasonNoNames, "tc-eu.contoso.com")},
		},
	})
}

func TestCheckChainTrust(t *testing.T) {
	pki := certtest.NewPKI(t)
	other := certtest.NewOtherPKI(t)
	leaf := pki.Leaf(t, certtest.Template{CN: "c.contoso.com"})
	otherLeaf := other.Leaf(t, certtest.Template{CN: "o.contoso.com"})
	runRule(t, certcheck.RuleChainTrust, pki, []ruleCase{
		{
			name:   "builds to the trusted root",
			bundle: func(*testing.T) *certcheck.Bundle { return bundle(certcheck.FormatPKCS12, leaf, pki.Intermediate) },
			want:   []outcome{pass("c.contoso.com")},
		},
		{
			name: "another CA's chain",
			bundle: func(*testing.T) *certcheck.Bundle {
				return bundle(certcheck.FormatPKCS12, otherLeaf, other.Intermediate)
			},
			want: []outcome{fail(certcheck.ReasonUntrusted, "o.contoso.com")},
		},
		{
			name: "another CA's chain with its root in the file",
			bundle: func(*testing.T) *certcheck.Bundle {
				return bundle(certcheck.FormatPKCS12, otherLeaf, other.Intermediate, other.Root)
			},
			want: []outcome{fail(certcheck.ReasonUntrusted, "o.contoso.com")},
		},
		{
			name: "trusted with --roots of the other CA",
			bundle: func(*testing.T) *certcheck.Bundle {
				return bundle(certcheck.FormatPKCS12, otherLeaf, other.Intermediate)
			},
			opts: certcheck.Options{Roots: other.Roots},
			want: []outcome{pass("o.contoso.com")},
		},
		{
			name: "self-signed leaf",
			bundle: func(t *testing.T) *certcheck.Bundle {
				return bundle(certcheck.FormatPKCS12, certtest.Issue(t, certtest.Template{CN: "self.contoso.com"}, nil))
			},
			want: []outcome{fail(certcheck.ReasonUntrusted, "self.contoso.com")},
		},
		{
			name: "expired leaf",
			bundle: func(t *testing.T) *certcheck.Bundle {
				l := pki.Leaf(t, certtest.Template{CN: "c.contoso.com", NotAfter: certtest.Epoch.Add(-day)})
				return bundle(certcheck.FormatPKCS12, l, pki.Intermediate)
			},
			want: []outcome{fail(certcheck.ReasonExpired, "c.contoso.com")},
		},
		{
			name: "sha1 signed leaf",
			bundle: func(t *testing.T) *certcheck.Bundle {
				l := pki.Leaf(t, certtest.Template{CN: "c.contoso.com", SigAlg: x509.SHA1WithRSA})
				return bundle(certcheck.FormatPKCS12, l, pki.Intermediate)
			},
			want: []outcome{fail(certcheck.ReasonSHA1, "c.contoso.com")},
		},
	})
}

func TestCheckChainSignature(t *testing.T) {
	pki := certtest.NewPKI(t)
	runRule(t, certcheck.RuleChainSignature, pki, []ruleCase{
		{
			name: "sha256 throughout",
			bundle: func(t *testing.T) *certcheck.Bundle {
				return bundle(certcheck.FormatPKCS12, pki.Leaf(t, certtest.Template{CN: "s.contoso.com"}), pki.Intermediate)
			},
			want: []outcome{pass("s.contoso.com")},
		},
		{
			name: "sha1 leaf",
			bundle: func(t *testing.T) *certcheck.Bundle {
				return bundle(certcheck.FormatPKCS12, pki.Leaf(t, certtest.Template{CN: "s.contoso.com", SigAlg: x509.SHA1WithRSA}), pki.Intermediate)
			},
			want: []outcome{fail(certcheck.ReasonSHA1, "s.contoso.com")},
		},
		{
			name: "sha1 ecdsa leaf",
			bundle: func(t *testing.T) *certcheck.Bundle {
				ecCA := certtest.Issue(t, certtest.Template{CN: "EC Issuing CA", CA: true, Key: certtest.ECDSA256}, pki.Root)
				l := certtest.Issue(t, certtest.Template{CN: "s.contoso.com", SigAlg: x509.ECDSAWithSHA1}, ecCA)
				return bundle(certcheck.FormatPKCS12, l, ecCA)
			},
			want: []outcome{fail(certcheck.ReasonSHA1, "s.contoso.com")},
		},
		{
			name: "sha1 intermediate",
			bundle: func(t *testing.T) *certcheck.Bundle {
				inter := certtest.Issue(t, certtest.Template{CN: "SHA1 Issuing CA", CA: true, Key: certtest.CAKey2, SigAlg: x509.SHA1WithRSA}, pki.Root)
				return bundle(certcheck.FormatPKCS12, certtest.Issue(t, certtest.Template{CN: "s.contoso.com"}, inter), inter)
			},
			want: []outcome{fail(certcheck.ReasonSHA1, "SHA1 Issuing CA")},
		},
		{
			name: "sha1 self-signature of the root does not count",
			bundle: func(t *testing.T) *certcheck.Bundle {
				root := certtest.Issue(t, certtest.Template{CN: "SHA1 Root CA", CA: true, Key: certtest.CAKey3, SigAlg: x509.SHA1WithRSA}, nil)
				return bundle(certcheck.FormatPKCS12, certtest.Issue(t, certtest.Template{CN: "s.contoso.com"}, root), root)
			},
			want: []outcome{pass("s.contoso.com")},
		},
	})
}

func TestCheckChainValidity(t *testing.T) {
	pki := certtest.NewPKI(t)
	leaf := func(nb, na time.Duration) func(t *testing.T) *certcheck.Bundle {
		return func(t *testing.T) *certcheck.Bundle {
			l := pki.Leaf(t, certtest.Template{CN: "v.contoso.com", NotBefore: certtest.Epoch.Add(nb), NotAfter: certtest.Epoch.Add(na)})
			return bundle(certcheck.FormatPKCS12, l, pki.Intermediate)
		}
	}
	const s = "v.contoso.com"
	cas := []outcome{pass("Test Issuing CA"), pass("Test Root CA")}
	with := func(o outcome) []outcome { return append([]outcome{o}, cas...) }
	runRule(t, certcheck.RuleChainValidity, pki, []ruleCase{
		{name: "valid for a year", bundle: leaf(-day, 365*day), opts: certcheck.Options{WarnWithin: 30 * day}, want: with(pass(s))},
		{name: "expired", bundle: leaf(-90*day, -day), opts: certcheck.Options{WarnWithin: 30 * day}, want: []outcome{fail(certcheck.ReasonExpired, s), pass("Test Issuing CA")}},
		{name: "not yet valid", bundle: leaf(day, 365*day), opts: certcheck.Options{WarnWithin: 30 * day}, want: []outcome{fail(certcheck.ReasonNotYetValid, s), pass("Test Issuing CA")}},
		{name: "expires in ten days", bundle: leaf(-day, 10*day), opts: certcheck.Options{WarnWithin: 30 * day}, want: with(warn(certcheck.ReasonExpiresSoon, s))},
		{name: "expires in ten days, warning window five days", bundle: leaf(-day, 10*day), opts: certcheck.Options{WarnWithin: 5 * day}, want: with(pass(s))},
		{name: "expires in ten days, no warning window", bundle: leaf(-day, 10*day), want: with(pass(s))},
		{
			name: "intermediate expires soon",
			bundle: func(t *testing.T) *certcheck.Bundle {
				inter := certtest.Issue(t, certtest.Template{CN: "Short CA", CA: true, Key: certtest.CAKey2, NotAfter: certtest.Epoch.Add(20 * day)}, pki.Root)
				l := certtest.Issue(t, certtest.Template{CN: s, NotAfter: certtest.Epoch.Add(15 * day)}, inter)
				return bundle(certcheck.FormatPKCS12, l, inter)
			},
			opts: certcheck.Options{WarnWithin: 30 * day},
			want: []outcome{warn(certcheck.ReasonExpiresSoon, s), warn(certcheck.ReasonExpiresSoon, "Short CA"), pass("Test Root CA")},
		},
	})
}

func TestCheckChainAIA(t *testing.T) {
	pki := certtest.NewPKI(t)
	leaf := func(aia ...string) func(t *testing.T) *certcheck.Bundle {
		return func(t *testing.T) *certcheck.Bundle {
			if aia == nil {
				aia = []string{}
			}
			return bundle(certcheck.FormatPKCS12, pki.Leaf(t, certtest.Template{CN: "a.contoso.com", AIA: aia}), pki.Intermediate)
		}
	}
	interHTTP := pass("Test Issuing CA")
	runRule(t, certcheck.RuleChainAIA, pki, []ruleCase{
		{name: "http", bundle: leaf("http://pki.contoso.test/issuing.crt"), want: []outcome{pass("a.contoso.com"), interHTTP}},
		{name: "https", bundle: leaf("https://pki.contoso.test/issuing.crt"), want: []outcome{warn(certcheck.ReasonAIAHTTPS, "a.contoso.com"), interHTTP}},
		{name: "ldap", bundle: leaf("ldap://pki.contoso.test/cn=issuing"), want: []outcome{warn(certcheck.ReasonAIAScheme, "a.contoso.com"), interHTTP}},
		{
			name: "https on the intermediate",
			bundle: func(t *testing.T) *certcheck.Bundle {
				inter := certtest.Issue(t, certtest.Template{CN: "Redirected CA", CA: true, Key: certtest.CAKey2, AIA: []string{"https://pki.contoso.test/root.crt"}}, pki.Root)
				return bundle(certcheck.FormatPKCS12, certtest.Issue(t, certtest.Template{CN: "a.contoso.com"}, inter), inter)
			},
			want: []outcome{warn(certcheck.ReasonAIAHTTPS, "Redirected CA")},
		},
		{
			name: "none",
			bundle: func(t *testing.T) *certcheck.Bundle {
				return bundle(certcheck.FormatPKCS12, certtest.Issue(t, certtest.Template{CN: "a.contoso.com"}, pki.Root))
			},
			want: []outcome{{Status: certcheck.Pass, Reason: certcheck.ReasonNoAIA, Subject: "a.contoso.com"}},
		},
	})
}

// TestCheckAllPass is the whole report of a good Teams Connector
// certificate: every rule present, every result a pass.
func TestCheckAllPass(t *testing.T) {
	pki := certtest.NewPKI(t)
	leaf := pki.Leaf(t, certtest.Template{CN: "tc-eu.contoso.com", DNSNames: []string{"tc-eu.contoso.com", "tc-us.contoso.com"}})
	rep := check(t, bundle(certcheck.FormatPKCS12, leaf, pki.Intermediate), certcheck.Options{
		Role:       certcheck.RoleTeamsConnector,
		Names:      []string{"tc-eu.contoso.com", "tc-us.contoso.com"},
		Roots:      pki.Roots,
		WarnWithin: certcheck.DefaultWarnWithin,
	})
	var rules []certcheck.Rule
	for _, r := range rep.Results {
		if r.Status != certcheck.Pass {
			t.Errorf("%s %s: %s %s: %s", r.Rule, r.Subject, r.Status, r.Reason, r.Message)
		}
		if len(rules) == 0 || rules[len(rules)-1] != r.Rule {
			rules = append(rules, r.Rule)
		}
	}
	want := []certcheck.Rule{
		certcheck.RuleFormat, certcheck.RuleKey, certcheck.RuleEKU, certcheck.RuleNames,
		certcheck.RuleChainTrust, certcheck.RuleChainSignature, certcheck.RuleChainValidity, certcheck.RuleChainAIA,
	}
	if diff := cmp.Diff(want, rules); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if rep.Failed(true) {
		t.Errorf("Failed(strict) = true for an all-pass report")
	}
	if got := len(rep.Certificates); got != 3 {
		t.Errorf("certificates described = %d, want 3 (leaf, intermediate, root)", got)
	}
}

func TestReportFailed(t *testing.T) {
	tests := []struct {
		name         string
		statuses     []certcheck.Status
		loose, stric bool
	}{
		{name: "empty", statuses: nil},
		{name: "all pass", statuses: []certcheck.Status{certcheck.Pass, certcheck.Pass}},
		{name: "warning", statuses: []certcheck.Status{certcheck.Pass, certcheck.Warn}, stric: true},
		{name: "failure", statuses: []certcheck.Status{certcheck.Fail, certcheck.Warn}, loose: true, stric: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := &certcheck.Report{}
			for _, s := range tc.statuses {
				rep.Results = append(rep.Results, certcheck.Result{Status: s})
			}
			if got := rep.Failed(false); got != tc.loose {
				t.Errorf("Failed(false) = %v, want %v", got, tc.loose)
			}
			if got := rep.Failed(true); got != tc.stric {
				t.Errorf("Failed(true) = %v, want %v", got, tc.stric)
			}
		})
	}
}

func TestCheckOptionsErrors(t *testing.T) {
	pki := certtest.NewPKI(t)
	b := bundle(certcheck.FormatPEM, pki.Leaf(t, certtest.Template{CN: "x"}))
	if _, err := certcheck.Check(b, certcheck.Options{Role: certcheck.RoleBotEndpoint}); err == nil {
		t.Error("Check without Now: no error")
	}
	if _, err := certcheck.Check(b, certcheck.Options{Role: "web", Now: certtest.Now}); err == nil {
		t.Error("Check with unknown role: no error")
	}
	if _, err := certcheck.Check(&certcheck.Bundle{}, certcheck.Options{Role: certcheck.RoleBotEndpoint, Now: certtest.Now}); err == nil {
		t.Error("Check without leaf: no error")
	}
}

func TestStatusRoundTrip(t *testing.T) {
	for _, s := range []certcheck.Status{certcheck.Pass, certcheck.Warn, certcheck.Fail} {
		text, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got certcheck.Status
		if err := got.UnmarshalText(text); err != nil || got != s {
			t.Errorf("round trip of %v: got %v, %v", s, got, err)
		}
	}
	for _, r := range certcheck.Roles {
		if got, err := certcheck.ParseRole(r.String()); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %v, %v", r, got, err)
		}
	}
}
