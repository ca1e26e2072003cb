package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/suggest"
)

func newCatalogCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "catalog",
		Short: "Show the integrations, flows and data teamsgate knows; keep the Microsoft data current",
	}
	c.AddCommand(newCatalogListCmd(e), newCatalogShowCmd(e), newCatalogUpdateCmd(e), newCatalogDiffCmd(e))
	return c
}

func newCatalogListCmd(e *env) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "list",
		Short: "List integrations and their flows",
		Args:  cobra.NoArgs,
	}
	dir := catalogFlag(c)
	c.Flags().StringVarP(&format, "output", "o", "text", "output format: text or json")
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := checkFormat(format, "text", "json"); err != nil {
			return err
		}
		cat, err := loadCatalog(*dir)
		if err != nil {
			return err
		}
		now := e.now()
		seen := map[string]bool{}
		for _, cloud := range model.Clouds {
			for _, s := range staleData(cat, cloud, now) {
				if !seen[s] {
					seen[s] = true
					e.warnf("%s", s)
				}
			}
		}
		if format == "json" {
			return writeJSON(e, catalogJSON(cat, now))
		}
		w := e.stdout
		fmt.Fprintf(w, "Catalog %s\n", cat.Version)
		fmt.Fprintf(w, "\nData:\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, d := range dataInUse(cat, now) {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", d.What, d.Clouds, d.Label, d.Age, d.Source)
		}
		tw.Flush()
		for _, id := range cat.IntegrationNames() {
			in := cat.Integrations[id]
			fmt.Fprintf(w, "\n%s — %s (document %s: %s)\n", in.ID, in.Title, in.Document, cat.Documents[in.Document].Title)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, f := range in.Flows {
				fmt.Fprintf(tw, "  %s\t%s\t%s → %s\t%s\t%s\n", f.ID, f.Proto, f.Source, f.Destination, portsRef(f.DestPorts), f.Status)
			}
			tw.Flush()
		}
		return nil
	}
	return c
}

func portsRef(r model.PortsRef) string {
	if r.Param != "" {
		return "$" + r.Param
	}
	return r.Set.String()
}

func newCatalogShowCmd(e *env) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:               "show ID",
		Short:             "Show one integration or one flow in full, with its references",
		Example:           "  teamsgate catalog show teams-calling-bot\n  teamsgate catalog show pexip-teams-connector.instance-to-cn.signaling -o json",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: catalogIDCompletion,
	}
	dir := catalogFlag(c)
	c.Flags().StringVarP(&format, "output", "o", "text", "output format: text or json")
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := checkFormat(format, "text", "json"); err != nil {
			return err
		}
		cat, err := loadCatalog(*dir)
		if err != nil {
			return err
		}
		id := args[0]
		if in, ok := cat.Integrations[id]; ok {
			if format == "json" {
				return writeJSON(e, integrationJSON(cat, in))
			}
			showIntegration(e, cat, in)
			return nil
		}
		in, f := cat.Flow(id)
		if f == nil {
			return inputError(fmt.Errorf("no integration or flow %q%s (see teamsgate catalog list)", id, suggest.Hint(id, catalogIDs(cat))))
		}
		if format == "json" {
			return writeJSON(e, flowJSON(*f))
		}
		showFlow(e, cat, in, f)
		return nil
	}
	return c
}

func showIntegration(e *env, cat *catalog.Catalog, in *catalog.Integration) {
	w := e.stdout
	fmt.Fprintf(w, "%s — %s\nDocument %s: %s\n\n%s\n", in.ID, in.Title, in.Document, cat.Documents[in.Document].Title, in.Description)
	fmt.Fprintf(w, "\nRoles:\n")
	for _, rn := range in.RoleNames() {
		r := in.Roles[rn]
		def := ""
		if r.Default != nil {
			def = " (default when unbound: " + r.Default.String() + ")"
		}
		fmt.Fprintf(w, "  %-26s %s%s\n", rn, r.Description, def)
	}
	if len(in.Params) > 0 {
		fmt.Fprintf(w, "\nParameters:\n")
		for _, pn := range in.ParamNames() {
			p := in.Params[pn]
			def := "default " + p.Format(p.Default)
			if p.Kind == catalog.ParamTenant {
				def = "no default"
			}
			fmt.Fprintf(w, "  %-26s %s, %s: %s\n", pn, p.Kind, def, p.Description)
		}
	}
	fmt.Fprintf(w, "\nFlows:\n")
	for i := range in.Flows {
		fmt.Fprintln(w)
		showFlow(e, cat, in, &in.Flows[i])
	}
}

func showFlow(e *env, cat *catalog.Catalog, in *catalog.Integration, f *model.Flow) {
	w := e.stdout
	fmt.Fprintf(w, "%s\n", f.ID)
	fmt.Fprintf(w, "  %s %s\n", f.Action, f.Proto)
	fmt.Fprintf(w, "  from         %s, source ports %s\n", f.Source, portsRef(f.SourcePorts))
	if f.Source.Narrow != nil {
		fmt.Fprintf(w, "               narrowed to %s when %s\n", f.Source.Narrow, f.Source.NarrowWhen)
	}
	fmt.Fprintf(w, "  to           %s, ports %s\n", f.Destination, portsRef(f.DestPorts))
	if f.App != "" {
		fmt.Fprintf(w, "  application  %s\n", f.App)
	}
	fmt.Fprintf(w, "  purpose      %s\n", f.Purpose)
	if f.Notes != "" {
		fmt.Fprintf(w, "  notes        %s\n", f.Notes)
	}
	if !f.Condition.IsAlways() {
		fmt.Fprintf(w, "  when         %s\n", f.Condition)
	}
	if len(f.Clouds) > 0 {
		cs := make([]string, len(f.Clouds))
		for i, c := range f.Clouds {
			cs[i] = string(c)
		}
		fmt.Fprintf(w, "  clouds       %s\n", strings.Join(cs, ", "))
	}
	fmt.Fprintf(w, "  required     %v\n", f.Required)
	fmt.Fprintf(w, "  status       %s", f.Status)
	if f.StatusReason != "" {
		fmt.Fprintf(w, ": %s", f.StatusReason)
	}
	fmt.Fprintln(w)
	if len(f.Requirements) > 0 {
		fmt.Fprintf(w, "  requires     %s\n", strings.Join(f.Requirements, ", "))
	}
	fmt.Fprintf(w, "  reference    %s\n", f.Reference)
	if f.Reference.Row != "" {
		fmt.Fprintf(w, "  source row   %s\n", f.Reference.Row)
	}
}

