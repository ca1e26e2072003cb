// Package aws is the state of the stand-in AWS CLI that the tests of the
// aws-sg target run apply.sh against (internal/render/awssg/testdata/awsstub):
// the security groups it keeps and the calls it has had. The stub and the
// tests share these types, so that both read the state file alike.
package aws

import (
	"fmt"
	"strings"

	"github.com/teamsgate/teamsgate/internal/render/clistub/statefile"
)

// Environment of the stub: the state file, the call to fail and how, and
// which EC2 API to answer a revocation as (see testdata/awsstub).
const (
	EnvState      = "AWSSTUB_STATE"
	EnvFail       = "AWSSTUB_FAIL"
	EnvFailStatus = "AWSSTUB_FAIL_STATUS"
	EnvRevoke     = "AWSSTUB_REVOKE"
)

// Rule is one security group rule: one protocol and port range to one
// address range. Ports are -1 for protocol -1.
type Rule struct {
	Proto string `json:"proto"`
	From  int    `json:"from"`
	To    int    `json:"to"`
	CIDR  string `json:"cidr"`
	Desc  string `json:"desc,omitempty"`
}

// Key identifies a rule as AWS does: the description is not part of it.
func (r Rule) Key() string { return fmt.Sprintf("%s %d-%d %s", r.Proto, r.From, r.To, r.CIDR) }

// Family is 4 or 6, the IP version of the rule's address range: EC2 limits
// the rules of a direction per family.
func (r Rule) Family() int {
	if strings.Contains(r.CIDR, ":") {
		return 6
	}
	return 4
}

// Group is one security group.
type Group struct {
	Ingress []Rule `json:"ingress"`
	Egress  []Rule `json:"egress"`
}

// State is the content of the state file: the calls so far and the
// security groups by id.
type State struct {
	statefile.Log
	Groups map[string]*Group `json:"groups"`
}
