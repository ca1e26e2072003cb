package egress

import (
	"io"
	"sync"
)

// bufSize is copyBuffer's buffer, io.Copy's own size.
const bufSize = 32 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// copyBuffer copies src to dst through a pooled buffer. It hides dst's
// ReadFrom and src's WriteTo, which would otherwise take a fresh buffer
// or a pipe of their own.
func copyBuffer(dst io.Writer, src io.Reader) (int64, error) {
	b := bufPool.Get().(*[]byte)
	defer bufPool.Put(b)
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *b)
}
