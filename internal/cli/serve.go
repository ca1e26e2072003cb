package cli

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/teamsgate/teamsgate/internal/catalog"
	"github.com/teamsgate/teamsgate/internal/diag"
	"github.com/teamsgate/teamsgate/internal/egress"
	egressload "github.com/teamsgate/teamsgate/internal/egress/load"
	"github.com/teamsgate/teamsgate/internal/ingress"
	"github.com/teamsgate/teamsgate/internal/ingress/load"
	"github.com/teamsgate/teamsgate/internal/planfile"
	"github.com/teamsgate/teamsgate/internal/runtimetune"
)

func newServeCmd(e *env) *cobra.Command {
	var (
		logLevel    string
		check       bool
		adminListen string
		egressAdmin string
	)
	c := &cobra.Command{
		Use:   "serve SPEC",
		Short: "Run the enforcing ingress gateway and the egress proxy of a spec",
		Long: `serve runs the daemons the spec describes: the ingress gateway of its gateway:
section, the egress proxy of its egress: section, or both in one process.

The gateway stands between the Bot Connector and your bot: it terminates
TLS (1.2 and up), admits only the Teams service ranges of the spec's cloud
(from the plan, plus or instead of gateway.sources.extra), validates the
Bot Framework token of every activity (issuer, audience, lifetime,
signature, key endorsements, the serviceUrl claim against the body),
rate-limits each source, and proxies what passes to the active upstream
group. Before a request's token is verified it gets no body read, no slot
and no kept connection; the bot receives an allow-list of headers.
docs/gateway.md lists the order of checks and the limits. Point the Azure
Bot messaging endpoint at the gateway.

The egress proxy is what the bot (or a network) sends its outbound traffic
through (HTTPS_PROXY, or the PAC file it serves at /proxy.pac): HTTP CONNECT
and absolute-form HTTP requests, allowed only to the plan's outbound host
names and prefixes of the roles in scope, each on its own ports; every
answer of a name is classified (no loopback, private, link-local, metadata
or other special-use address) and the checked address is the one dialled;
on TLS ports the ClientHello's server name must be the CONNECT host.
docs/egress.md is the full reference.

Each admin listener (loopback by default) serves /healthz, /readyz,
/metrics and POST /reload (the gateway also /upstreams and POST
/upstreams/active?group=NAME, the blue-green switch; the proxy also
/proxy.pac); it answers only requests addressed to itself (Host, Origin),
and with admin.token_file only those with the bearer token. Off loopback it
needs the token.

Signals: SIGHUP re-reads the spec and applies it atomically to both daemons
(an invalid one is rejected with its errors and the running configuration
stays; open tunnels stay open); SIGTERM and SIGINT shut down gracefully.
Logs are JSON lines on standard error, one per request with its decision
and reason.

Unless GOMAXPROCS, GOGC or GOMEMLIMIT say otherwise, serve runs the Go
runtime with 4 processors per CPU (where no cgroup sets a CPU quota),
GOGC=400 and a soft memory limit of 90% of its cgroup's memory limit, and
logs what it chose first (docs/deploying.md, "Runtime settings").

The spec must be a file (not "-"): SIGHUP re-reads it. --watch INTERVAL
also reloads when a file under the spec's directory, or the catalog
directory, changes (checked every INTERVAL by content): a Kubernetes
ConfigMap or Secret mounted there is picked up without a restart or a
signal.`,
		Example: `  teamsgate serve examples/gateway.yaml
  teamsgate serve examples/gateway.yaml --check
  kill -HUP $(pidof teamsgate)        # reload
  curl -X POST 'http://127.0.0.1:9090/upstreams/active?group=green'
  GOMAXPROCS=1 teamsgate serve examples/gateway.yaml --admin-listen 127.0.0.1:9091   # one of several instances (gateway.reuse_port)
  teamsgate serve examples/egress.yaml --check
  teamsgate serve examples/egress.yaml`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: specCompletion,
		Annotations:       map[string]string{annotDaemon: "serve"},
	}
	catDir := catalogFlag(c)
	c.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info (one line per request), warn or error")
	c.Flags().BoolVar(&check, "check", false, "check the spec and the files it names, print the result and exit")
	c.Flags().StringVar(&adminListen, "admin-listen", "", "host:port of the gateway's admin listener instead of the spec's gateway.admin.listen\n(one spec for several instances sharing the port with gateway.reuse_port)")
	c.Flags().StringVar(&egressAdmin, "egress-admin-listen", "", "host:port of the egress proxy's admin listener instead of the spec's egress.admin.listen")
	var watch time.Duration
	c.Flags().DurationVar(&watch, "watch", 0, "reload when the files under the spec's directory or the catalog directory change, checking every this long (0: only on SIGHUP)")
	c.RunE = func(c *cobra.Command, args []string) error {
		if args[0] == "-" {
			return inputError(fmt.Errorf("serve needs the spec as a file, not standard input: SIGHUP re-reads it"))
		}
		if watch < 0 || watch > 0 && watch < time.Second {
			return inputError(fmt.Errorf("--watch %s: 0 (off) or at least 1s", watch))
		}
		var level slog.Level
		if err := level.UnmarshalText([]byte(logLevel)); err != nil {
			return inputError(fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel))
		}
		for _, f := range []struct{ name, v string }{{"--admin-listen", adminListen}, {"--egress-admin-listen", egressAdmin}} {
			if f.v == "" {
				continue
			}
			if _, _, err := net.SplitHostPort(f.v); err != nil {
				return inputError(fmt.Errorf("%s %q: want host:port", f.name, f.v))
			}
		}
		cat, err := loadCatalog(*catDir)
		if err != nil {
			return err
		}
		specFile := args[0]
		d, err := loadDaemons(cat, specFile, adminListen, egressAdmin)
		e.warn(d.warnings)
		if err != nil {
			return err
		}

		// Request lines are buffered and flushed every 100 ms rather than
		// written one system call each.
		logw := ingress.NewLogWriter(e.stderr, 64<<10, 100*time.Millisecond)
		defer logw.Close()
		logger := slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: level}))
		if !check {
			tune := runtimetune.Choose(runtimetune.Current(os.Getenv))
			procs := runtimetune.Apply(tune)
			logger.Info("runtime", "gomaxprocs", procs, "procs_from", tune.ProcsReason, "gogc", tune.GOGC, "gogc_from", tune.GCReason,
				"memory_limit", tune.MemoryLimit, "memory_limit_from", tune.MemReason)
		}
		var (
			g       *ingress.Gateway
			px      *egress.Proxy
			reloads []chan struct{}
		)
		if d.gateway != nil {
			ch := make(chan struct{}, 1)
			reloads = append(reloads, ch)
			reread := func() (*ingress.Config, error) {
				// The catalog is read again too: a reload after catalog
				// update takes the new Microsoft ranges.
				cat, err := loadCatalog(*catDir)
				if err != nil {
					return nil, err
				}
				cfg, ds := load.File(cat, specFile)
				if ds.HasErrors() {
					return nil, ds.Err()
				}
				if adminListen != "" {
					cfg.AdminListen = adminListen
				}
				return cfg, nil
			}
			g, err = ingress.New(*d.gateway, ingress.Options{Logger: logger, RequestLog: logw, Now: e.now, Load: reread, Reloads: ch})
			if err != nil {
				return inputError(err)
			}
		}
		if d.egress != nil {
			ch := make(chan struct{}, 1)
			reloads = append(reloads, ch)
			reread := func() (*egress.Config, error) {
				// The catalog is read again too: a reload after catalog
				// update takes the new Microsoft ranges.
				cat, err := loadCatalog(*catDir)
				if err != nil {
					return nil, err
				}
				cfg, ds := egressload.File(cat, specFile)
				if ds.HasErrors() {
					return nil, ds.Err()
				}
				if egressAdmin != "" {
					cfg.AdminListen = egressAdmin
				}
				return cfg, nil
			}
			px, err = egress.New(*d.egress, egress.Options{Logger: logger.With("daemon", "egress"), RequestLog: logw, Now: e.now, Load: reread, Reloads: ch})
			if err != nil {
				return inputError(err)
			}
		}
		if check {
			if g != nil {
				fmt.Fprintf(e.stdout, "%s: gateway configuration ok\n", specFile)
			}
			if px != nil {
				fmt.Fprintf(e.stdout, "%s: egress configuration ok: %s\n", specFile, d.egress.Summary())
			}
			return nil
		}

		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		ctx, cancel := context.WithCancel(c.Context())
		defer cancel()
		go forwardSignals(ctx, hup, reloads...)
		if watch > 0 {
			dirs := []string{filepath.Dir(specFile)}
			if *catDir != "" {
				dirs = append(dirs, *catDir)
			}
			go watchFiles(ctx, watch, dirs, logger, reloads...)
		}

		// One daemon failing stops the other: a half-running serve would
		// leave a bot with its ingress and without its egress, or the
		// reverse, and look healthy.
		grp, gctx := errgroup.WithContext(ctx)
		if g != nil {
			grp.Go(func() error { return g.Run(gctx) })
		}
		if px != nil {
			grp.Go(func() error { return px.Run(gctx) })
		}
		if err := grp.Wait(); err != nil {
			return inputError(err)
		}
		return nil
	}
	return c
}

