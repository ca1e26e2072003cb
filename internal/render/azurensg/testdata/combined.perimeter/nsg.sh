#!/usr/bin/env bash
# teamsgate azure-nsg configuration: cloud worldwide, catalog 2026.12.1
# integrations: pexip-teams-connector, teams-calling-bot, teams-messaging-bot, teamspro-saas
# scope: perimeter (forward) view
# plan warning: pexip-teams-connector: role "event-hub" not bound: Azure Event Hubs namespaces are <name>.servicebus.windows.net; bind event-hub to your namespace to narrow the rule
# plan warning: pexip-teams-connector.instance-to-cn.signaling: to be confirmed: the destination port cell is lost in the source text; 4277 is certain from the row's note, 443 is the likely companion (docs/reference/endpoints.md §6)
# plan warning: pexip-teams-connector: role "ocsp-responder" not bound: TCP 80 is allowed to the public Internet (every address but private and other special-use space); bind ocsp-responder to the OCSP hosts named in your certificates' AIA to narrow it
# plan warning: pexip-teams-connector: role "windows-update" not bound: TCP 80/443 is allowed to the public Internet (every address but private and other special-use space); bind windows-update to your update servers (or use an FQDN-aware target) to narrow it
# plan warning: pexip-teams-connector.teams-to-lb.signaling: to be confirmed: the destination port cell is lost in the source text (five blank lines); 10101, 11000-11399 and 12000-12399 fit the NSG's internal ports and per-instance NAT ranges (docs/reference/endpoints.md §6); confirm against a deployed Teams Connector NSG
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

# pexip-teams-connector.cn-to-lb.signaling: Initial call signaling is via the load balancer
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.cn-to-lb.signaling.in' \
  --priority 100 --direction Inbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '203.0.113.10/32' '203.0.113.11/32' --source-port-ranges '33000-39999' \
  --destination-address-prefixes '198.51.100.40/32' --destination-port-ranges '443' \
  --description 'pexip-teams-connector.cn-to-lb.signaling: Initial call signaling is via the load balancer' --output none

# pexip-teams-connector.cn-to-instance.signaling: When the call is established, signaling is directly between the Conferencing Node and the...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.cn-to-instance.signaling.in' \
  --priority 110 --direction Inbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '203.0.113.10/32' '203.0.113.11/32' --source-port-ranges '33000-39999' \
  --destination-address-prefixes '198.51.100.64/28' --destination-port-ranges '443' \
  --description 'pexip-teams-connector.cn-to-instance.signaling: When the call is established, signaling is directly between the Conferencing Node and the...' --output none

# pexip-teams-connector.cn-to-instance.media: Call media
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.cn-to-instance.media.in' \
  --priority 120 --direction Inbound --access Allow --protocol 'Udp' \
  --source-address-prefixes '203.0.113.10/32' '203.0.113.11/32' --source-port-ranges '40000-49999' \
  --destination-address-prefixes '198.51.100.64/28' --destination-port-ranges '50000-54999' \
  --description 'pexip-teams-connector.cn-to-instance.media: Call media' --output none

# pexip-teams-connector.instance-to-cn.signaling: Signaling (4277 is for calls between Microsoft Teams Rooms and VTC endpoints)
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-cn.signaling.in' \
  --priority 130 --direction Inbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '*' \
  --destination-address-prefixes '203.0.113.10/32' '203.0.113.11/32' --destination-port-ranges '443' '4277' \
  --description 'pexip-teams-connector.instance-to-cn.signaling: Signaling (4277 is for calls between Microsoft Teams Rooms and VTC endpoints)' --output none

# pexip-teams-connector.instance-to-cn.media: Call media
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-cn.media.in' \
  --priority 140 --direction Inbound --access Allow --protocol 'Udp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '50000-54999' \
  --destination-address-prefixes '203.0.113.10/32' '203.0.113.11/32' --destination-port-ranges '40000-49999' \
  --description 'pexip-teams-connector.instance-to-cn.media: Call media' --output none

# pexip-teams-connector.teams-to-lb.signaling: Signaling
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.teams-to-lb.signaling' \
  --priority 150 --direction Inbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '52.112.0.0/14' '52.122.0.0/15' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.40/32' --destination-port-ranges '10101' '11000-11399' '12000-12399' \
  --description 'pexip-teams-connector.teams-to-lb.signaling: Signaling' --output none

