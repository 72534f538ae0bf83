// What Helm's kube client does to a cluster for a release, over client::Client: objects parsed
// once from a release manifest, created in Helm's install order and deleted in its uninstall
// order, an upgrade as a three-way diff (dropped objects deleted, changed ones patched, new ones
// created), the ownership Helm 3 stamps on objects and checks before adopting one, hooks run by
// weight with their delete policies, and --wait's readiness checks.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/resources.h"
#include "client/client.h"
#include "helm/release.h"

namespace skiff::helm {

using Clock = std::chrono::steady_clock;
// The served type of apiVersion/kind (discovery on the CLI side, the built-in table in tests).
using KindResolver = std::function<Result<api::ResourceType>(const std::string& apiVersion, const std::string& kind)>;

// One object of a release, parsed at the edge.
struct KubeObject {
  std::string source;  // template path, for messages
  api::ResourceType type;
  std::string kind, name, nameSpace;  // nameSpace: "" for cluster-scoped kinds
  std::map<std::string, std::string> annotations;
  Value object;
  // "apps/Deployment/ns/name": identity across revisions.
  std::string key() const { return type.group + "/" + kind + "/" + nameSpace + "/" + name; }
  // `Deployment "web" in namespace "shop"`, as Helm names objects in messages.
  std::string describe() const;
};

struct ManifestDocument {
  std::string source, content;
};
// A release manifest ("---\n# Source: path\n<doc>\n"...) back into its documents.
std::vector<ManifestDocument> splitManifest(const std::string& manifest);
// Objects from documents; namespaced kinds without a namespace go to `releaseNamespace`.
Result<std::vector<KubeObject>> parseObjects(const std::vector<ManifestDocument>& documents,
                                             const std::string& releaseNamespace, const KindResolver& resolve);
// Stable sort by a kind order (installOrder() or uninstallOrder()); unknown kinds last, by kind.
void sortByKind(std::vector<KubeObject>& objects, const std::vector<std::string>& order);

// The hooks of rendered hook documents (helm.sh/hook, -weight, -delete-policy annotations).
Result<std::vector<Hook>> parseHooks(const std::vector<ManifestDocument>& hookDocuments);

struct UpgradeStep {
  KubeObject target;
  std::optional<KubeObject> original;  // none: the object is new in this revision
};
struct UpgradePlan {
  std::vector<UpgradeStep> apply;  // every target object, in the target's (install) order
  std::vector<KubeObject> remove;  // only in the original, in uninstall order
  std::vector<KubeObject> created() const;  // the targets without an original
};
// The diff of two revisions' objects; applied as Helm does: each target object created or
// patched in install order, then the dropped ones deleted.
UpgradePlan planUpgrade(const std::vector<KubeObject>& original, const std::vector<KubeObject>& target);

// The target with each list item (matched by its merge key) completed by the fields the live
// item has that neither revision wrote — a Service port's nodePort, defaulted container fields —
// as Helm's strategic three-way merge keeps them; a merge patch would otherwise replace the
// lists whole (and reallocate the nodePort on every upgrade).
Value keepLiveListFields(const Value& original, const Value& target, const Value& live);

// Helm 3's ownership metadata: label app.kubernetes.io/managed-by=Helm, annotations
// meta.helm.sh/release-name and meta.helm.sh/release-namespace.
void setOwnership(Value& object, const std::string& releaseName, const std::string& releaseNamespace);
// Empty when `live` belongs to the release; otherwise Helm's "invalid ownership metadata; ..." text.
std::string ownershipProblem(const Value& live, const std::string& releaseName, const std::string& releaseNamespace);

struct Readiness {
  bool ready = false;
  std::string failure;  // failed for good (a Job past its backoff limit)
};

class Kube {
 public:
  Kube(client::Client& client, KindResolver resolve) : client_(client), resolve_(std::move(resolve)) {}

  // Refuses objects that exist and are not this release's ("install" or "update" in the message).
  Status checkOwnership(const std::vector<KubeObject>& objects, const std::string& releaseName,
                        const std::string& releaseNamespace, const std::string& operation);
  // Creates each object (or brings an adopted one to the manifest), stamped with ownership.
  Status create(const std::vector<KubeObject>& objects, const std::string& releaseName, const std::string& releaseNamespace);
  // Applies a plan: creates, three-way patches, deletions (helm.sh/resource-policy: keep honoured).
  Status update(const UpgradePlan& plan, const std::string& releaseName, const std::string& releaseNamespace);
  // Deletes in the given order; objects with resource-policy keep are left and listed in `kept`.
  Status remove(const std::vector<KubeObject>& objects, std::vector<std::string>& kept);
  // --wait, Helm 3's ready checks: Deployments, StatefulSets, DaemonSets and Pods ready, Jobs
  // complete (Helm only with --wait-for-jobs), PVCs bound, CRDs established, Services with a
  // cluster IP (and an external IP or load-balancer address when of that type), by `deadline`.
  Status waitReady(const std::vector<KubeObject>& objects, Clock::time_point deadline);
  // Runs the release's hooks for `event` by weight (then name); Jobs and Pods are waited for.
  // Records each hook's last run in `release`.
  Status runHooks(Release& release, const std::string& event, Clock::time_point deadline);

 private:
  Readiness deploymentReadiness(const Value& deployment);
  Status deleteAndWait(const KubeObject& object, Clock::time_point deadline);
  Status waitHook(const KubeObject& object, Clock::time_point deadline);
  client::Client& client_;
  KindResolver resolve_;
};

}  // namespace skiff::helm
