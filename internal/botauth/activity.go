package botauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxActivityBytes is the largest activity body ParseActivity reads. It is a
// ceiling against memory exhaustion, not a Bot Framework limit; the gateway
// applies its own, usually smaller, request body limit before calling
// ParseActivity.
const MaxActivityBytes = 1 << 20

// Activity holds the two root properties of a Bot Framework activity that
// token validation compares with the token and its signing key (botauth.md
// §1.3 check 7 and the endorsement check).
type Activity struct {
	// ChannelID is the activity's "channelId", "msteams" for Teams.
	ChannelID string
	// ServiceURL is the activity's "serviceUrl", where the bot replies.
	ServiceURL string
}

// The JSON names of the two properties, as the Bot Framework schema spells
// them.
const (
	channelIDField  = "channelId"
	serviceURLField = "serviceUrl"
)

// ParseActivity reads ChannelID and ServiceURL from an activity body.
//
// It tolerates unknown properties (activities carry many), but is strict
// where a lenient parser would let the gateway and the bot disagree about
// the serviceUrl the bot will send its Connector token to: the body must be
// one UTF-8 JSON object no larger than MaxActivityBytes; channelId and
// serviceUrl, when present, must be strings; and no two root properties may
// differ only in letter case (a case-insensitive deserializer such as
// Newtonsoft.Json in a .NET bot would otherwise read a different serviceUrl
// than this parser). Missing properties are not an error here: Validate
// rejects them with ChannelMissing or ActivityServiceURLMissing.
func ParseActivity(body []byte) (Activity, error) {
	var act Activity
	if len(body) > MaxActivityBytes {
		return act, fmt.Errorf("activity: body of %d bytes exceeds %d", len(body), MaxActivityBytes)
	}
	if !utf8.Valid(body) {
		return act, errors.New("activity: body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return act, fmt.Errorf("activity: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return act, errors.New("activity: body is not a JSON object")
	}
	seen := make(map[string]string) // foldKey(name) → name as sent
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return act, fmt.Errorf("activity: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return act, errors.New("activity: object key is not a string")
		}
		folded := foldKey(name)
		if prev, dup := seen[folded]; dup {
			return act, fmt.Errorf("activity: property %q repeats %q", name, prev)
		}
		seen[folded] = name
		switch {
		case name == channelIDField:
			act.ChannelID, err = decodeString(dec, name)
		case name == serviceURLField:
			act.ServiceURL, err = decodeString(dec, name)
		case folded == foldKey(channelIDField), folded == foldKey(serviceURLField):
			return act, fmt.Errorf("activity: property %q: want the exact name", name)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
			if err != nil {
				err = fmt.Errorf("property %q: %w", name, err)
			}
		}
		if err != nil {
			return act, fmt.Errorf("activity: %w", err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return act, fmt.Errorf("activity: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return act, errors.New("activity: data after the JSON object")
	}
	return act, nil
}

// foldKey maps s to a canonical form under Unicode simple case folding, so
// that foldKey(a) == foldKey(b) exactly when strings.EqualFold(a, b). This
// also catches names that only a case-insensitive deserializer equates,
// such as "ſerviceUrl" (U+017F LATIN SMALL LETTER LONG S) and "serviceUrl".
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

// decodeString decodes the next value of dec, which must be a JSON string.
func decodeString(dec *json.Decoder, name string) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("property %q: %w", name, err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("property %q: want a string, got %s", name, jsonKind(tok))
	}
	return s, nil
}

// jsonKind names the JSON type of a json.Decoder token for error messages.
func jsonKind(tok json.Token) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64, json.Number:
		return "a number"
	case json.Delim:
		if t == '[' {
			return "an array"
		}
		return "an object"
	}
	return fmt.Sprintf("%T", tok)
}
