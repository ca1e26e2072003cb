// Command azstub stands in for the Azure CLI in the tests that run nsg.sh
// and nsg-delta.sh: the tests build it as "az" into a directory first on
// PATH. It keeps resource groups and their NSGs in the JSON file named by
// AZSTUB_STATE and answers as azure-cli does for the commands those scripts
// use:
//
//   - `network nsg show` of a missing NSG prints "(ResourceNotFound) The
//     Resource 'Microsoft.Network/networkSecurityGroups/NAME' under resource
//     group 'RG' was not found" and exits 3, azure-cli's status for a show
//     command whose resource is missing; of a missing resource group,
//     "(ResourceGroupNotFound)", also 3;
//   - `network nsg create` is a PUT of the whole NSG with no securityRules,
//     as azure-cli's generated command sends it: on an existing NSG it
//     empties the rule list and drops the tags;
//   - `network nsg rule create` is a PUT of one rule by name: it replaces a
//     rule of that name, fails with ParentResourceNotFound without the NSG
//     and with SecurityRuleConflict when another rule has the same priority
//     and direction;
//   - `network nsg rule update` reads the rule and PUTs it back with the
//     options given in place of its own values, each list whole, as
//     azure-cli's generated update does (GET, then PUT): a missing rule is
//     "(NotFound)", exit status 3 (azure-cli's status for a missing
//     resource); a priority given is checked as create checks it;
//   - `network nsg rule delete` removes a rule by name; a rule that does
//     not exist is no error: the REST API answers a DELETE of a missing
//     security rule with 204 No Content ("Security Rules - Delete") and
//     azure-cli exits 0 (Azure/azure-sdk-for-python#22934). Without the
//     NSG it fails like the other rule commands (ParentResourceNotFound);
//     what Azure answers there is not documented, and the scripts check
//     the NSG before any rule call;
//   - AZSTUB_FAIL=K makes the K-th call fail, and AZSTUB_FAIL_CMD="network
//     nsg show" every call of that command, without changing anything:
//     AuthorizationFailed, exit status 1.
//
// Other errors exit 1 and argument errors 2, as azure-cli does.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/teamsgate/teamsgate/internal/render/clistub/az"
	"github.com/teamsgate/teamsgate/internal/render/clistub/statefile"
)

func main() {
	os.Exit(azStub(os.Args[1:], os.Stdout, os.Stderr))
}

func azStub(args []string, stdout, stderr io.Writer) int {
	var st az.State
	var out []byte
	var msg string
	var status int
	if err := statefile.Update(os.Getenv(az.EnvState), &st, args, func(n int) { out, msg, status = run(&st, args, n) }); err != nil {
		fmt.Fprintf(stderr, "az stub: %v\n", err)
		return 1
	}
	if status != 0 {
		fmt.Fprint(stderr, msg)
		return status
	}
	stdout.Write(out)
	return 0
}

// azArgs splits a command line into its command words and its options,
// each with the values up to the next option.
func azArgs(args []string) (cmd string, opts map[string][]string, err error) {
	var words []string
	i := 0
	for ; i < len(args) && !strings.HasPrefix(args[i], "--"); i++ {
		words = append(words, args[i])
	}
	opts = map[string][]string{}
	var cur string
	for ; i < len(args); i++ {
		if strings.HasPrefix(args[i], "--") {
			cur = args[i]
			if _, dup := opts[cur]; dup {
				return "", nil, fmt.Errorf("argument %s: expected one argument", cur)
			}
			opts[cur] = []string{}
			continue
		}
		opts[cur] = append(opts[cur], args[i])
	}
	return strings.Join(words, " "), opts, nil
}

