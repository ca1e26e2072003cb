package doccheck

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// kind says what the harness does with a command it found.
type kind int

const (
	// run: run it and check its exit code.
	run kind = iota
	// synopsis: it shows the form of a command (SPEC, [--flag], <name>, …),
	// not a command to type as it is.
	synopsis
	// name: a span that only names a command taking arguments ("teamsgate
	// plan"), not a command line.
	name
	// notRun: runnable, but not here (it recurses or takes hours).
	notRun
	// skipped: its block is marked <!-- doccheck: skip: REASON -->.
	skipped
)

func (k kind) String() string {
	return [...]string{"run", "synopsis", "command name", "not run", "skipped"}[k]
}

// A command is one shell command the documentation or the help shows.
type command struct {
	file string // README.md, docs/certs.md, or "teamsgate serve --help"
	line int    // 1-based line of the command in file
	// block numbers the fenced block, paragraph or Examples section the
	// command is in: a daemon or background job started in a block runs
	// while the block's later commands run, and is stopped at its end.
	block  int
	text   string
	kind   kind
	reason string // why it is not run
	// want lists the exit codes the document shows for it (nil: none shown,
	// the default applies), and wantFrom where it showed them.
	want     []int
	wantFrom string
	// writes is the file a "$ cat FILE" example shows, to be written
	// before the command runs.
	writes *shownFile
}

// A shownFile is the content a document shows with "$ cat FILE".
type shownFile struct {
	name, content string
}

func (c command) String() string { return fmt.Sprintf("%s:%d: %s", c.file, c.line, c.text) }

// shellInfo lists the info strings of fenced blocks that may hold commands.
// A block with any other info string (yaml, json, ini, nft, js, …) is a
// file's content and never holds commands.
var shellInfo = map[string]bool{"": true, "sh": true, "bash": true, "shell": true, "console": true, "shell-session": true}

// commandStarts are how a line of a fenced block without "$ " prompts must
// start to be a command: the commands the documents tell the reader to
// type. Every other line of such a block is a file's content or an excerpt
// of output (a layout listing, a diagram, a configuration excerpt), which is
// why the rule names the commands rather than guessing from a line's shape.
var commandStarts = []string{
	"teamsgate ",
	"go run ./cmd/teamsgate",
	"go run ./scripts/",
	"make ",
	"mkdir -p ",
	"source <(",
}

// notRunCommands are runnable, and not run by the test: make test runs this
// test (recursion), make bench and make fuzz take minutes to hours.
var notRunCommands = map[string]string{
	"make test":  "runs every test, this one included (recursion)",
	"make bench": "runs every benchmark (minutes)",
	"make fuzz":  "runs every fuzz target (20 s each, minutes in all)",
}

// skipMarker marks the next fenced block as not runnable, with the reason.
var skipMarker = regexp.MustCompile(`^\s*<!--\s*doccheck:\s*skip:\s*(.+?)\s*-->\s*$`)

// placeholder finds what makes a line a synopsis rather than a command: an
// ALL-CAPS metavariable (SPEC, FILE, ADDR:PORT; not $VAR, -FLAG or VAR=x),
// an optional part in brackets, a <name>, host:port, or an ellipsis.
var placeholder = regexp.MustCompile(`(?:^|[^$\w-])([A-Z][A-Z0-9_]+)(?:[^\w=]|$)|\[[^\]]*\]|<[A-Za-z][\w.-]*>|\bhost:port\b|…|\.\.\.`)

// literalCaps are upper-case words that are literal in a command line.
var literalCaps = map[string]bool{"GET": true, "POST": true, "PUT": true, "DELETE": true, "HEAD": true}

// hasPlaceholder reports the first placeholder in s, or "".
func hasPlaceholder(s string) string {
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		if m[1] != "" && literalCaps[m[1]] {
			continue
		}
		if m[1] != "" {
			return m[1]
		}
		return strings.TrimSpace(m[0])
	}
	return ""
}

// commandNames maps a command path ("plan", "certs check") to whether it
// takes arguments or subcommands (its usage line has more than [flags]).
type commandNames map[string]bool

// classify says what to do with a command that is not a "$ " line: spans,
// lines of blocks without prompts, help examples.
func classify(text string, names commandNames) (kind, string) {
	if r, ok := notRunCommands[strings.TrimSpace(text)]; ok {
		return notRun, r
	}
	// Placeholders are looked for in teamsgate's part of the line only:
	// other tools' arguments have capitals of their own (openssl's
	// -subj /CN=…).
	if i := strings.Index(text, "teamsgate "); i >= 0 {
		if p := hasPlaceholder(text[i:]); p != "" {
			return synopsis, fmt.Sprintf("placeholder %q", p)
		}
	}
	if path, ok := strings.CutPrefix(text, "teamsgate "); ok && names[strings.TrimSpace(path)] {
		return name, "the command takes arguments: a name, not a command line"
	}
	return run, ""
}

