// Package certcheck checks the certificates that a Teams integration needs
// before deployment day: the Teams Connector's PKCS #12 bundle, the
// Conferencing Nodes' PEM certificates and a bot's HTTPS endpoint
// certificate. It loads certificates and keys from bytes, runs named rules
// over them and returns a Report whose every result carries a typed reason.
//
// The rules come from the Pexip Teams Connector documentation
// (seeds/002, "Network and certificate requirements", "Obtaining and
// preparing the TLS certificate for the Teams Connector" and "Ensuring
// Conferencing Nodes have suitable certificates"). Hostname matching and
// chain building are crypto/x509's; PKCS #12 is software.sslmate.com's
// go-pkcs12. The package never reads files, the network or the clock: the
// caller passes bytes and a Now function.
package certcheck

import (
	"fmt"
	"github.com/teamsgate/teamsgate/internal/suggest"
	"strings"
)

// Role is what a certificate is for. Each role selects the rules that apply:
// the Teams Connector needs an RSA key in a PKCS #12 file; the Teams
// Connector and the Conferencing Nodes authenticate each other with mutual
// TLS and so need both serverAuth and clientAuth; a bot endpoint is an HTTPS
// server only. The zero Role is invalid.
type Role string

const (
	// RoleTeamsConnector is the certificate installed on the Teams Connector
	// (its Azure load balancer FQDN, one SAN per region).
	RoleTeamsConnector Role = "teams-connector"
	// RoleConferencingNode is the certificate of the Conferencing Nodes that
	// talk to the Teams Connector, recommended to carry a pool name as
	// subject and every node FQDN as SAN.
	RoleConferencingNode Role = "conferencing-node"
	// RoleBotEndpoint is the certificate of a bot's HTTPS messaging or
	// calling endpoint, which the Bot Framework and Teams connect to as
	// TLS clients.
	RoleBotEndpoint Role = "bot-endpoint"
)

// Roles lists every role in the order help texts show them.
var Roles = []Role{RoleTeamsConnector, RoleConferencingNode, RoleBotEndpoint}

// ParseRole parses a role name as the command line spells it.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = string(r)
	}
	return "", fmt.Errorf("unknown role %q%s (want one of %s)", s, suggest.Hint(s, names), strings.Join(names, ", "))
}

func (r Role) String() string { return string(r) }

// mutualTLS reports whether the role authenticates in both directions, which
// per seeds/002 ("the certificate usage principles") requires both the
// serverAuth and the clientAuth extended key usage.
func (r Role) mutualTLS() bool {
	return r == RoleTeamsConnector || r == RoleConferencingNode
}

// Status is the outcome of one result. The zero Status is Pass.
type Status uint8

