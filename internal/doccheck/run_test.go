package doccheck

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// prelude is put before every command. pidof teamsgate answers the pid of
// the daemon the current block started (DOCCHECK_DAEMON_PID), so that
// "kill -HUP $(pidof teamsgate)" signals this test's gateway and never
// another teamsgate running on the machine; any other pidof is the real one.
const prelude = `pidof() { if [ "$#" -eq 1 ] && [ "$1" = teamsgate ]; then [ -n "${DOCCHECK_DAEMON_PID:-}" ] && echo "$DOCCHECK_DAEMON_PID"; else command pidof "$@"; fi; }
`

const (
	commandTimeout = 60 * time.Second
	readyTimeout   = 30 * time.Second
	stopTimeout    = 45 * time.Second
)

var (
	// daemonLine is "teamsgate serve …" without --check, after optional
	// variable assignments and before an optional "&".
	daemonLine = regexp.MustCompile(`^((?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*)(teamsgate\s+serve\s.*?)\s*&?\s*(#.*)?$`)
	// firewallCommand changes or reads the host's firewall: it runs in a
	// network namespace of its own, never on the host's.
	firewallCommand = regexp.MustCompile(`(?:^|[\s;&|(])(?:nft\s+-f|nft\s+(?:-j\s+)?list|iptables-restore|ip6tables-restore|iptables-save|ip6tables-save)\b`)
	// background is a command left running with a trailing "&".
	background = regexp.MustCompile(`[^&]&\s*(#.*)?$`)
	// loopbackAddr is an address on this machine a command names.
	loopbackAddr = regexp.MustCompile(`\b(127\.0\.0\.1|localhost):(\d+)\b`)
	// adminFlag and egressAdminFlag are serve's flags that move the
	// gateway's and the egress proxy's admin listeners.
	adminFlag       = regexp.MustCompile(`(?:^|\s)--admin-listen[= ](\S+)`)
	egressAdminFlag = regexp.MustCompile(`(?:^|\s)--egress-admin-listen[= ](\S+)`)
)

// daemonCommand reports whether text runs the gateway as a daemon
// ("teamsgate serve" without --check), with its variable assignments and
// the command without its "&" and comment.
func daemonCommand(text string) (assigns, serve string, ok bool) {
	m := daemonLine.FindStringSubmatch(text)
	if m == nil || strings.Contains(m[2], "--check") {
		return "", "", false
	}
	return m[1], m[2], true
}

// runner runs the commands of the documents in one workspace, in order.
// As root, every command runs in a network namespace the test makes, with
// loopback only: the gateway's fetch of the Bot Framework keys, or any
// other command that would reach for a host, finds no route off the
// machine, and the documents' fixed ports cannot meet other tests'.
type runner struct {
	ns      string   // the network namespace commands run in; "" when not root
	ws      string   // the fresh clone
	env     []string // PATH with the built binary first, a HOME of its own
	clone   map[string]bool
	root    bool
	e2e     bool
	logs    string
	ran     int
	listing []string // what was not run, and why, for the summary

	// Per block:
	daemon *daemon
	groups []int // process groups left running (background jobs)
}

// daemon is a teamsgate serve the current block started.
type daemon struct {
	cmd    command
	proc   *exec.Cmd
	done   chan struct{}
	stderr string
}

// runAll runs the commands of one document (or of the help), block by block.
func (r *runner) runAll(t *testing.T, cmds []command) {
	block := -1
	for _, c := range cmds {
		if c.block != block {
			r.endBlock(t)
			block = c.block
		}
		r.one(t, c)
	}
	r.endBlock(t)
}

