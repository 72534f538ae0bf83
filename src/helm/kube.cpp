#include "helm/kube.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <thread>

#include <boost/json.hpp>

#include "api/codec.h"
#include "api/patch.h"

namespace skiff::helm {
namespace json = boost::json;

namespace {

constexpr const char* kManagedBy = "app.kubernetes.io/managed-by";
constexpr const char* kReleaseName = "meta.helm.sh/release-name";
constexpr const char* kReleaseNamespace = "meta.helm.sh/release-namespace";
constexpr const char* kResourcePolicy = "helm.sh/resource-policy";
constexpr auto kPollInterval = std::chrono::milliseconds(200);

const json::value* field(const json::value& v, std::initializer_list<std::string_view> path) {
  const json::value* cur = &v;
  for (auto k : path) {
    const json::object* o = cur->if_object();
    cur = o ? o->if_contains(k) : nullptr;
    if (!cur) return nullptr;
  }
  return cur;
}
std::string text(const json::value& v, std::initializer_list<std::string_view> path) {
  const json::value* f = field(v, path);
  return f && f->is_string() ? std::string(f->get_string()) : std::string();
}
int64_t number(const json::value& v, std::initializer_list<std::string_view> path, int64_t fallback = 0) {
  const json::value* f = field(v, path);
  return f && f->is_number() ? int64_t(f->to_number<double>()) : fallback;
}
std::map<std::string, std::string> stringMap(const json::value& v, std::initializer_list<std::string_view> path) {
  std::map<std::string, std::string> out;
  if (const json::value* f = field(v, path); f && f->is_object())
    for (const auto& kv : f->get_object())
      if (kv.value().is_string()) out[std::string(kv.key())] = std::string(kv.value().get_string());
  return out;
}
std::vector<std::string> commaList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

// The condition `type` of a status: "True", "False", or "" when absent; its reason too.
struct Condition {
  std::string status, reason, message;
};
Condition condition(const json::value& object, std::string_view type) {
  if (const json::value* cs = field(object, {"status", "conditions"}); cs && cs->is_array())
    for (const auto& c : cs->get_array())
      if (text(c, {"type"}) == type) return {text(c, {"status"}), text(c, {"reason"}), text(c, {"message"})};
  return {};
}

// Helm's ready checks, one kind at a time: ok, not yet, or failed for good.
Readiness readiness(const std::string& kind, const json::value& live) {
  int64_t generation = number(live, {"metadata", "generation"}), observed = number(live, {"status", "observedGeneration"});
  bool current = observed == 0 || observed >= generation;
  if (kind == "StatefulSet" || kind == "ReplicaSet") {
    int64_t want = number(live, {"spec", "replicas"}, 1);
    bool ready = current && number(live, {"status", "readyReplicas"}) >= want;
    // A partitioned rolling update only moves the pods at or above the partition.
    if (kind == "StatefulSet")
      ready = ready && number(live, {"status", "updatedReplicas"}) >= want - number(live, {"spec", "updateStrategy", "rollingUpdate", "partition"});
    return {ready, ""};
  }
  if (kind == "DaemonSet") {
    int64_t want = number(live, {"status", "desiredNumberScheduled"});
    return {current && number(live, {"status", "numberReady"}) >= want && number(live, {"status", "updatedNumberScheduled"}) >= want, ""};
  }
  if (kind == "Job") {
    if (Condition f = condition(live, "Failed"); f.status == "True") return {false, "job failed: " + f.reason};
    return {condition(live, "Complete").status == "True", ""};
  }
  if (kind == "Pod") return {condition(live, "Ready").status == "True", ""};
  if (kind == "CustomResourceDefinition")
    return {condition(live, "Established").status == "True" || condition(live, "NamesAccepted").status == "False", ""};
  if (kind == "PersistentVolumeClaim") return {text(live, {"status", "phase"}) == "Bound", ""};
  if (kind == "Service") {
    std::string type = text(live, {"spec", "type"});
    if (type == "ExternalName") return {true, ""};
    if (text(live, {"spec", "clusterIP"}).empty()) return {false, ""};
    if (type == "LoadBalancer") {
      const json::value* external = field(live, {"spec", "externalIPs"});
      if (external && external->is_array() && !external->get_array().empty()) return {true, ""};
      const json::value* ingress = field(live, {"status", "loadBalancer", "ingress"});
      return {ingress && ingress->is_array() && !ingress->get_array().empty(), ""};
    }
    return {true, ""};
  }
  return {true, ""};
}

// Helm's MaxUnavailable of a Deployment: the rolling update's maxUnavailable (a count, or a
// percentage rounded down), 1 when it and maxSurge both come to 0, never above the replicas;
// 0 for Recreate.
int64_t maxUnavailable(const json::value& deployment, int64_t replicas) {
  if (text(deployment, {"spec", "strategy", "type"}) == "Recreate" || replicas == 0) return 0;
  auto scaled = [&](std::string_view key, bool roundUp) -> int64_t {
    const json::value* v = field(deployment, {"spec", "strategy", "rollingUpdate", key});
    if (!v) return roundUp ? (replicas * 25 + 99) / 100 : replicas * 25 / 100;  // 25% default
    if (v->is_number()) return int64_t(v->to_number<double>());
    std::string p = v->is_string() ? std::string(v->get_string()) : "";
    int64_t pct = p.empty() ? 0 : std::strtol(p.c_str(), nullptr, 10);
    return roundUp ? (replicas * pct + 99) / 100 : replicas * pct / 100;
  };
  int64_t surge = scaled("maxSurge", true), unavailable = scaled("maxUnavailable", false);
  if (surge == 0 && unavailable == 0) unavailable = 1;
  return std::min(unavailable, replicas);
}

size_t rankOf(const std::string& kind, const std::vector<std::string>& order) {
  auto it = std::find(order.begin(), order.end(), kind);
  return it == order.end() ? order.size() : size_t(it - order.begin());
}

}  // namespace

Value keepLiveListFields(const Value& original, const Value& target, const Value& live) {
  static const json::value kNull;
  auto member = [](const Value& v, std::string_view k) -> const Value& {
    const json::object* o = v.if_object();
    const Value* m = o ? o->if_contains(k) : nullptr;
    return m ? *m : kNull;
  };
  if (target.is_object() && live.is_object()) {
    json::object out;
    for (const auto& kv : target.get_object())
      out[kv.key()] = keepLiveListFields(member(original, kv.key()), kv.value(), member(live, kv.key()));
    return out;
  }
  if (!target.is_array() || !live.is_array()) return target;
  // Items are matched by the merge keys of the lists charts write (containers, env, volumes by
  // name; Service ports by port; container ports by containerPort; mounts by mountPath).
  auto keyOf = [](const Value& item) -> std::pair<std::string, Value> {
    for (const char* k : {"name", "port", "containerPort", "mountPath"})
      if (const json::object* o = item.if_object(); o && o->contains(k)) return {k, o->at(k)};
    return {"", nullptr};
  };
  auto find = [](const Value& list, const std::string& k, const Value& v) -> const Value& {
    if (list.is_array())
      for (const auto& item : list.get_array())
        if (const json::object* o = item.if_object(); o && o->contains(k) && o->at(k) == v) return item;
    return kNull;
  };
  json::array out;
  for (const auto& item : target.get_array()) {
    auto [k, v] = keyOf(item);
    const Value& have = k.empty() ? kNull : find(live, k, v);
    if (!have.is_object()) {
      out.push_back(item);
      continue;
    }
    const Value& before = find(original, k, v);
    Value merged = keepLiveListFields(before, item, have);
    // What the server or another writer added to the item stays; what the chart dropped goes.
    for (const auto& field : have.get_object())
      if (!merged.get_object().contains(field.key()) && !(before.is_object() && before.get_object().contains(field.key())))
        merged.get_object()[field.key()] = field.value();
    out.push_back(std::move(merged));
  }
  return out;
}

std::string KubeObject::describe() const { return kind + " \"" + name + "\" in namespace \"" + nameSpace + "\""; }

std::vector<ManifestDocument> splitManifest(const std::string& manifest) {
  std::vector<ManifestDocument> docs;
  ManifestDocument cur;
  auto flush = [&] {
    if (cur.content.find_first_not_of(" \t\r\n") != std::string::npos) docs.push_back(cur);
    cur = {};
  };
  std::stringstream ss(manifest);
  std::string line;
  while (std::getline(ss, line)) {
    if (line == "---" || line.rfind("--- ", 0) == 0) {
      flush();
      continue;
    }
    if (cur.content.empty() && line.rfind("# Source: ", 0) == 0) {
      cur.source = line.substr(10);
      continue;
    }
    cur.content += line + "\n";
  }
  flush();
  return docs;
}

Result<std::vector<KubeObject>> parseObjects(const std::vector<ManifestDocument>& documents,
                                             const std::string& releaseNamespace, const KindResolver& resolve) {
  std::vector<KubeObject> out;
  for (const auto& doc : documents) {
    auto parsed = api::decodeManifests(doc.content);
    if (!parsed.ok()) return Error::invalid("YAML parse error on " + doc.source + ": " + parsed.error().message);
    for (auto& v : *parsed) {
      if (!v.is_object()) continue;
      KubeObject o;
      o.source = doc.source;
      o.kind = text(v, {"kind"});
      std::string apiVersion = text(v, {"apiVersion"});
      o.name = text(v, {"metadata", "name"});
      if (apiVersion.empty() || o.kind.empty())
        return Error::invalid("unable to build kubernetes objects from release manifest: " + doc.source + ": an object has no " +
                              (apiVersion.empty() ? "apiVersion" : "kind"));
      if (o.name.empty()) return Error::invalid(doc.source + ": " + o.kind + " has no metadata.name");
      auto type = resolve(apiVersion, o.kind);
      if (!type.ok())
        return Error::invalid("unable to build kubernetes objects from release manifest: resource mapping not found for name: \"" +
                              o.name + "\" namespace: \"\" from \"\": no matches for kind \"" + o.kind + "\" in version \"" +
                              apiVersion + "\"; ensure CRDs are installed first");
      o.type = *type;
      if (o.type.namespaced) {
        o.nameSpace = text(v, {"metadata", "namespace"});
        if (o.nameSpace.empty()) o.nameSpace = releaseNamespace;
      }
      o.annotations = stringMap(v, {"metadata", "annotations"});
      o.object = std::move(v);
      out.push_back(std::move(o));
    }
  }
  return out;
}

void sortByKind(std::vector<KubeObject>& objects, const std::vector<std::string>& order) {
  std::stable_sort(objects.begin(), objects.end(), [&](const KubeObject& a, const KubeObject& b) {
    size_t ra = rankOf(a.kind, order), rb = rankOf(b.kind, order);
    if (ra == rb && ra == order.size()) return a.kind < b.kind;
    return ra < rb;
  });
}

Result<std::vector<Hook>> parseHooks(const std::vector<ManifestDocument>& hookDocuments) {
  std::vector<Hook> hooks;
  for (const auto& doc : hookDocuments) {
    auto parsed = api::decodeManifests(doc.content);
    if (!parsed.ok() || parsed->empty() || !(*parsed)[0].is_object())
      return Error::invalid("YAML parse error on " + doc.source + ": a hook must be one object");
    const json::value& v = (*parsed)[0];
    auto annotations = stringMap(v, {"metadata", "annotations"});
    Hook h;
    h.name = text(v, {"metadata", "name"});
    h.kind = text(v, {"kind"});
    h.path = doc.source;
    h.manifest = doc.content;
    while (!h.manifest.empty() && h.manifest.back() == '\n') h.manifest.pop_back();
    h.events = commaList(annotations["helm.sh/hook"]);
    if (auto w = annotations.find("helm.sh/hook-weight"); w != annotations.end()) {
      try {
        h.weight = std::stoi(w->second);
      } catch (const std::exception&) {
        h.weight = 0;  // Helm ignores a weight that is not a number
      }
    }
    h.deletePolicies = commaList(annotations["helm.sh/hook-delete-policy"]);
    hooks.push_back(std::move(h));
  }
  return hooks;
}

UpgradePlan planUpgrade(const std::vector<KubeObject>& original, const std::vector<KubeObject>& target) {
  UpgradePlan plan;
  std::map<std::string, const KubeObject*> before, after;
  for (const auto& o : original) before[o.key()] = &o;
  for (const auto& o : target) after[o.key()] = &o;
  for (const auto& o : target) {
    auto it = before.find(o.key());
    plan.apply.push_back({o, it == before.end() ? std::nullopt : std::optional<KubeObject>(*it->second)});
  }
  for (const auto& o : original)
    if (!after.count(o.key())) plan.remove.push_back(o);
  sortByKind(plan.remove, uninstallOrder());
  return plan;
}

std::vector<KubeObject> UpgradePlan::created() const {
  std::vector<KubeObject> out;
  for (const auto& step : apply)
    if (!step.original) out.push_back(step.target);
  return out;
}

void setOwnership(Value& object, const std::string& releaseName, const std::string& releaseNamespace) {
  json::object& meta = object.get_object()["metadata"].is_object() ? object.get_object()["metadata"].get_object()
                                                                   : (object.get_object()["metadata"] = json::object()).get_object();
  if (!meta["labels"].is_object()) meta["labels"] = json::object();
  meta["labels"].get_object()[kManagedBy] = "Helm";
  if (!meta["annotations"].is_object()) meta["annotations"] = json::object();
  meta["annotations"].get_object()[kReleaseName] = releaseName;
  meta["annotations"].get_object()[kReleaseNamespace] = releaseNamespace;
}

std::string ownershipProblem(const Value& live, const std::string& releaseName, const std::string& releaseNamespace) {
  auto labels = stringMap(live, {"metadata", "labels"});
  auto annotations = stringMap(live, {"metadata", "annotations"});
  std::vector<std::string> problems;
  auto check = [&](const std::map<std::string, std::string>& have, const char* key, const std::string& want, const char* what) {
    auto it = have.find(key);
    if (it == have.end())
      problems.push_back(std::string(what) + " validation error: missing key \"" + key + "\": must be set to \"" + want + "\"");
    else if (it->second != want)
      problems.push_back(std::string(what) + " validation error: key \"" + key + "\" must equal \"" + want + "\": current value is \"" + it->second + "\"");
  };
  check(labels, kManagedBy, "Helm", "label");
  check(annotations, kReleaseName, releaseName, "annotation");
  check(annotations, kReleaseNamespace, releaseNamespace, "annotation");
  if (problems.empty()) return "";
  std::string out = "invalid ownership metadata";
  for (const auto& p : problems) out += "; " + p;
  return out;
}

Status Kube::checkOwnership(const std::vector<KubeObject>& objects, const std::string& releaseName,
                            const std::string& releaseNamespace, const std::string& operation) {
  for (const auto& o : objects) {
    auto live = client_.get(o.type, o.nameSpace, o.name);
    if (!live.ok()) {
      if (live.error().code == 404) continue;
      return live.error();
    }
    std::string problem = ownershipProblem(*live, releaseName, releaseNamespace);
    if (!problem.empty())
      return Error::conflict("Unable to continue with " + operation + ": " + o.describe() +
                             " exists and cannot be imported into the current release: " + problem);
  }
  return {};
}

Status Kube::create(const std::vector<KubeObject>& objects, const std::string& releaseName, const std::string& releaseNamespace) {
  return update(planUpgrade({}, objects), releaseName, releaseNamespace);
}

Status Kube::update(const UpgradePlan& plan, const std::string& releaseName, const std::string& releaseNamespace) {
  client::WriteOptions write;
  write.fieldManager = "helm";
  auto apply = [&](const Value& original, const KubeObject& target) -> Status {
    Value desired = target.object;
    setOwnership(desired, releaseName, releaseNamespace);
    auto live = client_.get(target.type, target.nameSpace, target.name);
    if (!live.ok() && live.error().code != 404) return live.error();
    if (!live.ok()) {
      auto created = client_.create(target.type, target.nameSpace, desired, write);
      if (!created.ok()) return Error{created.error().code, created.error().reason, "failed to create " + target.describe() + ": " + created.error().message, {}};
      return {};
    }
    Value patch = api::createThreeWayMergePatch(original, keepLiveListFields(original, desired, *live), *live);
    if (patch.is_object() && patch.get_object().empty()) return {};
    auto patched = client_.patch(target.type, target.nameSpace, target.name, client::PatchType::Merge, patch, "", write);
    if (!patched.ok()) return Error{patched.error().code, patched.error().reason, "cannot patch " + target.describe() + ": " + patched.error().message, {}};
    return {};
  };
  for (const auto& step : plan.apply) {
    Value original = json::object();
    if (step.original) {
      original = step.original->object;
      setOwnership(original, releaseName, releaseNamespace);
    }
    if (auto st = apply(original, step.target); !st.ok()) return st;
  }
  std::vector<std::string> kept;
  return remove(plan.remove, kept);
}

Status Kube::remove(const std::vector<KubeObject>& objects, std::vector<std::string>& kept) {
  client::DeleteOptions options;
  options.propagationPolicy = "Background";
  for (const auto& o : objects) {
    auto live = client_.get(o.type, o.nameSpace, o.name);
    if (!live.ok()) {
      if (live.error().code == 404) continue;
      return live.error();
    }
    // The policy counts on the live object, as Helm reads it there (a user may add it later).
    auto manifestPolicy = o.annotations.find(kResourcePolicy);
    bool keep = stringMap(*live, {"metadata", "annotations"})[kResourcePolicy] == "keep" ||
                (manifestPolicy != o.annotations.end() && manifestPolicy->second == "keep");
    if (keep) {
      kept.push_back("[" + o.kind + "] " + o.name);
      continue;
    }
    auto removed = client_.remove(o.type, o.nameSpace, o.name, options);
    if (!removed.ok() && removed.error().code != 404)
      return Error{removed.error().code, removed.error().reason, "failed to delete " + o.describe() + ": " + removed.error().message, {}};
  }
  return {};
}

Status Kube::waitReady(const std::vector<KubeObject>& objects, Clock::time_point deadline) {
  for (const auto& o : objects) {
    while (true) {
      auto live = client_.get(o.type, o.nameSpace, o.name);
      if (!live.ok() && live.error().code != 404) return live.error();
      if (live.ok()) {
        Readiness r = o.kind == "Deployment" ? deploymentReadiness(*live) : readiness(o.kind, *live);
        if (!r.failure.empty()) return Error::invalid(o.describe() + ": " + r.failure);
        if (r.ready) break;
      }
      if (Clock::now() >= deadline) return Error::unavailable("timed out waiting for the condition: " + o.describe() + " is not ready");
      std::this_thread::sleep_for(kPollInterval);
    }
  }
  return {};
}

// As Helm: the Deployment's generation observed, and its newest ReplicaSet (the revision the
// Deployment's annotation names) with at least replicas - maxUnavailable pods ready — old pods
// still terminating do not hold --wait up, and old ready pods do not count.
Readiness Kube::deploymentReadiness(const json::value& deployment) {
  int64_t generation = number(deployment, {"metadata", "generation"}), observed = number(deployment, {"status", "observedGeneration"});
  if (observed < generation) return {};
  std::string revision = stringMap(deployment, {"metadata", "annotations"})["deployment.kubernetes.io/revision"];
  std::string uid = text(deployment, {"metadata", "uid"});
  if (revision.empty()) return {};
  auto sets = client_.list(*api::findByKind("apps/v1", "ReplicaSet"), text(deployment, {"metadata", "namespace"}), {});
  if (!sets.ok()) return {};
  int64_t replicas = number(deployment, {"spec", "replicas"}, 1);
  for (const auto& rs : sets->items) {
    bool owned = false;
    if (const json::value* refs = field(rs, {"metadata", "ownerReferences"}); refs && refs->is_array())
      for (const auto& ref : refs->get_array()) owned = owned || text(ref, {"uid"}) == uid;
    if (!owned || stringMap(rs, {"metadata", "annotations"})["deployment.kubernetes.io/revision"] != revision) continue;
    return {number(rs, {"status", "readyReplicas"}) >= replicas - maxUnavailable(deployment, replicas), ""};
  }
  return {};
}

Status Kube::deleteAndWait(const KubeObject& o, Clock::time_point deadline) {
  client::DeleteOptions options;
  options.propagationPolicy = "Background";
  auto removed = client_.remove(o.type, o.nameSpace, o.name, options);
  if (!removed.ok()) return removed.error().code == 404 ? Status{} : Status(removed.error());
  while (true) {
    auto live = client_.get(o.type, o.nameSpace, o.name);
    if (!live.ok() && live.error().code == 404) return {};
    if (!live.ok()) return live.error();
    if (Clock::now() >= deadline) return Error::unavailable("timed out waiting for " + o.describe() + " to be deleted");
    std::this_thread::sleep_for(kPollInterval);
  }
}

Status Kube::waitHook(const KubeObject& o, Clock::time_point deadline) {
  if (o.kind != "Job" && o.kind != "Pod") return {};
  while (true) {
    auto live = client_.get(o.type, o.nameSpace, o.name);
    if (!live.ok()) return live.error();
    if (o.kind == "Job") {
      Readiness r = readiness("Job", *live);
      if (!r.failure.empty()) return Error::invalid(r.failure);
      if (r.ready) return {};
    } else {
      std::string phase = text(*live, {"status", "phase"});
      if (phase == "Succeeded") return {};
      if (phase == "Failed") return Error::invalid("pod " + o.name + " failed");
    }
    if (Clock::now() >= deadline) return Error::unavailable("timed out waiting for the condition: hook " + o.describe() + " did not complete");
    std::this_thread::sleep_for(kPollInterval);
  }
}

Status Kube::runHooks(Release& release, const std::string& event, Clock::time_point deadline) {
  std::vector<Hook*> hooks;
  for (auto& h : release.hooks)
    if (std::find(h.events.begin(), h.events.end(), event) != h.events.end()) hooks.push_back(&h);
  std::stable_sort(hooks.begin(), hooks.end(), [](const Hook* a, const Hook* b) {
    return a->weight != b->weight ? a->weight < b->weight : a->name < b->name;
  });
  for (Hook* h : hooks) {
    auto objects = parseObjects({{h->path, h->manifest}}, release.nameSpace, resolve_);
    if (!objects.ok()) return objects.error();
    if (objects->size() != 1) return Error::invalid(h->path + ": a hook must be one object");
    const KubeObject& o = (*objects)[0];
    auto has = [&](const char* policy) { return std::find(h->deletePolicies.begin(), h->deletePolicies.end(), policy) != h->deletePolicies.end(); };
    // before-hook-creation is the policy when none is given.
    if (h->deletePolicies.empty() || has("before-hook-creation"))
      if (auto st = deleteAndWait(o, deadline); !st.ok()) return st;
    h->lastRun = {now(), {}, "Running"};
    client::WriteOptions write;
    write.fieldManager = "helm";
    auto created = client_.create(o.type, o.nameSpace, o.object, write);
    if (!created.ok()) {
      h->lastRun.phase = "Failed";
      return Error{created.error().code, created.error().reason, "warning: Hook " + event + " " + h->path + " failed: " + created.error().message, {}};
    }
    Status done = waitHook(o, deadline);
    h->lastRun.completedAt = now();
    h->lastRun.phase = done.ok() ? "Succeeded" : "Failed";
    if ((done.ok() && has("hook-succeeded")) || (!done.ok() && has("hook-failed"))) {
      if (auto st = deleteAndWait(o, deadline); !st.ok()) return st;
    }
    if (!done.ok()) return Error{done.error().code, done.error().reason, done.error().message, {}};
  }
  return {};
}

}  // namespace skiff::helm
