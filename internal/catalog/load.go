package catalog

import (
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/m365"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/yamlx"
)

// builder accumulates the sources of a catalog and compiles them.
type builder struct {
	cat      *Catalog
	ds       diag.List
	versions []string
	intPos   map[string]diag.Pos
	// flowInt maps a flow id to its integration, to find duplicates.
	flowInt map[string]string
	// flowDoc keeps the position helpers of each flow for validation.
	flowAt map[string]func(path ...string) diag.Pos
}

// m365VersionRE is the web service's version format: ten digits, the date
// and a number within the day (docs/reference/endpoints.md §1, "Version
// method").
var m365VersionRE = regexp.MustCompile(`^[0-9]{10}$`)

func newBuilder() *builder {
	return &builder{
		cat: &Catalog{
			Documents:    map[string]Document{},
			Integrations: map[string]*Integration{},
			Sets:         map[string]*AddressSet{},
			M365:         map[model.Cloud]M365Data{},
			ServiceTags:  map[string]*TagFile{},
			flowPos:      map[string]diag.Pos{},
		},
		intPos:  map[string]diag.Pos{},
		flowInt: map[string]string{},
		flowAt:  map[string]func(path ...string) diag.Pos{},
	}
}

func (b *builder) load(src Source, base bool) {
	data, err := fs.ReadFile(src.FS, "catalog.yaml")
	switch {
	case err == nil:
		b.loadCatalogFile(src, data)
	case base:
		b.ds.Errorf(diag.Pos{File: path.Join(src.Name, "catalog.yaml")}, "", "cannot read the catalog: %s", diag.FileReason(err))
	}
	names, err := fs.Glob(src.FS, "integrations/*.yaml")
	if err != nil {
		b.ds.Errorf(diag.Pos{File: src.Name}, "", "%v", err)
	}
	sort.Strings(names)
	for _, n := range names {
		data, err := fs.ReadFile(src.FS, n)
		if err != nil {
			b.ds.Errorf(diag.Pos{File: path.Join(src.Name, n)}, "", "%v", err)
			continue
		}
		b.loadIntegration(path.Join(src.Name, n), data)
	}
	if !base && len(names) == 0 && err == nil {
		if _, statErr := fs.Stat(src.FS, "catalog.yaml"); statErr != nil {
			b.ds.Errorf(diag.Pos{File: src.Name}, "", "catalog directory holds neither catalog.yaml nor integrations/*.yaml")
		}
	}
}

func (b *builder) loadCatalogFile(src Source, data []byte) {
	file := path.Join(src.Name, "catalog.yaml")
	var w wireCatalog
	doc, ds := yamlx.Decode(data, file, &w)
	b.ds.Append(ds)
	if ds.HasErrors() {
		return
	}
	if w.Version != "" {
		b.versions = append(b.versions, w.Version)
	}
	for _, id := range sortedKeys(w.Documents) {
		d := w.Documents[id]
		b.cat.Documents[id] = Document{ID: id, Title: d.Title, File: d.File}
	}
	parsed := map[string]M365Data{}
	for _, name := range sortedKeys(w.M365) {
		m := w.M365[name]
		at := doc.At("m365", name)
		cloud, err := model.ParseCloud(name)
		if err != nil {
			b.ds.Errorf(doc.KeyAt("m365", name), "m365", "%v", err)
			continue
		}
		if d, ok := parsed[m.File]; ok {
			b.cat.M365[cloud] = d
			continue
		}
		raw, err := fs.ReadFile(src.FS, m.File)
		if err != nil {
			b.ds.Errorf(at, "m365", "cannot read %q: %s", m.File, diag.FileReason(err))
			continue
		}
		sets, mds := m365.Parse(raw)
		b.ds.Append(mds.WithFile(path.Join(src.Name, m.File)))
		data := M365Data{Instance: m.Instance, File: m.File, Version: m.Version, Source: m.Source, Sets: sets}
		if m.Version != "" && !m365VersionRE.MatchString(m.Version) {
			b.ds.Errorf(doc.At("m365", name, "version"), "m365", "version %q: want the web service's ten digits, YYYYMMDDNN", m.Version)
		}
		if m.Date != "" {
			d, err := time.Parse(time.DateOnly, m.Date)
			if err != nil {
				b.ds.Errorf(doc.At("m365", name, "date"), "m365", "date %q: want YYYY-MM-DD", m.Date)
			}
			data.Date = d
		}
		parsed[m.File] = data
		b.cat.M365[cloud] = parsed[m.File]
	}
	for _, name := range sortedKeys(w.ServiceTags) {
		b.loadTags(src, &doc, name, w.ServiceTags[name])
	}
	for _, name := range sortedKeys(w.AddressSets) {
		ws := w.AddressSets[name]
		set, ok := b.cat.Sets[name]
		if !ok {
			set = &AddressSet{Name: name, Values: map[model.Cloud]*SetValue{}}
			b.cat.Sets[name] = set
		}
		if ws.Description != "" {
			set.Description = ws.Description
		}
		for _, cname := range sortedKeys(ws.Values) {
			cloud, err := model.ParseCloud(cname)
			if err != nil {
				b.ds.Errorf(doc.KeyAt("address_sets", name, "values", cname), name, "%v", err)
				continue
			}
			v, vds := compileSetValue(ws.Values[cname], func(p ...string) diag.Pos {
				return doc.At(append([]string{"address_sets", name, "values", cname}, p...)...)
			}, name)
			b.ds.Append(vds)
			set.Values[cloud] = v
		}
	}
}

