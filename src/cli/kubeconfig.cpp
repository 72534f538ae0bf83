#include "cli/kubeconfig.h"

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/codec.h"
#include "api/object.h"
#include "common/base64.h"

namespace skiff::cli {
namespace json = boost::json;

std::string renderKubeconfig(const Kubeconfig& c) {
  json::object user;
  if (!c.token.empty()) user["token"] = c.token;
  if (!c.certPem.empty()) {
    user["client-certificate-data"] = base64Encode(c.certPem);
    user["client-key-data"] = base64Encode(c.keyPem);
  }
  json::object cfg{
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"clusters", json::array{json::object{{"name", "skiff"}, {"cluster", json::object{{"server", c.server}, {"certificate-authority-data", base64Encode(c.caPem)}}}}}},
      {"contexts", json::array{json::object{{"name", "skiff"},
                                            {"context", json::object{{"cluster", "skiff"}, {"user", c.userName}, {"namespace", c.namespace_}}}}}},
      {"current-context", "skiff"},
      {"users", json::array{json::object{{"name", c.userName}, {"user", user}}}},
      {"preferences", json::object()}};
  return api::toYaml(cfg);
}

Result<Kubeconfig> loadKubeconfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::notFound("cannot read kubeconfig " + path + " (start skiff with `skiff up`, or pass --kubeconfig)");
  std::stringstream ss;
  ss << in.rdbuf();
  return parseKubeconfig(ss.str(), path);
}

Result<Kubeconfig> parseKubeconfig(const std::string& text, const std::string& path) {
  auto docs = api::decodeManifests(text);
  if (!docs || docs->empty() || !(*docs)[0].is_object())
    return Error::badRequest("kubeconfig " + path + " is not a valid YAML document");
  const json::value& doc = (*docs)[0];
  std::string current = api::stringAt(doc, "current-context");
  auto findNamed = [&](const char* list, const std::string& name) -> const json::value* {
    const json::value* arr = api::valueAt(doc, list);
    if (!arr || !arr->is_array()) return nullptr;
    for (const auto& item : arr->get_array())
      if (api::stringAt(item, "name") == name || name.empty()) return &item;
    return nullptr;
  };
  const json::value* ctx = findNamed("contexts", current);
  if (!ctx) return Error::badRequest("kubeconfig " + path + " has no context \"" + current + "\"");
  Kubeconfig c;
  std::string cluster = api::stringAt(*ctx, "context.cluster"), user = api::stringAt(*ctx, "context.user");
  if (auto ns = api::stringAt(*ctx, "context.namespace"); !ns.empty()) c.namespace_ = ns;
  const json::value* cl = findNamed("clusters", cluster);
  const json::value* us = findNamed("users", user);
  if (!cl) return Error::badRequest("kubeconfig " + path + " has no cluster \"" + cluster + "\"");
  c.server = api::stringAt(*cl, "cluster.server");
  if (us) {
    c.token = api::stringAt(*us, "user.token");
    for (auto [field, out] : {std::pair{"user.client-certificate-data", &c.certPem}, std::pair{"user.client-key-data", &c.keyPem}})
      if (auto data = api::stringAt(*us, field); !data.empty()) {
        auto pem = base64Decode(data);
        if (!pem) return Error::badRequest("kubeconfig " + path + ": " + std::string(field).substr(5) + " is not base64");
        *out = *pem;
      }
    if (c.certPem.empty() != c.keyPem.empty())
      return Error::badRequest("kubeconfig " + path + " has a client certificate without its key (or a key without its certificate)");
  }
  if (c.server.starts_with("https://")) {
    if (auto data = api::stringAt(*cl, "cluster.certificate-authority-data"); !data.empty()) {
      auto pem = base64Decode(data);
      if (!pem) return Error::badRequest("kubeconfig " + path + ": certificate-authority-data is not base64");
      c.caPem = *pem;
    } else if (auto file = api::stringAt(*cl, "cluster.certificate-authority"); !file.empty()) {
      std::ifstream ca(file);
      if (!ca) return Error::badRequest("kubeconfig " + path + ": cannot read certificate-authority " + file);
      std::stringstream s;
      s << ca.rdbuf();
      c.caPem = s.str();
    } else {
      return Error::badRequest("kubeconfig " + path + " has no certificate-authority-data for " + c.server +
                               " (skiff verifies the server; use the kubeconfig `skiff up` wrote)");
    }
  }
  return c;
}

std::string findKubeconfig(const std::string& flagValue) {
  if (!flagValue.empty()) return flagValue;
  if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    std::string s(env);
    return s.substr(0, s.find(':'));
  }
  if (std::filesystem::exists(".skiff/kubeconfig")) return ".skiff/kubeconfig";
  if (const char* home = std::getenv("HOME")) return std::string(home) + "/.kube/config";
  return ".skiff/kubeconfig";
}

}  // namespace skiff::cli
