package yamlx

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/teamsgate/teamsgate/internal/diag"
)

// yaml.v3 reports a syntax error as text with a line at best, and the line
// is often not where the problem is: for an unclosed bracket it is one
// before the bracket's, or the end of the file; for an error on the first
// line there is none. So when yaml.v3 fails, a small scanner of our own
// looks for the common mistakes it can place exactly (an unclosed bracket,
// a tab in the indentation, an unterminated string, an alias to nothing),
// and yaml.v3's message, with its line corrected and its words made plain,
// is the fallback.

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// parserProblems are the messages of yaml.v3's parser (as opposed to its
// scanner), whose line it gives 0-based.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// readerProblems are the messages of yaml.v3's reader, which give no line.
var readerProblems = map[string]bool{
	"invalid leading UTF-8 octet":        true,
	"incomplete UTF-8 octet sequence":    true,
	"invalid trailing UTF-8 octet":       true,
	"invalid length of a UTF-8 sequence": true,
	"invalid Unicode character":          true,
	"control characters are not allowed": true,
}

// plainProblems words yaml.v3's problems for someone editing a file.
var plainProblems = map[string]string{
	"did not find expected key":                              "expected a key here; check the indentation",
	"did not find expected node content":                     "expected a value here",
	"did not find expected '-' indicator":                    `expected a list item ("- ") here; check the indentation`,
	"did not find expected ',' or ']'":                       `expected "," or "]" in a list`,
	"did not find expected ',' or '}'":                       `expected "," or "}" in a mapping`,
	"did not find expected <document start>":                 "unexpected text after the document; check the indentation",
	"mapping values are not allowed in this context":         `unexpected ":"; put a value that contains ": " in quotes, and check the indentation`,
	"block sequence entries are not allowed in this context": `unexpected "- "; check the indentation`,
	"found character that cannot start any token":            "a character that cannot start a value; put the value in quotes",
	"found a tab character that violates indentation":        "tab in indentation; indent with spaces",
	"found unexpected end of stream":                         "the file ends in the middle of a value",
	"found unexpected document indicator":                    `unexpected "---" or "..." inside a value`,
	"could not find expected ':'":                            `expected ":" after a key`,
	"found unknown escape character":                         `unknown escape in a "…" string; write \\ for a backslash, or use '…'`,
	"did not find expected alphabetic or numeric character":  "an anchor (&) or alias (*) needs a name",
	"control characters are not allowed":                     "control characters are not allowed",
	"invalid leading UTF-8 octet":                            "invalid UTF-8; save the file as UTF-8",
	"incomplete UTF-8 octet sequence":                        "invalid UTF-8; save the file as UTF-8",
	"invalid trailing UTF-8 octet":                           "invalid UTF-8; save the file as UTF-8",
}

// syntaxError turns a yaml.v3 parse error into diagnostics.
func syntaxError(data []byte, file string, err error) diag.List {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0 // unknown
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if parserProblems[msg] {
			line++
		}
	} else if (parserProblems[msg] || plainProblems[msg] != "") && !readerProblems[msg] {
		line = 1 // yaml.v3 leaves out line 1
	}
	var ds diag.List
	for _, p := range diagnose(data) {
		if pos := position(data, p.off); line == 0 || pos.Line <= line {
			pos.File = file
			ds.Errorf(pos, "", "%s", p.msg)
		}
	}
	if len(ds) > 0 {
		return ds
	}
	if plain := plainProblems[msg]; plain != "" {
		msg = plain
	}
	ds.Errorf(diag.Pos{File: file, Line: line}, "", "malformed YAML: %s", msg)
	return ds
}

// problem is a mistake found by the scanner, at a byte offset.
type problem struct {
	off int
	msg string
}

// position converts a byte offset into a line and a column counted in
// characters, as yaml.v3 counts them.
func position(data []byte, off int) diag.Pos {
	off = min(max(off, 0), len(data))
	before := data[:off]
	start := bytes.LastIndexByte(before, '\n') + 1
	col := utf8.RuneCount(before[start:]) + 1
	if start == 0 && bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) && off >= 3 {
		col-- // the byte order mark
	}
	return diag.Pos{Line: bytes.Count(before, []byte("\n")) + 1, Col: col}
}

