package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/plan"
)

func newPlanCmd(e *env) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "plan SPEC",
		Short: "List every rule a deployment must allow, with purpose and reference",
		Long: `plan reads a deployment spec (YAML: cloud, integrations, the addresses of
your roles, parameters) and prints every rule the deployment needs: nothing
missing, nothing extra. Each rule carries its purpose, its condition, its
status (documented, derived, to-be-confirmed) and the document section it
comes from.

Output formats (-o): table (default), json (schema in docs/plan-json.md),
csv, markdown. Warnings follow the table (and the markdown), and go into
the "warnings" field in JSON.`,
		Example: `  teamsgate plan examples/messaging-bot.yaml
  teamsgate plan examples/combined.yaml -o json`,
		Args: cobra.ExactArgs(1),
	}
	catDir := catalogFlag(c)
	c.Flags().StringVarP(&format, "output", "o", "table", "output format: "+strings.Join(plan.Formats, ", "))
	c.RunE = func(c *cobra.Command, args []string) error {
		if !validFormat(format, plan.Formats) {
			return inputError(fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(plan.Formats, ", ")))
		}
		pl, err := loadPlan(*catDir, args[0])
		if err != nil {
			return err
		}
		return plan.WriteFormat(e.stdout, pl.plan, format)
	}
	return c
}

func validFormat(f string, valid []string) bool {
	for _, v := range valid {
		if f == v {
			return true
		}
	}
	return false
}
