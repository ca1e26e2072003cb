#!/usr/bin/env bash
# teamsgate aws-sg configuration: cloud worldwide, catalog 2026.11.1
# integrations: pexip-teams-connector, teams-calling-bot, teams-messaging-bot, teamspro-saas
# scope: host/subnet firewall of role teams-messaging-bot/bot
# plan warning: pexip-teams-connector: role "event-hub" not bound: Azure Event Hubs namespaces are <name>.servicebus.windows.net; bind event-hub to your namespace to narrow the rule
# plan warning: pexip-teams-connector.instance-to-cn.signaling: to be confirmed: the destination port cell is lost in the source text; 4277 is certain from the row's note, 443 is the likely companion (docs/reference/endpoints.md §6)
# plan warning: pexip-teams-connector: role "ocsp-responder" not bound: TCP 80 is allowed to any address; bind ocsp-responder to the OCSP hosts named in your certificates' AIA to narrow it
# plan warning: pexip-teams-connector: role "windows-update" not bound: TCP 80/443 is allowed to any address; bind windows-update to your update servers (or use an FQDN-aware target) to narrow it
# plan warning: pexip-teams-connector.teams-to-lb.signaling: to be confirmed: the destination port cell is lost in the source text (five blank lines); 10101, 11000-11399 and 12000-12399 fit the NSG's internal ports and per-instance NAT ranges (docs/reference/endpoints.md §6); confirm against a deployed Teams Connector NSG
#
# Authorizes the rendered rules in existing security groups. Give each group's
# id in the variable named below; --group-id on the command line takes
# precedence over the sg-REPLACE_ME placeholder in the JSON files.
# Every group first loses AWS's default allow-all egress rule, so that only
# the rendered flows leave it (none, for a group without egress flows).
set -euo pipefail

# Security group of role teams-messaging-bot/bot
sg="${SG_ID:?set SG_ID to the id of the security group of role teams-messaging-bot/bot}"
aws ec2 revoke-security-group-egress --group-id "$sg" --ip-permissions '[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]' >/dev/null 2>&1 || true
aws ec2 revoke-security-group-egress --group-id "$sg" --ip-permissions '[{"IpProtocol":"-1","Ipv6Ranges":[{"CidrIpv6":"::/0"}]}]' >/dev/null 2>&1 || true
aws ec2 authorize-security-group-ingress --group-id "$sg" --cli-input-json file://ingress.json
aws ec2 authorize-security-group-egress --group-id "$sg" --cli-input-json file://egress.json
