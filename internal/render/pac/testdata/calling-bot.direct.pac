// teamsgate pac configuration: cloud worldwide, catalog 2026.12.1
// integrations: teams-calling-bot
// scope: perimeter (forward) view
// teams-calling-bot.in.media: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// teams-calling-bot.in.signaling: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// teams-calling-bot.in.media-control: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// teams-calling-bot.out.m365.set11-udp: not rendered, pac filters host names and this rule has none (render it for an address-based target)
//
// The hosts and ports below go DIRECT; every other URL goes PROXY 192.0.2.3:3128.
// A PAC file steers clients, it enforces nothing: the proxy and the firewall
// do. It does not know the client's address either: serve it to the machines
// whose flows these are.

var teamsgateListed = "DIRECT";
var teamsgateOther = "PROXY 192.0.2.3:3128";

// teamsgateHost normalises the host FindProxyForURL gets: lower case, no
// trailing dot.
function teamsgateHost(host) {
  var h = String(host).toLowerCase();
  if (h.length > 0 && h.charAt(h.length - 1) == ".") {
    h = h.substring(0, h.length - 1);
  }
  return h;
}

// teamsgatePort is the port of the URL: the explicit one, or the scheme's
// default; -1 when unknown.
function teamsgatePort(url) {
  var s = String(url);
  var i = s.indexOf("://");
  if (i < 0) {
    return -1;
  }
  var scheme = s.substring(0, i).toLowerCase();
  var rest = s.substring(i + 3);
  var end = rest.search(/[\/?#]/);
  var auth = end < 0 ? rest : rest.substring(0, end);
  var at = auth.lastIndexOf("@");
  if (at >= 0) {
    auth = auth.substring(at + 1);
  }
  var colon = auth.lastIndexOf(":");
  if (colon >= 0 && colon > auth.lastIndexOf("]")) {
    var digits = auth.substring(colon + 1);
    return /^[0-9]{1,5}$/.test(digits) ? parseInt(digits, 10) : -1;
  }
  if (scheme == "http" || scheme == "ws") {
    return 80;
  }
  if (scheme == "https" || scheme == "wss") {
    return 443;
  }
  return -1;
}

// teamsgateOneLabel reports whether h is exactly one label in front of
// domain: "a.example.com" for "*.example.com", not "example.com" nor
// "a.b.example.com".
function teamsgateOneLabel(h, domain) {
  var i = h.indexOf(".");
  return i > 0 && h.substring(i + 1) == domain;
}

// teamsgatePortIn reports whether p is in one of the inclusive ranges
// [first, last].
function teamsgatePortIn(p, ranges) {
  for (var i = 0; i < ranges.length; i++) {
    if (ranges[i][0] <= p && p <= ranges[i][1]) {
      return true;
    }
  }
  return false;
}

function FindProxyForURL(url, host) {
  var h = teamsgateHost(host);
  var p = teamsgatePort(url);
  // teams-calling-bot.out.login: OAuth sign in URL
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "login.microsoftonline.com")) {
    return teamsgateListed;
  }
  // teams-calling-bot.out.oauth-scope: OAuth scope
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "api.botframework.com" || h == "api.aps.skype.com" || h == "pma.teams.microsoft.com" || h == "pma.cloud.microsoft")) {
    return teamsgateListed;
  }
  // teams-calling-bot.out.graph: Microsoft Graph API (required for calling bots: application permissions to control the call)
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "graph.microsoft.com")) {
    return teamsgateListed;
  }
  // teams-calling-bot.out.m365.set12-tcp: Skype for Business Online and Microsoft Teams
  if (teamsgatePortIn(p, [[80, 80], [443, 443]]) && (teamsgateOneLabel(h, "lync.com") || teamsgateOneLabel(h, "teams.cloud.microsoft") || teamsgateOneLabel(h, "teams.microsoft.com") || h == "teams.cloud.microsoft" || h == "teams.microsoft.com")) {
    return teamsgateListed;
  }
  // teams-calling-bot.out.m365.set16-tcp: Skype for Business Online and Microsoft Teams
  if (teamsgatePortIn(p, [[443, 443]]) && (teamsgateOneLabel(h, "keydelivery.mediaservices.windows.net") || teamsgateOneLabel(h, "streaming.mediaservices.windows.net"))) {
    return teamsgateListed;
  }
  // teams-calling-bot.out.m365.set17-tcp: Skype for Business Online and Microsoft Teams
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "aka.ms")) {
    return teamsgateListed;
  }
  // teams-calling-bot.out.m365.set19-tcp: Skype for Business Online and Microsoft Teams
  if (teamsgatePortIn(p, [[80, 80], [443, 443]]) && (h == "adl.windows.com")) {
    return teamsgateListed;
  }
  // teams-calling-bot.out.m365.set27-tcp: Skype for Business Online and Microsoft Teams
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "join.secure.skypeassets.com" || h == "mlccdnprod.azureedge.net")) {
    return teamsgateListed;
  }
  // teams-calling-bot.out.m365.set127-tcp: Skype for Business Online and Microsoft Teams
  if (teamsgatePortIn(p, [[80, 80], [443, 443]]) && (teamsgateOneLabel(h, "skype.com"))) {
    return teamsgateListed;
  }
  return teamsgateOther;
}
