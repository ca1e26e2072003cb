package cli

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teamsgate/teamsgate/internal/m365"
	"github.com/teamsgate/teamsgate/internal/model"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

var (
	m365Old     = filepath.Join(testutil.Root(), "testdata", "data", "m365", "worldwide-2020-12.json")
	m365Derived = filepath.Join(testutil.Root(), "testdata", "data", "m365", "worldwide-2020-12-derived.json")
	tagsReal    = filepath.Join(testutil.Root(), "testdata", "data", "ServiceTags_Public.changeNumber398.json.gz")
)

// treeHash digests every file under dir (names and contents), "" when
// dir does not exist: equal hashes mean nothing was written.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(n)
		fmt.Fprintf(h, "%s %d %s\n", n, len(b), st.ModTime())
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestCatalogUpdateOffline follows the quarterly routine with files: the
// 2020 data, then the derived data (52.120.0.0/14 → 52.122.0.0/15, a URL
// added), a run with no change, the diff, the rule delta and the nftables
// delta.
func TestCatalogUpdateOffline(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cat")
	prev := dir + ".previous"

	code, out, errs := run(t, "catalog", "update", "--dir", dir, "--from", m365Old, "--data-version", "2020122300")
	if code != ExitOK || !strings.Contains(out, "Microsoft 365 Worldwide data version 2020122300 (2020-12-23) written") {
		t.Fatalf("first update: exit %d\n%s\n%s", code, out, errs)
	}
	if b, err := os.ReadFile(filepath.Join(prev, "catalog.yaml")); err != nil || !strings.Contains(string(b), "version: embedded") {
		t.Fatalf("the first update's baseline: %v %q", err, b)
	}

	before := treeHash(t, dir)
	code, out, _ = run(t, "catalog", "update", "--dir", dir, "--from", m365Old, "--data-version", "2020122300")
	if code != ExitOK || !strings.Contains(out, "nothing written") || treeHash(t, dir) != before {
		t.Fatalf("same data again: exit %d, wrote: %v\n%s", code, treeHash(t, dir) != before, out)
	}

	code, out, errs = run(t, "catalog", "update", "--dir", dir, "--from", m365Derived, "--data-version", "2021010100")
	if code != ExitOK {
		t.Fatalf("second update: exit %d\n%s", code, errs)
	}
	wantSets := "4 Teams (Skype) sets differ from the data in use before, version 2020122300 (2020-12-23):\n" +
		"  set 11 (Skype) changed\n      + 52.122.0.0/15\n      - 52.120.0.0/14\n" +
		"  set 12 (Skype) changed\n      + 52.122.0.0/15\n      + *.teams.cloud.microsoft\n      - 52.120.0.0/14\n" +
		"  set 13 (Skype) changed\n      + 52.122.0.0/15\n      - 52.120.0.0/14\n" +
		"  set 22 (Skype) changed\n      + 52.122.0.0/15\n      - 52.120.0.0/14\n"
	if !strings.Contains(out, wantSets) {
		t.Errorf("second update's summary:\n%s\nwant it to hold:\n%s", out, wantSets)
	}

	code, out, _ = run(t, "catalog", "diff", prev, dir, "-o", "json")
	if code != ExitOK {
		t.Fatalf("catalog diff: exit %d", code)
	}
	var d catalogDeltaJSON
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, m := range d.M365 {
		for _, s := range m.Sets {
			ids = append(ids, s.ID)
			if strings.Join(s.AddedIPs, " ") != "52.122.0.0/15" || strings.Join(s.RemovedIPs, " ") != "52.120.0.0/14" {
				t.Errorf("set %d: added %v removed %v", s.ID, s.AddedIPs, s.RemovedIPs)
			}
		}
	}
	if fmt.Sprint(ids) != "[11 12 13 22]" {
		t.Errorf("changed sets %v, want [11 12 13 22]", ids)
	}

	// The rule delta of the calling bot: the four Teams sets' rules change,
	// nothing is added or removed.
	spec := testutil.ExamplePath("calling-bot")
	code, out, errs = run(t, "plan", spec, "--catalog", dir, "--since", prev, "-o", "json")
	if code != ExitOK {
		t.Fatalf("plan --since: exit %d\n%s", code, errs)
	}
	var delta struct {
		Added, Removed []json.RawMessage
		Changed        []struct {
			ID          string
			Destination struct{ Added, Removed []string }
		}
	}
	if err := json.Unmarshal([]byte(out), &delta); err != nil {
		t.Fatal(err)
	}
	var changed []string
	for _, c := range delta.Changed {
		changed = append(changed, c.ID)
		if !strings.Contains(strings.Join(c.Destination.Added, " "), "52.122.0.0/15") || strings.Join(c.Destination.Removed, " ") != "52.120.0.0/14" {
			t.Errorf("%s: destination %+v", c.ID, c.Destination)
		}
	}
	want := "teams-calling-bot.out.m365.set11-udp teams-calling-bot.out.m365.set12-tcp teams-calling-bot.out.m365.set13-tcp teams-calling-bot.out.m365.set22-tcp"
	if len(delta.Added)+len(delta.Removed) != 0 || strings.Join(changed, " ") != want {
		t.Errorf("plan --since: added %d removed %d changed %v", len(delta.Added), len(delta.Removed), changed)
	}

	code, out, errs = run(t, "render", spec, "--target", "nftables", "--fqdn-skip", "--scope", "bot",
		"--service-tags", tagsReal, "--catalog", dir, "--since", prev)
	if code != ExitOK || !strings.Contains(out, "delete element inet teamsgate m365_worldwide_11_v4 { 52.120.0.0/14 }") ||
		!strings.Contains(out, "add element inet teamsgate m365_worldwide_11_v4 { 52.122.0.0/15 }") ||
		strings.Index(out, "delete element") > strings.Index(out, "add element") {
		t.Errorf("render --since nftables: exit %d\n%s\n%s", code, out, errs)
	}
	code, _, errs = run(t, "render", spec, "--target", "iptables", "--fqdn-skip", "--service-tags", tagsReal, "--catalog", dir, "--since", prev)
	if code != ExitError || !strings.Contains(errs, "target iptables has no form for a change in place; render it in full") {
		t.Errorf("render --since iptables: exit %d, %s", code, errs)
	}
}

