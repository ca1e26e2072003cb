package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/model"
)

// Version is the release version, set at build time with
// -ldflags "-X github.com/teamsgate/teamsgate/internal/cli.Version=v1.2.3".
// Without it, the module version the Go toolchain recorded is used
// ("(devel)" for a build from a checkout).
var Version = ""

// buildInfo is what the binary knows of its own build.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	BuildTime string `json:"commit_time,omitempty"`
	Go        string `json:"go"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: Version, Go: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if b.Version == "" {
			b.Version = "unknown"
		}
		return b
	}
	if b.Version == "" {
		b.Version = info.Main.Version
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		case "vcs.time":
			b.BuildTime = s.Value
		}
	}
	return b
}

// versionLine is the one line --version prints.
func versionLine() string {
	b := readBuildInfo()
	s := "teamsgate " + b.Version
	if b.Commit != "" {
		s += " (commit " + shortCommit(b.Commit)
		if b.Modified {
			s += ", modified"
		}
		s += ")"
	}
	if cat, ds := catalog.Embedded(); !ds.HasErrors() {
		s += ", catalog " + cat.Version
		if d := oldestData(cat); !d.IsZero() {
			s += ", Microsoft 365 data of " + d.Format(time.DateOnly)
		}
	}
	return s
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// oldestData is the date of the oldest Microsoft 365 endpoint data the
// catalog holds: how stale its knowledge of Microsoft's ranges may be.
func oldestData(cat *catalog.Catalog) time.Time {
	var oldest time.Time
	for _, d := range cat.M365 {
		if !d.Date.IsZero() && (oldest.IsZero() || d.Date.Before(oldest)) {
			oldest = d.Date
		}
	}
	return oldest
}

type m365Version struct {
	Cloud    string `json:"cloud"`
	Instance string `json:"instance"`
	Version  string `json:"version,omitempty"`
	Date     string `json:"date,omitempty"`
}

type versionJSON struct {
	buildInfo
	Catalog string        `json:"catalog"`
	M365    []m365Version `json:"m365"`
}

func newVersionCmd(e *env) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "version",
		Short: "Show the version, commit, catalog version and the date of the Microsoft data",
		Long: `version prints the binary's version and commit, the Go toolchain, the
catalog's version and, per cloud, the version and date of the Microsoft 365
endpoint data the catalog embeds. Microsoft changes its ranges over time:
data older than a few months may be stale.`,
		Example: `  teamsgate version
  teamsgate --version
  teamsgate version -o json`,
		Args: cobra.NoArgs,
	}
	catDir := catalogFlag(c)
	c.Flags().StringVarP(&format, "output", "o", "text", "output format: text or json")
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := checkFormat(format, "text", "json"); err != nil {
			return err
		}
		cat, err := loadCatalog(*catDir)
		if err != nil {
			return err
		}
		b := readBuildInfo()
		var ms []m365Version
		for cloud, d := range cat.M365 {
			m := m365Version{Cloud: string(cloud), Instance: d.Instance, Version: d.Version}
			if !d.Date.IsZero() {
				m.Date = d.Date.Format(time.DateOnly)
			}
			ms = append(ms, m)
		}
		sort.Slice(ms, func(i, j int) bool { return cloudOrder(ms[i].Cloud) < cloudOrder(ms[j].Cloud) })
		if format == "json" {
			out, _ := json.MarshalIndent(versionJSON{buildInfo: b, Catalog: cat.Version, M365: ms}, "", "  ")
			_, err := fmt.Fprintln(e.stdout, string(out))
			return err
		}
		w := e.stdout
		fmt.Fprintf(w, "teamsgate %s\n", b.Version)
		if b.Commit != "" {
			mod := ""
			if b.Modified {
				mod = " (with uncommitted changes)"
			}
			fmt.Fprintf(w, "  commit    %s%s", b.Commit, mod)
			if b.BuildTime != "" {
				fmt.Fprintf(w, ", %s", b.BuildTime)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  go        %s\n", b.Go)
		fmt.Fprintf(w, "  catalog   %s\n", cat.Version)
		for _, m := range ms {
			var parts []string
			if m.Version != "" {
				parts = append(parts, "version "+m.Version)
			}
			if m.Date != "" {
				parts = append(parts, "of "+m.Date+age(e.now(), m.Date))
			} else {
				parts = append(parts, "date unknown")
			}
			fmt.Fprintf(w, "  m365      %-9s %-13s %s\n", m.Cloud, m.Instance, strings.Join(parts, ", "))
		}
		return nil
	}
	return c
}

// age says how old a YYYY-MM-DD date is, in days, for people.
func age(now time.Time, date string) string {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return ""
	}
	days := int(now.Sub(d).Hours() / 24)
	if days < 0 {
		return ""
	}
	return fmt.Sprintf(" (%d days old)", days)
}

func cloudOrder(c string) int {
	for i, k := range []model.Cloud{model.CloudWorldwide, model.CloudGCC, model.CloudGCCHigh, model.CloudDoD} {
		if string(k) == c {
			return i
		}
	}
	return 99
}
