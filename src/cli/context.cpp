#include "cli/context.h"

#include <algorithm>
#include <boost/json.hpp>

#include "api/codec.h"
#include "api/object.h"
#include "cli/kubeconfig.h"

namespace skiff::cli {
namespace json = boost::json;

std::vector<FlagSpec> commonFlags() {
  return {{"kubeconfig", "", true}, {"namespace", "n", true}, {"server", "s", true}, {"token", "", true}};
}

std::string Resource::displayName() const {
  std::string s = kind;
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return group.empty() ? s : s + "." + group;
}

std::string Resource::path(const std::string& ns, const std::string& name) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + http::percentEncode(ns);
  p += "/" + plural;
  if (!name.empty()) p += "/" + http::percentEncode(name);
  return p;
}

Result<std::unique_ptr<Context>> Context::connect(const Flags& flags) {
  auto ctx = std::make_unique<Context>();
  Kubeconfig config;
  if (flags.has("server")) {
    config.server = flags.get("server");
    config.token = flags.get("token");
  } else {
    auto loaded = loadKubeconfig(findKubeconfig(flags.get("kubeconfig")));
    if (!loaded) return loaded.error();
    config = *loaded;
    if (flags.has("token")) config.token = flags.get("token");
  }
  auto hp = http::parseHostPort(config.server, 6443);
  if (!hp) return hp.error();
  ctx->client_ = std::make_unique<http::Client>(hp->first, hp->second, config.token, config.caPem);
  // A person's kubeconfig (skiff kubeconfig create) holds a client certificate instead of a token.
  if (!config.certPem.empty() && config.token.empty()) ctx->client_->setClientCertificate(config.certPem, config.keyPem);
  ctx->defaultNamespace_ = flags.get("namespace", config.namespace_);
  ctx->server_ = config.server;
  ctx->config_ = config;
  return ctx;
}

Result<std::unique_ptr<client::RestClient>> Context::restClient() const {
  client::RestConfig rest;
  rest.servers = {config_.server};
  rest.caPem = config_.caPem;
  rest.token = config_.token;
  rest.certPem = config_.certPem;
  rest.keyPem = config_.keyPem;
  return client::RestClient::create(std::move(rest));
}

Result<api::ResourceType> Context::resourceType(const std::string& apiVersion, const std::string& kind) {
  auto r = resolveKind(apiVersion, kind);
  if (!r) return r.error();
  api::ResourceType t;
  t.group = r->group;
  t.version = r->version;
  t.kind = r->kind;
  t.plural = r->plural;
  t.singular = r->singular;
  t.namespaced = r->namespaced;
  t.shortNames = r->shortNames;
  t.categories = r->categories;
  return t;
}

Error errorFromResponse(const http::ClientResponse& r) {
  auto v = api::decodeJson(r.body);
  if (v && api::stringAt(*v, "kind") == "Status") {
    Error e{r.status, api::stringAt(*v, "reason"), api::stringAt(*v, "message"), {}};
    return e;
  }
  return Error{r.status, "", "the server answered " + std::to_string(r.status) + ": " + r.body.substr(0, 500), {}};
}

Result<json::value> Context::call(const std::string& method, const std::string& target, const std::string& body,
                                  const std::string& contentType, const http::Headers& extra) {
  auto r = client_->request(method, target, body, contentType, extra);
  if (!r) return r.error();
  if (r->status < 200 || r->status >= 300) return errorFromResponse(*r);
  for (const auto& [k, v] : r->headers)
    if (k == "warning") std::fprintf(stderr, "Warning: %s\n", v.c_str());
  auto v = api::decodeJson(r->body);
  if (!v) return Error::internal("the server's answer is not JSON: " + v.error().message);
  return v;
}

