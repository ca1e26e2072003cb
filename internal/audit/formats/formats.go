// Package parse lists the configuration formats the auditor reads, in one
// place, and recognises a format from the content.
package formats

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/teamsgate/teamsgate/internal/audit/formats/awssg"
	"github.com/teamsgate/teamsgate/internal/audit/formats/azurensg"
	"github.com/teamsgate/teamsgate/internal/audit/formats/iptables"
	"github.com/teamsgate/teamsgate/internal/audit/formats/nftables"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/jsonpos"
)

// Names lists the format names, in the order --help shows them.
var Names = []string{"azure-nsg", "aws-sg", "iptables", "nftables"}

// MaxBytes is the largest configuration the auditor reads: 32 MiB, the
// limit of the JSON reader (jsonpos.MaxBytes) that the JSON formats meet
// anyway, applied here to every format so that iptables-save text has it
// too. An iptables-save of 100,000 rules is about 10 MB.
const MaxBytes = jsonpos.MaxBytes

// Options carries what some parsers need besides the file.
type Options struct {
	Tags    ruleset.ServiceTags
	Members map[string][]netip.Prefix
	Groups  []string
	// RoleTag reads an AWS export as an estate (awssg.Options.RoleTag).
	RoleTag string
}

// Parse parses a configuration of the given format.
func Parse(format string, data []byte, opt Options) (*ruleset.Config, diag.List) {
	if len(data) > MaxBytes {
		var ds diag.List
		ds.Errorf(diag.Pos{Line: 1, Col: 1}, "", "the configuration is %d bytes; the limit is %d MiB", len(data), MaxBytes>>20)
		return nil, ds
	}
	switch format {
	case "azure-nsg":
		return azurensg.Parse(data, azurensg.Options{Tags: opt.Tags})
	case "aws-sg":
		return awssg.Parse(data, awssg.Options{Members: opt.Members, Groups: opt.Groups, RoleTag: opt.RoleTag})
	case "iptables":
		return iptables.Parse(data)
	case "nftables":
		return nftables.Parse(data)
	}
	var ds diag.List
	ds.Errorf(diag.Pos{}, "", "unknown format %q (want %s)", format, strings.Join(Names, ", "))
	return nil, ds
}

// Detect names the format of a configuration from its content: JSON with
// "nftables" is nft, with "SecurityGroups" AWS, with securityRules (or an
// NSG resource type) Azure; text with "*filter"-style tables or "-A"
// rules is iptables-save. Anything else, or content that fits more than
// one, is an error asking for --format.
func Detect(data []byte) (string, error) {
	if len(data) > MaxBytes {
		return "", fmt.Errorf("the configuration is %d bytes; the limit is %d MiB", len(data), MaxBytes>>20)
	}
	t := bytes.TrimSpace(data)
	if len(t) == 0 {
		return "", fmt.Errorf("the configuration is empty")
	}
	if t[0] == '{' || t[0] == '[' {
		root, ds := jsonpos.Parse(t)
		if ds.HasErrors() {
			return "", fmt.Errorf("the configuration looks like JSON but does not parse (%s); give --format", ds.Errors()[0].Message)
		}
		var found []string
		if root.Get("nftables") != nil {
			found = append(found, "nftables")
		}
		if root.Get("SecurityGroups") != nil || (root.Kind == jsonpos.Array && len(root.Items) > 0 && root.Items[0].Get("GroupId") != nil) {
			found = append(found, "aws-sg")
		}
		if looksNSG(root) {
			found = append(found, "azure-nsg")
		}
		return pick(found)
	}
	var found []string
	for _, line := range strings.Split(string(t), "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "*filter") || strings.HasPrefix(l, "*mangle") || strings.HasPrefix(l, "*raw") || strings.HasPrefix(l, "*nat") || strings.HasPrefix(l, "*security") || strings.HasPrefix(l, "-A ") {
			found = []string{"iptables"}
			break
		}
	}
	if len(found) == 0 && (bytes.Contains(t, []byte("table inet")) || bytes.Contains(t, []byte("table ip"))) {
		return "", fmt.Errorf("this looks like an nft ruleset in text form; the auditor reads `nft -j list ruleset` (JSON)")
	}
	return pick(found)
}

func looksNSG(v *jsonpos.Value) bool {
	items := []*jsonpos.Value{v}
	if v.Kind == jsonpos.Array {
		items = v.Items
	}
	for _, key := range []string{"value", "resources"} {
		if val := v.Get(key); val != nil && val.Kind == jsonpos.Array {
			items = val.Items
		}
	}
	for _, it := range items {
		if t := it.Get("type"); t != nil && strings.HasPrefix(strings.ToLower(t.Str), "microsoft.network/networksecuritygroups") {
			return true
		}
		if it.Get("securityRules") != nil || it.Get("defaultSecurityRules") != nil {
			return true
		}
		if pr := it.Get("properties"); pr != nil && (pr.Get("securityRules") != nil || pr.Get("priority") != nil) {
			return true
		}
		if it.Get("priority") != nil && it.Get("direction") != nil && it.Get("access") != nil {
			return true
		}
	}
	return false
}

func pick(found []string) (string, error) {
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("cannot tell the configuration's format from its content; give --format (%s)", strings.Join(Names, ", "))
	}
	return "", fmt.Errorf("the configuration could be %s; give --format", strings.Join(found, " or "))
}
