package egress

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// maxHello bounds the bytes read while looking for a ClientHello: one
// with post-quantum key shares and many extensions is a few kilobytes;
// anything longer is not one a browser or an SDK sends.
const maxHello = 64 << 10

// errNotTLS: the stream does not start with a TLS handshake record.
var errNotTLS = errors.New("not a TLS handshake")

// errBadHello: the stream starts like TLS but does not carry a ClientHello
// that parses.
var errBadHello = errors.New("malformed ClientHello")

// TLS record layer (RFC 8446 §5.1) and handshake (§4) constants.
const (
	recordHeaderLen     = 5
	recordTypeHandshake = 0x16
	maxRecordLen        = 1<<14 + 2048 // what crypto/tls accepts in the first record
	handshakeHeaderLen  = 4
	typeClientHello     = 1
	extServerName       = 0
	nameTypeHostName    = 0
)

// peekHello reads the client's ClientHello from r without answering it and
// returns the server name it asks for and every byte read, to be sent on
// to the upstream unchanged. The ClientHello may span several handshake
// records; nothing past the records that carry it is read. It is parsed
// with cryptobyte as crypto/tls parses it, held to crypto/tls's reading of
// the server name (RFC 6066 §3: one host name at most, no trailing dot, no
// extension twice), so that the name checked is the one a TLS server sees:
// a test holds it to crypto/tls's own parse on every input it accepts.
// This costs a fraction of a crypto/tls server handshake stopped at
// GetConfigForClient, which is what it replaces. Nothing is decrypted.
func peekHello(r *bufio.Reader, deadline func(time.Time) error, timeout time.Duration) (sni string, read []byte, err error) {
	if err := deadline(time.Now().Add(timeout)); err != nil {
		return "", nil, err
	}
	defer deadline(time.Time{}) //nolint:errcheck // cleared below or the conn is closed
	first, err := r.Peek(1)
	if err != nil {
		return "", nil, err
	}
	if first[0] != recordTypeHandshake {
		return "", nil, errNotTLS
	}
	read = make([]byte, 0, 2048)
	var msg []byte // the handshake bytes of the records read so far
	for {
		start := len(read)
		if read, err = readFull(r, read, recordHeaderLen); err != nil {
			return "", read, err
		}
		hdr := read[start:]
		if hdr[0] != recordTypeHandshake || hdr[1] >= 0x10 {
			return "", read, fmt.Errorf("%w: record type %#x, version %#x%02x where a handshake record was due", errBadHello, hdr[0], hdr[1], hdr[2])
		}
		n := int(hdr[3])<<8 | int(hdr[4])
		if n == 0 || n > maxRecordLen || len(read)+n > maxHello {
			return "", read, fmt.Errorf("%w: a handshake record of %d bytes", errBadHello, n)
		}
		if read, err = readFull(r, read, n); err != nil {
			return "", read, err
		}
		if msg == nil {
			// capped: appending the next record's bytes copies, and
			// leaves read as it came
			msg = read[start+recordHeaderLen : len(read) : len(read)]
		} else {
			msg = append(msg, read[len(read)-n:]...)
		}
		if len(msg) < handshakeHeaderLen {
			continue
		}
		if msg[0] != typeClientHello {
			return "", read, fmt.Errorf("%w: handshake message type %d, not a ClientHello", errBadHello, msg[0])
		}
		size := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3])
		if handshakeHeaderLen+size > maxHello {
			return "", read, fmt.Errorf("%w: %d bytes", errBadHello, size)
		}
		if len(msg) < handshakeHeaderLen+size {
			continue
		}
		// bytes after it in its records are the client's next message,
		// passed on unread as crypto/tls would leave them
		name, err := serverName(msg[handshakeHeaderLen : handshakeHeaderLen+size])
		if err != nil {
			return "", read, err
		}
		return strings.ToLower(name), read, nil
	}
}

// readFull appends n bytes read from r to b; on an error, what was read.
func readFull(r io.Reader, b []byte, n int) ([]byte, error) {
	l := len(b)
	b = slices.Grow(b, n)[:l+n]
	if k, err := io.ReadFull(r, b[l:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: the stream ended in it", errBadHello)
		}
		return b[:l+k], err
	}
	return b, nil
}

// serverName parses a ClientHello's body (RFC 8446 §4.1.2) and returns the
// host name of its server_name extension, or "" when it has none.
func serverName(body []byte) (string, error) {
	s := cryptobyte.String(body)
	var (
		version                            uint16
		random                             []byte
		sessionID, suites, compressions, x cryptobyte.String
	)
	// as leniently as crypto/tls parses them: the rules on their values
	// are the TLS server's to apply
	if !s.ReadUint16(&version) || !s.ReadBytes(&random, 32) ||
		!s.ReadUint8LengthPrefixed(&sessionID) ||
		!s.ReadUint16LengthPrefixed(&suites) || len(suites)%2 != 0 ||
		!s.ReadUint8LengthPrefixed(&compressions) {
		return "", fmt.Errorf("%w: its fixed fields", errBadHello)
	}
	if s.Empty() {
		return "", nil // no extensions
	}
	if !s.ReadUint16LengthPrefixed(&x) || !s.Empty() {
		return "", fmt.Errorf("%w: its extensions", errBadHello)
	}
	var seenBuf [32]uint16
	seen := seenBuf[:0]
	name := ""
	for !x.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !x.ReadUint16(&typ) || !x.ReadUint16LengthPrefixed(&data) {
			return "", fmt.Errorf("%w: its extensions", errBadHello)
		}
		if slices.Contains(seen, typ) {
			return "", fmt.Errorf("%w: extension %d twice", errBadHello, typ)
		}
		seen = append(seen, typ)
		if typ != extServerName {
			continue
		}
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() || list.Empty() {
			return "", fmt.Errorf("%w: its server_name extension", errBadHello)
		}
		for !list.Empty() {
			var nameType uint8
			var host cryptobyte.String
			if !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&host) || len(host) == 0 {
				return "", fmt.Errorf("%w: its server_name extension", errBadHello)
			}
			if nameType != nameTypeHostName {
				continue
			}
			if name != "" {
				return "", fmt.Errorf("%w: two host names", errBadHello)
			}
			name = string(host)
			if strings.HasSuffix(name, ".") {
				return "", fmt.Errorf("%w: server name %q ends in a dot", errBadHello, name)
			}
		}
	}
	return name, nil
}
