package kerneltest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoldenFilesLoad loads every golden render of the example specs with
// the real tools, twice each, into one namespace: each must be accepted,
// replace what the previous one left, and leave the same ruleset when
// applied again.
func TestGoldenFilesLoad(t *testing.T) {
	requireKernel(t)
	ns := "tgk-" + randomID(t) + "-g"
	mustRun(t, "ip", "netns", "add", ns)
	t.Cleanup(func() {
		if out, err := run("ip", "netns", "del", ns); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	nft, err := filepath.Glob(filepath.Join("..", "nftables", "testdata", "*.nft"))
	if err != nil || len(nft) == 0 {
		t.Fatalf("no nftables golden files: %v", err)
	}
	for _, f := range nft {
		t.Run("nftables/"+filepath.Base(f), func(t *testing.T) {
			load(t, ns, "nftables", map[string][]byte{"teamsgate.nft": read(t, f)})
		})
	}
	v4, err := filepath.Glob(filepath.Join("..", "iptables", "testdata", "*.rules.v4"))
	if err != nil || len(v4) == 0 {
		t.Fatalf("no iptables golden files: %v", err)
	}
	for _, f := range v4 {
		t.Run("iptables/"+strings.TrimSuffix(filepath.Base(f), ".rules.v4"), func(t *testing.T) {
			load(t, ns, "iptables", map[string][]byte{
				"rules.v4": read(t, f),
				"rules.v6": read(t, strings.TrimSuffix(f, ".v4")+".v6"),
			})
		})
	}
}

func read(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
