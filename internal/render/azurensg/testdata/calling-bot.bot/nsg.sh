#!/usr/bin/env bash
# teamsgate azure-nsg configuration: cloud worldwide, catalog 2026.12.1
# integrations: teams-calling-bot
# scope: host/subnet firewall of role bot
# WARNING teams-calling-bot.out.login: not rendered (--fqdn-skip): tcp 443 to login.microsoftonline.com; allow it on azure-firewall, cilium (kubernetes), squid and pac
# WARNING teams-calling-bot.out.oauth-scope: not rendered (--fqdn-skip): tcp 443 to api.botframework.com api.aps.skype.com pma.teams.microsoft.com pma.cloud.microsoft; allow it on azure-firewall, cilium (kubernetes), squid and pac
# WARNING teams-calling-bot.out.graph: not rendered (--fqdn-skip): tcp 443 to graph.microsoft.com; allow it on azure-firewall, cilium (kubernetes), squid and pac
# WARNING teams-calling-bot.out.m365.set16-tcp: not rendered (--fqdn-skip): tcp 443 to *.keydelivery.mediaservices.windows.net *.streaming.mediaservices.windows.net; allow it on azure-firewall, cilium (kubernetes), squid and pac
# WARNING teams-calling-bot.out.m365.set17-tcp: not rendered (--fqdn-skip): tcp 443 to aka.ms; allow it on azure-firewall, cilium (kubernetes), squid and pac
# WARNING teams-calling-bot.out.m365.set19-tcp: not rendered (--fqdn-skip): tcp 80,443 to adl.windows.com; allow it on azure-firewall, cilium (kubernetes), squid and pac
# WARNING teams-calling-bot.out.m365.set27-tcp: not rendered (--fqdn-skip): tcp 443 to join.secure.skypeassets.com mlccdnprod.azureedge.net; allow it on azure-firewall, cilium (kubernetes), squid and pac
# WARNING teams-calling-bot.out.m365.set127-tcp: not rendered (--fqdn-skip): tcp 80,443 to *.skype.com; allow it on azure-firewall, cilium (kubernetes), squid and pac
#
# Usage: RESOURCE_GROUP=my-rg [NSG_NAME=teamsgate-bot] bash nsg.sh
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
nsg="${NSG_NAME:-teamsgate-bot}"
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

# teams-calling-bot.in.media: Real-time media port range for video/audio stream
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.in.media' \
  --priority 100 --direction Inbound --access Allow --protocol 'Udp' \
  --source-address-prefixes '52.112.0.0/14' '52.120.0.0/14' '52.122.0.0/15' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --destination-port-ranges '16000-17000' \
  --description 'teams-calling-bot.in.media: Real-time media port range for video/audio stream' --output none

# teams-calling-bot.in.signaling: Teams call signaling
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.in.signaling' \
  --priority 110 --direction Inbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes 'AzureCloud' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --destination-port-ranges '443' \
  --description 'teams-calling-bot.in.signaling: Teams call signaling' --output none

# teams-calling-bot.in.media-control: Media control plane for Teams
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.in.media-control' \
  --priority 120 --direction Inbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes 'AzureCloud' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --destination-port-ranges '8445' \
  --description 'teams-calling-bot.in.media-control: Media control plane for Teams' --output none

# teams-calling-bot.out.m365.set11-udp: Skype for Business Online and Microsoft Teams
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.out.m365.set11-udp' \
  --priority 100 --direction Outbound --access Allow --protocol 'Udp' \
  --source-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --source-port-ranges '*' \
  --destination-address-prefixes '52.112.0.0/14' '52.122.0.0/15' --destination-port-ranges '3478-3481' \
  --description 'teams-calling-bot.out.m365.set11-udp: Skype for Business Online and Microsoft Teams' --output none

# teams-calling-bot.out.m365.set12-tcp: Skype for Business Online and Microsoft Teams
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.out.m365.set12-tcp' \
  --priority 110 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --source-port-ranges '*' \
  --destination-address-prefixes '52.112.0.0/14' '52.122.0.0/15' --destination-port-ranges '80' '443' \
  --description 'teams-calling-bot.out.m365.set12-tcp: Skype for Business Online and Microsoft Teams' --output none

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
