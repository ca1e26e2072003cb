package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/teamsgate/teamsgate/internal/testutil"
)

// chromium returns the headless browser the report test drives: Debian's
// chromium (scripts/install-test-deps.sh installs it). Without it the test
// skips, and under TEAMSGATE_E2E=1 fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("TEAMSGATE_E2E") == "1" {
		t.Fatal("TEAMSGATE_E2E=1 but no chromium: install Debian's chromium (scripts/install-test-deps.sh)")
	}
	t.Skip("no chromium (install Debian's chromium; set TEAMSGATE_E2E=1 to make this a failure)")
	return ""
}

// browse opens file in headless Chromium and returns the context to drive
// it, and what the page did wrong: console errors and warnings, uncaught
// exceptions, and every request that was not for the file itself.
func browse(t *testing.T, file string) (context.Context, func() []string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1400, 1000),
	)
	var mu sync.Mutex
	var problems []string
	page := "file://" + file
	listen := func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value))
				}
				problems = append(problems, "console "+string(ev.Type)+": "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		case *network.EventRequestWillBeSent:
			if ev.Request.URL != page {
				problems = append(problems, "request: "+ev.Request.URL)
			}
		}
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithListener(listen))
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitReady(chromedp.CSS("#rules"))); err != nil {
		t.Fatalf("open %s: %v", page, err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), problems...)
	}
}

// eval runs a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// TestReportInBrowser loads reports in headless Chromium from file://: no
// console error, no request beyond the file, the rule table with a row per
// rule, the diagram, the findings; sorting and filtering work when used.
// TEAMSGATE_SCREENSHOTS=DIR keeps a full-page screenshot of each.
func TestReportInBrowser(t *testing.T) {
	dir := t.TempDir()
	combined := filepath.Join(dir, "combined.html")
	if code, _, errs := run(t, "report", testutil.ExamplePath("combined"), "-o", combined, "--calls", "90"); code != ExitOK {
		t.Fatalf("report: %s", errs)
	}
	audited := filepath.Join(dir, "audited.html")
	if code, _, errs := run(t, "report", testutil.ExamplePath("messaging-bot"), "-o", audited,
		"--audit", filepath.Join(testutil.Root(), "testdata", "data", "azure-nsg-arm-export.batfish-VM1-nsg.json"),
		"--scope", "bot", "--fqdn-skip", "--vnet", "198.51.100.0/24,192.0.2.0/24"); code != ExitOK {
		t.Fatalf("report with an audit: %s", errs)
	}

	visible := `Array.from(document.querySelectorAll("#rules tbody tr")).filter(r => !r.hidden).length`
	t.Run("combined", func(t *testing.T) {
		ctx, problems := browse(t, combined)
		rows := eval[int](t, ctx, `document.querySelectorAll("#rules tbody tr").length`)
		edges := eval[int](t, ctx, `document.querySelectorAll("#diagram svg g.edge").length`)
		count := eval[string](t, ctx, `document.getElementById("rule-count").textContent`)
		if rows != 47 || count != "47 of 47 rules shown" {
			t.Errorf("%d rows, count %q; want the plan's 47 rules", rows, count)
		}
		// 23 arrows, and the invisible edges that order the columns.
		if edges < 23 || eval[bool](t, ctx, `document.querySelector("#diagram svg").getAttribute("role") === "img"`) != true {
			t.Errorf("diagram: %d edges, or no role img", edges)
		}
		// Sort by rule id, then the other way.
		cell := func(row string) string {
			return eval[string](t, ctx, `document.querySelector("#rules tbody tr:`+row+` td:nth-child(2)").textContent`)
		}
		do(t, ctx, chromedp.Click(chromedp.CSS(`#rules thead th:nth-child(2) button`)))
		first, last := cell("first-child"), cell("last-child")
		do(t, ctx, chromedp.Click(chromedp.CSS(`#rules thead th:nth-child(2) button`)))
		firstDesc := cell("first-child")
		sortState := eval[string](t, ctx, `document.querySelector("#rules thead th:nth-child(2)").getAttribute("aria-sort")`)
		if first != "pexip-teams-connector.any-to-cn.dial-instructions" || last != "teamspro-saas.web-app" || firstDesc != last || sortState != "descending" {
			t.Errorf("sorting by rule: first %q last %q, then first %q, aria-sort %q", first, last, firstDesc, sortState)
		}
		do(t, ctx, chromedp.SendKeys(chromedp.CSS("#rule-filter"), "teams-calling-bot"))
		if n, c := eval[int](t, ctx, visible), eval[string](t, ctx, `document.getElementById("rule-count").textContent`); n != 13 || c != "13 of 47 rules shown" {
			t.Errorf("filter teams-calling-bot: %d rows shown, count %q; want 13", n, c)
		}
		// Clear the filter and choose a status in the select, with the
		// events a user's edit and choice fire.
		eval[bool](t, ctx, `(f => { f.value = ""; return f.dispatchEvent(new Event("input")); })(document.getElementById("rule-filter"))`)
		eval[bool](t, ctx, `(s => { s.value = "to-be-confirmed"; return s.dispatchEvent(new Event("change")); })(document.getElementById("rule-status"))`)
		if n := eval[int](t, ctx, visible); n != 2 {
			t.Errorf("status filter to-be-confirmed: %d rows, want the 2 lost cells of 002 (filter %q, statuses %s)", n,
				eval[string](t, ctx, `document.getElementById("rule-filter").value`),
				eval[string](t, ctx, `Array.from(document.querySelectorAll("#rules tbody tr")).map(r => r.dataset.status).join(",")`))
		}
		if p := problems(); len(p) > 0 {
			t.Errorf("the page had problems:\n%s", strings.Join(p, "\n"))
		}
		screenshot(t, ctx, "combined")
	})

	t.Run("audited", func(t *testing.T) {
		ctx, problems := browse(t, audited)
		heading := eval[string](t, ctx, `document.getElementById("audit-heading").textContent`)
		findings := eval[int](t, ctx, `document.querySelectorAll("#findings tbody tr").length`)
		if heading != "Audit findings" || findings == 0 {
			t.Errorf("findings section %q with %d rows", heading, findings)
		}
		if p := problems(); len(p) > 0 {
			t.Errorf("the page had problems:\n%s", strings.Join(p, "\n"))
		}
		screenshot(t, ctx, "audited")
	})
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("TEAMSGATE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
