package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/catalogdir"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/m365"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/servicetag"
)

// catalogEnv names the environment variable that gives --catalog (and
// catalog update's --dir) a default: the directory catalog update keeps.
const catalogEnv = "TEAMSGATE_CATALOG"

// staleAfter is the age past which the data in use draws a warning: 000
// asks its customers to "check back quarterly".
const staleAfter = 90 * 24 * time.Hour

// m365Slot is where one Microsoft 365 instance's data goes in a catalog
// directory, and the catalog clouds it serves.
type m365Slot struct {
	instance string
	clouds   []string
	file     string
}

func slotFor(name string) (m365Slot, error) {
	instance, err := m365.Instance(name)
	if err != nil {
		return m365Slot{}, fmt.Errorf("--instance %q: want worldwide, gcch or dod", name)
	}
	switch instance {
	case "USGovGCCHigh":
		return m365Slot{instance: instance, clouds: []string{"gcch"}, file: "gcch.json"}, nil
	case "USGovDoD":
		return m365Slot{instance: instance, clouds: []string{"dod"}, file: "dod.json"}, nil
	}
	// GCC (moderate) uses the Worldwide data.
	return m365Slot{instance: instance, clouds: []string{"worldwide", "gcc"}, file: "worldwide.json"}, nil
}

type updateArgs struct {
	dir         string
	instance    string
	from        string
	dataVersion string
	serviceTags string
	date        string
	url         string
}

func newCatalogUpdateCmd(e *env) *cobra.Command {
	var a updateArgs
	c := &cobra.Command{
		Use:   "update [--dir DIR] [--instance worldwide|gcch|dod] [--from FILE] [--service-tags FILE]",
		Short: "Bring current Microsoft 365 endpoint data and Azure service tags into a catalog directory",
		Long: `update keeps a catalog directory (an overlay: docs/catalog.md) current with
Microsoft's published data, so that plan, render, audit and serve use it
(--catalog DIR, or TEAMSGATE_CATALOG=DIR).

Online (no --from, no --service-tags) it asks the Microsoft 365 IP Address
and URL web service for the instance's version, and downloads the endpoint
data only when the version differs from the one in use. It sends the
directory's own ClientRequestId (a GUID made once and kept in
DIR/client-request-id), honours HTTPS_PROXY, and gives up after bounded
timeouts; an HTTP 429 is reported with the time to try again, never
retried.

Offline, --from FILE imports an endpoints response downloaded by hand
(--data-version gives its version when known), and --service-tags FILE an
Azure "IP Ranges and Service Tags" file (Public or AzureGovernment; plain or
gzip); both may be given in one run.

Nothing is half-written: every file is checked, the new directory is
staged beside DIR, loaded as a catalog, and exchanged with DIR in one
rename. The replaced directory is kept as DIR.previous, the baseline for
catalog diff, plan --since and render --since. A run that would change
nothing writes nothing and says so.`,
		Example: `  teamsgate catalog update --dir tg-catalog --from testdata/data/m365/worldwide-2020-12.json
  teamsgate catalog update --dir tg-catalog --service-tags testdata/data/ServiceTags_Public.changeNumber398.json.gz`,
		Args: cobra.NoArgs,
		Annotations: map[string]string{
			annotUnavailable: "the web service could not be reached, answered wrongly, or asked to wait (HTTP 429); nothing was written",
		},
	}
	f := c.Flags()
	f.StringVar(&a.dir, "dir", os.Getenv(catalogEnv), "the catalog directory to keep current (default $"+catalogEnv+")")
	f.StringVar(&a.instance, "instance", "worldwide", "Microsoft 365 instance: worldwide (also serves gcc), gcch or dod")
	f.StringVar(&a.from, "from", "", "import this endpoints response (JSON) instead of asking the web service")
	f.StringVar(&a.dataVersion, "data-version", "", "with --from: the data's version, YYYYMMDDNN, when known")
	f.StringVar(&a.serviceTags, "service-tags", "", "import this Azure service tags file (ServiceTags_*.json, plain or gzip)")
	f.StringVar(&a.date, "date", "", "the day of the imported files' data, YYYY-MM-DD (default: the version's day, the date in Microsoft's file name, or the file's modification day)")
	f.StringVar(&a.url, "url", m365.DefaultBaseURL, "the web service's base URL")
	_ = c.MarkFlagDirname("dir")
	_ = c.MarkFlagFilename("from", "json")
	_ = c.MarkFlagFilename("service-tags", "json", "gz")
	_ = c.RegisterFlagCompletionFunc("instance", fixedCompletion("worldwide", "gcch", "dod"))
	c.RunE = func(c *cobra.Command, args []string) error { return runUpdate(c, e, a) }
	return c
}