const (
	// Pass: the rule holds.
	Pass Status = iota
	// Warn: the rule holds today but needs attention (expiry soon, a risky
	// AIA URL). Warnings fail only under --strict.
	Warn
	// Fail: the certificate will not work for the role.
	Fail
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "pass"
	case Warn:
		return "warn"
	case Fail:
		return "fail"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// ParseStatus parses "pass", "warn" or "fail".
func ParseStatus(s string) (Status, error) {
	for _, st := range []Status{Pass, Warn, Fail} {
		if st.String() == s {
			return st, nil
		}
	}
	return Pass, fmt.Errorf("unknown status %q", s)
}

// MarshalText renders the status as "pass", "warn" or "fail".
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses the form MarshalText writes.
func (s *Status) UnmarshalText(b []byte) error {
	v, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Rule names a check. Results of one rule may be several (one per name, one
// per certificate in the chain).
type Rule string

const (
	// RuleFormat: the file format the role needs, with key and intermediates.
	RuleFormat Rule = "format"
	// RuleKey: key algorithm, size, and that the private key matches.
	RuleKey Rule = "key"
	// RuleEKU: the extended key usages the role needs.
	RuleEKU Rule = "eku"
	// RuleNames: every requested name is covered.
	RuleNames Rule = "names"
	// RuleChainTrust: the chain builds to a trusted root.
	RuleChainTrust Rule = "chain.trust"
	// RuleChainSignature: no certificate in the chain is signed with SHA-1.
	RuleChainSignature Rule = "chain.signature"
	// RuleChainValidity: every certificate is inside its validity period,
	// and not about to leave it.
	RuleChainValidity Rule = "chain.validity"
	// RuleChainAIA: the AIA issuer URLs, with their scheme.
	RuleChainAIA Rule = "chain.aia"
)

// Reason says why a result has its status. Callers branch on it; the
// message next to it is for people.
type Reason string

// Reasons of passing results.
const (
	ReasonOK Reason = "ok"
)

// Reasons of the format rule and of load errors.
const (
	ReasonNotPKCS12           Reason = "not-pkcs12"
	ReasonMissingKey          Reason = "missing-key"
	ReasonMissingIntermediate Reason = "missing-intermediate"
	ReasonWrongPassword       Reason = "wrong-password"
	ReasonCorrupt             Reason = "corrupt"
	ReasonNoCertificate       Reason = "no-certificate"
	ReasonEncryptedKey        Reason = "encrypted-key"
	ReasonUnsupported         Reason = "unsupported"
)

// Reasons of the key rule.
const (
	ReasonKeyNotRSA     Reason = "key-not-rsa"
	ReasonKeyTooSmall   Reason = "key-too-small"
	ReasonKeyType       Reason = "key-type"
	ReasonKeyMismatch   Reason = "key-mismatch"
	ReasonKeyNotChecked Reason = "key-not-checked"
)

// Reasons of the eku rule.
const (
	ReasonNoEKU           Reason = "eku-missing"
	ReasonNoServerAuth    Reason = "eku-no-server-auth"
	ReasonNoClientAuth    Reason = "eku-no-client-auth"
	ReasonChainEKU        Reason = "eku-chain"
	ReasonEKUUnrestricted Reason = "eku-unrestricted"
)

// Reasons of the names rule.
const (
	ReasonNameNotCovered Reason = "name-not-covered"
	ReasonPoolNotSubject Reason = "pool-not-subject"
	ReasonNoNames        Reason = "no-names"
)

// Reasons of the chain rules.
const (
	ReasonUntrusted   Reason = "untrusted"
	ReasonSHA1        Reason = "sha1-signature"
	ReasonExpired     Reason = "expired"
	ReasonNotYetValid Reason = "not-yet-valid"
	ReasonExpiresSoon Reason = "expires-soon"
	ReasonAIAHTTPS    Reason = "aia-https"
	ReasonAIAScheme   Reason = "aia-scheme"
	ReasonNoAIA       Reason = "no-aia"
)

// Result is one outcome of one rule: which rule, how it came out, why
// (a typed reason), what it is about (a name, a certificate) and a message
// telling the user what to do.
type Result struct {
	Rule    Rule   `json:"rule"`
	Status  Status `json:"status"`
	Reason  Reason `json:"reason"`
	Subject string `json:"subject,omitempty"`
	Message string `json:"message"`
}

// Report is every result of checking one certificate for one role, plus a
// description of the certificates checked.
type Report struct {
	Role         Role       `json:"role"`
	Format       Format     `json:"format"`
	Certificates []CertInfo `json:"certificates"`
	Results      []Result   `json:"results"`
}

// Worst returns the most severe status in the report (Pass for none).
func (r *Report) Worst() Status {
	w := Pass
	for _, res := range r.Results {
		if res.Status > w {
			w = res.Status
		}
	}
	return w
}

// Failed reports whether the report should fail a pipeline: any Fail, or,
// when strict, any Warn.
func (r *Report) Failed(strict bool) bool {
	w := r.Worst()
	return w == Fail || (strict && w == Warn)
}

// Count returns how many results have the status.
func (r *Report) Count(s Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == s {
			n++
		}
	}
	return n
}
