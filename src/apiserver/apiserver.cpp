#include "apiserver/apiserver.h"
#include "apiserver/rbac_admission.h"
#include "apiserver/impersonation.h"
#include "apiserver/access_reviews.h"

#include "apiserver/requester_admission.h"
#include "auth/request_info.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "http/websocket.h"

#include <boost/json.hpp>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <random>
#include <set>
#include <deque>
#include <fstream>
#include <thread>

#include "api/codec.h"
#include "api/conversion.h"
#include "api/object.h"
#include "api/structural_schema.h"
#include "api/table.h"
#include "observe/metrics.h"
#include "api/admission.h"
#include "api/patch.h"
#include "api/protobuf.h"
#include "apiserver/openapi.h"
#include "apiserver/pod_eviction.h"
#include "common/log.h"

namespace skiff::apiserver {
using http::Headers;
namespace {

constexpr const char* kKubernetesVersion = "v1.32.0";

http::Response jsonResponse(int status, const json::value& body) {
  return http::Response{status, "application/json", {}, json::serialize(body)};
}

http::Response errorResponse(const Error& e, const std::string& name = "", const std::string& group = "",
                             const std::string& kind = "") {
  return http::Response{e.code, "application/json", {}, statusBody(e, name, group, kind)};
}

bool wantsTable(const http::Request& req) {
  std::string accept = req.header("accept");
  return accept.find("as=Table") != std::string::npos;
}

// client-go's metadata client: `Accept: application/json;as=PartialObjectMetadata(List);g=meta.k8s.io;v=v1`
// gets only the objects' metadata.
bool wantsPartialMetadata(const http::Request& req) {
  std::string accept = req.header("accept");
  return accept.find("as=PartialObjectMetadata") != std::string::npos;
}

json::value partialMetadata(const json::value& object) {
  const json::value* meta = api::valueAt(object, "metadata");
  return json::object{{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", meta ? *meta : json::object()}};
}

bool wantsYaml(const http::Request& req) {
  std::string accept = req.header("accept");
  return accept.starts_with("application/yaml");
}

http::Response objectResponse(const http::Request& req, int status, const json::value& object) {
  if (wantsYaml(req)) return http::Response{status, "application/yaml", {}, api::toYaml(object)};
  return jsonResponse(status, object);
}

api::TableObject includeObject(const http::Request& req) {
  std::string v = req.queryValue("includeObject");
  if (v == "None") return api::TableObject::None;
  if (v == "Object") return api::TableObject::Object;
  return api::TableObject::Metadata;
}

json::array verbsFor(bool subresource) {
  if (subresource) return {"get", "patch", "update"};
  return {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
}

}  // namespace

std::string statusBody(const Error& e, const std::string& name, const std::string& group, const std::string& kind) {
  json::object status{{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", json::object()}, {"status", "Failure"},
                      {"message", e.message}, {"reason", e.reason}, {"code", e.code}};
  json::object details;
  if (!name.empty()) details["name"] = name;
  if (!group.empty()) details["group"] = group;
  if (!kind.empty()) details["kind"] = kind;
  if (!e.causes.empty()) {
    json::array causes;
    for (const auto& c : e.causes) causes.push_back(json::object{{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
    details["causes"] = std::move(causes);
  }
  if (!details.empty()) status["details"] = std::move(details);
  return json::serialize(status);
}

struct ApiServer::Route {
  const api::ResourceType* type = nullptr;
  std::string ns;
  std::string name;
  std::string subresource;
};

namespace {

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

// Resolves /api/v1/... and /apis/<group>/<version>/... to a resource route.
Result<bool> parseResourcePath(const std::vector<std::string>& parts, const CustomResources* custom, const api::ResourceType*& type,
                               std::string& ns, std::string& name, std::string& sub) {
  size_t i;
  std::string group, version;
  if (parts.size() >= 3 && parts[0] == "api") {
    version = parts[1];
    i = 2;
  } else if (parts.size() >= 4 && parts[0] == "apis") {
    group = parts[1];
    version = parts[2];
    i = 3;
  } else {
    return false;
  }
  std::vector<std::string> rest(parts.begin() + long(i), parts.end());
  // namespaces/<ns>/<resource>/... addresses namespaced resources; namespaces/<name>[/sub] is the Namespace.
  if (rest.size() >= 3 && rest[0] == "namespaces") {
    ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  type = api::findByPlural(group, version, rest[0]);
  if (!type && custom) type = custom->findByPlural(group, version, rest[0]);
  if (!type) {
    std::string gv = group.empty() ? version : group + "/" + version;
    return Error::notFound("the server could not find the requested resource: " + rest[0] + " is not served in " + gv);
  }
  if (!ns.empty() && !type->namespaced)
    return Error::notFound("the server could not find the requested resource: " + type->plural + " is not namespaced");
  if (rest.size() >= 2) name = rest[1];
  if (rest.size() >= 3) sub = rest[2];
  if (rest.size() > 3) return Error::notFound("the server could not find the requested resource");
  if (!sub.empty()) {
    bool ok = (sub == "status" && type->hasStatus) || (sub == "finalize" && type->kind == "Namespace") ||
              (sub == "approval" && type->kind == "CertificateSigningRequest") || (sub == "token" && type->kind == "ServiceAccount") ||
              (sub == "binding" && type->kind == "Pod") || (sub == "eviction" && type->kind == "Pod") || (sub == "scale" && type->hasScale) ||
              (type->kind == "Pod" && (sub == "log" || sub == "exec" || sub == "attach" || sub == "portforward"));
    if (!ok) return Error::notFound("the server could not find the requested resource: " + type->plural + "/" + sub + " is not served");
  }
  return true;
}

}  // namespace

// Wraps an exchange to learn the answer's status and what the request was, for the metrics.
class ApiServer::Recorder final : public http::Exchange {
 public:
  Recorder(http::Exchange& inner, AuditLog* audit) : inner_(inner), audit_(audit) {}
  const http::Request& request() const override { return inner_.request(); }
  void respond(http::Response r) override {
    status = r.status;
    // The body is kept only when the audit policy records responses for this request.
    if (audit_ && r.body.size() < (4 << 20) && audit_->wantsResponse(user, info())) responseBody = r.body;
    inner_.respond(std::move(r));
  }
  const auth::RequestInfo& info() {
    if (!info_) {
      const http::Request& req = inner_.request();
      info_ = auth::requestInfoOf(req.method, req.path, req.queryValue("watch"), req.queryValue("fieldSelector"));
    }
    return *info_;
  }
  std::string responseBody;
  http::Stream& startStream(int s, std::string contentType, http::Headers headers) override {
    status = s;
    longRunning = true;
    return inner_.startStream(s, std::move(contentType), std::move(headers));
  }
  std::shared_ptr<http::EventStream> startEventStream(int s, std::string contentType, http::EventStreamOptions options) override {
    status = s;
    longRunning = true;
    return inner_.startEventStream(s, std::move(contentType), std::move(options));
  }
  bool writeDirect(std::string_view chunk) override { return inner_.writeDirect(chunk); }
  Result<http::WebSocket*> upgradeToWebSocket(const std::vector<std::string>& protocols) override {
    auto ws = inner_.upgradeToWebSocket(protocols);
    if (ws) {
      status = 101;
      longRunning = true;
    }
    return ws;
  }
  int status = 0;
  bool longRunning = false;
  std::string verb, resource;
  auth::UserInfo user;  // who sent it, as admission found

 private:
  http::Exchange& inner_;
  AuditLog* audit_;
  std::optional<auth::RequestInfo> info_;
};

namespace {
std::string boundedVerb(const std::string& verb) {
  static const std::set<std::string> known{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
                                           "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT"};
  return known.count(verb) ? verb : "other";
}
observe::Family<observe::Counter>& requestCounter() {
  static observe::Family<observe::Counter> f("apiserver_request_total", "Counter of API requests by verb, resource and HTTP code.",
                                             {"verb", "resource", "code"});
  return f;
}
observe::Family<observe::Histogram>& requestLatency() {
  static observe::Family<observe::Histogram> f("apiserver_request_duration_seconds",
                                               "Response latency of API requests by verb and resource (watches and log follows excluded).",
                                               {"verb", "resource"});
  return f;
}
}  // namespace

namespace {
auth::AuthenticatorOptions authenticatorOptions(Registry& registry, const ApiServerOptions& options) {
  auth::AuthenticatorOptions a;
  a.adminToken = options.token;
  if (const ServiceAccountTokens* tokens = options.serviceAccounts)
    a.serviceAccountToken = [tokens, &registry](const std::string& token) -> std::optional<auth::UserInfo> {
      // Valid while unexpired, for the API's audience, and while its pod lives.
      auto who = tokens->verify(token);
      if (!who) return std::nullopt;
      if (who->pod.empty()) {  // bound to the service account itself (kubectl create token)
        auto sa = registry.get(*api::findByKind("v1", "ServiceAccount"), who->ns, who->name);
        if (!sa || who->uid.empty() || api::stringAt(*sa, "metadata.uid") != who->uid) return std::nullopt;
        return auth::UserInfo{who->user(), {"system:serviceaccounts", "system:serviceaccounts:" + who->ns, auth::kAuthenticated}, "", ""};
      }
      auto pod = registry.get(*api::findByKind("v1", "Pod"), who->ns, who->pod);
      if (!pod || api::stringAt(*pod, "metadata.uid") != who->podUid) return std::nullopt;
      return auth::UserInfo{who->user(), {"system:serviceaccounts", "system:serviceaccounts:" + who->ns, auth::kAuthenticated}, who->pod, who->podUid};
    };
  a.kubeSystemSecret = [&registry](const std::string& name) -> std::optional<json::value> {
    auto s = registry.get(*api::findByKind("v1", "Secret"), "kube-system", name);
    if (!s) return std::nullopt;
    return std::move(*s);
  };
  return a;
}

auth::ClusterView clusterViewOf(Registry& registry) {
  return {[&registry](const std::string& node) {
    std::vector<auth::PodReferences> out;
    ListOptions opts;
    if (auto sel = api::FieldSelector::parse("spec.nodeName=" + node)) opts.fields = std::move(*sel);
    else return out;  // a node name no selector can hold matches no pod
    auto pods = registry.list(*api::findByKind("v1", "Pod"), "", opts);
    if (!pods) return out;
    for (const auto& p : pods->items) out.push_back(auth::podReferencesOf(p));
    return out;
  }};
}
}  // namespace

ApiServer::ApiServer(Registry& registry, ApiServerOptions options)
    : registry_(registry),
      options_(std::move(options)),
      authenticator_(authenticatorOptions(registry_, options_)),
      authorizer_(auth::ClusterView{options_.podsOnNode ? options_.podsOnNode : clusterViewOf(registry_).podsOnNode, options_.rbac}) {}

ApiServer::~ApiServer() { observe::unregisterCallbackGauge("apiserver_registered_watchers"); }

namespace {
Result<json::value> decodeBody(const http::Request& req);  // below, with the other request decoding
}  // namespace

void ApiServer::handle(http::Exchange& ex) {
  if (!gaugeRegistered_.exchange(true))
    observe::registerCallbackGauge("apiserver_registered_watchers", "Number of watches being served.",
                                   [this] { return double(activeWatches_.load()); });
  auto start = std::chrono::steady_clock::now();
  std::string received = options_.audit ? api::rfc3339Now() : "";
  Recorder rec(ex, options_.audit);
  dispatch(rec);
  if (options_.audit && rec.status != 0) {
    const http::Request& req = rec.request();
    AuditLog::Entry e;
    e.user = &rec.user;
    e.info = &rec.info();
    e.method = req.method;
    e.requestURI = req.target.empty() ? req.path : req.target;
    e.userAgent = req.header("user-agent");
    e.sourceIp = req.remoteAddress.substr(0, req.remoteAddress.rfind(':'));
    e.code = rec.status;
    e.longRunning = rec.longRunning;
    e.requestObject = [&req]() -> json::value {
      if (req.body.empty()) return nullptr;
      auto body = decodeBody(req);
      return body ? std::move(*body) : json::value(nullptr);
    };
    e.responseBody = std::move(rec.responseBody);
    e.received = received;
    options_.audit->log(e);
  }
  // Labels come from bounded sets: a client inventing methods must not grow /metrics.
  rec.verb = boundedVerb(rec.verb.empty() ? rec.request().method : rec.verb);
  requestCounter().with({rec.verb, rec.resource, std::to_string(rec.status)}).inc();
  if (!rec.longRunning)
    requestLatency().with({rec.verb, rec.resource}).observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (options_.spans) {
    observe::Span span;
    auto caller = observe::parseTraceparent(rec.request().header("traceparent"));
    span.traceId = caller ? caller->traceId : observe::randomHexId(16);
    span.parentSpanId = caller ? caller->parentId : "";
    span.spanId = observe::randomHexId(8);
    span.name = rec.verb + " " + (rec.resource.empty() ? rec.request().path : rec.resource);
    auto now = std::chrono::system_clock::now();
    span.endUnixNanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    span.startUnixNanos = span.endUnixNanos - std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
    span.error = rec.status >= 500;
    span.attributes = {{"http.request.method", rec.request().method}, {"url.path", rec.request().path}, {"skiff.component", "apiserver"}};
    span.intAttributes = {{"http.response.status_code", rec.status}};
    options_.spans(std::move(span));
  }
}

namespace {
bool isPublicPath(const std::string& path) {
  return path == "/healthz" || path == "/livez" || path == "/readyz" || path == "/version" || path == "/version/" || path == "/ui" ||
         path.starts_with("/ui/");
}

bool isFollow(const http::Request& req) { return req.queryFlag("follow"); }

// Exec, attach, port-forward and log follows hold a thread for as long as they last.
bool isLongRunning(const http::Request& req, const std::vector<std::string>& parts) {
  if (parts.size() < 2) return false;
  const std::string& last = parts.back();
  if (last == "exec" || last == "attach" || last == "portforward") return true;
  if (parts.size() >= 5 && parts[2] == "nodes" && parts[4] == "proxy") return isFollow(req);
  return last == "log" && isFollow(req);
}

}  // namespace

// Failed logins are logged, at most one line a second with the count of those not shown.
void ApiServer::logRefusal(const http::Request& req, const std::string& why) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(refusalLogMutex_);
  ++refusalsUnlogged_;
  if (now - lastRefusalLog_ < std::chrono::seconds(1)) return;
  lastRefusalLog_ = now;
  std::string more = refusalsUnlogged_ > 1 ? " (" + std::to_string(refusalsUnlogged_ - 1) + " more since the last report)" : "";
  refusalsUnlogged_ = 0;
  log::warn("apiserver", "refused " + req.method + " " + req.path + " from " + req.remoteAddress + ": " + why + more);
}

http::Admission ApiServer::admit(const http::Request& req) {
  http::Admission out;
  if (isPublicPath(req.path) || (options_.webhook && req.path == "/api/webhook")) {
    out.user = auth::kAnonymous;
    out.groups = {auth::kUnauthenticated};
    return out;
  }
  std::vector<std::string> parts = splitPath(req.path);
  out.longRunning = isLongRunning(req, parts);
  auto user = authenticator_.authenticate(req);
  if (!user) {
    logRefusal(req, user.error().message);
    out.refusal = errorResponse(Error{401, "Unauthorized", "Unauthorized: " + user.error().message +
                                                               "; use the kubeconfig skiff wrote (its token or client certificate)", {}});
    return out;
  }
  // kubectl --as: the request runs as whom the requester may impersonate.
  auto as = impersonatedUser(authorizer_, *user, req);
  if (!as) {
    logRefusal(req, user->name + ": " + as.error().message);
    out.refusal = errorResponse(as.error());
    return out;
  }
  user = std::move(*as);
  auth::RequestInfo info = auth::requestInfoOf(req.method, req.path, req.queryValue("watch"), req.queryValue("fieldSelector"));
  auth::Decision d = authorizer_.authorize(*user, info);
  if (!d.allowed) {
    logRefusal(req, user->name + " is not allowed");
    // Anonymous: the answer is "who are you?", as without anonymous access.
    bool anonymous = user->name == auth::kAnonymous;
    out.refusal = errorResponse(anonymous ? Error{401, "Unauthorized", "Unauthorized: send the bearer token or client certificate from the kubeconfig skiff wrote", {}}
                                          : Error{403, "Forbidden", d.reason, {}});
    return out;
  }
  out.user = user->name;
  out.groups = user->groups;
  return out;
}

void ApiServer::dispatch(Recorder& ex) {
  const http::Request& req = ex.request();
  const std::string& path = req.path;
  if (path == "/healthz" || path == "/livez" || path == "/readyz") {
    ex.respond({200, "text/plain; charset=utf-8", {}, "ok"});
    return;
  }
  if (path == "/version" || path == "/version/") {  // the Python client asks for /version/
    ex.respond(jsonResponse(200, json::object{{"major", "1"}, {"minor", "32"}, {"gitVersion", std::string(kKubernetesVersion) + "+skiff-" SKIFF_VERSION},
                                              {"gitCommit", ""}, {"gitTreeState", "clean"}, {"buildDate", __DATE__},
                                              {"goVersion", "none (C++20)"}, {"compiler", "g++"}, {"platform", "linux/amd64"}}));
    return;
  }
  if (options_.webhook && path == "/api/webhook") {
    ex.verb = req.method;
    ex.resource = "webhook";
    options_.webhook(ex);
    return;
  }
  if (options_.console && (path == "/ui" || path.starts_with("/ui/"))) {
    ex.verb = "get";
    ex.resource = "ui";
    options_.console(ex);
    return;
  }
  std::vector<std::string> parts = splitPath(path);
  ex.user = {req.user, req.groups, "", ""};
  if (req.user.empty()) {
    // Not admitted by the HTTP server (an in-process caller): check it here.
    http::Admission a = admit(req);
    if (a.refusal) {
      ex.respond(std::move(*a.refusal));
      return;
    }
    ex.user = {a.user, a.groups, "", ""};
  }
  for (const auto& [prefix, handler] : options_.extensions)
    if (path.starts_with(prefix)) {
      ex.verb = req.method;
      ex.resource = prefix;
      handler(ex);
      return;
    }
  if (path == "/metrics/cadvisor") {
    // Every node's cAdvisor series as one exposition (kept for scrapers of the API server itself).
    ex.verb = "get";
    ex.resource = "metrics/cadvisor";
    std::vector<std::string> texts;
    if (options_.nodes)
      for (auto& [node, r] : options_.nodes->getFromAll("/metrics/cadvisor")) texts.push_back(std::move(r.body));
    ex.respond({200, "text/plain; version=0.0.4; charset=utf-8", {}, mergeExpositions(texts)});
    return;
  }
  if (parts.size() >= 5 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "nodes" && parts[4] == "proxy") {
    ex.verb = "get";
    ex.resource = "nodes/proxy";
    serveNodeProxy(ex, parts);
    return;
  }
  if (parts.size() >= 3 && parts[0] == "apis" && parts[1] == "metrics.k8s.io") {
    ex.verb = "get";
    ex.resource = "metrics.k8s.io";
    serveMetricsApi(ex, parts);
    return;
  }
  if (path == "/metrics") {
    ex.verb = "get";
    ex.resource = "metrics";
    ex.respond({200, "text/plain; version=0.0.4; charset=utf-8", {}, observe::exposition()});
    return;
  }
  if (path == "/openapi/v2") {
    // client-go asks for protobuf only and retries with JSON on 406.
    std::string accept = ex.request().header("accept");
    if (accept.find("protobuf") != std::string::npos && accept.find("json") == std::string::npos && accept.find("*/*") == std::string::npos) {
      ex.respond(errorResponse(Error{406, "NotAcceptable", "the OpenAPI v2 document is served as application/json only", {}}));
      return;
    }
    ex.respond(jsonResponse(200, openApiV2Document(options_.customResources)));
    return;
  }
  if (path == "/openapi/v3") {
    ex.respond(jsonResponse(200, openApiV3Root(options_.customResources)));
    return;
  }
  if (path.starts_with("/openapi/v3/")) {
    if (auto doc = openApiV3Document(path.substr(12), options_.customResources)) ex.respond(jsonResponse(200, *doc));
    else ex.respond(errorResponse(Error::notFound("no OpenAPI document for " + path)));
    return;
  }
  if (parts.empty() || parts[0] == "api" || parts[0] == "apis") {
    if (parts.size() <= 1 || (parts[0] == "api" && parts.size() == 2) || (parts[0] == "apis" && parts.size() <= 3)) {
      serveDiscovery(ex, path);
      return;
    }
  }
  if (parts.empty() || (parts[0] != "api" && parts[0] != "apis")) {
    ex.respond(errorResponse(Error::notFound("the server could not find the requested resource " + path)));
    return;
  }
  Route route;
  std::string sub;
  auto parsed = parseResourcePath(parts, options_.customResources, route.type, route.ns, route.name, route.subresource);
  if (!parsed) {
    ex.respond(errorResponse(parsed.error()));
    return;
  }
  ex.resource = route.type->plural + (route.subresource.empty() ? "" : "/" + route.subresource);
  {
    const std::string& m = req.method;
    bool collection = route.name.empty();
    std::string w = req.queryValue("watch");
    ex.verb = m == "GET" ? (collection ? (http::parseBool(w).value_or(false) ? "watch" : "list") : "get")
              : m == "POST" ? "create" : m == "PUT" ? "update" : m == "PATCH" ? "patch"
              : m == "DELETE" ? (collection ? "deletecollection" : "delete") : m;
  }
  try {
    std::string watch = req.queryValue("watch");
    if (!watch.empty() && !http::parseBool(watch))
      return ex.respond(errorResponse(Error::badRequest("watch must be a boolean (true or false), not \"" + watch + "\"")));
    if (req.method == "GET" && *http::parseBool(watch.empty() ? "false" : watch) && route.name.empty()) serveWatch(ex, route);
    else serveResource(ex, route, ex.user);
  } catch (const std::exception& e) {
    log::error("apiserver", std::string("request ") + req.method + " " + req.target + " failed: " + e.what());
    ex.respond(errorResponse(Error::internal(std::string("internal error: ") + e.what())));
  }
}

void ApiServer::serveDiscovery(http::Exchange& ex, const std::string& path) {
  auto parts = splitPath(path);
  if (parts.empty()) {
    json::array paths{"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"};
    for (const auto& gv : servedGroupVersions(options_.customResources))
      if (!gv.group.empty()) {
        paths.push_back(json::string("/apis/" + gv.group));
        paths.push_back(json::string("/apis/" + gv.group + "/" + gv.version));
      }
    ex.respond(jsonResponse(200, json::object{{"paths", paths}}));
    return;
  }
  if (parts.size() == 1 && parts[0] == "api") {
    ex.respond(jsonResponse(200, json::object{{"kind", "APIVersions"}, {"versions", json::array{"v1"}},
                                              {"serverAddressByClientCIDRs",
                                               json::array{json::object{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", options_.advertiseAddress}}}}}));
    return;
  }
  // A group lists every served version; the first in the resource table is the preferred one.
  auto groupObject = [this](const std::string& group) {
    json::array versions;
    for (const auto& gv : servedGroupVersions(options_.customResources))
      if (gv.group == group) versions.push_back(json::object{{"groupVersion", group + "/" + gv.version}, {"version", gv.version}});
    if (versions.empty()) versions.push_back(json::object{{"groupVersion", group + "/v1beta1"}, {"version", "v1beta1"}});  // metrics.k8s.io
    json::value preferred = versions.front();
    return json::object{{"name", group}, {"versions", std::move(versions)}, {"preferredVersion", std::move(preferred)}};
  };
  if (parts.size() == 1 && parts[0] == "apis") {
    json::array groups;
    std::vector<std::string> seen;
    for (const auto& gv : servedGroupVersions(options_.customResources))
      if (!gv.group.empty() && std::find(seen.begin(), seen.end(), gv.group) == seen.end()) {
        seen.push_back(gv.group);
        groups.push_back(groupObject(gv.group));
      }
    if (options_.nodes) groups.push_back(groupObject("metrics.k8s.io"));
    ex.respond(jsonResponse(200, json::object{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}}));
    return;
  }
  if (parts.size() == 2 && parts[0] == "apis") {
    for (const auto& gv : servedGroupVersions(options_.customResources))
      if (gv.group == parts[1]) {
        json::object g = groupObject(gv.group);
        g["kind"] = "APIGroup";
        g["apiVersion"] = "v1";
        ex.respond(jsonResponse(200, g));
        return;
      }
    ex.respond(errorResponse(Error::notFound("the server could not find the requested resource: group " + parts[1] + " is not served")));
    return;
  }
  std::string group = parts[0] == "api" ? "" : parts[1];
  std::string version = parts[0] == "api" ? parts[1] : parts[2];
  json::array resources;
  for (const api::ResourceType* type : servedResourceTypes(options_.customResources)) {
    const api::ResourceType& t = *type;
    if (t.group != group || t.version != version) continue;
    json::object r{{"name", t.plural}, {"singularName", t.singular}, {"namespaced", t.namespaced},
                   {"kind", t.kind}, {"verbs", t.createOnly ? json::array{"create"} : verbsFor(false)}};
    if (!t.shortNames.empty()) {
      json::array sn;
      for (const auto& s : t.shortNames) sn.push_back(json::string(s));
      r["shortNames"] = sn;
    }
    if (!t.categories.empty()) {
      json::array c;
      for (const auto& s : t.categories) c.push_back(json::string(s));
      r["categories"] = c;
    }
    resources.push_back(r);
    if (t.hasStatus)
      resources.push_back(json::object{{"name", t.plural + "/status"}, {"singularName", ""}, {"namespaced", t.namespaced},
                                       {"kind", t.kind}, {"verbs", verbsFor(true)}});
    if (t.builtin("Pod"))  // kubectl drain evicts (rather than deletes) when discovery lists this
      resources.push_back(json::object{{"name", "pods/eviction"}, {"singularName", ""}, {"namespaced", true}, {"group", "policy"},
                                       {"version", "v1"}, {"kind", "Eviction"}, {"verbs", json::array{"create"}}});
    if (t.hasScale)
      resources.push_back(json::object{{"name", t.plural + "/scale"}, {"singularName", ""}, {"namespaced", t.namespaced},
                                       {"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}, {"verbs", verbsFor(true)}});
  }
  if (resources.empty()) {
    ex.respond(errorResponse(Error::notFound("the server could not find the requested resource: " + path + " is not served")));
    return;
  }
  ex.respond(jsonResponse(200, json::object{{"kind", "APIResourceList"}, {"apiVersion", "v1"},
                                            {"groupVersion", group.empty() ? version : group + "/" + version},
                                            {"resources", resources}}));
}

namespace {

Result<WriteOptions> writeOptionsFrom(const http::Request& req, std::vector<std::string>* warnings) {
  WriteOptions o;
  o.warnings = warnings;
  std::string fv = req.queryValue("fieldValidation");
  if (fv.empty() || fv == "Warn") o.fieldValidation = api::FieldValidation::Warn;
  else if (fv == "Strict") o.fieldValidation = api::FieldValidation::Strict;
  else if (fv == "Ignore") o.fieldValidation = api::FieldValidation::Ignore;
  else return Error::badRequest("fieldValidation must be Ignore, Warn or Strict, not \"" + fv + "\"");
  std::string dry = req.queryValue("dryRun");
  if (!dry.empty() && dry != "All") return Error::badRequest("dryRun must be All, not \"" + dry + "\"");
  o.dryRun = dry == "All";
  // The writer's name for managedFields: fieldManager, else the client's program (User-Agent up
  // to its first '/'), as kube-apiserver infers it.
  o.fieldManager = req.queryValue("fieldManager");
  if (o.fieldManager.empty()) {
    std::string agent = req.header("user-agent");
    o.fieldManager = agent.substr(0, std::min(agent.find('/'), size_t(128)));
  }
  if (o.fieldManager.size() > 128 ||
      std::any_of(o.fieldManager.begin(), o.fieldManager.end(), [](unsigned char c) { return c < 0x20 || c > 0x7e; }))
    return Error::badRequest("fieldManager must be at most 128 printable ASCII characters");
  std::string force = req.queryValue("force");
  if (!force.empty() && !http::parseBool(force)) return Error::badRequest("force must be true or false, not \"" + force + "\"");
  o.force = req.queryFlag("force");
  return o;
}

// The media type of a request body, lower-cased, without parameters; "" when none was sent.
std::string mediaType(const http::Request& req) {
  std::string ct = req.header("content-type");
  ct = ct.substr(0, ct.find(';'));
  ct.erase(0, ct.find_first_not_of(" \t"));
  ct.erase(ct.find_last_not_of(" \t") + 1);
  std::transform(ct.begin(), ct.end(), ct.begin(), ::tolower);
  return ct;
}

Result<json::value> decodeBody(const http::Request& req) {
  if (req.body.empty()) return Error::badRequest("the request needs a body: a JSON or YAML object");
  // As kube-apiserver negotiates: no Content-Type means JSON; anything it does not serve is 415.
  std::string ct = mediaType(req);
  if (ct == "application/vnd.kubernetes.protobuf") return api::decodeKubernetesProtobuf(req.body);
  if (!ct.empty() && ct != "application/json" && ct != "application/yaml")
    return Error{415, "UnsupportedMediaType",
                 "the body of the request was in an unknown format (" + ct +
                     ") - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf", {}};
  if (ct == "application/yaml") {
    auto docs = api::decodeManifests(req.body);
    if (!docs) return docs.error();
    if (docs->size() != 1) return Error::badRequest("the request body must hold exactly one object");
    return std::move((*docs)[0]);
  }
  auto v = api::decodeJson(req.body);
  if (!v) return Error::badRequest("the request body is not valid JSON: " + v.error().message);
  return v;
}

Result<ListOptions> listOptionsFrom(const http::Request& req) {
  ListOptions o;
  if (auto s = req.queryValue("labelSelector"); !s.empty()) {
    auto sel = api::LabelSelector::parse(s);
    if (!sel) return sel.error();
    o.labels = std::move(*sel);
  }
  if (auto s = req.queryValue("fieldSelector"); !s.empty()) {
    auto sel = api::FieldSelector::parse(s);
    if (!sel) return sel.error();
    o.fields = std::move(*sel);
  }
  if (auto s = req.queryValue("limit"); !s.empty()) {
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (*end || v < 0) return Error::badRequest("limit must be a non-negative integer, not \"" + s + "\"");
    o.limit = size_t(v);
  }
  o.continueToken = req.queryValue("continue");
  return o;
}

Headers warningHeaders(const std::vector<std::string>& warnings) {
  Headers h;
  for (const auto& w : warnings) {
    std::string escaped;
    for (char c : w) {
      if (c == '"' || c == '\\') escaped += '\\';
      escaped += c;
    }
    h.emplace_back("Warning", "299 - \"" + escaped + "\"");
  }
  return h;
}

}  // namespace

void ApiServer::serveResource(http::Exchange& ex, const Route& route, const auth::UserInfo& user) {
  const http::Request& req = ex.request();
  // Writes of RBAC objects are checked for escalation against the writer's own grants.
  auto writeOptions = [&](std::vector<std::string>* warnings) {
    auto opts = writeOptionsFrom(req, warnings);
    if (opts && isRbacKind(*route.type) && options_.rbac)
      opts->admitWrite = [this, &route, &user](const json::value& object) {
        return admitRbacWrite(authorizer_, *options_.rbac, *route.type, route.ns, object, user);
      };
    return opts;
  };
  // A version stored as another (api/conversion.h): the registry sees the stored type, requests and
  // responses are converted at this edge.
  const api::ResourceType& served = *route.type;
  const api::ResourceType* storedType = api::storedVersionOf(served);
  const api::ResourceType& type = storedType ? *storedType : served;
  // (Not `cond ? convert(v) : v`: that copies v, a whole object, on every request.)
  auto in = [&](json::value v) -> json::value {
    if (storedType) return api::convertToStored(served, std::move(v));
    return v;
  };
  auto out = [&](json::value v) -> json::value {
    if (storedType) return api::convertFromStored(served, std::move(v));
    return v;
  };
  // As Kubernetes: a refused object is named by its kind ("The Gateway "x" is invalid"), a missing one by its resource.
  auto fail = [&](const Error& e) { ex.respond(errorResponse(e, route.name, type.group, e.reason == "Invalid" ? type.kind : type.plural)); };
  std::vector<std::string> warnings;
  auto respondObject = [&](int status, json::value obj) {
    obj = out(std::move(obj));
    http::Response r = wantsTable(req) ? jsonResponse(status, api::makeTable(type, {obj}, api::stringAt(obj, "metadata.resourceVersion"), "", includeObject(req)))
                       : wantsPartialMetadata(req) ? jsonResponse(status, partialMetadata(obj))
                                                   : objectResponse(req, status, obj);
    r.headers = warningHeaders(warnings);
    ex.respond(std::move(r));
  };
  const std::string& m = req.method;
  if (type.namespaced && route.ns.empty() && !(m == "GET" && route.name.empty())) {
    fail(Error::notFound("the server could not find the requested resource: " + type.plural +
                         " must be addressed inside a namespace (/namespaces/<ns>/" + type.plural + ")"));
    return;
  }
  if (type.createOnly) return serveReview(ex, route, user);
  std::string sub = route.subresource == "finalize" ? "" : route.subresource;
  if (m == "POST" && served.custom && options_.customResources && options_.customResources->terminating(served.custom->definition))
    return fail(Error{405, "MethodNotAllowed", "create not allowed while custom resource definition is terminating", {}});
  if (route.subresource == "binding") {
    // POST pods/<name>/binding with a Binding {target: {kind: Node, name}}, as kube-scheduler sends.
    if (m != "POST") return fail(Error{405, "MethodNotAllowed", "pods/binding only accepts POST", {}});
    auto body = decodeBody(req);
    if (!body) return fail(body.error());
    std::string node = api::stringAt(*body, "target.name");
    if (node.empty()) return fail(api::invalidObject(type, route.name, {{"FieldValueRequired", "Required value", "target.name"}}));
    auto bound = registry_.bind(route.ns, route.name, node);
    if (!bound) return fail(bound.error());
    ex.respond(jsonResponse(201, json::object{{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", json::object()},
                                              {"status", "Success"}, {"code", 201}}));
    return;
  }
  if (route.subresource == "eviction") {
    // POST pods/<name>/eviction with a policy/v1 Eviction, as kubectl drain sends (apiserver/pod_eviction.h).
    if (m != "POST") return fail(Error{405, "MethodNotAllowed", "pods/eviction only accepts POST (an Eviction)", {}});
    auto body = decodeBody(req);
    if (!body) return fail(body.error());
    auto eviction = evictionRequestOf(*body, route.name);
    if (!eviction) return fail(eviction.error());
    eviction->dryRun = eviction->dryRun || req.queryValue("dryRun") == "All";
    auto evicted = evictPod(registry_, route.ns, *eviction);
    if (!evicted) return fail(evicted.error());
    ex.respond(jsonResponse(201, *evicted));
    return;
  }
  if (route.subresource == "scale") {
    serveScale(ex, route);
    return;
  }
  if (route.subresource == "token") {
    if (m != "POST") return fail(Error{405, "MethodNotAllowed", "serviceaccounts/token only accepts POST (a TokenRequest)", {}});
    serveTokenRequest(ex, route, user);
    return;
  }
  if (type.builtin("Pod") && (route.subresource == "exec" || route.subresource == "log" || route.subresource == "attach" ||
                             route.subresource == "portforward")) {
    serveNodeStream(ex, route);
    return;
  }
  if (route.name.empty()) {
    if (m == "GET") {
      auto opts = listOptionsFrom(req);
      if (!opts) return fail(opts.error());
      if (Status st = checkListResourceVersion(req); !st) return fail(st.error());
      bool table = wantsTable(req), partial = !table && wantsPartialMetadata(req);
      auto list = registry_.list(type, route.ns, *opts, table || partial || wantsYaml(req) || storedType);
      if (!list) return fail(list.error());
      for (auto& item : list->items) item = out(std::move(item));
      std::string rv = std::to_string(list->revision);
      if (table) {
        ex.respond(jsonResponse(200, api::makeTable(type, list->items, rv, list->continueToken, includeObject(req))));
        return;
      }
      json::object meta{{"resourceVersion", rv}};
      if (!list->continueToken.empty()) meta["continue"] = list->continueToken;
      if (list->remainingItemCount) meta["remainingItemCount"] = *list->remainingItemCount;
      if (partial) {
        json::array items;
        for (const auto& i : list->items) items.push_back(partialMetadata(i));
        ex.respond(jsonResponse(200, json::object{{"kind", "PartialObjectMetadataList"}, {"apiVersion", "meta.k8s.io/v1"},
                                                  {"metadata", meta}, {"items", std::move(items)}}));
        return;
      }
      if (wantsYaml(req)) {
        json::array items;
        for (auto& i : list->items) items.push_back(std::move(i));
        ex.respond(objectResponse(req, 200, json::object{{"kind", served.listKind()}, {"apiVersion", served.apiVersion()}, {"metadata", meta}, {"items", items}}));
        return;
      }
      // Stored objects are already JSON with their resourceVersion: splice them, don't re-encode.
      std::string body = "{\"kind\":\"" + served.listKind() + "\",\"apiVersion\":\"" + served.apiVersion() +
                         "\",\"metadata\":" + json::serialize(meta) + ",\"items\":[";
      size_t total = 0;
      for (const auto& raw : list->rawItems) total += raw->size() + 1;
      body.reserve(body.size() + total + 2);
      bool first = true;
      for (const auto& raw : list->rawItems) {
        if (!first) body += ',';
        first = false;
        body += *raw;
      }
      for (const auto& item : list->items) {
        if (!first) body += ',';
        first = false;
        body += json::serialize(item);
      }
      body += "]}";
      ex.respond({200, "application/json", {}, std::move(body)});
      return;
    }
    if (m == "POST") {
      auto body = decodeBody(req);
      if (!body) return fail(body.error());
      auto opts = writeOptions(&warnings);
      if (!opts) return fail(opts.error());
      std::string name = api::stringAt(*body, "metadata.name");  // before the body moves into create
      if (Status s = admitRequester(type, route.ns, *body, user); !s) return fail(s.error());
      auto created = registry_.create(type, route.ns, in(std::move(*body)), *opts);
      if (!created) return ex.respond(errorResponse(created.error(), name, type.group, type.kind));
      respondObject(201, std::move(*created));
      return;
    }
    if (m == "DELETE") {
      auto opts = listOptionsFrom(req);
      if (!opts) return fail(opts.error());
      auto list = registry_.list(type, route.ns, *opts);
      if (!list) return fail(list.error());
      json::array deleted;
      for (const auto& item : list->items) {
        auto r = registry_.remove(type, api::stringAt(item, "metadata.namespace"), api::stringAt(item, "metadata.name"));
        if (r) deleted.push_back(out(std::move(*r)));
        else if (r.error().reason != "NotFound") return fail(r.error());
      }
      ex.respond(jsonResponse(200, json::object{{"kind", served.listKind()}, {"apiVersion", served.apiVersion()},
                                                {"metadata", json::object{{"resourceVersion", std::to_string(registry_.store().revision())}}},
                                                {"items", deleted}}));
      return;
    }
    ex.respond(errorResponse(Error{405, "MethodNotAllowed", m + " is not supported on a collection", {}}));
    return;
  }
  if (m == "GET") {
    auto obj = registry_.get(type, route.ns, route.name);
    if (!obj) return fail(obj.error());
    respondObject(200, std::move(*obj));
    return;
  }
  if (m == "PUT") {
    auto body = decodeBody(req);
    if (!body) return fail(body.error());
    auto opts = writeOptions(&warnings);
    if (!opts) return fail(opts.error());
    if (route.subresource == "finalize") {
      // Only spec.finalizers may change through /finalize.
      auto current = registry_.get(type, route.ns, route.name);
      if (!current) return fail(current.error());
      json::value next = *current;
      const json::value* fin = api::valueAt(*body, "spec.finalizers");
      api::ensurePath(next, "spec.finalizers") = fin ? *fin : json::array();
      api::metadataOf(next)["resourceVersion"] = api::stringAt(*body, "metadata.resourceVersion");
      *body = std::move(next);
    }
    auto updated = registry_.update(type, route.ns, route.name, in(std::move(*body)), sub, *opts);
    if (!updated) return fail(updated.error());
    respondObject(200, std::move(*updated));
    return;
  }
  if (m == "PATCH") {
    std::string ct = req.header("content-type");
    if (auto semi = ct.find(';'); semi != std::string::npos) ct = ct.substr(0, semi);
    PatchType pt;
    if (ct == "application/merge-patch+json") pt = PatchType::Merge;
    else if (ct == "application/json-patch+json") pt = PatchType::Json;
    else if (ct == "application/strategic-merge-patch+json") pt = PatchType::Strategic;
    else if (ct == "application/apply-patch+yaml") pt = PatchType::Apply;
    else
      return fail(Error{415, "UnsupportedMediaType",
                        "the patch content type \"" + ct + "\" is not supported; use application/merge-patch+json, "
                        "application/json-patch+json, application/strategic-merge-patch+json or application/apply-patch+yaml", {}});
    auto opts = writeOptions(&warnings);
    if (!opts) return fail(opts.error());
    if (opts->force && pt != PatchType::Apply) return fail(Error::badRequest("force is only meaningful for server-side apply (application/apply-patch+yaml)"));
    if (pt == PatchType::Apply) {
      if (req.queryValue("fieldManager").empty())
        return fail(Error::badRequest("PATCH requests with application/apply-patch+yaml need the fieldManager parameter (kubectl apply --server-side sends one)"));
      auto docs = api::decodeManifests(req.body);
      if (!docs) return fail(Error::badRequest("the apply configuration is not valid YAML or JSON: " + docs.error().message));
      if (docs->size() != 1) return fail(Error::badRequest("an apply configuration must hold exactly one object"));
      auto applied = registry_.patch(type, route.ns, route.name, PatchType::Apply, in(std::move((*docs)[0])), sub, *opts);
      if (!applied) return fail(applied.error());
      respondObject(200, std::move(*applied));
      return;
    }
    auto body = api::decodeJson(req.body);
    if (!body) return fail(Error::badRequest("the patch is not valid JSON: " + body.error().message));
    if (storedType) {
      // The patch is written against the served version: apply it to that view, then store.
      auto current = registry_.get(type, route.ns, route.name);
      if (!current) return fail(current.error());
      json::value view = out(std::move(*current));
      Result<json::value> next = pt == PatchType::Json    ? api::applyJsonPatch(view, *body)
                                 : pt == PatchType::Merge ? Result<json::value>(api::applyMergePatch(view, *body))
                                                          : api::applyStrategicMergePatch(view, *body, nullptr);
      if (!next) return fail(next.error());
      auto updated = registry_.update(type, route.ns, route.name, in(std::move(*next)), sub, *opts);
      if (!updated) return fail(updated.error());
      respondObject(200, std::move(*updated));
      return;
    }
    auto patched = registry_.patch(type, route.ns, route.name, pt, *body, sub, *opts);
    if (!patched) return fail(patched.error());
    respondObject(200, std::move(*patched));
    return;
  }
  if (m == "DELETE") {
    DeleteOptions opts;
    if (!req.body.empty()) {
      auto body = api::decodeJson(req.body);
      if (!body || !body->is_object()) return fail(Error::badRequest("the delete options are not a JSON object"));
      if (auto* g = body->get_object().if_contains("gracePeriodSeconds"); g && g->is_int64()) opts.gracePeriodSeconds = g->get_int64();
      opts.preconditionUid = api::stringAt(*body, "preconditions.uid");
      opts.preconditionResourceVersion = api::stringAt(*body, "preconditions.resourceVersion");
      opts.propagationPolicy = api::stringAt(*body, "propagationPolicy");
    }
    if (auto g = req.queryValue("gracePeriodSeconds"); !g.empty()) {
      char* end = nullptr;
      long long v = std::strtoll(g.c_str(), &end, 10);
      if (*end) return fail(Error::badRequest("gracePeriodSeconds must be an integer"));
      opts.gracePeriodSeconds = v;
    }
    if (auto p = req.queryValue("propagationPolicy"); !p.empty()) opts.propagationPolicy = p;
    if (!opts.propagationPolicy.empty() && opts.propagationPolicy != "Orphan" && opts.propagationPolicy != "Background" &&
        opts.propagationPolicy != "Foreground")
      return fail(Error::badRequest("propagationPolicy must be Orphan, Background or Foreground"));
    if (req.queryValue("dryRun") == "All") {
      auto obj = registry_.get(type, route.ns, route.name);
      if (!obj) return fail(obj.error());
      respondObject(200, std::move(*obj));
      return;
    }
    auto removed = registry_.remove(type, route.ns, route.name, opts);
    if (!removed) return fail(removed.error());
    respondObject(200, std::move(*removed));
    return;
  }
  ex.respond(errorResponse(Error{405, "MethodNotAllowed", m + " is not supported on " + type.plural, {}}));
}

namespace {
// The autoscaling/v1 Scale view of a Deployment or ReplicaSet.
// Where a kind keeps its replicas: spec.replicas and status.replicas for the built-in kinds, the
// paths its definition names for a custom kind.
struct ScalePaths {
  std::string spec = ".spec.replicas", status = ".status.replicas", selector;
  int64_t unset = 1;  // what a missing spec replicas means (the built-in kinds default it to 1)
};
ScalePaths scalePathsOf(const api::ResourceType& type) {
  if (!type.custom) return {};
  return {type.custom->specReplicasPath, type.custom->statusReplicasPath, type.custom->labelSelectorPath, 0};
}

json::value scaleOf(const json::value& obj, const ScalePaths& paths) {
  const json::value* meta = api::valueAt(obj, "metadata");
  json::object m;
  for (const char* f : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"})
    if (meta && meta->is_object() && meta->get_object().if_contains(f)) m[f] = meta->get_object().at(f);
  std::string selector;
  if (!paths.selector.empty()) {
    if (const json::value* sel = api::valueAtJsonPath(obj, paths.selector); sel && sel->is_string()) selector = std::string(sel->get_string());
  } else if (const json::value* ml = api::valueAt(obj, "spec.selector.matchLabels"); ml && ml->is_object()) {
    for (const auto& kv : ml->get_object())
      selector += (selector.empty() ? "" : ",") + std::string(kv.key()) + "=" + (kv.value().is_string() ? std::string(kv.value().get_string()) : "");
  }
  const json::value* replicas = api::valueAtJsonPath(obj, paths.spec);
  const json::value* current = api::valueAtJsonPath(obj, paths.status);
  return json::object{{"kind", "Scale"}, {"apiVersion", "autoscaling/v1"}, {"metadata", m},
                      {"spec", json::object{{"replicas", replicas ? *replicas : json::value(paths.unset)}}},
                      {"status", json::object{{"replicas", current ? *current : json::value(0)}, {"selector", selector}}}};
}

// A merge patch that sets the field at a simple path (".spec.replicas") to `value`.
json::value patchAtPath(std::string_view path, json::value value) {
  std::vector<std::string> parts;
  for (size_t i = 1; i <= path.size();) {
    size_t dot = path.find('.', i);
    if (dot == std::string_view::npos) dot = path.size();
    parts.emplace_back(path.substr(i, dot - i));
    i = dot + 1;
  }
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) value = json::object{{*it, std::move(value)}};
  return value;
}
}  // namespace

// TokenRequest (authentication.k8s.io/v1): a token for a service account, bound to a pod that
// runs as it. The pod must exist with the given uid; a node may only ask for its own pods. The
// ServiceAccount object itself is not required (skiff creates none per namespace yet).
void ApiServer::serveReview(http::Exchange& ex, const Route& route, const auth::UserInfo& user) {
  const http::Request& req = ex.request();
  const api::ResourceType& type = *route.type;
  if (req.method != "POST" || !route.name.empty())
    return ex.respond(errorResponse(Error{405, "MethodNotAllowed", type.plural + " are only created (POST), never read or stored", {}}));
  auto body = decodeBody(req);
  if (!body) return ex.respond(errorResponse(body.error()));
  ReviewContext context{authorizer_, options_.rbac, [this](const std::string& token) {
                          http::Request probe;
                          probe.headers["authorization"] = "Bearer " + token;
                          return authenticator_.authenticate(probe);
                        }};
  auto answer = answerReview(type, route.ns, std::move(*body), user, context);
  if (!answer) return ex.respond(errorResponse(answer.error(), "", type.group, type.kind));
  ex.respond(jsonResponse(201, *answer));
}

void ApiServer::serveTokenRequest(http::Exchange& ex, const Route& route, const auth::UserInfo& user) {
  auto fail = [&](const Error& e) { ex.respond(errorResponse(e, route.name, "", "serviceaccounts")); };
  if (!options_.serviceAccounts) return fail(Error::unavailable("this server issues no service-account tokens"));
  auto body = decodeBody(ex.request());
  if (!body) return fail(body.error());
  if (api::stringAt(*body, "kind") != "TokenRequest") return fail(Error::badRequest("the body must be a TokenRequest (authentication.k8s.io/v1)"));
  int64_t seconds = 3600;
  if (const json::value* e = api::valueAt(*body, "spec.expirationSeconds"); e && e->is_int64()) seconds = e->as_int64();
  if (seconds < 600) return fail(api::invalidObject(*api::findByKind("v1", "ServiceAccount"), route.name,
                                                    {{"FieldValueInvalid", "may not specify a duration less than 10 minutes", "spec.expirationSeconds"}}));
  seconds = std::min<int64_t>(seconds, 48 * 3600);
  std::string audience = "skiff";
  if (const json::value* a = api::valueAt(*body, "spec.audiences"); a && a->is_array() && !a->as_array().empty() && a->as_array()[0].is_string())
    audience = a->as_array()[0].as_string();
  auto account = registry_.get(*api::findByKind("v1", "ServiceAccount"), route.ns, route.name);
  if (!account) return fail(account.error());
  std::string accountUid = api::stringAt(*account, "metadata.uid");
  auto respond = [&](const std::string& token) {
    json::object answer{{"apiVersion", "authentication.k8s.io/v1"},
                        {"kind", "TokenRequest"},
                        {"metadata", json::object{{"name", route.name}, {"namespace", route.ns}}},
                        {"spec", api::valueAt(*body, "spec") ? *api::valueAt(*body, "spec") : json::value(json::object())},
                        {"status", json::object{{"token", token}, {"expirationTimestamp", api::rfc3339(std::time(nullptr) + seconds)}}}};
    ex.respond(jsonResponse(201, std::move(answer)));
  };
  std::string boundKind = api::stringAt(*body, "spec.boundObjectRef.kind");
  if (boundKind.empty()) {
    // Valid while the service account lives (kubectl create token); nodes only get pods' tokens.
    if (!user.nodeName().empty()) return fail(Error{403, "Forbidden", "nodes may only request tokens bound to their pods", {}});
    return respond(options_.serviceAccounts->issue({route.ns, route.name, "", "", accountUid}, seconds, audience));
  }
  if (boundKind != "Pod")
    return fail(Error::badRequest("skiff binds service-account tokens to pods or to the service account: spec.boundObjectRef.kind must be Pod or left out"));
  std::string podName = api::stringAt(*body, "spec.boundObjectRef.name"), podUid = api::stringAt(*body, "spec.boundObjectRef.uid");
  auto pod = registry_.get(*api::findByKind("v1", "Pod"), route.ns, podName);
  if (!pod) return fail(pod.error());
  auth::PodReferences refs = auth::podReferencesOf(*pod);
  if (!podUid.empty() && api::stringAt(*pod, "metadata.uid") != podUid)
    return fail(Error::conflict("pod " + podName + " has another uid than spec.boundObjectRef.uid: it was replaced"));
  if (refs.serviceAccount != route.name)
    return fail(Error{403, "Forbidden", "pod " + podName + " runs as service account " + refs.serviceAccount + ", not " + route.name, {}});
  if (std::string node = user.nodeName(); !node.empty() && refs.nodeName != node)
    return fail(Error{403, "Forbidden", "node \"" + node + "\" may not get tokens for pod " + podName + ", which is not bound to it", {}});
  respond(options_.serviceAccounts->issue({route.ns, route.name, podName, api::stringAt(*pod, "metadata.uid"), accountUid}, seconds, audience));
}

void ApiServer::serveScale(http::Exchange& ex, const Route& route) {
  const http::Request& req = ex.request();
  const api::ResourceType& type = *route.type;
  // As Kubernetes: a refused object is named by its kind ("The Gateway "x" is invalid"), a missing one by its resource.
  auto fail = [&](const Error& e) { ex.respond(errorResponse(e, route.name, type.group, e.reason == "Invalid" ? type.kind : type.plural)); };
  if (req.method == "GET") {
    auto obj = registry_.get(type, route.ns, route.name);
    if (!obj) return fail(obj.error());
    ex.respond(jsonResponse(200, scaleOf(*obj, scalePathsOf(type))));
    return;
  }
  if (req.method != "PUT" && req.method != "PATCH") return fail(Error{405, "MethodNotAllowed", req.method + " is not supported on scale", {}});
  auto body = api::decodeJson(req.body);
  if (!body) return fail(Error::badRequest("the request body is not valid JSON: " + body.error().message));
  std::string ct = req.header("content-type");
  // Apply the change to the Scale view, then carry spec.replicas back to the object.
  auto current = registry_.get(type, route.ns, route.name);
  if (!current) return fail(current.error());
  const ScalePaths paths = scalePathsOf(type);
  json::value scale = scaleOf(*current, paths);
  if (req.method == "PUT") {
    scale = *body;
    std::string rv = api::stringAt(scale, "metadata.resourceVersion");
    if (!rv.empty() && rv != api::stringAt(*current, "metadata.resourceVersion"))
      return fail(Error::conflict("Operation cannot be fulfilled on " + qualifiedResource(type) + " \"" + route.name +
                                  "\": the object has been modified; please apply your changes to the latest version and try again"));
  } else if (ct.starts_with("application/json-patch+json")) {
    auto p = api::applyJsonPatch(scale, *body);
    if (!p) return fail(p.error());
    scale = std::move(*p);
  } else {
    scale = api::applyMergePatch(scale, *body);
  }
  const json::value* replicas = api::valueAt(scale, "spec.replicas");
  if (!replicas || !(replicas->is_int64() || replicas->is_uint64()))
    return fail(Error::badRequest("spec.replicas must be an integer"));
  auto written = registry_.patch(type, route.ns, route.name, PatchType::Merge, patchAtPath(paths.spec, *replicas), "");
  if (!written) return fail(written.error());
  ex.respond(jsonResponse(200, scaleOf(*written, paths)));
}

namespace {
std::string nanocores(double cores) { return std::to_string(int64_t(cores * 1e9)) + "n"; }
std::string kibibytes(uint64_t bytes) { return std::to_string(bytes / 1024) + "Ki"; }
}  // namespace

// /apis/metrics.k8s.io/v1beta1[/namespaces/<ns>]/pods[/<name>] and /nodes[/<name>], what `kubectl
// top` reads: each node server's Summary API, gathered as metrics-server does.
void ApiServer::serveMetricsApi(http::Exchange& ex, const std::vector<std::string>& parts) {
  if (!options_.nodes) {
    ex.respond(errorResponse(Error::notFound("metrics are not available: this API server reaches no node servers")));
    return;
  }
  if (parts.size() == 3) {
    json::array resources{
        json::object{{"name", "pods"}, {"singularName", ""}, {"namespaced", true}, {"kind", "PodMetrics"}, {"verbs", json::array{"get", "list"}}},
        json::object{{"name", "nodes"}, {"singularName", ""}, {"namespaced", false}, {"kind", "NodeMetrics"}, {"verbs", json::array{"get", "list"}}}};
    ex.respond(jsonResponse(200, json::object{{"kind", "APIResourceList"}, {"apiVersion", "v1"},
                                              {"groupVersion", "metrics.k8s.io/v1beta1"}, {"resources", resources}}));
    return;
  }
  std::vector<std::string> rest(parts.begin() + 3, parts.end());
  std::string ns, name;
  if (rest.size() >= 3 && rest[0] == "namespaces") {
    ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || (rest[0] != "nodes" && rest[0] != "pods")) {
    ex.respond(errorResponse(Error::notFound("the server could not find the requested resource")));
    return;
  }
  if (rest.size() > 1) name = rest[1];
  std::string now = api::rfc3339Now();
  std::vector<NodeUsage> nodes = options_.nodes->usage();
  if (rest[0] == "nodes") {
    json::array items;
    for (const auto& n : nodes) {
      if (!name.empty() && n.node != name) continue;
      items.push_back(json::object{{"metadata", json::object{{"name", n.node}, {"creationTimestamp", now}}}, {"timestamp", now}, {"window", "10s"},
                                   {"usage", json::object{{"cpu", nanocores(n.cpuCores)}, {"memory", kibibytes(n.memoryWorkingSet)}}}});
    }
    if (!name.empty()) {
      if (items.empty()) return ex.respond(errorResponse(Error::notFound("nodemetrics.metrics.k8s.io \"" + name + "\" not found")));
      json::object one = items[0].as_object();
      one["kind"] = "NodeMetrics";
      one["apiVersion"] = "metrics.k8s.io/v1beta1";
      return ex.respond(jsonResponse(200, one));
    }
    return ex.respond(jsonResponse(200, json::object{{"kind", "NodeMetricsList"}, {"apiVersion", "metrics.k8s.io/v1beta1"},
                                                     {"metadata", json::object()}, {"items", items}}));
  }
  auto selector = api::LabelSelector::parse(ex.request().queryValue("labelSelector"));
  json::array items;
  for (const auto& n : nodes)
    for (const auto& p : n.pods) {
      if ((!ns.empty() && p.ns != ns) || (!name.empty() && p.name != name)) continue;
      if (selector && !selector->empty()) {
        auto pod = registry_.get(*api::findByKind("v1", "Pod"), p.ns, p.name);
        if (!pod || !selector->matches(api::valueAt(*pod, "metadata.labels"))) continue;
      }
      json::array containers;
      for (const auto& c : p.containers)
        containers.push_back(json::object{{"name", c.name}, {"usage", json::object{{"cpu", nanocores(c.cpuCores)}, {"memory", kibibytes(c.memoryWorkingSet)}}}});
      items.push_back(json::object{{"metadata", json::object{{"name", p.name}, {"namespace", p.ns}, {"creationTimestamp", now}}},
                                   {"timestamp", now}, {"window", "10s"}, {"containers", std::move(containers)}});
    }
  if (!name.empty()) {
    if (items.empty()) return ex.respond(errorResponse(Error::notFound("podmetrics.metrics.k8s.io \"" + name + "\" not found")));
    json::object one = items[0].as_object();
    one["kind"] = "PodMetrics";
    one["apiVersion"] = "metrics.k8s.io/v1beta1";
    return ex.respond(jsonResponse(200, one));
  }
  ex.respond(jsonResponse(200, json::object{{"kind", "PodMetricsList"}, {"apiVersion", "metrics.k8s.io/v1beta1"},
                                            {"metadata", json::object()}, {"items", items}}));
}

namespace {
// The container a pods/log or pods/exec request means, as kube-apiserver picks it: the one named,
// else the annotated default, else the only one.
Result<std::string> containerFor(const json::value& pod, const std::string& requested) {
  if (!requested.empty()) return requested;
  std::string annotated;
  if (const json::value* a = api::valueAt(pod, "metadata.annotations"); a && a->is_object())
    if (const json::value* d = a->get_object().if_contains("kubectl.kubernetes.io/default-container"); d && d->is_string())
      annotated = std::string(d->get_string());
  if (!annotated.empty()) return annotated;
  std::vector<std::string> names;
  if (const json::value* cs = api::valueAt(pod, "spec.containers"); cs && cs->is_array())
    for (const auto& c : cs->get_array()) names.push_back(api::stringAt(c, "name"));
  if (names.size() == 1) return names[0];
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : " ") + n;
  return Error::badRequest("a container name must be specified for pod " + api::stringAt(pod, "metadata.name") + ", choose one of: [" + list + "]");
}

std::string queryString(const http::Request& req, std::initializer_list<const char*> names) {
  std::string out;
  for (const char* n : names)
    for (auto [it, end] = req.query.equal_range(n); it != end; ++it)
      out += (out.empty() ? "?" : "&") + std::string(n) + "=" + http::percentEncode(it->second);
  return out;
}
}  // namespace

// pods/log, pods/exec, pods/attach and pods/portforward: relayed to the node server of the pod's
// node (the kubelet's /containerLogs, /exec, /attach and /portForward), streaming.
void ApiServer::serveNodeStream(http::Exchange& ex, const Route& route) {
  const http::Request& req = ex.request();
  const std::string& sub = route.subresource;
  auto fail = [&](const Error& e) { ex.respond(errorResponse(e, route.name, "", "pods")); };
  bool streaming = sub != "log";
  if (!streaming && req.method != "GET") return fail(Error{405, "MethodNotAllowed", "pods/log only accepts GET", {}});
  if (streaming && req.method != "GET" && req.method != "POST") return fail(Error{405, "MethodNotAllowed", "pods/" + sub + " accepts GET and POST", {}});
  auto pod = registry_.get(*route.type, route.ns, route.name);
  if (!pod) return fail(pod.error());
  std::string node = api::stringAt(*pod, "spec.nodeName");
  if (node.empty()) return fail(Error::badRequest("pod " + route.name + " is not scheduled to a node yet"));
  if (streaming && api::stringAt(*pod, "status.phase") != "Running")
    return fail(Error::badRequest("unable to upgrade connection: pod does not exist or is not running (phase " + api::stringAt(*pod, "status.phase") + ")"));
  if (!options_.nodes) return fail(Error::unavailable("this API server reaches no node servers"));
  std::string target;
  if (sub == "portforward") {
    // kubectl 1.31+ tunnels SPDY in a WebSocket, which the node server speaks; it falls back to
    // a bare SPDY upgrade only when that fails, which skiff does not serve.
    std::string upgrade = req.header("upgrade");
    std::transform(upgrade.begin(), upgrade.end(), upgrade.begin(), ::tolower);
    if (upgrade != "websocket")
      return fail(Error{400, "BadRequest", "skiff serves port-forward as SPDY tunnelled in a WebSocket (SPDY/3.1+portforward.k8s.io), "
                                           "as kubectl 1.31 and newer speak it by default; upgrade kubectl (or unset "
                                           "KUBECTL_PORT_FORWARD_WEBSOCKETS=false)", {}});
    target = "/portForward/" + http::percentEncode(route.ns) + "/" + http::percentEncode(route.name) + queryString(req, {"ports"});
  } else {
    auto container = containerFor(*pod, req.queryValue("container"));
    if (!container) return fail(container.error());
    std::string where = "/" + http::percentEncode(route.ns) + "/" + http::percentEncode(route.name) + "/" + http::percentEncode(*container);
    if (sub == "log")
      target = "/containerLogs" + where + queryString(req, {"follow", "previous", "tailLines", "limitBytes", "timestamps", "sinceSeconds", "sinceTime"});
    else
      target = "/" + sub + where + queryString(req, {"command", "stdin", "stdout", "stderr", "tty"});
  }
  options_.nodes->forward(ex, node, target, sub != "log" || isFollow(req));
}

// /api/v1/nodes/<name>/proxy/<path>: a GET relayed to that node's server, as kube-apiserver relays
// to the kubelet (Prometheus scrapes /metrics/cadvisor this way).
void ApiServer::serveNodeProxy(http::Exchange& ex, const std::vector<std::string>& parts) {
  const http::Request& req = ex.request();
  if (!options_.nodes) return ex.respond(errorResponse(Error::unavailable("this API server reaches no node servers")));
  if (req.method != "GET") return ex.respond(errorResponse(Error{405, "MethodNotAllowed", "nodes/proxy relays GET only", {}}));
  std::string target;
  for (size_t i = 5; i < parts.size(); ++i) target += "/" + http::percentEncode(parts[i]);
  if (target.empty()) target = "/";
  if (size_t q = req.target.find('?'); q != std::string::npos) target += req.target.substr(q);
  options_.nodes->forward(ex, parts[3], target, isFollow(req));
}

namespace {
// timeoutSeconds as kube-apiserver reads it: a non-negative integer; absent or 0 means a random
// time between the minimum request timeout (30 min) and twice that, so watches do not all end
// (and relist) together.
Result<std::chrono::seconds> watchTimeout(const http::Request& req) {
  std::string t = req.queryValue("timeoutSeconds");
  int64_t seconds = 0;
  if (!t.empty()) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(t.c_str(), &end, 10);
    if (*end || errno == ERANGE || v < 0)
      return Error::badRequest("timeoutSeconds \"" + t + "\" is not valid: it must be a whole number of seconds, 0 or more");
    seconds = v;
  }
  constexpr int64_t kMinRequestTimeout = 1800;
  if (seconds == 0) seconds = kMinRequestTimeout + int64_t(std::random_device{}() % kMinRequestTimeout);
  // Beyond a year is forever for a watch; capping keeps the deadline arithmetic from overflowing.
  return std::chrono::seconds(std::min<int64_t>(seconds, 365LL * 24 * 3600));
}

// The ERROR event Kubernetes clients expect when their watch cannot continue: client-go and
// the Python client relist on 410.
http::Chunk watchError(const Error& e) {
  json::value status = api::decodeJson(statusBody(e)).value();
  return std::make_shared<const std::string>(json::serialize(json::object{{"type", "ERROR"}, {"object", status}}) + "\n");
}
}  // namespace

// The state one watch shares between the thread that set it up, the store's commit thread
// (events) and the HTTP server's loop (ticks) and workers (the end).
struct ApiServer::WatchState {
  std::mutex mutex;  // guards watch and sentColumns
  std::unique_ptr<store::Watch> watch;
  bool sentColumns = false;
  std::atomic<int64_t> lastRevision{0};
  std::atomic<int64_t> lastWriteMillis{0};
  std::thread::id setupThread;
};

http::Chunk ApiServer::watchFrame(const WatchEvent& e, const WatchRequest& w, WatchState& state) {
  if (w.partial) {
    json::value object = api::decodeJson(*e.raw).value();
    return std::make_shared<const std::string>(json::serialize(json::object{{"type", e.type}, {"object", partialMetadata(object)}}) + "\n");
  }
  if (w.table) {
    json::value object = api::decodeJson(*e.raw).value();
    std::lock_guard lock(state.mutex);
    json::object t{{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"},
                   {"metadata", json::object{{"resourceVersion", std::to_string(e.revision)}}},
                   {"columnDefinitions", state.sentColumns ? json::array() : api::tableColumns(*w.stored)},
                   {"rows", json::array{api::tableRow(*w.stored, object, w.include)}}};
    state.sentColumns = true;
    return std::make_shared<const std::string>(json::serialize(json::object{{"type", e.type}, {"object", std::move(t)}}) + "\n");
  }
  // One frame per event, type and served version, shared by every watcher of them: a converted
  // frame names its served version (several versions may convert from one stored object).
  int64_t tag = (e.type == "ADDED" ? 1 : e.type == "MODIFIED" ? 2 : 3);
  if (w.converted) tag += int64_t(reinterpret_cast<uintptr_t>(w.served)) << 2;
  return frames_->get(e.raw, tag, [&] {
    std::string out = "{\"type\":\"" + e.type + "\",\"object\":";
    if (w.converted) out += json::serialize(api::convertFromStored(*w.served, api::decodeJson(*e.raw).value()));
    else out += *e.raw;  // stored bytes go out as they are
    out += "}\n";
    return std::make_shared<const std::string>(std::move(out));
  });
}

void ApiServer::serveWatch(http::Exchange& ex, const Route& route) {
  const http::Request& req = ex.request();
  WatchRequest w;
  w.served = route.type;
  const api::ResourceType* storedType = api::storedVersionOf(*route.type);
  w.stored = storedType ? storedType : route.type;
  w.converted = storedType != nullptr;
  w.table = wantsTable(req);
  w.partial = !w.table && wantsPartialMetadata(req);
  w.include = includeObject(req);
  auto opts = listOptionsFrom(req);
  if (!opts) return ex.respond(errorResponse(opts.error()));
  auto timeout = watchTimeout(req);
  if (!timeout) return ex.respond(errorResponse(timeout.error()));
  int64_t from = 0;
  std::string rvParam = req.queryValue("resourceVersion");
  if (!rvParam.empty()) {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(rvParam.c_str(), &end, 10);
    if (*end || v < 0 || errno == ERANGE)
      return ex.respond(errorResponse(Error::badRequest("resourceVersion \"" + rvParam + "\" is not a valid resource version")));
    from = v;
  }
  if (Status s = waitForRevision(from); !s) {
    http::Response r = errorResponse(s.error());
    r.headers.push_back({"Retry-After", "1"});
    return ex.respond(std::move(r));
  }
  bool bookmarks = req.queryFlag("allowWatchBookmarks");
  auto state = std::make_shared<WatchState>();
  state->setupThread = std::this_thread::get_id();
  auto nowMillis = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
  state->lastWriteMillis = nowMillis();
  auto deadline = std::chrono::steady_clock::now() + *timeout;
  http::EventStreamOptions so;
  so.maxQueuedBytes = options_.watchBudgetBytes;
  so.overflowChunk = [] {
    return watchError(Error{410, "Expired", "the watch fell behind: more than its buffer of events was waiting for the client; list again and watch from there", {}});
  };
  so.tickInterval = std::min<std::chrono::milliseconds>(options_.bookmarkInterval, std::chrono::milliseconds(1000));
  so.onTick = [this, state, deadline, bookmarks, served = w.served, partial = w.partial, nowMillis](http::EventStream& stream) {
    if (std::chrono::steady_clock::now() >= deadline) return stream.end();
    if (!bookmarks || nowMillis() - state->lastWriteMillis < options_.bookmarkInterval.count()) return;
    // Every event up to the progress revision has been handed to this watch's queue already.
    int64_t rv = std::max(state->lastRevision.load(), registry_.store().progressRevision());
    json::object bm{{"kind", partial ? "PartialObjectMetadata" : served->kind}, {"apiVersion", partial ? "meta.k8s.io/v1" : served->apiVersion()},
                    {"metadata", json::object{{"resourceVersion", std::to_string(rv)},
                                              {"annotations", json::object{{"k8s.io/initial-events-end", "true"}}}}}};
    stream.push(std::make_shared<const std::string>(json::serialize(json::object{{"type", "BOOKMARK"}, {"object", bm}}) + "\n"));
    state->lastWriteMillis = nowMillis();
  };
  so.onEnd = [this, state] {
    std::unique_ptr<store::Watch> watch;
    {
      std::lock_guard lock(state->mutex);
      watch.swap(state->watch);
    }
    if (watch) --activeWatches_;
    watch.reset();  // outside the lock: the commit thread may be delivering to it
  };
  std::shared_ptr<http::EventStream> stream = ex.startEventStream(200, "application/json", so);
  http::Exchange* direct = &ex;
  int64_t startRevision = 0;
  auto watch = registry_.watch(*w.stored, route.ns, opts->labels, opts->fields, from,
                               [this, w, state, stream, direct, nowMillis](WatchEvent e) {
                                 if (!e.raw) return;
                                 state->lastRevision = std::max(state->lastRevision.load(), e.revision);
                                 http::Chunk frame = watchFrame(e, w, *state);
                                 // The initial state goes out from the handler's thread as it is
                                 // read; live events queue for the server's loop, within budget.
                                 if (std::this_thread::get_id() == state->setupThread) direct->writeDirect(*frame);
                                 else stream->push(std::move(frame));
                                 state->lastWriteMillis = nowMillis();
                               },
                               &startRevision);
  if (!watch) {
    // Kubernetes reports an expired resourceVersion inside the stream as an ERROR event.
    ex.writeDirect(*watchError(watch.error()));
    stream->end();
    return;
  }
  state->lastRevision = std::max(state->lastRevision.load(), startRevision);
  ++activeWatches_;
  std::lock_guard lock(state->mutex);
  state->watch = std::move(*watch);
}

// A watch from a revision the store has not reached yet waits briefly for it, then is refused
// as kube-apiserver refuses it (504, ResourceVersionTooLarge) rather than waiting silently.
// A list's resourceVersion and resourceVersionMatch, as kube-apiserver reads them. Lists are
// always served from the latest revision: NotOlderThan (and a plain resourceVersion) wait for a
// revision not reached yet; Exact is served only for the latest revision — skiff keeps no older
// snapshots, so an older one is 410 Expired, as Kubernetes answers for a compacted one.
Status ApiServer::checkListResourceVersion(const http::Request& req) {
  std::string rv = req.queryValue("resourceVersion"), match = req.queryValue("resourceVersionMatch");
  if (!match.empty() && match != "Exact" && match != "NotOlderThan")
    return Error::badRequest("resourceVersionMatch must be Exact or NotOlderThan, not \"" + match + "\"");
  if (!match.empty() && rv.empty()) return Error::badRequest("resourceVersionMatch is forbidden unless resourceVersion is provided");
  if (rv.empty() || rv == "0") {
    if (match == "Exact") return Error::badRequest("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"");
    return {};
  }
  char* end = nullptr;
  long long wanted = std::strtoll(rv.c_str(), &end, 10);
  if (*end || wanted < 0) return Error::badRequest("resourceVersion must be a revision number, not \"" + rv + "\"");
  if (Status s = waitForRevision(wanted); !s) return s;
  if (match == "Exact" && wanted != registry_.store().revision())
    return Error::gone("too old resource version: " + rv + " (" + std::to_string(registry_.store().revision()) +
                       "): skiff serves lists at the latest revision only; list without resourceVersionMatch=Exact");
  return {};
}

Status ApiServer::waitForRevision(int64_t revision) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (revision > registry_.store().revision()) {
    if (std::chrono::steady_clock::now() >= until) {
      Error e{504, "Timeout",
              "Too large resource version: " + std::to_string(revision) + ", current: " + std::to_string(registry_.store().revision()), {}};
      e.causes.push_back({"ResourceVersionTooLarge", "Too large resource version", ""});
      return e;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return {};
}

}  // namespace skiff::apiserver