func runUpdate(c *cobra.Command, e *env, a updateArgs) error {
	if a.dir == "" {
		return inputError(fmt.Errorf("no catalog directory: give --dir DIR or set %s", catalogEnv))
	}
	if st, err := os.Stat(a.dir); err == nil && !st.IsDir() {
		return inputError(fmt.Errorf("--dir %q is a file, not a directory", a.dir))
	}
	if a.dataVersion != "" && a.from == "" {
		return inputError(errors.New("--data-version goes with --from"))
	}
	online := a.from == "" && a.serviceTags == ""
	var date time.Time
	if a.date != "" {
		if online {
			return inputError(errors.New("--date is for --from and --service-tags: the web service dates its data itself"))
		}
		var err error
		if date, err = time.Parse(time.DateOnly, a.date); err != nil {
			return inputError(fmt.Errorf("--date %q: want YYYY-MM-DD", a.date))
		}
		if date.After(e.now()) {
			return inputError(fmt.Errorf("--date %s is in the future", a.date))
		}
	}
	if !online && c.Flags().Changed("url") {
		return inputError(errors.New("--url is for the web service; --from and --service-tags read files"))
	}
	slot, err := slotFor(a.instance)
	if err != nil {
		return inputError(err)
	}
	if c.Flags().Changed("instance") && a.from == "" && !online {
		return inputError(errors.New("--instance names the Microsoft 365 data of --from or of the web service; a service tags file says its own cloud"))
	}
	current, err := currentCatalog(a.dir)
	if err != nil {
		return err
	}
	var u catalogdir.Update
	var changes func()
	switch {
	case online:
		m, done, ch, err := e.download(c.Context(), a, slot, current)
		if err != nil || done {
			return err
		}
		changes = ch
		u.M365 = append(u.M365, m)
	default:
		if a.from != "" {
			m, err := importM365(a, slot)
			if err != nil {
				return err
			}
			if !date.IsZero() {
				m.Date = date
			}
			u.M365 = append(u.M365, m)
		}
		if a.serviceTags != "" {
			t, err := importTags(a.serviceTags)
			if err != nil {
				return err
			}
			if !date.IsZero() {
				t.Date = date
			}
			u.Tags = append(u.Tags, t)
		}
	}
	var res catalogdir.Result
	err = e.gate.commit(func() error {
		var err error
		res, err = catalogdir.Apply(a.dir, u, verifyStaged(a.dir, u))
		return err
	})
	if err != nil {
		return inputError(err)
	}
	if !res.Changed {
		fmt.Fprintf(e.stdout, "%s already holds this data: nothing written\n", a.dir)
		return nil
	}
	updated, err := loadCatalog(a.dir)
	if err != nil {
		return err
	}
	for _, m := range u.M365 {
		cloud, _ := model.ParseCloud(m.Clouds[0])
		old, neu := current.M365[cloud], updated.M365[cloud]
		fmt.Fprintf(e.stdout, "%s: Microsoft 365 %s data %s written\n", a.dir, m.Instance, dataLabel(neu.Version, neu.Date))
		printSetChanges(e, m365.Diff(old.Sets, neu.Sets, "Skype"), "  ", "the data in use before, "+dataLabel(old.Version, old.Date))
	}
	if changes != nil {
		changes()
	}
	for _, t := range u.Tags {
		fmt.Fprintf(e.stdout, "%s: Azure service tags %s, change number %d, written\n", a.dir, t.Cloud, t.ChangeNumber)
		if old := current.ServiceTags[t.Cloud]; old != nil {
			od, _ := old.Data()
			nd, _ := updated.ServiceTags[t.Cloud].Data()
			printTagChanges(e, servicetag.Diff(od, nd), "  ", fmt.Sprintf("change number %d, the file in use before", old.ChangeNumber))
		}
	}
	if res.Previous != "" {
		fmt.Fprintf(e.stdout, "The replaced catalog is %s: compare with catalog diff %s %s, or see the rule changes with plan SPEC --catalog %s --since %s\n",
			res.Previous, res.Previous, a.dir, a.dir, res.Previous)
	}
	return nil
}

