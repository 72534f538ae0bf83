// ClusterRoleAggregationController: a ClusterRole with an aggregationRule holds the rules of every
// ClusterRole its selectors match (auth/rbac_aggregation.h), as kube-controller-manager's
// clusterrole-aggregation controller writes them — how admin, edit and view pick up the rules of
// roles labelled aggregate-to-{admin,edit,view}, a CRD's included.
//
// Threading: one ReconcileLoop worker; a change to any ClusterRole enqueues every aggregated one
// (they are few), and reconcile reads the informer's cache.
#pragma once
#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class ClusterRoleAggregationController {
 public:
  ClusterRoleAggregationController(client::Client& client, client::Informer& clusterRoles);
  void start() { loop_.start(1); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& name);

 private:
  client::Client& client_;
  client::Informer& clusterRoles_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
