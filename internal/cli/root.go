// Package cli is the teamsgate command line: one file per subcommand, each a
// thin shell over the library packages. Only this package (and the daemons)
// touch files, standard streams and the clock.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/diag"
)

// env is what a subcommand may touch of the outside world. Tests replace it.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
}

// Main runs the teamsgate command line with args (without the program name)
// and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil {
		var ee *exitError
		switch {
		case errors.As(err, &ee) && ee.err == nil:
			// The command printed its own report.
		default:
			printError(stderr, err)
		}
	}
	return exitCode(err)
}

func printError(w io.Writer, err error) {
	var le *diag.ListError
	if errors.As(err, &le) {
		for _, d := range le.List {
			fmt.Fprintln(w, d.String())
		}
		return
	}
	fmt.Fprintf(w, "teamsgate: %v\n", err)
}

// commands lists the subcommands in the order --help shows them.
func commands(e *env) []*cobra.Command {
	return []*cobra.Command{
		newPlanCmd(e),
		newAuditCmd(e),
		newCapacityCmd(e),
		newCatalogCmd(e),
		newCertsCmd(e),
		newTLSCmd(e),
		newRenderCmd(e),
		newServeCmd(e),
	}
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "teamsgate",
		Short: "Network requirements of Microsoft Teams integrations, made real",
		Long: `teamsgate knows every network flow that a Teams messaging bot, a Teams calling
bot, the Pexip Teams Connector and TeamsPro need. It plans them for your
deployment, renders them for the firewall you run, audits the firewall you
already have, checks certificates, and can enforce the flows itself.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return inputError(fmt.Errorf("%w (see %s --help)", err, c.CommandPath()))
	})
	for _, c := range commands(e) {
		if c.Long == "" {
			c.Long = c.Short
		}
		c.Long += "\n\n" + exitCodesHelp
		root.AddCommand(c)
	}
	return root
}

// readInput reads a named file, or standard input for "-".
func (e *env) readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(e.stdin)
	}
	return os.ReadFile(name)
}
