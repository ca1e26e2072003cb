package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/teamsgate/teamsgate/internal/ingress"
	"github.com/teamsgate/teamsgate/internal/ingress/load"
)

func newServeCmd(e *env) *cobra.Command {
	var (
		logLevel    string
		check       bool
		adminListen string
	)
	c := &cobra.Command{
		Use:   "serve SPEC",
		Short: "Run the enforcing ingress gateway in front of a Teams bot",
		Long: `serve runs the gateway that the spec's gateway: section describes, between
the Bot Connector and your bot: it terminates TLS (1.2 and up), admits only
the Teams service ranges of the spec's cloud (from the plan, plus or instead
of gateway.sources.extra), validates the Bot Framework token of every
activity (issuer, audience, lifetime, signature, key endorsements, the
serviceUrl claim against the body), rate-limits each source, and proxies
what passes to the active upstream group.

Before a request's token is verified it gets no body read, no slot and no
kept connection; the bot receives an allow-list of headers. docs/gateway.md
lists the order of checks and the limits.

Point the Azure Bot messaging endpoint at the gateway. The admin listener
(loopback by default) serves /healthz, /readyz, /metrics, /upstreams,
POST /upstreams/active?group=NAME (blue-green switch) and POST /reload; it
answers only requests addressed to itself (Host, Origin), and with
gateway.admin.token_file only those with the bearer token. Off loopback
(in the spec or with --admin-listen) it needs the token.

Signals: SIGHUP re-reads the spec and applies it atomically (an invalid one
is rejected with its errors and the running configuration stays);
SIGTERM and SIGINT shut down gracefully without dropping a request.
Logs are JSON lines on standard error, one per request with its decision
and reason. docs/gateway.md is the full reference.

The spec must be a file (not "-"): SIGHUP re-reads it.`,
		Example: `  teamsgate serve examples/gateway.yaml
  teamsgate serve examples/gateway.yaml --check
  kill -HUP $(pidof teamsgate)        # reload
  curl -X POST 'http://127.0.0.1:9090/upstreams/active?group=green'
  GOMAXPROCS=1 teamsgate serve examples/gateway.yaml --admin-listen 127.0.0.1:9091   # one of several instances (gateway.reuse_port)`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: specCompletion,
		Annotations:       map[string]string{annotDaemon: "serve"},
	}
	catDir := catalogFlag(c)
	c.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info (one line per request), warn or error")
	c.Flags().BoolVar(&check, "check", false, "check the spec and the files it names, print the result and exit")
	c.Flags().StringVar(&adminListen, "admin-listen", "", "host:port of the admin listener instead of the spec's gateway.admin.listen\n(one spec for several instances sharing the port with gateway.reuse_port)")
	c.RunE = func(c *cobra.Command, args []string) error {
		if args[0] == "-" {
			return inputError(fmt.Errorf("serve needs the spec as a file, not standard input: SIGHUP re-reads it"))
		}
		var level slog.Level
		if err := level.UnmarshalText([]byte(logLevel)); err != nil {
			return inputError(fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel))
		}
		cat, err := loadCatalog(*catDir)
		if err != nil {
			return err
		}
		if adminListen != "" {
			if _, _, err := net.SplitHostPort(adminListen); err != nil {
				return inputError(fmt.Errorf("--admin-listen %q: want host:port", adminListen))
			}
		}
		// override applies the command line over the spec, at start and
		// on every reload.
		override := func(cfg *ingress.Config) {
			if adminListen != "" {
				cfg.AdminListen = adminListen
			}
		}
		specFile := args[0]
		reread := func() (*ingress.Config, error) {
			cfg, ds := load.File(cat, specFile)
			if ds.HasErrors() {
				return nil, ds.Err()
			}
			override(cfg)
			return cfg, nil
		}
		cfg, ds := load.File(cat, specFile)
		e.warn(ds.Warnings())
		if ds.HasErrors() {
			return inputError(ds.Err())
		}
		override(cfg)

		// Request lines are buffered and flushed every 100 ms rather than
		// written one system call each.
		logw := ingress.NewLogWriter(e.stderr, 64<<10, 100*time.Millisecond)
		defer logw.Close()
		logger := slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: level}))
		reloads := make(chan struct{}, 1)
		g, err := ingress.New(*cfg, ingress.Options{Logger: logger, Now: e.now, Load: reread, Reloads: reloads})
		if err != nil {
			return inputError(err)
		}
		if check {
			fmt.Fprintf(e.stdout, "%s: gateway configuration ok\n", specFile)
			return nil
		}

		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		ctx, cancel := context.WithCancel(c.Context())
		defer cancel()
		go forwardSignals(ctx, hup, reloads)

		if err := g.Run(ctx); err != nil {
			return inputError(err)
		}
		return nil
	}
	return c
}

// forwardSignals turns SIGHUPs into reload requests until ctx ends. A
// reload already pending absorbs the next signal.
func forwardSignals(ctx context.Context, sig <-chan os.Signal, reloads chan<- struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			select {
			case reloads <- struct{}{}:
			default:
			}
		}
	}
}
