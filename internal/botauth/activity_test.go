package botauth

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// teamsBody is a Teams message activity, shortened.
const teamsBody = `{
  "text": "hello",
  "textFormat": "plain",
  "type": "message",
  "timestamp": "2026-03-02T12:00:00.000Z",
  "id": "1772452800000",
  "channelId": "msteams",
  "serviceUrl": "https://smba.trafficmanager.net/teams/",
  "from": {"id": "29:1abc", "name": "A User", "aadObjectId": "6a1c2f3e-0000-4000-8000-000000000001"},
  "conversation": {"conversationType": "personal", "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "id": "a:1xyz"},
  "recipient": {"id": "28:8e6b1a4c-52d1-4d47-9d0c-3c6b6d1f2a11", "name": "Bot"},
  "entities": [{"locale": "en-US", "type": "clientInfo"}],
  "channelData": {"tenant": {"id": "72f988bf-86f1-41af-91ab-2d7cd011db47"}},
  "locale": "en-US",
  "attachments": [],
  "value": null
}`

func TestParseActivity(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Activity
		wantErr string // substring; empty means no error
	}{
		{name: "teams-message", body: teamsBody, want: teamsActivity},
		{name: "minimal", body: `{"channelId":"msteams","serviceUrl":"https://x/"}`, want: Activity{ChannelID: "msteams", ServiceURL: "https://x/"}},
		{name: "unknown-fields-of-every-type", body: `{"a":1,"b":[1,{"c":null}],"d":{"e":"f"},"g":true,"h":null,"channelId":"msteams"}`, want: Activity{ChannelID: "msteams"}},
		{name: "missing-both", body: `{"type":"message"}`, want: Activity{}},
		{name: "empty-object", body: ` { } `, want: Activity{}},
		{name: "escaped-name", body: `{"\u0073erviceUrl":"https://x/"}`, want: Activity{ServiceURL: "https://x/"}},
		{name: "escaped-value", body: `{"serviceUrl":"https:\/\/x\/"}`, want: Activity{ServiceURL: "https://x/"}},

		{name: "empty-body", body: ``, wantErr: "end of JSON input"},
		{name: "not-json", body: `channelId=msteams`, wantErr: "invalid character"},
		{name: "array", body: `[{"channelId":"msteams"}]`, wantErr: "not a JSON object"},
		{name: "string", body: `"msteams"`, wantErr: "not a JSON object"},
		{name: "null", body: `null`, wantErr: "not a JSON object"},
		{name: "two-objects", body: `{} {}`, wantErr: "invalid character"},
		{name: "trailing-garbage", body: `{}x`, wantErr: "invalid character"},
		{name: "truncated", body: `{"channelId":"msteams"`, wantErr: "end of JSON input"},
		{name: "whitespace-everywhere", body: "\r\n\t{ \"a\" : [ 1 , \"]\\\"}\" ] , \"channelId\" :\n\"msteams\" , \"b\":{\"serviceUrl\":\"nested\"}\t}\n", want: Activity{ChannelID: "msteams"}},
		{name: "nested-serviceurl-ignored", body: `{"x":{"serviceUrl":"https://evil/"},"serviceUrl":"https://x/"}`, want: Activity{ServiceURL: "https://x/"}},
		{name: "numbers-and-literals", body: `{"a":-1.5e3,"b":true,"c":false,"d":null,"channelId":"msteams","e":0}`, want: Activity{ChannelID: "msteams"}},
		{name: "invalid-utf8", body: "{\"channelId\":\"ms\xfftea\"}", wantErr: "UTF-8"},
		{name: "too-large", body: `{"x":"` + strings.Repeat("a", MaxActivityBytes) + `"}`, wantErr: "exceeds"},
		{name: "channel-number", body: `{"channelId":1}`, wantErr: "want a string, got a number"},
		{name: "channel-null", body: `{"channelId":null}`, wantErr: "got null"},
		{name: "channel-object", body: `{"channelId":{"id":"msteams"}}`, wantErr: "got an object"},
		{name: "serviceurl-array", body: `{"serviceUrl":["https://x/"]}`, wantErr: "got an array"},
		{name: "serviceurl-bool", body: `{"serviceUrl":true}`, wantErr: "got a boolean"},
		{name: "duplicate-serviceurl", body: `{"serviceUrl":"https://smba.trafficmanager.net/teams/","serviceUrl":"https://evil/"}`, wantErr: "twice"},
		{name: "duplicate-channelid", body: `{"channelId":"msteams","channelId":"webchat"}`, wantErr: "twice"},
		{name: "serviceurl-case-variant-alone", body: `{"ServiceUrl":"https://evil/"}`, wantErr: "exact name"},
		{name: "serviceurl-case-variant-after", body: `{"serviceUrl":"https://smba.trafficmanager.net/teams/","SERVICEURL":"https://evil/"}`, wantErr: "exact name"},
		{name: "serviceurl-long-s", body: `{"serviceUrl":"https://smba.trafficmanager.net/teams/","ſerviceUrl":"https://evil/"}`, wantErr: "exact name"},
		{name: "channel-kelvin", body: `{"channelId":"msteams","channelId` + "\u212a" + `":"x"}`, want: Activity{ChannelID: "msteams"}},
		{name: "channelid-case-variant", body: `{"channelID":"msteams"}`, wantErr: "exact name"},
		{name: "duplicate-unknown-tolerated", body: `{"type":"message","type":"invoke","channelId":"msteams"}`, want: Activity{ChannelID: "msteams"}},
		{name: "bad-nested-value", body: `{"from":{"id":}}`, wantErr: "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseActivity([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseActivity error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseActivity: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseActivity (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVector23ActivityBody: a body that is not an activity, or that lacks
// serviceUrl or channelId, is rejected although the token is valid.
func TestVector23ActivityBody(t *testing.T) {
	testKeys(t)
	is := newIssuer(t, standardKeys(t)...)
	v := mustValidator(t, is, newClock(base), nil)
	h := "Bearer " + sign(t, rsVerify, mainKey, "k1", claimsAt(base))
	for _, tt := range []struct {
		name string
		body string
		want Reason
	}{
		{name: "teams-message", body: teamsBody, want: OK},
		{name: "not-json", body: `<activity/>`, want: BadActivity},
		{name: "no-serviceurl", body: `{"channelId":"msteams","type":"message"}`, want: ActivityServiceURLMissing},
		{name: "no-channelid", body: `{"serviceUrl":"https://smba.trafficmanager.net/teams/"}`, want: ChannelMissing},
		{name: "ambiguous-serviceurl", body: `{"channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/teams/","ServiceURL":"https://evil/"}`, want: BadActivity},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The gateway's sequence: parse the body, then validate.
			got := BadActivity
			if act, err := ParseActivity([]byte(tt.body)); err == nil {
				got = v.Validate(context.Background(), h, act).Reason
			}
			if got != tt.want {
				t.Errorf("reason = %v, want %v", got, tt.want)
			}
		})
	}
	if s := BadActivity.HTTPStatus(); s != http.StatusBadRequest {
		t.Errorf("BadActivity.HTTPStatus() = %d", s)
	}
}
