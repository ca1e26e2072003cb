package targets_test

import (
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/render/targets"
)

func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range targets.All() {
		if r.Name() == "" || r.Description() == "" {
			t.Errorf("target %q has no name or description", r.Name())
		}
		if seen[r.Name()] {
			t.Errorf("target %q is registered twice", r.Name())
		}
		seen[r.Name()] = true
		got, err := targets.Lookup(r.Name())
		if err != nil || got.Name() != r.Name() {
			t.Errorf("Lookup(%q) = %v, %v", r.Name(), got, err)
		}
	}
	for _, want := range []string{"nftables", "iptables"} {
		if !seen[want] {
			t.Errorf("target %s is not registered", want)
		}
	}
}

func TestLookupUnknownListsTargets(t *testing.T) {
	_, err := targets.Lookup("pf")
	if err == nil {
		t.Fatal("Lookup of an unknown target succeeded")
	}
	for _, r := range targets.All() {
		if !strings.Contains(err.Error(), r.Name()) {
			t.Errorf("error %q does not list %s", err, r.Name())
		}
	}
	if !strings.Contains(err.Error(), `"pf"`) {
		t.Errorf("error %q does not quote the name given", err)
	}
}
