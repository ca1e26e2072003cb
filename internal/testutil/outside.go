package testutil

import (
	"os"
	"strings"
	"testing"
)

// ExampleOutside returns the text of an example spec with the given roles
// marked outside the firewall (outside: true), for the tests of roles
// outside the firewall rendered or audited. A role the example does not
// bind on a line of its own fails the test.
func ExampleOutside(t testing.TB, name string, roles ...string) string {
	t.Helper()
	b, err := os.ReadFile(ExamplePath(name))
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	for _, role := range roles {
		head := "      " + role + ":\n"
		if !strings.Contains(spec, head) {
			t.Fatalf("example %s binds no role %s on a line of its own", name, role)
		}
		spec = strings.Replace(spec, head, head+"        outside: true\n", 1)
	}
	return spec
}
