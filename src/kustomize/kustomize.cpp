#include "kustomize/kustomize.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <boost/json.hpp>

#include "api/codec.h"

namespace skiff::kustomize {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// What one kustomization file says, parsed once at the edge.
struct Image {
  std::string name, newName, newTag, digest;
};
struct Kustomization {
  fs::path file;
  std::vector<std::string> resources;
  std::string ns, namePrefix, nameSuffix;
  json::object commonLabels, commonAnnotations;
  std::vector<Image> images;
};

// Fields kustomize accepts that this engine does not apply yet: refused by name rather than
// silently ignored, so a build never emits something different from kustomize's.
const std::set<std::string> kNotYet = {"patches", "patchesStrategicMerge", "patchesJson6902", "configMapGenerator",
                                       "secretGenerator", "generatorOptions", "components", "replicas", "labels",
                                       "crds", "generators", "transformers", "validators", "helmCharts", "openapi",
                                       "replacements", "sortOptions", "buildMetadata", "vars", "bases"};

Result<std::string> readText(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return Error::notFound(p.string() + ": cannot read the file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<json::object> stringMap(const json::value& v, const fs::path& file, const std::string& field) {
  if (!v.is_object()) return Error::invalid(file.string() + ": " + field + " must be a map of strings");
  for (const auto& kv : v.get_object())
    if (!kv.value().is_string()) return Error::invalid(file.string() + ": " + field + "." + std::string(kv.key()) + " must be a string");
  return v.get_object();
}

Result<std::string> stringField(const json::value& v, const fs::path& file, const std::string& field) {
  if (!v.is_string()) return Error::invalid(file.string() + ": " + field + " must be a string");
  return std::string(v.get_string());
}

Result<std::vector<Image>> parseImages(const json::value& v, const fs::path& file) {
  if (!v.is_array()) return Error::invalid(file.string() + ": images must be a list");
  std::vector<Image> out;
  for (std::size_t i = 0; i < v.get_array().size(); ++i) {
    const auto& e = v.get_array()[i];
    std::string at = "images[" + std::to_string(i) + "]";
    if (!e.is_object()) return Error::invalid(file.string() + ": " + at + " must be a map");
    Image img;
    for (const auto& kv : e.get_object()) {
      std::string key(kv.key());
      std::string val = kv.value().is_string() ? std::string(kv.value().get_string())
                        : kv.value().is_number() ? json::serialize(kv.value()) : std::string();
      if (key == "name") img.name = val;
      else if (key == "newName") img.newName = val;
      else if (key == "newTag") img.newTag = val;
      else if (key == "digest") img.digest = val;
      else return Error::invalid(file.string() + ": " + at + "." + key + " is not a field of an image (name, newName, newTag, digest)");
    }
    if (img.name.empty()) return Error::invalid(file.string() + ": " + at + ".name is required");
    out.push_back(std::move(img));
  }
  return out;
}

Result<fs::path> findKustomizationFile(const fs::path& dir) {
  for (const char* name : {"kustomization.yaml", "kustomization.yml", "Kustomization"})
    if (fs::exists(dir / name)) return dir / name;
  return Error::notFound(dir.string() + ": no kustomization.yaml, kustomization.yml or Kustomization in the directory");
}

Result<Kustomization> parseKustomization(const fs::path& dir) {
  auto file = findKustomizationFile(dir);
  if (!file) return file.error();
  auto text = readText(*file);
  if (!text) return text.error();
  auto docs = api::decodeManifests(*text);
  if (!docs) return Error::invalid(file->string() + ": not valid YAML: " + docs.error().message);
  if (docs->size() != 1 || !(*docs)[0].is_object()) return Error::invalid(file->string() + ": must hold exactly one YAML map");
  Kustomization k;
  k.file = *file;
  for (const auto& kv : (*docs)[0].get_object()) {
    std::string key(kv.key());
    const json::value& v = kv.value();
    if (key == "apiVersion" || key == "kind") {
      if (key == "kind" && v.is_string() && v.get_string() != "Kustomization")
        return Error::invalid(file->string() + ": kind " + std::string(v.get_string()) + " is not supported here (want Kustomization)");
    } else if (key == "resources") {
      if (!v.is_array()) return Error::invalid(file->string() + ": resources must be a list of paths");
      for (const auto& r : v.get_array()) {
        if (!r.is_string()) return Error::invalid(file->string() + ": resources entries must be strings");
        k.resources.emplace_back(r.get_string());
      }
    } else if (key == "namespace" || key == "namePrefix" || key == "nameSuffix") {
      auto s = stringField(v, *file, key);
      if (!s) return s.error();
      (key == "namespace" ? k.ns : key == "namePrefix" ? k.namePrefix : k.nameSuffix) = *s;
    } else if (key == "commonLabels" || key == "commonAnnotations") {
      auto m = stringMap(v, *file, key);
      if (!m) return m.error();
      (key == "commonLabels" ? k.commonLabels : k.commonAnnotations) = std::move(*m);
    } else if (key == "images") {
      auto imgs = parseImages(v, *file);
      if (!imgs) return imgs.error();
      k.images = std::move(*imgs);
    } else if (kNotYet.count(key)) {
      return Error::invalid(file->string() + ": the field " + key + " is not supported by skiff's kustomize engine yet");
    } else {
      return Error::invalid(file->string() + ": unknown field \"" + key + "\" in a Kustomization");
    }
  }
  return k;
}

// ---- object helpers -----------------------------------------------------------------------

std::string str(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

json::object& childObject(json::object& o, const char* key) {
  json::value& v = o[key];
  if (!v.is_object()) v = json::object();
  return v.get_object();
}

json::object& meta(json::value& obj) { return childObject(obj.get_object(), "metadata"); }

const std::set<std::string> kClusterScoped = {
    "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "PriorityClass", "IngressClass", "APIService", "CSIDriver", "CSINode",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "RuntimeClass", "VolumeAttachment"};

const std::set<std::string> kWorkloads = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job",
                                          "ReplicationController"};

// ---- transformers ---------------------------------------------------------------------------

void setNamespace(std::vector<json::value>& objs, const std::string& ns) {
  for (auto& o : objs) {
    std::string kind = str(o.get_object(), "kind");
    if (!kClusterScoped.count(kind)) meta(o)["namespace"] = ns;
    // Bindings name their ServiceAccount subjects by namespace; kustomize moves those along.
    if (kind == "RoleBinding" || kind == "ClusterRoleBinding")
      if (auto* subjects = o.get_object().if_contains("subjects"); subjects && subjects->is_array())
        for (auto& s : subjects->get_array())
          if (s.is_object() && str(s.get_object(), "kind") == "ServiceAccount") s.get_object()["namespace"] = ns;
  }
}

using Renames = std::map<std::pair<std::string, std::string>, std::string>;  // (kind, old) -> new

void renameRef(json::object& o, const char* key, const std::string& kind, const Renames& renames) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return;
  auto it = renames.find({kind, std::string(v->get_string())});
  if (it != renames.end()) *v = it->second;
}

void renamePodRefs(json::object& pod, const Renames& renames) {
  for (const char* list : {"containers", "initContainers"}) {
    auto* cs = pod.if_contains(list);
    if (!cs || !cs->is_array()) continue;
    for (auto& c : cs->get_array()) {
      if (!c.is_object()) continue;
      if (auto* env = c.get_object().if_contains("env"); env && env->is_array())
        for (auto& e : env->get_array()) {
          auto* vf = e.is_object() ? e.get_object().if_contains("valueFrom") : nullptr;
          if (!vf || !vf->is_object()) continue;
          if (auto* r = vf->get_object().if_contains("configMapKeyRef"); r && r->is_object()) renameRef(r->get_object(), "name", "ConfigMap", renames);
          if (auto* r = vf->get_object().if_contains("secretKeyRef"); r && r->is_object()) renameRef(r->get_object(), "name", "Secret", renames);
        }
      if (auto* ef = c.get_object().if_contains("envFrom"); ef && ef->is_array())
        for (auto& e : ef->get_array()) {
          if (!e.is_object()) continue;
          if (auto* r = e.get_object().if_contains("configMapRef"); r && r->is_object()) renameRef(r->get_object(), "name", "ConfigMap", renames);
          if (auto* r = e.get_object().if_contains("secretRef"); r && r->is_object()) renameRef(r->get_object(), "name", "Secret", renames);
        }
    }
  }
  if (auto* vols = pod.if_contains("volumes"); vols && vols->is_array())
    for (auto& v : vols->get_array()) {
      if (!v.is_object()) continue;
      if (auto* r = v.get_object().if_contains("configMap"); r && r->is_object()) renameRef(r->get_object(), "name", "ConfigMap", renames);
      if (auto* r = v.get_object().if_contains("secret"); r && r->is_object()) renameRef(r->get_object(), "secretName", "Secret", renames);
      if (auto* r = v.get_object().if_contains("persistentVolumeClaim"); r && r->is_object())
        renameRef(r->get_object(), "claimName", "PersistentVolumeClaim", renames);
    }
  renameRef(pod, "serviceAccountName", "ServiceAccount", renames);
  if (auto* ips = pod.if_contains("imagePullSecrets"); ips && ips->is_array())
    for (auto& s : ips->get_array())
      if (s.is_object()) renameRef(s.get_object(), "name", "Secret", renames);
}

// The pod spec of a Pod, a workload's template or a CronJob's job template, or null.
json::object* podSpec(json::value& obj) {
  auto& o = obj.get_object();
  std::string kind = str(o, "kind");
  auto* spec = o.if_contains("spec");
  if (!spec || !spec->is_object()) return nullptr;
  if (kind == "Pod") return &spec->get_object();
  json::value* tmpl = nullptr;
  if (kWorkloads.count(kind)) tmpl = spec->get_object().if_contains("template");
  if (kind == "CronJob") {
    auto* jt = spec->get_object().if_contains("jobTemplate");
    auto* js = jt && jt->is_object() ? jt->get_object().if_contains("spec") : nullptr;
    tmpl = js && js->is_object() ? js->get_object().if_contains("template") : nullptr;
  }
  auto* ps = tmpl && tmpl->is_object() ? tmpl->get_object().if_contains("spec") : nullptr;
  return ps && ps->is_object() ? &ps->get_object() : nullptr;
}

void prefixSuffix(std::vector<json::value>& objs, const std::string& prefix, const std::string& suffix) {
  Renames renames;
  for (auto& o : objs) {
    std::string kind = str(o.get_object(), "kind");
    if (kind == "Namespace" || kind == "CustomResourceDefinition") continue;
    auto& m = meta(o);
    std::string old = str(m, "name");
    if (old.empty()) continue;
    m["name"] = prefix + old + suffix;
    renames[{kind, old}] = prefix + old + suffix;
  }
  for (auto& o : objs) {
    if (auto* ps = podSpec(o)) renamePodRefs(*ps, renames);
    auto& obj = o.get_object();
    std::string kind = str(obj, "kind");
    auto* spec = obj.if_contains("spec");
    if (kind == "StatefulSet" && spec && spec->is_object()) renameRef(spec->get_object(), "serviceName", "Service", renames);
    if ((kind == "RoleBinding" || kind == "ClusterRoleBinding")) {
      if (auto* r = obj.if_contains("roleRef"); r && r->is_object())
        renameRef(r->get_object(), "name", str(r->get_object(), "kind"), renames);
      if (auto* subjects = obj.if_contains("subjects"); subjects && subjects->is_array())
        for (auto& s : subjects->get_array())
          if (s.is_object() && str(s.get_object(), "kind") == "ServiceAccount") renameRef(s.get_object(), "name", "ServiceAccount", renames);
    }
  }
}

void mergeInto(json::object& target, const json::object& add) {
  for (const auto& kv : add) target[kv.key()] = kv.value();
}

// commonLabels go to metadata, selectors and pod templates, as kustomize's commonLabels field specs.
void addLabels(std::vector<json::value>& objs, const json::object& labels) {
  for (auto& o : objs) {
    mergeInto(childObject(meta(o), "labels"), labels);
    auto& obj = o.get_object();
    std::string kind = str(obj, "kind");
    auto* spec = obj.if_contains("spec");
    if (!spec || !spec->is_object()) continue;
    auto& s = spec->get_object();
    if (kind == "Service" || kind == "ReplicationController") mergeInto(childObject(s, "selector"), labels);
    if (kWorkloads.count(kind) && kind != "ReplicationController" && kind != "Job")
      mergeInto(childObject(childObject(s, "selector"), "matchLabels"), labels);
    if (kWorkloads.count(kind)) mergeInto(childObject(childObject(childObject(s, "template"), "metadata"), "labels"), labels);
    if (kind == "CronJob") {
      auto& jt = childObject(s, "jobTemplate");
      mergeInto(childObject(childObject(jt, "metadata"), "labels"), labels);
      mergeInto(childObject(childObject(childObject(childObject(jt, "spec"), "template"), "metadata"), "labels"), labels);
    }
    if (kind == "PodDisruptionBudget") mergeInto(childObject(childObject(s, "selector"), "matchLabels"), labels);
  }
}

void addAnnotations(std::vector<json::value>& objs, const json::object& annotations) {
  for (auto& o : objs) {
    mergeInto(childObject(meta(o), "annotations"), annotations);
    auto& obj = o.get_object();
    std::string kind = str(obj, "kind");
    auto* spec = obj.if_contains("spec");
    if (!spec || !spec->is_object()) continue;
    auto& s = spec->get_object();
    if (kWorkloads.count(kind)) mergeInto(childObject(childObject(childObject(s, "template"), "metadata"), "annotations"), annotations);
    if (kind == "CronJob") {
      auto& jt = childObject(s, "jobTemplate");
      mergeInto(childObject(childObject(jt, "metadata"), "annotations"), annotations);
      mergeInto(childObject(childObject(childObject(childObject(jt, "spec"), "template"), "metadata"), "annotations"), annotations);
    }
  }
}

// "repo/name:tag@digest" -> name part without tag or digest.
std::string imageName(const std::string& image) {
  std::string s = image.substr(0, image.find('@'));
  auto colon = s.rfind(':');
  auto slash = s.rfind('/');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) s = s.substr(0, colon);
  return s;
}

std::string retag(const std::string& image, const Image& rule) {
  std::string name = imageName(image);
  std::string rest = image.substr(name.size());  // ":tag", "@digest", ":tag@digest" or ""
  if (!rule.newName.empty()) name = rule.newName;
  if (!rule.digest.empty()) return name + "@" + rule.digest;
  if (!rule.newTag.empty()) return name + ":" + rule.newTag;
  return name + rest;
}

void setImages(std::vector<json::value>& objs, const std::vector<Image>& rules) {
  for (auto& o : objs) {
    auto* ps = podSpec(o);
    if (!ps) continue;
    for (const char* list : {"containers", "initContainers"}) {
      auto* cs = ps->if_contains(list);
      if (!cs || !cs->is_array()) continue;
      for (auto& c : cs->get_array()) {
        auto* img = c.is_object() ? c.get_object().if_contains("image") : nullptr;
        if (!img || !img->is_string()) continue;
        std::string current(img->get_string());
        for (const auto& r : rules)
          if (imageName(current) == r.name) {
            *img = retag(current, r);
            break;
          }
      }
    }
  }
}

// ---- the build ------------------------------------------------------------------------------

bool isRemote(const std::string& r) {
  return r.find("://") != std::string::npos || r.rfind("github.com/", 0) == 0 || r.rfind("git@", 0) == 0;
}

Result<std::vector<json::value>> buildDir(const fs::path& dir, std::vector<fs::path>& stack);

Status loadResource(const Kustomization& k, const fs::path& dir, const std::string& entry, std::vector<fs::path>& stack,
                    std::vector<json::value>& out) {
  if (isRemote(entry))
    return Error::invalid(k.file.string() + ": resources entry " + entry + " is a remote URL; skiff builds local kustomizations only (clone it and point at the directory)");
  fs::path p = dir / entry;
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    auto sub = buildDir(p, stack);
    if (!sub) return sub.error();
    for (auto& o : *sub) out.push_back(std::move(o));
    return {};
  }
  if (!fs::exists(p, ec)) return Error::notFound(k.file.string() + ": resources entry " + entry + ": " + p.string() + " does not exist");
  auto text = readText(p);
  if (!text) return text.error();
  auto docs = api::decodeManifests(*text);
  if (!docs) return Error::invalid(p.string() + ": not valid YAML: " + docs.error().message);
  for (auto& d : *docs) {
    if (!d.is_object() || str(d.get_object(), "kind").empty())
      return Error::invalid(p.string() + ": every document must be an object with a kind");
    out.push_back(std::move(d));
  }
  return {};
}

