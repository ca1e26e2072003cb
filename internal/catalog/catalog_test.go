package catalog

import "testing"

func TestEmbeddedCompiles(t *testing.T) {
	c, ds := Embedded()
	if len(ds) > 0 {
		t.Fatalf("embedded catalog has diagnostics:\n%s", ds)
	}
	if got := len(c.IntegrationNames()); got != 4 {
		t.Errorf("integrations = %d, want 4", got)
	}
}