// TestCatalogUpdateBadInput: a broken or wrong file is reported with its
// position and set, and the good catalog is left exactly as it was.
func TestCatalogUpdateBadInput(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "cat")
	if code, _, errs := run(t, "catalog", "update", "--dir", dir, "--from", m365Old); code != ExitOK {
		t.Fatalf("setup: %s", errs)
	}
	good, err := os.ReadFile(m365Old)
	if err != nil {
		t.Fatal(err)
	}
	badPrefix := strings.Replace(string(good), `"52.120.0.0/14"`, `"52.120.0.0/33"`, 1)
	for name, tc := range map[string]struct {
		file, want string
		args       []string
	}{
		"truncated":             {file: string(good[:len(good)/2]), want: "not a Microsoft 365 endpoints response"},
		"bad prefix":            {file: badPrefix, want: "endpoint set 11: "},
		"no Teams":              {file: `[{"id":1,"serviceArea":"Exchange","urls":["outlook.office.com"],"tcpPorts":"443","category":"Allow","required":true}]`, want: "holds no Teams endpoint sets"},
		"tags of a wrong cloud": {file: `{"changeNumber":1,"cloud":"AzureChinaCloud","values":[{"name":"AzureCloud","properties":{"addressPrefixes":["192.0.2.0/24"]}}]}`, want: `cloud "AzureChinaCloud"`, args: []string{"--service-tags"}},
		"bad version":           {file: string(good), want: "--data-version", args: []string{"--from", "--data-version", "2020"}},
		"empty tags":            {file: `{}`, want: "not an Azure service tags file", args: []string{"--service-tags"}},
	} {
		t.Run(name, func(t *testing.T) {
			before := treeHash(t, dir)
			f := writeFile(t, tmp, strings.ReplaceAll(name, " ", "-")+".json", tc.file)
			args := []string{"catalog", "update", "--dir", dir}
			switch {
			case tc.args == nil:
				args = append(args, "--from", f)
			case tc.args[0] == "--service-tags":
				args = append(args, "--service-tags", f)
			default:
				args = append(args, "--from", f, tc.args[1], tc.args[2])
			}
			code, out, errs := run(t, args...)
			if code != ExitError || !strings.Contains(errs, tc.want) || out != "" {
				t.Errorf("exit %d\nstdout: %s\nstderr: %s\nwant stderr to hold %q", code, out, errs, tc.want)
			}
			if name == "bad prefix" && !strings.Contains(errs, f+":") {
				t.Errorf("the error has no position in %s: %s", f, errs)
			}
			if treeHash(t, dir) != before {
				t.Errorf("the catalog directory changed")
			}
			if m, _ := filepath.Glob(filepath.Join(tmp, ".cat.new-*")); len(m) > 0 {
				t.Errorf("a staged directory was left: %v", m)
			}
		})
	}
}