var (
	fence     = regexp.MustCompile("^(\\s*)(```+|~~~+)\\s*([^`\\s]*)")
	echoCode  = "echo $?"
	exitShown = regexp.MustCompile(`\(exit (\d+)|exit status (\d+)`)
	catFile   = regexp.MustCompile(`^cat ([\w./-]+)$`)
	number    = regexp.MustCompile(`^\d+$`)
)

// extractMarkdown returns the commands of one Markdown file in document
// order: those of fenced blocks (see fencedCommands) and the inline code
// spans of prose that start with "teamsgate ". Indented code blocks are
// read like fenced blocks without an info string.
func extractMarkdown(file string, src string, names commandNames) []command {
	lines := strings.Split(src, "\n")
	var (
		cmds   []command
		block  int
		para   []string // prose lines of the current paragraph
		paraAt int
	)
	flush := func() {
		if len(para) > 0 {
			cmds = append(cmds, inlineCommands(file, paraAt, &block, para, names)...)
		}
		para = nil
	}
	for i := 0; i < len(lines); i++ {
		m := fence.FindStringSubmatch(lines[i])
		if m == nil {
			if strings.TrimSpace(lines[i]) == "" {
				flush()
				continue
			}
			if indented(lines[i]) && len(para) == 0 && strings.HasPrefix(strings.TrimSpace(lines[i]), "teamsgate ") {
				// An indented code block: one command per line.
				block++
				cmds = append(cmds, plainCommands(file, i+1, block, []string{strings.TrimSpace(lines[i])}, names)...)
				continue
			}
			if len(para) == 0 {
				paraAt = i + 1
			}
			para = append(para, lines[i])
			continue
		}
		flush()
		indent, marker, info := m[1], m[2], strings.ToLower(m[3])
		skip := ""
		for j := i - 1; j >= 0; j-- {
			if strings.TrimSpace(lines[j]) == "" {
				continue
			}
			if sm := skipMarker.FindStringSubmatch(lines[j]); sm != nil {
				skip = sm[1]
			}
			break
		}
		start := i + 1
		var body []string
		for i++; i < len(lines); i++ {
			t := strings.TrimSpace(lines[i])
			if strings.HasPrefix(t, marker[:1]) && strings.Trim(t, marker[:1]) == "" && len(t) >= len(marker) {
				break
			}
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		block++
		if !shellInfo[info] {
			continue
		}
		found := fencedCommands(file, start+1, block, body, names)
		for k := range found {
			if skip != "" && found[k].kind == run {
				found[k].kind, found[k].reason = skipped, skip
			}
		}
		cmds = append(cmds, found...)
	}
	flush()
	return cmds
}

func indented(line string) bool {
	return strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "\t")
}

// fencedCommands reads one fenced block whose first line is line firstLine.
// A block with "$ " lines is a session: each "$ " line is a command
// (continued by a trailing backslash), and the lines up to the next "$ "
// line are its output. A block without them holds commands only on the
// lines that start as commandStarts says.
func fencedCommands(file string, firstLine, block int, body []string, names commandNames) []command {
	session := false
	for _, l := range body {
		if strings.HasPrefix(l, "$ ") {
			session = true
			break
		}
	}
	if !session {
		return plainCommands(file, firstLine, block, body, names)
	}
	type shown struct {
		cmd    command
		output []string
	}
	var all []shown
	for i := 0; i < len(body); i++ {
		if !strings.HasPrefix(body[i], "$ ") {
			if len(all) > 0 {
				all[len(all)-1].output = append(all[len(all)-1].output, body[i])
			}
			continue
		}
		at := i
		text := strings.TrimPrefix(body[i], "$ ")
		for strings.HasSuffix(text, "\\") && i+1 < len(body) {
			i++
			text = strings.TrimSpace(strings.TrimSuffix(text, "\\")) + " " + strings.TrimSpace(body[i])
		}
		all = append(all, shown{cmd: command{file: file, line: firstLine + at, block: block, text: strings.TrimSpace(text), kind: run}})
	}
	var cmds []command
	for i := 0; i < len(all); i++ {
		c := all[i].cmd
		out := all[i].output
		if r, ok := notRunCommands[c.text]; ok {
			c.kind, c.reason = notRun, r
		}
		// "$ echo $?" and the number under it give the previous command's
		// exit code; it is not run itself (each command has a shell of its
		// own).
		if i+1 < len(all) && all[i+1].cmd.text == echoCode && len(all[i+1].output) > 0 && number.MatchString(strings.TrimSpace(all[i+1].output[0])) {
			n, _ := strconv.Atoi(strings.TrimSpace(all[i+1].output[0]))
			c.want, c.wantFrom = []int{n}, "$ echo $?"
			i++
		} else {
			for _, o := range out {
				if m := exitShown.FindStringSubmatch(o); m != nil {
					n, _ := strconv.Atoi(m[1] + m[2])
					c.want, c.wantFrom = []int{n}, strings.TrimSpace(m[0])
					break
				}
			}
		}
		if m := catFile.FindStringSubmatch(c.text); m != nil && len(out) > 0 {
			content := strings.Join(trimTrailingBlank(out), "\n") + "\n"
			c.writes = &shownFile{name: m[1], content: content}
		}
		cmds = append(cmds, c)
	}
	return cmds
}

