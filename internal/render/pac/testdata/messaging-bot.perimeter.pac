// teamsgate pac configuration: cloud worldwide, catalog 2026.12.1
// integrations: teams-messaging-bot
// scope: perimeter (forward) view
// teams-messaging-bot.in.activity: not rendered, the destination is the machines of role bot, bound to addresses: render it for an address-based target
//
// The hosts and ports below go PROXY 192.0.2.3:3128; every other URL goes DIRECT.
// A PAC file steers clients, it enforces nothing: the proxy and the firewall
// do. It does not know the client's address either: serve it to the machines
// whose flows these are.

var teamsgateListed = "PROXY 192.0.2.3:3128";
var teamsgateOther = "DIRECT";

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
  // teams-messaging-bot.out.login: OAuth login URL
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "login.microsoftonline.com")) {
    return teamsgateListed;
  }
  // teams-messaging-bot.out.botframework: OAuth scope
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "api.botframework.com")) {
    return teamsgateListed;
  }
  // teams-messaging-bot.out.graph: Microsoft Graph API (optional for messaging bots)
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "graph.microsoft.com")) {
    return teamsgateListed;
  }
  // teams-messaging-bot.out.openid: OpenID metadata and signing keys to validate the JWT in the Authorization header
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "login.botframework.com")) {
    return teamsgateListed;
  }
  // teams-messaging-bot.out.reply: Replies to the serviceUrl of each activity
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "smba.trafficmanager.net")) {
    return teamsgateListed;
  }
  return teamsgateOther;
}