// loadTags records a service tags file of the catalog. The file must be
// there; it is parsed only when a command needs its tags (TagFile.Data).
func (b *builder) loadTags(src Source, doc *yamlx.Doc, cloud string, w wireTags) {
	at := func(p ...string) diag.Pos { return doc.At(append([]string{"service_tags", cloud}, p...)...) }
	if cloud != "Public" && cloud != "AzureGovernment" {
		b.ds.Errorf(doc.KeyAt("service_tags", cloud), "service_tags", "unknown cloud %q: want Public or AzureGovernment, the cloud field of Microsoft's file", cloud)
		return
	}
	if w.File == "" {
		b.ds.Errorf(at(), "service_tags", "no file")
		return
	}
	if _, err := fs.Stat(src.FS, w.File); err != nil {
		b.ds.Errorf(at("file"), "service_tags", "cannot read %q: %s", w.File, diag.FileReason(err))
		return
	}
	if w.ChangeNumber <= 0 {
		b.ds.Errorf(at("change_number"), "service_tags", "no change_number: want the file's changeNumber")
		return
	}
	t := &TagFile{Cloud: cloud, File: w.File, ChangeNumber: w.ChangeNumber, Source: w.Source, fsys: src.FS, name: path.Join(src.Name, w.File)}
	if w.Date != "" {
		d, err := time.Parse(time.DateOnly, w.Date)
		if err != nil {
			b.ds.Errorf(at("date"), "service_tags", "date %q: want YYYY-MM-DD", w.Date)
		}
		t.Date = d
	}
	b.cat.ServiceTags[cloud] = t
}

func compileSetValue(w wireSetValue, at func(...string) diag.Pos, subject string) (*SetValue, diag.List) {
	var ds diag.List
	v := &SetValue{Note: w.Note}
	for i, s := range w.Prefixes {
		p, err := model.ParsePrefix(s)
		if err != nil {
			ds.Errorf(at("prefixes", strconv.Itoa(i)), subject, "%v", err)
			continue
		}
		v.Prefixes = append(v.Prefixes, p)
	}
	for i, s := range w.Hosts {
		h, err := model.ParseHost(s)
		if err != nil {
			ds.Errorf(at("hosts", strconv.Itoa(i)), subject, "%v", err)
			continue
		}
		v.Hosts = append(v.Hosts, h)
	}
	if w.FromM365 != nil {
		if w.FromM365.ServiceArea == "" {
			ds.Errorf(at("from_m365"), subject, "from_m365 needs a service_area")
		}
		f := &fromM365{area: w.FromM365.ServiceArea, categories: map[string]bool{}}
		for _, c := range w.FromM365.Categories {
			switch c {
			case "Optimize", "Allow", "Default":
				f.categories[c] = true
			default:
				ds.Errorf(at("from_m365", "categories"), subject, "unknown category %q (want Optimize, Allow or Default)", c)
			}
		}
		v.fromM365 = f
	}
	if len(w.Prefixes) == 0 && len(w.Hosts) == 0 && w.FromM365 == nil {
		ds.Errorf(at(), subject, "value has neither prefixes, hosts nor from_m365")
	}
	st, err := model.ParseStatus(w.Status)
	if err != nil {
		ds.Errorf(at("status"), subject, "%v", err)
	}
	v.Status = st
	if w.Reference != nil {
		v.Reference = model.Reference{Doc: w.Reference.Doc, Section: w.Reference.Section, Row: w.Reference.Row}
	}
	return v, ds
}

