// Package cli is the teamsgate command line: one file per subcommand, each a
// thin shell over the library packages. Only this package (and the daemons)
// touch files, standard streams and the clock.
package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/teamsgate/teamsgate/internal/diag"
)

// env is what a subcommand may touch of the outside world. Tests replace it.
type env struct {
	stdin io.Reader
	// stdout holds a one-shot command's output until it ends, so that an
	// interrupted or failed run leaves nothing half-printed. A daemon
	// writes straight through.
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
	// tty says stderr is a terminal: long work shows its progress there.
	tty bool
	// progressAfter is how long work runs before its progress shows.
	progressAfter time.Duration
	gate          *gate
}

// streams are the process's standard streams and how the command line
// treats them.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// tty overrides the terminal test on stderr (tests).
	tty           *bool
	progressAfter time.Duration
	// now replaces the clock (tests).
	now func() time.Time
}

// Main runs the teamsgate command line with args (without the program name)
// and returns the process exit code. When ctx is cancelled with a Signal as
// its cause (see NotifyContext), a one-shot command stops at once and Main
// returns 130 (SIGINT) or 143 (SIGTERM), having written nothing: no output
// file, no partial standard output. A daemon (serve) shuts down on its own
// terms and returns its own code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return mainWith(ctx, args, streams{stdin: stdin, stdout: stdout, stderr: stderr, progressAfter: time.Second})
}

func mainWith(ctx context.Context, args []string, s streams) int {
	g := &gate{}
	var out bytes.Buffer
	e := &env{
		stdin:         s.stdin,
		stdout:        &out,
		stderr:        g.writer(s.stderr),
		now:           time.Now,
		tty:           isTerminal(s.stderr),
		progressAfter: s.progressAfter,
		gate:          g,
	}
	if s.tty != nil {
		e.tty = *s.tty
	}
	if s.now != nil {
		e.now = s.now
	}
	root := newRoot(e)
	cmd, _, _ := root.Find(args)
	daemon := cmd != nil && cmd.Annotations[annotDaemon] != ""
	doc := newDocCommand(cmd, args)
	if daemon {
		e.stdout = s.stdout
	}
	root.SetArgs(args)
	root.SetIn(s.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	finishRoot(root)

	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		select {
		case err = <-done:
		default:
			if !daemon && g.stop() {
				code := SignalCode(ctx)
				writeErrorDoc(s.stdout, doc, &exitError{code: code, err: interruptError(ctx)}, code)
				fmt.Fprintf(s.stderr, "teamsgate: %v: stopped, nothing written\n", interruptError(ctx))
				return code
			}
			// A daemon shuts down by itself; a command already writing
			// its output finishes it.
			err = <-done
		}
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) && !daemon {
		err = &exitError{code: SignalCode(ctx), err: interruptError(ctx)}
	}
	code := exitCode(err)
	if err != nil && code != ExitFindings {
		// With a machine-readable -o the failure is a document too;
		// otherwise what the command printed before failing stays unshown
		// rather than half-shown.
		writeErrorDoc(s.stdout, doc, err, code)
		var ee *exitError
		if !errors.As(err, &ee) || ee.err != nil {
			printError(e.stderr, err)
		}
		return code
	}
	if !daemon {
		if _, werr := s.stdout.Write(out.Bytes()); werr != nil && code == ExitOK {
			fmt.Fprintf(s.stderr, "teamsgate: cannot write the output: %v\n", plainError(werr))
			return ExitError
		}
	}
	return code
}

// gate serialises what a command writes against an interruption: once
// stopped, nothing more reaches the user's files or streams; once a command
// has begun committing its output, the interruption waits for it to finish.
type gate struct {
	mu        sync.Mutex // held while a command commits its output
	wmu       sync.Mutex // held while writing to a stream, and to stop
	stopped   bool
	committed bool
}

// stop ends the command's right to write, unless it has already begun
// committing its output. It reports whether the command was stopped.
func (g *gate) stop() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.committed {
		return false
	}
	g.wmu.Lock()
	g.stopped = true
	g.wmu.Unlock()
	return true
}

// errStopped is returned by commit after an interruption.
var errStopped = errors.New("interrupted")

