// Package servicetag reads Azure's "IP Ranges and Service Tags" files
// (ServiceTags_Public_YYYYMMDD.json and its US Government and China
// counterparts), so that targets without service tags (nftables, AWS, …)
// and the auditor can expand a tag such as AzureCloud into its prefixes.
//
// Format: docs/reference/endpoints.md §4. A tag the file does not hold is an error at
// the point of use, never an empty set.
package servicetag

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strings"

	"go4.org/netipx"

	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/jsonpos"
)

// Data is a parsed service-tags file. It is immutable and safe for
// concurrent use.
type Data struct {
	ChangeNumber int
	Cloud        string
	tags         map[string]*Tag // keyed by lower-case name
}

// Tag is one service tag (global, or regional as "Name.Region").
type Tag struct {
	Name     string
	Region   string
	Prefixes []netip.Prefix
	set      *netipx.IPSet
}

// IPSet returns the tag's addresses as a set.
func (t *Tag) IPSet() *netipx.IPSet { return t.set }

// Contains reports whether addr is one of the tag's addresses. It is a
// binary search of the tag's address ranges and does not allocate; an
// IPv4-mapped IPv6 address is not its IPv4 address (Unmap it first), and an
// address with a zone is in no tag.
func (t *Tag) Contains(addr netip.Addr) bool { return t.set != nil && t.set.Contains(addr) }

type wireFile struct {
	ChangeNumber *int        `json:"changeNumber"`
	Cloud        string      `json:"cloud"`
	Values       []wireValue `json:"values"`
}

type wireValue struct {
	Name       string `json:"name"`
	ID         string `json:"id"`
	Properties struct {
		Region          string   `json:"region"`
		AddressPrefixes []string `json:"addressPrefixes"`
	} `json:"properties"`
}

// Parse reads a service-tags file. Each problem is reported at its line and
// column.
func Parse(data []byte) (*Data, diag.List) {
	var w wireFile
	if err := json.Unmarshal(data, &w); err != nil {
		var ds diag.List
		_, msg := jsonpos.Describe(err)
		ds.Errorf(jsonpos.ErrorPos(data, err), "", "not an Azure service tags file: %s", msg)
		return nil, ds
	}
	if w.ChangeNumber == nil || len(w.Values) == 0 {
		var ds diag.List
		ds.Errorf(diag.Pos{Line: 1, Col: 1}, "", "not an Azure service tags file: no changeNumber or no values")
		return nil, ds
	}
	var ds jsonpos.Deferred
	d := &Data{ChangeNumber: *w.ChangeNumber, Cloud: w.Cloud, tags: map[string]*Tag{}}
	for i, v := range w.Values {
		at := jsonpos.Index("$.values", i)
		name := v.Name
		if name == "" {
			name = v.ID
		}
		if name == "" {
			ds.Errorf(at, fmt.Sprintf("values[%d]", i), "service tag without a name")
			continue
		}
		t := &Tag{Name: name, Region: v.Properties.Region}
		if n := len(v.Properties.AddressPrefixes); n > 0 {
			t.Prefixes = make([]netip.Prefix, 0, n) // nil for none, as before
		}
		var b netipx.IPSetBuilder
		for k, s := range v.Properties.AddressPrefixes {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				ds.Errorf(jsonpos.Index(jsonpos.Member(jsonpos.Member(at, "properties"), "addressPrefixes"), k), name, "bad prefix %q: %v", s, err)
				continue
			}
			p = p.Masked()
			t.Prefixes = append(t.Prefixes, p)
			b.AddPrefix(p)
		}
		t.set, _ = b.IPSet()
		key := strings.ToLower(name)
		if _, dup := d.tags[key]; dup {
			ds.Errorf(at, name, "service tag given twice")
			continue
		}
		d.tags[key] = t
	}
	return d, ds.List(data)
}

// MaxBytes bounds a service tags file, plain or decompressed: Microsoft's
// Public file is about 4 MiB (2026), the government ones smaller.
const MaxBytes = 64 << 20

// ParseFile reads and parses a service-tags file, gzip-compressed or not.
func ParseFile(name string) (*Data, diag.List) {
	var ds diag.List
	if st, err := os.Stat(name); err == nil && st.Size() > MaxBytes {
		ds.Errorf(diag.Pos{File: name}, "", "the file is %d bytes; a service tags file is at most %d MiB", st.Size(), MaxBytes>>20)
		return nil, ds
	}
	b, err := os.ReadFile(name)
	if err == nil && bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		var r *gzip.Reader
		if r, err = gzip.NewReader(bytes.NewReader(b)); err == nil {
			b, err = io.ReadAll(io.LimitReader(r, MaxBytes+1))
		}
		if err == nil && len(b) > MaxBytes {
			ds.Errorf(diag.Pos{File: name}, "", "the file holds more than %d MiB once decompressed; a service tags file is at most that", MaxBytes>>20)
			return nil, ds
		}
	}
	if err != nil {
		ds.Errorf(diag.Pos{File: name}, "", "cannot read the service tags file: %s", diag.FileReason(err))
		return nil, ds
	}
	d, pds := Parse(b)
	return d, pds.WithFile(name)
}

// Lookup returns a tag by name, case-insensitively ("AzureCloud",
// "AzureCloud.westeurope").
func (d *Data) Lookup(name string) (*Tag, error) {
	if d == nil {
		return nil, fmt.Errorf("service tag %q: no service tag data loaded (give --service-tags FILE)", name)
	}
	t, ok := d.tags[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("service tag %q is not in the service tags file (change number %d)", name, d.ChangeNumber)
	}
	return t, nil
}

// Names returns every tag name, sorted.
func (d *Data) Names() []string {
	out := make([]string, 0, len(d.tags))
	for _, t := range d.tags {
		out = append(out, t.Name)
	}
	sort.Strings(out)
	return out
}