// parsePrefix accepts a prefix or a bare address (a /32 or /128) and
// rejects prefixes with host bits set, which are almost always typos.
func (b *builder) loadIntegration(file string, data []byte) {
	var w wireIntegration
	doc, ds := yamlx.Decode(data, file, &w)
	b.ds.Append(ds)
	if ds.HasErrors() {
		return
	}
	if w.Integration == "" {
		b.ds.Errorf(doc.At(), "", "integration id missing (key \"integration\")")
		return
	}
	in, ok := b.cat.Integrations[w.Integration]
	if !ok {
		in = &Integration{ID: w.Integration, Roles: map[string]*Role{}, Params: map[string]*Param{}}
		b.cat.Integrations[w.Integration] = in
		b.intPos[w.Integration] = doc.At("integration")
	}
	if w.Title != "" {
		in.Title = w.Title
	}
	if w.Document != "" {
		in.Document = w.Document
	}
	if w.Description != "" {
		in.Description = w.Description
	}
	for _, name := range sortedKeys(w.Roles) {
		r := w.Roles[name]
		role := &Role{Name: name, Description: r.Description, DefaultNote: r.DefaultNote}
		if r.Default != nil {
			ep, eds := compileEndpoint(r.Default, func(p ...string) diag.Pos {
				return doc.At(append([]string{"roles", name, "default"}, p...)...)
			}, name)
			b.ds.Append(eds)
			if ep.Kind == model.EndpointRole {
				b.ds.Errorf(doc.At("roles", name, "default"), name, "a role's default cannot be another role")
			}
			role.Default = &ep
		}
		in.Roles[name] = role
	}
	for _, name := range sortedKeys(w.Parameters) {
		p, pds := compileParam(name, w.Parameters[name], func(p ...string) diag.Pos {
			return doc.At(append([]string{"parameters", name}, p...)...)
		})
		b.ds.Append(pds)
		if p != nil {
			in.Params[name] = p
		}
	}
	for _, k := range []ParamKind{ParamAppType, ParamTenant} {
		var names []string
		for _, n := range in.ParamNames() {
			if in.Params[n].Kind == k {
				names = append(names, n)
			}
		}
		if len(names) > 1 {
			b.ds.Errorf(doc.At("parameters"), w.Integration, "parameters %s are all of type %s; an integration has at most one", strings.Join(names, ", "), k)
		}
	}
	for i, wf := range w.Flows {
		idx := strconv.Itoa(i)
		at := func(p ...string) diag.Pos { return doc.At(append([]string{"flows", idx}, p...)...) }
		f, fds := compileFlow(mergeDefaults(w.Defaults, wf), w.Integration, in.Document, at)
		b.ds.Append(fds)
		if fds.HasErrors() {
			continue
		}
		if other, dup := b.flowInt[f.ID]; dup && other != w.Integration {
			b.ds.Errorf(at("id"), f.ID, "flow id already used by integration %q", other)
			continue
		}
		b.flowInt[f.ID] = w.Integration
		b.cat.flowPos[f.ID] = at()
		b.flowAt[f.ID] = at
		if old := in.Flow(f.ID); old != nil {
			*old = f // an overlay replaces the flow in place
			continue
		}
		in.Flows = append(in.Flows, f)
	}
}

func mergeDefaults(d *wireFlow, f wireFlow) wireFlow {
	if d == nil {
		return f
	}
	if f.From == nil {
		f.From = d.From
	}
	if f.To == nil {
		f.To = d.To
	}
	if f.SourcePorts == nil {
		f.SourcePorts = d.SourcePorts
	}
	if f.Ports == nil {
		f.Ports = d.Ports
	}
	if f.Proto == nil {
		f.Proto = d.Proto
	}
	if f.App == nil {
		f.App = d.App
	}
	if f.Requirements == nil {
		f.Requirements = d.Requirements
	}
	if f.Required == nil {
		f.Required = d.Required
	}
	return f
}