// currentCatalog is the catalog in use before the update: dir laid over
// the embedded one when dir holds a catalog, else the embedded one.
func currentCatalog(dir string) (*catalog.Catalog, error) {
	if _, err := os.Stat(filepath.Join(dir, catalogdir.CatalogFile)); err != nil {
		return loadCatalog("")
	}
	cat, err := loadCatalog(dir)
	if err != nil {
		return nil, inputError(fmt.Errorf("the catalog directory in use is not valid; fix or remove it first: %w", errors.Unwrap(err)))
	}
	return cat, nil
}

// verifyStaged loads a staged directory as a catalog, service tags
// included, before it may replace dir.
func verifyStaged(dir string, u catalogdir.Update) catalogdir.Verify {
	return func(staged string) error {
		cat, ds := catalog.WithOverlay(os.DirFS(staged), dir)
		if ds.HasErrors() {
			return fmt.Errorf("the new catalog does not load, so %s is unchanged: %w", dir, ds.Err())
		}
		for _, t := range u.Tags {
			if _, ds := cat.ServiceTags[t.Cloud].Data(); ds.HasErrors() {
				return fmt.Errorf("the new catalog does not load, so %s is unchanged: %w", dir, ds.Err())
			}
		}
		return nil
	}
}

// download asks the web service for the instance's version and, when it
// differs from the data in use, for its endpoints. done is true when the
// data in use is current.
func (e *env) download(ctx context.Context, a updateArgs, slot m365Slot, current *catalog.Catalog) (m catalogdir.M365, done bool, changes func(), err error) {
	id, err := catalogdir.ClientID(a.dir, m365.NewClientRequestID, m365.ValidClientRequestID)
	if err != nil {
		return m, false, nil, inputError(fmt.Errorf("the catalog directory's ClientRequestId: %w", err))
	}
	cl := &m365.Client{BaseURL: a.url, ClientRequestID: id}
	latest, err := cl.Version(ctx, slot.instance)
	if err != nil {
		return m, false, nil, unavailable(err)
	}
	cloud, _ := model.ParseCloud(slot.clouds[0])
	inUse := current.M365[cloud]
	if inUse.Version == latest {
		fmt.Fprintf(e.stdout, "Microsoft 365 %s data is current (version %s): nothing written\n", slot.instance, latest)
		return m, true, nil, nil
	}
	p := e.progress("downloading the " + slot.instance + " endpoints")
	cl.Progress = func(read, total int64) {
		if total > 0 {
			p.update("KiB", int(read>>10), int(total>>10))
		} else {
			p.update(fmt.Sprintf("%d KiB", read>>10), 0, 0)
		}
	}
	data, err := cl.Endpoints(ctx, slot.instance)
	p.done()
	if err != nil {
		return m, false, nil, unavailable(err)
	}
	date, _ := time.Parse("20060102", latest[:8])
	m = catalogdir.M365{Clouds: slot.clouds, Instance: slot.instance, File: slot.file, Version: latest, Date: date,
		Source: strings.TrimSuffix(a.url, "/") + "/endpoints/" + slot.instance, Data: data}
	if err := checkM365(data, strings.TrimSuffix(a.url, "/")+"/endpoints/"+slot.instance); err != nil {
		return m, false, nil, unavailable(err)
	}
	// Once the data is in, Microsoft's own change records since the
	// version in use say when additions take effect (Microsoft publishes
	// them about 30 days ahead). One call, and the update does not depend
	// on it.
	changes = func() {
		if inUse.Version == "" {
			return
		}
		records, err := cl.Changes(ctx, slot.instance, inUse.Version)
		if err != nil {
			fmt.Fprintf(e.stdout, "  Microsoft's change records since %s could not be read: %v\n", inUse.Version, err)
			return
		}
		sets, _ := m365.Parse(data)
		teams := map[int]bool{}
		for _, s := range m365.Area(sets, "Skype") {
			teams[s.ID] = true
		}
		var lines []string
		for _, r := range records {
			if !teams[r.EndpointSetID] {
				continue
			}
			line := fmt.Sprintf("  set %d, version %s: %s %s", r.EndpointSetID, r.Version, r.Disposition, r.Impact)
			if add := append(append([]string{}, r.AddIPs...), r.AddURLs...); len(add) > 0 {
				line += " + " + strings.Join(add, " ")
				if r.AddEffectiveDate != "" {
					line += " (in use from " + r.AddEffectiveDate + ")"
				}
			}
			if rm := append(append([]string{}, r.RemoveIPs...), r.RemoveURLs...); len(rm) > 0 {
				line += " - " + strings.Join(rm, " ")
			}
			lines = append(lines, strings.TrimRight(line, " "))
		}
		fmt.Fprintf(e.stdout, "  Microsoft's change records for the Teams sets since %s: %d\n", inUse.Version, len(lines))
		for _, l := range lines {
			fmt.Fprintln(e.stdout, "  "+l)
		}
	}
	return m, false, changes, nil
}

