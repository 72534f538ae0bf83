// The CustomResourceDefinitions skiff bundles for GitOps: Argo CD's Application and ApplicationSet
// (argoproj.io/v1alpha1), installed at startup as k3s installs its bundled CRDs, so manifests
// written for Argo CD apply unchanged and `kubectl get applications` works as with Argo CD.
//
// The schemas are structural and list the fields skiff reads (with Argo CD's names and types);
// the rest of spec (jsonnet, plugin, ignoreDifferences, ...) and all of status and operation are
// kept as written (x-kubernetes-preserve-unknown-fields), so nothing an Argo CD user writes is
// pruned. Like Argo CD's, the Application has no status subresource: the controller writes
// status (and clears operation) through the main resource.
#pragma once
#include <vector>

#include <boost/json/value.hpp>

#include "client/client.h"
#include "common/result.h"

namespace skiff::gitops {

// The bundled definitions as CustomResourceDefinition objects.
std::vector<boost::json::value> bundledDefinitions();

// Creates the bundled definitions that are missing and brings older copies up to date (a newer
// skiff may list more fields); a definition a user changed is replaced, as k3s does.
Status installDefinitions(client::Client& client);

}  // namespace skiff::gitops
