package cli

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/m365"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/plan"
	"github.com/teamsgate/teamsgate/internal/planfile"
	"github.com/teamsgate/teamsgate/internal/servicetag"
)

func newCatalogDiffCmd(e *env) *cobra.Command {
	var (
		format   string
		specFile string
	)
	c := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Show what changed between two catalogs, or two endpoint or service tags files",
		Long: `diff compares two catalog directories (each laid over the embedded catalog,
as --catalog does), or two Microsoft 365 endpoints responses, or two Azure
service tags files, and lists per endpoint set, address set and service
tag the prefixes, URLs and ports added and removed. Prefixes are compared
as published: a prefix split in two is one removed and two added.

With --spec FILE (directories only) it also lists the rules of that
deployment to add, remove and change: what plan --since shows.`,
		Example: `  teamsgate catalog diff testdata/data/m365/worldwide-2020-12.json testdata/data/m365/worldwide-2020-12-derived.json`,
		Args:    cobra.ExactArgs(2),
	}
	c.Flags().StringVarP(&format, "output", "o", "text", "output format: text or json")
	c.Flags().StringVar(&specFile, "spec", "", "also list the rule changes of this deployment spec (directories only)")
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := checkFormat(format, "text", "json"); err != nil {
			return err
		}
		kinds := [2]string{}
		for i, a := range args {
			k, err := inputKind(a)
			if err != nil {
				return inputError(err)
			}
			kinds[i] = k
		}
		if kinds[0] != kinds[1] {
			return inputError(fmt.Errorf("%s is %s but %s is %s: compare two of a kind", args[0], kinds[0], args[1], kinds[1]))
		}
		if specFile != "" && kinds[0] != "a catalog directory" {
			return inputError(errors.New("--spec needs two catalog directories: files hold no catalog to plan with"))
		}
		var d catalogDelta
		switch kinds[0] {
		case "a catalog directory":
			var err error
			if d, err = e.diffCatalogs(args[0], args[1], specFile); err != nil {
				return err
			}
		case "a Microsoft 365 endpoints response":
			o, err := readM365(args[0])
			if err != nil {
				return err
			}
			n, err := readM365(args[1])
			if err != nil {
				return err
			}
			d.M365 = append(d.M365, m365Delta{Instance: "file", Sets: m365.Diff(o, n, "")})
		default:
			o, ds := servicetag.ParseFile(args[0])
			if ds.HasErrors() {
				return inputError(ds.Err())
			}
			n, ds := servicetag.ParseFile(args[1])
			if ds.HasErrors() {
				return inputError(ds.Err())
			}
			d.Tags = append(d.Tags, tagsDelta{Cloud: n.Cloud, OldChange: o.ChangeNumber, NewChange: n.ChangeNumber, Tags: servicetag.Diff(o, n)})
		}
		d.Old, d.New = args[0], args[1]
		if format == "json" {
			return writeJSON(e, d.json())
		}
		e.printCatalogDelta(d)
		return nil
	}
	return c
}

// inputKind says what a diff argument is, from its first byte for a file.
func inputKind(name string) (string, error) {
	st, err := os.Stat(name)
	if err != nil {
		return "", fileError("diff", name, err)
	}
	if st.IsDir() {
		return "a catalog directory", nil
	}
	f, err := os.Open(name)
	if err != nil {
		return "", fileError("diff", name, err)
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := f.Read(head)
	head = bytes.TrimLeft(head[:n], " \t\r\n\xef\xbb\xbf")
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}), bytes.HasPrefix(head, []byte("{")):
		return "an Azure service tags file", nil
	case bytes.HasPrefix(head, []byte("[")):
		return "a Microsoft 365 endpoints response", nil
	}
	return "", fmt.Errorf("%s is neither a catalog directory, a Microsoft 365 endpoints response (a JSON array) nor an Azure service tags file (a JSON object)", name)
}

func readM365(name string) ([]m365.EndpointSet, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, inputError(fileError("diff", name, err))
	}
	sets, ds := m365.Parse(data)
	if ds.HasErrors() {
		return nil, inputError(ds.WithFile(name).Err())
	}
	return sets, nil
}

// catalogDelta is everything catalog diff found.
type catalogDelta struct {
	Old, New string
	M365     []m365Delta
	Sets     []setDelta
	Tags     []tagsDelta
	Rules    *plan.Delta
}

type m365Delta struct {
	Instance           string
	Clouds             []string
	OldLabel, NewLabel string
	Sets               []m365.SetChange
}

