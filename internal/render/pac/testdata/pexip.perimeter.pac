// teamsgate pac configuration: cloud worldwide, catalog 2026.12.1
// integrations: pexip-teams-connector
// scope: perimeter (forward) view
// plan warning: pexip-teams-connector.instance-to-cn.signaling: to be confirmed: the destination port cell is lost in the source text; 4277 is certain from the row's note, 443 is the likely companion (docs/reference/endpoints.md §6)
// plan warning: pexip-teams-connector: role "ocsp-responder" not bound: TCP 80 is allowed to the public Internet (every address but private and other special-use space); bind ocsp-responder to the OCSP hosts named in your certificates' AIA to narrow it
// plan warning: pexip-teams-connector: role "windows-update" not bound: TCP 80/443 is allowed to the public Internet (every address but private and other special-use space); bind windows-update to your update servers (or use an FQDN-aware target) to narrow it
// plan warning: pexip-teams-connector.teams-to-lb.signaling: to be confirmed: the destination port cell is lost in the source text (five blank lines); 10101, 11000-11399 and 12000-12399 fit the NSG's internal ports and per-instance NAT ranges (docs/reference/endpoints.md §6); confirm against a deployed Teams Connector NSG
// pexip-teams-connector.cn-to-instance.signaling: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.cn-to-instance.media: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.instance-to-teams.signaling: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.instance-to-teams.media: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.instance-to-ocsp: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.instance-to-windows-update: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.teams-to-instance.media: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.mgmt-to-instance.rdp: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.cn-to-lb.signaling: not rendered, the destination is the machines of role teams-connector-lb, bound to addresses: render it for an address-based target
// pexip-teams-connector.instance-to-cn.signaling: not rendered, the destination is the machines of role conferencing-nodes, bound to addresses: render it for an address-based target
// pexip-teams-connector.instance-to-cn.media: not rendered, the destination is the machines of role conferencing-nodes, bound to addresses: render it for an address-based target
// pexip-teams-connector.teams-to-lb.signaling: not rendered, the destination is the machines of role teams-connector-lb, bound to addresses: render it for an address-based target
// pexip-teams-connector.mgmt-to-lb.rdp: not rendered, the destination is the machines of role teams-connector-lb, bound to addresses: render it for an address-based target
// pexip-teams-connector.any-to-cn.dial-instructions: not rendered, the destination is the machines of role conferencing-nodes, bound to addresses: render it for an address-based target
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
  // pexip-teams-connector.mgmt-node-to-eventhub: Advanced status reporting to the Azure Event Hub
  if (teamsgatePortIn(p, [[5671, 5671]]) && (h == "contoso-tc-eh.servicebus.windows.net")) {
    return teamsgateListed;
  }
  // pexip-teams-connector.instance-to-eventhub: Advanced status reporting to the Azure Event Hub; this port is managed by the Azure NSG
  // (same hosts and ports as above)
  return teamsgateOther;
}