// webService plays the Microsoft 365 IP Address and URL web service.
type webService struct {
	mu        sync.Mutex
	version   string
	endpoints []byte
	// endpointsStatus, when not 0, is the status of /endpoints;
	// contentType and truncate change the answer.
	endpointsStatus int
	contentType     string
	truncate        bool
	calls           []string
	ids             map[string]bool
}

func (w *webService) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, r.URL.Path)
	w.ids[r.URL.Query().Get("ClientRequestId")] = true
	switch r.URL.Path {
	case "/version/Worldwide":
		rw.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprintf(rw, `{"instance":"Worldwide","latest":"%s"}`, w.version)
	case "/changes/Worldwide/2020122300":
		rw.Header().Set("Content-Type", "application/json")
		io.WriteString(rw, `[{"id":901,"endpointSetId":12,"disposition":"change","version":"2021010100","impact":"AddedIp","add":{"effectiveDate":"20210201","ips":["52.122.0.0/15"]},"remove":{"ips":["52.120.0.0/14"]}},
		  {"id":902,"endpointSetId":1,"disposition":"change","version":"2021010100","impact":"AddedUrl","add":{"urls":["outlook.cloud.microsoft"]}}]`)
	case "/endpoints/Worldwide":
		if w.endpointsStatus == http.StatusTooManyRequests {
			rw.Header().Set("Retry-After", "3600")
			rw.WriteHeader(http.StatusTooManyRequests)
			return
		}
		ct := w.contentType
		if ct == "" {
			ct = "application/json; charset=utf-8"
		}
		rw.Header().Set("Content-Type", ct)
		body := w.endpoints
		if w.truncate {
			rw.Header().Set("Content-Length", fmt.Sprint(len(body)))
			rw.WriteHeader(http.StatusOK)
			rw.Write(body[:len(body)/2])
			panic(http.ErrAbortHandler)
		}
		rw.Write(body)
	default:
		http.NotFound(rw, r)
	}
}

func (w *webService) endpointCalls() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.calls {
		if strings.HasPrefix(c, "/endpoints/") {
			n++
		}
	}
	return n
}