type setDelta struct {
	Name           string
	Cloud          model.Cloud
	Added, Removed []string
}

type tagsDelta struct {
	Cloud                string
	OldChange, NewChange int
	Tags                 []servicetag.TagChange
}

func (e *env) diffCatalogs(oldDir, newDir, specFile string) (catalogDelta, error) {
	var d catalogDelta
	o, err := loadCatalog(oldDir)
	if err != nil {
		return d, err
	}
	n, err := loadCatalog(newDir)
	if err != nil {
		return d, err
	}
	// One entry per instance: worldwide and gcc share the Worldwide data.
	done := map[string]bool{}
	for _, cloud := range model.Clouds {
		od, nd := o.M365[cloud], n.M365[cloud]
		key := nd.Instance + "\x00" + od.File + "\x00" + nd.File
		if done[key] {
			for i := range d.M365 {
				if d.M365[i].Instance == nd.Instance {
					d.M365[i].Clouds = append(d.M365[i].Clouds, string(cloud))
				}
			}
			continue
		}
		done[key] = true
		d.M365 = append(d.M365, m365Delta{Instance: nd.Instance, Clouds: []string{string(cloud)},
			OldLabel: dataLabel(od.Version, od.Date), NewLabel: dataLabel(nd.Version, nd.Date), Sets: m365.Diff(od.Sets, nd.Sets, "Skype")})
	}
	for _, name := range sortedSetNames(o, n) {
		for _, cloud := range model.Clouds {
			ov, _ := o.SetValue(name, cloud)
			nv, _ := n.SetValue(name, cloud)
			added, removed := diffSetValues(ov, nv)
			if len(added)+len(removed) > 0 {
				d.Sets = append(d.Sets, setDelta{Name: name, Cloud: cloud, Added: added, Removed: removed})
			}
		}
	}
	for _, cloud := range []string{"Public", "AzureGovernment"} {
		ot, nt := o.ServiceTags[cloud], n.ServiceTags[cloud]
		if ot == nil && nt == nil {
			continue
		}
		td := tagsDelta{Cloud: cloud}
		var od, nd *servicetag.Data
		if ot != nil {
			data, ds := ot.Data()
			if ds.HasErrors() {
				return d, inputError(ds.Err())
			}
			od, td.OldChange = data, ot.ChangeNumber
		}
		if nt != nil {
			data, ds := nt.Data()
			if ds.HasErrors() {
				return d, inputError(ds.Err())
			}
			nd, td.NewChange = data, nt.ChangeNumber
		}
		td.Tags = servicetag.Diff(od, nd)
		d.Tags = append(d.Tags, td)
	}
	if specFile != "" {
		data, err := e.readInput("spec", specFile, maxSpecBytes)
		if err != nil {
			return d, inputError(err)
		}
		delta, err := planDelta(o, n, data, specName(specFile))
		if err != nil {
			return d, err
		}
		d.Rules = &delta
	}
	return d, nil
}

// planDelta plans one spec against two catalogs and compares the rules.
func planDelta(old, new *catalog.Catalog, spec []byte, name string) (plan.Delta, error) {
	op, ds := planfile.Read(old, spec, name)
	if op == nil {
		return plan.Delta{}, inputError(fmt.Errorf("planning with the old catalog: %w", ds.Err()))
	}
	np, ds := planfile.Read(new, spec, name)
	if np == nil {
		return plan.Delta{}, inputError(ds.Err())
	}
	return plan.Diff(op.Plan, np.Plan), nil
}

