package botauth

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseActivity: no input panics, and whatever ParseActivity accepts
// is valid JSON that encoding/json reads the same way.
func FuzzParseActivity(f *testing.F) {
	for _, s := range []string{
		`{"type":"message","from":{"id":"29:1"},"channelId":"msteams","serviceUrl":"https://x/","e":[1,null,true]}`,
		`{"channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/teams/"}`,
		`{"serviceUrl":"a","ServiceUrl":"b"}`,
		`{"ſerviceUrl":"x"}`,
		`{"channelId":null}`,
		`[]`, `{}`, `{} {}`, `"x"`, ``, `{"a":[{"b":{}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		act, err := ParseActivity(body)
		if err != nil {
			return
		}
		if !json.Valid(body) || !utf8.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("accepted %q that encoding/json refuses: %v", body, err)
		}
		for name, got := range map[string]string{channelIDField: act.ChannelID, serviceURLField: act.ServiceURL} {
			for k, v := range m {
				if strings.EqualFold(k, name) {
					if k != name || v != got {
						t.Fatalf("%q: property %q = %v, ParseActivity read %q", body, k, v, got)
					}
				}
			}
		}
	})
}

// FuzzValidate: no Authorization header or serviceUrl panics, and only the
// genuine token with a matching serviceUrl is ever accepted.
func FuzzValidate(f *testing.F) {
	testKeys(f)
	is := newIssuer(f, standardKeys(f)...)
	v := mustValidator(f, is, newClock(base), nil)
	genuine := "Bearer " + sign(f, rsVerify, mainKey, "k1", claimsAt(base))
	for _, s := range []string{
		genuine,
		genuine + " x",
		"bearer " + strings.TrimPrefix(genuine, "Bearer "),
		"Bearer " + sign(f, rsVerify, attackerKey, "k1", claimsAt(base)),
		"Bearer " + sign(f, rsVerify, mainKey, "k-unknown", claimsAt(base)),
		"Bearer " + sign(f, rsVerify, mainKey, "k-webchat", claimsAt(base)),
		"Bearer e30.e30.",
		"Bearer ...",
		"",
	} {
		f.Add(s, teamsURL)
	}
	f.Add(genuine, "https://evil.trafficmanager.net/teams/")
	f.Fuzz(func(t *testing.T, header, serviceURL string) {
		got := v.Validate(context.Background(), header, Activity{ChannelID: "msteams", ServiceURL: serviceURL})
		if got.Reason >= numReasons || got.Reason == Unknown {
			t.Fatalf("Validate returned reason %d", got.Reason)
		}
		if got.OK() && (header != genuine || !sameServiceURL(teamsURL, serviceURL)) {
			t.Fatalf("accepted header %q with serviceUrl %q", header, serviceURL)
		}
	})
}