// versionRE is the web service's version format.
var versionRE = regexp.MustCompile(`^[0-9]{10}$`)

func importM365(a updateArgs, slot m365Slot) (catalogdir.M365, error) {
	st, err := os.Stat(a.from)
	if err != nil {
		return catalogdir.M365{}, inputError(fileError("--from", a.from, err))
	}
	if st.Size() > m365.MaxBytes {
		return catalogdir.M365{}, inputError(fmt.Errorf("--from %q is %d bytes; a Microsoft 365 endpoints response is at most %d MiB", a.from, st.Size(), m365.MaxBytes>>20))
	}
	data, err := os.ReadFile(a.from)
	if err != nil {
		return catalogdir.M365{}, inputError(fileError("--from", a.from, err))
	}
	if err := checkM365(data, a.from); err != nil {
		return catalogdir.M365{}, inputError(err)
	}
	m := catalogdir.M365{Clouds: slot.clouds, Instance: slot.instance, File: slot.file, Source: filepath.Base(a.from), Data: data}
	switch {
	case a.dataVersion != "" && !versionRE.MatchString(a.dataVersion):
		return m, inputError(fmt.Errorf("--data-version %q: want the web service's ten digits, YYYYMMDDNN", a.dataVersion))
	case a.dataVersion != "":
		m.Version = a.dataVersion
		m.Date, err = time.Parse("20060102", a.dataVersion[:8])
		if err != nil {
			return m, inputError(fmt.Errorf("--data-version %q: %q is not a date", a.dataVersion, a.dataVersion[:8]))
		}
	default:
		// A response carries no version or date: the day the file was
		// downloaded stands in.
		m.Date = st.ModTime().UTC().Truncate(24 * time.Hour)
	}
	return m, nil
}

// checkM365 parses endpoint data and requires the Teams sets: every bad
// entry is reported with its set id and position.
func checkM365(data []byte, name string) error {
	sets, ds := m365.Parse(data)
	if ds.HasErrors() {
		ds = ds.WithFile(name)
		ds.Errorf(diag.Pos{}, "", "%s is not usable: nothing was written", name)
		return ds.Err()
	}
	if len(m365.Area(sets, "Skype")) == 0 {
		return fmt.Errorf("%s holds no Teams endpoint sets (service area Skype); nothing was written", name)
	}
	return nil
}

// tagsDateRE finds the date in Microsoft's file name,
// ServiceTags_Public_20261130.json.
var tagsDateRE = regexp.MustCompile(`_(\d{8})\.json(\.gz)?$`)

