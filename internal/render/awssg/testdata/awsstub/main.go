// Command awsstub stands in for the AWS CLI in the tests that run apply.sh:
// the tests build it as "aws" into a directory first on PATH. It keeps the
// security groups in the JSON file named by AWSSTUB_STATE and answers as
// the AWS CLI v2 does for the three commands apply.sh uses:
//
//   - --cli-input-json file://PATH reads PATH relative to the stub's working
//     directory, as the CLI does (AWS CLI User Guide, "Loading AWS CLI
//     parameters from a file"), and fails with the CLI's message and exit
//     status 252 when the file is not there;
//   - --group-id takes precedence over the JSON's GroupId;
//   - authorize-security-group-ingress/-egress are all or nothing: a rule
//     already in the group (or twice in the request) is
//     InvalidPermission.Duplicate, and more than 60 rules of a family in a
//     direction is RulesPerSecurityGroupLimitExceeded;
//   - revoke-security-group-egress of a rule that is not there is
//     InvalidPermission.NotFound (the older EC2 API), or with
//     AWSSTUB_REVOKE=unknown a success that lists it in UnknownIpPermissions
//     (the newer one);
//   - AWSSTUB_FAIL=K makes the K-th call fail without changing anything,
//     with exit status AWSSTUB_FAIL_STATUS (254, a service error, by default;
//     255 is a connection error).
//
// Service errors print "An error occurred (CODE) when calling the OPERATION
// operation: MESSAGE" and exit 254, as the CLI v2 does ("Understanding
// return codes from the AWS CLI").
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/teamsgate/teamsgate/internal/render/clistub/aws"
	"github.com/teamsgate/teamsgate/internal/render/clistub/statefile"
)

func main() {
	os.Exit(awsStub(os.Args[1:], os.Stdout, os.Stderr))
}

// The JSON of an IpPermission, as --cli-input-json and --ip-permissions
// take it.
type ipPerm struct {
	IpProtocol string
	FromPort   *int
	ToPort     *int
	IpRanges   []struct {
		CidrIp      string
		Description string
	}
	Ipv6Ranges []struct {
		CidrIpv6    string
		Description string
	}
}

type cliInput struct {
	GroupId       string
	IpPermissions []ipPerm
}

// stubError is an answer of the stub other than success.
type stubError struct {
	status int
	msg    string
}

func (e *stubError) Error() string { return e.msg }

func serviceError(op, code, msg string) *stubError {
	return &stubError{254, fmt.Sprintf("\nAn error occurred (%s) when calling the %s operation: %s\n", code, op, msg)}
}

func paramError(format string, a ...any) *stubError {
	return &stubError{252, "\n" + fmt.Sprintf(format, a...) + "\n"}
}

func awsStub(args []string, stdout, stderr io.Writer) int {
	var st aws.State
	var out []byte
	var serr *stubError
	if err := statefile.Update(os.Getenv(aws.EnvState), &st, args, func(n int) { out, serr = run(&st, args, n) }); err != nil {
		fmt.Fprintf(stderr, "aws stub: %v\n", err)
		return 255
	}
	if serr != nil {
		fmt.Fprint(stderr, serr.msg)
		return serr.status
	}
	stdout.Write(out)
	return 0
}

var operations = map[string]string{
	"authorize-security-group-ingress": "AuthorizeSecurityGroupIngress",
	"authorize-security-group-egress":  "AuthorizeSecurityGroupEgress",
	"revoke-security-group-egress":     "RevokeSecurityGroupEgress",
}