func sortedSetNames(cats ...*catalog.Catalog) []string {
	var names []string
	for _, c := range cats {
		for n := range c.Sets {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names
}

// diffSetValues compares two values of an address set: prefixes and
// hosts, as strings.
func diffSetValues(o, n *catalog.SetValue) (added, removed []string) {
	items := func(v *catalog.SetValue) []string {
		if v == nil {
			return nil
		}
		var out []string
		for _, p := range v.Prefixes {
			out = append(out, p.String())
		}
		for _, h := range v.Hosts {
			out = append(out, h.String())
		}
		return out
	}
	oi, ni := items(o), items(n)
	for _, s := range ni {
		if !slices.Contains(oi, s) {
			added = append(added, s)
		}
	}
	for _, s := range oi {
		if !slices.Contains(ni, s) {
			removed = append(removed, s)
		}
	}
	return added, removed
}

func (e *env) printCatalogDelta(d catalogDelta) {
	w := e.stdout
	fmt.Fprintf(w, "Changes from %s to %s\n", d.Old, d.New)
	any := false
	for _, m := range d.M365 {
		if len(m.Sets) == 0 {
			continue
		}
		any = true
		title := "Microsoft 365 endpoint sets"
		if m.Instance != "file" {
			title = fmt.Sprintf("Microsoft 365 %s (clouds %s), Teams sets, %s → %s", m.Instance, strings.Join(m.Clouds, ", "), m.OldLabel, m.NewLabel)
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		printSetChanges(e, m.Sets, "  ", "")
	}
	if len(d.Sets) > 0 {
		any = true
		fmt.Fprintf(w, "\nCatalog address sets:\n")
		for _, s := range d.Sets {
			fmt.Fprintf(w, "  %s (%s)\n", s.Name, s.Cloud)
			for _, a := range s.Added {
				fmt.Fprintf(w, "    + %s\n", a)
			}
			for _, r := range s.Removed {
				fmt.Fprintf(w, "    - %s\n", r)
			}
		}
	}
	for _, t := range d.Tags {
		if len(t.Tags) == 0 {
			continue
		}
		any = true
		switch {
		case t.OldChange == 0:
			fmt.Fprintf(w, "\nAzure service tags %s: added, change number %d, %d tags\n", t.Cloud, t.NewChange, len(t.Tags))
		case t.NewChange == 0:
			fmt.Fprintf(w, "\nAzure service tags %s: removed (change number %d)\n", t.Cloud, t.OldChange)
		default:
			fmt.Fprintf(w, "\nAzure service tags %s, change number %d → %d:\n", t.Cloud, t.OldChange, t.NewChange)
			printTagChanges(e, t.Tags, "  ", "")
		}
	}
	if !any {
		fmt.Fprintf(w, "\nNo changes to the data.\n")
	}
	if d.Rules != nil {
		fmt.Fprintln(w)
		_ = plan.WriteDelta(w, *d.Rules, "table")
	}
}

// printSetChanges lists endpoint set changes, after a title line when
// title is not empty.
func printSetChanges(e *env, cs []m365.SetChange, indent, title string) {
	w := e.stdout
	if title != "" {
		if len(cs) == 0 {
			fmt.Fprintf(w, "%sthe Teams (Skype) sets are those of %s\n", indent, title)
			return
		}
		fmt.Fprintf(w, "%s%d Teams (Skype) sets differ from %s:\n", indent, len(cs), title)
	}
	for _, c := range cs {
		fmt.Fprintf(w, "%sset %d (%s) %s", indent, c.ID, c.ServiceArea, c.Kind)
		if len(c.Other) > 0 {
			fmt.Fprintf(w, ": %s", strings.Join(c.Other, ", "))
		}
		fmt.Fprintln(w)
		if c.TCPChanged {
			fmt.Fprintf(w, "%s    tcp ports %s → %s\n", indent, portsOrNone(c.OldTCP), portsOrNone(c.NewTCP))
		}
		if c.UDPChanged {
			fmt.Fprintf(w, "%s    udp ports %s → %s\n", indent, portsOrNone(c.OldUDP), portsOrNone(c.NewUDP))
		}
		for _, p := range c.AddedIPs {
			fmt.Fprintf(w, "%s    + %s\n", indent, p)
		}
		for _, u := range c.AddedURLs {
			fmt.Fprintf(w, "%s    + %s\n", indent, u)
		}
		for _, p := range c.RemovedIPs {
			fmt.Fprintf(w, "%s    - %s\n", indent, p)
		}
		for _, u := range c.RemovedURLs {
			fmt.Fprintf(w, "%s    - %s\n", indent, u)
		}
	}
}

func portsOrNone(s model.PortSet) string {
	if s.IsEmpty() {
		return "none"
	}
	return s.String()
}

// maxTagPrefixes is how many prefixes per tag the text output lists; the
// JSON lists them all.
const maxTagPrefixes = 20

func printTagChanges(e *env, cs []servicetag.TagChange, indent, title string) {
	w := e.stdout
	if title != "" {
		if len(cs) == 0 {
			fmt.Fprintf(w, "%sno tag differs from %s\n", indent, title)
			return
		}
		fmt.Fprintf(w, "%s%d tags differ from %s:\n", indent, len(cs), title)
	}
	for _, c := range cs {
		fmt.Fprintf(w, "%s%s %s: +%d -%d prefixes\n", indent, c.Name, c.Kind, len(c.Added), len(c.Removed))
		if c.Kind != servicetag.Changed {
			// A whole tag added or removed: its count says it; -o json
			// lists its prefixes.
			continue
		}
		list := func(sign string, ps []netip.Prefix) {
			for i, p := range ps {
				if i == maxTagPrefixes {
					fmt.Fprintf(w, "%s    %s … %d more (-o json lists them all)\n", indent, sign, len(ps)-i)
					break
				}
				fmt.Fprintf(w, "%s    %s %s\n", indent, sign, p)
			}
		}
		list("+", c.Added)
		list("-", c.Removed)
	}
}

// JSON shape of catalog diff (docs/catalog-update.md).
type catalogDeltaJSON struct {
	Old         string          `json:"old"`
	New         string          `json:"new"`
	M365        []m365DeltaJSON `json:"m365"`
	AddressSets []setDeltaJSON  `json:"address_sets"`
	ServiceTags []tagsDeltaJSON `json:"service_tags"`
	Rules       any             `json:"rules"`
}

type m365DeltaJSON struct {
	Instance string          `json:"instance"`
	Clouds   []string        `json:"clouds"`
	Old      string          `json:"old_data"`
	New      string          `json:"new_data"`
	Sets     []setChangeJSON `json:"sets"`
}

type setChangeJSON struct {
	ID          int        `json:"id"`
	ServiceArea string     `json:"service_area"`
	Kind        string     `json:"kind"`
	AddedIPs    []string   `json:"added_ips"`
	RemovedIPs  []string   `json:"removed_ips"`
	AddedURLs   []string   `json:"added_urls"`
	RemovedURLs []string   `json:"removed_urls"`
	TCP         *[2]string `json:"tcp_ports,omitempty"`
	UDP         *[2]string `json:"udp_ports,omitempty"`
	Other       []string   `json:"other"`
}

type setDeltaJSON struct {
	Name    string   `json:"name"`
	Cloud   string   `json:"cloud"`
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

type tagsDeltaJSON struct {
	Cloud     string    `json:"cloud"`
	OldChange int       `json:"old_change_number"`
	NewChange int       `json:"new_change_number"`
	Tags      []tagJSON `json:"tags"`
}

type tagJSON struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

func strs[T fmt.Stringer](xs []T) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, x.String())
	}
	return out
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (d catalogDelta) json() catalogDeltaJSON {
	j := catalogDeltaJSON{Old: d.Old, New: d.New, M365: []m365DeltaJSON{}, AddressSets: []setDeltaJSON{}, ServiceTags: []tagsDeltaJSON{}}
	for _, m := range d.M365 {
		mj := m365DeltaJSON{Instance: m.Instance, Clouds: orEmpty(m.Clouds), Old: m.OldLabel, New: m.NewLabel, Sets: []setChangeJSON{}}
		for _, c := range m.Sets {
			sj := setChangeJSON{ID: c.ID, ServiceArea: c.ServiceArea, Kind: string(c.Kind),
				AddedIPs: strs(c.AddedIPs), RemovedIPs: strs(c.RemovedIPs), AddedURLs: orEmpty(c.AddedURLs), RemovedURLs: orEmpty(c.RemovedURLs), Other: orEmpty(c.Other)}
			if c.TCPChanged {
				sj.TCP = &[2]string{portsOrNone(c.OldTCP), portsOrNone(c.NewTCP)}
			}
			if c.UDPChanged {
				sj.UDP = &[2]string{portsOrNone(c.OldUDP), portsOrNone(c.NewUDP)}
			}
			mj.Sets = append(mj.Sets, sj)
		}
		j.M365 = append(j.M365, mj)
	}
	for _, s := range d.Sets {
		j.AddressSets = append(j.AddressSets, setDeltaJSON{Name: s.Name, Cloud: string(s.Cloud), Added: orEmpty(s.Added), Removed: orEmpty(s.Removed)})
	}
	for _, t := range d.Tags {
		tj := tagsDeltaJSON{Cloud: t.Cloud, OldChange: t.OldChange, NewChange: t.NewChange, Tags: []tagJSON{}}
		for _, c := range t.Tags {
			tj.Tags = append(tj.Tags, tagJSON{Name: c.Name, Kind: c.Kind.String(), Added: strs(c.Added), Removed: strs(c.Removed)})
		}
		j.ServiceTags = append(j.ServiceTags, tj)
	}
	if d.Rules != nil {
		j.Rules = d.Rules
	}
	return j
}