// diagnose scans a document that yaml.v3 refused for mistakes it can place
// exactly. It knows enough YAML to tell a bracket or quote that opens a
// value from one inside plain text, and to skip comments and block
// scalars; it returns nothing rather than guess.
func diagnose(data []byte) []problem {
	if bytes.HasPrefix(data, []byte("\xff\xfe")) || bytes.HasPrefix(data, []byte("\xfe\xff")) {
		return nil // UTF-16, which yaml.v3 reads and this scanner does not
	}
	for off := 0; off < len(data); {
		r, w := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && w == 1 {
			return []problem{{off, "invalid UTF-8; save the file as UTF-8"}}
		}
		if !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0x7e || r == 0x85 || r >= 0xa0 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd || r >= 0x10000 && r <= 0x10ffff) {
			return []problem{{off, fmt.Sprintf("control character %U is not allowed; remove it", r)}}
		}
		off += w
	}
	s := &scanner{data: data, anchors: map[string]bool{}}
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		s.i = 3
	}
	return s.run()
}

type scanner struct {
	data    []byte
	i       int
	flow    []int // offsets of the open flow brackets, [ and {
	anchors map[string]bool
}

// ws reports whether the byte at i ends a token: a space, a line break or
// the end of the data.
func (s *scanner) ws(i int) bool {
	return i >= len(s.data) || s.data[i] == ' ' || s.data[i] == '\t' || s.data[i] == '\n' || s.data[i] == '\r'
}

func (s *scanner) flowIndicator(i int) bool {
	return i < len(s.data) && strings.IndexByte(",[]{}", s.data[i]) >= 0
}

func (s *scanner) run() []problem {
	lineStart, nodeStart, afterFlow := true, true, false
	for s.i < len(s.data) {
		if lineStart {
			lineStart = false
			if len(s.flow) == 0 {
				if p := s.lineStart(); p != nil {
					return []problem{*p}
				}
				nodeStart = true
				continue
			}
		}
		c := s.data[s.i]
		switch {
		case c == '\n':
			s.i++
			lineStart = true
			continue
		case c == ' ' || c == '\t' || c == '\r':
			s.i++
			continue
		case c == '#' && (s.i == 0 || s.ws(s.i-1)):
			for s.i < len(s.data) && s.data[s.i] != '\n' {
				s.i++
			}
			continue
		}
		wasAfterFlow := afterFlow
		afterFlow = false
		inFlow := len(s.flow) > 0
		switch {
		case c == '[' || c == '{':
			if inFlow || nodeStart {
				s.flow = append(s.flow, s.i)
				s.i++
				nodeStart = true
				continue
			}
		case c == ']' || c == '}':
			if inFlow {
				open := s.flow[len(s.flow)-1]
				if s.data[open] != c-2 { // '[' is ']'-2, '{' is '}'-2
					return []problem{{open, fmt.Sprintf("unclosed %c opened here: the %c at %s does not close it", s.data[open], c, lineCol(position(s.data, s.i)))}}
				}
				s.flow = s.flow[:len(s.flow)-1]
				s.i++
				nodeStart = false
				afterFlow = len(s.flow) == 0
				continue
			}
			if nodeStart || wasAfterFlow {
				return []problem{{s.i, fmt.Sprintf("%c without a matching %c", c, c-2)}}
			}
		case c == ',' && inFlow:
			s.i++
			nodeStart = true
			continue
		case c == ':' && (s.ws(s.i+1) || inFlow && s.flowIndicator(s.i+1)):
			s.i++
			nodeStart = true
			continue
		case (c == '-' || c == '?') && nodeStart && s.ws(s.i+1):
			s.i++
			continue
		case (c == '"' || c == '\'') && nodeStart:
			if p := s.quoted(); p != nil {
				return []problem{*p}
			}
			nodeStart = false
			continue
		case (c == '|' || c == '>') && nodeStart && !inFlow:
			s.blockScalar()
			lineStart = true
			continue
		case (c == '&' || c == '!' || c == '*') && nodeStart:
			start := s.i
			for s.i < len(s.data) && !s.ws(s.i) && !(inFlow && s.flowIndicator(s.i)) {
				s.i++
			}
			name := string(s.data[start+1 : s.i])
			switch c {
			case '&':
				s.anchors[name] = true
			case '*':
				if name != "" && !s.anchors[name] {
					return []problem{{start, fmt.Sprintf("alias *%s names no anchor (&%s) defined before it", name, name)}}
				}
				nodeStart = false
			}
			continue
		case (c == '@' || c == '`') && nodeStart:
			return []problem{{s.i, fmt.Sprintf("%c cannot start a value; put the value in quotes", c)}}
		}
		nodeStart = false
		s.i++
	}
	var ps []problem
	for j := len(s.flow) - 1; j >= 0; j-- {
		open := s.flow[j]
		ps = append(ps, problem{open, fmt.Sprintf("unclosed %c opened here: the file ends before its %c", s.data[open], s.data[open]+2)})
	}
	return ps
}

