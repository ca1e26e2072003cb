package ingress

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// LogWriter buffers log output whose every write would otherwise be a
// system call (standard error, a file): one line per request would cost a
// write per request. It flushes every interval, when the buffer fills and
// on Close, and never splits a Write, so slog's lines stay whole. It is
// what nginx's access_log buffer= and flush= do.
type LogWriter struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// NewLogWriter buffers up to size bytes for w and flushes every interval
// until Close.
func NewLogWriter(w io.Writer, size int, every time.Duration) *LogWriter {
	l := &LogWriter{w: bufio.NewWriterSize(w, size), stop: make(chan struct{}), done: make(chan struct{})}
	go l.loop(every)
	return l
}

func (l *LogWriter) loop(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.Flush() //nolint:errcheck // nowhere to report a failing log
		}
	}
}

// Write buffers p, flushing first if p does not fit.
func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(p) > l.w.Available() && l.w.Buffered() > 0 {
		if err := l.w.Flush(); err != nil {
			return 0, err
		}
	}
	return l.w.Write(p)
}

// Flush writes out what is buffered.
func (l *LogWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}

// Close stops the flusher and flushes.
func (l *LogWriter) Close() error {
	close(l.stop)
	<-l.done
	return l.Flush()
}
