#!/usr/bin/env bash
# teamsgate aws-sg configuration: cloud worldwide, catalog 2026.12.1
# integrations: pexip-teams-connector
# scope: host/subnet firewall of role teams-connector-instances
# plan warning: pexip-teams-connector.instance-to-cn.signaling: to be confirmed: the destination port cell is lost in the source text; 4277 is certain from the row's note, 443 is the likely companion (docs/reference/endpoints.md §6)
# plan warning: pexip-teams-connector.teams-to-lb.signaling: to be confirmed: the destination port cell is lost in the source text (five blank lines); 10101, 11000-11399 and 12000-12399 fit the NSG's internal ports and per-instance NAT ranges (docs/reference/endpoints.md §6); confirm against a deployed Teams Connector NSG
# pexip-teams-connector.cn-to-instance.signaling: source ports 33000-39999 widened to any: a security group rule has no source port
# pexip-teams-connector.cn-to-instance.media: source ports 40000-49999 widened to any: a security group rule has no source port
# pexip-teams-connector.instance-to-cn.media: source ports 50000-54999 widened to any: a security group rule has no source port
# pexip-teams-connector.instance-to-teams.media: source ports 55000-59999 widened to any: a security group rule has no source port
#
# Authorizes the rendered rules in existing security groups. Give each group's
# id in the variable named below; --group-id on the command line takes
# precedence over the sg-REPLACE_ME placeholder in the JSON files. The JSON
# files are read next to this script: run it from any directory.
#
# Order: first every group's ingress and egress rules are authorized; only
# then does each group lose AWS's default allow-all egress rule (-1 to
# 0.0.0.0/0 and ::/0), so that only the rendered flows leave it (none, for a
# group without egress flows). The script stops at the first error: if an
# authorization fails, no default egress rule has been revoked. A default rule
# that is not there is fine (InvalidPermission.NotFound, or UnknownIpPermissions
# in a successful answer); any other failure to revoke stops the script.
# A second run stops at its first authorization with InvalidPermission.Duplicate,
# before revoking anything.
set -euo pipefail

here="$(CDPATH= cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
step="authorizing the rendered rules; no default egress rule has been revoked"
trap 'echo "apply.sh: stopped: a command failed while $step" >&2' ERR

# revoke_default_egress removes AWS's default egress rule, -1 to 0.0.0.0/0 and
# to ::/0, from the group $1 (of $2). A rule that is not there is fine: the
# older EC2 API answers InvalidPermission.NotFound, the newer one succeeds and
# lists it in UnknownIpPermissions. Any other failure stops the script.
revoke_default_egress() {
  local perm err
  for perm in '[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]' '[{"IpProtocol":"-1","Ipv6Ranges":[{"CidrIpv6":"::/0"}]}]'; do
    if ! err="$(aws ec2 revoke-security-group-egress --group-id "$1" --ip-permissions "$perm" 2>&1 >/dev/null)"; then
      if [[ $err == *"(InvalidPermission.NotFound)"* ]]; then
        continue
      fi
      printf '%s\n' "$err" >&2
      echo "apply.sh: stopped: revoking the default egress rule $perm of the security group of $2 ($1) failed; its rendered rules are in" >&2
      exit 1
    fi
  done
}

# The security groups: every id is checked before anything changes.
: "${SG_ID:?set SG_ID to the id of the security group of role teams-connector-instances}"
for f in ingress.json egress.json; do
  [[ -r "$here/$f" ]] || { echo "apply.sh: $here/$f is missing: keep the files teamsgate rendered together" >&2; exit 1; }
done

# 1. Authorize every group's rules.

# Security group of role teams-connector-instances
aws ec2 authorize-security-group-ingress --group-id "$SG_ID" --cli-input-json "file://$here/ingress.json"
aws ec2 authorize-security-group-egress --group-id "$SG_ID" --cli-input-json "file://$here/egress.json"

# 2. Every group's rules are in: revoke the default egress rules.
step="revoking the default egress rules; every group's rendered rules are in"
revoke_default_egress "$SG_ID" 'role teams-connector-instances'