func compileParam(name string, w wireParam, at func(...string) diag.Pos) (*Param, diag.List) {
	var ds diag.List
	p := &Param{Name: name, Description: w.Description, MinPorts: w.MinPorts, Values: w.Values, Warn: w.Warn}
	switch w.Type {
	case "bool":
		p.Kind = ParamBool
		v, ok := w.Default.(bool)
		if w.Default != nil && !ok {
			ds.Errorf(at("default"), name, "default of a bool parameter must be true or false")
		}
		p.Default.Bool = v
	case "ports":
		p.Kind = ParamPorts
		var s string
		switch d := w.Default.(type) {
		case string:
			s = d
		case int:
			s = strconv.Itoa(d)
		default:
			ds.Errorf(at("default"), name, "default of a ports parameter must be a port or range such as \"16000-17000\"")
		}
		ps, err := model.ParsePortSet(s)
		if err != nil {
			ds.Errorf(at("default"), name, "%v", err)
		}
		p.Default.Ports = ps
	case "enum":
		p.Kind = ParamEnum
		s, _ := w.Default.(string)
		if len(w.Values) == 0 {
			ds.Errorf(at("values"), name, "an enum parameter needs values")
		}
		found := false
		for _, v := range w.Values {
			found = found || v == s
		}
		if !found {
			ds.Errorf(at("default"), name, "default %q is not one of %s", s, strings.Join(w.Values, ", "))
		}
		p.Default.Str = s
	case "app-type":
		p.Kind = ParamAppType
		if len(w.Values) > 0 {
			ds.Errorf(at("values"), name, "an app-type parameter takes no values: they are %s", model.AppTypeNames())
		}
		s, _ := w.Default.(string)
		v, err := model.ParseAppType(s)
		if err != nil {
			ds.Errorf(at("default"), name, "%v", err)
		}
		p.Default.AppType = v
	case "tenant":
		p.Kind = ParamTenant
		if w.Default != nil {
			ds.Errorf(at("default"), name, "a tenant parameter has no default: the tenant is the deployment's own")
		}
	default:
		ds.Errorf(at("type"), name, "unknown parameter type %q (want bool, ports, enum, app-type or tenant)", w.Type)
		return nil, ds
	}
	return p, ds
}

func compileEndpoint(w *wireEndpoint, at func(...string) diag.Pos, subject string) (model.Endpoint, diag.List) {
	var ds diag.List
	var ep model.Endpoint
	n := 0
	if w.Any {
		n++
		ep.Kind = model.EndpointAny
	}
	if w.Internet {
		n++
		ep = model.Endpoint{Kind: model.EndpointInternet}
	}
	if w.Role != "" {
		n++
		ep = model.Endpoint{Kind: model.EndpointRole, Name: w.Role}
	}
	if w.Set != "" {
		n++
		ep = model.Endpoint{Kind: model.EndpointSet, Name: w.Set}
	}
	if len(w.Hosts) > 0 {
		n++
		ep = model.Endpoint{Kind: model.EndpointHosts}
		for i, s := range w.Hosts {
			h, err := model.ParseHost(s)
			if err != nil {
				ds.Errorf(at("hosts", strconv.Itoa(i)), subject, "%v", err)
				continue
			}
			ep.Hosts = append(ep.Hosts, h)
		}
	}
	if w.ServiceTag != "" {
		n++
		ep = model.Endpoint{Kind: model.EndpointServiceTag, Name: w.ServiceTag}
	}
	if w.M365 != "" {
		n++
		ep = model.Endpoint{Kind: model.EndpointM365, Name: w.M365}
	}
	if n != 1 {
		ds.Errorf(at(), subject, "an endpoint needs exactly one of any, internet, role, set, hosts, service_tag or m365 (found %d)", n)
	}
	if w.Narrow != nil {
		nep, nds := compileEndpoint(w.Narrow, func(p ...string) diag.Pos { return at(append([]string{"narrow"}, p...)...) }, subject)
		ds.Append(nds)
		cond, err := model.ParseCondition(w.NarrowWhen)
		if err != nil || cond.IsAlways() {
			ds.Errorf(at("narrow_when"), subject, "narrow needs a narrow_when condition")
		}
		ep.Narrow, ep.NarrowWhen = &nep, cond
	} else if w.NarrowWhen != "" {
		ds.Errorf(at("narrow_when"), subject, "narrow_when without narrow")
	}
	return ep, ds
}

