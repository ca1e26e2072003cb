// Package spec reads a deployment spec: the user's YAML naming the cloud,
// the integrations in use, the addresses of the parts they own (roles) and
// the integrations' parameters. Decoding is strict and every problem is
// reported with file:line:col.
package spec

import (
	"errors"
	"fmt"
	"github.com/teamsgate/teamsgate/internal/suggest"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/yamlx"
)

type wireSpec struct {
	Name         string                     `yaml:"name"`
	Cloud        string                     `yaml:"cloud"`
	Integrations map[string]wireIntegration `yaml:"integrations"`
	// Gateway and Egress are kept raw: package ingress owns the gateway:
	// section, package egress the egress: section (their wire types,
	// checks and defaults).
	Gateway yaml.Node `yaml:"gateway"`
	Egress  yaml.Node `yaml:"egress"`
	Audit   wireAudit `yaml:"audit"`

	// TenantRestrictions is the tenant restrictions (v1) policy of the
	// network the deployment's outbound traffic leaves through.
	TenantRestrictions *wireTenantRestrictions `yaml:"tenant_restrictions"`
}

// wireTenantRestrictions is the tenant_restrictions: section
// (docs/egress.md, "Tenant restrictions").
type wireTenantRestrictions struct {
	Enabled *bool    `yaml:"enabled"`
	Tenants []string `yaml:"tenants"`
	Context string   `yaml:"context"`
}

// wireAudit is the audit: section: how the auditor finds the deployment's
// roles in a configuration that covers more than one host (docs/audit.md,
// "Estate audits").
type wireAudit struct {
	AWS wireAuditAWS `yaml:"aws"`
}

type wireAuditAWS struct {
	RoleTag string `yaml:"role_tag"`
}

type wireIntegration struct {
	Roles      map[string]wireRole `yaml:"roles"`
	Parameters map[string]any      `yaml:"parameters"`
}

type wireRole struct {
	Addresses []string `yaml:"addresses"`
	Hosts     []string `yaml:"hosts"`
	Outside   bool     `yaml:"outside"`
}

// Spec is a compiled deployment spec.
type Spec struct {
	File  string
	Name  string
	Cloud model.Cloud
	// Uses lists the integrations in use, sorted by id.
	Uses []*Use
	// Gateway is the gateway: section of `teamsgate serve`, as written:
	// package ingress decodes it (IsZero when the spec has none).
	Gateway yamlx.Section
	// Egress is the egress: section, the allow-list proxy of `teamsgate
	// serve`, as written: package egress decodes it (IsZero when the spec
	// has none). A spec may have either section or both.
	Egress yamlx.Section
	// Audit holds how the auditor maps a configuration that covers many
	// hosts onto the spec's roles.
	Audit Audit
	// TenantRestrictions is the tenant_restrictions: section; nil when the
	// spec has none.
	TenantRestrictions *TenantRestrictions

	doc yamlx.Doc
}

// Audit is the audit: section of a spec.
type Audit struct {
	// AWSRoleTag is the tag key (audit.aws.role_tag) whose value on a
	// security group names the roles the group protects: role references
	// as --scope takes them ("INTEGRATION/ROLE" or "ROLE"), separated by
	// spaces. Empty when the spec gives none.
	AWSRoleTag string
	// AWSRoleTagPos is where the spec gives it, for messages.
	AWSRoleTagPos diag.Pos
}

// TenantRestrictions is the tenant_restrictions: section of a spec: the
// tenant restrictions (v1) policy that a TLS-inspecting proxy sets on the
// Microsoft sign-in hosts (docs/reference/botauth.md §5.1).
type TenantRestrictions struct {
	// Enabled is false when the section says enabled: false: checked, but
	// not in force.
	Enabled bool
	// Tenants are the permitted tenants as the spec lists them.
	Tenants []model.Tenant
	// Context is the directory ID of the tenant setting the policy.
	Context model.Tenant
}

// maxTagKey is the longest tag key AWS allows (Amazon EC2 User Guide, "Tag
// restrictions": 128 Unicode characters).
const maxTagKey = 128

// Use is one integration in a deployment: its role bindings and its
// parameters, defaults filled in.
type Use struct {
	Integration string
	// Roles holds the roles the spec binds. A role the spec leaves out is
	// absent.
	Roles  map[string]model.Target
	Params map[string]catalog.Value
	// Set lists the parameters the spec gave explicitly.
	Set map[string]bool
}