func (r *runner) one(t *testing.T, c command) {
	t.Helper()
	if c.kind != run {
		r.listing = append(r.listing, fmt.Sprintf("%-12s %s (%s)", c.kind.String()+":", c, c.reason))
		t.Logf("%s: %s (%s)", c.kind, c, c.reason)
		return
	}
	if c.writes != nil && !r.clone[filepath.Clean(c.writes.name)] {
		p := filepath.Join(r.ws, c.writes.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c.writes.content), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s:%d: wrote %s as shown", c.file, c.line, c.writes.name)
	}
	if assigns, serve, ok := daemonCommand(c.text); ok {
		r.startDaemon(t, c, assigns, serve)
		return
	}
	script := prelude + c.text
	if firewallCommand.MatchString(c.text) {
		if !r.root {
			r.skipOrFail(t, c, "changes or reads the firewall: runs in a network namespace of its own, which needs root")
			return
		}
		script = prelude + "unshare --net bash -e -o pipefail -c " + shellQuote(c.text)
	}
	if r.ns == "" && loopbackAddr.MatchString(c.text) {
		r.skipOrFail(t, c, "talks to a server on loopback: runs in a network namespace of its own, which needs root")
		return
	}
	r.ran++
	start := time.Now()
	res := r.exec(t, script)
	t.Logf("%s → exit %s (%.1fs)", c, res.status(), time.Since(start).Seconds())
	if res.group != 0 {
		r.groups = append(r.groups, res.group)
	}
	if res.code == 127 && strings.Contains(res.stderr, "command not found") {
		r.skipOrFail(t, c, "a tool it needs is missing: "+firstLine(res.stderr))
		return
	}
	want, from := c.want, c.wantFrom
	if want == nil {
		want, from = []int{0, 3}, "the default: 0, or 3 for findings"
	}
	if !res.exited || !slices.Contains(want, res.code) {
		t.Errorf("%s:%d: %s\n\texit %s, want %v (%s)\n\tstderr: %s\n\tstdout: %s", c.file, c.line, c.text, res.status(), want, from, indent(res.stderr), indent(head(res.stdout, 40)))
		return
	}
	if background.MatchString(c.text) {
		r.waitListening(t, c, res.group)
	}
}

// skipOrFail lists a command that cannot run here; under TEAMSGATE_E2E=1
// that is a failure.
func (r *runner) skipOrFail(t *testing.T, c command, why string) {
	if r.e2e {
		t.Errorf("%s: not run: %s (TEAMSGATE_E2E=1: a skip is a failure)", c, why)
		return
	}
	r.listing = append(r.listing, fmt.Sprintf("%-12s %s (%s)", "skipped:", c, why))
	t.Logf("skipped: %s (%s)", c, why)
}

type result struct {
	code           int
	exited         bool
	signal         syscall.Signal
	stdout, stderr string
	group          int // the process group, when something of it still runs
}

func (res result) status() string {
	if !res.exited {
		return fmt.Sprintf("signal %v", res.signal)
	}
	return fmt.Sprint(res.code)
}

// exec runs script with bash (errexit, pipefail) in the workspace, in a
// process group of its own, its output into files rather than pipes so that
// a background job it leaves does not hold the command open.
func (r *runner) exec(t *testing.T, script string) result {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, errf := r.logFile(t), r.logFile(t)
	defer out.Close()
	defer errf.Close()
	cmd := exec.CommandContext(ctx, r.bashPath(t), r.bashArgs(script)...)
	cmd.Dir, cmd.Env = r.ws, r.env
	cmd.Stdout, cmd.Stderr = out, errf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Run()
	var res result
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.exited = true
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		res.exited, res.code = ws.Exited(), ws.ExitStatus()
		if ws.Signaled() {
			res.signal = ws.Signal()
		}
	default:
		t.Fatalf("bash: %v", err)
	}
	if ctx.Err() != nil {
		res.exited, res.signal = false, syscall.SIGKILL
	}
	res.stdout, res.stderr = readBack(out), readBack(errf)
	if syscall.Kill(-cmd.Process.Pid, 0) == nil {
		res.group = cmd.Process.Pid
	}
	return res
}

