package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/plan"
)

func newPlanCmd(e *env) *cobra.Command {
	var format, since string
	c := &cobra.Command{
		Use:   "plan SPEC",
		Short: "List every rule a deployment must allow, with purpose and reference",
		Long: `plan reads a deployment spec (YAML: cloud, integrations, the addresses of
your roles, parameters; "-" reads it from standard input) and prints every
rule the deployment needs: nothing missing, nothing extra. Each rule
carries its purpose, its condition, its status (documented, derived,
to-be-confirmed) and the document section it comes from.

Output formats (-o): table (default), json (schema in docs/plan-json.md),
csv, markdown. Warnings follow the table (and the markdown), go into the
"warnings" field in JSON, and go to standard error with csv. A failed run
with -o json writes an error document (docs/plan-json.md, "Errors").

--since OLD plans the spec with the catalog directory OLD as well and lists
only the difference: the rules to add, to remove, and those whose
addresses, hosts or ports change (-o table or json; docs/plan-json.md,
"Delta"). After catalog update, OLD is DIR.previous.`,
		Example: `  teamsgate plan examples/messaging-bot.yaml
  teamsgate plan examples/combined.yaml -o json
  cat examples/pexip.yaml | teamsgate plan - -o csv`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: specCompletion,
	}
	catDir := catalogFlag(c)
	c.Flags().StringVarP(&format, "output", "o", "table", "output format: "+strings.Join(plan.Formats, ", "))
	c.Flags().StringVar(&since, "since", "", "list only the rule changes from the catalog directory OLD to --catalog")
	_ = c.MarkFlagDirname("since")
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion(plan.Formats...))
	c.RunE = func(c *cobra.Command, args []string) error {
		if since != "" {
			if err := checkFormat(format, plan.DeltaFormats...); err != nil {
				return err
			}
			old, pl, err := e.loadPlans(since, *catDir, args[0])
			if err != nil {
				return err
			}
			return plan.WriteDelta(e.stdout, plan.Diff(old.Plan, pl.Plan), format)
		}
		if err := checkFormat(format, plan.Formats...); err != nil {
			return err
		}
		pl, err := e.loadPlan(*catDir, args[0])
		if err != nil {
			return err
		}
		if format == "csv" {
			// A CSV file has no place for them: they go to standard
			// error rather than nowhere.
			e.warn(pl.Warnings)
		}
		return plan.WriteFormat(e.stdout, pl.Plan, format)
	}
	return c
}