func compileFlow(w wireFlow, integration, document string, at func(...string) diag.Pos) (model.Flow, diag.List) {
	var ds diag.List
	f := model.Flow{
		ID:           w.ID,
		Integration:  integration,
		Purpose:      w.Purpose,
		Notes:        w.Notes,
		StatusReason: w.StatusReason,
		Requirements: w.Requirements,
		Required:     true,
		Hints:        w.Hints,
	}
	subject := w.ID
	if w.ID == "" {
		ds.Errorf(at(), integration, "flow without an id")
		subject = integration
	} else if !strings.HasPrefix(w.ID, integration+".") {
		ds.Errorf(at("id"), subject, "flow id must start with %q", integration+".")
	}
	if w.Required != nil {
		f.Required = *w.Required
	}
	if w.Purpose == "" {
		ds.Errorf(at(), subject, "flow without a purpose")
	}
	if w.From == nil || w.To == nil {
		ds.Errorf(at(), subject, "flow needs both from and to")
	} else {
		var eds diag.List
		f.Source, eds = compileEndpoint(w.From, func(p ...string) diag.Pos { return at(append([]string{"from"}, p...)...) }, subject)
		ds.Append(eds)
		f.Destination, eds = compileEndpoint(w.To, func(p ...string) diag.Pos { return at(append([]string{"to"}, p...)...) }, subject)
		ds.Append(eds)
	}
	proto := "tcp"
	if w.Proto != nil {
		proto = *w.Proto
	}
	p, err := model.ParseProto(proto)
	if err != nil {
		ds.Errorf(at("proto"), subject, "%v", err)
	}
	f.Proto = p
	if w.App != nil {
		f.App = *w.App
	}
	sp := "any"
	if w.SourcePorts != nil {
		sp = *w.SourcePorts
	}
	f.SourcePorts, err = compilePorts(sp)
	if err != nil {
		ds.Errorf(at("source_ports"), subject, "%v", err)
	}
	if w.Ports == nil {
		ds.Errorf(at(), subject, "flow needs ports (destination ports; \"any\" for any)")
	} else if f.DestPorts, err = compilePorts(*w.Ports); err != nil {
		ds.Errorf(at("ports"), subject, "%v", err)
	}
	switch w.Action {
	case "", "allow":
	case "deny":
		f.Action = model.Deny
	default:
		ds.Errorf(at("action"), subject, "unknown action %q (want allow or deny)", w.Action)
	}
	if f.Condition, err = model.ParseCondition(w.When); err != nil {
		ds.Errorf(at("when"), subject, "%v", err)
	}
	for i, c := range w.Clouds {
		cl, err := model.ParseCloud(c)
		if err != nil {
			ds.Errorf(at("clouds", strconv.Itoa(i)), subject, "%v", err)
			continue
		}
		f.Clouds = append(f.Clouds, cl)
	}
	if f.Status, err = model.ParseStatus(w.Status); err != nil {
		ds.Errorf(at("status"), subject, "%v", err)
	}
	if f.Status != model.Documented && f.StatusReason == "" {
		ds.Errorf(at("status"), subject, "a %s flow needs a status_reason", f.Status)
	}
	f.Reference = model.Reference{Doc: document}
	if w.Reference != nil {
		if w.Reference.Doc != "" {
			f.Reference.Doc = w.Reference.Doc
		}
		f.Reference.Section, f.Reference.Row = w.Reference.Section, w.Reference.Row
	}
	if f.Reference.Section == "" {
		ds.Errorf(at(), subject, "flow needs a reference section")
	}
	return f, ds
}

func compilePorts(s string) (model.PortsRef, error) {
	if name, ok := strings.CutPrefix(strings.TrimSpace(s), "$"); ok {
		if name == "" {
			return model.PortsRef{}, fmt.Errorf("%q names no parameter", s)
		}
		return model.PortsRef{Param: name}, nil
	}
	ps, err := model.ParsePortSet(s)
	return model.PortsRef{Set: ps}, err
}

