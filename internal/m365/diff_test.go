package m365

import (
	"fmt"
	"os"
	"testing"
)

func parseSets(t *testing.T, js string) []EndpointSet {
	t.Helper()
	sets, ds := Parse([]byte(js))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return sets
}

func TestDiff(t *testing.T) {
	const base = `[{"id":11,"serviceArea":"Skype","category":"Optimize","required":true,"ips":["52.112.0.0/14","52.120.0.0/14"],"udpPorts":"3478,3479,3480,3481"},
	{"id":12,"serviceArea":"Skype","category":"Allow","required":true,"urls":["*.lync.com","teams.microsoft.com"],"tcpPorts":"80,443"},
	{"id":1,"serviceArea":"Exchange","category":"Optimize","required":true,"urls":["outlook.office.com"],"tcpPorts":"443"}]`
	for _, tc := range []struct {
		name, new, area, want string
	}{
		{name: "same", new: base, area: "Skype", want: "[]"},
		{name: "same, reordered and other case",
			new:  `[{"id":12,"serviceArea":"Skype","category":"Allow","required":true,"urls":["TEAMS.microsoft.com","*.lync.com"],"tcpPorts":"443,80"},{"id":11,"serviceArea":"Skype","category":"Optimize","required":true,"ips":["52.120.0.0/14","52.112.0.0/14"],"udpPorts":"3478-3481"}]`,
			area: "Skype", want: "[]"},
		{name: "range replaced, url added",
			new:  `[{"id":11,"serviceArea":"Skype","category":"Optimize","required":true,"ips":["52.112.0.0/14","52.122.0.0/15"],"udpPorts":"3478-3481"},{"id":12,"serviceArea":"Skype","category":"Allow","required":true,"urls":["*.lync.com","teams.microsoft.com","*.teams.cloud.microsoft"],"tcpPorts":"80,443"}]`,
			area: "Skype", want: "[11 changed +[52.122.0.0/15] -[52.120.0.0/14] +[] -[] [] | 12 changed +[] -[] +[*.teams.cloud.microsoft] -[] []]"},
		{name: "ports, category and required",
			new:  `[{"id":11,"serviceArea":"Skype","category":"Allow","required":false,"ips":["52.112.0.0/14","52.120.0.0/14"],"udpPorts":"3478-3481","tcpPorts":"443"},{"id":12,"serviceArea":"Skype","category":"Allow","required":true,"urls":["*.lync.com","teams.microsoft.com"],"tcpPorts":"443"}]`,
			area: "Skype", want: "[11 changed +[] -[] +[] -[] [category Optimize → Allow required yes → no] tcp none→443 | 12 changed +[] -[] +[] -[] [] tcp 80,443→443]"},
		{name: "set added and removed",
			new:  `[{"id":12,"serviceArea":"Skype","category":"Allow","required":true,"urls":["*.lync.com","teams.microsoft.com"],"tcpPorts":"80,443"},{"id":146,"serviceArea":"Skype","category":"Default","required":true,"urls":["statics.teams.microsoft.com"],"tcpPorts":"443"}]`,
			area: "Skype", want: "[11 removed +[] -[52.112.0.0/14 52.120.0.0/14] +[] -[] [] udp 3478-3481→none | 146 added +[] -[] +[statics.teams.microsoft.com] -[] [] tcp none→443]"},
		{name: "other areas when asked", new: `[]`, area: "",
			want: "[1 removed +[] -[] +[] -[outlook.office.com] [] tcp 443→none | 11 removed +[] -[52.112.0.0/14 52.120.0.0/14] +[] -[] [] udp 3478-3481→none | 12 removed +[] -[] +[] -[*.lync.com teams.microsoft.com] [] tcp 80,443→none]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := describe(Diff(parseSets(t, base), parseSets(t, tc.new), tc.area))
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func describe(cs []SetChange) string {
	out := "["
	for i, c := range cs {
		if i > 0 {
			out += " | "
		}
		out += fmt.Sprintf("%d %s +%v -%v +%v -%v %v", c.ID, c.Kind, c.AddedIPs, c.RemovedIPs, c.AddedURLs, c.RemovedURLs, c.Other)
		if c.TCPChanged {
			out += fmt.Sprintf(" tcp %s→%s", none(c.OldTCP.String()), none(c.NewTCP.String()))
		}
		if c.UDPChanged {
			out += fmt.Sprintf(" udp %s→%s", none(c.OldUDP.String()), none(c.NewUDP.String()))
		}
	}
	return out + "]"
}

func none(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// TestDiffRealFixture: the 2020 response against the fixture derived from
// it gives exactly the derivation: 52.120.0.0/14 → 52.122.0.0/15 in sets
// 11, 12, 13 and 22, and *.teams.cloud.microsoft added to set 12.
func TestDiffRealFixture(t *testing.T) {
	read := func(name string) []EndpointSet {
		b, err := os.ReadFile("../../testdata/data/m365/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return parseSets(t, string(b))
	}
	got := describe(Diff(read("worldwide-2020-12.json"), read("worldwide-2020-12-derived.json"), ""))
	want := "[11 changed +[52.122.0.0/15] -[52.120.0.0/14] +[] -[] [] | 12 changed +[52.122.0.0/15] -[52.120.0.0/14] +[*.teams.cloud.microsoft] -[] [] | 13 changed +[52.122.0.0/15] -[52.120.0.0/14] +[] -[] [] | 22 changed +[52.122.0.0/15] -[52.120.0.0/14] +[] -[] []]"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
