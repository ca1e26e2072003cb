package ingress

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/teamsgate/teamsgate/internal/adminhttp"
	"github.com/teamsgate/teamsgate/internal/diag"
)

// adminHandler serves the admin listener:
//
//	GET  /healthz                 the process is alive
//	GET  /readyz                  it can serve: keys loaded, a healthy upstream, not draining
//	GET  /metrics                 Prometheus metrics
//	GET  /upstreams               groups, upstreams, health, active group
//	POST /upstreams/active?group= blue-green switch, answered once drained
//	POST /reload                  re-read the configuration (as SIGHUP)
//
// Every request passes adminhttp.Guard first (the probes pass it freely). It is
// built once the admin listener is open: the guard admits only a Host that
// names that listener.
func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := g.Ready(); !ok {
			writeText(w, http.StatusServiceUnavailable, why)
			return
		}
		writeText(w, http.StatusOK, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /upstreams", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, g.Status())
	})
	mux.HandleFunc("POST /upstreams/active", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("group")
		if name == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "give ?group=NAME"})
			return
		}
		res, err := g.Switch(name)
		switch {
		case errors.Is(err, errNoSuchGroup):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		case errors.Is(err, errUnhealthyGroup):
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		default:
			writeJSON(w, http.StatusOK, res)
		}
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), keysTimeout+10*time.Second)
		defer cancel()
		if err := g.ReloadFromSource(ctx); err != nil {
			var msgs []string
			for _, d := range diag.AsList(err) {
				msgs = append(msgs, d.String())
			}
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "reload rejected; the running configuration stays", "problems": msgs})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"result": "reloaded", "active": g.state.Load().pool.active.Load().name})
	})
	var self adminhttp.Self
	if g.adminLn != nil {
		self = adminhttp.SelfOf(g.adminLn.Addr())
	}
	return &adminhttp.Guard{Self: self, Token: func() *adminhttp.Digest { return g.state.Load().adminToken },
		Refused: adminhttp.RefusedCounter(g.metrics.reg, ns), Log: g.log, Next: mux}
}

// Ready reports whether the gateway can serve, and if not, why: it is not
// shutting down, it holds signing keys, and the active group has a healthy
// upstream.
func (g *Gateway) Ready() (bool, string) {
	if g.draining.Load() {
		return false, "shutting down"
	}
	st := g.state.Load()
	if st.auth.v.Stats().Keys == 0 {
		return false, "no Bot Framework signing keys yet"
	}
	if a := st.pool.active.Load(); !a.healthy() {
		return false, fmt.Sprintf("active upstream group %q has no healthy upstream", a.name)
	}
	return true, "ready"
}

// Status is the upstreams' state as /upstreams reports it.
type Status struct {
	Active string        `json:"active"`
	Groups []GroupStatus `json:"groups"`
}

// GroupStatus is one upstream group's state.
type GroupStatus struct {
	Name      string           `json:"name"`
	Healthy   bool             `json:"healthy"`
	InFlight  int64            `json:"in_flight"`
	Upstreams []UpstreamStatus `json:"upstreams"`
}

// UpstreamStatus is one upstream's state.
type UpstreamStatus struct {
	URL string `json:"url"`
	Up  bool   `json:"up"`
}

// Status returns the upstreams' current state.
func (g *Gateway) Status() Status {
	st := g.state.Load()
	s := Status{Active: st.pool.active.Load().name}
	for _, grp := range st.pool.order {
		gs := GroupStatus{Name: grp.name, Healthy: grp.healthy(), InFlight: grp.inflight.Load()}
		for _, u := range grp.ups {
			gs.Upstreams = append(gs.Upstreams, UpstreamStatus{URL: u.name, Up: u.up.Load()})
		}
		s.Groups = append(s.Groups, gs)
	}
	return s
}

func writeText(w http.ResponseWriter, status int, msg string) { adminhttp.WriteText(w, status, msg) }

func writeJSON(w http.ResponseWriter, status int, v any) { adminhttp.WriteJSON(w, status, v) }

// adminToken reads cfg's admin token file, at New and on every reload, and
// returns the token's digest, or nil when cfg names no file. A reload may
// not drop the token while the running admin listener (which only a
// restart moves) is off loopback.
func (g *Gateway) adminToken(cfg Config) (*adminhttp.Digest, error) {
	if cfg.AdminTokenFile == "" {
		if why := AdminExposure(g.running.AdminListen); why != "" {
			return nil, fmt.Errorf("no admin token file, but the running admin listener %q %s: it keeps needing a token until a restart", g.running.AdminListen, why)
		}
		return nil, nil
	}
	return adminhttp.TokenDigest(cfg.AdminTokenFile)
}