type flowOut struct {
	ID           string   `json:"id"`
	Integration  string   `json:"integration"`
	Action       string   `json:"action"`
	Protocol     string   `json:"protocol"`
	Source       string   `json:"source"`
	SourcePorts  string   `json:"source_ports"`
	Destination  string   `json:"destination"`
	Ports        string   `json:"destination_ports"`
	App          string   `json:"app_protocol,omitempty"`
	Purpose      string   `json:"purpose"`
	Notes        string   `json:"notes,omitempty"`
	Condition    string   `json:"condition,omitempty"`
	Clouds       []string `json:"clouds,omitempty"`
	Required     bool     `json:"required"`
	Status       string   `json:"status"`
	StatusReason string   `json:"status_reason,omitempty"`
	Requirements []string `json:"requirements,omitempty"`
	Reference    string   `json:"reference"`
	Row          string   `json:"row,omitempty"`
}

func flowJSON(f model.Flow) flowOut {
	var cs []string
	for _, c := range f.Clouds {
		cs = append(cs, string(c))
	}
	return flowOut{ID: f.ID, Integration: f.Integration, Action: f.Action.String(), Protocol: f.Proto.String(),
		Source: f.Source.String(), SourcePorts: portsRef(f.SourcePorts), Destination: f.Destination.String(), Ports: portsRef(f.DestPorts),
		App: f.App, Purpose: f.Purpose, Notes: f.Notes, Condition: f.Condition.String(), Clouds: cs, Required: f.Required,
		Status: f.Status.String(), StatusReason: f.StatusReason, Requirements: f.Requirements, Reference: f.Reference.String(), Row: f.Reference.Row}
}

type integrationOut struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Document string    `json:"document"`
	Flows    []flowOut `json:"flows"`
}

func integrationJSON(cat *catalog.Catalog, in *catalog.Integration) integrationOut {
	out := integrationOut{ID: in.ID, Title: in.Title, Document: in.Document}
	for _, f := range in.Flows {
		out.Flows = append(out.Flows, flowJSON(f))
	}
	return out
}

func catalogJSON(cat *catalog.Catalog, now time.Time) any {
	out := struct {
		Version      string           `json:"version"`
		Data         []dataOut        `json:"data"`
		Integrations []integrationOut `json:"integrations"`
	}{Version: cat.Version, Data: dataInUse(cat, now)}
	for _, id := range cat.IntegrationNames() {
		out.Integrations = append(out.Integrations, integrationJSON(cat, cat.Integrations[id]))
	}
	return out
}

// dataOut is one piece of published data the catalog carries, with its
// age.
type dataOut struct {
	What    string `json:"what"`
	Clouds  string `json:"clouds"`
	Version string `json:"version,omitempty"`
	Date    string `json:"date,omitempty"`
	AgeDays *int   `json:"age_days"`
	Stale   bool   `json:"stale"`
	Source  string `json:"source,omitempty"`
	Label   string `json:"-"`
	Age     string `json:"-"`
}

func dataInUse(cat *catalog.Catalog, now time.Time) []dataOut {
	var out []dataOut
	add := func(what, clouds, version string, date time.Time, label, source string) {
		d := dataOut{What: what, Clouds: clouds, Version: version, Label: label, Source: source, Age: "age unknown"}
		if !date.IsZero() {
			n := days(now.Sub(date))
			d.Date, d.AgeDays, d.Age = date.Format(time.DateOnly), &n, fmt.Sprintf("%d days old", n)
			if now.Sub(date) > staleAfter {
				d.Stale = true
				d.Age += " (over 90: run catalog update)"
			}
		}
		out = append(out, d)
	}
	byFile := map[string][]string{}
	var files []string
	for _, c := range model.Clouds {
		m, ok := cat.M365[c]
		if !ok {
			continue
		}
		k := m.Instance + "\x00" + m.File
		if _, seen := byFile[k]; !seen {
			files = append(files, k)
		}
		byFile[k] = append(byFile[k], string(c))
	}
	for _, k := range files {
		clouds := byFile[k]
		cloud, _ := model.ParseCloud(clouds[0])
		m := cat.M365[cloud]
		add("Microsoft 365 "+m.Instance, strings.Join(clouds, ", "), m.Version, m.Date, dataLabel(m.Version, m.Date), m.Source)
	}
	for _, name := range []string{"Public", "AzureGovernment"} {
		t := cat.ServiceTags[name]
		if t == nil {
			continue
		}
		var clouds []string
		for _, c := range model.Clouds {
			if catalog.TagCloud(c) == name {
				clouds = append(clouds, string(c))
			}
		}
		add("Azure service tags "+name, strings.Join(clouds, ", "), fmt.Sprint(t.ChangeNumber), t.Date,
			fmt.Sprintf("change number %d, of %s", t.ChangeNumber, t.Date.Format(time.DateOnly)), t.Source)
	}
	return out
}

func writeJSON(e *env, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, string(b))
	return err
}