// commit runs fn, which writes the command's output files, unless the
// command was interrupted. An interruption arriving meanwhile waits for fn:
// the output is whole or absent.
func (g *gate) commit(fn func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.wmu.Lock()
	stopped := g.stopped
	g.wmu.Unlock()
	if stopped {
		return errStopped
	}
	g.committed = true
	return fn()
}

type gatedWriter struct {
	g *gate
	w io.Writer
}

func (g *gate) writer(w io.Writer) io.Writer { return &gatedWriter{g: g, w: w} }

func (w *gatedWriter) Write(p []byte) (int, error) {
	w.g.wmu.Lock()
	defer w.g.wmu.Unlock()
	if w.g.stopped {
		return len(p), nil
	}
	return w.w.Write(p)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// maxPrinted is how many diagnostics an error prints before "… and N more".
const maxPrinted = 100

// printError prints an error for people: each diagnostic on its own line as
// FILE:LINE:COL: [SUBJECT: ]MESSAGE, and anything without a position as
// teamsgate: MESSAGE.
func printError(w io.Writer, err error) {
	var le *diag.ListError
	if errors.As(err, &le) {
		printDiags(w, le.List)
		return
	}
	fmt.Fprintf(w, "teamsgate: %s\n", plainError(err))
}

func printDiags(w io.Writer, l diag.List) {
	for i, d := range l {
		if i == maxPrinted {
			fmt.Fprintf(w, "teamsgate: … and %d more\n", len(l)-maxPrinted)
			return
		}
		fmt.Fprintln(w, formatDiag(d))
	}
}

// formatDiag renders a diagnostic in the one style of every error and
// warning the command line prints.
func formatDiag(d diag.Diagnostic) string {
	var parts []string
	if p := d.Pos.String(); p != "" {
		parts = append(parts, p)
	} else {
		parts = append(parts, "teamsgate")
	}
	if d.Severity == diag.Warning {
		parts = append(parts, "warning")
	}
	if d.Subject != "" {
		parts = append(parts, d.Subject)
	}
	parts = append(parts, d.Message)
	return strings.Join(parts, ": ")
}

// warn prints warnings in the style of formatDiag.
func (e *env) warn(l diag.List) { printDiags(e.stderr, l) }

// warnf prints one warning without a position.
func (e *env) warnf(format string, args ...any) {
	fmt.Fprintln(e.stderr, formatDiag(diag.Diagnostic{Severity: diag.Warning, Message: fmt.Sprintf(format, args...)}))
}

// commands lists the subcommands in the order --help shows them.
func commands(e *env) []*cobra.Command {
	return []*cobra.Command{
		newPlanCmd(e),
		newAuditCmd(e),
		newCapacityCmd(e),
		newCatalogCmd(e),
		newCertsCmd(e),
		newDiagramCmd(e),
		newTLSCmd(e),
		newProbeCmd(e),
		newRenderCmd(e),
		newReportCmd(e),
		newServeCmd(e),
		newVersionCmd(e),
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

Errors and warnings print as FILE:LINE:COL: MESSAGE where they have a
position in an input, and as teamsgate: MESSAGE where they have none.`,
		Version:       versionLine(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return inputError(fmt.Errorf("%s (see %s --help)", flagError(c, err), c.CommandPath()))
	})
	for _, c := range commands(e) {
		root.AddCommand(c)
	}
	return root
}

// finishRoot adds what needs the root's streams set first: Cobra's
// completion command writes to the stream the root has when it is made.
func finishRoot(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Long += "\n\nThe README's \"Shell completion\" section shows how to load it for good."
		}
	}
	addExitCodes(root)
}

// readInput reads a named file, or standard input for "-", up to max
// bytes: a larger input is refused before it is read whole.
func (e *env) readInput(what, name string, max int64) ([]byte, error) {
	var r io.Reader = e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fileError(what, name, err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return nil, fmt.Errorf("%s %q is a directory, not a file", what, name)
		}
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fileError(what, name, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s %s is larger than %s, the most teamsgate reads (see the README's limits)", what, displayName(name), byteSize(max))
	}
	return data, nil
}

// displayName names an input for messages: its file name, quoted, or
// standard input.
func displayName(name string) string {
	if name == "-" {
		return "<stdin>"
	}
	return fmt.Sprintf("%q", name)
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
