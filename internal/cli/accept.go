package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/yamlx"
)

// acceptFile is the wire form of an accept file (docs/audit.md "Accepting
// findings"). It stops here: parseAccept checks it and turns it into
// audit.Acceptance values, which is all the audit sees. (The audit
// packages read no YAML: internal/archtest.)
type acceptFile struct {
	Accept []acceptEntry `yaml:"accept"`
}

type acceptEntry struct {
	Finding string `yaml:"finding"`
	Reason  string `yaml:"reason"`
	By      string `yaml:"by"`
	Expires string `yaml:"expires"`
}

// parseAccept decodes an accept file strictly (yamlx) and checks every
// entry: what it names (audit.CheckTarget), a reason, who accepted it, and
// an expiry day no more than audit.MaxAcceptDays after today; no finding
// named twice. Every problem is reported, at its line and column.
func parseAccept(data []byte, file string, today audit.Date) ([]audit.Acceptance, diag.List) {
	var w acceptFile
	doc, ds := yamlx.Decode(data, file, &w)
	if doc.Root == nil {
		return nil, ds
	}
	// yamlx leaves a value it reported empty: say nothing more there.
	reported := map[diag.Pos]bool{}
	for _, d := range ds {
		reported[d.Pos] = true
	}
	errorf := func(pos diag.Pos, subject, format string, args ...any) {
		if !reported[pos] {
			ds.Errorf(pos, subject, format, args...)
		}
	}
	latest := today.AddDays(audit.MaxAcceptDays)
	seen := map[string]diag.Pos{}
	var out []audit.Acceptance
	for i, en := range w.Accept {
		idx := strconv.Itoa(i)
		subject := fmt.Sprintf("accept[%d]", i)
		a := audit.Acceptance{Finding: strings.TrimSpace(en.Finding), Reason: strings.TrimSpace(en.Reason), By: strings.TrimSpace(en.By), Pos: doc.At("accept", idx)}
		ok := true
		for _, f := range []struct{ key, value, what string }{
			{"finding", a.Finding, "the key (KIND/NAME) or the fingerprint of the finding accepted"},
			{"reason", a.Reason, "why the finding is accepted"},
			{"by", a.By, "who accepted it"},
			{"expires", strings.TrimSpace(en.Expires), fmt.Sprintf("the day (YYYY-MM-DD) from which it no longer accepts the finding, at most %d days ahead", audit.MaxAcceptDays)},
		} {
			if f.value == "" {
				errorf(doc.At("accept", idx, f.key), subject, "%s is required: %s", f.key, f.what)
				ok = false
			}
		}
		if a.Finding != "" {
			if err := audit.CheckTarget(a.Finding); err != nil {
				errorf(doc.At("accept", idx, "finding"), subject, "finding: %v", err)
				ok = false
			} else if at, dup := seen[strings.ToLower(a.Finding)]; dup {
				errorf(doc.At("accept", idx, "finding"), subject, "%s is accepted already at line %d", a.Finding, at.Line)
				ok = false
			} else {
				seen[strings.ToLower(a.Finding)] = doc.At("accept", idx, "finding")
			}
		}
		if s := strings.TrimSpace(en.Expires); s != "" {
			d, err := audit.ParseDate(s)
			switch {
			case err != nil:
				errorf(doc.At("accept", idx, "expires"), subject, "expires: %v", err)
				ok = false
			case latest.Before(d):
				errorf(doc.At("accept", idx, "expires"), subject, "expires %s is more than %d days ahead (the latest is %s): accept a finding for a year at most, and look at it again then", d, audit.MaxAcceptDays, latest)
				ok = false
			}
			a.Expires = d
		}
		if ok {
			out = append(out, a)
		}
	}
	return out, ds
}

// loadAccept reads and checks --accept FILE.
func loadAccept(e *env, file string) ([]audit.Acceptance, error) {
	data, err := e.readInput("--accept", file, yamlx.MaxBytes)
	if err != nil {
		return nil, err
	}
	entries, ds := parseAccept(data, inputName(file), audit.DateOf(e.now()))
	if ds.HasErrors() {
		ds.Sort()
		return nil, ds.Err()
	}
	return entries, nil
}

// inputName names an input file in a report: its name, or <stdin>.
func inputName(file string) string {
	if file == "-" {
		return "<stdin>"
	}
	return file
}
