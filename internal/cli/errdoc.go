package cli

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/diag"
)

// machineFormats are the -o formats a pipeline reads with a program. A run
// that fails with one of them still writes a document in it (to standard
// output, where the report would have gone), so that a step that uploads
// or parses the file always has one.
var machineFormats = map[string]bool{"json": true, "sarif": true, "junit": true}

// outputFormat finds the -o/--output value in the command line, without
// the flag parser (the command may still be running when an interruption
// needs it). Only commands whose -o is a format count.
func outputFormat(cmd *cobra.Command, args []string) string {
	if cmd == nil || cmd.Flags().Lookup("output") == nil {
		return ""
	}
	format := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return format
		case a == "-o" || a == "--output":
			if i+1 < len(args) {
				format = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--output="):
			format = strings.TrimPrefix(a, "--output=")
		case strings.HasPrefix(a, "-o") && len(a) > 2 && !strings.HasPrefix(a, "--"):
			format = strings.TrimPrefix(strings.TrimPrefix(a, "-o"), "=")
		}
	}
	return format
}

// errorJSON is the -o json document of a failed run (docs/plan-json.md,
// "Errors"): ok false, and the error with its exit code, its diagnostics
// and whatever fields the command adds (see fieldsError).
type errorJSON struct {
	OK    bool           `json:"ok"`
	Error map[string]any `json:"error"`
}

// fieldsError is an error that adds fields to the error document: what a
// program reading it can branch on (tls check's failure kind, say).
type fieldsError struct {
	err    error
	fields map[string]any
}

func (e *fieldsError) Error() string { return e.err.Error() }

func (e *fieldsError) Unwrap() error { return e.err }

// docCommand is what an error document says of the command that failed,
// read before the command runs: an interruption writes the document while
// the command may still be setting up its flags.
type docCommand struct {
	path, name string
	// format is the -o value when the command's -o is an output format.
	format string
}

func newDocCommand(cmd *cobra.Command, args []string) docCommand {
	if cmd == nil {
		return docCommand{path: "teamsgate", name: "teamsgate"}
	}
	return docCommand{path: cmd.CommandPath(), name: cmd.Name(), format: outputFormat(cmd, args)}
}

// errDiagnostics returns the diagnostics of err, or one holding its text.
func errDiagnostics(err error) diag.List {
	var le *diag.ListError
	if errors.As(err, &le) {
		return le.List
	}
	return diag.List{{Severity: diag.Error, Message: plainError(err)}}
}

// writeErrorDoc writes err as a document in the machine-readable format the
// command line asked for, if it asked for one. It reports whether it wrote.
func writeErrorDoc(w io.Writer, cmd docCommand, err error, code int) bool {
	format := cmd.format
	if !machineFormats[format] || err == nil {
		return false
	}
	ds := errDiagnostics(err)
	if len(ds) > maxPrinted {
		more := len(ds) - maxPrinted
		ds = append(ds[:maxPrinted:maxPrinted], diag.Diagnostic{Severity: diag.Error, Message: "… and " + strconv.Itoa(more) + " more"})
	}
	msg := strings.TrimPrefix(formatDiag(ds[0]), "teamsgate: ")
	if len(ds) > 1 {
		msg += " (and " + strconv.Itoa(len(ds)-1) + " more)"
	}
	switch format {
	case "json":
		detail := map[string]any{}
		var fe *fieldsError
		if errors.As(err, &fe) {
			for k, v := range fe.fields {
				detail[k] = v
			}
		}
		detail["exit_code"], detail["message"], detail["diagnostics"], detail["command"] = code, msg, ds, cmd.path
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		_ = enc.Encode(errorJSON{Error: detail})
	case "sarif":
		_ = writeSARIFError(w, cmd, ds, code)
	case "junit":
		_ = writeJUnitError(w, cmd, ds, msg)
	}
	return true
}

