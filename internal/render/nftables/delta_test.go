package nftables

import (
	"errors"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/render"
)

func out(body string) render.Output {
	return render.Output{Files: map[string][]byte{FileName: []byte("#!/usr/sbin/nft -f\n# teamsgate nftables configuration: cloud worldwide, catalog X\n\ntable inet teamsgate\ndelete table inet teamsgate\n\ntable inet teamsgate {\n" + body + "}\n")}}
}

const set4 = "\tset teams_v4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = {\n\t\t\t%s\n\t\t}\n\t}\n\n"

func set(elems string) string { return strings.Replace(set4, "%s", elems, 1) }

const fwdChain = "\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tip saddr @teams_v4 tcp dport 443 accept\n\t}\n"

func TestDelta(t *testing.T) {
	r := New()
	for _, tc := range []struct {
		name      string
		old, new  string
		want      []string
		full      bool
		wantError string
	}{
		{name: "same", old: set("52.112.0.0/14") + fwdChain, new: set("52.112.0.0/14") + fwdChain},
		{name: "replaced", old: set("52.112.0.0/14, 52.120.0.0/14") + fwdChain, new: set("52.112.0.0/14, 52.122.0.0/15") + fwdChain,
			want: []string{"delete element inet teamsgate teams_v4 { 52.120.0.0/14 }", "add element inet teamsgate teams_v4 { 52.122.0.0/15 }"}},
		{name: "only added", old: set("52.112.0.0/14") + fwdChain, new: set("52.112.0.0/14, 52.122.0.0/15,\n\t\t\t2.2.2.2") + fwdChain,
			want: []string{"add element inet teamsgate teams_v4 { 52.122.0.0/15, 2.2.2.2 }"}},
		{name: "a set more", old: set("52.112.0.0/14") + fwdChain, new: set("52.112.0.0/14") + strings.Replace(set("1.1.1.1"), "teams_v4", "other_v4", 1) + fwdChain, full: true, wantError: "sets added: other_v4"},
		{name: "a port changed", old: set("52.112.0.0/14") + fwdChain, new: set("52.112.0.0/14") + strings.Replace(fwdChain, "443", "8443", 1), full: true, wantError: "rules or set definitions differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := r.Delta(out(tc.old), out(tc.new))
			if tc.full {
				if !errors.Is(err, render.ErrFullRender) || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("err %v, want ErrFullRender with %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range strings.Split(string(d.Files[DeltaFileName]), "\n") {
				if strings.HasSuffix(l, "}") && !strings.HasPrefix(l, "#") {
					got = append(got, l)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	if _, err := r.Delta(render.Output{}, out(set("1.1.1.1")+fwdChain)); err == nil || errors.Is(err, render.ErrFullRender) {
		t.Errorf("a missing old render: %v", err)
	}
	if _, err := r.Delta(render.Output{Files: map[string][]byte{FileName: []byte("flush ruleset\n")}}, out(set("1.1.1.1")+fwdChain)); err == nil || !strings.Contains(err.Error(), "not a teamsgate nftables render") {
		t.Errorf("not a render: %v", err)
	}
}