# pexip-teams-connector.teams-to-instance.media: Call media
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.teams-to-instance.media' \
  --priority 160 --direction Inbound --access Allow --protocol 'Udp' \
  --source-address-prefixes '52.112.0.0/14' '52.122.0.0/15' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.64/28' --destination-port-ranges '55000-59999' \
  --description 'pexip-teams-connector.teams-to-instance.media: Call media' --output none

# pexip-teams-connector.any-to-cn.dial-instructions: Access to Alternative Dial Instructions (the Conferencing Nodes referenced in the Inst...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.any-to-cn.dial-instructions' \
  --priority 170 --direction Inbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '*' --source-port-ranges '*' \
  --destination-address-prefixes '203.0.113.10/32' '203.0.113.11/32' --destination-port-ranges '443' \
  --description 'pexip-teams-connector.any-to-cn.dial-instructions: Access to Alternative Dial Instructions (the Conferencing Nodes referenced in the Inst...' --output none

# teams-calling-bot.in.media: Real-time media port range for video/audio stream
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.in.media' \
  --priority 180 --direction Inbound --access Allow --protocol 'Udp' \
  --source-address-prefixes '52.112.0.0/14' '52.120.0.0/14' '52.122.0.0/15' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --destination-port-ranges '16000-17999' \
  --description 'teams-calling-bot.in.media: Real-time media port range for video/audio stream' --output none

# teams-calling-bot.in.signaling: Teams call signaling
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.in.signaling' \
  --priority 190 --direction Inbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '*' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --destination-port-ranges '443' \
  --description 'teams-calling-bot.in.signaling: Teams call signaling' --output none

# teams-calling-bot.in.media-control: Media control plane for Teams
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.in.media-control' \
  --priority 200 --direction Inbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '*' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --destination-port-ranges '8445' \
  --description 'teams-calling-bot.in.media-control: Media control plane for Teams' --output none

# teams-messaging-bot.in.activity: Communication channel for activity messages
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-messaging-bot.in.activity' \
  --priority 210 --direction Inbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '52.112.0.0/14' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.10/32' --destination-port-ranges '443' \
  --description 'teams-messaging-bot.in.activity: Communication channel for activity messages' --output none

# pexip-teams-connector.rdp-deny: No management addresses were given: the NSG's "RDP" rule (priority 1000) denies RDP; a full redeploy is n...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.rdp-deny' \
  --priority 1000 --direction Inbound --access Deny --protocol 'Tcp' \
  --source-address-prefixes '*' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.64/28' --destination-port-ranges '3389' \
  --description 'pexip-teams-connector.rdp-deny: No management addresses were given: the NSG'\''s "RDP" rule (priority 1000) denies RDP; a full redeploy is n...' --output none

# pexip-teams-connector.cn-to-lb.signaling: Initial call signaling is via the load balancer
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.cn-to-lb.signaling.out' \
  --priority 100 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '203.0.113.10/32' '203.0.113.11/32' --source-port-ranges '33000-39999' \
  --destination-address-prefixes '198.51.100.40/32' --destination-port-ranges '443' \
  --description 'pexip-teams-connector.cn-to-lb.signaling: Initial call signaling is via the load balancer' --output none

# pexip-teams-connector.cn-to-instance.signaling: When the call is established, signaling is directly between the Conferencing Node and the...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.cn-to-instance.signaling.out' \
  --priority 110 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '203.0.113.10/32' '203.0.113.11/32' --source-port-ranges '33000-39999' \
  --destination-address-prefixes '198.51.100.64/28' --destination-port-ranges '443' \
  --description 'pexip-teams-connector.cn-to-instance.signaling: When the call is established, signaling is directly between the Conferencing Node and the...' --output none

# pexip-teams-connector.cn-to-instance.media: Call media
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.cn-to-instance.media.out' \
  --priority 120 --direction Outbound --access Allow --protocol 'Udp' \
  --source-address-prefixes '203.0.113.10/32' '203.0.113.11/32' --source-port-ranges '40000-49999' \
  --destination-address-prefixes '198.51.100.64/28' --destination-port-ranges '50000-54999' \
  --description 'pexip-teams-connector.cn-to-instance.media: Call media' --output none

