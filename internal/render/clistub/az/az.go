// Package az is the state of the stand-in Azure CLI that the tests of the
// azure-nsg target run nsg.sh against
// (internal/render/azurensg/testdata/azstub): the resource groups and NSGs
// it keeps and the calls it has had. The stub and the tests share these
// types, so that both read the state file alike.
package az

import (
	"fmt"

	"github.com/teamsgate/teamsgate/internal/render/clistub/statefile"
)

// Environment of the stub: the state file, and the call or the command to
// fail (see testdata/azstub).
const (
	EnvState   = "AZSTUB_STATE"
	EnvFail    = "AZSTUB_FAIL"
	EnvFailCmd = "AZSTUB_FAIL_CMD"
)

// Rule is one security rule as the stub keeps it.
type Rule struct {
	Name        string   `json:"name"`
	Priority    int      `json:"priority"`
	Direction   string   `json:"direction"`
	Access      string   `json:"access"`
	Protocol    string   `json:"protocol"`
	Src         []string `json:"src"`
	SrcPorts    []string `json:"srcPorts"`
	Dst         []string `json:"dst"`
	DstPorts    []string `json:"dstPorts"`
	Description string   `json:"description,omitempty"`
}

// String is the rule without its description, in a form that sorts and
// compares.
func (r Rule) String() string {
	return fmt.Sprintf("%s %d %s %s %s %v:%v -> %v:%v", r.Name, r.Priority, r.Direction, r.Access, r.Protocol, r.Src, r.SrcPorts, r.Dst, r.DstPorts)
}

// NSG is one network security group.
type NSG struct {
	Tags  map[string]string `json:"tags,omitempty"`
	Rules []Rule            `json:"rules"`
}

// ResourceGroup is one resource group: its NSGs by name.
type ResourceGroup struct {
	NSGs map[string]*NSG `json:"nsgs"`
}

// State is the content of the state file: the calls so far and the
// resource groups by name.
type State struct {
	statefile.Log
	ResourceGroups map[string]*ResourceGroup `json:"resourceGroups"`
}
