// Package suggest finds the closest of a set of known names to one the
// user mistyped, for "did you mean" hints on integrations, roles, targets,
// formats and catalog ids.
package suggest

import (
	"fmt"
	"strings"
)

// Closest returns the candidate nearest to s by edit distance, or "" when
// none is near enough to be a likely typo: within a third of the longer
// name's length (at least 1, at most 3 edits), or s is a unique prefix of
// it. Ties go to the candidate that sorts first, so the hint is
// deterministic.
func Closest(s string, candidates []string) string {
	if len(s) > maxLen {
		return ""
	}
	ls := strings.ToLower(s)
	best, bestD := "", -1
	var prefixed []string
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if lc == ls {
			return c
		}
		if ls != "" && strings.HasPrefix(lc, ls) {
			prefixed = append(prefixed, c)
		}
		d := Distance(ls, lc)
		limit := min(3, max(1, max(len(ls), len(lc))/3))
		if d > limit {
			continue
		}
		if bestD < 0 || d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	if best == "" && len(prefixed) == 1 {
		return prefixed[0]
	}
	return best
}

// maxLen is the longest name Closest considers: anything longer is no typo
// of a name, and the distance costs its length squared.
const maxLen = 64

// Hint returns ` (did you mean "x"?)` for the closest candidate, or "".
func Hint(s string, candidates []string) string {
	if c := Closest(s, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}

// Distance is the optimal string alignment distance between a and b, in
// bytes: insertions, deletions, substitutions and transpositions of two
// neighbours ("bto" for "bot") each count one.
func Distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+c)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
