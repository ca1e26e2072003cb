// Package pac renders the host-name flows of a plan as a proxy
// auto-config file: FindProxyForURL sends the allow-listed hosts and ports
// through the egress proxy (or DIRECT, by option) and everything else the
// other way. See README.md.
package pac

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/render"
	"github.com/teamsgate/teamsgate/internal/view"
)

// Name is the target's name on the command line.
const Name = "pac"

// FileName is the rendered proxy auto-config file.
const FileName = "proxy.pac"

// Renderer is the PAC target.
type Renderer struct{}

var _ render.Renderer = (*Renderer)(nil)

// New returns the PAC target.
func New() *Renderer { return &Renderer{} }

// Name implements render.Renderer.
func (*Renderer) Name() string { return Name }

// Description implements render.Renderer.
func (*Renderer) Description() string {
	return "proxy auto-config (FindProxyForURL): allow-listed hosts through the proxy, or DIRECT with --direct"
}

// Caps implements render.Renderer: host names only.
func (*Renderer) Caps() view.Caps {
	return view.Caps{FQDN: true, HostsOnly: true, Reads: view.ChoiceProxy | view.ChoiceDirect}
}

// The helper functions every rendered file carries. They use only ECMAScript
// 3 (PAC engines are old: WinHTTP's, Chrome's, Firefox's): no
// Array.prototype.indexOf, no let, no trailing commas. A "*.example.com"
// pattern matches exactly one label in front of example.com, as the plan
// (RFC 6125 §6.4.3) means it; shExpMatch("a.b.example.com",
// "*.example.com") would be true, so it is not used.
const helpers = `// teamsgateHost normalises the host FindProxyForURL gets: lower case, no
// trailing dot.
function teamsgateHost(host) {
  var h = String(host).toLowerCase();
  if (h.length > 0 && h.charAt(h.length - 1) == ".") {
    h = h.substring(0, h.length - 1);
  }
  return h;
}

// teamsgatePort is the port of the URL: the explicit one, or the scheme's
// default; -1 when unknown.
function teamsgatePort(url) {
  var s = String(url);
  var i = s.indexOf("://");
  if (i < 0) {
    return -1;
  }
  var scheme = s.substring(0, i).toLowerCase();
  var rest = s.substring(i + 3);
  var end = rest.search(/[\/?#]/);
  var auth = end < 0 ? rest : rest.substring(0, end);
  var at = auth.lastIndexOf("@");
  if (at >= 0) {
    auth = auth.substring(at + 1);
  }
  var colon = auth.lastIndexOf(":");
  if (colon >= 0 && colon > auth.lastIndexOf("]")) {
    var digits = auth.substring(colon + 1);
    return /^[0-9]{1,5}$/.test(digits) ? parseInt(digits, 10) : -1;
  }
  if (scheme == "http" || scheme == "ws") {
    return 80;
  }
  if (scheme == "https" || scheme == "wss") {
    return 443;
  }
  return -1;
}

// teamsgateOneLabel reports whether h is exactly one label in front of
// domain: "a.example.com" for "*.example.com", not "example.com" nor
// "a.b.example.com".
function teamsgateOneLabel(h, domain) {
  var i = h.indexOf(".");
  return i > 0 && h.substring(i + 1) == domain;
}

// teamsgatePortIn reports whether p is in one of the inclusive ranges
// [first, last].
function teamsgatePortIn(p, ranges) {
  for (var i = 0; i < ranges.length; i++) {
    if (ranges[i][0] <= p && p <= ranges[i][1]) {
      return true;
    }
  }
  return false;
}
`

