package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/teamsgate/teamsgate/internal/atomicfile"
	"github.com/teamsgate/teamsgate/internal/suggest"
)

// Exit codes. Each command's --help lists the ones it can return, so that a
// pipeline can gate on them.
const (
	// ExitOK: the command did its job and found nothing to report.
	ExitOK = 0
	// ExitError: bad usage or unusable input (a malformed spec, a wrong
	// password, an unreadable file). Nothing was written.
	ExitError = 1
	// ExitFindings: the command ran and found problems (audit findings,
	// failed certificate or TLS checks).
	ExitFindings = 3
	// ExitUnavailable: a remote service the command needs could not be
	// reached, answered wrongly, or asked to wait (catalog update and the
	// Microsoft 365 web service). Nothing was written; try again later.
	ExitUnavailable = 4
	// ExitInterrupted: stopped by SIGINT (Ctrl-C), 128+2 as shells report
	// it. Nothing was written.
	ExitInterrupted = 130
	// ExitTerminated: stopped by SIGTERM, 128+15. Nothing was written.
	ExitTerminated = 143
)

// Annotations a command sets to describe its exit codes.
const (
	// annotFindings holds what exit code 3 means for the command; a
	// command without it never returns 3.
	annotFindings = "teamsgate/findings"
	// annotUnavailable holds what exit code 4 means for the command.
	annotUnavailable = "teamsgate/unavailable"
	// annotDaemon marks a daemon: it handles signals itself and has its
	// own exit codes.
	annotDaemon = "teamsgate/daemon"
)

// Signal is the cause a context is cancelled with when the process gets
// SIGINT or SIGTERM (see NotifyContext).
type Signal struct{ os.Signal }

func (s Signal) Error() string { return "interrupted by " + signalName(s.Signal) }

func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// NotifyContext returns a context cancelled, with a Signal as its cause,
// when the process receives SIGINT or SIGTERM, and a function that stops
// listening.
func NotifyContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	stop := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(Signal{s})
		case <-stop:
		}
	}()
	var once bool
	return ctx, func() {
		if !once {
			once = true
			signal.Stop(ch)
			close(stop)
			cancel(nil)
		}
	}
}

// SignalCode is the exit code for a context cancelled by a signal: 130 for
// SIGINT, 143 for SIGTERM (and for any other cancellation).
func SignalCode(ctx context.Context) int {
	var s Signal
	if errors.As(context.Cause(ctx), &s) && s.Signal == os.Interrupt {
		return ExitInterrupted
	}
	return ExitTerminated
}

func interruptError(ctx context.Context) error {
	var s Signal
	if errors.As(context.Cause(ctx), &s) {
		return s
	}
	return errors.New("interrupted")
}

// exitError carries an exit code out of a command's RunE. A nil err with a
// code means the command already printed what it had to say.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// findings returns the error that makes Main exit with ExitFindings after the
// command printed its report.
func findings() error { return &exitError{code: ExitFindings} }

// inputError wraps err so that Main prints it and exits with ExitError.
func inputError(err error) error { return &exitError{code: ExitError, err: err} }

func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitError
}

// exitCodes returns the codes a command can return, with their meaning.
func exitCodes(c *cobra.Command) [][2]string {
	if c.Annotations[annotDaemon] != "" {
		return [][2]string{
			{"0", "stopped by SIGTERM or SIGINT after a graceful shutdown (or --check passed)"},
			{"1", "usage or input error, or a listener that could not start or failed"},
		}
	}
	codes := [][2]string{{"0", "ok"}, {"1", "usage or input error (nothing written)"}}
	if f := findingsText(c); f != "" {
		codes = append(codes, [2]string{"3", f})
	}
	if u := annotated(c, annotUnavailable); u != "" {
		codes = append(codes, [2]string{"4", u})
	}
	return append(codes,
		[2]string{"130", "interrupted by SIGINT (Ctrl-C): stopped at once, nothing written"},
		[2]string{"143", "terminated by SIGTERM: stopped at once, nothing written"})
}

