package yamlx

import (
	"fmt"
	"strings"
	"testing"
)

// specShape mirrors the deployment spec's wire types (internal/spec), which
// this package cannot import.
type specShape struct {
	Name         string `yaml:"name"`
	Cloud        string `yaml:"cloud"`
	Integrations map[string]struct {
		Roles map[string]struct {
			Addresses []string `yaml:"addresses"`
			Hosts     []string `yaml:"hosts"`
		} `yaml:"roles"`
		Parameters map[string]any `yaml:"parameters"`
	} `yaml:"integrations"`
}

const specHead = "cloud: worldwide\nintegrations:\n  teams-messaging-bot:\n    roles:\n      bot: { addresses: [198.51.100.10] }\n"

// manyKeys is a spec whose parameters mapping has n keys, written as
// tersely as YAML allows ({k0, k1, …}: keys with null values) so that
// 100,000 of them fit in MaxBytes.
func manyKeys(n int) []byte {
	var b strings.Builder
	b.WriteString(specHead + "    parameters: {")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "k%d,", i)
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

// atLimits returns documents that reach the limits without passing them,
// each the most work for yaml.v3 its limit allows.
func atLimits() map[string][]byte {
	out := map[string][]byte{}

	// As many mappings of MaxKeysPerMapping keys as MaxNodes allows, each
	// compared key by key by yaml.v3.
	var b strings.Builder
	b.WriteString(specHead + "    parameters:\n")
	perMapping := 2*MaxKeysPerMapping + 2 // its keys and values, its own key and itself
	for m := 0; (m+1)*perMapping+20 < MaxNodes; m++ {
		fmt.Fprintf(&b, "      m%d:\n", m)
		for k := 0; k < MaxKeysPerMapping; k++ {
			fmt.Fprintf(&b, "        k%d: 1\n", k)
		}
	}
	out["mappings"] = []byte(b.String())

	// One such mapping, used through aliases as often as MaxNodes allows.
	b.Reset()
	b.WriteString(specHead + "    parameters:\n      base: &m {")
	for k := 0; k < MaxKeysPerMapping; k++ {
		fmt.Fprintf(&b, "k%d: 1, ", k)
	}
	b.WriteString("}\n      uses: [")
	for u := 0; (u+2)*(2*MaxKeysPerMapping+1)+20 < MaxNodes; u++ {
		b.WriteString("*m, ")
	}
	b.WriteString("]\n")
	out["aliases"] = []byte(b.String())

	// A list of MaxNodes values, short of the limit by the rest of the spec.
	b.Reset()
	b.WriteString(specHead + "    parameters:\n      list: [")
	for i := 0; i < MaxNodes-20; i++ {
		b.WriteString("1,")
	}
	b.WriteString("]\n")
	out["list"] = []byte(b.String())
	return out
}

// BenchmarkDecodeManyKeys decodes a spec with 100,000 keys in one mapping,
// which Decode refuses (MaxKeysPerMapping) after parsing it. Before the
// limit, yaml.v3 took more than a minute to compare the keys pair by pair,
// and accepted them.
func BenchmarkDecodeManyKeys(b *testing.B) {
	data := manyKeys(100_000)
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		var v specShape
		_, ds := Decode(data, "many.yaml", &v)
		if !ds.HasErrors() {
			b.Fatal("100,000 keys accepted")
		}
	}
}

// BenchmarkDecodeAtLimits decodes documents at the limits, which Decode
// accepts; each should take well under a second.
func BenchmarkDecodeAtLimits(b *testing.B) {
	for name, data := range atLimits() {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				var v specShape
				_, ds := Decode(data, "limits.yaml", &v)
				if ds.HasErrors() {
					b.Fatal(ds[0])
				}
			}
		})
	}
}
