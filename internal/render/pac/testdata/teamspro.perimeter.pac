// teamsgate pac configuration: cloud worldwide, catalog 2026.12.1
// integrations: teamspro-saas
// scope: perimeter (forward) view
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
  // teamspro-saas.apps: for the apps including help contents
  if (teamsgatePortIn(p, [[443, 443]]) && (teamsgateOneLabel(h, "teams-pro.com"))) {
    return teamsgateListed;
  }
  // teamspro-saas.metrics: for performance metrics analysis
  if (teamsgatePortIn(p, [[443, 443]]) && (teamsgateOneLabel(h, "msecnd.net") || teamsgateOneLabel(h, "visualstudio.com"))) {
    return teamsgateListed;
  }
  // teamspro-saas.blob-cache: for blob cache storage
  if (teamsgatePortIn(p, [[443, 443]]) && (teamsgateOneLabel(h, "windows.net"))) {
    return teamsgateListed;
  }
  // teamspro-saas.graph-access: for Microsoft Graph API access
  if (teamsgatePortIn(p, [[443, 443]]) && (teamsgateOneLabel(h, "microsoft.com"))) {
    return teamsgateListed;
  }
  // teamspro-saas.web-app: TeamsPro web applications for Microsoft Teams
  // (same hosts and ports as above)
  // teamspro-saas.help-center: TeamsPro Help Center
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "docs.teams-pro.com")) {
    return teamsgateListed;
  }
  // teamspro-saas.trust-center: TeamsPro Trust Center
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "trust.teams-pro.com")) {
    return teamsgateListed;
  }
  // teamspro-saas.admin-center: Admin center of TeamsPro
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "admin.teams-pro.com")) {
    return teamsgateListed;
  }
  // teamspro-saas.subscription: Subscription management for TeamsPro licence
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "subscription.witivio.com")) {
    return teamsgateListed;
  }
  // teamspro-saas.app-insights: Azure service used by TeamsPro to collect anonymous performance metrics, telemetry and application logs/traces
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "az416426.vo.msecnd.net" || h == "dc.services.visualstudio.com")) {
    return teamsgateListed;
  }
  // teamspro-saas.graph: API used by TeamsPro to interact with Microsoft 365 services
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "graph.microsoft.com")) {
    return teamsgateListed;
  }
  // teamspro-saas.chargebee: Subscription and billing management
  if (teamsgatePortIn(p, [[443, 443]]) && (teamsgateOneLabel(h, "chargebee.com"))) {
    return teamsgateListed;
  }
  // teamspro-saas.intercom: Support management
  if (teamsgatePortIn(p, [[443, 443]]) && (teamsgateOneLabel(h, "intercom.com"))) {
    return teamsgateListed;
  }
  return teamsgateOther;
}
