// Package capacity sizes a Pexip Teams Connector deployment from the
// number of concurrent calls, following 002 "Capacity planning" and
// "Ensure that you have sufficient resource quota and capacity".
package capacity

import (
	"fmt"
	"sort"
	"strings"

	"github.com/teamsgate/teamsgate/internal/model"
)

// Figures from 002.
const (
	// MaxCallsPerInstance: "Each Teams Connector instance can handle a
	// maximum of 16 calls".
	MaxCallsPerInstance = 16
	// PlanCallsPerInstance: "For capacity planning purposes we recommend
	// that you assume 15 calls per instance".
	PlanCallsPerInstance = 15
	// VCPUPerInstance: "Each Teams Connector instance will use 4 vCPU".
	VCPUPerInstance = 4
	// DefaultQuotaHigh: "Typically, for each subscription, the default
	// quota allows up to 10-20 CPU cores per region and 10-20 cores per
	// series".
	DefaultQuotaHigh = 20
)

// InstanceTypes maps the instance types 002 allows to their VM series
// ("You must use one of the following instance types"). Each has the same
// call capacity.
var InstanceTypes = map[string]string{
	"Standard_D4s_v5":  "Dsv5-series",
	"Standard_D4as_v5": "Dasv5-series",
	"Standard_F4s":     "Fs-series",
}

// DefaultInstanceType is $PxAzureVmSize's default.
const DefaultInstanceType = "Standard_D4s_v5"

// Request is what the user asks to size.
type Request struct {
	Calls        int
	InstanceType string
	BlueGreen    bool
	Cloud        model.Cloud // zero: worldwide
	Region       string      // optional Azure region name
}

// Result is the sizing, with the reasoning in Notes.
type Result struct {
	Calls            int      `json:"calls"`
	InstanceType     string   `json:"instance_type"`
	Series           string   `json:"series"`
	Instances        int      `json:"instances"`
	MaxCalls         int      `json:"max_calls"`
	VCPUs            int      `json:"vcpus"`
	BlueGreen        bool     `json:"blue_green"`
	QuotaMinimum     int      `json:"quota_minimum_vcpus"`
	QuotaRecommended int      `json:"quota_recommended_vcpus"`
	Region           string   `json:"region,omitempty"`
	Cloud            string   `json:"cloud"`
	Notes            []string `json:"notes"`
}

// gcchRegions are the Azure US Government regions that can host a Teams
// Connector for GCC High: "The Teams Connector must be hosted in the
// Arizona or Texas Azure regions for GCC High. The Virginia Azure region
// does not support the hosting of the Teams Connector for GCC High."
var gcchRegions = map[string]bool{"usgovarizona": true, "usgovtexas": true}

// normRegion turns "US Gov Arizona" or "usgovarizona" into "usgovarizona".
func normRegion(r string) string {
	return strings.ToLower(strings.NewReplacer(" ", "", "-", "", "_", "").Replace(r))
}

// Plan sizes a deployment. It returns an error for a request that cannot
// be served as asked (no calls, unknown instance type, a region the cloud
// does not allow).
func Plan(req Request) (Result, error) {
	if req.Calls < 1 {
		return Result{}, fmt.Errorf("calls must be at least 1, got %d", req.Calls)
	}
	if req.InstanceType == "" {
		req.InstanceType = DefaultInstanceType
	}
	series, ok := InstanceTypes[req.InstanceType]
	if !ok {
		names := make([]string, 0, len(InstanceTypes))
		for n := range InstanceTypes {
			names = append(names, n)
		}
		sort.Strings(names)
		return Result{}, fmt.Errorf("instance type %q is not supported by the Teams Connector (use one of %s)", req.InstanceType, strings.Join(names, ", "))
	}
	if req.Cloud == "" {
		req.Cloud = model.CloudWorldwide
	}
	if req.Region != "" {
		if err := checkRegion(req.Cloud, req.Region); err != nil {
			return Result{}, err
		}
	}
	var notes []string
	if req.Cloud == model.CloudGCCHigh {
		switch {
		case req.Region == "":
			notes = append(notes, "GCC High: deploy in Azure US Government, region US Gov Arizona or US Gov Texas (not Virginia)")
		case !gcchRegions[normRegion(req.Region)]:
			why := "only the Arizona and Texas Azure US Government regions can host the Teams Connector for GCC High"
			if strings.Contains(normRegion(req.Region), "virginia") {
				why = "the Virginia Azure region does not support hosting the Teams Connector for GCC High; use US Gov Arizona or US Gov Texas"
			}
			return Result{}, fmt.Errorf("region %q cannot host a Teams Connector for GCC High: %s", req.Region, why)
		}
	}
	instances := (req.Calls + PlanCallsPerInstance - 1) / PlanCallsPerInstance
	vcpus := instances * VCPUPerInstance
	quota := vcpus
	if req.BlueGreen {
		quota *= 2
		notes = append(notes, fmt.Sprintf("blue-green: during an upgrade both environments run side by side, so the quota must hold 2 × %d vCPU", vcpus))
	}
	rec := recommended(quota)
	notes = append(notes,
		fmt.Sprintf("%d calls at the planning figure of %d calls per instance (maximum %d) need %d instance(s)", req.Calls, PlanCallsPerInstance, MaxCallsPerInstance, instances),
		fmt.Sprintf("request at least %d vCPU of %s in the region's per-series quota and in its regional total; %d recommended to allow for growth", quota, series, rec),
	)
	if quota > DefaultQuotaHigh {
		notes = append(notes, fmt.Sprintf("the default quota is typically 10-20 cores per region and per series: open a quota increase for %d (it may take days)", rec))
	}
	return Result{
		Calls:            req.Calls,
		InstanceType:     req.InstanceType,
		Series:           series,
		Instances:        instances,
		MaxCalls:         instances * MaxCallsPerInstance,
		VCPUs:            vcpus,
		BlueGreen:        req.BlueGreen,
		QuotaMinimum:     quota,
		QuotaRecommended: rec,
		Region:           req.Region,
		Cloud:            string(req.Cloud),
		Notes:            notes,
	}, nil
}

// recommended adds half again as headroom and rounds up to a multiple of
// ten vCPU. 002's own example: 6 instances need 24 cores, and "we strongly
// recommend that you request a quota covering more than the minimum, such
// as 40 cores".
func recommended(min int) int {
	r := (min*3 + 1) / 2
	return (r + 9) / 10 * 10
}