func (r *runner) logFile(t *testing.T) *os.File {
	f, err := os.CreateTemp(r.logs, "out")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func readBack(f *os.File) string {
	data, _ := os.ReadFile(f.Name())
	return string(data)
}

// bashArgs are the arguments that run script with bash (errexit,
// pipefail), in the test's network namespace when it has one.
func (r *runner) bashArgs(script string) []string {
	args := []string{"-e", "-o", "pipefail", "-c", script}
	if r.ns != "" {
		return append([]string{"netns", "exec", r.ns, "bash"}, args...)
	}
	return args
}

// bashPath is the program bashArgs are for: ip, which enters the
// namespace and executes bash there, or bash itself.
func (r *runner) bashPath(t *testing.T) string {
	name := "bash"
	if r.ns != "" {
		name = "ip"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// newNamespace makes the network namespace the commands run in, with
// loopback up and nothing else, and removes it when the test ends.
func newNamespace(t *testing.T) string {
	name := fmt.Sprintf("doccheck-%d", os.Getpid())
	for _, args := range [][]string{{"netns", "add", name}, {"-n", name, "link", "set", "lo", "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return name
}

// dial reports whether addr accepts a TCP connection, from inside the
// commands' namespace.
func (r *runner) dial(t *testing.T, addr string) error {
	host, port, _ := net.SplitHostPort(addr)
	script := fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port)
	cmd := exec.Command(r.bashPath(t), r.bashArgs(script)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// waitListening waits until the loopback addresses a background command
// names accept connections, so that the block's next command finds its
// server listening.
func (r *runner) waitListening(t *testing.T, c command, group int) {
	for _, m := range loopbackAddr.FindAllStringSubmatch(c.text, -1) {
		addr := net.JoinHostPort(m[1], m[2])
		deadline := time.Now().Add(readyTimeout)
		for {
			err := r.dial(t, addr)
			if err == nil {
				break
			}
			if group == 0 || syscall.Kill(-group, 0) != nil || time.Now().After(deadline) {
				t.Errorf("%s:%d: %s\n\tthe background job never listened on %s: %v", c.file, c.line, c.text, addr, err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// startDaemon starts "teamsgate serve" in the background, in the test's
// network namespace, and waits until its admin listener accepts
// connections. It cannot become ready: that needs the Bot Framework
// signing keys from login.botframework.com, which a test that talks to no
// host outside this machine never reaches (the namespace has no route
// off it). The daemon's redirections stay as written ("exec" replaces the
// shell, and "ip netns exec" execs it, so the pid is teamsgate's).
func (r *runner) startDaemon(t *testing.T, c command, assigns, serve string) {
	r.stopDaemon(t)
	if r.ns == "" {
		r.skipOrFail(t, c, "runs the gateway: in a network namespace of its own, so that its key fetch cannot leave the machine, which needs root")
		return
	}
	r.ran++
	errf := r.logFile(t)
	defer errf.Close()
	script := prelude + assigns + "exec " + serve
	proc := exec.Command(r.bashPath(t), r.bashArgs(script)...)
	proc.Dir, proc.Env = r.ws, r.env
	proc.Stdout, proc.Stderr = errf, errf
	proc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := proc.Start(); err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	d := &daemon{cmd: c, proc: proc, done: make(chan struct{}), stderr: errf.Name()}
	go func() { proc.Wait(); close(d.done) }()
	r.daemon = d
	r.env = append(r.env, fmt.Sprintf("DOCCHECK_DAEMON_PID=%d", proc.Process.Pid))

	addr := r.adminAddr(serve)
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-d.done:
			data, _ := os.ReadFile(d.stderr)
			t.Errorf("%s:%d: %s\n\tthe daemon exited before it answered on %s: exit %s\n\toutput: %s", c.file, c.line, c.text, addr, exitOf(proc), indent(string(data)))
			r.daemon = nil
			return
		default:
		}
		err := r.dial(t, addr)
		if err == nil {
			t.Logf("%s → running (pid %d); its admin listener %s answers", c, proc.Process.Pid, addr)
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s:%d: %s\n\tits admin listener %s accepted no connection within %v: %v", c.file, c.line, c.text, addr, readyTimeout, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// adminAddr is where the daemon's admin listener is. For a spec with a
// gateway: section, the gateway's: --admin-listen, else the spec's
// gateway.admin.listen, else 127.0.0.1:9090. For a spec with an egress:
// section and no gateway: section, the egress proxy's:
// --egress-admin-listen, else egress.admin.listen, else 127.0.0.1:9091.
func (r *runner) adminAddr(serve string) string {
	var spec struct {
		Gateway *daemonSection `yaml:"gateway"`
		Egress  *daemonSection `yaml:"egress"`
	}
	for _, arg := range strings.Fields(serve)[2:] {
		if strings.HasPrefix(arg, "-") || strings.ContainsAny(arg, "<>") {
			continue
		}
		if data, err := os.ReadFile(filepath.Join(r.ws, arg)); err == nil {
			yaml.Unmarshal(data, &spec) //nolint:errcheck // a bad spec leaves the defaults; serve says why
		}
		break
	}
	if spec.Gateway == nil && spec.Egress != nil {
		return cmp.Or(flagValue(egressAdminFlag, serve), spec.Egress.Admin.Listen, "127.0.0.1:9091")
	}
	var fromSpec string
	if spec.Gateway != nil {
		fromSpec = spec.Gateway.Admin.Listen
	}
	return cmp.Or(flagValue(adminFlag, serve), fromSpec, "127.0.0.1:9090")
}

// daemonSection is what adminAddr reads of a daemon's section of a spec.
type daemonSection struct {
	Admin struct {
		Listen string `yaml:"listen"`
	} `yaml:"admin"`
}

// flagValue is the value of the flag re finds in a command line, unquoted,
// or "".
func flagValue(re *regexp.Regexp, line string) string {
	if m := re.FindStringSubmatch(line); m != nil {
		return strings.Trim(m[1], `'"`)
	}
	return ""
}

// stopDaemon sends SIGTERM to the block's daemon and requires a graceful
// exit 0.
func (r *runner) stopDaemon(t *testing.T) {
	d := r.daemon
	if d == nil {
		return
	}
	r.daemon = nil
	r.env = slices.DeleteFunc(r.env, func(s string) bool { return strings.HasPrefix(s, "DOCCHECK_DAEMON_PID=") })
	start := time.Now()
	d.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(stopTimeout):
		syscall.Kill(-d.proc.Process.Pid, syscall.SIGKILL)
		<-d.done
		t.Errorf("%s:%d: %s\n\tstill running %v after SIGTERM", d.cmd.file, d.cmd.line, d.cmd.text, stopTimeout)
		return
	}
	syscall.Kill(-d.proc.Process.Pid, syscall.SIGKILL) // anything it left
	if code := exitOf(d.proc); code != "0" {
		data, _ := os.ReadFile(d.stderr)
		t.Errorf("%s:%d: %s\n\texit %s after SIGTERM, want 0 (a graceful shutdown)\n\toutput: %s", d.cmd.file, d.cmd.line, d.cmd.text, code, indent(string(data)))
		return
	}
	t.Logf("%s → SIGTERM: exit 0 (%.1fs)", d.cmd, time.Since(start).Seconds())
}

func exitOf(p *exec.Cmd) string {
	if p.ProcessState == nil {
		return "?"
	}
	ws := p.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return fmt.Sprintf("signal %v", ws.Signal())
	}
	return fmt.Sprint(ws.ExitStatus())
}

// endBlock stops what the block left running: its daemon, then its
// background jobs.
func (r *runner) endBlock(t *testing.T) {
	r.stopDaemon(t)
	if len(r.groups) == 0 {
		return
	}
	start := time.Now()
	for _, g := range r.groups {
		syscall.Kill(-g, syscall.SIGTERM)
	}
	// A job that died may linger as a zombie until init reaps it, and a
	// zombie still answers kill(0): wait briefly, then SIGKILL and go on.
	deadline := start.Add(500 * time.Millisecond)
	for _, g := range r.groups {
		for syscall.Kill(-g, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		syscall.Kill(-g, syscall.SIGKILL)
	}
	t.Logf("stopped the block's %d background job(s) in %.1fs", len(r.groups), time.Since(start).Seconds())
	r.groups = nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

func head(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= n {
		return s
	}
	return strings.Join(lines[:n], "") + fmt.Sprintf("… (%d more lines)", len(lines)-n)
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "(none)"
	}
	return strings.ReplaceAll(s, "\n", "\n\t\t")
}