// Render implements render.Renderer.
func (r *Renderer) Render(p *model.Plan, opt view.Options) (render.Output, diag.List) {
	prep, ds := view.Prepare(p, Name, r.Caps(), opt)
	if ds.HasErrors() {
		return render.Output{}, ds
	}
	if !opt.Proxy.IsValid() {
		ds.Errorf(diag.Pos{}, "", "%s: give the egress proxy as ADDR:PORT (--fqdn-via-proxy): the allow-listed hosts go through it, or with --direct everything else does", Name)
		return render.Output{}, ds
	}
	proxy := "PROXY " + opt.Proxy.String()
	listed, other := proxy, "DIRECT"
	if opt.Direct {
		listed, other = "DIRECT", proxy
	}
	var notes []string
	var body strings.Builder
	seen := map[string]bool{}
	n := 0
	for i := range prep.Items {
		it := &prep.Items[i]
		rule := &it.Rule
		if note := skip(it); note != "" {
			notes = append(notes, rule.ID+": not rendered, "+note)
			continue
		}
		n++
		body.WriteString("  // " + oneLine(view.Comment(*it)) + "\n")
		var conds []string
		for _, h := range rule.Destination.Hosts {
			c := fmt.Sprintf("h == %s", q(h.String()))
			if h.IsWildcard() {
				c = fmt.Sprintf("teamsgateOneLabel(h, %s)", q(h.Domain()))
			}
			conds = append(conds, c)
		}
		ports := portList(rule.DestPorts)
		key := strings.Join(conds, "|") + "@" + ports
		if seen[key] {
			body.WriteString("  // (same hosts and ports as above)\n")
			continue
		}
		seen[key] = true
		cond := "(" + strings.Join(conds, " || ") + ")"
		if ports != "" {
			cond = "teamsgatePortIn(p, [" + ports + "]) && " + cond
		}
		fmt.Fprintf(&body, "  if (%s) {\n    return teamsgateListed;\n  }\n", cond)
	}
	if n == 0 {
		ds.Errorf(diag.Pos{}, "", "%s: nothing to render: no host-name flow of the plan goes through a proxy:\n  %s", Name, strings.Join(notes, "\n  "))
		return render.Output{}, ds
	}
	header := view.Header(p, Name, opt, prep)
	header = append(header, notes...)
	var b strings.Builder
	for _, h := range header {
		b.WriteString("// " + oneLine(h) + "\n")
	}
	b.WriteString("//\n")
	fmt.Fprintf(&b, "// The hosts and ports below go %s; every other URL goes %s.\n", listed, other)
	b.WriteString("// A PAC file steers clients, it enforces nothing: the proxy and the firewall\n")
	b.WriteString("// do. It does not know the client's address either: serve it to the machines\n")
	b.WriteString("// whose flows these are.\n\n")
	fmt.Fprintf(&b, "var teamsgateListed = %s;\nvar teamsgateOther = %s;\n\n", q(listed), q(other))
	b.WriteString(helpers)
	b.WriteString("\nfunction FindProxyForURL(url, host) {\n")
	b.WriteString("  var h = teamsgateHost(host);\n  var p = teamsgatePort(url);\n")
	b.WriteString(body.String())
	b.WriteString("  return teamsgateOther;\n}\n")
	return render.Output{
		Files:    map[string][]byte{FileName: []byte(b.String())},
		Warnings: append(append([]string(nil), prep.Header...), notes...),
	}, ds
}

// skip says why a rule kept by Prepare is no job for a PAC file, or "" when
// it is.
func skip(it *view.Item) string {
	r := &it.Rule
	switch {
	case it.Dir == view.Inbound:
		return "a PAC file steers the role's outbound requests only"
	case r.Destination.Role != "" && r.Destination.HasAddresses():
		return fmt.Sprintf("the destination is the machines of role %s, bound to addresses: render it for an address-based target", r.Destination.Role)
	case r.Proto != model.ProtoTCP:
		return fmt.Sprintf("a PAC file steers TCP requests only, this flow is %s: render it for an address-based target", r.Proto)
	}
	return ""
}

// portList is the flow's port ranges as the body of a JavaScript array of
// [first, last] pairs; "" for any port.
func portList(s model.PortSet) string {
	if s.IsAny() || s.IsEphemeral() {
		return ""
	}
	var out []string
	for _, pr := range s.Ranges() {
		out = append(out, "["+strconv.Itoa(int(pr.First))+", "+strconv.Itoa(int(pr.Last))+"]")
	}
	return strings.Join(out, ", ")
}

// q quotes a JavaScript string literal; a JSON string is one.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