// run carries out one call, the n-th, on the state.
func run(st *aws.State, args []string, n int) ([]byte, *stubError) {
	if len(args) < 2 || args[0] != "ec2" || operations[args[1]] == "" {
		return nil, &stubError{252, fmt.Sprintf("\naws: [ERROR]: argument operation: Found invalid choice '%s'\n", strings.Join(args, " "))}
	}
	op := operations[args[1]]
	flags := map[string]string{}
	for i := 2; i < len(args); i += 2 {
		if !strings.HasPrefix(args[i], "--") || i+1 == len(args) {
			return nil, &stubError{252, fmt.Sprintf("\naws: [ERROR]: Unknown options: %s\n", args[i])}
		}
		flags[args[i]] = args[i+1]
	}
	var in cliInput
	for name, v := range flags {
		switch name {
		case "--group-id", "--output":
		case "--cli-input-json", "--ip-permissions":
			b, serr := paramFile(name, v)
			if serr != nil {
				return nil, serr
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if name == "--ip-permissions" {
				if err := dec.Decode(&in.IpPermissions); err != nil {
					return nil, paramError("Error parsing parameter '%s': Invalid JSON: %v", name, err)
				}
			} else if err := dec.Decode(&in); err != nil {
				return nil, paramError("Parameter validation failed:\n%v", err)
			}
		default:
			return nil, &stubError{252, fmt.Sprintf("\naws: [ERROR]: Unknown options: %s, %s\n", name, v)}
		}
	}
	if id, ok := flags["--group-id"]; ok {
		in.GroupId = id
	}
	if k, _ := strconv.Atoi(os.Getenv(aws.EnvFail)); k == n {
		if os.Getenv(aws.EnvFailStatus) == "255" {
			return nil, &stubError{255, "\nCould not connect to the endpoint URL: \"https://ec2.eu-west-1.amazonaws.com/\"\n"}
		}
		return nil, serviceError(op, "UnauthorizedOperation", "You are not authorized to perform this operation.")
	}
	if !strings.HasPrefix(in.GroupId, "sg-") || in.GroupId == "sg-REPLACE_ME" {
		return nil, serviceError(op, "InvalidGroupId.Malformed", fmt.Sprintf("Invalid id: %q (expecting \"sg-...\")", in.GroupId))
	}
	g := st.Groups[in.GroupId]
	if g == nil {
		return nil, serviceError(op, "InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", in.GroupId))
	}
	rules, serr := expand(op, in.IpPermissions)
	if serr != nil {
		return nil, serr
	}
	list := &g.Egress
	if args[1] == "authorize-security-group-ingress" {
		list = &g.Ingress
	}
	if strings.HasPrefix(args[1], "authorize-") {
		seen := map[string]bool{}
		for _, r := range *list {
			seen[r.Key()] = true
		}
		count := map[int]int{}
		for _, r := range *list {
			count[r.Family()]++
		}
		for _, r := range rules {
			if seen[r.Key()] {
				return nil, serviceError(op, "InvalidPermission.Duplicate", fmt.Sprintf("the specified rule \"peer: %s, %s, from port: %d, to port: %d, ALLOW\" already exists", r.CIDR, strings.ToUpper(r.Proto), r.From, r.To))
			}
			seen[r.Key()] = true
			if count[r.Family()]++; count[r.Family()] > 60 {
				return nil, serviceError(op, "RulesPerSecurityGroupLimitExceeded", "The maximum number of rules per security group has been reached.")
			}
		}
		*list = append(*list, rules...)
		return []byte("{\n    \"Return\": true\n}\n"), nil
	}
	var unknown []aws.Rule
	var keep []aws.Rule
	del := map[string]bool{}
	for _, r := range rules {
		if !slices.ContainsFunc(*list, func(e aws.Rule) bool { return e.Key() == r.Key() }) {
			unknown = append(unknown, r)
		}
		del[r.Key()] = true
	}
	if len(unknown) > 0 && os.Getenv(aws.EnvRevoke) != "unknown" {
		return nil, serviceError(op, "InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
	}
	for _, r := range *list {
		if !del[r.Key()] {
			keep = append(keep, r)
		}
	}
	*list = keep
	out := "{\n    \"Return\": true"
	if len(unknown) > 0 {
		b, _ := json.Marshal(unknown)
		out += ",\n    \"UnknownIpPermissions\": " + string(b)
	}
	return []byte(out + "\n}\n"), nil
}

// paramFile loads a parameter value as the AWS CLI does: file://PATH is the
// content of PATH, relative to the working directory, with ~ expanded.
func paramFile(name, v string) ([]byte, *stubError) {
	p, ok := strings.CutPrefix(v, "file://")
	if !ok {
		return []byte(v), nil
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, rest)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, os.ErrNotExist) {
			msg = fmt.Sprintf("[Errno 2] No such file or directory: '%s'", p)
		}
		return nil, paramError("Error parsing parameter '%s': Unable to load paramfile %s: %s", name, v, msg)
	}
	return b, nil
}

// expand turns IpPermissions into rules, checking them as EC2 does.
func expand(op string, perms []ipPerm) ([]aws.Rule, *stubError) {
	var out []aws.Rule
	for _, p := range perms {
		proto := strings.ToLower(p.IpProtocol)
		from, to := -1, -1
		switch proto {
		case "-1":
		case "tcp", "udp":
			if p.FromPort == nil || p.ToPort == nil {
				return nil, serviceError(op, "InvalidParameterValue", "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange.")
			}
			from, to = *p.FromPort, *p.ToPort
			if from < 0 || to > 65535 || from > to {
				return nil, serviceError(op, "InvalidParameterValue", fmt.Sprintf("Invalid port range %d-%d", from, to))
			}
		case "icmp", "icmpv6":
			if p.FromPort != nil {
				from = *p.FromPort
			}
			if p.ToPort != nil {
				to = *p.ToPort
			}
		case "":
			return nil, serviceError(op, "MissingParameter", "The request must contain the parameter ipProtocol")
		default:
			if _, err := strconv.Atoi(proto); err != nil {
				return nil, serviceError(op, "InvalidParameterValue", fmt.Sprintf("Invalid value '%s' for IP protocol.", p.IpProtocol))
			}
		}
		add := func(cidr, desc string, v6 bool) *stubError {
			pr, err := netip.ParsePrefix(cidr)
			if err != nil || pr.Addr().Is6() != v6 {
				return serviceError(op, "InvalidParameterValue", fmt.Sprintf("CIDR block %s is malformed", cidr))
			}
			out = append(out, aws.Rule{Proto: proto, From: from, To: to, CIDR: pr.Masked().String(), Desc: desc})
			return nil
		}
		for _, r := range p.IpRanges {
			if err := add(r.CidrIp, r.Description, false); err != nil {
				return nil, err
			}
		}
		for _, r := range p.Ipv6Ranges {
			if err := add(r.CidrIpv6, r.Description, true); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