func trimTrailingBlank(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// plainCommands reads lines without prompts: a line that starts as
// commandStarts says is a command (continued by a trailing backslash, and
// by the indented lines of a synopsis); the rest is not.
func plainCommands(file string, firstLine, block int, body []string, names commandNames) []command {
	var cmds []command
	for i := 0; i < len(body); i++ {
		l := body[i]
		if !startsCommand(l) {
			continue
		}
		at := i
		text := l
		for i+1 < len(body) && (strings.HasSuffix(text, "\\") || (strings.HasPrefix(body[i+1], " ") && strings.TrimSpace(body[i+1]) != "")) {
			i++
			text = strings.TrimSpace(strings.TrimSuffix(text, "\\")) + " " + strings.TrimSpace(body[i])
		}
		text = strings.TrimSpace(text)
		k, reason := classify(text, names)
		cmds = append(cmds, command{file: file, line: firstLine + at, block: block, text: text, kind: k, reason: reason})
	}
	return cmds
}

func startsCommand(l string) bool {
	for _, s := range commandStarts {
		if strings.HasPrefix(l, s) || l == strings.TrimSpace(s) {
			return true
		}
	}
	return false
}

// inlineCommands returns the code spans of one paragraph that start with
// "teamsgate ", each a block of its own (numbered from *block on). A span
// may run over a line break (CommonMark: the break is a space).
func inlineCommands(file string, firstLine int, block *int, para []string, names commandNames) []command {
	text := strings.Join(para, "\n")
	var cmds []command
	for i := 0; i < len(text); {
		if text[i] != '`' {
			i++
			continue
		}
		n := 1
		for i+n < len(text) && text[i+n] == '`' {
			n++
		}
		ticks := strings.Repeat("`", n)
		end := -1
		for j := i + n; j < len(text); {
			k := strings.Index(text[j:], ticks)
			if k < 0 {
				break
			}
			k += j
			if k+n < len(text) && text[k+n] == '`' {
				j = k + n
				for j < len(text) && text[j] == '`' {
					j++
				}
				continue
			}
			end = k
			break
		}
		if end < 0 {
			i += n
			continue
		}
		span := strings.ReplaceAll(text[i+n:end], "\n", " ")
		if len(span) > 2 && span[0] == ' ' && span[len(span)-1] == ' ' {
			span = span[1 : len(span)-1]
		}
		line := firstLine + strings.Count(text[:i], "\n")
		if strings.HasPrefix(span, "teamsgate ") {
			k, reason := classify(span, names)
			*block++
			cmds = append(cmds, command{file: file, line: line, block: *block, text: span, kind: k, reason: reason})
		}
		i = end + n
	}
	return cmds
}

// extractExamples returns the commands of the Examples: section of one
// command's --help, all in one block. Lines are commands; one that shows a
// placeholder is a synopsis.
func extractExamples(title, help string, block int, names commandNames) []command {
	lines := strings.Split(help, "\n")
	var cmds []command
	in := false
	for i, l := range lines {
		if strings.TrimSpace(l) == "Examples:" {
			in = true
			continue
		}
		if !in {
			continue
		}
		if strings.TrimSpace(l) == "" {
			break
		}
		text := strings.TrimSpace(l)
		k, reason := classify(text, names)
		cmds = append(cmds, command{file: title, line: i + 1, block: block, text: text, kind: k, reason: reason})
	}
	return cmds
}

// subcommands returns the names under "Available Commands:" of a --help.
func subcommands(help string) []string {
	var subs []string
	in := false
	for _, l := range strings.Split(help, "\n") {
		if strings.HasPrefix(l, "Available Commands:") {
			in = true
			continue
		}
		if !in {
			continue
		}
		f := strings.Fields(l)
		if len(f) == 0 {
			break
		}
		subs = append(subs, f[0])
	}
	return subs
}

// takesArguments reports whether the usage line of a --help shows more
// than the command path and [flags]: positional arguments or [command].
func takesArguments(path, help string) bool {
	lines := strings.Split(help, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "Usage:" || i+1 >= len(lines) {
			continue
		}
		rest := strings.TrimPrefix(strings.TrimSpace(lines[i+1]), "teamsgate "+path)
		rest = strings.TrimSpace(strings.ReplaceAll(rest, "[flags]", ""))
		return rest != ""
	}
	return false
}
