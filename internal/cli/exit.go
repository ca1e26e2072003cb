package cli

import (
	"errors"
	"fmt"
)

// Exit codes, stated in every command's help so that a pipeline can gate on
// them.
const (
	// ExitOK: the command did its job and found nothing to report.
	ExitOK = 0
	// ExitError: bad usage or unusable input (a malformed spec, a wrong
	// password, an unreadable file). Nothing was written.
	ExitError = 1
	// ExitFindings: the command ran and found problems (audit findings,
	// failed certificate checks).
	ExitFindings = 3
)

const exitCodesHelp = `Exit codes:
  0  ok
  1  usage or input error (nothing written)
  3  findings (audit differences, failed certificate or TLS checks)`

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