// Use returns the use of an integration, or nil.
func (s *Spec) Use(integration string) *Use {
	for _, u := range s.Uses {
		if u.Integration == integration {
			return u
		}
	}
	return nil
}

// At returns the position of a path in the spec file, for diagnostics
// raised after parsing (by the planner).
func (s *Spec) At(path ...string) diag.Pos { return s.doc.At(path...) }

// KeyAt returns the position of the key at the end of path.
func (s *Spec) KeyAt(path ...string) diag.Pos { return s.doc.KeyAt(path...) }

// Parse parses a spec against the catalog. It returns the spec (nil only
// when the YAML itself is unusable) and every problem found.
func Parse(data []byte, file string, cat *catalog.Catalog) (*Spec, diag.List) {
	var w wireSpec
	doc, ds := yamlx.Decode(data, file, &w)
	if doc.Root == nil {
		return nil, ds
	}
	s := &Spec{File: file, Name: w.Name, doc: doc}
	if w.Cloud == "" {
		ds.Errorf(doc.At(), "", "no cloud given (want cloud: worldwide, gcc, gcch or dod)")
	} else if c, err := model.ParseCloud(w.Cloud); err != nil {
		ds.Errorf(doc.At("cloud"), "", "%v", err)
	} else {
		s.Cloud = c
	}
	if len(w.Integrations) == 0 {
		ds.Errorf(doc.At(), "", "no integrations given (want integrations: with one or more of %s)", strings.Join(cat.IntegrationNames(), ", "))
	}
	names := make([]string, 0, len(w.Integrations))
	for n := range w.Integrations {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		in, ok := cat.Integrations[name]
		if !ok {
			ds.Errorf(doc.KeyAt("integrations", name), "", "unknown integration %q%s (known: %s)", name, suggest.Hint(name, cat.IntegrationNames()), strings.Join(cat.IntegrationNames(), ", "))
			continue
		}
		u, uds := compileUse(in, w.Integrations[name], doc)
		ds.Append(uds)
		s.Uses = append(s.Uses, u)
	}
	s.Audit = compileAudit(w.Audit, doc, &ds)
	if w.TenantRestrictions == nil && present(doc, "tenant_restrictions") {
		// "tenant_restrictions:" with nothing under it decodes to nil: it
		// is a section without tenants or context, not no section.
		w.TenantRestrictions = &wireTenantRestrictions{}
	}
	if w.TenantRestrictions != nil {
		s.TenantRestrictions = compileTenantRestrictions(w.TenantRestrictions, doc, &ds)
	}
	if w.Gateway.Kind != 0 {
		// The document's own node, not yaml.v3's copy: positions and
		// the checks already made stay with it.
		s.Gateway = yamlx.Section{Doc: doc, Node: doc.Lookup("gateway"), Path: []string{"gateway"}}
	}
	if w.Egress.Kind != 0 {
		s.Egress = yamlx.Section{Doc: doc, Node: doc.Lookup("egress"), Path: []string{"egress"}}
	}
	ds.Sort()
	return s, ds
}

