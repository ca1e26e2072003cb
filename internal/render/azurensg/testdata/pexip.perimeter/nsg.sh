#!/usr/bin/env bash
# teamsgate azure-nsg configuration: cloud worldwide, catalog 2026.12.1
# integrations: pexip-teams-connector
# scope: perimeter (forward) view
# plan warning: pexip-teams-connector.instance-to-cn.signaling: to be confirmed: the destination port cell is lost in the source text; 4277 is certain from the row's note, 443 is the likely companion (docs/reference/endpoints.md §6)
# plan warning: pexip-teams-connector: role "ocsp-responder" not bound: TCP 80 is allowed to the public Internet (every address but private and other special-use space); bind ocsp-responder to the OCSP hosts named in your certificates' AIA to narrow it
# plan warning: pexip-teams-connector: role "windows-update" not bound: TCP 80/443 is allowed to the public Internet (every address but private and other special-use space); bind windows-update to your update servers (or use an FQDN-aware target) to narrow it
# plan warning: pexip-teams-connector.teams-to-lb.signaling: to be confirmed: the destination port cell is lost in the source text (five blank lines); 10101, 11000-11399 and 12000-12399 fit the NSG's internal ports and per-instance NAT ranges (docs/reference/endpoints.md §6); confirm against a deployed Teams Connector NSG
# WARNING pexip-teams-connector.mgmt-node-to-eventhub: not rendered (--fqdn-skip): tcp 5671 to contoso-tc-eh.servicebus.windows.net; allow it on azure-firewall, cilium (kubernetes), squid and pac
# WARNING pexip-teams-connector.instance-to-eventhub: not rendered (--fqdn-skip): tcp 5671 to contoso-tc-eh.servicebus.windows.net; allow it on azure-firewall, cilium (kubernetes), squid and pac
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

# pexip-teams-connector.mgmt-to-lb.rdp: RDP to the instances through the load balancer's NAT pool (one port per instance); only enabled for...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.mgmt-to-lb.rdp.in' \
  --priority 170 --direction Inbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.0/28' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.40/32' --destination-port-ranges '50000-50399' \
  --description 'pexip-teams-connector.mgmt-to-lb.rdp: RDP to the instances through the load balancer'\''s NAT pool (one port per instance); only enabled for...' --output none

# pexip-teams-connector.any-to-cn.dial-instructions: Access to Alternative Dial Instructions (the Conferencing Nodes referenced in the Inst...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.any-to-cn.dial-instructions' \
  --priority 180 --direction Inbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '*' --source-port-ranges '*' \
  --destination-address-prefixes '203.0.113.10/32' '203.0.113.11/32' --destination-port-ranges '443' \
  --description 'pexip-teams-connector.any-to-cn.dial-instructions: Access to Alternative Dial Instructions (the Conferencing Nodes referenced in the Inst...' --output none

# pexip-teams-connector.mgmt-to-instance.rdp: RDP to the Teams Connector instances (NSG rule "RDP", priority 1000, allow)
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.mgmt-to-instance.rdp.in' \
  --priority 1000 --direction Inbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.0/28' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.64/28' --destination-port-ranges '3389' \
  --description 'pexip-teams-connector.mgmt-to-instance.rdp: RDP to the Teams Connector instances (NSG rule "RDP", priority 1000, allow)' --output none

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

# pexip-teams-connector.instance-to-teams.signaling: Signaling
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-teams.signaling' \
  --priority 130 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '*' \
  --destination-address-prefixes '52.112.0.0/14' '52.122.0.0/15' --destination-port-ranges '*' \
  --description 'pexip-teams-connector.instance-to-teams.signaling: Signaling' --output none

# pexip-teams-connector.instance-to-cn.signaling: Signaling (4277 is for calls between Microsoft Teams Rooms and VTC endpoints)
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-cn.signaling.out' \
  --priority 140 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '*' \
  --destination-address-prefixes '203.0.113.10/32' '203.0.113.11/32' --destination-port-ranges '443' '4277' \
  --description 'pexip-teams-connector.instance-to-cn.signaling: Signaling (4277 is for calls between Microsoft Teams Rooms and VTC endpoints)' --output none

# pexip-teams-connector.instance-to-cn.media: Call media
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-cn.media.out' \
  --priority 150 --direction Outbound --access Allow --protocol 'Udp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '50000-54999' \
  --destination-address-prefixes '203.0.113.10/32' '203.0.113.11/32' --destination-port-ranges '40000-49999' \
  --description 'pexip-teams-connector.instance-to-cn.media: Call media' --output none

# pexip-teams-connector.instance-to-teams.media: Call media
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-teams.media' \
  --priority 160 --direction Outbound --access Allow --protocol 'Udp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '55000-59999' \
  --destination-address-prefixes '52.112.0.0/14' '52.122.0.0/15' --destination-port-ranges '*' \
  --description 'pexip-teams-connector.instance-to-teams.media: Call media' --output none

# pexip-teams-connector.instance-to-ocsp: Certificate revocation checking
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-ocsp' \
  --priority 170 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '*' \
  --destination-address-prefixes 'Internet' --destination-port-ranges '80' \
  --description 'pexip-teams-connector.instance-to-ocsp: Certificate revocation checking' --output none

# pexip-teams-connector.instance-to-windows-update: Windows updates
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.instance-to-windows-update' \
  --priority 180 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '198.51.100.64/28' --source-port-ranges '*' \
  --destination-address-prefixes 'Internet' --destination-port-ranges '80' '443' \
  --description 'pexip-teams-connector.instance-to-windows-update: Windows updates' --output none

# pexip-teams-connector.mgmt-to-lb.rdp: RDP to the instances through the load balancer's NAT pool (one port per instance); only enabled for...
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.mgmt-to-lb.rdp.out' \
  --priority 190 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.0/28' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.40/32' --destination-port-ranges '50000-50399' \
  --description 'pexip-teams-connector.mgmt-to-lb.rdp: RDP to the instances through the load balancer'\''s NAT pool (one port per instance); only enabled for...' --output none

# pexip-teams-connector.mgmt-to-instance.rdp: RDP to the Teams Connector instances (NSG rule "RDP", priority 1000, allow)
az network nsg rule create --resource-group "$rg" --nsg-name "$nsg" --name 'pexip-teams-connector.mgmt-to-instance.rdp.out' \
  --priority 1000 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes '192.0.2.0/28' --source-port-ranges '*' \
  --destination-address-prefixes '198.51.100.64/28' --destination-port-ranges '3389' \
  --description 'pexip-teams-connector.mgmt-to-instance.rdp: RDP to the Teams Connector instances (NSG rule "RDP", priority 1000, allow)' --output none

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
