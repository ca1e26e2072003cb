package cli

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/render/targets"
	"github.com/teamsgate/teamsgate/internal/spec"
	"github.com/teamsgate/teamsgate/internal/suggest"
)

// Shell completion of values: targets, formats, roles (read from the spec
// on the command line), integrations and catalog ids. Cobra's completion
// command writes the scripts; these functions feed them.

type completeFunc = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective)

// fixedCompletion completes one of a fixed list of values.
func fixedCompletion(vals ...string) completeFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return vals, cobra.ShellCompDirectiveNoFileComp
	}
}

// specCompletion completes a spec file argument: YAML files.
func specCompletion(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

func targetCompletion(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, t := range targets.All() {
		out = append(out, t.Name()+"\t"+t.Description())
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// roleCompletion completes --scope with the roles the spec on the command
// line binds, both as ROLE and as INTEGRATION/ROLE.
func roleCompletion(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 || args[0] == "-" {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	cat, err := loadCatalog(flagValue(c, "catalog"))
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	s, _ := spec.Parse(data, args[0], cat)
	if s == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	seen := map[string]bool{}
	var out []string
	for _, u := range s.Uses {
		for r := range u.Roles {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
			out = append(out, u.Integration+"/"+r)
		}
	}
	sort.Strings(out)
	return out, cobra.ShellCompDirectiveNoFileComp
}

// catalogIDCompletion completes catalog show: integrations and flow ids.
func catalogIDCompletion(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	cat, err := loadCatalog(flagValue(c, "catalog"))
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return catalogIDs(cat), cobra.ShellCompDirectiveNoFileComp
}

// catalogIDs lists every integration and flow id of a catalog.
func catalogIDs(cat *catalog.Catalog) []string {
	var out []string
	for _, id := range cat.IntegrationNames() {
		out = append(out, id)
		for _, f := range cat.Integrations[id].Flows {
			out = append(out, f.ID)
		}
	}
	return out
}

func flagValue(c *cobra.Command, name string) string {
	if f := c.Flags().Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// checkFormat refuses an output format the command does not write, with
// the closest one as a hint.
func checkFormat(format string, valid ...string) error {
	for _, v := range valid {
		if format == v {
			return nil
		}
	}
	return inputError(fmt.Errorf("unknown output format %q%s (want %s)", format, suggest.Hint(format, valid), strings.Join(valid, ", ")))
}
