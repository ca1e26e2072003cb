// Package catalog holds the flows every supported Teams integration needs,
// taken from the source documents' tables (see data/ and the README), and
// compiles them into the model.
//
// The catalog is embedded in the binary; a user's directory of the same
// layout (--catalog DIR) adds integrations, flows and address sets or
// overrides them by id. Decoding is strict and every problem is reported
// with its file, line and column.
package catalog

import (
	"embed"
	"fmt"
	"io/fs"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/m365"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/servicetag"
)

//go:embed data
var embedded embed.FS

// Catalog is the compiled catalog. It is immutable once built and safe for
// concurrent use.
type Catalog struct {
	Version      string
	Documents    map[string]Document
	Integrations map[string]*Integration
	Sets         map[string]*AddressSet
	// M365 holds each cloud's Microsoft 365 endpoint sets.
	M365 map[model.Cloud]M365Data
	// ServiceTags holds the Azure service tags files the catalog carries,
	// by the file's cloud (TagCloud).
	ServiceTags map[string]*TagFile

	flowPos map[string]diag.Pos
}

// Document is a source document the catalog cites.
type Document struct {
	ID, Title, File string
}

// M365Data is the Microsoft 365 endpoint data of one instance.
type M365Data struct {
	Instance string
	File     string
	// Version is the web service's version of the data (YYYYMMDDNN), empty
	// when the copy does not record it.
	Version string
	// Date is the day of the data: when Microsoft published it, or when the
	// copy was taken. The zero time when unknown.
	Date time.Time
	// Source says where the copy came from.
	Source string
	Sets   []m365.EndpointSet
}

// TagFile is an Azure service tags file the catalog carries. It is parsed
// on first use: most commands never need its 4 MB.
type TagFile struct {
	// Cloud is the file's cloud: "Public" or "AzureGovernment".
	Cloud        string
	File         string
	ChangeNumber int
	// Date is the day of the file (the date in Microsoft's file name), the
	// zero time when unknown.
	Date   time.Time
	Source string

	fsys fs.FS
	name string // the file as diagnostics name it
	once sync.Once
	data *servicetag.Data
	ds   diag.List
}

// Data parses the file, once; later calls return the same result.
func (t *TagFile) Data() (*servicetag.Data, diag.List) {
	t.once.Do(func() {
		raw, err := fs.ReadFile(t.fsys, t.File)
		if err != nil {
			t.ds.Errorf(diag.Pos{File: t.name}, "", "cannot read the service tags file: %s", diag.FileReason(err))
			return
		}
		d, ds := servicetag.Parse(raw)
		t.ds = ds.WithFile(t.name)
		if ds.HasErrors() {
			return
		}
		if d.ChangeNumber != t.ChangeNumber {
			t.ds.Errorf(diag.Pos{File: t.name}, "", "the file holds change number %d, but catalog.yaml records %d; run catalog update again", d.ChangeNumber, t.ChangeNumber)
			return
		}
		t.data = d
	})
	return t.data, t.ds
}

// TagCloud names the Azure cloud whose service tags apply to a Teams
// cloud: GCC runs in Azure's public cloud, GCC High and DoD in Azure
// Government.
func TagCloud(c model.Cloud) string {
	switch c {
	case model.CloudGCCHigh, model.CloudDoD:
		return "AzureGovernment"
	}
	return "Public"
}

// TagsFor returns the service tags file for a Teams cloud, or nil when the
// catalog carries none.
func (c *Catalog) TagsFor(cloud model.Cloud) *TagFile { return c.ServiceTags[TagCloud(cloud)] }

// Integration is one supported integration: its roles, its parameters and
// its flows in catalog order.
type Integration struct {
	ID          string
	Title       string
	Document    string
	Description string
	Roles       map[string]*Role
	Params      map[string]*Param
	Flows       []model.Flow
}

// RoleNames returns the integration's role names, sorted.
func (in *Integration) RoleNames() []string { return sortedKeys(in.Roles) }

// ParamNames returns the integration's parameter names, sorted.
func (in *Integration) ParamNames() []string { return sortedKeys(in.Params) }

// ParamOfKind returns the integration's parameter of a kind the catalog
// allows once per integration (ParamAppType, ParamTenant), or nil.
func (in *Integration) ParamOfKind(k ParamKind) *Param {
	for _, n := range in.ParamNames() {
		if in.Params[n].Kind == k {
			return in.Params[n]
		}
	}
	return nil
}

// Flow returns the flow with the given id, or nil.
func (in *Integration) Flow(id string) *model.Flow {
	for i := range in.Flows {
		if in.Flows[i].ID == id {
			return &in.Flows[i]
		}
	}
	return nil
}

