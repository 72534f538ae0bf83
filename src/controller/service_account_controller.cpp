#include "controller/service_account_controller.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "api/resources.h"

namespace skiff::controller {
namespace json = boost::json;

ServiceAccountController::ServiceAccountController(client::Client& client, client::Informer& namespaces, client::Informer& serviceAccounts)
    : client_(client),
      namespaces_(namespaces),
      serviceAccounts_(serviceAccounts),
      loop_("serviceaccount-controller", [this](const std::string& ns) { return reconcile(ns); }) {
  namespaces_.addHandler([this](const std::string& type, const client::ObjectPtr& ns, const client::ObjectPtr&) {
    if (type != "DELETED") loop_.queue().add(api::stringAt(*ns, "metadata.name"));
  });
  serviceAccounts_.addHandler([this](const std::string& type, const client::ObjectPtr& sa, const client::ObjectPtr&) {
    if (type == "DELETED" && api::stringAt(*sa, "metadata.name") == "default") loop_.queue().add(api::stringAt(*sa, "metadata.namespace"));
  });
}

Result<Requeue> ServiceAccountController::reconcile(const std::string& ns) {
  client::ObjectPtr namespaceObject = namespaces_.get("", ns);
  if (!namespaceObject || api::valueAt(*namespaceObject, "metadata.deletionTimestamp")) return Requeue::done();
  if (serviceAccounts_.get(ns, "default")) return Requeue::done();
  auto r = client_.create(*api::findByKind("v1", "ServiceAccount"), ns,
                          json::object{{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", json::object{{"name", "default"}}}});
  if (!r && r.error().reason != "AlreadyExists") {
    // A namespace being deleted refuses new content: nothing to do there.
    if (r.error().code == 403 || r.error().code == 404) return Requeue::done();
    return r.error();
  }
  return Requeue::done();
}

}  // namespace skiff::controller
