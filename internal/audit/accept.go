package audit

import (
	"fmt"
	"strings"
	"time"

	"github.com/teamsgate/teamsgate/internal/diag"
)

// UnusedAcceptance: an entry of the accept file names no finding of the
// audit. A note: the defect was fixed or the entry names it wrongly, and
// either way the entry should go (docs/audit.md "Accepting findings").
const UnusedAcceptance Kind = "unused-acceptance"

// MaxAcceptDays is how far ahead an entry of an accept file may expire:
// 366 days, so that every accepted defect is looked at again within a
// year (a leap year's day included). An entry that expires later is an
// input error rather than an acceptance for ever.
const MaxAcceptDays = 366

// Date is a calendar day, written YYYY-MM-DD. The zero Date is no day.
// Days are UTC days: an audit on a CI runner anywhere in the world reads
// an entry's expiry the same way.
type Date struct{ t time.Time }

// ParseDate parses "YYYY-MM-DD".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date YYYY-MM-DD", s)
	}
	return Date{t}, nil
}

// MustParseDate is ParseDate for tests: it panics on an error.
func MustParseDate(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// DateOf returns the UTC day of t.
func DateOf(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d.t.IsZero() }

// Before reports whether d is an earlier day than e.
func (d Date) Before(e Date) bool { return d.t.Before(e.t) }

// AddDays returns the day n days after d.
func (d Date) AddDays(n int) Date { return Date{d.t.AddDate(0, 0, n)} }

// String renders YYYY-MM-DD, or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.t.Format(time.DateOnly)
}

// MarshalText renders YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Acceptance is one entry of an accept file: someone (By) accepted a
// finding (by key or fingerprint) for a reason, until a day.
type Acceptance struct {
	// Finding names the finding accepted, as written in the file: a key
	// KIND/NAME or a fingerprint.
	Finding string `json:"finding"`
	Reason  string `json:"reason"`
	By      string `json:"by"`
	// Expires is the day from which the entry accepts nothing.
	Expires Date `json:"expires"`
	// Pos is the entry's place in the accept file.
	Pos diag.Pos `json:"pos"`
	// Expired: the entry names this finding but had expired on the day of
	// the audit, so the finding stands.
	Expired bool `json:"expired,omitempty"`
}

// acceptable lists the kinds an entry may accept.
var acceptable = []Kind{Exposed, Missing, Mismatch, TooOpen, Shadowed}

// CheckTarget checks what an entry of an accept file names: a finding key
// KIND/NAME of a kind that can be accepted, or a fingerprint (16
// hexadecimal digits).
func CheckTarget(s string) error {
	kind, name, isKey := strings.Cut(s, "/")
	if !isKey {
		if !isFingerprint(s) {
			return fmt.Errorf("%q is neither a finding key (KIND/NAME) nor a fingerprint (16 hexadecimal digits)", s)
		}
		return nil
	}
	known := false
	var kinds []string
	for _, k := range acceptable {
		known = known || Kind(kind) == k
		kinds = append(kinds, string(k))
	}
	switch {
	case !known:
		return fmt.Errorf("%q: %q is not a kind of finding that can be accepted (want %s)", s, kind, strings.Join(kinds, ", "))
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("%q names no flow or rule after the kind", s)
	}
	return nil
}

func isFingerprint(s string) bool {
	if len(s) != 16 {
		return false
	}
	for _, c := range strings.ToLower(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// names reports whether the entry names the finding, by key or by
// fingerprint (in either case of hexadecimal digits).
func (a *Acceptance) names(f *Finding) bool {
	return a.Finding == f.Key || strings.EqualFold(a.Finding, f.Fingerprint)
}

// Accept applies the entries of an accept file to the report (docs/audit.md
// "Accepting findings"). A finding that an entry names, by key or by
// fingerprint, moves from Findings to Accepted with the entry as its
// Acceptance, and so no longer counts for Failed — unless the entry has
// expired by now's day (UTC): then the finding stays, the entry attached
// and marked Expired. An entry that names no finding of the audit becomes
// a finding itself (UnusedAcceptance, a note) at its place in the file.
// Entries are those of one file, already checked (CheckTarget, required
// fields); a key may name several findings (a flow missing in both
// directions), and accepts them all.
func (r *Report) Accept(file string, entries []Acceptance, now func() time.Time) {
	today := DateOf(now())
	r.AcceptFile = file
	r.fingerprint()
	used := make([]bool, len(entries))
	kept := r.Findings[:0]
	for _, f := range r.Findings {
		valid, expired := -1, -1
		for i := range entries {
			if !entries[i].names(&f) {
				continue
			}
			used[i] = true
			switch {
			case today.Before(entries[i].Expires):
				if valid < 0 {
					valid = i
				}
			case expired < 0:
				expired = i
			}
		}
		switch {
		case valid >= 0:
			a := entries[valid]
			f.Acceptance = &a
			r.Accepted = append(r.Accepted, f)
		case expired >= 0:
			a := entries[expired]
			a.Expired = true
			f.Acceptance = &a
			kept = append(kept, f)
		default:
			kept = append(kept, f)
		}
	}
	r.Findings = kept
	for i, e := range entries {
		if used[i] {
			continue
		}
		e.Expired = !today.Before(e.Expires)
		msg := fmt.Sprintf("%s accepts %s (%s, by %s), which is not a finding of this audit: the defect is gone, or the entry names it wrongly (give a key KIND/NAME or a fingerprint the report shows); remove or correct the entry", file, e.Finding, e.Reason, e.By)
		if e.Expired {
			msg += fmt.Sprintf("; it expired on %s", e.Expires)
		}
		r.Findings = append(r.Findings, Finding{Kind: UnusedAcceptance, Severity: SevNote, Message: msg, Acceptance: &e})
	}
	r.sort()
}