Status Context::loadDiscovery() {
  if (discovered_) return {};
  std::vector<std::string> groupVersions{"/api/v1"};
  auto groups = call("GET", "/apis");
  if (!groups) return groups.error();
  if (const json::value* gs = api::valueAt(*groups, "groups"); gs && gs->is_array())
    for (const auto& g : gs->get_array()) {
      // Every served version (a kind may exist only in an older one, as TCPRoute in v1alpha2),
      // the preferred first so that names resolve to it as kubectl's do.
      std::string preferred = api::stringAt(g, "preferredVersion.groupVersion");
      groupVersions.push_back("/apis/" + preferred);
      if (const json::value* vs = api::valueAt(g, "versions"); vs && vs->is_array())
        for (const auto& v : vs->get_array())
          if (std::string gv = api::stringAt(v, "groupVersion"); !gv.empty() && gv != preferred) groupVersions.push_back("/apis/" + gv);
    }
  for (const auto& path : groupVersions) {
    auto list = call("GET", path);
    if (!list) return list.error();
    std::string gv = api::stringAt(*list, "groupVersion");
    auto slash = gv.find('/');
    std::string group = slash == std::string::npos ? "" : gv.substr(0, slash);
    std::string version = slash == std::string::npos ? gv : gv.substr(slash + 1);
    if (const json::value* rs = api::valueAt(*list, "resources"); rs && rs->is_array())
      for (const auto& r : rs->get_array()) {
        std::string name = api::stringAt(r, "name");
        if (name.find('/') != std::string::npos) continue;
        Resource res{group, version, api::stringAt(r, "kind"), name, api::stringAt(r, "singularName"), true, {}, {}};
        if (auto* ns = api::valueAt(r, "namespaced"); ns && ns->is_bool()) res.namespaced = ns->get_bool();
        if (auto* sn = api::valueAt(r, "shortNames"); sn && sn->is_array())
          for (const auto& s : sn->get_array())
            if (s.is_string()) res.shortNames.emplace_back(s.get_string());
        if (auto* cs = api::valueAt(r, "categories"); cs && cs->is_array())
          for (const auto& s : cs->get_array())
            if (s.is_string()) res.categories.emplace_back(s.get_string());
        resources_.push_back(std::move(res));
      }
  }
  discovered_ = true;
  return {};
}

Result<Resource> Context::resolve(const std::string& input) {
  if (Status s = loadDiscovery(); !s) return s.error();
  std::string name = input, group;
  bool qualified = false;
  if (auto dot = input.find('.'); dot != std::string::npos) {
    name = input.substr(0, dot);
    group = input.substr(dot + 1);
    qualified = true;
  }
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  for (const auto& r : resources_) {
    if (qualified && r.group != group) continue;
    std::string kindLower = r.kind;
    std::transform(kindLower.begin(), kindLower.end(), kindLower.begin(), ::tolower);
    bool hit = r.plural == lower || r.singular == lower || kindLower == lower;
    for (const auto& s : r.shortNames) hit = hit || s == lower;
    if (hit) return r;
  }
  return Error::notFound("the server doesn't have a resource type \"" + input + "\" (see `kubectl api-resources` for the list)");
}

std::vector<Resource> Context::category(const std::string& name) {
  std::vector<Resource> out;
  if (!loadDiscovery()) return out;
  for (const auto& r : resources_) {
    if (std::find(r.categories.begin(), r.categories.end(), name) == r.categories.end()) continue;
    bool seen = std::any_of(out.begin(), out.end(), [&](const Resource& o) { return o.group == r.group && o.plural == r.plural; });
    if (!seen) out.push_back(r);
  }
  return out;
}

Result<Resource> Context::resolveKind(const std::string& apiVersion, const std::string& kind) {
  if (Status s = loadDiscovery(); !s) return s.error();
  for (const auto& r : resources_)
    if (r.apiVersion() == apiVersion && r.kind == kind) return r;
  return Error::notFound("no matches for kind \"" + kind + "\" in version \"" + apiVersion + "\"");
}

}  // namespace skiff::cli