// TestCatalogUpdateOnline runs catalog update against a local server that
// plays the web service: the version first, the endpoints only when it
// changed, one ClientRequestId kept with the directory, and every failure
// (429, truncated body, wrong content type) leaves the good catalog.
func TestCatalogUpdateOnline(t *testing.T) {
	old, _ := os.ReadFile(m365Old)
	derived, _ := os.ReadFile(m365Derived)
	ws := &webService{version: "2020122300", endpoints: old, ids: map[string]bool{}}
	srv := httptest.NewServer(ws)
	defer srv.Close()
	dir := filepath.Join(t.TempDir(), "cat")
	update := func() (int, string, string) {
		return run(t, "catalog", "update", "--dir", dir, "--url", srv.URL)
	}

	code, out, errs := update()
	if code != ExitOK || !strings.Contains(out, "version 2020122300 (2020-12-23) written") || ws.endpointCalls() != 1 {
		t.Fatalf("first update: exit %d, %d endpoint calls\n%s\n%s", code, ws.endpointCalls(), out, errs)
	}
	id, err := os.ReadFile(filepath.Join(dir, "client-request-id"))
	if err != nil || len(ws.ids) != 1 || !ws.ids[strings.TrimSpace(string(id))] {
		t.Fatalf("ClientRequestId: file %q (%v), server saw %v", id, err, ws.ids)
	}

	// The version is unchanged: no endpoints call, nothing written.
	before := treeHash(t, dir)
	code, out, _ = update()
	if code != ExitOK || !strings.Contains(out, "is current (version 2020122300): nothing written") || ws.endpointCalls() != 1 || treeHash(t, dir) != before {
		t.Fatalf("same version: exit %d, %d endpoint calls\n%s", code, ws.endpointCalls(), out)
	}

	// A new version, but each answer broken: exit 4, nothing written.
	ws.version, ws.endpoints = "2021010100", derived
	for name, set := range map[string]func(){
		"429":                func() { ws.endpointsStatus = http.StatusTooManyRequests },
		"truncated":          func() { ws.truncate = true },
		"wrong content type": func() { ws.contentType = "text/html" },
		"invalid data": func() {
			ws.endpoints = []byte(`[{"id":11,"serviceArea":"Skype","ips":["52.112.0.0/99"],"category":"Optimize"}]`)
		},
	} {
		t.Run(name, func(t *testing.T) {
			ws.mu.Lock()
			set()
			ws.mu.Unlock()
			defer func() {
				ws.mu.Lock()
				ws.endpointsStatus, ws.truncate, ws.contentType, ws.endpoints = 0, false, "", derived
				ws.mu.Unlock()
			}()
			calls := ws.endpointCalls()
			code, out, errs := update()
			if code != ExitUnavailable || !strings.Contains(errs, "nothing was written") || out != "" {
				t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
			}
			if name == "429" && !strings.Contains(errs, "try again after") {
				t.Errorf("a 429 does not say when to retry: %s", errs)
			}
			if ws.endpointCalls() != calls+1 {
				t.Errorf("%d endpoint calls, want exactly one (never a retry)", ws.endpointCalls()-calls)
			}
			if treeHash(t, dir) != before {
				t.Errorf("the catalog directory changed")
			}
		})
	}

	code, out, errs = update()
	if code != ExitOK || !strings.Contains(out, "version 2021010100 (2021-01-01) written") || !strings.Contains(out, "set 12 (Skype) changed") {
		t.Fatalf("update to the new version: exit %d\n%s\n%s", code, out, errs)
	}
	// Microsoft's change records since the version in use, for the Teams
	// sets only, with the day an addition takes effect.
	if !strings.Contains(out, "Microsoft's change records for the Teams sets since 2020122300: 1\n") ||
		!strings.Contains(out, "set 12, version 2021010100: Change AddedIp + 52.122.0.0/15 (in use from 20210201) - 52.120.0.0/14") ||
		strings.Contains(out, "outlook.cloud.microsoft") {
		t.Errorf("change records:\n%s", out)
	}
	if len(ws.ids) != 1 {
		t.Errorf("the server saw %d ClientRequestIds, want the one kept in the directory", len(ws.ids))
	}
}

// TestCatalogServiceTags: a service tags file imported into the catalog
// serves render without --service-tags, and catalog list shows it.
func TestCatalogServiceTags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cat")
	code, out, errs := run(t, "catalog", "update", "--dir", dir, "--service-tags", tagsReal, "--date", "2026-04-30")
	if code != ExitOK || !strings.Contains(out, "Azure service tags Public, change number 398, written") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	spec := testutil.ExamplePath("calling-bot")
	code, _, errs = run(t, "render", spec, "--target", "nftables", "--fqdn-skip")
	if code != ExitError || !strings.Contains(errs, "no service tag data loaded") {
		t.Fatalf("without the catalog's tags: exit %d, %s", code, errs)
	}
	code, out, errs = run(t, "render", spec, "--target", "nftables", "--fqdn-skip", "--catalog", dir)
	if code != ExitOK || !strings.Contains(out, "AzureCloud") {
		t.Fatalf("with the catalog's tags: exit %d\n%s", code, errs)
	}
	code, out, _ = runAt(t, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), "catalog", "list", "--catalog", dir)
	if code != ExitOK || !strings.Contains(out, "Azure service tags Public") || !strings.Contains(out, "change number 398, of 2026-04-30") {
		t.Errorf("catalog list:\n%s", out)
	}
}