Status checkUnique(const std::vector<json::value>& objs, const fs::path& file) {
  std::set<std::tuple<std::string, std::string, std::string, std::string>> seen;
  for (const auto& o : objs) {
    const auto& obj = o.get_object();
    const auto* m = obj.if_contains("metadata");
    std::string name = m && m->is_object() ? str(m->get_object(), "name") : "";
    std::string ns = m && m->is_object() ? str(m->get_object(), "namespace") : "";
    std::string av = str(obj, "apiVersion");
    std::string group = av.find('/') == std::string::npos ? "" : av.substr(0, av.find('/'));
    if (!seen.insert({group, str(obj, "kind"), ns, name}).second)
      return Error::conflict(file.string() + ": may not add resource with an already registered id: " + str(obj, "kind") + " " + ns + "/" + name);
  }
  return {};
}

Result<std::vector<json::value>> buildDir(const fs::path& dir, std::vector<fs::path>& stack) {
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(dir, ec);
  if (std::find(stack.begin(), stack.end(), canon) != stack.end()) {
    std::string chain;
    for (const auto& s : stack) chain += s.string() + " -> ";
    return Error::invalid("cycle between kustomizations: " + chain + canon.string());
  }
  auto k = parseKustomization(canon);
  if (!k) return k.error();
  stack.push_back(canon);
  std::vector<json::value> objs;
  for (const auto& r : k->resources)
    if (Status s = loadResource(*k, canon, r, stack, objs); !s) return s.error();
  stack.pop_back();
  if (Status s = checkUnique(objs, k->file); !s) return s.error();
  if (!k->ns.empty()) setNamespace(objs, k->ns);
  if (!k->namePrefix.empty() || !k->nameSuffix.empty()) prefixSuffix(objs, k->namePrefix, k->nameSuffix);
  if (!k->commonLabels.empty()) addLabels(objs, k->commonLabels);
  if (!k->commonAnnotations.empty()) addAnnotations(objs, k->commonAnnotations);
  if (!k->images.empty()) setImages(objs, k->images);
  return objs;
}