# pexip-teams-connector.mgmt-node-to-eventhub: Advanced status reporting to the Azure Event Hub [via egress proxy 192.0.2.3:3128 for *.serv...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.mgmt-node-to-eventhub' \
  --priority 130 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '203.0.113.5/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'pexip-teams-connector.mgmt-node-to-eventhub: Advanced status reporting to the Azure Event Hub [via egress proxy 192.0.2.3:3128 for *.serv...' --output none

# pexip-teams-connector.instance-to-teams.signaling: Signaling
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-teams.signaling' \
  --priority 140 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '*' \
  --destination-address-prefixes '52.112.0.0/14' '52.122.0.0/15' --destination-port-ranges '*' \
  --description 'pexip-teams-connector.instance-to-teams.signaling: Signaling' --output none

# pexip-teams-connector.instance-to-cn.signaling: Signaling (4277 is for calls between Microsoft Teams Rooms and VTC endpoints)
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-cn.signaling.out' \
  --priority 150 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '*' \
  --destination-address-prefixes '203.0.113.10/32' '203.0.113.11/32' --destination-port-ranges '443' '4277' \
  --description 'pexip-teams-connector.instance-to-cn.signaling: Signaling (4277 is for calls between Microsoft Teams Rooms and VTC endpoints)' --output none

# pexip-teams-connector.instance-to-cn.media: Call media
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-cn.media.out' \
  --priority 160 --direction Outbound --access Allow --protocol 'Udp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '50000-54999' \
  --destination-address-prefixes '203.0.113.10/32' '203.0.113.11/32' --destination-port-ranges '40000-49999' \
  --description 'pexip-teams-connector.instance-to-cn.media: Call media' --output none

# pexip-teams-connector.instance-to-teams.media: Call media
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-teams.media' \
  --priority 170 --direction Outbound --access Allow --protocol 'Udp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '55000-59999' \
  --destination-address-prefixes '52.112.0.0/14' '52.122.0.0/15' --destination-port-ranges '*' \
  --description 'pexip-teams-connector.instance-to-teams.media: Call media' --output none

# pexip-teams-connector.instance-to-ocsp: Certificate revocation checking
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-ocsp' \
  --priority 180 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '*' \
  --destination-address-prefixes 'Internet' --destination-port-ranges '80' \
  --description 'pexip-teams-connector.instance-to-ocsp: Certificate revocation checking' --output none

# pexip-teams-connector.instance-to-windows-update: Windows updates
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-windows-update' \
  --priority 190 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '*' \
  --destination-address-prefixes 'Internet' --destination-port-ranges '80' '443' \
  --description 'pexip-teams-connector.instance-to-windows-update: Windows updates' --output none

# pexip-teams-connector.instance-to-eventhub: Advanced status reporting to the Azure Event Hub; this port is managed by the Azure NSG [via ...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-eventhub' \
  --priority 200 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'pexip-teams-connector.instance-to-eventhub: Advanced status reporting to the Azure Event Hub; this port is managed by the Azure NSG [via ...' --output none

# teams-calling-bot.out.login: OAuth sign in URL [via egress proxy 192.0.2.3:3128 for login.microsoftonline.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.out.login' \
  --priority 210 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-calling-bot.out.login: OAuth sign in URL [via egress proxy 192.0.2.3:3128 for login.microsoftonline.com]' --output none

# teams-calling-bot.out.oauth-scope: OAuth scope [via egress proxy 192.0.2.3:3128 for api.botframework.com api.aps.skype.com pma.teams.micr...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.out.oauth-scope' \
  --priority 220 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-calling-bot.out.oauth-scope: OAuth scope [via egress proxy 192.0.2.3:3128 for api.botframework.com api.aps.skype.com pma.teams.micr...' --output none

# teams-calling-bot.out.graph: Microsoft Graph API (required for calling bots: application permissions to control the call) [via egress pro...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.out.graph' \
  --priority 230 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-calling-bot.out.graph: Microsoft Graph API (required for calling bots: application permissions to control the call) [via egress pro...' --output none

# teams-calling-bot.out.m365.set11-udp: Skype for Business Online and Microsoft Teams
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.out.m365.set11-udp' \
  --priority 240 --direction Outbound --access Allow --protocol 'Udp' \
  --source-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --source-port-ranges '*' \
  --destination-address-prefixes '52.112.0.0/14' '52.122.0.0/15' --destination-port-ranges '3478-3481' \
  --description 'teams-calling-bot.out.m365.set11-udp: Skype for Business Online and Microsoft Teams' --output none

# teams-calling-bot.out.m365.set12-tcp: Skype for Business Online and Microsoft Teams
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.out.m365.set12-tcp' \
  --priority 250 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --source-port-ranges '*' \
  --destination-address-prefixes '52.112.0.0/14' '52.122.0.0/15' --destination-port-ranges '80' '443' \
  --description 'teams-calling-bot.out.m365.set12-tcp: Skype for Business Online and Microsoft Teams' --output none

# teams-calling-bot.out.m365.set16-tcp: Skype for Business Online and Microsoft Teams [via egress proxy 192.0.2.3:3128 for *.keydelivery.me...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.out.m365.set16-tcp' \
  --priority 260 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-calling-bot.out.m365.set16-tcp: Skype for Business Online and Microsoft Teams [via egress proxy 192.0.2.3:3128 for *.keydelivery.me...' --output none

# teams-calling-bot.out.m365.set17-tcp: Skype for Business Online and Microsoft Teams [via egress proxy 192.0.2.3:3128 for aka.ms]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.out.m365.set17-tcp' \
  --priority 270 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-calling-bot.out.m365.set17-tcp: Skype for Business Online and Microsoft Teams [via egress proxy 192.0.2.3:3128 for aka.ms]' --output none

# teams-calling-bot.out.m365.set19-tcp: Skype for Business Online and Microsoft Teams [via egress proxy 192.0.2.3:3128 for adl.windows.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.out.m365.set19-tcp' \
  --priority 280 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-calling-bot.out.m365.set19-tcp: Skype for Business Online and Microsoft Teams [via egress proxy 192.0.2.3:3128 for adl.windows.com]' --output none

# teams-calling-bot.out.m365.set27-tcp: Skype for Business Online and Microsoft Teams [via egress proxy 192.0.2.3:3128 for join.secure.skyp...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.out.m365.set27-tcp' \
  --priority 290 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-calling-bot.out.m365.set27-tcp: Skype for Business Online and Microsoft Teams [via egress proxy 192.0.2.3:3128 for join.secure.skyp...' --output none

# teams-calling-bot.out.m365.set127-tcp: Skype for Business Online and Microsoft Teams [via egress proxy 192.0.2.3:3128 for *.skype.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-calling-bot.out.m365.set127-tcp' \
  --priority 300 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.20/32' '198.51.100.21/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-calling-bot.out.m365.set127-tcp: Skype for Business Online and Microsoft Teams [via egress proxy 192.0.2.3:3128 for *.skype.com]' --output none

# teams-messaging-bot.out.login: OAuth login URL [via egress proxy 192.0.2.3:3128 for login.microsoftonline.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-messaging-bot.out.login' \
  --priority 310 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.10/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-messaging-bot.out.login: OAuth login URL [via egress proxy 192.0.2.3:3128 for login.microsoftonline.com]' --output none

# teams-messaging-bot.out.botframework: OAuth scope [via egress proxy 192.0.2.3:3128 for api.botframework.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-messaging-bot.out.botframework' \
  --priority 320 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.10/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-messaging-bot.out.botframework: OAuth scope [via egress proxy 192.0.2.3:3128 for api.botframework.com]' --output none

# teams-messaging-bot.out.graph: Microsoft Graph API (optional for messaging bots) [via egress proxy 192.0.2.3:3128 for graph.microsoft.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-messaging-bot.out.graph' \
  --priority 330 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.10/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-messaging-bot.out.graph: Microsoft Graph API (optional for messaging bots) [via egress proxy 192.0.2.3:3128 for graph.microsoft.com]' --output none

# teams-messaging-bot.out.openid: OpenID metadata and signing keys to validate the JWT in the Authorization header [via egress proxy 192.0....
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-messaging-bot.out.openid' \
  --priority 340 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.10/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-messaging-bot.out.openid: OpenID metadata and signing keys to validate the JWT in the Authorization header [via egress proxy 192.0....' --output none

# teams-messaging-bot.out.reply: Replies to the serviceUrl of each activity [via egress proxy 192.0.2.3:3128 for smba.trafficmanager.net]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teams-messaging-bot.out.reply' \
  --priority 350 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.10/32' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teams-messaging-bot.out.reply: Replies to the serviceUrl of each activity [via egress proxy 192.0.2.3:3128 for smba.trafficmanager.net]' --output none

# teamspro-saas.apps: for the apps including help contents [via egress proxy 192.0.2.3:3128 for *.teams-pro.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.apps' \
  --priority 360 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.apps: for the apps including help contents [via egress proxy 192.0.2.3:3128 for *.teams-pro.com]' --output none

# teamspro-saas.metrics: for performance metrics analysis [via egress proxy 192.0.2.3:3128 for *.msecnd.net *.visualstudio.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.metrics' \
  --priority 370 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.metrics: for performance metrics analysis [via egress proxy 192.0.2.3:3128 for *.msecnd.net *.visualstudio.com]' --output none

# teamspro-saas.blob-cache: for blob cache storage [via egress proxy 192.0.2.3:3128 for *.windows.net]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.blob-cache' \
  --priority 380 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.blob-cache: for blob cache storage [via egress proxy 192.0.2.3:3128 for *.windows.net]' --output none

# teamspro-saas.graph-access: for Microsoft Graph API access [via egress proxy 192.0.2.3:3128 for *.microsoft.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.graph-access' \
  --priority 390 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.graph-access: for Microsoft Graph API access [via egress proxy 192.0.2.3:3128 for *.microsoft.com]' --output none

# teamspro-saas.web-app: TeamsPro web applications for Microsoft Teams [via egress proxy 192.0.2.3:3128 for *.teams-pro.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.web-app' \
  --priority 400 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.web-app: TeamsPro web applications for Microsoft Teams [via egress proxy 192.0.2.3:3128 for *.teams-pro.com]' --output none

# teamspro-saas.help-center: TeamsPro Help Center [via egress proxy 192.0.2.3:3128 for docs.teams-pro.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.help-center' \
  --priority 410 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.help-center: TeamsPro Help Center [via egress proxy 192.0.2.3:3128 for docs.teams-pro.com]' --output none

# teamspro-saas.trust-center: TeamsPro Trust Center [via egress proxy 192.0.2.3:3128 for trust.teams-pro.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.trust-center' \
  --priority 420 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.trust-center: TeamsPro Trust Center [via egress proxy 192.0.2.3:3128 for trust.teams-pro.com]' --output none

# teamspro-saas.admin-center: Admin center of TeamsPro [via egress proxy 192.0.2.3:3128 for admin.teams-pro.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.admin-center' \
  --priority 430 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.admin-center: Admin center of TeamsPro [via egress proxy 192.0.2.3:3128 for admin.teams-pro.com]' --output none

# teamspro-saas.subscription: Subscription management for TeamsPro licence [via egress proxy 192.0.2.3:3128 for subscription.witivio.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.subscription' \
  --priority 440 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.subscription: Subscription management for TeamsPro licence [via egress proxy 192.0.2.3:3128 for subscription.witivio.com]' --output none

# teamspro-saas.app-insights: Azure service used by TeamsPro to collect anonymous performance metrics, telemetry and application logs/trace...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.app-insights' \
  --priority 450 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.app-insights: Azure service used by TeamsPro to collect anonymous performance metrics, telemetry and application logs/trace...' --output none

# teamspro-saas.graph: API used by TeamsPro to interact with Microsoft 365 services [via egress proxy 192.0.2.3:3128 for graph.microsoft.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.graph' \
  --priority 460 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.graph: API used by TeamsPro to interact with Microsoft 365 services [via egress proxy 192.0.2.3:3128 for graph.microsoft.com]' --output none

# teamspro-saas.chargebee: Subscription and billing management [via egress proxy 192.0.2.3:3128 for *.chargebee.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.chargebee' \
  --priority 470 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.128/25' --source-port-ranges '*' \
  --destination-address-prefixes '192.0.2.3/32' --destination-port-ranges '3128' \
  --description 'teamspro-saas.chargebee: Subscription and billing management [via egress proxy 192.0.2.3:3128 for *.chargebee.com]' --output none

# teamspro-saas.intercom: Support management [via egress proxy 192.0.2.3:3128 for *.intercom.com]
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'teamspro-saas.intercom' \
  --priority 480 --direction Outbound --access Allow --protocol 'Tcp' \
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
