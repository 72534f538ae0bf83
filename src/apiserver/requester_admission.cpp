#include "apiserver/requester_admission.h"

#include <boost/json.hpp>

#include "api/object.h"

namespace skiff::apiserver {
namespace json = boost::json;

Status admitRequester(const api::ResourceType& type, const std::string& ns, json::value& object, const auth::UserInfo& user) {
  if (!object.is_object()) return {};
  if (type.kind == "CertificateSigningRequest") {
    json::value& spec = api::ensurePath(object, "spec");
    if (!spec.is_object()) return Error::invalid("spec must be an object");
    json::array groups;
    for (const auto& g : user.groups) groups.emplace_back(g);
    json::object& s = spec.as_object();
    s["username"] = user.name;
    s["groups"] = std::move(groups);
    s.erase("uid");
    s.erase("extra");
    object.as_object().erase("status");
    return {};
  }
  std::string node = user.nodeName();
  if (node.empty()) return {};
  std::string name = api::stringAt(object, "metadata.name");
  if (type.kind == "Node" && name != node)
    return Error{403, "Forbidden", "node \"" + node + "\" is not allowed to create a Node named \"" + name + "\" (a node registers only itself)", {}};
  if (type.kind == "Lease" && ns == "kube-node-lease" && name != node)
    return Error{403, "Forbidden", "node \"" + node + "\" is not allowed to create the Lease of \"" + name + "\"", {}};
  return {};
}

}  // namespace skiff::apiserver
