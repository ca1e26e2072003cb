package cli

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/capacity"
	"github.com/teamsgate/teamsgate/internal/model"
)

func newCapacityCmd(e *env) *cobra.Command {
	var (
		req    capacity.Request
		cloud  string
		format string
	)
	c := &cobra.Command{
		Use:   "capacity --calls N",
		Short: "Size a Pexip Teams Connector: instances, vCPU quota, region",
		Long: `capacity sizes a Pexip Teams Connector deployment from the number of
concurrent calls: 16 calls at most per instance, planned at 15; 4 vCPU per
instance of the chosen series; the minimum and a recommended vCPU quota;
blue-green upgrades need both environments in the quota at once. For GCC
High the Teams Connector must be in US Gov Arizona or US Gov Texas; other
regions are refused. --region is checked in every cloud: a region of the
other Azure cloud (public or Government) or a misspelt one is refused.`,
		Example: `  teamsgate capacity --calls 90
  teamsgate capacity --calls 40 --instance-type Standard_D4as_v5 --blue-green -o json
  teamsgate capacity --calls 20 --cloud gcch --region usgovarizona`,
		Args: cobra.NoArgs,
	}
	c.Flags().IntVar(&req.Calls, "calls", 0, "concurrent calls to carry (required)")
	c.Flags().StringVar(&req.InstanceType, "instance-type", capacity.DefaultInstanceType, "Standard_D4s_v5, Standard_D4as_v5 or Standard_F4s")
	c.Flags().BoolVar(&req.BlueGreen, "blue-green", false, "plan for blue-green upgrades (two environments side by side)")
	c.Flags().StringVar(&req.Region, "region", "", "Azure region")
	c.Flags().StringVar(&cloud, "cloud", "worldwide", "worldwide, gcc, gcch or dod")
	c.Flags().StringVarP(&format, "output", "o", "text", "output format: text or json")
	_ = c.MarkFlagRequired("calls")
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	_ = c.RegisterFlagCompletionFunc("cloud", fixedCompletion("worldwide", "gcc", "gcch", "dod"))
	_ = c.RegisterFlagCompletionFunc("instance-type", fixedCompletion(instanceTypes()...))
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := checkFormat(format, "text", "json"); err != nil {
			return err
		}
		cl, err := model.ParseCloud(cloud)
		if err != nil {
			return inputError(err)
		}
		req.Cloud = cl
		res, err := capacity.Plan(req)
		if err != nil {
			return inputError(err)
		}
		if format == "json" {
			b, _ := json.MarshalIndent(res, "", "  ")
			_, err := fmt.Fprintln(e.stdout, string(b))
			return err
		}
		w := e.stdout
		fmt.Fprintf(w, "Teams Connector capacity for %d concurrent calls (%s, %s)\n\n", res.Calls, res.InstanceType, res.Series)
		fmt.Fprintf(w, "  instances            %d (up to %d calls)\n", res.Instances, res.MaxCalls)
		fmt.Fprintf(w, "  vCPU in use          %d\n", res.VCPUs)
		fmt.Fprintf(w, "  quota, minimum       %d vCPU of %s\n", res.QuotaMinimum, res.Series)
		fmt.Fprintf(w, "  quota, recommended   %d vCPU\n", res.QuotaRecommended)
		if res.Region != "" {
			fmt.Fprintf(w, "  region               %s (%s)\n", res.Region, res.Cloud)
		}
		fmt.Fprintln(w)
		for _, n := range res.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
		return nil
	}
	return c
}

func instanceTypes() []string {
	names := make([]string, 0, len(capacity.InstanceTypes))
	for n := range capacity.InstanceTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