func compileUse(in *catalog.Integration, w wireIntegration, doc yamlx.Doc) (*Use, diag.List) {
	var ds diag.List
	u := &Use{
		Integration: in.ID,
		Roles:       map[string]model.Target{},
		Params:      map[string]catalog.Value{},
		Set:         map[string]bool{},
	}
	base := []string{"integrations", in.ID}
	for _, rn := range sortedKeys(w.Roles) {
		if _, ok := in.Roles[rn]; !ok {
			ds.Errorf(doc.KeyAt(append(base, "roles", rn)...), in.ID, "unknown role %q%s (known: %s)", rn, suggest.Hint(rn, in.RoleNames()), strings.Join(in.RoleNames(), ", "))
			continue
		}
		wr := w.Roles[rn]
		t := model.Target{Role: rn, Outside: wr.Outside}
		at := func(p ...string) diag.Pos { return doc.At(append(append(base, "roles", rn), p...)...) }
		for i, a := range wr.Addresses {
			p, err := model.ParsePrefix(a)
			if err != nil {
				ds.Errorf(at("addresses", strconv.Itoa(i)), in.ID, "role %q: %v", rn, err)
				continue
			}
			t.Prefixes = append(t.Prefixes, p)
		}
		for i, h := range wr.Hosts {
			host, err := model.ParseHost(h)
			if errors.Is(err, model.ErrHostIsAddress) {
				ds.Errorf(at("hosts", strconv.Itoa(i)), in.ID, "role %q: hosts: %q is an IP address or prefix, not a host name; put it under addresses:", rn, h)
				continue
			}
			if err != nil {
				ds.Errorf(at("hosts", strconv.Itoa(i)), in.ID, "role %q: %v", rn, err)
				continue
			}
			t.Hosts = append(t.Hosts, host)
		}
		if len(wr.Addresses) == 0 && len(wr.Hosts) == 0 {
			// A role whose only keys are unknown ones already has its
			// error ("unknown key"); saying it has no addresses too is
			// noise.
			if !onlyUnknownKeys(doc.Lookup(append(base, "roles", rn)...)) {
				ds.Errorf(at(), in.ID, "role %q has no addresses", rn)
			}
			continue
		}
		t.Prefixes = dedupePrefixes(t.Prefixes)
		u.Roles[rn] = t
	}
	for _, pn := range in.ParamNames() {
		u.Params[pn] = in.Params[pn].Default
	}
	for _, pn := range sortedKeys(w.Parameters) {
		p, ok := in.Params[pn]
		at := doc.At(append(base, "parameters", pn)...)
		if !ok {
			ds.Errorf(doc.KeyAt(append(base, "parameters", pn)...), in.ID, "unknown parameter %q%s (known: %s)", pn, suggest.Hint(pn, in.ParamNames()), strings.Join(in.ParamNames(), ", "))
			continue
		}
		v, err := paramValue(p, w.Parameters[pn])
		if err != nil {
			ds.Errorf(at, in.ID, "parameter %q: %v", pn, err)
			continue
		}
		u.Params[pn] = v
		u.Set[pn] = true
	}
	return u, ds
}

// onlyUnknownKeys reports whether a role mapping has keys and none of them
// is known (addresses, hosts, outside).
func onlyUnknownKeys(n *yaml.Node) bool {
	if n == nil || n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; k == "addresses" || k == "hosts" || k == "outside" {
			return false
		}
	}
	return true
}

// compileAudit checks the audit: section.
func compileAudit(w wireAudit, doc yamlx.Doc, ds *diag.List) Audit {
	a := Audit{AWSRoleTag: w.AWS.RoleTag}
	if !present(doc, "audit", "aws") {
		return a
	}
	a.AWSRoleTagPos = doc.At("audit", "aws", "role_tag")
	switch key := strings.TrimSpace(w.AWS.RoleTag); {
	case !present(doc, "audit", "aws", "role_tag"):
		ds.Errorf(doc.At("audit", "aws"), "audit.aws", "no role_tag given (want the tag key whose value on a security group names the roles it protects, e.g. role_tag: teamsgate:role)")
	case key == "":
		ds.Errorf(a.AWSRoleTagPos, "audit.aws", "role_tag is empty (want a tag key, e.g. teamsgate:role)")
	case key != w.AWS.RoleTag:
		ds.Errorf(a.AWSRoleTagPos, "audit.aws", "role_tag %q has spaces at its ends; AWS tag keys are matched exactly", w.AWS.RoleTag)
	case utf8.RuneCountInString(key) > maxTagKey:
		ds.Errorf(a.AWSRoleTagPos, "audit.aws", "role_tag is %d characters; an AWS tag key has at most %d", utf8.RuneCountInString(key), maxTagKey)
	}
	return a
}

// compileTenantRestrictions checks the tenant_restrictions: section.
func compileTenantRestrictions(w *wireTenantRestrictions, doc yamlx.Doc, ds *diag.List) *TenantRestrictions {
	const subject = "tenant_restrictions"
	tr := &TenantRestrictions{Enabled: w.Enabled == nil || *w.Enabled}
	if len(w.Tenants) == 0 && !present(doc, subject, "tenants") {
		ds.Errorf(doc.At(subject), subject, "no tenants given (want tenants: the tenants your network permits, as domains such as contoso.com or directory IDs)")
	} else if len(w.Tenants) == 0 && !errorAt(*ds, doc.At(subject, "tenants")) {
		// (a value that is no list has its decoding error already)
		ds.Errorf(doc.At(subject, "tenants"), subject, "tenants is empty: Entra ID would issue no token to anyone")
	}
	seen := map[model.Tenant]bool{}
	for i, raw := range w.Tenants {
		at := doc.At(subject, "tenants", strconv.Itoa(i))
		t, err := model.ParseTenant(raw)
		switch {
		case err != nil:
			ds.Errorf(at, subject, "%v", err)
		case seen[t]:
			ds.Errorf(at, subject, "tenant %s listed twice", t)
		default:
			seen[t] = true
			tr.Tenants = append(tr.Tenants, t)
		}
	}
	if !present(doc, subject, "context") {
		ds.Errorf(doc.At(subject), subject, "no context given (want context: the directory ID of your own tenant, which sets the policy and receives the sign-in logs of what it blocks)")
		return tr
	}
	c, err := model.ParseTenantID(w.Context)
	if err != nil && !errorAt(*ds, doc.At(subject, "context")) {
		ds.Errorf(doc.At(subject, "context"), subject, "context: %v", err)
	}
	tr.Context = c
	return tr
}