// TestStaleWarning: plan, audit and catalog list warn past 90 days, and
// only then.
func TestStaleWarning(t *testing.T) {
	spec := testutil.ExamplePath("messaging-bot")
	fresh := time.Date(2026, 6, 20, 0, 0, 0, 0, time.UTC) // 81 days after the GCC High and DoD data
	stale := time.Date(2026, 9, 5, 0, 0, 0, 0, time.UTC)  // 91 days after 2026-06-06
	for _, args := range [][]string{{"plan", spec}, {"catalog", "list"}} {
		_, _, errs := runAt(t, fresh, args...)
		if strings.Contains(errs, "days old") {
			t.Errorf("%v at %s: %s", args, fresh.Format(time.DateOnly), errs)
		}
		_, _, errs = runAt(t, stale, args...)
		if !strings.Contains(errs, "the Microsoft 365 Worldwide data in use is of 2026-06-06, 91 days old (over 90): run catalog update") {
			t.Errorf("%v at %s: no warning: %q", args, stale.Format(time.DateOnly), errs)
		}
	}
}

// TestCatalogUpdateRealFiles: the real 2020 Worldwide response and the
// real service tags file (change number 398) import, and what the
// catalog then holds keeps the known facts.
func TestCatalogUpdateRealFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cat")
	code, _, errs := run(t, "catalog", "update", "--dir", dir, "--from", m365Old, "--data-version", "2020122300", "--service-tags", tagsReal)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	cat, err := loadCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	ww := cat.M365[model.CloudWorldwide]
	if ww.Version != "2020122300" || ww.Date.Format(time.DateOnly) != "2020-12-23" || len(ww.Sets) != 113 || len(m365.Area(ww.Sets, "Skype")) != 15 {
		t.Fatalf("Worldwide data: version %q, date %s, %d sets", ww.Version, ww.Date, len(ww.Sets))
	}
	// Set 11: UDP 3478-3481 to the Teams ranges, Optimize, required.
	s11 := m365.Area(ww.Sets, "Skype")[0]
	if s11.ID != 11 || s11.UDPPorts.String() != "3478-3481" || !s11.TCPPorts.IsEmpty() || s11.Category != "Optimize" || !s11.Required ||
		fmt.Sprint(s11.IPs) != "[13.107.64.0/18 52.112.0.0/14 52.120.0.0/14]" {
		t.Errorf("set 11: %+v", s11)
	}
	if gcc := cat.M365[model.CloudGCC]; gcc.Version != "2020122300" {
		t.Errorf("gcc does not take the Worldwide data: %q", gcc.Version)
	}
	if gcch := cat.M365[model.CloudGCCHigh]; gcch.Version != "2026033100" {
		t.Errorf("gcch must keep the embedded data: %q", gcch.Version)
	}
	tf := cat.TagsFor(model.CloudGCC)
	if tf == nil || tf.ChangeNumber != 398 || cat.TagsFor(model.CloudDoD) != nil {
		t.Fatalf("service tags for gcc: %+v; for dod: %+v", tf, cat.TagsFor(model.CloudDoD))
	}
	data, ds := tf.Data()
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	bot, err := data.Lookup("AzureBotService")
	if err != nil {
		t.Fatal(err)
	}
	v4 := 0
	for _, p := range bot.Prefixes {
		if p.Addr().Is4() {
			v4++
		}
	}
	if v4 != 124 || len(bot.Prefixes)-v4 != 80 {
		t.Errorf("AzureBotService: %d IPv4 and %d IPv6 prefixes, want 124 and 80", v4, len(bot.Prefixes)-v4)
	}
	if _, err := data.Lookup("AzureBotService.WestEurope"); err != nil {
		t.Errorf("a regional tag: %v", err)
	}
}
