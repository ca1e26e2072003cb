package botauth

import "fmt"

// Cloud names the Bot Framework cloud whose channel tokens a Validator
// accepts. It selects the token issuer and the OpenID metadata URL; it is
// always taken from configuration, never from the token (botauth.md §6.3).
// The zero value is treated by New as Worldwide.
type Cloud string

// The clouds of botauth.md §1.5. GCC (moderate) is not a separate Bot
// Framework cloud: it uses the public endpoints (an inference from DOC001,
// teams.py and teams.net that botauth.md §1.5 records). GCC High and DoD
// share one issuer and one metadata document.
const (
	Worldwide Cloud = "worldwide"
	GCC       Cloud = "gcc"
	GCCHigh   Cloud = "gcch"
	DoD       Cloud = "dod"
)

// Channel-token issuers and OpenID metadata URLs, botauth.md §1.5 (SPEC,
// GOVDOC, botbuilder-js authenticationConstants.ts / governmentConstants.ts,
// botbuilder-dotnet AuthenticationConstants.cs /
// GovernmentAuthenticationConstants.cs).
const (
	publicIssuer      = "https://api.botframework.com"
	publicMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	govIssuer         = "https://api.botframework.us"
	govMetadataURL    = "https://login.botframework.azure.us/v1/.well-known/openidconfiguration"
)

// String returns the cloud's configuration name.
func (c Cloud) String() string { return string(c) }

// CloudEndpoints returns the channel-token issuer and the OpenID metadata URL
// of cloud c (botauth.md §1.5 and §6.3). The empty Cloud is Worldwide.
func CloudEndpoints(c Cloud) (issuer, metadataURL string, err error) {
	switch c {
	case Worldwide, GCC, "":
		return publicIssuer, publicMetadataURL, nil
	case GCCHigh, DoD:
		return govIssuer, govMetadataURL, nil
	}
	return "", "", fmt.Errorf("unknown cloud %q: want %q, %q, %q or %q", string(c), Worldwide, GCC, GCCHigh, DoD)
}
