package servicetag

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/jsonpos"
)

// realFile is Azure's public service tags file, change number 398
// (testdata/data/README.md).
const realFile = "../../testdata/data/ServiceTags_Public.changeNumber398.json.gz"

// loadReal returns the real service tags file, uncompressed.
func loadReal(t testing.TB) []byte {
	t.Helper()
	gz, err := os.ReadFile(realFile)
	if err != nil {
		t.Fatal(err)
	}
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRealFile(t *testing.T) {
	d, ds := Parse(loadReal(t))
	if ds.HasErrors() {
		t.Fatalf("parse: %s", ds)
	}
	if d.ChangeNumber != 398 || len(d.Names()) != 3136 {
		t.Errorf("changeNumber %d, %d tags; want 398, 3136", d.ChangeNumber, len(d.Names()))
	}
	ac, err := d.Lookup("azurecloud")
	if err != nil {
		t.Fatal(err)
	}
	// docs/reference/endpoints.md §4: AzureCloud covers most of 52.112.0.0/14 but
	// none of 13.107.64.0/18.
	if ac.IPSet().ContainsPrefix(netip.MustParsePrefix("13.107.64.0/18")) {
		t.Errorf("AzureCloud unexpectedly covers 13.107.64.0/18")
	}
	if _, err := d.Lookup("MicrosoftTeams"); err == nil {
		t.Errorf("Lookup(MicrosoftTeams) succeeded; the file has no such tag")
	}
}

func TestParseFileGzip(t *testing.T) {
	d, ds := ParseFile(realFile)
	if ds.HasErrors() || d.ChangeNumber != 398 {
		t.Fatalf("ParseFile(gz): %v %s", d, ds)
	}
}

func TestBadInput(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"not json":     {in: "{", want: "1:2: not an Azure service tags file"},
		"no values":    {in: `{"changeNumber": 1, "values": []}`, want: "1:1: not an Azure service tags file: no changeNumber or no values"},
		"bad prefix":   {in: "{\"changeNumber\": 1, \"values\": [{\"name\":\"X\",\n \"properties\":{\"addressPrefixes\":[\"10.0.0.0/8\", \"10.0.0.0/33\"]}}]}", want: `2:49: X: bad prefix "10.0.0.0/33"`},
		"no name":      {in: "{\"changeNumber\": 1, \"values\": [{\"name\":\"X\"},\n  {\"properties\":{}}]}", want: "2:3: values[1]: service tag without a name"},
		"twice":        {in: "{\"changeNumber\": 1, \"values\": [{\"name\":\"X\"},\n  {\"name\":\"x\"}]}", want: "2:3: x: service tag given twice"},
		"wrong shape":  {in: `[1,2,3]`, want: "1:1: not an Azure service tags file: want an object, got array"},
		"wrong type":   {in: "{\"changeNumber\": 1, \"values\": [{\"name\":\"X\",\n \"properties\":{\"addressPrefixes\":[5]}}]}", want: "2:35: not an Azure service tags file: values.properties.addressPrefixes: want a string, got number"},
		"no change no": {in: `{"values": [{"name":"X"}]}`, want: "1:1: not an Azure service tags file"},
	} {
		t.Run(name, func(t *testing.T) {
			_, ds := Parse([]byte(tc.in))
			if !ds.HasErrors() || !strings.HasPrefix(ds.String(), tc.want) {
				t.Errorf("diagnostics %q, want them to start with %q", ds.String(), tc.want)
			}
		})
	}
}

// FuzzParse: any input gives data or errors, never a panic; every tag
// kept answers Lookup by its name, and every diagnostic has a position.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"changeNumber": 1, "cloud": "Public", "values": [{"name":"AzureCloud","properties":{"addressPrefixes":["52.112.0.0/14","2603:1063::/38"]}}]}`))
	f.Add([]byte(`{"changeNumber": 1, "values": [{"id":"X"},{"name":"x","properties":{"addressPrefixes":["bad"]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, ds := Parse(data)
		for _, dg := range ds {
			if dg.Pos.Line == 0 && json.Valid(data) && !hasDuplicateKeys(data) {
				t.Errorf("diagnostic without a position: %s", dg)
			}
		}
		if d == nil {
			return
		}
		for _, n := range d.Names() {
			if _, err := d.Lookup(n); err != nil {
				t.Errorf("Lookup(%q): %v", n, err)
			}
		}
	})
}

// hasDuplicateKeys reports whether jsonpos refuses data, which it does for
// duplicate keys that encoding/json accepts; positions are then unknown.
func hasDuplicateKeys(data []byte) bool {
	_, ds := jsonpos.Parse(data)
	return ds.HasErrors()
}