// daemons are the configurations serve runs, from one reading of the spec.
type daemons struct {
	gateway  *ingress.Config
	egress   *egress.Config
	warnings diag.List
}

// loadDaemons reads and plans the spec once and decodes each daemon
// section it has; a spec with neither is an error. The admin listeners
// given on the command line replace the spec's.
func loadDaemons(cat *catalog.Catalog, specFile, adminListen, egressAdmin string) (daemons, error) {
	var d daemons
	pl, ds := planfile.ReadFile(cat, specFile)
	if pl == nil || ds.HasErrors() {
		d.warnings = ds.Warnings()
		return d, inputError(ds.Err())
	}
	if pl.Spec.Gateway.IsZero() && pl.Spec.Egress.IsZero() {
		ds.Errorf(pl.Spec.Gateway.Doc.At(), "", "the spec has neither a gateway: nor an egress: section: serve runs the daemons they describe (docs/gateway.md, docs/egress.md)")
	}
	if !pl.Spec.Gateway.IsZero() {
		cfg, cds := load.Config(pl.Catalog, pl.Spec, pl.Plan)
		ds.Append(cds)
		d.gateway = cfg
	}
	if !pl.Spec.Egress.IsZero() {
		cfg, cds := egressload.Config(pl.Spec, pl.Plan)
		ds.Append(cds)
		d.egress = cfg
	}
	ds.Sort()
	d.warnings = ds.Warnings()
	if ds.HasErrors() {
		return d, inputError(ds.Err())
	}
	if adminListen != "" && d.gateway != nil {
		d.gateway.AdminListen = adminListen
	}
	if egressAdmin != "" && d.egress != nil {
		d.egress.AdminListen = egressAdmin
	}
	return d, nil
}