// finish resolves what needs every source (Microsoft 365 data, cross
// references) and returns the catalog.
func (b *builder) finish() (*Catalog, diag.List) {
	c := b.cat
	c.Version = strings.Join(b.versions, "+")
	if c.Version == "" {
		b.ds.Errorf(diag.Pos{}, "", "catalog has no version")
	}
	for _, name := range sortedKeys(c.Sets) {
		set := c.Sets[name]
		for _, cloud := range model.Clouds {
			v, ok := set.Values[cloud]
			if !ok || v.fromM365 == nil {
				continue
			}
			data, ok := c.M365[cloud]
			if !ok {
				b.ds.Errorf(diag.Pos{}, name, "from_m365 in cloud %s, but the catalog has no Microsoft 365 data for it", cloud)
				continue
			}
			v.Prefixes = append(v.Prefixes, m365Prefixes(data.Sets, v.fromM365)...)
			if v.Reference.Doc == "" {
				v.Reference = model.Reference{Doc: "m365", Section: data.Instance + " " + v.fromM365.area}
			}
		}
	}
	for _, id := range c.IntegrationNames() {
		in := c.Integrations[id]
		if in.Document != "" {
			if _, ok := c.Documents[in.Document]; !ok {
				b.ds.Errorf(b.intPos[id], id, "unknown document %q", in.Document)
			}
		}
		for i := range in.Flows {
			f := &in.Flows[i]
			b.checkFlow(in, f, b.flowAt[f.ID])
			if d, ok := c.Documents[f.Reference.Doc]; ok {
				f.Reference.Title = d.Title
			} else {
				b.ds.Errorf(b.flowAt[f.ID]("reference"), f.ID, "unknown document %q", f.Reference.Doc)
			}
		}
	}
	b.ds.Sort()
	return c, b.ds
}

func m365Prefixes(sets []m365.EndpointSet, f *fromM365) []netip.Prefix {
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	for _, s := range m365.Area(sets, f.area) {
		if len(f.categories) > 0 && !f.categories[s.Category] {
			continue
		}
		for _, p := range s.IPs {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// checkFlow validates a flow's references to roles, sets and parameters.
func (b *builder) checkFlow(in *Integration, f *model.Flow, at func(...string) diag.Pos) {
	c := b.cat
	checkEP := func(ep model.Endpoint, key string) {
		switch ep.Kind {
		case model.EndpointRole:
			if _, ok := in.Roles[ep.Name]; !ok {
				b.ds.Errorf(at(key, "role"), f.ID, "unknown role %q (integration %s has %s)", ep.Name, in.ID, strings.Join(in.RoleNames(), ", "))
			}
		case model.EndpointSet:
			if _, ok := c.Sets[ep.Name]; !ok {
				b.ds.Errorf(at(key, "set"), f.ID, "unknown address set %q", ep.Name)
			}
		}
		if ep.Narrow != nil {
			b.checkCondition(in, f, ep.NarrowWhen, at(key, "narrow_when"))
		}
	}
	checkEP(f.Source, "from")
	checkEP(f.Destination, "to")
	b.checkCondition(in, f, f.Condition, at("when"))
	for key, ref := range map[string]model.PortsRef{"source_ports": f.SourcePorts, "ports": f.DestPorts} {
		if ref.Param == "" {
			continue
		}
		p, ok := in.Params[ref.Param]
		switch {
		case !ok:
			b.ds.Errorf(at(key), f.ID, "unknown parameter %q", ref.Param)
		case p.Kind != ParamPorts:
			b.ds.Errorf(at(key), f.ID, "parameter %q is a %s, not ports", ref.Param, p.Kind)
		}
	}
	if f.Destination.Kind == model.EndpointM365 && f.Proto != model.ProtoAny {
		b.ds.Errorf(at("proto"), f.ID, "an m365 destination takes its protocols and ports from the endpoint data: use proto any")
	}
}

func (b *builder) checkCondition(in *Integration, f *model.Flow, cond model.Condition, pos diag.Pos) {
	if cond.IsAlways() {
		return
	}
	if cond.Role {
		if _, ok := in.Roles[cond.Name]; !ok {
			b.ds.Errorf(pos, f.ID, "condition names unknown role %q", cond.Name)
		}
		return
	}
	p, ok := in.Params[cond.Name]
	switch {
	case !ok:
		b.ds.Errorf(pos, f.ID, "condition names unknown parameter %q", cond.Name)
	case p.Kind != ParamBool:
		b.ds.Errorf(pos, f.ID, "condition parameter %q is a %s, not a bool", cond.Name, p.Kind)
	}
}