// lineStart handles the start of a line in block context: it skips the
// indentation, and directive and blank lines, and finds a tab used to
// indent.
func (s *scanner) lineStart() *problem {
	j := s.i
	for j < len(s.data) && s.data[j] == ' ' {
		j++
	}
	k := j
	for k < len(s.data) && (s.data[k] == ' ' || s.data[k] == '\t') {
		k++
	}
	blank := k >= len(s.data) || s.data[k] == '\n' || s.data[k] == '\r' || s.data[k] == '#'
	if j < len(s.data) && s.data[j] == '\t' && !blank {
		return &problem{j, "tab in indentation; indent with spaces"}
	}
	if j == s.i && j < len(s.data) && s.data[j] == '%' {
		for j < len(s.data) && s.data[j] != '\n' {
			j++
		}
	}
	if j == s.i && (bytes.HasPrefix(s.data[j:], []byte("---")) || bytes.HasPrefix(s.data[j:], []byte("..."))) && s.ws(j+3) {
		j += 3
	}
	s.i = j
	return nil
}

// quoted scans a quoted scalar. A string that runs over lines and is
// followed by more text on the line where it ends was most likely left
// open where it started.
func (s *scanner) quoted() *problem {
	q, start := s.data[s.i], s.i
	s.i++
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case q == '"' && c == '\\':
			if s.i+1 < len(s.data) && strings.IndexByte("0abt\tnvfre \"/\\N_LPxuU\n\r", s.data[s.i+1]) < 0 {
				r, _ := utf8.DecodeRune(s.data[s.i+1:])
				return &problem{s.i, fmt.Sprintf(`unknown escape \%c in a "…" string; write \\ for a backslash, or use '…'`, r)}
			}
			s.i += 2
			continue
		case c == q && q == '\'' && s.i+1 < len(s.data) && s.data[s.i+1] == '\'':
			s.i += 2
			continue
		case c == q:
			s.i++
			if bytes.IndexByte(s.data[start:s.i], '\n') < 0 {
				return nil
			}
			k := s.i
			for k < len(s.data) && (s.data[k] == ' ' || s.data[k] == '\t') {
				k++
			}
			if k < len(s.data) && strings.IndexByte(":#,]}\r\n", s.data[k]) < 0 {
				return &problem{start, fmt.Sprintf("unterminated string: the %c opened here is closed only at %s", q, lineCol(position(s.data, s.i-1)))}
			}
			return nil
		}
		s.i++
	}
	return &problem{start, fmt.Sprintf("unterminated string: the %c opened here is never closed", q)}
}

// blockScalar skips a literal (|) or folded (>) scalar: the rest of its
// line, then every line that is blank or indented more than its own.
func (s *scanner) blockScalar() {
	ls := bytes.LastIndexByte(s.data[:s.i], '\n') + 1
	indent := 0
	for ls+indent < len(s.data) && s.data[ls+indent] == ' ' {
		indent++
	}
	for s.i < len(s.data) && s.data[s.i] != '\n' {
		s.i++
	}
	for s.i < len(s.data) {
		next := s.i + 1 // the start of the next line
		j := next
		for j < len(s.data) && s.data[j] == ' ' {
			j++
		}
		if j < len(s.data) && s.data[j] != '\n' && s.data[j] != '\r' && j-next <= indent {
			break
		}
		s.i = next
		for s.i < len(s.data) && s.data[s.i] != '\n' {
			s.i++
		}
	}
	if s.i < len(s.data) {
		s.i++ // the line break, to start the next line
	}
}