// forwardSignals turns SIGHUPs into reload requests until ctx ends. A
// reload already pending absorbs the next signal.
// watchFiles reloads the daemons when the content of a file under dirs
// changes. It reads the files every interval (following symbolic links,
// as kubelet's ConfigMap and Secret volumes use them, and passing over the
// volumes' own "..data" bookkeeping): a polling digest needs no inotify
// and sees a change whatever way the file was replaced.
func watchFiles(ctx context.Context, every time.Duration, dirs []string, logger *slog.Logger, reloads ...chan struct{}) {
	last := treeDigest(dirs)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d := treeDigest(dirs)
		if d == last {
			continue
		}
		last = d
		logger.Info("files changed, reloading", "dirs", dirs)
		for _, r := range reloads {
			select {
			case r <- struct{}{}:
			default:
			}
		}
	}
}

// maxWatchedBytes bounds what treeDigest reads of one file.
const maxWatchedBytes = 64 << 20

// treeDigest hashes the names and contents of the regular files under
// dirs; a file that cannot be read counts by its name and error.
func treeDigest(dirs []string) [32]byte {
	h := sha256.New()
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				fmt.Fprintf(h, "%s: %v\n", p, err)
				return nil
			}
			if strings.HasPrefix(d.Name(), "..") && p != dir {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			f, err := os.Open(p) // follows a symbolic link
			if err != nil {
				fmt.Fprintf(h, "%s: %v\n", p, err)
				return nil
			}
			defer f.Close()
			if st, err := f.Stat(); err != nil || st.IsDir() {
				return nil
			}
			fmt.Fprintf(h, "%s\n", p)
			io.Copy(h, io.LimitReader(f, maxWatchedBytes))
			return nil
		})
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func forwardSignals(ctx context.Context, sig <-chan os.Signal, reloads ...chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			for _, r := range reloads {
				select {
				case r <- struct{}{}:
				default:
				}
			}
		}
	}
}
