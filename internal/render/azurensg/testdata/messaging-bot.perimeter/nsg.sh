#!/usr/bin/env bash
# teamsgate azure-nsg configuration: cloud worldwide, catalog 2026.12.1
# integrations: teams-messaging-bot
# scope: perimeter (forward) view
#
# Usage: RESOURCE_GROUP=my-rg [NSG_NAME=teamsgate] bash nsg.sh
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
nsg="${NSG_NAME:-teamsgate}"
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

# teams-messaging-bot.in.activity: Communication channel for activity messages
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-messaging-bot.in.activity' \
  --priority 100 --direction Inbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '52.112.0.0/14' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.10/32' --destination-port-ranges '443' \
  --description 'teams-messaging-bot.in.activity: Communication channel for activity messages' --output none

# teams-messaging-bot.out.login: OAuth login URL [via egress proxy 192.0.2.3:3128 for login.microsoftonline.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-messaging-bot.out.login' \
  --priority 100 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.10/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-messaging-bot.out.login: OAuth login URL [via egress proxy 192.0.2.3:3128 for login.microsoftonline.com]' --output none

# teams-messaging-bot.out.botframework: OAuth scope [via egress proxy 192.0.2.3:3128 for api.botframework.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-messaging-bot.out.botframework' \
  --priority 110 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.10/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-messaging-bot.out.botframework: OAuth scope [via egress proxy 192.0.2.3:3128 for api.botframework.com]' --output none

# teams-messaging-bot.out.graph: Microsoft Graph API (optional for messaging bots) [via egress proxy 192.0.2.3:3128 for graph.microsoft.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-messaging-bot.out.graph' \
  --priority 120 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.10/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-messaging-bot.out.graph: Microsoft Graph API (optional for messaging bots) [via egress proxy 192.0.2.3:3128 for graph.microsoft.com]' --output none

# teams-messaging-bot.out.openid: OpenID metadata and signing keys to validate the JWT in the Authorization header [via egress proxy 192.0....
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-messaging-bot.out.openid' \
  --priority 130 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.10/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-messaging-bot.out.openid: OpenID metadata and signing keys to validate the JWT in the Authorization header [via egress proxy 192.0....' --output none

# teams-messaging-bot.out.reply: Replies to the serviceUrl of each activity [via egress proxy 192.0.2.3:3128 for smba.trafficmanager.net]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-messaging-bot.out.reply' \
  --priority 140 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.10/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-messaging-bot.out.reply: Replies to the serviceUrl of each activity [via egress proxy 192.0.2.3:3128 for smba.trafficmanager.net]' --output none

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
