package model

import (
	"bytes"
	"encoding/json"
	"net/netip"
)

// marshal is json.Marshal without HTML escaping: plan JSON carries
// requirements such as "tls>=1.2" that should read as written.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// The plan's JSON form is a stable, documented schema (docs/plan-json.md):
// tools outside teamsgate and our own tests read it. Fields are only ever
// added.

type targetJSON struct {
	Role        string   `json:"role,omitempty"`
	Set         string   `json:"set,omitempty"`
	CIDRs       []string `json:"cidrs"`
	Hosts       []string `json:"hosts"`
	ServiceTags []string `json:"service_tags"`
	Any         bool     `json:"any"`
	Internet    bool     `json:"internet"`
}

type ruleJSON struct {
	ID               string     `json:"id"`
	Flow             string     `json:"flow"`
	Integration      string     `json:"integration"`
	Protocol         string     `json:"protocol"`
	Action           string     `json:"action"`
	Source           targetJSON `json:"source"`
	SourcePorts      []string   `json:"source_ports"`
	Destination      targetJSON `json:"destination"`
	DestinationPorts []string   `json:"destination_ports"`
	AppProtocol      string     `json:"app_protocol"`
	Purpose          string     `json:"purpose"`
	Notes            string     `json:"notes,omitempty"`
	Required         bool       `json:"required"`
	Condition        string     `json:"condition"`
	Status           string     `json:"status"`
	StatusReason     string     `json:"status_reason,omitempty"`
	Reference        string     `json:"reference"`
	Requirements     []string   `json:"requirements,omitempty"`
}

type planJSON struct {
	CatalogVersion string     `json:"catalog_version"`
	Cloud          string     `json:"cloud"`
	Integrations   []string   `json:"integrations"`
	Rules          []ruleJSON `json:"rules"`
	Warnings       []string   `json:"warnings"`

	// TenantRestrictions is present only when the spec puts tenant
	// restrictions in force.
	TenantRestrictions *tenantRestrictionsJSON `json:"tenant_restrictions,omitempty"`
}

type tenantRestrictionsJSON struct {
	Hosts   []string          `json:"hosts"`
	Headers map[string]string `json:"headers"`
	Tenants []tenantEntryJSON `json:"tenants"`
}

type tenantEntryJSON struct {
	Tenant      string `json:"tenant"`
	Integration string `json:"integration,omitempty"`
	Reason      string `json:"reason"`
	Reference   string `json:"reference,omitempty"`
}

func strs[T interface{ String() string }](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.String()
	}
	return out
}

func (t Target) toJSON() targetJSON {
	tags := t.ServiceTags
	if tags == nil {
		tags = []string{}
	}
	return targetJSON{
		Role:        t.Role,
		Set:         t.Set,
		CIDRs:       strs[netip.Prefix](t.Prefixes),
		Hosts:       strs[Host](t.Hosts),
		ServiceTags: tags,
		Any:         t.Any,
		Internet:    t.Internet,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// MarshalJSON renders the rule in the plan JSON schema.
func (r Rule) MarshalJSON() ([]byte, error) { return marshal(r.toJSON()) }

func (r Rule) toJSON() ruleJSON {
	return ruleJSON{
		ID:               r.ID,
		Flow:             r.FlowID,
		Integration:      r.Integration,
		Protocol:         r.Proto.String(),
		Action:           r.Action.String(),
		Source:           r.Source.toJSON(),
		SourcePorts:      nonNil(r.SourcePorts.Strings()),
		Destination:      r.Destination.toJSON(),
		DestinationPorts: nonNil(r.DestPorts.Strings()),
		AppProtocol:      r.App,
		Purpose:          r.Purpose,
		Notes:            r.Notes,
		Required:         r.Required,
		Condition:        r.Condition.String(),
		Status:           r.Status.String(),
		StatusReason:     r.StatusReason,
		Reference:        r.Reference.String(),
		Requirements:     r.Requirements,
	}
}

// MarshalJSON renders the plan in its documented JSON schema.
func (p *Plan) MarshalJSON() ([]byte, error) {
	out := planJSON{
		CatalogVersion: p.CatalogVersion,
		Cloud:          string(p.Cloud),
		Integrations:   nonNil(p.Integrations),
		Rules:          make([]ruleJSON, len(p.Rules)),
		Warnings:       nonNil(p.Warnings),
	}
	for i, r := range p.Rules {
		out.Rules[i] = r.toJSON()
	}
	if tr := p.TenantRestrictions; tr != nil {
		j := &tenantRestrictionsJSON{
			Hosts: strs[Host](tr.Hosts),
			Headers: map[string]string{
				HeaderRestrictTenants: tr.HeaderValue(),
				HeaderRestrictContext: tr.Context.String(),
			},
			Tenants: make([]tenantEntryJSON, len(tr.Tenants)),
		}
		for i, e := range tr.Tenants {
			ref := ""
			if e.Reference.Doc != "" {
				ref = e.Reference.String()
			}
			j.Tenants[i] = tenantEntryJSON{Tenant: e.Tenant.String(), Integration: e.Integration, Reason: e.Reason, Reference: ref}
		}
		out.TenantRestrictions = j
	}
	return marshal(out)
}
