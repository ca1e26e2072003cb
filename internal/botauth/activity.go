package botauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

var (
	channelIDName  = []byte(channelIDField)
	serviceURLName = []byte(serviceURLField)
)

// ParseActivity reads ChannelID and ServiceURL from an activity body.
//
// It tolerates unknown properties (activities carry many), but is strict
// where a lenient parser would let the gateway and the bot disagree about
// the values checked: the body must be one UTF-8 JSON object no larger than
// MaxActivityBytes; channelId and serviceUrl, when present, must be
// strings; each may appear once; and a property whose name equals either
// only under case folding (such as "ServiceUrl", or "ſerviceUrl" with
// U+017F) is refused, since a case-insensitive deserializer such as
// Newtonsoft.Json in a .NET bot would read it as serviceUrl. Missing
// properties are not an error here: Validate rejects them with
// ChannelMissing or ActivityServiceURLMissing.
func ParseActivity(body []byte) (Activity, error) {
	var act Activity
	if len(body) > MaxActivityBytes {
		return act, fmt.Errorf("activity: body of %d bytes exceeds %d", len(body), MaxActivityBytes)
	}
	if !utf8.Valid(body) {
		return act, errors.New("activity: body is not valid UTF-8")
	}
	if !json.Valid(body) {
		// Let encoding/json say what is wrong.
		var v any
		err := json.Unmarshal(body, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return act, fmt.Errorf("activity: %w", err)
	}
	// From here on body is one valid JSON value, which the walk below
	// relies on.
	i := skipSpace(body, 0)
	if body[i] != '{' {
		return act, errors.New("activity: body is not a JSON object")
	}
	var haveChannel, haveServiceURL bool
	for i = skipSpace(body, i+1); body[i] != '}'; i = skipSpace(body, i) {
		if body[i] == ',' {
			i = skipSpace(body, i+1)
		}
		end := skipString(body, i)
		name, err := unquote(body[i:end])
		if err != nil {
			return act, fmt.Errorf("activity: %w", err)
		}
		i = skipSpace(body, end) + 1 // past ':'
		i = skipSpace(body, i)
		vend := skipValue(body, i)
		value := body[i:vend]
		i = vend

		var field *string
		var seen *bool
		switch {
		case bytes.Equal(name, channelIDName):
			field, seen = &act.ChannelID, &haveChannel
		case bytes.Equal(name, serviceURLName):
			field, seen = &act.ServiceURL, &haveServiceURL
		case bytes.EqualFold(name, channelIDName), bytes.EqualFold(name, serviceURLName):
			return act, fmt.Errorf("activity: property %q: want the exact name %q or %q", name, channelIDField, serviceURLField)
		default:
			continue
		}
		if *seen {
			return act, fmt.Errorf("activity: property %q appears twice", name)
		}
		*seen = true
		if value[0] != '"' {
			return act, fmt.Errorf("activity: property %q: want a string, got %s", name, jsonKind(value[0]))
		}
		s, err := unquote(value)
		if err != nil {
			return act, fmt.Errorf("activity: property %q: %w", name, err)
		}
		*field = string(s)
	}
	return act, nil
}

// skipSpace returns the index of the first non-whitespace byte at or
// after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the JSON string starting at
// b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index just past the JSON value starting at i.
// b must be valid JSON.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// unquote returns the contents of the valid JSON string q, decoding
// escapes only when there are any.
func unquote(q []byte) ([]byte, error) {
	inner := q[1 : len(q)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, nil
	}
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// jsonKind names the JSON type of a value by its first byte.
func jsonKind(c byte) string {
	switch c {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '[':
		return "an array"
	case '{':
		return "an object"
	}
	return "a number"
}
