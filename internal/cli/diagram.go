package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/atomicfile"
	"github.com/teamsgate/teamsgate/internal/diagram"
)

// diagramFormats maps an output's name (a format, or a file extension) to
// the format.
var diagramFormats = map[string]string{
	"svg": "svg", ".svg": "svg",
	"mermaid": "mermaid", ".mmd": "mermaid", ".mermaid": "mermaid",
	"dot": "dot", ".dot": "dot", ".gv": "dot",
	"text": "text", ".txt": "text",
}

func newDiagramCmd(e *env) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "diagram SPEC [-o FILE|FORMAT]",
		Short: "Draw the deployment's flows: SVG, Mermaid, Graphviz DOT, and a numbered text description",
		Long: `diagram plans a deployment spec and draws it: the deployment's parties as
boxes grouped by zone (your network, DMZ, Azure, Microsoft 365, the
Internet) and its flows as numbered arrows labelled with protocol and
ports, coloured by direction (blue inbound, green outbound, grey between
your roles, red denied) and drawn by status (solid documented, dashed
derived, dotted to be confirmed). Parallel flows between the same two
parties are one arrow. The text description numbers every arrow the same
way and lists its flows: the picture's accessible alternative.

-o FILE writes one file, its format from the extension: .svg (laid out and
rendered in-process), .mmd (Mermaid), .dot (Graphviz), .txt (the text).
-o FORMAT (svg, mermaid, dot, text) writes to standard output; the default
is the text. The same spec gives byte-identical output.`,
		Example: `  teamsgate diagram examples/combined.yaml
  teamsgate diagram examples/pexip.yaml -o pexip.svg
  teamsgate diagram examples/messaging-bot.yaml -o mermaid`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: specCompletion,
	}
	catDir := catalogFlag(c)
	c.Flags().StringVarP(&out, "output", "o", "text", "a file (.svg, .mmd, .dot, .txt) or a format for standard output (svg, mermaid, dot, text)")
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion("svg", "mermaid", "dot", "text"))
	c.RunE = func(c *cobra.Command, args []string) error {
		format, file := diagramFormats[out], ""
		if format == "" {
			format, file = diagramFormats[strings.ToLower(filepath.Ext(out))], out
		}
		if format == "" {
			return inputError(fmt.Errorf("-o %q: give a file ending in .svg, .mmd, .dot or .txt, or one of the formats svg, mermaid, dot, text", out))
		}
		pl, err := e.loadPlan(*catDir, args[0])
		if err != nil {
			return err
		}
		d := diagram.Build(pl.Plan, pl.Spec.Name)
		var data []byte
		switch format {
		case "svg":
			if data, err = d.SVG(c.Context()); err != nil {
				return inputError(err)
			}
		case "mermaid":
			data = d.Mermaid()
		case "dot":
			data = d.DOT()
		default:
			data = d.Text()
		}
		if file == "" {
			_, err := e.stdout.Write(data)
			return err
		}
		if err := e.gate.commit(func() error { return atomicfile.WriteFile(file, data, 0o644) }); err != nil {
			return inputError(err)
		}
		return nil
	}
	return c
}
