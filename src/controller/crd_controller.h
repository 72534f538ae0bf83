// CustomResourceDefinitionController: serves what CustomResourceDefinitions define, as
// apiextensions-apiserver's controllers do.
//
// - An accepted definition (its names free in its group, among the built-in kinds and the other
//   definitions) is published to CustomResources, so its kind is served at once: REST, watch,
//   discovery and tables. Its status says so: acceptedNames, storedVersions and the
//   NamesAccepted and Established conditions (NamesAccepted=False with reason NameConflict when a
//   name is taken). Definitions carrying x-kubernetes-validations (CEL) rules also get
//   ValidationRulesEvaluated=False: skiff does not run them and says which.
// - A definition marked for deletion stops taking new objects (Terminating), has every object of
//   its kind deleted, then loses its `customresourcecleanup.apiextensions.k8s.io` finalizer and
//   goes; its kind is withdrawn.
//
// Runs in every API server process (each serves the kinds; their status writes agree), not
// behind the controller Lease. Threading: one ReconcileLoop worker; informer handlers only enqueue.
#pragma once
#include <memory>

#include "apiserver/custom_resources.h"
#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class CustomResourceDefinitionController {
 public:
  CustomResourceDefinitionController(client::Client& client, apiserver::CustomResources& catalog);
  ~CustomResourceDefinitionController() { stop(); }
  // Lists the definitions and publishes the accepted ones before returning, so a restarted
  // server serves its custom kinds from its first request; then follows changes.
  Status start();
  void stop();
  Result<Requeue> reconcile(const std::string& name);

 private:
  Result<Requeue> establish(const client::ObjectPtr& crd);
  Result<Requeue> cleanUp(const client::ObjectPtr& crd);
  Status writeStatus(const client::ObjectPtr& crd, boost::json::object status);

  client::Client& client_;
  apiserver::CustomResources& catalog_;
  client::Informer informer_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
