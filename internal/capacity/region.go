package capacity

import (
	"fmt"
	"sort"
	"strings"

	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/suggest"
)

// publicRegions are the physical regions of Azure's public cloud, by the
// names `az account list-locations` gives (Microsoft Learn, "List of Azure
// regions", late 2026), where worldwide and GCC tenants host a Teams
// Connector.
var publicRegions = []string{
	"australiacentral", "australiacentral2", "australiaeast", "australiasoutheast", "austriaeast",
	"belgiumcentral", "brazilsouth", "brazilsoutheast", "canadacentral", "canadaeast",
	"centralindia", "centralus", "centraluseuap", "chilecentral", "denmarkeast", "eastasia",
	"eastus", "eastus2", "eastus2euap", "francecentral", "francesouth", "germanynorth",
	"germanywestcentral", "indonesiacentral", "israelcentral", "italynorth", "japaneast",
	"japanwest", "jioindiacentral", "jioindiawest", "koreacentral", "koreasouth",
	"malaysiawest", "mexicocentral", "newzealandnorth", "northcentralus", "northeurope",
	"norwayeast", "norwaywest", "polandcentral", "qatarcentral", "southafricanorth",
	"southafricawest", "southcentralus", "southeastasia", "southindia", "spaincentral",
	"swedencentral", "swedensouth", "switzerlandnorth", "switzerlandwest", "uaecentral",
	"uaenorth", "uksouth", "ukwest", "westcentralus", "westeurope", "westindia", "westus",
	"westus2", "westus3",
}

// governmentRegions are the regions of Azure Government, where GCC High
// and DoD tenants host it.
var governmentRegions = []string{"usdodcentral", "usdodeast", "usgovarizona", "usgoviowa", "usgovtexas", "usgovvirginia"}

// checkRegion refuses a region that is not an Azure region of the cloud
// the tenant is in: a typo, or a region of the other Azure cloud.
func checkRegion(cloud model.Cloud, region string) error {
	r := normRegion(region)
	want, other, wantName, otherName := publicRegions, governmentRegions, "Azure's public cloud", "Azure Government"
	if cloud == model.CloudGCCHigh || cloud == model.CloudDoD {
		want, other, wantName, otherName = governmentRegions, publicRegions, "Azure Government", "Azure's public cloud"
	}
	if contains(want, r) {
		return nil
	}
	ex := examples(want)
	if cloud == model.CloudGCCHigh {
		ex = "usgovarizona or usgovtexas: only the Arizona and Texas Azure US Government regions can host the Teams Connector for GCC High"
	}
	if contains(other, r) {
		return fmt.Errorf("region %q is in %s; a %s tenant's Teams Connector goes in %s (%s)", region, otherName, cloud, wantName, ex)
	}
	return fmt.Errorf("unknown Azure region %q%s: want a region of %s as az account list-locations names it (%s)", region, suggest.Hint(r, want), wantName, ex)
}

func contains(l []string, s string) bool {
	i := sort.SearchStrings(l, s)
	return i < len(l) && l[i] == s
}

func examples(l []string) string {
	if len(l) <= 6 {
		return strings.Join(l, ", ")
	}
	return strings.Join([]string{"eastus", "westeurope", "uksouth", "…"}, ", ")
}
