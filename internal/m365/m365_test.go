package m365

import (
	"os"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/jsonpos"
)

func TestRealWorldwide(t *testing.T) {
	data, err := os.ReadFile("../../testdata/data/m365/worldwide-2020-12.json")
	if err != nil {
		t.Fatal(err)
	}
	sets, ds := Parse(data)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	// docs/reference/endpoints.md §2.1: 113 sets, 15 of them Skype (Teams).
	if len(sets) != 113 {
		t.Errorf("%d sets, want 113", len(sets))
	}
	skype := Area(sets, "skype")
	if len(skype) != 15 {
		t.Errorf("%d Skype sets, want 15", len(skype))
	}
	s11 := skype[0]
	if s11.ID != 11 || s11.Category != "Optimize" || s11.UDPPorts.String() != "3478-3481" || len(s11.IPs) != 3 {
		t.Errorf("set 11: %+v", s11)
	}
	// Non-RFC 6125 patterns stay as published and are reported by Hosts.
	for _, s := range sets {
		if s.ID == 46 {
			if _, bad := s.Hosts(); len(bad) == 0 {
				t.Errorf("set 46 has partial-label wildcards; Hosts must report them")
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"not json":                {in: "[{", want: "1:3: not a Microsoft 365 endpoints response"},
		"object":                  {in: "{}", want: "1:1: not a Microsoft 365 endpoints response (a JSON array of endpoint sets): want an array, got object"},
		"no id":                   {in: "[\n {\"serviceArea\":\"Skype\",\"category\":\"Allow\",\"urls\":[\"a.b\"]}]", want: "2:2: endpoint set [0]: no id"},
		"dup id":                  {in: "[{\"id\":1,\"serviceArea\":\"Skype\",\"category\":\"Allow\",\"urls\":[\"a.b\"]},\n {\"id\":1,\"serviceArea\":\"Skype\",\"category\":\"Allow\",\"urls\":[\"a.b\"]}]", want: "2:8: endpoint set 1: id given twice"},
		"bad category":            {in: "[{\"id\":1,\"serviceArea\":\"Skype\",\n  \"category\":\"Fast\",\"urls\":[\"a.b\"]}]", want: `2:14: endpoint set 1: unknown category "Fast"`},
		"bad ip":                  {in: "[{\"id\":1,\"serviceArea\":\"Skype\",\"category\":\"Allow\",\n  \"ips\":[\"1.2.3.0/24\", \"1.2.3.4/40\"]}]", want: "2:24: endpoint set 1: "},
		"bad ports":               {in: "[{\"id\":1,\"serviceArea\":\"Skype\",\"category\":\"Allow\",\"urls\":[\"a.b\"],\n\"tcpPorts\":\"80-\"}]", want: "2:12: endpoint set 1: tcpPorts"},
		"no area":                 {in: "[{\"id\":1,\"category\":\"Allow\",\"urls\":[\"a.b\"]}]", want: "1:2: endpoint set 1: no serviceArea"},
		"empty url":               {in: "[{\"id\":1,\"serviceArea\":\"Skype\",\"category\":\"Allow\",\"urls\":[\"a.b\",\n \" \"]}]", want: "2:2: endpoint set 1: url \" \": empty"},
		"url with a path":         {in: "[{\"id\":12,\"serviceArea\":\"Skype\",\"category\":\"Allow\",\"urls\":[\"teams.microsoft.com/x\"]}]", want: "1:60: endpoint set 12: url \"teams.microsoft.com/x\": '/' is not a host name character"},
		"url with a scheme":       {in: "[{\"id\":12,\"serviceArea\":\"Skype\",\"category\":\"Allow\",\"urls\":[\"https://a.b\"]}]", want: "1:60: endpoint set 12: url \"https://a.b\": ':' is not a host name character"},
		"url with an empty label": {in: "[{\"id\":12,\"serviceArea\":\"Skype\",\"category\":\"Allow\",\"urls\":[\"*..visualstudio.com\"]}]", want: "1:60: endpoint set 12: url \"*..visualstudio.com\": an empty label"},
		"empty":                   {in: "[{\"id\":1,\"serviceArea\":\"Skype\",\"category\":\"Allow\"}]", want: "1:2: endpoint set 1: neither urls nor ips"},
		"wrong type":              {in: "[1,\n {\"id\":\"x\"}]", want: "1:2: endpoint set [0]: want an object, got number\n2:8: endpoint set [1]: id: want a number, got string"},
		"syntax error":            {in: "[\n {\"id\": 1,,}]", want: "2:"},
	} {
		t.Run(name, func(t *testing.T) {
			_, ds := Parse([]byte(tc.in))
			if !ds.HasErrors() || !strings.HasPrefix(ds.String(), tc.want) {
				t.Errorf("diagnostics %q, want them to start with %q", ds.String(), tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`[{"id":11,"serviceArea":"Skype","category":"Optimize","ips":["52.112.0.0/14"],"udpPorts":"3478,3479"}]`))
	f.Add([]byte(`[{"id":1,"serviceArea":"Exchange","category":"Allow","urls":["*.x.com","*x.com"],"tcpPorts":"80,443"}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sets, ds := Parse(data)
		if _, jds := jsonpos.Parse(data); !jds.HasErrors() {
			for _, d := range ds {
				if d.Pos.Line == 0 {
					t.Errorf("diagnostic without a position: %s", d)
				}
			}
		}
		if ds.HasErrors() && len(sets) > 0 {
			for _, s := range sets {
				if len(s.URLs) == 0 && len(s.IPs) == 0 {
					t.Errorf("a set without urls or ips was kept")
				}
			}
		}
	})
}
