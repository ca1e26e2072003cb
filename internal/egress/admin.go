package egress

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/teamsgate/teamsgate/internal/adminhttp"
	"github.com/teamsgate/teamsgate/internal/diag"
)

// adminHandler serves the admin listener:
//
//	GET  /healthz    the process is alive
//	GET  /readyz     it serves (not shutting down)
//	GET  /metrics    Prometheus metrics
//	GET  /proxy.pac  the proxy auto-config file
//	POST /reload     re-read the configuration (as SIGHUP)
//
// Every request passes adminhttp.Guard first, as the gateway's do.
func (p *Proxy) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		adminhttp.WriteText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if p.stopping.Load() {
			adminhttp.WriteText(w, http.StatusServiceUnavailable, "shutting down")
			return
		}
		adminhttp.WriteText(w, http.StatusOK, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /proxy.pac", func(w http.ResponseWriter, r *http.Request) {
		pac := p.state.Load().cfg.PAC
		if len(pac) == 0 {
			adminhttp.WriteText(w, http.StatusNotFound, "no proxy.pac: the allow list names no host, or the section gives no address for clients (pac_proxy)")
			return
		}
		w.Header().Set("Content-Type", "application/x-ns-proxy-autoconfig")
		w.Write(pac) //nolint:errcheck
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		if err := p.ReloadFromSource(); err != nil {
			var msgs []string
			for _, d := range diag.AsList(err) {
				msgs = append(msgs, d.String())
			}
			adminhttp.WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "reload rejected; the running configuration stays", "problems": msgs})
			return
		}
		adminhttp.WriteJSON(w, http.StatusOK, map[string]any{"result": "reloaded", "rules": len(p.state.Load().cfg.Rules)})
	})
	return &adminhttp.Guard{Self: adminhttp.SelfOf(p.adminLn.Addr()), Token: func() *adminhttp.Digest { return p.state.Load().adminToken },
		Refused: adminhttp.RefusedCounter(p.metrics.reg, ns), Log: p.log, Next: mux}
}