// Role is a part of a deployment that the user binds to addresses in the
// spec. A role with a Default resolves to it when the spec leaves it
// unbound (with DefaultNote as a planning warning); one without is an error
// when a flow needs it.
type Role struct {
	Name        string
	Description string
	Default     *model.Endpoint
	DefaultNote string
}

// ParamKind is the type of an integration parameter.
type ParamKind uint8

const (
	ParamBool ParamKind = iota
	ParamPorts
	ParamEnum
	// ParamAppType is a bot's app type (model.AppType): its values are the
	// model's, never listed in the catalog.
	ParamAppType
	// ParamTenant is a Microsoft Entra tenant (model.Tenant), with no
	// default value.
	ParamTenant
)

func (k ParamKind) String() string {
	return [...]string{"bool", "ports", "enum", "app-type", "tenant"}[k]
}

// Param is a setting of an integration that the spec may change.
type Param struct {
	Name        string
	Kind        ParamKind
	Default     Value
	Values      []string // allowed values of an enum
	MinPorts    int      // for ports: the fewest ports the range may hold
	Description string
	// Warn maps a value, as Format renders it, to a planning warning.
	Warn map[string]string
}

// Value is a parameter value; which field is meaningful depends on the
// parameter's kind.
type Value struct {
	Bool    bool
	Ports   model.PortSet
	Str     string
	AppType model.AppType
	Tenant  model.Tenant
}

// Format renders v as the spec would write it.
func (p *Param) Format(v Value) string {
	switch p.Kind {
	case ParamBool:
		return fmt.Sprint(v.Bool)
	case ParamPorts:
		return v.Ports.String()
	case ParamAppType:
		return v.AppType.String()
	case ParamTenant:
		return v.Tenant.String()
	}
	return v.Str
}

// AddressSet is a named set of addresses or hosts whose value differs per
// cloud (the Teams service ranges, the sign-in host, …).
type AddressSet struct {
	Name        string
	Description string
	Values      map[model.Cloud]*SetValue
}

// SetValue is an address set's value in one cloud.
type SetValue struct {
	Prefixes  []netip.Prefix
	Hosts     []model.Host
	Status    model.Status
	Note      string
	Reference model.Reference
	fromM365  *fromM365
}

type fromM365 struct {
	area       string
	categories map[string]bool
}

var (
	embeddedOnce sync.Once
	embeddedCat  *Catalog
	embeddedDiag diag.List
)

// Embedded returns the catalog built into the binary. Its diagnostics are
// empty unless the binary was built from a broken catalog, which the tests
// rule out.
func Embedded() (*Catalog, diag.List) {
	embeddedOnce.Do(func() {
		sub, _ := fs.Sub(embedded, "data")
		embeddedCat, embeddedDiag = Load(Source{FS: sub, Name: "catalog"})
	})
	return embeddedCat, embeddedDiag
}

// EmbeddedFS returns the embedded catalog files, for tests and for users
// who want a starting point for an overlay.
func EmbeddedFS() fs.FS {
	sub, _ := fs.Sub(embedded, "data")
	return sub
}

// Source is one catalog directory: its files and the name diagnostics use
// for it.
type Source struct {
	FS   fs.FS
	Name string
}

// Load compiles the catalog from the given sources, each later one adding
// to or overriding the earlier ones. The first source must hold the base
// catalog.yaml; later ones may leave it out.
func Load(sources ...Source) (*Catalog, diag.List) {
	b := newBuilder()
	for i, s := range sources {
		b.load(s, i == 0)
	}
	return b.finish()
}

// WithOverlay returns the embedded catalog with the directory dir laid over
// it.
func WithOverlay(dir fs.FS, name string) (*Catalog, diag.List) {
	return Load(Source{FS: EmbeddedFS(), Name: "catalog"}, Source{FS: dir, Name: name})
}

// IntegrationNames returns the integration ids, sorted.
func (c *Catalog) IntegrationNames() []string { return sortedKeys(c.Integrations) }

// FlowPos returns where a flow is defined.
func (c *Catalog) FlowPos(id string) diag.Pos { return c.flowPos[id] }

// Flow returns the flow with the given id and its integration, or nil.
func (c *Catalog) Flow(id string) (*Integration, *model.Flow) {
	for _, in := range c.Integrations {
		if f := in.Flow(id); f != nil {
			return in, f
		}
	}
	return nil, nil
}

// SetValue returns an address set's value in cloud c, with sets computed
// from Microsoft 365 data filled in.
func (c *Catalog) SetValue(name string, cloud model.Cloud) (*SetValue, bool) {
	s, ok := c.Sets[name]
	if !ok {
		return nil, false
	}
	v, ok := s.Values[cloud]
	return v, ok
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
