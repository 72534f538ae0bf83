#include "controller/volume_binding_controller.h"

#include <boost/json.hpp>

#include <algorithm>

#include "api/object.h"
#include "api/quantity.h"
#include "common/log.h"

namespace skiff::controller {
namespace json = boost::json;

namespace {

const api::ResourceType& claimType() { return *api::findByKind("v1", "PersistentVolumeClaim"); }
const api::ResourceType& volumeType() { return *api::findByKind("v1", "PersistentVolume"); }

std::string annotation(const json::value& o, const std::string& key) {
  const json::value* a = api::valueAt(o, "metadata.annotations");
  if (!a || !a->is_object()) return "";
  const json::value* v = a->get_object().if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : "";
}

// Does the Available volume satisfy the claim (class, size, access modes)?
bool fits(const json::value& volume, const json::value& claim) {
  if (api::stringAt(volume, "spec.storageClassName") != api::stringAt(claim, "spec.storageClassName")) return false;
  auto want = api::parseQuantityMilli(api::stringAt(claim, "spec.resources.requests.storage"));
  auto have = api::parseQuantityMilli(api::stringAt(volume, "spec.capacity.storage"));
  if (want && (!have || *have < *want)) return false;
  auto modes = api::stringsAt(volume, "spec.accessModes");
  for (const auto& m : api::stringsAt(claim, "spec.accessModes"))
    if (std::find(modes.begin(), modes.end(), m) == modes.end()) return false;
  return true;
}

}  // namespace

VolumeBindingController::VolumeBindingController(client::Client& client, client::Informer& claims, client::Informer& volumes,
                                                 client::Informer& classes, client::EventRecorder* events)
    : client_(client), claims_(claims), volumes_(volumes), classes_(classes), events_(events),
      loop_("volume-binding", [this](const std::string& key) { return reconcile(key); }) {
  claims_.addHandler([this](const std::string& type, const client::ObjectPtr& claim, const client::ObjectPtr&) {
    loop_.queue().add("claim/" + client::keyOf(*claim));
    // A deleted claim releases its volume.
    if (type == "DELETED")
      if (std::string v = api::stringAt(*claim, "spec.volumeName"); !v.empty()) loop_.queue().add("volume/" + v);
  });
  volumes_.addHandler([this](const std::string&, const client::ObjectPtr& volume, const client::ObjectPtr&) {
    loop_.queue().add("volume/" + api::stringAt(*volume, "metadata.name"));
    // A new Available volume may fit a waiting claim: look at the Pending ones.
    if (api::stringAt(*volume, "status.phase") == "Available")
      for (const auto& c : claims_.list())
        if (api::stringAt(*c, "spec.volumeName").empty()) loop_.queue().add("claim/" + client::keyOf(*c));
  });
  classes_.addHandler([this](const std::string&, const client::ObjectPtr&, const client::ObjectPtr&) {
    for (const auto& c : claims_.list())
      if (api::stringAt(*c, "status.phase") != "Bound") loop_.queue().add("claim/" + client::keyOf(*c));
  });
}

Result<Requeue> VolumeBindingController::reconcile(const std::string& key) {
  if (key.starts_with("volume/")) return reconcileVolume(key.substr(7));
  auto [ns, name] = client::splitKey(key.substr(6));
  return reconcileClaim(ns, name);
}

Status VolumeBindingController::bind(const json::value& claim, const json::value& volume) {
  std::string ns = api::stringAt(claim, "metadata.namespace"), name = api::stringAt(claim, "metadata.name");
  std::string pv = api::stringAt(volume, "metadata.name");
  // The volume first: its claimRef reserves it for this claim.
  if (api::stringAt(volume, "spec.claimRef.uid") != api::stringAt(claim, "metadata.uid")) {
    json::object ref{{"kind", "PersistentVolumeClaim"}, {"apiVersion", "v1"}, {"namespace", ns}, {"name", name},
                     {"uid", api::stringAt(claim, "metadata.uid")}};
    json::object patch{{"metadata", json::object{{"resourceVersion", api::stringAt(volume, "metadata.resourceVersion")}}},
                       {"spec", json::object{{"claimRef", ref}}}};
    auto r = client_.patch(volumeType(), "", pv, client::PatchType::Merge, patch, "");
    if (!r) return r.error();
  }
  if (api::stringAt(volume, "status.phase") != "Bound") {
    auto r = client_.patch(volumeType(), "", pv, client::PatchType::Merge, json::object{{"status", json::object{{"phase", "Bound"}}}}, "status");
    if (!r) return r.error();
  }
  if (api::stringAt(claim, "spec.volumeName") != pv) {
    json::object patch{{"metadata", json::object{{"annotations", json::object{{"pv.kubernetes.io/bind-completed", "yes"},
                                                                                  {"pv.kubernetes.io/bound-by-controller", "yes"}}}}},
                       {"spec", json::object{{"volumeName", pv}}}};
    auto r = client_.patch(claimType(), ns, name, client::PatchType::Merge, patch, "");
    if (!r) return r.error();
  }
  json::object status{{"phase", "Bound"}};
  if (const json::value* m = api::valueAt(volume, "spec.accessModes")) status["accessModes"] = *m;
  if (const json::value* c = api::valueAt(volume, "spec.capacity")) status["capacity"] = *c;
  auto r = client_.patch(claimType(), ns, name, client::PatchType::Merge, json::object{{"status", status}}, "status");
  if (!r) return r.error();
  log::info("volume-binding", "bound claim " + ns + "/" + name + " to volume " + pv);
  return {};
}

Result<Requeue> VolumeBindingController::reconcileClaim(const std::string& ns, const std::string& name) {
  client::ObjectPtr claim = claims_.get(ns, name);
  if (!claim || api::valueAt(*claim, "metadata.deletionTimestamp")) return Requeue::done();
  std::string uid = api::stringAt(*claim, "metadata.uid");
  if (std::string pv = api::stringAt(*claim, "spec.volumeName"); !pv.empty()) {
    client::ObjectPtr volume = volumes_.get("", pv);
    if (!volume) return Requeue::done();  // a volume named by the user that does not exist (yet)
    if (api::stringAt(*claim, "status.phase") == "Bound" && api::stringAt(*volume, "status.phase") == "Bound") return Requeue::done();
    std::string owner = api::stringAt(*volume, "spec.claimRef.uid");
    if (!owner.empty() && owner != uid) return Requeue::done();  // the volume is someone else's
    if (Status s = bind(*claim, *volume); !s) return s.error();
    return Requeue::done();
  }
  // A static volume that fits, or one reserved for this claim by its claimRef.
  for (const auto& v : volumes_.list()) {
    std::string ref = api::stringAt(*v, "spec.claimRef.uid");
    bool reserved = ref == uid || (ref.empty() && api::stringAt(*v, "spec.claimRef.name") == name &&
                                   api::stringAt(*v, "spec.claimRef.namespace") == ns);
    if (reserved || (ref.empty() && api::stringAt(*v, "spec.claimRef.name").empty() && api::stringAt(*v, "status.phase") == "Available" &&
                     fits(*v, *claim))) {
      if (Status s = bind(*claim, *v); !s) return s.error();
      return Requeue::done();
    }
  }
  std::string className = api::stringAt(*claim, "spec.storageClassName");
  client::ObjectPtr cls = className.empty() ? nullptr : classes_.get("", className);
  if (!cls || api::stringAt(*cls, "provisioner") != kLocalPathProvisioner) return Requeue::done();  // someone else's to provision
  std::string node = annotation(*claim, kSelectedNodeAnnotation);
  std::string mode = api::stringAt(*cls, "volumeBindingMode");
  if (mode == "WaitForFirstConsumer" && node.empty()) {
    if (events_ && annotation(*claim, "skiff.dev/waiting-reported").empty() && api::stringAt(*claim, "status.phase") == "Pending") {
      // Once per claim, as Kubernetes' event (the annotation keeps restarts quiet).
      events_->normal(*claim, "WaitForFirstConsumer", "waiting for first consumer to be created before binding");
      auto r = client_.patch(claimType(), ns, name, client::PatchType::Merge,
                             json::object{{"metadata", json::object{{"annotations", json::object{{"skiff.dev/waiting-reported", "true"}}}}}}, "");
      (void)r;
    }
    return Requeue::done();
  }
  // Provision: a volume on the chosen node (or anywhere, for Immediate binding).
  std::string pvName = "pvc-" + uid;
  json::object spec{{"capacity", json::object{{"storage", api::stringAt(*claim, "spec.resources.requests.storage").empty()
                                                               ? std::string("1Gi")
                                                               : api::stringAt(*claim, "spec.resources.requests.storage")}}},
                    {"accessModes", api::valueAt(*claim, "spec.accessModes") ? *api::valueAt(*claim, "spec.accessModes") : json::value(json::array{"ReadWriteOnce"})},
                    {"persistentVolumeReclaimPolicy", api::stringAt(*cls, "reclaimPolicy").empty() ? "Delete" : api::stringAt(*cls, "reclaimPolicy")},
                    {"storageClassName", className},
                    {"volumeMode", api::stringAt(*claim, "spec.volumeMode").empty() ? "Filesystem" : api::stringAt(*claim, "spec.volumeMode")},
                    {"claimRef", json::object{{"kind", "PersistentVolumeClaim"}, {"apiVersion", "v1"}, {"namespace", ns}, {"name", name}, {"uid", uid}}},
                    {"local", json::object{{"path", "claims/" + pvName}}}};
  if (!node.empty())
    spec["nodeAffinity"] = json::object{{"required", json::object{{"nodeSelectorTerms", json::array{json::object{{"matchExpressions", json::array{
                              json::object{{"key", "kubernetes.io/hostname"}, {"operator", "In"}, {"values", json::array{json::string(node)}}}}}}}}}}};
  json::value volume = json::object{{"apiVersion", "v1"}, {"kind", "PersistentVolume"},
                                    {"metadata", json::object{{"name", pvName}, {"annotations", json::object{{"pv.kubernetes.io/provisioned-by", kLocalPathProvisioner}}}}},
                                    {"spec", std::move(spec)}};
  auto created = client_.create(volumeType(), "", volume);
  if (!created && created.error().reason != "AlreadyExists") return created.error();
  if (created && events_)
    events_->normal(*claim, "ProvisioningSucceeded",
                    "Successfully provisioned volume " + pvName + (node.empty() ? "" : " on node " + node));
  client::ObjectPtr fresh = volumes_.get("", pvName);
  json::value stored = created ? *created : fresh ? *fresh : json::value();
  if (stored.is_null()) return Requeue::in(std::chrono::milliseconds(200));
  if (Status s = bind(*claim, stored); !s) return s.error();
  return Requeue::done();
}

Result<Requeue> VolumeBindingController::reconcileVolume(const std::string& name) {
  client::ObjectPtr volume = volumes_.get("", name);
  if (!volume) return Requeue::done();
  std::string refUid = api::stringAt(*volume, "spec.claimRef.uid");
  if (refUid.empty()) return Requeue::done();
  client::ObjectPtr claim = claims_.get(api::stringAt(*volume, "spec.claimRef.namespace"), api::stringAt(*volume, "spec.claimRef.name"));
  if (claim && api::stringAt(*claim, "metadata.uid") == refUid) return Requeue::done();
  // Its claim is gone: released, and deleted when the policy says so.
  if (api::stringAt(*volume, "spec.persistentVolumeReclaimPolicy") == "Delete") {
    auto r = client_.remove(volumeType(), "", name);
    if (!r && r.error().code != 404) return r.error();
    log::info("volume-binding", "deleted volume " + name + ": its claim is gone (reclaimPolicy Delete)");
    return Requeue::done();
  }
  if (api::stringAt(*volume, "status.phase") != "Released") {
    auto r = client_.patch(volumeType(), "", name, client::PatchType::Merge, json::object{{"status", json::object{{"phase", "Released"}}}}, "status");
    if (!r && r.error().code != 404) return r.error();
  }
  return Requeue::done();
}

}  // namespace skiff::controller
