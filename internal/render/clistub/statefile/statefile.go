// Package statefile reads and writes the JSON file in which a stand-in CLI
// keeps its state between calls. A stub is a new process for every call a
// script makes, so the file is its memory; the tests read the same file to
// see what the script did. The stub programs import this package, so it
// must not import testing.
package statefile

import (
	"encoding/json"
	"fmt"
	"os"
)

// Call is one invocation of a stub, as it logs it: its arguments and the
// working directory it ran in.
type Call struct {
	Args []string `json:"args"`
	Dir  string   `json:"dir"`
}

// Log is the calls a stub has had, first to last. A stub's state embeds
// it, so that the file holds them as "calls".
type Log struct {
	Calls []Call `json:"calls"`
}

// Record logs a call with args, made in the current working directory, and
// returns its number, counting from 1.
func (l *Log) Record(args []string) int {
	dir, _ := os.Getwd()
	l.Calls = append(l.Calls, Call{Args: args, Dir: dir})
	return len(l.Calls)
}

// State is a stub's state: a pointer to a struct that embeds Log.
type State interface {
	Record(args []string) int
}

// Update carries out one call of a stub, with arguments args: it reads the
// state file at path into st, records the call, lets run carry out the
// call, given its number, and saves st, whatever run did: a call that
// fails is logged too, which is how the tests see where a script stopped.
// Update fails only when the state file cannot be read or written.
func Update(path string, st State, args []string, run func(n int)) error {
	if err := read(path, st); err != nil {
		return err
	}
	run(st.Record(args))
	return Save(path, st)
}

// Load reads the state file at path into a new S.
func Load[S any](path string) (*S, error) {
	var st S
	if err := read(path, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func read(path string, st any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Save writes st to the state file at path, indented so that a failing
// test's state can be read.
func Save(path string, st any) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