// The SARIF 2.1.0 of a run that could not complete: no results, the
// invocation marked unsuccessful, each problem a tool execution
// notification located in its input (SARIF §3.20.21, §3.58).
type sarifErrLog struct {
	Schema  string        `json:"$schema"`
	Version string        `json:"version"`
	Runs    []sarifErrRun `json:"runs"`
}

type sarifErrRun struct {
	Tool        sarifErrTool         `json:"tool"`
	Invocations []sarifErrInvocation `json:"invocations"`
	Results     []struct{}           `json:"results"`
}

type sarifErrTool struct {
	Driver struct {
		Name           string `json:"name"`
		InformationURI string `json:"informationUri"`
	} `json:"driver"`
}

type sarifErrInvocation struct {
	ExecutionSuccessful bool                   `json:"executionSuccessful"`
	ExitCode            int                    `json:"exitCode"`
	CommandLine         string                 `json:"commandLine"`
	Notifications       []sarifErrNotification `json:"toolExecutionNotifications"`
}

type sarifErrNotification struct {
	Level   string `json:"level"`
	Message struct {
		Text string `json:"text"`
	} `json:"message"`
	Locations []sarifErrLocation `json:"locations,omitempty"`
}

type sarifErrLocation struct {
	Physical struct {
		Artifact struct {
			URI string `json:"uri"`
		} `json:"artifactLocation"`
		Region *sarifErrRegion `json:"region,omitempty"`
	} `json:"physicalLocation"`
}

type sarifErrRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

func writeSARIFError(w io.Writer, cmd docCommand, ds diag.List, code int) error {
	var tool sarifErrTool
	tool.Driver.Name = "teamsgate"
	tool.Driver.InformationURI = "https://github.com/teamsgate/teamsgate/blob/main/docs/audit.md"
	inv := sarifErrInvocation{ExitCode: code, CommandLine: cmd.path}
	for _, d := range ds {
		n := sarifErrNotification{Level: "error"}
		if d.Severity == diag.Warning {
			n.Level = "warning"
		}
		n.Message.Text = d.Message
		if d.Subject != "" {
			n.Message.Text = d.Subject + ": " + d.Message
		}
		if d.Pos.File != "" {
			var loc sarifErrLocation
			loc.Physical.Artifact.URI = d.Pos.File
			if d.Pos.Line > 0 {
				loc.Physical.Region = &sarifErrRegion{StartLine: d.Pos.Line, StartColumn: d.Pos.Col}
			}
			n.Locations = append(n.Locations, loc)
		}
		inv.Notifications = append(inv.Notifications, n)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifErrLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifErrRun{{Tool: tool, Invocations: []sarifErrInvocation{inv}, Results: []struct{}{}}},
	})
}

// The JUnit XML of a run that could not complete: one test case, "input",
// in error (not failed: nothing was checked), with every problem as text.
type junitErrSuites struct {
	XMLName xml.Name        `xml:"testsuites"`
	Name    string          `xml:"name,attr"`
	Tests   int             `xml:"tests,attr"`
	Errors  int             `xml:"errors,attr"`
	Suites  []junitErrSuite `xml:"testsuite"`
}

type junitErrSuite struct {
	Name   string         `xml:"name,attr"`
	Tests  int            `xml:"tests,attr"`
	Errors int            `xml:"errors,attr"`
	Cases  []junitErrCase `xml:"testcase"`
}

type junitErrCase struct {
	Name      string `xml:"name,attr"`
	Classname string `xml:"classname,attr"`
	Error     struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	} `xml:"error"`
}

func writeJUnitError(w io.Writer, cmd docCommand, ds diag.List, msg string) error {
	c := junitErrCase{Name: "input", Classname: "teamsgate." + cmd.name}
	c.Error.Message = msg
	c.Error.Type = "input"
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = formatDiag(d)
	}
	c.Error.Text = strings.Join(lines, "\n")
	doc := junitErrSuites{Name: cmd.path, Tests: 1, Errors: 1, Suites: []junitErrSuite{{Name: cmd.path, Tests: 1, Errors: 1, Cases: []junitErrCase{c}}}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
