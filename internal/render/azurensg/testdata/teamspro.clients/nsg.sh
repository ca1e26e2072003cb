#!/usr/bin/env bash
# teamsgate azure-nsg configuration: cloud worldwide, catalog 2026.12.1
# integrations: teamspro-saas
# scope: host/subnet firewall of role clients
#
# Usage: RESOURCE_GROUP=my-rg [NSG_NAME=teamsgate-clients] bash nsg.sh
# Creates the network security group if it is missing and creates or updates
# each rule by name. Rules of the NSG that are not in this file stay; the ARM
# template nsg.json sets the whole rule list instead.
#
# Order: the NSG is created only when az network nsg show says it does not
# exist (az network nsg create on an existing NSG would replace it, without
# its rules); then every rule is created, the default denies at priority 4096
# last, so that nothing is denied before the allows are in. The script stops at
# the first error, and a second run updates the same rules in place.
set -euo pipefail

rg="${RESOURCE_GROUP:?set RESOURCE_GROUP to the resource group of the NSG}"
nsg="${NSG_NAME:-teamsgate-clients}"
trap 'echo "nsg.sh: stopped: a command failed; the default deny rules are created last" >&2' ERR

show_status=0
show_err="$(az network nsg show --resource-group "$rg" --name "$nsg" --output none 2>&1 >/dev/null)" || show_status=$?
if [[ $show_status -eq 3 && $show_err == *ResourceNotFound* ]]; then
  az network nsg create --resource-group "$rg" --name "$nsg" --output none
elif [[ $show_status -ne 0 ]]; then
  printf '%s\n' "$show_err" >&2
  echo "nsg.sh: stopped: cannot tell whether NSG $nsg exists in resource group $rg (az network nsg show exited $show_status); nothing was changed" >&2
  exit 1
fi

# teamspro-saas.apps: for the apps including help contents [via egress proxy 192.0.2.3:3128 for *.teams-pro.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.apps' \
  --priority 100 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.apps: for the apps including help contents [via egress proxy 192.0.2.3:3128 for *.teams-pro.com]' --output none

# teamspro-saas.metrics: for performance metrics analysis [via egress proxy 192.0.2.3:3128 for *.msecnd.net *.visualstudio.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.metrics' \
  --priority 110 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.metrics: for performance metrics analysis [via egress proxy 192.0.2.3:3128 for *.msecnd.net *.visualstudio.com]' --output none

# teamspro-saas.blob-cache: for blob cache storage [via egress proxy 192.0.2.3:3128 for *.windows.net]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.blob-cache' \
  --priority 120 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.blob-cache: for blob cache storage [via egress proxy 192.0.2.3:3128 for *.windows.net]' --output none

# teamspro-saas.graph-access: for Microsoft Graph API access [via egress proxy 192.0.2.3:3128 for *.microsoft.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.graph-access' \
  --priority 130 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.graph-access: for Microsoft Graph API access [via egress proxy 192.0.2.3:3128 for *.microsoft.com]' --output none

# teamspro-saas.web-app: TeamsPro web applications for Microsoft Teams [via egress proxy 192.0.2.3:3128 for *.teams-pro.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.web-app' \
  --priority 140 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.web-app: TeamsPro web applications for Microsoft Teams [via egress proxy 192.0.2.3:3128 for *.teams-pro.com]' --output none

# teamspro-saas.help-center: TeamsPro Help Center [via egress proxy 192.0.2.3:3128 for docs.teams-pro.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.help-center' \
  --priority 150 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.help-center: TeamsPro Help Center [via egress proxy 192.0.2.3:3128 for docs.teams-pro.com]' --output none

# teamspro-saas.trust-center: TeamsPro Trust Center [via egress proxy 192.0.2.3:3128 for trust.teams-pro.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.trust-center' \
  --priority 160 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.trust-center: TeamsPro Trust Center [via egress proxy 192.0.2.3:3128 for trust.teams-pro.com]' --output none

# teamspro-saas.admin-center: Admin center of TeamsPro [via egress proxy 192.0.2.3:3128 for admin.teams-pro.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.admin-center' \
  --priority 170 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.admin-center: Admin center of TeamsPro [via egress proxy 192.0.2.3:3128 for admin.teams-pro.com]' --output none

# teamspro-saas.subscription: Subscription management for TeamsPro licence [via egress proxy 192.0.2.3:3128 for subscription.witivio.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.subscription' \
  --priority 180 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.subscription: Subscription management for TeamsPro licence [via egress proxy 192.0.2.3:3128 for subscription.witivio.com]' --output none

# teamspro-saas.app-insights: Azure service used by TeamsPro to collect anonymous performance metrics, telemetry and application logs/trace...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.app-insights' \
  --priority 190 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.app-insights: Azure service used by TeamsPro to collect anonymous performance metrics, telemetry and application logs/trace...' --output none

# teamspro-saas.graph: API used by TeamsPro to interact with Microsoft 365 services [via egress proxy 192.0.2.3:3128 for graph.microsoft.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.graph' \
  --priority 200 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.graph: API used by TeamsPro to interact with Microsoft 365 services [via egress proxy 192.0.2.3:3128 for graph.microsoft.com]' --output none

# teamspro-saas.chargebee: Subscription and billing management [via egress proxy 192.0.2.3:3128 for *.chargebee.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.chargebee' \
  --priority 210 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.chargebee: Subscription and billing management [via egress proxy 192.0.2.3:3128 for *.chargebee.com]' --output none

# teamspro-saas.intercom: Support management [via egress proxy 192.0.2.3:3128 for *.intercom.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.intercom' \
  --priority 220 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.intercom: Support management [via egress proxy 192.0.2.3:3128 for *.intercom.com]' --output none

# teamsgate default deny: only the rules above pass (overrides AllowVNetInBound and AllowAzureLoadBalancerInBound)
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamsgate-deny-all-inbound' \
  --priority 4096 --direction Inbound --access Deny --protocol '*' \
  --source-address-prefixes '*' --source-port-ranges '*' \
  --destination-address-prefixes '*' --destination-port-ranges '*' \
  --description 'teamsgate default deny: only the rules above pass (overrides AllowVNetInBound and AllowAzureLoadBalancerInBound)' --output none

# teamsgate default deny: only the rules above pass (overrides AllowVnetOutBound and AllowInternetOutBound)
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamsgate-deny-all-outbound' \
  --priority 4096 --direction Outbound --access Deny --protocol '*' \
  --source-address-prefixes '*' --source-port-ranges '*' \
  --destination-address-prefixes '*' --destination-port-ranges '*' \
  --description 'teamsgate default deny: only the rules above pass (overrides AllowVnetOutBound and AllowInternetOutBound)' --output none
