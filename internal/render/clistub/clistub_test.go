package clistub_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamsgate/teamsgate/internal/render/clistub"
	"github.com/teamsgate/teamsgate/internal/render/clistub/statefile"
)

// recorder is a testing.TB that keeps what a helper reports. Fatalf ends
// the goroutine, as testing's does.
type recorder struct {
	testing.TB
	msgs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msgs = append(r.msgs, "fatal: "+fmt.Sprintf(format, args...))
	runtime.Goexit()
}

// run calls f with a recorder on a goroutine of its own, so that Fatalf
// can end it, and returns what f reported.
func run(f func(t testing.TB)) []string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.msgs
}

func TestFailEach(t *testing.T) {
	clean := []statefile.Call{{Args: []string{"one"}}, {Args: []string{"two", "--x", "y"}}}
	for _, c := range []struct {
		name  string
		clean []statefile.Call
		fail  func(k int) (exit, calls int)
		want  []string
	}{
		{
			name:  "stops at the failure",
			clean: clean,
			fail:  func(k int) (int, int) { return 1, k },
		},
		{
			name:  "exits 0",
			clean: clean,
			fail:  func(k int) (int, int) { return 0, k },
			want: []string{
				"x.sh, call 1 of 2 failing (one): exited 0",
				"x.sh, call 2 of 2 failing (two --x y): exited 0",
			},
		},
		{
			name:  "goes on",
			clean: clean,
			fail:  func(k int) (int, int) { return 1, 2 },
			want:  []string{"x.sh, call 1 of 2 failing (one): made 2 calls, want it to stop at the failing one"},
		},
		{
			name: "no calls",
			fail: func(k int) (int, int) { return 1, k },
			want: []string{"fatal: x.sh made no calls"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ks []int
			var whens []string
			got := run(func(rt testing.TB) {
				clistub.FailEach(rt, "x.sh", c.clean, func(k int, when string) (int, int) {
					ks = append(ks, k)
					whens = append(whens, when)
					return c.fail(k)
				})
			})
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
			wantKs := []int(nil)
			for k := 1; k <= len(c.clean); k++ {
				wantKs = append(wantKs, k)
			}
			if diff := cmp.Diff(wantKs, ks); diff != "" {
				t.Errorf("calls made to fail (-want +got):\n%s", diff)
			}
			for i, when := range whens {
				if want := fmt.Sprintf("x.sh, call %d of %d failing (%s)", i+1, len(c.clean), strings.Join(c.clean[i].Args, " ")); when != want {
					t.Errorf("when = %q, want %q", when, want)
				}
			}
		})
	}
}

func TestKeys(t *testing.T) {
	id := func(s string) string { return s }
	for _, c := range []struct {
		name  string
		rules []string
		want  []string
	}{
		{name: "none", rules: nil, want: []string{}},
		{name: "sorted", rules: []string{"b", "a", "c", "a"}, want: []string{"a", "a", "b", "c"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := clistub.Keys(c.rules, id)
			if got == nil || !cmp.Equal(c.want, got) {
				t.Errorf("Keys(%q) = %#v, want %#v", c.rules, got, c.want)
			}
		})
	}
}
