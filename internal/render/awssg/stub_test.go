package awssg_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/teamsgate/teamsgate/internal/render/clistub"
	"github.com/teamsgate/teamsgate/internal/render/clistub/aws"
)

// The stand-in for the AWS CLI is testdata/awsstub, which clistub builds
// once per test binary as "aws" into a directory the scripts find first on
// PATH. Its state file holds clistub/aws's State.

func TestMain(m *testing.M) { clistub.Main(m) }

// stubPath returns a PATH whose first directory holds the stub as "aws".
func stubPath(t *testing.T) string {
	t.Helper()
	return clistub.Path(t, "aws", "./testdata/awsstub")
}

// defaultEgress is the egress of a new security group in a VPC with an
// IPv6 block: allow all to 0.0.0.0/0 and to ::/0 (Amazon VPC User Guide,
// "Default security groups for your VPCs").
var defaultEgress = []aws.Rule{
	{Proto: "-1", From: -1, To: -1, CIDR: "0.0.0.0/0"},
	{Proto: "-1", From: -1, To: -1, CIDR: "::/0"},
}

// rulesOf flattens the permissions of a rendered file into rules, as EC2
// stores them.
func rulesOf(perms []types.IpPermission) []aws.Rule {
	var out []aws.Rule
	for _, p := range perms {
		r := aws.Rule{Proto: strings.ToLower(*p.IpProtocol), From: -1, To: -1}
		if r.Proto != "-1" && p.FromPort != nil && p.ToPort != nil {
			r.From, r.To = int(*p.FromPort), int(*p.ToPort)
		}
		for _, ip := range p.IpRanges {
			r.CIDR = *ip.CidrIp
			out = append(out, r)
		}
		for _, ip := range p.Ipv6Ranges {
			r.CIDR = *ip.CidrIpv6
			out = append(out, r)
		}
	}
	return out
}
