package yamlx

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/teamsgate/teamsgate/internal/diag"
)

// shape checks the node tree against the limits and the rules that hold
// whatever the target type: no key twice in a mapping, keys are scalars, a
// merge key (<<) takes mappings, no alias inside the value it names. It
// drops the key-value pairs it reports, so that yaml.v3 does not report
// them again (or fail on them). It visits each node once, following no
// alias: the work is linear in the size of the file.
type shape struct {
	file string
	ds   *diag.List
	// sizes holds the extent of each anchored node, for the aliases to
	// it; a negative size marks a node still being walked.
	sizes map[*yaml.Node]extent
	// nodes counts the nodes seen so far, an alias counting the nodes of
	// its value.
	nodes int
	// detached is above 0 while walking a value that is only reached
	// through aliases.
	detached int
	// refused is set when the document is over a limit or an alias names
	// the value it is in: such a document is not decoded.
	refused bool
}

// extent is what a node adds to the document as the decoder sees it.
type extent struct {
	size   int // nodes, through aliases, at most MaxNodes+1
	height int // levels, through aliases, at most MaxDepth+1
}

// smallMapping is the number of keys up to which a mapping is searched for
// duplicates without a map.
const smallMapping = 16

func (s *shape) errorf(n *yaml.Node, format string, args ...any) {
	s.ds.Errorf(diag.Pos{File: s.file, Line: n.Line, Col: n.Column}, "", format, args...)
}

func (s *shape) refuse(n *yaml.Node, format string, args ...any) {
	s.errorf(n, format, args...)
	s.refused = true
}

// walk checks n, at the given depth, and returns its extent.
func (s *shape) walk(n *yaml.Node, depth int) extent {
	if s.refused {
		return extent{}
	}
	if n.Kind == yaml.AliasNode {
		e, ok := s.sizes[n.Alias]
		if !ok {
			// The value of a pair dropped above: walk it now, for its
			// extent, counting its nodes only through this alias.
			s.detached++
			e = s.walk(n.Alias, 1)
			s.detached--
			if s.refused {
				return extent{}
			}
			s.sizes[n.Alias] = e
		}
		if e.size < 0 {
			s.refuse(n, "alias *%s is inside the value it names", n.Value)
			return extent{}
		}
		s.count(n, e.size)
		if depth-1+e.height > MaxDepth {
			s.refuse(n, "values nested more than %d deep (through alias *%s)", MaxDepth, n.Value)
		}
		return e
	}
	if depth > MaxDepth {
		s.refuse(n, "values nested more than %d deep", MaxDepth)
		return extent{}
	}
	if n.Anchor != "" {
		s.sizes[n] = extent{size: -1}
	}
	s.count(n, 1)
	e := extent{size: 1, height: 1}
	add := func(c extent) {
		e.size = min(e.size+c.size, MaxNodes+1)
		e.height = max(e.height, c.height+1)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if msg := badTag(n); msg != "" {
			// Wrong wherever an alias uses it: make it null in place.
			s.errorf(n, "%s", msg)
			n.Tag, n.Style, n.Value = nullTag, 0, ""
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			add(s.walk(c, depth+1))
		}
	case yaml.MappingNode:
		if k := len(n.Content) / 2; k > MaxKeysPerMapping {
			s.refuse(n, "a mapping of %d keys; the limit is %d", k, MaxKeysPerMapping)
			return extent{}
		}
		s.pairs(n)
		for _, c := range n.Content {
			add(s.walk(c, depth+1))
		}
	}
	if n.Anchor != "" {
		s.sizes[n] = e
	}
	return e
}

// count adds k nodes at n, refusing the document when they pass MaxNodes.
func (s *shape) count(n *yaml.Node, k int) {
	if s.detached > 0 {
		return
	}
	s.nodes += k
	if s.nodes > MaxNodes && !s.refused {
		s.refuse(n, "more than %d values in the document (each use of an alias counts its value again)", MaxNodes)
	}
}

// pairs reports, and drops, the pairs of a mapping whose key is given
// twice, is not a scalar, or is a merge key with something other than
// mappings to merge. A duplicate is reported once, at the duplicate, with
// the line of the first.
func (s *shape) pairs(n *yaml.Node) {
	var seen map[string]*yaml.Node
	if len(n.Content)/2 > smallMapping {
		seen = make(map[string]*yaml.Node, len(n.Content)/2)
	}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k
		if key.Kind == yaml.AliasNode && key.Alias != nil {
			key = key.Alias
		}
		if key.Kind != yaml.ScalarNode {
			s.errorf(k, "a key must be a name or a number, not %s", describe(k))
			continue
		}
		if msg := badTag(key); msg != "" {
			if key == k { // an alias's value is reported where it stands
				s.errorf(k, "%s", msg)
			}
			continue
		}
		var first *yaml.Node
		if seen != nil {
			first = seen[key.Value]
		} else {
			for j := 0; j < len(kept); j += 2 {
				if keyValue(kept[j]) == key.Value {
					first = kept[j]
					break
				}
			}
		}
		if first != nil {
			s.errorf(k, "key %q given twice (first at line %d)", key.Value, first.Line)
			continue
		}
		if seen != nil {
			seen[key.Value] = k
		}
		if isMerge(k) && !mergeable(v) {
			s.errorf(v, "<< merges mappings into this one; want a mapping, an alias of one, or a list of them, got %s", describe(v))
			continue
		}
		kept = append(kept, k, v)
	}
	clear(n.Content[len(kept):])
	n.Content = kept
}

// isMerge reports whether k is a merge key (<<), as yaml.v3 tells it.
func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}

// mergeable reports whether v is something yaml.v3 can merge: a mapping,
// an alias of one, or a list of those.
func mergeable(v *yaml.Node) bool {
	one := func(n *yaml.Node) bool {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		return n != nil && n.Kind == yaml.MappingNode
	}
	if v.Kind == yaml.SequenceNode {
		for _, c := range v.Content {
			if !one(c) {
				return false
			}
		}
		return true
	}
	return one(v)
}

// badTag says why a scalar with an explicit tag does not fit it ("!!int x"),
// or returns "" when it does. yaml.v3 stops decoding the whole document at
// such a scalar.
func badTag(n *yaml.Node) string {
	if n.Style&yaml.TaggedStyle == 0 {
		return ""
	}
	var v any
	if err := n.Decode(&v); err == nil {
		return ""
	}
	return fmt.Sprintf("%s is not a valid %s, the tag it is given", quote(n.Value), n.ShortTag())
}
