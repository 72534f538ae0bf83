// ApplicationSet (argoproj.io/v1alpha1): stamps Applications out of a template, one per set of
// parameters a generator yields, as Argo CD's ApplicationSet controller does.
//
// Generators: `list` (its elements, each a map of parameters). Others (git, cluster, matrix, ...)
// are reported in a condition by name, not ignored. Templates: Argo CD's default fasttemplate
// (`{{key}}`, `{{values.key}}` for nested maps) or, with goTemplate: true, Go text/template with
// sprig (src/helm's engine) over the element (`{{.key}}`).
//
// Generated Applications are owned by the set (ownerReference, so deleting the set deletes them
// through the garbage collector), applied with server-side apply (field manager
// applicationset-controller), and deleted when their element leaves the list.
//
// Threading: the informer handlers only enqueue; one reconcile at a time per set.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "api/resources.h"
#include "client/informer.h"
#include "common/result.h"
#include "controller/reconcile_loop.h"

namespace skiff::gitops {

// The Applications a set's spec yields (apiVersion, kind, metadata.name/namespace, spec), or
// why it yields none (an unknown generator, a template that does not render, two elements
// rendering the same name).
Result<std::vector<boost::json::value>> generateApplications(const boost::json::value& applicationSet);

class ApplicationSetController {
 public:
  ApplicationSetController(client::Client& client, std::function<std::vector<const api::ResourceType*>()> customKinds);
  ~ApplicationSetController();
  Status start();
  void stop();
  Result<controller::Requeue> reconcile(const std::string& key);

 private:
  const api::ResourceType* customKind(const std::string& kind) const;
  Status writeStatus(const client::ObjectPtr& set, const std::string& status, const std::string& reason, const std::string& message,
                     boost::json::array resources);

  client::Client& client_;
  std::function<std::vector<const api::ResourceType*>()> customKinds_;
  const api::ResourceType* setType_ = nullptr;
  const api::ResourceType* applicationType_ = nullptr;
  std::unique_ptr<client::Informer> sets_, applications_;
  controller::ReconcileLoop loop_;
};

}  // namespace skiff::gitops
