// Package section checks the values of a daemon's section of the spec
// (gateway:, egress:) the same way for every daemon: listen addresses,
// durations, sizes, counts, prefixes and file names, each problem a
// diagnostic at the value's line and column. The package that owns a
// section (ingress, egress) decodes it and decides what its keys mean
// (STYLE.md rule 16); this one only reads the values they share. A bad
// value reads as its default, so that checking goes on and every problem
// is reported at once.
package section

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
)

// Checker collects the diagnostics of one section. At places a path of
// keys within the section (yamlx.Section.At); Subject names the section in
// messages ("gateway", "egress").
type Checker struct {
	At      func(path ...string) diag.Pos
	Subject string
	Diags   diag.List
}

// Errorf reports an error at path.
func (c *Checker) Errorf(path []string, format string, args ...any) {
	c.Diags.Errorf(c.At(path...), c.Subject, format, args...)
}

// Warnf reports a warning at path.
func (c *Checker) Warnf(path []string, format string, args ...any) {
	c.Diags.Warnf(c.At(path...), c.Subject, format, args...)
}

// Listen checks a host:port listen address whose host is an IP literal or
// empty (every address); empty gives def.
func (c *Checker) Listen(s, def string, path ...string) string {
	if s == "" {
		return def
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		c.Errorf(path, "listen address %q: want host:port, e.g. 0.0.0.0:8443 or [::1]:8443", s)
		return s
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			c.Errorf(path, "listen address %q: the host must be an IP address (or empty for every address)", s)
		}
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		c.Errorf(path, "listen address %q: bad port %q", s, port)
	}
	return s
}

// Duration parses a Go duration ("5s", "2m"); empty gives def. Zero is
// accepted only when zeroOK.
func (c *Checker) Duration(s string, def time.Duration, zeroOK bool, path ...string) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		c.Errorf(path, "duration %q: want e.g. 5s, 2m or 1h", s)
		return def
	}
	if d < 0 || (d == 0 && !zeroOK) {
		c.Errorf(path, "duration %q: want a positive duration", s)
		return def
	}
	return d
}

// Size parses a byte count: a number, optionally with a KiB or MiB
// suffix, at most max; empty gives def.
func (c *Checker) Size(s string, def, max int64, path ...string) int64 {
	if s == "" {
		return def
	}
	num, mult := strings.TrimSpace(s), int64(1)
	switch {
	case strings.HasSuffix(num, "KiB"):
		num, mult = strings.TrimSuffix(num, "KiB"), 1<<10
	case strings.HasSuffix(num, "MiB"):
		num, mult = strings.TrimSuffix(num, "MiB"), 1<<20
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 {
		c.Errorf(path, "size %q: want a positive number of bytes, e.g. 65536 or 64KiB", s)
		return def
	}
	if n > max/mult {
		c.Errorf(path, "size %q: at most %d bytes", s, max)
		return def
	}
	return n * mult
}

// Positive checks a count from 1 to max; nil (the key left out) gives def.
func (c *Checker) Positive(p *int, def, max int, path ...string) int {
	if p == nil {
		return def
	}
	if *p <= 0 || *p > max {
		c.Errorf(path, "%d: want 1 to %d", *p, max)
		return def
	}
	return *p
}

// Prefixes parses a list of prefixes or bare addresses (model.ParsePrefix),
// leaving out the bad ones.
func (c *Checker) Prefixes(in []string, path ...string) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range in {
		p, err := model.ParsePrefix(s)
		if err != nil {
			c.Errorf(append(path, strconv.Itoa(i)), "%v", err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// File resolves a file name of the section against dir (the spec file's
// directory) and reports it when it cannot be read; "" stays "" (no file).
func (c *Checker) File(dir, name string, path ...string) string {
	if name == "" {
		return ""
	}
	if !filepath.IsAbs(name) {
		name = filepath.Join(dir, name)
	}
	if _, err := os.Stat(name); err != nil {
		c.Errorf(path, "%s: %q: %s", strings.Join(path, "."), name, diag.FileReason(err))
	}
	return name
}
