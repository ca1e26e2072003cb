package cli

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/audit"
	"github.com/teamsgate/teamsgate/internal/audit/formats"
	"github.com/teamsgate/teamsgate/internal/audit/formats/azurensg"
	"github.com/teamsgate/teamsgate/internal/audit/ruleset"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/servicetag"
	"github.com/teamsgate/teamsgate/internal/spec"
)

// stdinConfig reports whether a --config reads standard input.
func (a auditArgs) stdinConfig() bool {
	for _, v := range a.configs {
		if _, file := configPlace(v); file == "-" {
			return true
		}
	}
	return false
}

// configPlace splits a --config value into the place of an Azure NSG on a
// path ("subnet=FILE", "nic=FILE") and the file.
func configPlace(v string) (azurensg.Place, string) {
	for _, pl := range []azurensg.Place{azurensg.PlaceSubnet, azurensg.PlaceNIC} {
		if file, ok := strings.CutPrefix(v, pl.String()+"="); ok {
			return pl, file
		}
	}
	return azurensg.PlaceUnknown, v
}

// auditInput is one configuration file of an audit.
type auditInput struct {
	place azurensg.Place
	file  string
	name  string
	data  []byte
}

// readAuditConfig reads and parses what --config names: one configuration
// of any format, or a subnet NSG and a network interface NSG on one path
// (--config subnet=FILE --config nic=FILE, or two NSG exports whose
// associations say which is which). With a spec whose audit.aws.role_tag
// is set, an AWS export is read as an estate, unless --sg selects the
// groups of one host. The diagnostics carry the file names; err is a usage
// or input error, or the context's when the audit was stopped.
func (e *env) readAuditConfig(c *cobra.Command, a auditArgs, sa spec.Audit, opt *audit.Options, members map[string][]netip.Prefix, progress func(string, int, int)) (*ruleset.Config, string, diag.List, error) {
	progress("reading the configuration", 0, 0)
	ins, err := e.readConfigs(a.configs)
	if err != nil {
		return nil, "", nil, inputError(err)
	}
	format := a.format
	for _, in := range ins {
		f := a.format
		if f == "" {
			if f, err = formats.Detect(in.data); err != nil {
				return nil, "", nil, inputError(fmt.Errorf("%s: %w", in.name, err))
			}
		}
		if len(ins) > 1 && f != "azure-nsg" {
			return nil, "", nil, inputError(fmt.Errorf("%s is %s: --config is given twice only for an Azure subnet NSG and network interface NSG on one path (subnet=FILE nic=FILE)", in.name, f))
		}
		format = f
	}
	if err := auditFlagsFor(c, format); err != nil {
		return nil, "", nil, inputError(err)
	}
	if a.serviceTags != "" {
		data, ds := servicetag.ParseFile(a.serviceTags)
		if ds.HasErrors() {
			return nil, "", nil, inputError(ds.Err())
		}
		opt.Tags.Data = data
	}
	if err := c.Context().Err(); err != nil {
		return nil, "", nil, err
	}
	progress("parsing the "+format+" configuration", 0, 0)
	if len(ins) == 2 {
		return nsgPath(ins, opt.Tags)
	}
	fo := formats.Options{Tags: opt.Tags, Members: members, Groups: a.groups}
	if format == "aws-sg" && len(a.groups) == 0 {
		fo.RoleTag = sa.AWSRoleTag
	}
	cfg, ds := formats.Parse(format, ins[0].data, fo)
	return cfg, ins[0].name, ds.WithFile(ins[0].name), nil
}

// readConfigs reads the --config files.
func (e *env) readConfigs(vals []string) ([]auditInput, error) {
	if len(vals) > 2 {
		return nil, fmt.Errorf("--config is given %d times; give it once, or twice for an Azure subnet NSG and network interface NSG on one path (--config subnet=FILE --config nic=FILE)", len(vals))
	}
	var ins []auditInput
	stdin := 0
	for _, v := range vals {
		pl, file := configPlace(v)
		if pl != azurensg.PlaceUnknown && len(vals) == 1 {
			return nil, fmt.Errorf("--config %s names one NSG of a path; give the other too (--config subnet=FILE --config nic=FILE)", v)
		}
		if file == "-" {
			stdin++
		}
		in := auditInput{place: pl, file: file, name: configName(file)}
		ins = append(ins, in)
	}
	if stdin > 1 {
		return nil, fmt.Errorf("only one --config can be read from standard input")
	}
	if len(ins) == 2 && ins[0].place != azurensg.PlaceUnknown && ins[0].place == ins[1].place {
		return nil, fmt.Errorf("--config gives two %s NSGs; a path has one subnet NSG and one network interface NSG", ins[0].place)
	}
	for i := range ins {
		data, err := e.readInput("--config", ins[i].file, maxConfigBytes)
		if err != nil {
			return nil, err
		}
		ins[i].data = data
	}
	return ins, nil
}

// nsgPath parses a subnet NSG and a network interface NSG and puts them on
// one path, in Azure's order (azurensg.Path). Which is which is what the
// user wrote (subnet=FILE, nic=FILE), or else what each export's
// associations say.
func nsgPath(ins []auditInput, tags ruleset.ServiceTags) (*ruleset.Config, string, diag.List, error) {
	var all diag.List
	byPlace := map[azurensg.Place]*azurensg.NSG{}
	var names [2]string
	for _, in := range ins {
		n, ds := azurensg.ParseNSG(in.data, azurensg.Options{Tags: tags})
		all.Append(ds.WithFile(in.name))
		if n == nil {
			continue
		}
		n.File = in.name
		pl := in.place
		if pl == azurensg.PlaceUnknown {
			pl = n.Place()
		}
		if pl == azurensg.PlaceUnknown {
			return nil, "", nil, inputError(fmt.Errorf("%s: the export does not say whether the NSG is a subnet's or a network interface's (it lists %s); give --config subnet=FILE --config nic=FILE",
				in.name, associationText(n)))
		}
		if byPlace[pl] != nil {
			return nil, "", nil, inputError(fmt.Errorf("%s and %s are both %s NSGs; a path has one subnet NSG and one network interface NSG (give --config subnet=FILE --config nic=FILE)", names[pl-1], in.name, pl))
		}
		byPlace[pl], names[pl-1] = n, in.name
	}
	if all.HasErrors() {
		return nil, "", all, nil
	}
	cfg := azurensg.Path(byPlace[azurensg.PlaceSubnet], byPlace[azurensg.PlaceNIC])
	return cfg, fmt.Sprintf("%s (subnet) + %s (network interface)", names[0], names[1]), all, nil
}

// associationText says what an NSG export lists of its associations.
func associationText(n *azurensg.NSG) string {
	switch {
	case len(n.Subnets) > 0 && len(n.NICs) > 0:
		return fmt.Sprintf("%d subnets and %d network interfaces", len(n.Subnets), len(n.NICs))
	}
	return "neither subnets nor networkInterfaces"
}

// configName names a configuration in messages and the report: its file
// name, or <stdin>.
func configName(file string) string {
	if file == "-" {
		return "<stdin>"
	}
	return file
}
