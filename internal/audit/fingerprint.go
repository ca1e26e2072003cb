package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
)

// FingerprintVersion names the recipe of Finding.Fingerprint. It is the
// key of the fingerprint in SARIF's partialFingerprints, a versioned
// hierarchical string as SARIF 2.1.0 §3.27.17 asks; a new recipe gets a
// new version, so that a code-scanning UI never compares fingerprints of
// two recipes.
const FingerprintVersion = "teamsgate/v1"

// fingerprint gives every finding without a fingerprint its fingerprint,
// and its key. The fingerprint is a hash of what identifies the defect
// (identity), so that the same defect has the same fingerprint from one
// run to the next while the file around it changes. Two findings with the
// same identity (two identical rules in a chain, both unreachable) are
// told apart by their rank among those in report order: the second has
// the identity and "2" hashed, and so on. Findings that have a fingerprint
// keep it, so that Accept, which re-sorts the report, changes none.
func (r *Report) fingerprint() {
	used := map[string]bool{}
	for _, fs := range [][]Finding{r.Findings, r.Accepted} {
		for _, f := range fs {
			used[f.Fingerprint] = true
		}
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Key == "" {
			f.Key = f.key()
		}
		if f.Fingerprint != "" {
			continue
		}
		id := identity(f)
		fp := hashParts(id)
		for n := 2; used[fp]; n++ {
			fp = hashParts(append(id, strconv.Itoa(n)))
		}
		used[fp] = true
		f.Fingerprint = fp
	}
}

// identity is what identifies a finding's defect: its kind, the flow and
// direction, and the identity of the rule that causes it; for an unused
// acceptance, the finding the entry names. Never a line, a column or a
// rule's place in its chain; never the packets (the plan's addresses may
// change under the same defect) nor the facts.
func identity(f *Finding) []string {
	target := ""
	if f.Kind == UnusedAcceptance && f.Acceptance != nil {
		target = f.Acceptance.Finding
	}
	return []string{FingerprintVersion, string(f.Kind), f.Flow, f.Direction, ruleIdentity(f.Rule), target}
}

// positional matches the parts of a rule id that are the rule's place:
// iptables' and nftables' "CHAIN#12" (with nft's " (handle 7)", which a
// reload renumbers) and the place of an AWS permission, "sg-1 ingress#4"
// (followed by the group or prefix list it names, "sg-1 ingress#2 sg-2").
// Azure NSG rule names hold no '#' (Microsoft's naming rules for
// Microsoft.Network: letters, digits, '.', '-', '_').
var positional = regexp.MustCompile(`#[0-9]+( \(handle [0-9]+\))?`)

// ruleIdentity identifies a rule independently of its place: a rule that
// has a name (an NSG rule, a chain policy, a platform default) by its
// chain and name; a rule known by its place (iptables, nftables, AWS) by
// its chain, its id without the place, and its text with the spacing,
// the packet counters and the "-A CHAIN" of iptables-save taken out, so
// that inserting a rule above it, or iptables-save -c, changes nothing.
func ruleIdentity(r *RuleRef) string {
	if r == nil {
		return ""
	}
	if !positional.MatchString(r.ID) {
		return r.Chain + "\x00" + r.ID
	}
	return r.Chain + "\x00" + positional.ReplaceAllString(r.ID, "") + "\x00" + normalText(r.Text)
}

// normalText is a rule's text with its fields separated by single spaces,
// without iptables-save -c's "[packets:bytes]" and without the "-A CHAIN"
// or "-I CHAIN [N]" that opens an iptables rule (the chain is part of the
// identity already).
func normalText(s string) string {
	f := strings.Fields(s)
	if len(f) > 0 && strings.HasPrefix(f[0], "[") && strings.HasSuffix(f[0], "]") {
		f = f[1:]
	}
	if len(f) >= 2 {
		switch f[0] {
		case "-A", "--append":
			f = f[2:]
		case "-I", "--insert":
			f = f[2:]
			if len(f) > 0 {
				if _, err := strconv.Atoi(f[0]); err == nil {
					f = f[1:]
				}
			}
		}
	}
	return strings.Join(f, " ")
}

// hashParts is the first 64 bits of the SHA-256 of the parts, each ended
// by a NUL byte, in hexadecimal: 16 digits, enough to tell the findings
// of any report apart and short enough to copy into an accept file.
func hashParts(parts []string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// key is the finding's name in an accept file, KIND/NAME: NAME is the
// flow for a missing finding (the flow is what is missing), the
// configuration rule's id for the others (the rule is what is wrong).
func (f *Finding) key() string {
	name := f.Flow
	switch {
	case f.Kind == UnusedAcceptance && f.Acceptance != nil:
		name = f.Acceptance.Finding
	case f.Kind != Missing && f.Rule != nil:
		name = f.Rule.ID
	}
	return string(f.Kind) + "/" + name
}