// findingsText is what exit code 3 means for c, or for any of its
// subcommands when c is a group.
func findingsText(c *cobra.Command) string { return annotated(c, annotFindings) }

// annotated is the annotation key of c, or of each of its subcommands
// that has it, named, when c is a group.
func annotated(c *cobra.Command, key string) string {
	if f := c.Annotations[key]; f != "" {
		return f
	}
	var texts []string
	for _, sub := range c.Commands() {
		if f := annotated(sub, key); f != "" {
			texts = append(texts, sub.Name()+": "+f)
		}
	}
	return strings.Join(texts, "; ")
}

func exitHelp(codes [][2]string) string {
	var b strings.Builder
	b.WriteString("Exit codes:")
	for _, c := range codes {
		fmt.Fprintf(&b, "\n  %-3s  %s", c[0], c[1])
	}
	return b.String()
}

// addExitCodes appends each command's exit codes to its help, and every
// code to the root's.
func addExitCodes(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden {
				continue
			}
			if sub.Long == "" {
				sub.Long = sub.Short
			}
			sub.Long += "\n\n" + exitHelp(exitCodes(sub))
			walk(sub)
		}
	}
	walk(root)
	root.Long += "\n\n" + exitHelp([][2]string{
		{"0", "ok"},
		{"1", "usage or input error (nothing written)"},
		{"3", "findings: audit differences, failed certificate or TLS checks, probed flows that did not get through"},
		{"4", "catalog update: the Microsoft 365 web service could not be reached or asked to wait (nothing written)"},
		{"130", "interrupted by SIGINT (Ctrl-C): stopped at once, nothing written"},
		{"143", "terminated by SIGTERM: stopped at once, nothing written"},
	}) + "\n\nEach command's --help lists the codes it can return."
}

var invalidArgRE = regexp.MustCompile(`^invalid argument "(.*)" for "(?:-\w, )?(--[\w-]+)" flag: (.*)$`)

// flagError rewrites the flag parser's errors in the user's terms.
func flagError(c *cobra.Command, err error) string {
	msg := err.Error()
	if m := invalidArgRE.FindStringSubmatch(msg); m != nil {
		val, flag, why := m[1], m[2], m[3]
		switch {
		case strings.Contains(why, "strconv.ParseInt"), strings.Contains(why, "strconv.ParseUint"), strings.Contains(why, "strconv.Atoi"):
			if strings.Contains(why, "out of range") {
				return fmt.Sprintf("%s %q: out of range", flag, val)
			}
			return fmt.Sprintf("%s %q: want a whole number", flag, val)
		case strings.Contains(why, "strconv.ParseFloat"):
			return fmt.Sprintf("%s %q: want a number", flag, val)
		case strings.Contains(why, "strconv.ParseBool"):
			return fmt.Sprintf("%s %q: want true or false", flag, val)
		case strings.HasPrefix(why, "time: "):
			return fmt.Sprintf("%s %q: want a duration such as 10s, 500ms or 1m", flag, val)
		}
		return fmt.Sprintf("%s %q: %s", flag, val, why)
	}
	if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		var names []string
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				names = append(names, f.Name)
			}
		})
		sort.Strings(names)
		if s := suggest.Closest(name, names); s != "" {
			return fmt.Sprintf("unknown flag --%s (did you mean --%s?)", name, s)
		}
		return "unknown flag --" + name
	}
	return msg
}

// fileError says why a file given on the command line cannot be read, in
// the user's terms.
func fileError(what, name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s %q: no such file", what, name)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s %q: permission denied", what, name)
	case errors.Is(err, syscall.EISDIR):
		return fmt.Errorf("%s %q is a directory, not a file", what, name)
	}
	return fmt.Errorf("%s %s: %s", what, displayName(name), atomicfile.Reason(err))
}

// plainError is err's text without the system call and path that Go's file
// errors carry when they reach the user unwrapped.
func plainError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) && err == error(pe) {
		return fmt.Sprintf("%q: %s", pe.Path, pe.Err)
	}
	return err.Error()
}
