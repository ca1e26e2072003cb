package yamlx_test

import (
	"io/fs"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/yamlx"
)

// TestEmbeddedCatalogWithinLimits: every YAML file of the embedded catalog
// stays under a tenth of each limit, so the limits never bite a real file.
func TestEmbeddedCatalogWithinLimits(t *testing.T) {
	fsys := catalog.EmbeddedFS()
	n := 0
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".yaml") {
			return err
		}
		n++
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		var root yaml.Node
		if err := yaml.Unmarshal(data, &root); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var s stats
		s.walk(&root, 0)
		t.Logf("%s: %d bytes, %d values, %d keys in its largest mapping, %d deep", name, len(data), s.nodes, s.keys, s.depth)
		for _, c := range []struct {
			what       string
			got, limit int
		}{
			{"bytes", len(data), yamlx.MaxBytes},
			{"values", s.nodes, yamlx.MaxNodes},
			{"keys in a mapping", s.keys, yamlx.MaxKeysPerMapping},
			{"levels", s.depth, yamlx.MaxDepth},
		} {
			if c.got*10 > c.limit {
				t.Errorf("%s: %d %s, more than a tenth of the limit (%d)", name, c.got, c.what, c.limit)
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("walked %d files: %v", n, err)
	}
}

type stats struct{ nodes, keys, depth int }

func (s *stats) walk(n *yaml.Node, depth int) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	s.nodes++
	s.depth = max(s.depth, depth)
	if n.Kind == yaml.MappingNode {
		s.keys = max(s.keys, len(n.Content)/2)
	}
	for _, c := range n.Content {
		s.walk(c, depth+1)
	}
}
