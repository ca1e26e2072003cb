#!/usr/bin/env bash
# teamsgate aws-sg configuration: cloud worldwide, catalog 2026.11.1
# integrations: pexip-teams-connector
# scope: perimeter (forward) view
# plan warning: pexip-teams-connector.instance-to-cn.signaling: to be confirmed: the destination port cell is lost in the source text; 4277 is certain from the row's note, 443 is the likely companion (docs/reference/endpoints.md §6)
# plan warning: pexip-teams-connector: role "ocsp-responder" not bound: TCP 80 is allowed to any address; bind ocsp-responder to the OCSP hosts named in your certificates' AIA to narrow it
# plan warning: pexip-teams-connector: role "windows-update" not bound: TCP 80/443 is allowed to any address; bind windows-update to your update servers (or use an FQDN-aware target) to narrow it
# plan warning: pexip-teams-connector.teams-to-lb.signaling: to be confirmed: the destination port cell is lost in the source text (five blank lines); 10101, 11000-11399 and 12000-12399 fit the NSG's internal ports and per-instance NAT ranges (docs/reference/endpoints.md §6); confirm against a deployed Teams Connector NSG
# WARNING pexip-teams-connector.mgmt-node-to-eventhub: not rendered (--fqdn-skip): tcp 5671 to contoso-tc-eh.servicebus.windows.net; allow it on azure-firewall, cilium (kubernetes), squid and pac
# WARNING pexip-teams-connector.instance-to-eventhub: not rendered (--fqdn-skip): tcp 5671 to contoso-tc-eh.servicebus.windows.net; allow it on azure-firewall, cilium (kubernetes), squid and pac
# pexip-teams-connector.cn-to-lb.signaling: source ports 33000-39999 widened to any: a security group rule has no source port
# pexip-teams-connector.cn-to-instance.signaling: source ports 33000-39999 widened to any: a security group rule has no source port
# pexip-teams-connector.cn-to-instance.media: source ports 40000-49999 widened to any: a security group rule has no source port
# pexip-teams-connector.instance-to-cn.media: source ports 50000-54999 widened to any: a security group rule has no source port
# pexip-teams-connector.instance-to-teams.media: source ports 55000-59999 widened to any: a security group rule has no source port
#
# Authorizes the rendered rules in existing security groups. Give each group's
# id in the variable named below; --group-id on the command line takes
# precedence over the sg-REPLACE_ME placeholder in the JSON files.
# Every group first loses AWS's default allow-all egress rule, so that only
# the rendered flows leave it (none, for a group without egress flows).
set -euo pipefail

# Security group of role teams-connector-lb of pexip-teams-connector
sg="${SG_PEXIP_TEAMS_CONNECTOR_TEAMS_CONNECTOR_LB:?set SG_PEXIP_TEAMS_CONNECTOR_TEAMS_CONNECTOR_LB to the id of the security group of role teams-connector-lb of pexip-teams-connector}"
aws ec2 revoke-security-group-egress --group-id "$sg" --ip-permissions '[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]' >/dev/null 2>&1 || true
aws ec2 revoke-security-group-egress --group-id "$sg" --ip-permissions '[{"IpProtocol":"-1","Ipv6Ranges":[{"CidrIpv6":"::/0"}]}]' >/dev/null 2>&1 || true
aws ec2 authorize-security-group-ingress --group-id "$sg" --cli-input-json file://pexip-teams-connector.teams-connector-lb.ingress.json

# Security group of role conferencing-nodes of pexip-teams-connector
sg="${SG_PEXIP_TEAMS_CONNECTOR_CONFERENCING_NODES:?set SG_PEXIP_TEAMS_CONNECTOR_CONFERENCING_NODES to the id of the security group of role conferencing-nodes of pexip-teams-connector}"
aws ec2 revoke-security-group-egress --group-id "$sg" --ip-permissions '[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]' >/dev/null 2>&1 || true
aws ec2 revoke-security-group-egress --group-id "$sg" --ip-permissions '[{"IpProtocol":"-1","Ipv6Ranges":[{"CidrIpv6":"::/0"}]}]' >/dev/null 2>&1 || true
aws ec2 authorize-security-group-ingress --group-id "$sg" --cli-input-json file://pexip-teams-connector.conferencing-nodes.ingress.json
aws ec2 authorize-security-group-egress --group-id "$sg" --cli-input-json file://pexip-teams-connector.conferencing-nodes.egress.json

# Security group of role teams-connector-instances of pexip-teams-connector
sg="${SG_PEXIP_TEAMS_CONNECTOR_TEAMS_CONNECTOR_INSTANCES:?set SG_PEXIP_TEAMS_CONNECTOR_TEAMS_CONNECTOR_INSTANCES to the id of the security group of role teams-connector-instances of pexip-teams-connector}"
aws ec2 revoke-security-group-egress --group-id "$sg" --ip-permissions '[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]' >/dev/null 2>&1 || true
aws ec2 revoke-security-group-egress --group-id "$sg" --ip-permissions '[{"IpProtocol":"-1","Ipv6Ranges":[{"CidrIpv6":"::/0"}]}]' >/dev/null 2>&1 || true
aws ec2 authorize-security-group-ingress --group-id "$sg" --cli-input-json file://pexip-teams-connector.teams-connector-instances.ingress.json
aws ec2 authorize-security-group-egress --group-id "$sg" --cli-input-json file://pexip-teams-connector.teams-connector-instances.egress.json

# Security group of role management of pexip-teams-connector
sg="${SG_PEXIP_TEAMS_CONNECTOR_MANAGEMENT:?set SG_PEXIP_TEAMS_CONNECTOR_MANAGEMENT to the id of the security group of role management of pexip-teams-connector}"
aws ec2 revoke-security-group-egress --group-id "$sg" --ip-permissions '[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]' >/dev/null 2>&1 || true
aws ec2 revoke-security-group-egress --group-id "$sg" --ip-permissions '[{"IpProtocol":"-1","Ipv6Ranges":[{"CidrIpv6":"::/0"}]}]' >/dev/null 2>&1 || true
aws ec2 authorize-security-group-egress --group-id "$sg" --cli-input-json file://pexip-teams-connector.management.egress.json
