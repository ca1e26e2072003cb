// Package doccheck holds the test that runs every command README.md,
// docs/*.md (not docs/reference/) and teamsgate's --help show, as written,
// in a fresh clone of the repository, so that the documentation cannot
// drift from the program. README.md beside this file states the rules: what
// counts as a command, which exit codes pass, and how daemons, firewall
// commands and background jobs are run.
package doccheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestDocs(t *testing.T) {
	if testing.Short() {
		t.Skip("doccheck runs every documented command (about a minute); not with -short")
	}
	start := time.Now()
	root := repoRoot(t)
	goBin := goTool(t)
	bin := t.TempDir()
	// -trimpath here and in the workspace's GOFLAGS: without it the build
	// cache keys hold the package's directory, and "go run ./cmd/teamsgate"
	// in the workspace would compile the whole module again.
	build := exec.Command(goBin, "build", "-trimpath", "-o", filepath.Join(bin, "teamsgate"), "./cmd/teamsgate")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/teamsgate: %v\n%s", err, out)
	}

	ws, clone := freshClone(t, root)
	r := &runner{
		ns:    namespaceIfRoot(t),
		ws:    ws,
		env:   workspaceEnv(t, goBin, bin),
		clone: clone,
		root:  os.Geteuid() == 0,
		e2e:   os.Getenv("TEAMSGATE_E2E") == "1",
		logs:  t.TempDir(),
	}

	help := helpTree(t, filepath.Join(bin, "teamsgate"))
	names := commandNames{}
	for _, h := range help {
		if h.path != "" {
			names[h.path] = takesArguments(h.path, h.text)
		}
	}

	docs := []string{"README.md"}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(more)
	for _, m := range more {
		docs = append(docs, filepath.ToSlash(strings.TrimPrefix(m, root+string(filepath.Separator))))
	}
	// In order: a document may use what an earlier one made (the demo
	// certificates, examples/tls), and the help examples use both.
	for _, doc := range docs {
		src, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		cmds := extractMarkdown(doc, string(src), names)
		t.Run(doc, func(t *testing.T) { r.runAll(t, cmds) })
	}
	t.Run("help", func(t *testing.T) {
		for i, h := range help {
			title := strings.TrimSpace("teamsgate "+h.path) + " --help"
			r.runAll(t, extractExamples(title, h.text, i, names))
		}
	})

	t.Logf("%d commands run in %.1fs; not run:\n\t%s", r.ran, time.Since(start).Seconds(), strings.Join(r.listing, "\n\t"))
	if r.ran == 0 {
		t.Error("no command found to run")
	}
}

// A helpPage is one command's --help.
type helpPage struct {
	path string // "" for the root, "certs check"
	text string
}

// helpTree walks teamsgate --help's command lists, depth first.
func helpTree(t *testing.T, bin string) []helpPage {
	var pages []helpPage
	var walk func(path []string)
	walk = func(path []string) {
		args := append(copyOf(path), "--help")
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("teamsgate %s: %v", strings.Join(args, " "), err)
		}
		pages = append(pages, helpPage{path: strings.Join(path, " "), text: string(out)})
		for _, sub := range subcommands(string(out)) {
			if sub == "help" {
				continue
			}
			walk(append(copyOf(path), sub))
		}
	}
	walk(nil)
	return pages
}

func copyOf(s []string) []string { return append([]string(nil), s...) }

func repoRoot(t *testing.T) string {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse --show-toplevel: %v (the test copies the repository's files as git lists them)", err)
	}
	return strings.TrimSpace(string(out))
}

func goTool(t *testing.T) string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no go tool on PATH or in GOROOT")
	}
	return p
}

// freshClone copies the files a fresh clone has (tracked, and untracked but
// not ignored: git ls-files --cached --others --exclude-standard) into a
// temporary directory, and returns it with the set of those files.
func freshClone(t *testing.T, root string) (string, map[string]bool) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	ws := t.TempDir()
	files := map[string]bool{}
	for _, name := range bytes.Split(bytes.TrimRight(out, "\x00"), []byte{0}) {
		rel := string(name)
		src := filepath.Join(root, rel)
		fi, err := os.Lstat(src)
		if err != nil || fi.IsDir() {
			continue // deleted in the work tree, or a submodule
		}
		dst := filepath.Join(ws, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, dst); err != nil {
				t.Fatal(err)
			}
		} else {
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
				t.Fatal(err)
			}
		}
		files[filepath.Clean(rel)] = true
	}
	return ws, files
}

// workspaceEnv is the environment of the documented commands: the built
// teamsgate first on PATH, a HOME of their own (completion scripts go
// there), and the Go caches of the machine with -trimpath, so that "go run"
// compiles nothing that is already built.
func workspaceEnv(t *testing.T, goBin, bin string) []string {
	goEnv := map[string]string{}
	for _, v := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		out, err := exec.Command(goBin, "env", v).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", v, err)
		}
		goEnv[v] = strings.TrimSpace(string(out))
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "HOME", "GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS", "DOCCHECK_DAEMON_PID":
			continue
		}
		env = append(env, kv)
	}
	path := strings.Join([]string{bin, filepath.Dir(goBin), os.Getenv("PATH"), "/usr/sbin", "/sbin"}, string(os.PathListSeparator))
	env = append(env, "PATH="+path, "HOME="+t.TempDir(), "GOTOOLCHAIN=local", "GOFLAGS=-trimpath")
	for k, v := range goEnv {
		env = append(env, k+"="+v)
	}
	return env
}

// namespaceIfRoot makes the commands' network namespace when the test runs
// as root, and returns "" otherwise.
func namespaceIfRoot(t *testing.T) string {
	if os.Geteuid() != 0 {
		return ""
	}
	return newNamespace(t)
}