func lineCol(p diag.Pos) string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// fromDecodeError words what yaml.v3's decoder still finds after the checks
// of this package, which should be nothing. Its messages name Go types; they
// are translated, or reduced to their line.
func fromDecodeError(err error, file string) diag.List {
	var ds diag.List
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		ds.Errorf(diag.Pos{File: file}, "", "%s", tidy(strings.TrimPrefix(err.Error(), "yaml: ")))
		return ds
	}
	for _, e := range te.Errors {
		line := 0
		if m := lineRE.FindStringSubmatch(e); m != nil {
			line, _ = strconv.Atoi(m[1])
			e = m[2]
		}
		ds.Errorf(diag.Pos{File: file, Line: line}, "", "%s", tidy(e))
	}
	return ds
}

var (
	unmarshalRE = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
	alreadyRE   = regexp.MustCompile(`^mapping key "(.*)" already defined at line (\d+)$`)
	fieldSetRE  = regexp.MustCompile(`^field (.*) already set in type .+$`)
	notFoundRE  = regexp.MustCompile(`^field (.*) not found in type .+$`)
	decodeTagRE = regexp.MustCompile("^cannot decode (!!\\w+) `(.*)` as a (!!\\w+)$")
	anchorRE    = regexp.MustCompile(`^anchor '(.*)' value contains itself$`)
)

// tidy rewrites a message of yaml.v3's decoder into the user's terms,
// leaving out the Go types it names.
func tidy(s string) string {
	if m := unmarshalRE.FindStringSubmatch(s); m != nil {
		got := tagWords[m[1]]
		if got == "" {
			got = "a value tagged " + m[1]
		}
		if m[2] != "" && m[1] != "!!seq" && m[1] != "!!map" {
			got += " " + strconv.Quote(m[2])
		}
		return fmt.Sprintf("want %s, got %s", goTypeWords(m[3]), got)
	}
	if m := alreadyRE.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("key %q given twice (first at line %s)", m[1], m[2])
	}
	if m := fieldSetRE.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("key %q given twice", m[1])
	}
	if m := notFoundRE.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("unknown key %q", m[1])
	}
	if m := decodeTagRE.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("%q is not a valid %s, the tag it is given", m[2], m[3])
	}
	if m := anchorRE.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("alias *%s is inside the value it names", m[1])
	}
	switch {
	case s == "document contains excessive aliasing":
		return "too much of the document is made of aliases"
	case strings.HasPrefix(s, "invalid map key"):
		return "a key must be a name or a number"
	case strings.HasPrefix(s, "invalid array"):
		return "a list of the wrong length"
	}
	return "cannot decode: " + goTypeRE.ReplaceAllString(s, "a value")
}

// tagWords words the tags yaml.v3 names in its messages.
var tagWords = map[string]string{
	"!!str":       "a string",
	"!!int":       "a number",
	"!!float":     "a number",
	"!!bool":      "a boolean",
	"!!seq":       "a list",
	"!!map":       "a mapping",
	"!!null":      "null",
	"!!timestamp": "a date",
	"!!binary":    "binary data",
}

// goTypeRE matches what looks like a Go type in a message: a qualified
// name, or a slice, map, pointer or struct type.
var goTypeRE = regexp.MustCompile(`(?:\*|\[\d*\]|map\[[^\]]*\])*(?:[a-z]\w*\.[A-Za-z_]\w*|struct \{.*\}|interface \{\})`)

// goTypeWords words a Go type named in a yaml.v3 message.
func goTypeWords(t string) string {
	t = strings.TrimLeft(t, "*")
	switch {
	case t == "time.Duration":
		return `a duration such as "30s" or "5m"`
	case strings.HasPrefix(t, "[]") || strings.HasPrefix(t, "["):
		return "a list"
	case strings.HasPrefix(t, "map[") || strings.HasPrefix(t, "struct {"):
		return "a mapping"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string"
	case t == "float32" || t == "float64":
		return "a number"
	case t == "int" || t == "int64":
		return "a whole number"
	case strings.HasPrefix(t, "uint"):
		return "a whole number, 0 or more"
	case strings.HasPrefix(t, "int"):
		return "a whole number"
	case t == "interface {}":
		return "a value"
	}
	return "a value of another kind"
}
