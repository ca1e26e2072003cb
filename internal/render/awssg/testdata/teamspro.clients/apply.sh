#!/usr/bin/env bash
# teamsgate aws-sg configuration: cloud worldwide, catalog 2026.11.1
# integrations: teamspro-saas
# scope: host/subnet firewall of role clients
#
# Authorizes the rendered rules in existing security groups. Give each group's
# id in the variable named below; --group-id on the command line takes
# precedence over the sg-REPLACE_ME placeholder in the JSON files.
# Every group first loses AWS's default allow-all egress rule, so that only
# the rendered flows leave it (none, for a group without egress flows).
set -euo pipefail

# Security group of role clients
sg="${SG_ID:?set SG_ID to the id of the security group of role clients}"
aws ec2 revoke-security-group-egress --group-id "$sg" --ip-permissions '[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]' >/dev/null 2>&1 || true
aws ec2 revoke-security-group-egress --group-id "$sg" --ip-permissions '[{"IpProtocol":"-1","Ipv6Ranges":[{"CidrIpv6":"::/0"}]}]' >/dev/null 2>&1 || true
aws ec2 authorize-security-group-egress --group-id "$sg" --cli-input-json file://egress.json
