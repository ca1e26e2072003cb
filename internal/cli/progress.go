package cli

import (
	"fmt"
	"sync"
	"time"
)

// progress shows how far long work is, on one line of standard error that
// it rewrites in place, when standard error is a terminal and the work has
// run longer than env.progressAfter. Elsewhere (a pipe, a CI log) it says
// nothing.
type progress struct {
	e     *env
	what  string
	start time.Time

	mu    sync.Mutex
	last  time.Time
	shown bool
}

// progressEvery is the least time between two redraws.
const progressEvery = 100 * time.Millisecond

func (e *env) progress(what string) *progress {
	return &progress{e: e, what: what, start: e.now()}
}

// update shows the stage, and done/total when total is known.
func (p *progress) update(stage string, done, total int) {
	if !p.e.tty {
		return
	}
	now := p.e.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.start) < p.e.progressAfter || p.shown && now.Sub(p.last) < progressEvery && (total == 0 || done+1 < total) {
		return
	}
	p.last, p.shown = now, true
	line := fmt.Sprintf("teamsgate: %s: %s", p.what, stage)
	if total > 0 {
		line += fmt.Sprintf(" %d/%d", done, total)
	}
	line += fmt.Sprintf(" (%s)", now.Sub(p.start).Round(time.Second))
	fmt.Fprintf(p.e.stderr, "\r\033[K%s", line)
}

// done clears the progress line, if one was shown.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.e.stderr, "\r\033[K")
		p.shown = false
	}
}
