// Package targets lists the render targets, in the order --help shows
// them. Adding a target is one package under internal/render/ and one line
// here.
package targets

import (
	"fmt"
	"github.com/teamsgate/teamsgate/internal/suggest"
	"sort"
	"strings"

	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/render/awssg"
	"github.com/teamsgate/teamsgate/internal/render/azurefirewall"
	"github.com/teamsgate/teamsgate/internal/render/azurensg"
	"github.com/teamsgate/teamsgate/internal/render/iptables"
	"github.com/teamsgate/teamsgate/internal/render/kubernetes"
	"github.com/teamsgate/teamsgate/internal/render/nftables"
	"github.com/teamsgate/teamsgate/internal/render/pac"
	"github.com/teamsgate/teamsgate/internal/render/squid"
)

// All returns every render target, in order.
func All() []render.Renderer {
	return []render.Renderer{
		nftables.New(),
		iptables.New(),
		azurensg.New(),
		azurefirewall.New(),
		awssg.New(),
		kubernetes.New(),
		squid.New(),
		pac.New(),
	}
}

// Lookup returns the target with the given name, or an error listing the
// valid ones.
func Lookup(name string) (render.Renderer, error) {
	var names []string
	for _, r := range All() {
		if r.Name() == name {
			return r, nil
		}
		names = append(names, r.Name())
	}
	sort.Strings(names)
	return nil, fmt.Errorf("unknown target %q%s (valid targets: %s)", name, suggest.Hint(name, names), strings.Join(names, ", "))
}
