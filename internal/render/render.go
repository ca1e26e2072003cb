// Package render turns a Plan into the configuration of a firewall. Each
// target is its own package implementing Renderer; they are listed, in
// order, in internal/render/targets/registry.go.
//
// A target starts from the plan as its firewall sees it (view.Prepare),
// which fails closed on anything the target cannot express, and returns
// its files as data.
package render

import (
	"errors"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/view"
)

// Renderer is one render target.
type Renderer interface {
	// Name is the target's name on the command line (--target NAME).
	Name() string
	// Description is a one-line summary for --help and errors.
	Description() string
	// Caps declares what the target can express.
	Caps() view.Caps
	// Render returns the target's files as data; it writes nothing.
	Render(p *model.Plan, opt view.Options) (Output, diag.List)
}

// Output is a rendered configuration: file name → content, and warnings to
// show the user (also written into the files' headers where the format has
// comments).
type Output struct {
	Files    map[string][]byte
	Warnings []string
}

// Deltaer is a target that can write the change between two of its
// renders as commands that change a running configuration in place
// (render --since): after a catalog update, the elements of address sets
// or the address lists of rules, with nothing taken away before what
// replaces it is in.
type Deltaer interface {
	// Delta returns the commands that turn a firewall configured from old
	// into one configured from new, both this target's Render output for
	// one spec and options. An error wrapping ErrFullRender says the
	// change is not of that kind (a rule or a set added or removed): only
	// applying new in full brings it.
	Delta(old, new Output) (Output, error)
}

// ErrFullRender is the reason a delta cannot be written: the change is
// more than address lists, and only the full render applies it.
var ErrFullRender = errors.New("only a full render applies this change")