// present reports whether the document has a value at path (Lookup
// returns the deepest existing ancestor when it has not).
// errorAt reports whether ds has an error at pos: a value that could not
// be decoded, which needs no second message.
func errorAt(ds diag.List, pos diag.Pos) bool {
	for _, d := range ds.Errors() {
		if d.Pos == pos {
			return true
		}
	}
	return false
}

func present(doc yamlx.Doc, path ...string) bool {
	return doc.Lookup(path...) != doc.Lookup(path[:len(path)-1]...)
}

func paramValue(p *catalog.Param, raw any) (catalog.Value, error) {
	switch p.Kind {
	case catalog.ParamBool:
		b, ok := raw.(bool)
		if !ok {
			return catalog.Value{}, fmt.Errorf("want true or false, got %s", yamlValue(raw))
		}
		return catalog.Value{Bool: b}, nil
	case catalog.ParamPorts:
		var s string
		switch v := raw.(type) {
		case int:
			s = strconv.Itoa(v)
		case string:
			s = v
		default:
			return catalog.Value{}, fmt.Errorf("want a port or range such as \"16000-17000\", got %s", yamlValue(raw))
		}
		ps, err := model.ParsePortSet(s)
		if err != nil {
			return catalog.Value{}, err
		}
		if ps.IsAny() {
			return catalog.Value{}, fmt.Errorf("%q: give the ports explicitly, not any", s)
		}
		if p.MinPorts > 0 && ps.Len() < p.MinPorts {
			return catalog.Value{}, fmt.Errorf("%s holds %d ports; it must hold at least %d (%s)", ps, ps.Len(), p.MinPorts, p.Description)
		}
		return catalog.Value{Ports: ps}, nil
	case catalog.ParamAppType:
		s, ok := raw.(string)
		if !ok {
			return catalog.Value{}, fmt.Errorf("want one of %s, got %s", model.AppTypeNames(), yamlValue(raw))
		}
		a, err := model.ParseAppType(s)
		if err != nil {
			return catalog.Value{}, err
		}
		return catalog.Value{AppType: a}, nil
	case catalog.ParamTenant:
		s, ok := raw.(string)
		if !ok {
			return catalog.Value{}, fmt.Errorf("want a domain of the tenant or its directory ID, got %s", yamlValue(raw))
		}
		t, err := model.ParseTenant(s)
		if err != nil {
			return catalog.Value{}, err
		}
		return catalog.Value{Tenant: t}, nil
	case catalog.ParamEnum:
		s, ok := raw.(string)
		if ok {
			for _, v := range p.Values {
				if v == s {
					return catalog.Value{Str: s}, nil
				}
			}
		}
		return catalog.Value{}, fmt.Errorf("want one of %s%s, got %s", strings.Join(p.Values, ", "), suggestValue(raw, p.Values), yamlValue(raw))
	}
	return catalog.Value{}, fmt.Errorf("the catalog gives this parameter a kind (%s) this version cannot read", p.Kind)
}

// yamlValue names a decoded YAML value in the user's terms: a scalar as
// written, anything else by its kind.
func yamlValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return strconv.Quote(x)
	case bool, int, int64, uint64, float64:
		return fmt.Sprint(x)
	case []any:
		return "a list"
	case map[string]any, map[any]any:
		return "a mapping"
	}
	return "a value of another kind"
}

func suggestValue(raw any, values []string) string {
	if s, ok := raw.(string); ok {
		return suggest.Hint(s, values)
	}
	return ""
}

func dedupePrefixes(ps []netip.Prefix) []netip.Prefix {
	seen := map[netip.Prefix]bool{}
	out := ps[:0]
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
