package servicetag

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/netip"
	"os"
	"testing"
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
	for name, in := range map[string]string{
		"not json":     "{",
		"no values":    `{"changeNumber": 1, "values": []}`,
		"bad prefix":   `{"changeNumber": 1, "values": [{"name":"X","properties":{"addressPrefixes":["10.0.0.0/33"]}}]}`,
		"wrong shape":  `[1,2,3]`,
		"no change no": `{"values": [{"name":"X"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, ds := Parse([]byte(in)); !ds.HasErrors() {
				t.Errorf("Parse(%q) gave no error", in)
			}
		})
	}
}
