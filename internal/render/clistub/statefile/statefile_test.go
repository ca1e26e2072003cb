package statefile_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/render/clistub/statefile"
)

// state is a stub's state as a stub declares it.
type state struct {
	statefile.Log
	Last int `json:"last"`
}

func TestUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := statefile.Save(path, &state{}); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for n, args := range [][]string{{"ec2", "describe"}, {"network", "nsg", "show"}} {
		var st state
		if err := statefile.Update(path, &st, args, func(n int) { st.Last = n }); err != nil {
			t.Fatal(err)
		}
		if st.Last != n+1 {
			t.Errorf("call %q is number %d, want %d", args, st.Last, n+1)
		}
	}
	got, err := statefile.Load[state](path)
	if err != nil {
		t.Fatal(err)
	}
	want := &state{
		Log:  statefile.Log{Calls: []statefile.Call{{Args: []string{"ec2", "describe"}, Dir: wd}, {Args: []string{"network", "nsg", "show"}, Dir: wd}}},
		Last: 2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["calls"]; !ok {
		t.Errorf("the state file has no \"calls\":\n%s", b)
	}
}

// TestUpdateNoFile: without its state file a stub fails, without carrying
// out the call.
func TestUpdateNoFile(t *testing.T) {
	var st state
	ran := false
	err := statefile.Update(filepath.Join(t.TempDir(), "missing.json"), &st, []string{"x"}, func(int) { ran = true })
	if err == nil || ran {
		t.Errorf("Update of a missing file: err %v, ran %v; want an error and no call", err, ran)
	}
}