// kustomize's legacy order (its CLI default): what others depend on first, webhooks last.
int legacyRank(const std::string& kind) {
  static const std::vector<std::string> first = {
      "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
      "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret",
      "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume", "PersistentVolumeClaim",
      "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget"};
  static const std::vector<std::string> last = {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"};
  for (std::size_t i = 0; i < first.size(); ++i)
    if (first[i] == kind) return static_cast<int>(i) - 1000;
  for (std::size_t i = 0; i < last.size(); ++i)
    if (last[i] == kind) return 1000 + static_cast<int>(i);
  return 0;
}

std::string sortKey(const json::value& o) {
  const auto& obj = o.get_object();
  const auto* m = obj.if_contains("metadata");
  std::string av = str(obj, "apiVersion");
  std::string group = av.find('/') == std::string::npos ? "" : av.substr(0, av.find('/'));
  std::string version = av.substr(av.find('/') == std::string::npos ? 0 : av.find('/') + 1);
  std::string ns = m && m->is_object() ? str(m->get_object(), "namespace") : "";
  std::string name = m && m->is_object() ? str(m->get_object(), "name") : "";
  return group + "_" + version + "_" + str(obj, "kind") + "|" + ns + "|" + name;
}

json::value sortedKeys(const json::value& v) {
  if (v.is_array()) {
    json::array a;
    for (const auto& e : v.get_array()) a.push_back(sortedKeys(e));
    return a;
  }
  if (!v.is_object()) return v;
  std::vector<std::string> keys;
  for (const auto& kv : v.get_object()) keys.emplace_back(kv.key());
  std::sort(keys.begin(), keys.end());
  json::object o;
  for (const auto& k : keys) o[k] = sortedKeys(v.get_object().at(k));
  return o;
}

}  // namespace

Result<std::vector<json::value>> build(const fs::path& dir, const Options& options) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Error::notFound(dir.string() + ": not a directory holding a kustomization");
  std::vector<fs::path> stack;
  auto objs = buildDir(dir, stack);
  if (!objs) return objs.error();
  if (options.legacyOrder)
    std::stable_sort(objs->begin(), objs->end(), [](const json::value& a, const json::value& b) {
      int ra = legacyRank(str(a.get_object(), "kind")), rb = legacyRank(str(b.get_object(), "kind"));
      if (ra != rb) return ra < rb;
      return sortKey(a) < sortKey(b);
    });
  return objs;
}

std::string toYamlStream(const std::vector<json::value>& objects) {
  std::string out;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    if (i) out += "---\n";
    out += api::toYaml(sortedKeys(objects[i]));
  }
  return out;
}

}  // namespace skiff::kustomize