// run carries out one call, the n-th, on the state: standard output, or an
// error message and exit status.
func run(st *az.State, args []string, n int) ([]byte, string, int) {
	cmd, opts, err := azArgs(args)
	if err != nil {
		return nil, "ERROR: " + err.Error() + "\n", 2
	}
	allowed := map[string][]string{
		"network nsg show":        {"--resource-group", "--name", "--output"},
		"network nsg create":      {"--resource-group", "--name", "--output"},
		"network nsg rule create": {"--resource-group", "--nsg-name", "--name", "--priority", "--direction", "--access", "--protocol", "--source-address-prefixes", "--source-port-ranges", "--destination-address-prefixes", "--destination-port-ranges", "--description", "--output"},
		"network nsg rule update": {"--resource-group", "--nsg-name", "--name", "--priority", "--direction", "--access", "--protocol", "--source-address-prefixes", "--source-port-ranges", "--destination-address-prefixes", "--destination-port-ranges", "--description", "--output"},
		"network nsg rule delete": {"--resource-group", "--nsg-name", "--name", "--output"},
	}[cmd]
	if allowed == nil {
		return nil, fmt.Sprintf("ERROR: '%s' is misspelled or not recognized by the system.\n", cmd), 2
	}
	one := map[string]string{}
	for o, v := range opts {
		if !slices.Contains(allowed, o) {
			return nil, fmt.Sprintf("ERROR: unrecognized arguments: %s\n", o), 2
		}
		if !strings.HasSuffix(o, "es") && len(v) != 1 {
			return nil, fmt.Sprintf("ERROR: argument %s: expected one argument\n", o), 2
		}
		if len(v) == 0 {
			return nil, fmt.Sprintf("ERROR: argument %s: expected at least one argument\n", o), 2
		}
		if len(v) == 1 {
			one[o] = v[0]
		}
	}
	k, _ := strconv.Atoi(os.Getenv(az.EnvFail))
	if k == n || os.Getenv(az.EnvFailCmd) == cmd {
		return nil, "ERROR: (AuthorizationFailed) The client 'stub@example.com' with object id '00000000-0000-0000-0000-000000000000' does not have authorization to perform action 'Microsoft.Network/networkSecurityGroups/read' over scope '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/" + one["--resource-group"] + "' or the scope is invalid. If access was recently granted, please refresh your credentials.\nCode: AuthorizationFailed\n", 1
	}
	rgName := one["--resource-group"]
	rg := st.ResourceGroups[rgName]
	notFound := 1
	if cmd == "network nsg show" {
		notFound = 3
	}
	if rg == nil {
		return nil, fmt.Sprintf("ERROR: (ResourceGroupNotFound) Resource group '%s' could not be found.\nCode: ResourceGroupNotFound\nMessage: Resource group '%s' could not be found.\n", rgName, rgName), notFound
	}
	switch cmd {
	case "network nsg show":
		g := rg.NSGs[one["--name"]]
		if g == nil {
			return nil, fmt.Sprintf("ERROR: (ResourceNotFound) The Resource 'Microsoft.Network/networkSecurityGroups/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix\nCode: ResourceNotFound\nMessage: The Resource 'Microsoft.Network/networkSecurityGroups/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix\n", one["--name"], rgName, one["--name"], rgName), notFound
		}
		if one["--output"] == "none" {
			return nil, "", 0
		}
		b, _ := json.MarshalIndent(map[string]any{"name": one["--name"], "securityRules": g.Rules}, "", "  ")
		return append(b, '\n'), "", 0
	case "network nsg create":
		// A PUT of the whole resource without securityRules.
		if rg.NSGs == nil {
			rg.NSGs = map[string]*az.NSG{}
		}
		rg.NSGs[one["--name"]] = &az.NSG{Rules: []az.Rule{}}
		return nil, "", 0
	}
	g := rg.NSGs[one["--nsg-name"]]
	if g == nil {
		return nil, fmt.Sprintf("ERROR: (ParentResourceNotFound) Can not perform requested operation on nested resource. Parent resource '%s' not found.\nCode: ParentResourceNotFound\n", one["--nsg-name"]), 1
	}
	switch cmd {
	case "network nsg rule delete":
		g.Rules = slices.DeleteFunc(g.Rules, func(e az.Rule) bool { return strings.EqualFold(e.Name, one["--name"]) })
		return nil, "", 0
	case "network nsg rule update":
		i := slices.IndexFunc(g.Rules, func(e az.Rule) bool { return strings.EqualFold(e.Name, one["--name"]) })
		if i < 0 {
			id := fmt.Sprintf("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/%s/providers/Microsoft.Network/networkSecurityGroups/%s/securityRules/%s", rgName, one["--nsg-name"], one["--name"])
			return nil, fmt.Sprintf("ERROR: (NotFound) Resource %s not found.\nCode: NotFound\nMessage: Resource %s not found.\n", id, id), 3
		}
		r := g.Rules[i]
		if _, ok := one["--priority"]; !ok {
			one["--priority"] = strconv.Itoa(r.Priority)
		}
		for o, p := range map[string]*string{"--direction": &r.Direction, "--access": &r.Access, "--protocol": &r.Protocol, "--description": &r.Description} {
			if v, ok := one[o]; ok {
				*p = v
			}
		}
		for o, p := range map[string]*[]string{"--source-address-prefixes": &r.Src, "--source-port-ranges": &r.SrcPorts, "--destination-address-prefixes": &r.Dst, "--destination-port-ranges": &r.DstPorts} {
			if v, ok := opts[o]; ok {
				*p = v
			}
		}
		return putRule(g, r, one["--priority"])
	}
	return putRule(g, az.Rule{
		Name: one["--name"], Direction: one["--direction"], Access: one["--access"], Protocol: one["--protocol"],
		Src: opts["--source-address-prefixes"], SrcPorts: opts["--source-port-ranges"],
		Dst: opts["--destination-address-prefixes"], DstPorts: opts["--destination-port-ranges"],
		Description: one["--description"],
	}, one["--priority"])
}

// putRule is the PUT of one security rule by name, as create sends it and
// update after reading the rule: it checks the rule as Azure does and
// replaces the rule of that name.
func putRule(g *az.NSG, r az.Rule, priority string) ([]byte, string, int) {
	prio, err := strconv.Atoi(priority)
	if err != nil || prio < 100 || prio > 4096 {
		return nil, fmt.Sprintf("ERROR: (SecurityRuleInvalidPriority) Security rule has invalid Priority %q. Value provided: %s Allowed range 100-4096.\n", priority, priority), 1
	}
	r.Priority = prio
	if !slices.Contains([]string{"Inbound", "Outbound"}, r.Direction) || !slices.Contains([]string{"Allow", "Deny"}, r.Access) {
		return nil, fmt.Sprintf("ERROR: argument --direction/--access: invalid choice: %s/%s\n", r.Direction, r.Access), 2
	}
	if len(r.Src) == 0 || len(r.SrcPorts) == 0 || len(r.Dst) == 0 || len(r.DstPorts) == 0 {
		return nil, "ERROR: (SecurityRuleParameterContainsUnsupportedValue) Security rule parameter is missing.\n", 1
	}
	for _, e := range g.Rules {
		if !strings.EqualFold(e.Name, r.Name) && e.Priority == r.Priority && e.Direction == r.Direction {
			return nil, fmt.Sprintf("ERROR: (SecurityRuleConflict) Security rule %s conflicts with rule %s. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules.\nCode: SecurityRuleConflict\n", r.Name, e.Name), 1
		}
	}
	g.Rules = slices.DeleteFunc(g.Rules, func(e az.Rule) bool { return strings.EqualFold(e.Name, r.Name) })
	g.Rules = append(g.Rules, r)
	return nil, "", 0
}
