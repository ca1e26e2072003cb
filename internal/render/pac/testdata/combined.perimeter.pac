// teamsgate pac configuration: cloud worldwide, catalog 2026.12.1
// integrations: pexip-teams-connector, teams-calling-bot, teams-messaging-bot, teamspro-saas
// scope: perimeter (forward) view
// plan warning: pexip-teams-connector: role "event-hub" not bound: Azure Event Hubs namespaces are <name>.servicebus.windows.net; bind event-hub to your namespace to narrow the rule
// plan warning: pexip-teams-connector.instance-to-cn.signaling: to be confirmed: the destination port cell is lost in the source text; 4277 is certain from the row's note, 443 is the likely companion (docs/reference/endpoints.md §6)
// plan warning: pexip-teams-connector: role "ocsp-responder" not bound: TCP 80 is allowed to the public Internet (every address but private and other special-use space); bind ocsp-responder to the OCSP hosts named in your certificates' AIA to narrow it
// plan warning: pexip-teams-connector: role "windows-update" not bound: TCP 80/443 is allowed to the public Internet (every address but private and other special-use space); bind windows-update to your update servers (or use an FQDN-aware target) to narrow it
// plan warning: pexip-teams-connector.teams-to-lb.signaling: to be confirmed: the destination port cell is lost in the source text (five blank lines); 10101, 11000-11399 and 12000-12399 fit the NSG's internal ports and per-instance NAT ranges (docs/reference/endpoints.md §6); confirm against a deployed Teams Connector NSG
// pexip-teams-connector.cn-to-instance.signaling: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.cn-to-instance.media: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.instance-to-teams.signaling: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.instance-to-cn.signaling: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.instance-to-cn.media: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.instance-to-teams.media: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.instance-to-ocsp: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.instance-to-windows-update: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.teams-to-instance.media: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.rdp-deny: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.any-to-cn.dial-instructions: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// teams-calling-bot.in.media: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// teams-calling-bot.in.signaling: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// teams-calling-bot.in.media-control: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// teams-calling-bot.out.m365.set11-udp: not rendered, pac filters host names and this rule has none (render it for an address-based target)
// pexip-teams-connector.cn-to-lb.signaling: not rendered, the destination is the machines of role teams-connector-lb, bound to addresses: render it for an address-based target
// pexip-teams-connector.teams-to-lb.signaling: not rendered, the destination is the machines of role teams-connector-lb, bound to addresses: render it for an address-based target
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
  // pexip-teams-connector.mgmt-node-to-eventhub: Advanced status reporting to the Azure Event Hub
  if (teamsgatePortIn(p, [[5671, 5671]]) && (teamsgateOneLabel(h, "servicebus.windows.net"))) {
    return teamsgateListed;
  }
  // pexip-teams-connector.instance-to-eventhub: Advanced status reporting to the Azure Event Hub; this port is managed by the Azure NSG
  // (same hosts and ports as above)
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
  // teams-messaging-bot.out.login: OAuth login URL
  // (same hosts and ports as above)
  // teams-messaging-bot.out.botframework: OAuth scope
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "api.botframework.com")) {
    return teamsgateListed;
  }
  // teams-messaging-bot.out.graph: Microsoft Graph API (optional for messaging bots)
  // (same hosts and ports as above)
  // teams-messaging-bot.out.openid: OpenID metadata and signing keys to validate the JWT in the Authorization header
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "login.botframework.com")) {
    return teamsgateListed;
  }
  // teams-messaging-bot.out.reply: Replies to the serviceUrl of each activity
  if (teamsgatePortIn(p, [[443, 443]]) && (h == "smba.trafficmanager.net")) {
    return teamsgateListed;
  }
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
  // (same hosts and ports as above)
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