func importTags(name string) (catalogdir.Tags, error) {
	st, err := os.Stat(name)
	if err != nil {
		return catalogdir.Tags{}, inputError(fileError("--service-tags", name, err))
	}
	if st.Size() > servicetag.MaxBytes {
		return catalogdir.Tags{}, inputError(fmt.Errorf("--service-tags %q is %d bytes; a service tags file is at most %d MiB", name, st.Size(), servicetag.MaxBytes>>20))
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return catalogdir.Tags{}, inputError(fileError("--service-tags", name, err))
	}
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err == nil {
			data, err = io.ReadAll(io.LimitReader(r, servicetag.MaxBytes+1))
		}
		if err != nil {
			return catalogdir.Tags{}, inputError(fmt.Errorf("--service-tags %q: %v", name, err))
		}
		if len(data) > servicetag.MaxBytes {
			return catalogdir.Tags{}, inputError(fmt.Errorf("--service-tags %q holds more than %d MiB once decompressed", name, servicetag.MaxBytes>>20))
		}
	}
	d, ds := servicetag.Parse(data)
	if ds.HasErrors() {
		ds = ds.WithFile(name)
		ds.Errorf(diag.Pos{}, "", "%s is not usable: nothing was written", name)
		return catalogdir.Tags{}, inputError(ds.Err())
	}
	if d.Cloud != "Public" && d.Cloud != "AzureGovernment" {
		return catalogdir.Tags{}, inputError(fmt.Errorf("%s is the service tags file of cloud %q; Teams integrations run in Public (worldwide, GCC) or AzureGovernment (GCC High, DoD)", name, d.Cloud))
	}
	t := catalogdir.Tags{Cloud: d.Cloud, ChangeNumber: d.ChangeNumber, Source: filepath.Base(name), Data: data}
	if m := tagsDateRE.FindStringSubmatch(filepath.Base(name)); m != nil {
		t.Date, _ = time.Parse("20060102", m[1])
	}
	if t.Date.IsZero() {
		t.Date = st.ModTime().UTC().Truncate(24 * time.Hour)
	}
	return t, nil
}

// dataLabel names a copy of the data: "version 2026120100 (2026-12-01)",
// or "data of 2026-06-06" when no version is recorded.
func dataLabel(version string, date time.Time) string {
	switch {
	case version != "" && !date.IsZero():
		return "version " + version + " (" + date.Format(time.DateOnly) + ")"
	case version != "":
		return "version " + version
	case !date.IsZero():
		return "data of " + date.Format(time.DateOnly)
	}
	return "data of unknown date"
}

// warnStale warns when the data a plan of cloud uses is older than
// staleAfter.
func (e *env) warnStale(cat *catalog.Catalog, cloud model.Cloud) {
	for _, s := range staleData(cat, cloud, e.now()) {
		e.warnf("%s", s)
	}
}

// staleData describes each piece of the catalog's data for cloud that is
// older than staleAfter at now.
func staleData(cat *catalog.Catalog, cloud model.Cloud, now time.Time) []string {
	var out []string
	advice := "run catalog update (docs/catalog-update.md)"
	if d, ok := cat.M365[cloud]; ok && !d.Date.IsZero() && now.Sub(d.Date) > staleAfter {
		out = append(out, fmt.Sprintf("the Microsoft 365 %s data in use is of %s, %d days old (over 90): %s",
			d.Instance, d.Date.Format(time.DateOnly), days(now.Sub(d.Date)), advice))
	}
	if t := cat.TagsFor(cloud); t != nil && !t.Date.IsZero() && now.Sub(t.Date) > staleAfter {
		out = append(out, fmt.Sprintf("the Azure service tags %s file in use (change number %d) is of %s, %d days old (over 90): %s",
			t.Cloud, t.ChangeNumber, t.Date.Format(time.DateOnly), days(now.Sub(t.Date)), advice))
	}
	return out
}

func days(d time.Duration) int { return int(d / (24 * time.Hour)) }

// unavailable wraps a failure to get data from the web service.
func unavailable(err error) error {
	return &exitError{code: ExitUnavailable, err: fmt.Errorf("%w; nothing was written", err)}
}
