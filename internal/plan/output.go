package plan

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/teamsgate/teamsgate/internal/model"
)

// Formats lists the output formats of WriteFormat.
var Formats = []string{"table", "json", "csv", "markdown"}

// WriteFormat writes the plan in one of Formats.
func WriteFormat(w io.Writer, p *model.Plan, format string) error {
	switch format {
	case "table", "text", "":
		return WriteTable(w, p)
	case "json":
		return WriteJSON(w, p)
	case "csv":
		return WriteCSV(w, p)
	case "markdown", "md":
		return WriteMarkdown(w, p)
	}
	return fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(Formats, ", "))
}

// WriteJSON writes the plan in its documented JSON schema, indented.
func WriteJSON(w io.Writer, p *model.Plan) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// Describe renders a target for people: the role or set, then its
// addresses, hosts and tags, abbreviated after max items (0: all).
func Describe(t model.Target, max int) string {
	items := Items(t, "tag:", "any", "internet")
	if max > 0 && len(items) > max {
		items = append(items[:max:max], fmt.Sprintf("+%d more", len(items)-max))
	}
	list := strings.Join(items, " ")
	name := t.Role
	if name == "" {
		name = t.Set
	}
	if name == "" {
		return list
	}
	return name + " (" + list + ")"
}

// Items lists a target's prefixes, hosts and service tags (each after
// tagPrefix), then anyWord and internetWord when the target is any address
// or the public Internet.
func Items(t model.Target, tagPrefix, anyWord, internetWord string) []string {
	var items []string
	for _, p := range t.Prefixes {
		items = append(items, p.String())
	}
	for _, h := range t.Hosts {
		items = append(items, h.String())
	}
	for _, s := range t.ServiceTags {
		items = append(items, tagPrefix+s)
	}
	if t.Any {
		items = append(items, anyWord)
	}
	if t.Internet {
		items = append(items, internetWord)
	}
	return items
}

func ref(r model.Rule) string {
	return r.Reference.Cite()
}

// WriteTable writes the plan as an aligned table for people, followed by
// the warnings.
func WriteTable(w io.Writer, p *model.Plan) error {
	fmt.Fprintf(w, "Plan for cloud %s (catalog %s): %d rules\n\n", p.Cloud, p.CatalogVersion, len(p.Rules))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tACTION\tPROTO\tSOURCE\tSPORT\tDESTINATION\tDPORT\tSTATUS\tPURPOSE")
	for _, r := range p.Rules {
		status := r.Status.String()
		if !r.Required {
			status += ",optional"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.ID, r.Action, r.Proto, Describe(r.Source, 3), r.SourcePorts, Describe(r.Destination, 3), r.DestPorts, status, r.Purpose)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p.TenantRestrictions != nil {
		if err := writeTenantTable(w, p.TenantRestrictions); err != nil {
			return err
		}
	}
	if len(p.Warnings) > 0 {
		fmt.Fprintf(w, "\nWarnings:\n")
		for _, x := range p.Warnings {
			fmt.Fprintf(w, "  - %s\n", x)
		}
	}
	return nil
}

var csvHeader = []string{"id", "flow", "integration", "action", "protocol", "source", "source_ports", "destination", "destination_ports", "app_protocol", "required", "condition", "status", "purpose", "reference"}

// WriteCSV writes one line per rule with full address lists.
func WriteCSV(w io.Writer, p *model.Plan) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, r := range p.Rules {
		rec := []string{r.ID, r.FlowID, r.Integration, r.Action.String(), r.Proto.String(),
			Describe(r.Source, 0), r.SourcePorts.String(), Describe(r.Destination, 0), r.DestPorts.String(),
			r.App, fmt.Sprint(r.Required), r.Condition.String(), r.Status.String(), r.Purpose, ref(r)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// WriteMarkdown writes the plan as a Markdown table, for change requests
// and wikis.
func WriteMarkdown(w io.Writer, p *model.Plan) error {
	fmt.Fprintf(w, "# Network rules: cloud %s, catalog %s\n\n", p.Cloud, p.CatalogVersion)
	fmt.Fprintln(w, "| Rule | Action | Protocol | Source | Source ports | Destination | Destination ports | Status | Purpose | Reference |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range p.Rules {
		status := r.Status.String()
		if !r.Required {
			status += ", optional"
		}
		if c := r.Condition.String(); c != "" {
			status += "; when " + c
		}
		fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.ID, r.Action, r.Proto, mdEscape(Describe(r.Source, 0)), r.SourcePorts, mdEscape(Describe(r.Destination, 0)), r.DestPorts,
			status, mdEscape(r.Purpose), mdEscape(ref(r)))
	}
	if p.TenantRestrictions != nil {
		writeTenantMarkdown(w, p.TenantRestrictions)
	}
	if len(p.Warnings) > 0 {
		fmt.Fprintf(w, "\n## Warnings\n\n")
		for _, x := range p.Warnings {
			fmt.Fprintf(w, "- %s\n", mdEscape(x))
		}
	}
	return nil
}
