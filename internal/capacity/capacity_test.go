package capacity

import (
	"strings"
	"testing"

	"github.com/teamsgate/teamsgate/internal/model"
)

func TestPlan(t *testing.T) {
	tests := []struct {
		name                         string
		req                          Request
		instances, minQuota, recQuot int
	}{
		{name: "one call", req: Request{Calls: 1}, instances: 1, minQuota: 4, recQuot: 10},
		{name: "fifteen calls fit one instance", req: Request{Calls: 15}, instances: 1, minQuota: 4, recQuot: 10},
		{name: "sixteen calls need two at the planning figure", req: Request{Calls: 16}, instances: 2, minQuota: 8, recQuot: 20},
		{name: "the seed's example: six instances, 24 cores, 40 recommended", req: Request{Calls: 90}, instances: 6, minQuota: 24, recQuot: 40},
		{name: "blue-green doubles the quota", req: Request{Calls: 90, BlueGreen: true}, instances: 6, minQuota: 48, recQuot: 80},
		{name: "AMD type", req: Request{Calls: 30, InstanceType: "Standard_D4as_v5"}, instances: 2, minQuota: 8, recQuot: 20},
		{name: "gcch in Arizona", req: Request{Calls: 10, Cloud: model.CloudGCCHigh, Region: "usgovarizona"}, instances: 1, minQuota: 4, recQuot: 10},
		{name: "gcch in Texas, display name", req: Request{Calls: 10, Cloud: model.CloudGCCHigh, Region: "US Gov Texas"}, instances: 1, minQuota: 4, recQuot: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Instances != tt.instances || got.QuotaMinimum != tt.minQuota || got.QuotaRecommended != tt.recQuot {
				t.Errorf("instances %d, min quota %d, recommended %d; want %d, %d, %d", got.Instances, got.QuotaMinimum, got.QuotaRecommended, tt.instances, tt.minQuota, tt.recQuot)
			}
			if got.MaxCalls < tt.req.Calls {
				t.Errorf("max calls %d < requested %d", got.MaxCalls, tt.req.Calls)
			}
		})
	}
}

func TestPlanRefuses(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{name: "no calls", req: Request{Calls: 0}, want: "at least 1"},
		{name: "unknown type", req: Request{Calls: 1, InstanceType: "Standard_B2s"}, want: "not supported"},
		{name: "gcch in Virginia", req: Request{Calls: 1, Cloud: model.CloudGCCHigh, Region: "usgovvirginia"}, want: "Virginia"},
		{name: "gcch elsewhere", req: Request{Calls: 1, Cloud: model.CloudGCCHigh, Region: "westeurope"}, want: "Arizona and Texas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plan(tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Plan(%+v) error = %v, want one containing %q", tt.req, err, tt.want)
			}
		})
	}
}

func TestRegionChecked(t *testing.T) {
	tests := []struct {
		name   string
		cloud  model.Cloud
		region string
		want   string // "" for accepted
	}{
		{name: "public region", cloud: model.CloudWorldwide, region: "westeurope"},
		{name: "display name", cloud: model.CloudWorldwide, region: "West Europe"},
		{name: "gcc uses public", cloud: model.CloudGCC, region: "eastus2"},
		{name: "typo", cloud: model.CloudWorldwide, region: "westeurpoe", want: `unknown Azure region "westeurpoe" (did you mean "westeurope"?)`},
		{name: "nonsense", cloud: model.CloudWorldwide, region: "mars", want: `unknown Azure region "mars": want a region of Azure's public cloud`},
		{name: "government region in worldwide", cloud: model.CloudWorldwide, region: "usgovarizona", want: `region "usgovarizona" is in Azure Government; a worldwide tenant's Teams Connector goes in Azure's public cloud`},
		{name: "public region in gcch", cloud: model.CloudGCCHigh, region: "eastus", want: `region "eastus" is in Azure's public cloud; a gcch tenant's Teams Connector goes in Azure Government`},
		{name: "gcch typo", cloud: model.CloudGCCHigh, region: "usgovarizna", want: `(did you mean "usgovarizona"?)`},
		{name: "gcch virginia", cloud: model.CloudGCCHigh, region: "usgovvirginia", want: "Virginia"},
		{name: "dod region", cloud: model.CloudDoD, region: "usdodeast"},
		{name: "dod public region", cloud: model.CloudDoD, region: "northeurope", want: "Azure Government"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plan(Request{Calls: 10, Cloud: tt.cloud, Region: tt.region})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
