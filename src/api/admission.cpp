#include "api/admission.h"

#include <boost/json.hpp>
#include <regex>
#include <set>

#include "api/cron.h"
#include "api/disruption_budget.h"
#include "api/quantity.h"
#include "api/custom_resource_definition.h"
#include "api/structural_schema.h"
#include "common/base64.h"
#include "api/gateway_api.h"
#include "api/traffic_policy.h"
#include "pki/pki.h"
#include "api/object.h"
#include "api/selector.h"

namespace skiff::api {
namespace json = boost::json;
namespace {

// ---------- defaults ----------

void setDefault(json::object& o, std::string_view key, json::value v) {
  auto* cur = o.if_contains(key);
  if (!cur || cur->is_null()) o[key] = std::move(v);
}

json::object& objectAt(json::object& parent, std::string_view key) {
  json::value& v = parent[key];
  if (!v.is_object()) v = json::object();
  return v.get_object();
}

std::string imageTag(std::string_view image) {
  if (image.find('@') != std::string_view::npos) return "@digest";
  auto slash = image.rfind('/');
  auto colon = image.rfind(':');
  if (colon == std::string_view::npos || (slash != std::string_view::npos && colon < slash)) return "";
  return std::string(image.substr(colon + 1));
}

void defaultContainer(json::object& c) {
  std::string image = c.if_contains("image") && c["image"].is_string() ? std::string(c["image"].get_string()) : "";
  std::string tag = imageTag(image);
  setDefault(c, "imagePullPolicy", (tag.empty() || tag == "latest") ? "Always" : "IfNotPresent");
  setDefault(c, "terminationMessagePath", "/dev/termination-log");
  setDefault(c, "terminationMessagePolicy", "File");
  setDefault(c, "resources", json::object());
  if (auto* ports = c.if_contains("ports"); ports && ports->is_array())
    for (auto& p : ports->get_array())
      if (p.is_object()) setDefault(p.get_object(), "protocol", "TCP");
  for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
    if (auto* pr = c.if_contains(probe); pr && pr->is_object()) {
      auto& po = pr->get_object();
      setDefault(po, "timeoutSeconds", 1);
      setDefault(po, "periodSeconds", 10);
      setDefault(po, "successThreshold", 1);
      setDefault(po, "failureThreshold", 3);
      if (auto* hg = po.if_contains("httpGet"); hg && hg->is_object()) {
        setDefault(hg->get_object(), "path", "/");
        setDefault(hg->get_object(), "scheme", "HTTP");
      }
    }
  }
}

void defaultPodSpec(json::object& spec) {
  setDefault(spec, "restartPolicy", "Always");
  setDefault(spec, "terminationGracePeriodSeconds", 30);
  setDefault(spec, "dnsPolicy", "ClusterFirst");
  setDefault(spec, "securityContext", json::object());
  setDefault(spec, "schedulerName", "default-scheduler");
  setDefault(spec, "enableServiceLinks", true);
  setDefault(spec, "preemptionPolicy", "PreemptLowerPriority");
  setDefault(spec, "priority", 0);
  if (spec.contains("serviceAccount") && !spec.contains("serviceAccountName")) spec["serviceAccountName"] = spec["serviceAccount"];
  for (const char* list : {"containers", "initContainers"})
    if (auto* cs = spec.if_contains(list); cs && cs->is_array())
      for (auto& c : cs->get_array())
        if (c.is_object()) defaultContainer(c.get_object());
  if (auto* vols = spec.if_contains("volumes"); vols && vols->is_array()) {
    for (auto& v : vols->get_array()) {
      if (!v.is_object()) continue;
      auto& vo = v.get_object();
      for (const char* src : {"configMap", "secret"})
        if (auto* s = vo.if_contains(src); s && s->is_object()) setDefault(s->get_object(), "defaultMode", 420);
    }
  }
}

void defaultTemplate(json::object& spec);

// Jobs get a selector on a label carrying their uid (unless manualSelector), as Kubernetes does.
void defaultJobSpec(json::object& spec, json::object& job) {
  setDefault(spec, "parallelism", 1);
  setDefault(spec, "completions", 1);
  setDefault(spec, "backoffLimit", 6);
  setDefault(spec, "completionMode", "NonIndexed");
  setDefault(spec, "suspend", false);
  setDefault(spec, "podReplacementPolicy", "TerminatingOrFailed");
  std::string uid, name;
  if (auto* m = job.if_contains("metadata"); m && m->is_object()) {
    if (auto* u = m->get_object().if_contains("uid"); u && u->is_string()) uid = u->get_string();
    if (auto* n = m->get_object().if_contains("name"); n && n->is_string()) name = n->get_string();
  }
  bool manual = spec.if_contains("manualSelector") && spec["manualSelector"] == true;
  if (!manual && !uid.empty() && !spec.contains("selector")) {
    spec["selector"] = json::object{{"matchLabels", json::object{{"batch.kubernetes.io/controller-uid", uid}}}};
    auto& tmeta = objectAt(objectAt(spec, "template"), "metadata");
    auto& labels = objectAt(tmeta, "labels");
    labels["batch.kubernetes.io/controller-uid"] = uid;
    labels["controller-uid"] = uid;
    labels["batch.kubernetes.io/job-name"] = name;
    labels["job-name"] = name;
  }
  defaultTemplate(spec);
}

void defaultTemplate(json::object& spec) {
  auto& tmpl = objectAt(spec, "template");
  defaultPodSpec(objectAt(tmpl, "spec"));
  // A selector left out defaults to the template's labels (as apps/v1beta1 did); apps/v1
  // requires it, so validation still reports it missing if the template has no labels either.
}

}  // namespace

// Kubernetes' QoS class of a pod: BestEffort when no container asks for or limits CPU or memory,
// Guaranteed when every container limits both and asks for exactly its limits, else Burstable.
std::string podQosClass(const json::value& spec) {
  bool any = false, guaranteed = true;
  for (const char* list : {"initContainers", "containers"}) {
    const json::value* cs = valueAt(spec, list);
    if (!cs || !cs->is_array()) continue;
    for (const auto& c : cs->get_array()) {
      for (const char* r : {"cpu", "memory"}) {
        const json::value* request = valueAt(c, std::string("resources.requests.") + r);
        const json::value* limit = valueAt(c, std::string("resources.limits.") + r);
        int64_t req = quantityMilli(request), lim = quantityMilli(limit);
        any = any || req > 0 || lim > 0;
        if (lim <= 0 || (request && req != lim)) guaranteed = false;
      }
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

void applyDefaults(const ResourceType& type, json::value& object) {
  if (!object.is_object()) return;
  if (type.custom) {  // a custom kind: the `default`s of its schema
    if (type.custom->schema) applySchemaDefaults(*type.custom->schema, object);
    return;
  }
  if (type.builtin("CustomResourceDefinition")) {
    defaultCustomResourceDefinition(object);
    return;
  }
  auto& o = object.get_object();
  const std::string& k = type.kind;
  if (k == "PersistentVolumeClaim") {
    // Claims start Pending; the volume binding controller provisions and binds them.
    auto& spec = objectAt(o, "spec");
    if (!spec.contains("volumeMode")) spec["volumeMode"] = "Filesystem";
    if (!o.contains("status")) o["status"] = json::object{{"phase", "Pending"}};
    return;
  }
  if (k == "PersistentVolume") {
    auto& spec = objectAt(o, "spec");
    if (!spec.contains("volumeMode")) spec["volumeMode"] = "Filesystem";
    if (!spec.contains("persistentVolumeReclaimPolicy")) spec["persistentVolumeReclaimPolicy"] = "Retain";
    if (!o.contains("status")) o["status"] = json::object{{"phase", "Available"}};
    return;
  }
  if (k == "Pod") {
    defaultPodSpec(objectAt(o, "spec"));
    // DefaultTolerationSeconds admission: pods ride out a node's absence for 5 minutes.
    auto& spec = objectAt(o, "spec");
    json::value& tols = spec["tolerations"];
    if (!tols.is_array()) tols = json::array();
    for (const char* key : {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}) {
      bool present = false;
      for (const auto& t : tols.get_array())
        if (const auto* to = t.if_object(); to && to->if_contains("key") && to->at("key") == json::value(key)) present = true;
      if (!present)
        tols.get_array().push_back(json::object{{"key", key}, {"operator", "Exists"}, {"effect", "NoExecute"}, {"tolerationSeconds", 300}});
    }
    auto& status = objectAt(o, "status");
    setDefault(status, "phase", "Pending");
    setDefault(status, "qosClass", json::value(podQosClass(json::value(spec))));
  } else if (k == "Namespace") {
    auto& spec = objectAt(o, "spec");
    setDefault(spec, "finalizers", json::array{"kubernetes"});
    // As Kubernetes does: every namespace carries its name as a label, so selectors (Gateway
    // allowedRoutes, NetworkPolicy) can pick namespaces by name.
    if (std::string name = stringAt(object, "metadata.name"); !name.empty())
      objectAt(objectAt(o, "metadata"), "labels")["kubernetes.io/metadata.name"] = name;
    setDefault(objectAt(o, "status"), "phase", "Active");
  } else if (k == "Secret") {
    setDefault(o, "type", "Opaque");
    // stringData is a write-only convenience: merged into data (base64), overriding, and never stored.
    if (json::value* sd = o.if_contains("stringData"); sd && sd->is_object()) {
      json::object strings = std::move(sd->get_object());  // taken out first: adding "data" may rehash `o`
      o.erase("stringData");
      auto& data = objectAt(o, "data");
      for (const auto& [key, value] : strings)
        if (value.is_string()) data[key] = base64Encode(value.get_string());
    }
  } else if (k == "Service") {
    auto& spec = objectAt(o, "spec");
    setDefault(spec, "type", "ClusterIP");
    setDefault(spec, "sessionAffinity", "None");
    // As Kubernetes: ClientIP affinity without a config sticks for three hours, and turning
    // affinity off (None) drops the config.
    if (auto* aff = spec.if_contains("sessionAffinity"); aff && aff->is_string() && aff->get_string() == "ClientIP") {
      auto& config = objectAt(spec, "sessionAffinityConfig");
      setDefault(objectAt(config, "clientIP"), "timeoutSeconds", 10800);
    } else if (aff && aff->is_string() && aff->get_string() == "None") {
      spec.erase("sessionAffinityConfig");
    }
    setDefault(spec, "internalTrafficPolicy", "Cluster");
    if (auto* ports = spec.if_contains("ports"); ports && ports->is_array()) {
      for (auto& p : ports->get_array()) {
        if (!p.is_object()) continue;
        auto& po = p.get_object();
        setDefault(po, "protocol", "TCP");
        if (auto* port = po.if_contains("port")) setDefault(po, "targetPort", *port);
      }
    }
    setDefault(objectAt(o, "status"), "loadBalancer", json::object());
  } else if (k == "Deployment") {
    auto& spec = objectAt(o, "spec");
    setDefault(spec, "replicas", 1);
    setDefault(spec, "revisionHistoryLimit", 10);
    setDefault(spec, "progressDeadlineSeconds", 600);
    auto& strategy = objectAt(spec, "strategy");
    setDefault(strategy, "type", "RollingUpdate");
    if (strategy["type"] == "RollingUpdate") {
      auto& ru = objectAt(strategy, "rollingUpdate");
      setDefault(ru, "maxUnavailable", "25%");
      setDefault(ru, "maxSurge", "25%");
    }
    defaultTemplate(spec);
  } else if (k == "ReplicaSet") {
    auto& spec = objectAt(o, "spec");
    setDefault(spec, "replicas", 1);
    defaultTemplate(spec);
  } else if (k == "Event") {
    setDefault(o, "type", "Normal");
  } else if (k == "Job") {
    defaultJobSpec(objectAt(o, "spec"), o);
  } else if (k == "CronJob") {
    auto& spec = objectAt(o, "spec");
    setDefault(spec, "concurrencyPolicy", "Allow");
    setDefault(spec, "suspend", false);
    setDefault(spec, "successfulJobsHistoryLimit", 3);
    setDefault(spec, "failedJobsHistoryLimit", 1);
    auto& jt = objectAt(spec, "jobTemplate");
    auto& js = objectAt(jt, "spec");
    setDefault(js, "parallelism", 1);
    setDefault(js, "completions", 1);
    setDefault(js, "backoffLimit", 6);
    setDefault(js, "completionMode", "NonIndexed");
    setDefault(js, "suspend", false);
    defaultTemplate(js);
  } else if (k == "HorizontalPodAutoscaler") {
    auto& spec = objectAt(o, "spec");
    setDefault(spec, "minReplicas", 1);
    if (!spec.contains("metrics"))
      spec["metrics"] = json::array{json::object{
          {"type", "Resource"},
          {"resource", json::object{{"name", "cpu"}, {"target", json::object{{"type", "Utilization"}, {"averageUtilization", 80}}}}}}};
  } else if (k == "StatefulSet") {
    auto& spec = objectAt(o, "spec");
    setDefault(spec, "replicas", 1);
    setDefault(spec, "podManagementPolicy", "OrderedReady");
    setDefault(spec, "revisionHistoryLimit", 10);
    auto& strategy = objectAt(spec, "updateStrategy");
    setDefault(strategy, "type", "RollingUpdate");
    if (strategy["type"] == "RollingUpdate") setDefault(objectAt(strategy, "rollingUpdate"), "partition", 0);
    defaultTemplate(spec);
  } else if (k == "DaemonSet") {
    auto& spec = objectAt(o, "spec");
    setDefault(spec, "revisionHistoryLimit", 10);
    auto& strategy = objectAt(spec, "updateStrategy");
    setDefault(strategy, "type", "RollingUpdate");
    if (strategy["type"] == "RollingUpdate") {
      auto& ru = objectAt(strategy, "rollingUpdate");
      setDefault(ru, "maxUnavailable", 1);
      setDefault(ru, "maxSurge", 0);
    }
    defaultTemplate(spec);
  }
}

// ---------- validation ----------
namespace {

// Kubernetes' bound on spec.sessionAffinityConfig.clientIP.timeoutSeconds: one day.
constexpr int64_t kMaxClientIpAffinitySeconds = 86400;

const char* kDns1123LabelMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const char* kDns1123SubdomainMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

// Hand-written matchers: these run on every write, and std::regex costs microseconds per call.
bool isAlnumLower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool isAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool isDns1123Label(std::string_view s) {
  if (s.empty() || s.size() > 63 || !isAlnumLower(s.front()) || !isAlnumLower(s.back())) return false;
  for (char c : s)
    if (!isAlnumLower(c) && c != '-') return false;
  return true;
}
// Labels joined by dots.
bool isDns1123Subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (part.empty() || !isAlnumLower(part.front()) || !isAlnumLower(part.back())) return false;
    for (char c : part)
      if (!isAlnumLower(c) && c != '-') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}
// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63 characters.
bool isNamePart(std::string_view s) {
  if (s.empty() || s.size() > 63 || !isAlnum(s.front()) || !isAlnum(s.back())) return false;
  for (char c : s)
    if (!isAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}
bool isQualifiedName(std::string_view s) {
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return isNamePart(s);
  return isDns1123Subdomain(s.substr(0, slash)) && isNamePart(s.substr(slash + 1));
}
bool isLabelValue(std::string_view s) { return s.empty() || isNamePart(s); }

std::string quote(std::string_view s) { return json::serialize(json::value(json::string(s))); }

struct Errors {
  std::vector<FieldCause> list;
  void required(const std::string& f) { list.push_back({"FieldValueRequired", "Required value", f}); }
  void invalid(const std::string& f, const json::value& v, const std::string& why) {
    std::string shown = v.is_string() ? quote(v.get_string()) : json::serialize(v);
    list.push_back({"FieldValueInvalid", "Invalid value: " + shown + ": " + why, f});
  }
  void unsupported(const std::string& f, std::string_view v, std::initializer_list<const char*> allowed) {
    std::string msg = "Unsupported value: " + quote(v) + ": supported values: ";
    bool first = true;
    for (const char* a : allowed) {
      msg += (first ? "" : ", ") + quote(a);
      first = false;
    }
    list.push_back({"FieldValueNotSupported", msg, f});
  }
  void duplicate(const std::string& f, const json::value& v) {
    list.push_back({"FieldValueDuplicate", "Duplicate value: " + json::serialize(v), f});
  }
  void forbidden(const std::string& f, const std::string& why) { list.push_back({"FieldValueForbidden", "Forbidden: " + why, f}); }
};

const json::object* objAt(const json::value& v, std::string_view key) {
  const auto* o = v.if_object();
  const auto* c = o ? o->if_contains(key) : nullptr;
  return c ? c->if_object() : nullptr;
}
const json::array* arrAt(const json::object& o, std::string_view key) {
  const auto* c = o.if_contains(key);
  return c ? c->if_array() : nullptr;
}
std::string strAt(const json::object& o, std::string_view key) {
  const auto* c = o.if_contains(key);
  return c && c->is_string() ? std::string(c->get_string()) : std::string();
}
std::optional<int64_t> intAt(const json::object& o, std::string_view key) {
  const auto* c = o.if_contains(key);
  if (c && c->is_int64()) return c->get_int64();
  if (c && c->is_uint64()) return int64_t(c->get_uint64());
  return std::nullopt;
}

void validateLabels(const json::object& meta, std::string_view field, Errors& e) {
  const auto* labels = meta.if_contains(field);
  if (!labels || !labels->is_object()) return;
  for (const auto& kv : labels->get_object()) {
    std::string path = "metadata." + std::string(field);
    if (!isQualifiedName(kv.key()))
      e.invalid(path, json::string(kv.key()),
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                "alphanumeric character");
    if (field == "labels" && kv.value().is_string() && !isLabelValue(kv.value().get_string()))
      e.invalid(path, kv.value(),
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character");
  }
}

void validateMeta(const ResourceType& type, const json::value& obj, Errors& e, const std::string& prefix = "metadata") {
  const json::object* meta = objAt(obj, "metadata");
  if (!meta) {
    if (prefix == "metadata") e.required("metadata.name");
    return;
  }
  std::string name = strAt(*meta, "name");
  if (prefix == "metadata") {
    if (name.empty()) {
      e.required("metadata.name");
    } else {
      bool labelOnly = type.builtin("Namespace") || type.builtin("Service");
      // RBAC objects are named by path segments (system:node-bootstrapper), as Kubernetes allows.
      bool pathSegment = !type.custom && type.group == "rbac.authorization.k8s.io";
      if (pathSegment) {
        if (name == "." || name == ".." || name.find_first_of("/%") != std::string::npos)
          e.invalid("metadata.name", json::string(name), "may not be '.' or '..' and may not contain '/' or '%'");
      } else if (labelOnly ? !isDns1123Label(name) : !isDns1123Subdomain(name)) {
        e.invalid("metadata.name", json::string(name), labelOnly ? kDns1123LabelMsg : kDns1123SubdomainMsg);
      }
    }
  }
  validateLabels(*meta, "labels", e);
  validateLabels(*meta, "annotations", e);
  if (const json::array* refs = arrAt(*meta, "ownerReferences")) {
    int controllers = 0;
    for (size_t i = 0; i < refs->size(); ++i) {
      const auto* r = (*refs)[i].if_object();
      if (!r) continue;
      std::string path = prefix + ".ownerReferences[" + std::to_string(i) + "]";
      for (const char* f : {"apiVersion", "kind", "name", "uid"})
        if (strAt(*r, f).empty()) e.required(path + "." + f);
      if (const auto* c = r->if_contains("controller"); c && c->is_bool() && c->get_bool()) ++controllers;
    }
    if (controllers > 1)
      e.invalid(prefix + ".ownerReferences", json::value(controllers), "Only one reference can have Controller set to true");
  }
  size_t annotationBytes = 0;
  if (const auto* ann = meta->if_contains("annotations"); ann && ann->is_object())
    for (const auto& kv : ann->get_object())
      annotationBytes += kv.key().size() + (kv.value().is_string() ? kv.value().get_string().size() : 0);
  if (annotationBytes > 256 * 1024)
    e.list.push_back({"FieldValueTooLong", "Too long: must have at most 262144 bytes", "metadata.annotations"});
}

void validatePort(const json::object& o, std::string_view key, const std::string& path, Errors& e, bool required) {
  auto v = intAt(o, key);
  if (!v) {
    if (required) e.required(path);
    return;
  }
  if (*v < 1 || *v > 65535) e.invalid(path, *v, "must be between 1 and 65535, inclusive");
}

void validateResources(const json::object& c, const std::string& path, Errors& e) {
  const auto* res = c.if_contains("resources");
  if (!res || !res->is_object()) return;
  for (const char* section : {"limits", "requests"}) {
    const auto* m = res->get_object().if_contains(section);
    if (!m || !m->is_object()) continue;
    for (const auto& kv : m->get_object()) {
      std::string f = path + ".resources." + section + "[" + std::string(kv.key()) + "]";
      std::string q = kv.value().is_string() ? std::string(kv.value().get_string()) : json::serialize(kv.value());
      if (!isValidQuantity(q))
        e.invalid(f, kv.value(), "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
      else if (!q.empty() && q[0] == '-')
        e.invalid(f, kv.value(), "must be greater than or equal to 0");
    }
  }
}

void validateContainers(const json::object& spec, std::string_view list, const std::string& path, Errors& e,
                        std::set<std::string>& names) {
  const json::array* cs = arrAt(spec, list);
  if (!cs) {
    if (list == "containers") e.required(path + ".containers");
    return;
  }
  if (list == "containers" && cs->empty()) e.required(path + ".containers");
  for (size_t i = 0; i < cs->size(); ++i) {
    std::string p = path + "." + std::string(list) + "[" + std::to_string(i) + "]";
    const auto* c = (*cs)[i].if_object();
    if (!c) continue;
    std::string name = strAt(*c, "name");
    if (name.empty()) e.required(p + ".name");
    else if (!isDns1123Label(name)) e.invalid(p + ".name", json::string(name), kDns1123LabelMsg);
    else if (!names.insert(name).second) e.duplicate(p + ".name", json::string(name));
    if (strAt(*c, "image").empty()) e.required(p + ".image");
    std::string pull = strAt(*c, "imagePullPolicy");
    if (!pull.empty() && pull != "Always" && pull != "IfNotPresent" && pull != "Never")
      e.unsupported(p + ".imagePullPolicy", pull, {"Always", "IfNotPresent", "Never"});
    if (const auto* ports = arrAt(*c, "ports")) {
      for (size_t j = 0; j < ports->size(); ++j) {
        const auto* po = (*ports)[j].if_object();
        if (!po) continue;
        std::string pp = p + ".ports[" + std::to_string(j) + "]";
        validatePort(*po, "containerPort", pp + ".containerPort", e, true);
        std::string proto = strAt(*po, "protocol");
        if (!proto.empty() && proto != "TCP" && proto != "UDP" && proto != "SCTP")
          e.unsupported(pp + ".protocol", proto, {"SCTP", "TCP", "UDP"});
      }
    }
    if (const auto* env = arrAt(*c, "env")) {
      for (size_t j = 0; j < env->size(); ++j) {
        const auto* ev = (*env)[j].if_object();
        if (ev && strAt(*ev, "name").empty()) e.required(p + ".env[" + std::to_string(j) + "].name");
      }
    }
    validateResources(*c, p, e);
  }
}

void validatePodSpec(const json::object& spec, const std::string& path, Errors& e) {
  std::set<std::string> names;
  validateContainers(spec, "initContainers", path, e, names);
  validateContainers(spec, "containers", path, e, names);
  std::string rp = strAt(spec, "restartPolicy");
  if (!rp.empty() && rp != "Always" && rp != "OnFailure" && rp != "Never")
    e.unsupported(path + ".restartPolicy", rp, {"Always", "OnFailure", "Never"});
  std::string dns = strAt(spec, "dnsPolicy");
  if (!dns.empty() && dns != "ClusterFirst" && dns != "ClusterFirstWithHostNet" && dns != "Default" && dns != "None")
    e.unsupported(path + ".dnsPolicy", dns, {"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"});
  if (auto g = intAt(spec, "terminationGracePeriodSeconds"); g && *g < 0)
    e.invalid(path + ".terminationGracePeriodSeconds", *g, "must be greater than or equal to 0");
  if (auto a = intAt(spec, "activeDeadlineSeconds"); a && *a <= 0)
    e.invalid(path + ".activeDeadlineSeconds", *a, "must be between 1 and 2147483647, inclusive");
  std::set<std::string> volumes;
  if (const auto* vols = arrAt(spec, "volumes")) {
    for (size_t i = 0; i < vols->size(); ++i) {
      const auto* v = (*vols)[i].if_object();
      if (!v) continue;
      std::string p = path + ".volumes[" + std::to_string(i) + "].name";
      std::string n = strAt(*v, "name");
      if (n.empty()) e.required(p);
      else if (!isDns1123Label(n)) e.invalid(p, json::string(n), kDns1123LabelMsg);
      else if (!volumes.insert(n).second) e.duplicate(p, json::string(n));
    }
  }
  for (const char* list : {"initContainers", "containers"}) {
    const auto* cs = arrAt(spec, list);
    if (!cs) continue;
    for (size_t i = 0; i < cs->size(); ++i) {
      const auto* c = (*cs)[i].if_object();
      const auto* mounts = c ? arrAt(*c, "volumeMounts") : nullptr;
      if (!mounts) continue;
      for (size_t j = 0; j < mounts->size(); ++j) {
        const auto* m = (*mounts)[j].if_object();
        if (!m) continue;
        std::string p = path + "." + list + "[" + std::to_string(i) + "].volumeMounts[" + std::to_string(j) + "]";
        std::string n = strAt(*m, "name");
        if (n.empty()) e.required(p + ".name");
        else if (!volumes.count(n)) e.list.push_back({"FieldValueNotFound", "Not found: " + quote(n), p + ".name"});
        if (strAt(*m, "mountPath").empty()) e.required(p + ".mountPath");
      }
    }
  }
}

void validateWorkload(const json::value& obj, Errors& e, bool isDeployment) {
  const json::object* spec = objAt(obj, "spec");
  if (!spec) {
    e.required("spec");
    return;
  }
  if (auto r = intAt(*spec, "replicas"); r && *r < 0) e.invalid("spec.replicas", *r, "must be greater than or equal to 0");
  if (auto m = intAt(*spec, "minReadySeconds"); m && *m < 0) e.invalid("spec.minReadySeconds", *m, "must be greater than or equal to 0");
  const auto* selector = spec->if_contains("selector");
  const json::object* tmplMeta = nullptr;
  const json::object* tmpl = spec->if_contains("template") ? spec->at("template").if_object() : nullptr;
  if (tmpl) tmplMeta = tmpl->if_contains("metadata") ? tmpl->at("metadata").if_object() : nullptr;
  if (!selector || !selector->is_object() || selector->get_object().empty()) {
    e.required("spec.selector");
  } else {
    auto sel = LabelSelector::fromObject(*selector);
    if (!sel) {
      e.invalid("spec.selector", *selector, sel.error().message);
    } else if (sel->empty()) {
      e.invalid("spec.selector", *selector, "empty selector is invalid for deployment");
    } else {
      const json::value* labels = tmplMeta ? tmplMeta->if_contains("labels") : nullptr;
      if (!sel->matches(labels))
        e.invalid("spec.template.metadata.labels", labels ? *labels : json::value(json::object()),
                  "`selector` does not match template `labels`");
    }
  }
  if (!tmpl) {
    e.required("spec.template");
  } else {
    if (const json::object* ps = tmpl->if_contains("spec") ? tmpl->at("spec").if_object() : nullptr) {
      // A StatefulSet's claim templates are volumes its pods will have.
      json::object withClaims = *ps;
      if (const json::value* vcts = spec->if_contains("volumeClaimTemplates"); vcts && vcts->is_array() && !vcts->get_array().empty()) {
        json::value& vols = withClaims["volumes"];
        if (!vols.is_array()) vols = json::array();
        for (const auto& vct : vcts->get_array())
          vols.get_array().push_back(json::object{{"name", stringAt(vct, "metadata.name")},
                                                  {"persistentVolumeClaim", json::object{{"claimName", stringAt(vct, "metadata.name")}}}});
      }
      validatePodSpec(withClaims, "spec.template.spec", e);
      std::string rp = strAt(*ps, "restartPolicy");
      if (!rp.empty() && rp != "Always") e.unsupported("spec.template.spec.restartPolicy", rp, {"Always"});
    } else {
      e.required("spec.template.spec");
    }
    if (tmpl->if_contains("metadata")) {
      json::value wrapped = json::object{{"metadata", tmpl->at("metadata")}};
      Errors inner;
      validateMeta(ResourceType{}, wrapped, inner, "template");
      for (auto& c : inner.list) {
        c.field = "spec.template." + c.field;
        e.list.push_back(c);
      }
    }
  }
  if (isDeployment) {
    const json::object* strategy = spec->if_contains("strategy") ? spec->at("strategy").if_object() : nullptr;
    std::string t = strategy ? strAt(*strategy, "type") : "";
    if (!t.empty() && t != "RollingUpdate" && t != "Recreate")
      e.unsupported("spec.strategy.type", t, {"Recreate", "RollingUpdate"});
    if (t == "Recreate" && strategy && strategy->if_contains("rollingUpdate"))
      e.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'");
    if (auto r = intAt(*spec, "revisionHistoryLimit"); r && *r < 0)
      e.invalid("spec.revisionHistoryLimit", *r, "must be greater than or equal to 0");
    if (auto p = intAt(*spec, "progressDeadlineSeconds"); p) {
      auto m = intAt(*spec, "minReadySeconds");
      if (*p <= 0) e.invalid("spec.progressDeadlineSeconds", *p, "must be greater than 0");
      else if (m && *p <= *m) e.invalid("spec.progressDeadlineSeconds", *p, "must be greater than minReadySeconds");
    }
  }
}

void validateService(const json::value& obj, Errors& e) {
  const json::object* spec = objAt(obj, "spec");
  if (!spec) {
    e.required("spec");
    return;
  }
  std::string type = strAt(*spec, "type");
  if (!type.empty() && type != "ClusterIP" && type != "NodePort" && type != "LoadBalancer" && type != "ExternalName")
    e.unsupported("spec.type", type, {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"});
  std::string aff = strAt(*spec, "sessionAffinity");
  if (!aff.empty() && aff != "None" && aff != "ClientIP") e.unsupported("spec.sessionAffinity", aff, {"ClientIP", "None"});
  if (const auto* configValue = spec->if_contains("sessionAffinityConfig"); configValue && configValue->is_object()) {
    const json::object* config = &configValue->get_object();
    if (aff != "ClientIP") {
      e.forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is " + (aff.empty() ? std::string("None") : aff));
    } else if (const auto* clientIp = config->if_contains("clientIP"); clientIp && clientIp->is_object()) {
      const auto* t = clientIp->get_object().if_contains("timeoutSeconds");
      auto seconds = intAt(clientIp->get_object(), "timeoutSeconds");
      if (t && (!seconds || *seconds <= 0 || *seconds > kMaxClientIpAffinitySeconds))
        e.invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", *t,
                  "must be greater than 0 and less than " + std::to_string(kMaxClientIpAffinitySeconds));
    }
  }
  const json::array* ports = arrAt(*spec, "ports");
  bool headless = strAt(*spec, "clusterIP") == "None";
  if ((!ports || ports->empty()) && type != "ExternalName" && !headless) e.required("spec.ports");
  std::set<std::string> names;
  if (ports) {
    for (size_t i = 0; i < ports->size(); ++i) {
      const auto* p = (*ports)[i].if_object();
      if (!p) continue;
      std::string path = "spec.ports[" + std::to_string(i) + "]";
      validatePort(*p, "port", path + ".port", e, true);
      std::string n = strAt(*p, "name");
      if (ports->size() > 1 && n.empty()) e.required(path + ".name");
      if (!n.empty() && !names.insert(n).second) e.duplicate(path + ".name", json::string(n));
      std::string proto = strAt(*p, "protocol");
      if (!proto.empty() && proto != "TCP" && proto != "UDP" && proto != "SCTP")
        e.unsupported(path + ".protocol", proto, {"SCTP", "TCP", "UDP"});
      if (const auto* tp = p->if_contains("targetPort"); tp && (tp->is_int64() || tp->is_uint64()))
        validatePort(*p, "targetPort", path + ".targetPort", e, false);
    }
  }
  if (type == "ExternalName" && strAt(*spec, "externalName").empty()) e.required("spec.externalName");
}

bool isBase64(std::string_view s) {
  if (s.size() % 4) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || (c == '=' && i >= s.size() - 2);
    if (!ok) return false;
  }
  return true;
}

void validateDataKeys(const json::value& obj, std::string_view field, Errors& e, bool base64) {
  const auto* o = obj.if_object();
  const auto* d = o ? o->if_contains(field) : nullptr;
  if (!d || !d->is_object()) return;
  static const std::regex keyRe("[-._a-zA-Z0-9]+");
  for (const auto& kv : d->get_object()) {
    std::string path = std::string(field) + "[" + std::string(kv.key()) + "]";
    std::string_view k = kv.key();
    if (k.empty() || k.size() > 253 || !std::regex_match(k.begin(), k.end(), keyRe))
      e.invalid(path, json::string(k), "a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
    if (base64 && kv.value().is_string() && !isBase64(kv.value().get_string()))
      e.invalid(path, json::string("<value omitted>"), "illegal base64 data");
  }
}

void validateJobSpec(const json::value* specValue, const std::string& path, Errors& e) {
  const json::object* spec = specValue ? specValue->if_object() : nullptr;
  if (!spec) {
    e.required(path);
    return;
  }
  for (const char* f : {"parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"})
    if (auto v = intAt(*spec, f); v && *v < 0) e.invalid(path + "." + f, *v, "must be greater than or equal to 0");
  if (auto v = intAt(*spec, "activeDeadlineSeconds"); v && *v <= 0) e.invalid(path + ".activeDeadlineSeconds", *v, "must be greater than 0");
  const json::value* ps = spec->if_contains("template") ? valueAt(spec->at("template"), "spec") : nullptr;
  if (!ps || !ps->is_object()) {
    e.required(path + ".template.spec");
    return;
  }
  validatePodSpec(ps->get_object(), path + ".template.spec", e);
  std::string rp = strAt(ps->get_object(), "restartPolicy");
  if (rp != "Never" && rp != "OnFailure") e.unsupported(path + ".template.spec.restartPolicy", rp.empty() ? "Always" : rp, {"OnFailure", "Never"});
}

// As Kubernetes' ValidatePodDisruptionBudgetSpec and its status update rules.
void validatePodDisruptionBudget(const json::value& object, Errors& e) {
  const json::value* minAvailable = valueAt(object, "spec.minAvailable");
  const json::value* maxUnavailable = valueAt(object, "spec.maxUnavailable");
  if (minAvailable && minAvailable->is_null()) minAvailable = nullptr;
  if (maxUnavailable && maxUnavailable->is_null()) maxUnavailable = nullptr;
  if (minAvailable && maxUnavailable) e.invalid("spec.minAvailable", *minAvailable, "minAvailable and maxUnavailable cannot be both set");
  for (auto [field, v] : {std::pair{"spec.minAvailable", minAvailable}, std::pair{"spec.maxUnavailable", maxUnavailable}}) {
    if (!v) continue;
    auto parsed = IntOrPercent::from(*v);
    if (v->is_int64() && v->get_int64() < 0) e.invalid(field, *v, "must be greater than or equal to 0");
    else if (!parsed) e.invalid(field, *v, "must be an integer or percentage (e.g '5%')");
    else if (parsed->percent && parsed->value > 100) e.invalid(field, *v, "must not be greater than 100%");
  }
  if (const json::value* selector = valueAt(object, "spec.selector"); selector && !selector->is_null())
    if (auto sel = LabelSelector::fromObject(*selector); !sel) e.invalid("spec.selector", *selector, sel.error().message);
  std::string policy = stringAt(object, "spec.unhealthyPodEvictionPolicy");
  if (!policy.empty() && policy != "IfHealthyBudget" && policy != "AlwaysAllow")
    e.unsupported("spec.unhealthyPodEvictionPolicy", policy, {"AlwaysAllow", "IfHealthyBudget"});
  for (const char* field : {"disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"})
    if (const json::value* v = valueAt(object, std::string("status.") + field); v && v->is_int64() && v->get_int64() < 0)
      e.invalid(std::string("status.") + field, *v, "must be greater than or equal to 0");
}

}  // namespace

bool isValidQuantity(std::string_view q) {
  static const std::regex re(R"([+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([eE][+-]?[0-9]+)|[KMGTPE]i|[numkMGTPE])?)");
  return !q.empty() && std::regex_match(q.begin(), q.end(), re);
}

// certificates.k8s.io/v1 as Kubernetes validates it: a real PKCS#10 request, a signer, usages
// from the known set, Approved and Denied exclusive and, once given, kept; the request itself
// never changes.
static void validateCertificateSigningRequest(const json::value& object, const json::value* old, Errors& e) {
  std::string request = stringAt(object, "spec.request");
  if (request.empty()) {
    e.required("spec.request");
  } else if (auto pem = base64Decode(request); !pem) {
    e.invalid("spec.request", json::string("<bytes>"), "must be base64-encoded PEM (the PKCS#10 request)");
  } else if (auto names = pki::parseCertificateRequest(*pem); !names) {
    e.invalid("spec.request", json::string("<bytes>"), names.error().message);
  }
  std::string signer = stringAt(object, "spec.signerName");
  if (signer.empty()) e.required("spec.signerName");
  else if (signer.find('/') == std::string::npos || signer.front() == '/' || signer.back() == '/')
    e.invalid("spec.signerName", json::string(signer), "must be a fully qualified domain and path of the form 'example.com/signer-name'");
  static const std::set<std::string> usages = {
      "signing", "digital signature", "content commitment", "key encipherment", "key agreement", "data encipherment",
      "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth", "client auth", "code signing",
      "email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
      "microsoft sgc", "netscape sgc"};
  const json::value* u = valueAt(object, "spec.usages");
  if (!u || !u->is_array() || u->as_array().empty()) e.required("spec.usages");
  else
    for (size_t i = 0; i < u->as_array().size(); ++i) {
      const json::value& v = u->as_array()[i];
      if (!v.is_string() || !usages.count(std::string(v.as_string())))
        e.unsupported("spec.usages[" + std::to_string(i) + "]", v.is_string() ? std::string(v.as_string()) : json::serialize(v),
                      {"client auth", "digital signature", "key encipherment", "server auth"});
    }
  if (const json::value* x = valueAt(object, "spec.expirationSeconds"); x && (!x->is_int64() || x->as_int64() < 600))
    e.invalid("spec.expirationSeconds", *x, "may not specify a duration less than 600 seconds (10 minutes)");
  auto conditionSet = [](const json::value& o, const char* type) {
    if (const json::value* cs = valueAt(o, "status.conditions"); cs && cs->is_array())
      for (const auto& c : cs->as_array())
        if (stringAt(c, "type") == type && stringAt(c, "status") != "False") return true;
    return false;
  };
  if (const json::value* cs = valueAt(object, "status.conditions"); cs && cs->is_array())
    for (size_t i = 0; i < cs->as_array().size(); ++i) {
      std::string t = stringAt(cs->as_array()[i], "type");
      if (t.empty()) e.required("status.conditions[" + std::to_string(i) + "].type");
    }
  if (conditionSet(object, "Approved") && conditionSet(object, "Denied"))
    e.invalid("status.conditions", json::string("Approved,Denied"), "Approved and Denied conditions are mutually exclusive");
  if (!old) return;
  for (const char* f : {"spec.request", "spec.signerName", "spec.usages", "spec.username", "spec.groups", "spec.expirationSeconds"}) {
    const json::value* a = valueAt(object, f);
    const json::value* b = valueAt(*old, f);
    if ((a == nullptr) != (b == nullptr) || (a && *a != *b)) e.forbidden(f, "field is immutable");
  }
  for (const char* c : {"Approved", "Denied"})
    if (conditionSet(*old, c) && !conditionSet(object, c))
      e.forbidden("status.conditions", std::string("the ") + c + " condition may not be removed");
}

namespace {

// networking.k8s.io/v1 Ingress, as Kubernetes validates it: a backend somewhere, every path
// absolute with a pathType, every backend a Service with a port (number or name) or a resource.
void validateIngressBackend(const json::value& b, const std::string& at, Errors& e) {
  const json::value* svc = valueAt(b, "service");
  const json::value* res = valueAt(b, "resource");
  if (svc && res) e.invalid(at, json::value("service and resource"), "cannot set both service and resource backends");
  if (!svc && !res) e.required(at + ".service");
  if (svc) {
    if (stringAt(*svc, "name").empty()) e.required(at + ".service.name");
    const json::value* number = valueAt(*svc, "port.number");
    std::string portName = stringAt(*svc, "port.name");
    if (!number && portName.empty()) e.required(at + ".service.port");
    if (number && !portName.empty()) e.invalid(at + ".service.port", json::value(portName), "cannot set both port name & port number");
    if (number && (!number->is_int64() || number->get_int64() < 1 || number->get_int64() > 65535))
      e.invalid(at + ".service.port.number", *number, "must be between 1 and 65535, inclusive");
  }
}

void validateIngress(const json::value& object, Errors& e) {
  const json::value* def = valueAt(object, "spec.defaultBackend");
  const json::value* rules = valueAt(object, "spec.rules");
  if (def) validateIngressBackend(*def, "spec.defaultBackend", e);
  if (!def && !(rules && rules->is_array() && !rules->get_array().empty()))
    e.invalid("spec", json::value("nil"), "either `defaultBackend` or `rules` must be specified");
  if (rules && rules->is_array())
    for (size_t i = 0; i < rules->get_array().size(); ++i) {
      const json::value& r = rules->get_array()[i];
      std::string at = "spec.rules[" + std::to_string(i) + "]";
      std::string host = stringAt(r, "host");
      if (!host.empty() && (host.find(':') != std::string::npos || host.find('/') != std::string::npos))
        e.invalid(at + ".host", json::value(host), "must be a DNS name, not an IP address or a URL");
      const json::value* paths = valueAt(r, "http.paths");
      if (!valueAt(r, "http")) continue;
      if (!paths || !paths->is_array() || paths->get_array().empty()) {
        e.required(at + ".http.paths");
        continue;
      }
      for (size_t j = 0; j < paths->get_array().size(); ++j) {
        const json::value& p = paths->get_array()[j];
        std::string pat = at + ".http.paths[" + std::to_string(j) + "]";
        std::string type = stringAt(p, "pathType"), path = stringAt(p, "path");
        if (type.empty()) e.required(pat + ".pathType");
        else if (type != "Exact" && type != "Prefix" && type != "ImplementationSpecific")
          e.unsupported(pat + ".pathType", type, {"Exact", "ImplementationSpecific", "Prefix"});
        if (!path.starts_with("/") && (type == "Exact" || type == "Prefix" || !path.empty()))
          e.invalid(pat + ".path", json::value(path), "must be an absolute path");
        if (const json::value* b = valueAt(p, "backend")) validateIngressBackend(*b, pat + ".backend", e);
        else e.required(pat + ".backend");
      }
    }
  if (const json::value* tls = valueAt(object, "spec.tls"); tls && tls->is_array())
    for (size_t i = 0; i < tls->get_array().size(); ++i)
      if (const json::value* hosts = valueAt(tls->get_array()[i], "hosts"); hosts && hosts->is_array())
        for (size_t j = 0; j < hosts->get_array().size(); ++j)
          if (!hosts->get_array()[j].is_string() || hosts->get_array()[j].get_string().empty())
            e.required("spec.tls[" + std::to_string(i) + "].hosts[" + std::to_string(j) + "]");
}

}  // namespace

std::vector<FieldCause> validateObject(const ResourceType& type, const json::value& object, const json::value* old) {
  Errors e;
  validateMeta(type, object, e);
  if (type.custom) {  // a custom kind: its structural schema's value validations
    if (type.custom->schema)
      for (auto& c : validateValue(*type.custom->schema, object)) e.list.push_back(std::move(c));
    return e.list;
  }
  if (type.builtin("CustomResourceDefinition")) {
    for (auto& c : validateCustomResourceDefinition(object)) e.list.push_back(std::move(c));
    return e.list;
  }
  const std::string& k = type.kind;
  if (k == "Pod") {
    if (const json::object* spec = objAt(object, "spec")) validatePodSpec(*spec, "spec", e);
    else e.required("spec");
  } else if (k == "Ingress") {
    validateIngress(object, e);
  } else if (k == "Deployment" || k == "ReplicaSet" || k == "StatefulSet") {
    validateWorkload(object, e, k == "Deployment");
    if (k == "StatefulSet") {
      std::string policy = stringAt(object, "spec.podManagementPolicy");
      if (!policy.empty() && policy != "OrderedReady" && policy != "Parallel")
        e.unsupported("spec.podManagementPolicy", policy, {"OrderedReady", "Parallel"});
      std::string t = stringAt(object, "spec.updateStrategy.type");
      if (!t.empty() && t != "RollingUpdate" && t != "OnDelete") e.unsupported("spec.updateStrategy.type", t, {"OnDelete", "RollingUpdate"});
      if (const json::value* vcts = valueAt(object, "spec.volumeClaimTemplates"); vcts && vcts->is_array())
        for (size_t i = 0; i < vcts->get_array().size(); ++i) {
          const json::value& vct = vcts->get_array()[i];
          std::string p = "spec.volumeClaimTemplates[" + std::to_string(i) + "]";
          if (stringAt(vct, "metadata.name").empty()) e.required(p + ".metadata.name");
          const json::value* modes = valueAt(vct, "spec.accessModes");
          if (!modes || !modes->is_array() || modes->get_array().empty()) e.required(p + ".spec.accessModes");
          if (!valueAt(vct, "spec.resources.requests.storage")) e.required(p + ".spec.resources.requests[storage]");
        }
    }
  } else if (k == "Service") {
    validateService(object, e);
    std::vector<PolicyProblem> problems;
    readTrafficPolicy(object, &problems);
    for (const auto& p : problems) e.invalid(p.field, json::string(p.value), p.message);
  } else if (k == "Gateway" || k == "GatewayClass" || k == "HTTPRoute" || k == "GRPCRoute" ||
             k == "TLSRoute" || k == "TCPRoute" || k == "UDPRoute" || k == "ReferenceGrant" || k == "AuthorizationPolicy") {
    std::vector<PolicyProblem> problems;
    validateGatewayApi(k, object, problems);
    for (const auto& p : problems) {
      if (p.message == "Required value") e.required(p.field);
      else e.invalid(p.field, json::string(p.value), p.message);
    }
  } else if (k == "PersistentVolumeClaim") {
    const json::value* modes = valueAt(object, "spec.accessModes");
    if (!modes || !modes->is_array() || modes->get_array().empty()) e.required("spec.accessModes");
    else
      for (size_t i = 0; i < modes->get_array().size(); ++i) {
        const json::value& m = modes->get_array()[i];
        std::string mode = m.is_string() ? std::string(m.get_string()) : "";
        if (mode != "ReadWriteOnce" && mode != "ReadOnlyMany" && mode != "ReadWriteMany" && mode != "ReadWriteOncePod")
          e.unsupported("spec.accessModes[" + std::to_string(i) + "]", mode, {"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"});
      }
    if (!valueAt(object, "spec.resources.requests.storage")) e.required("spec.resources.requests[storage]");
  } else if (k == "ConfigMap") {
    validateDataKeys(object, "data", e, false);
    validateDataKeys(object, "binaryData", e, true);
  } else if (k == "Secret") {
    validateDataKeys(object, "data", e, true);
    // The keys each built-in type promises its readers, as Kubernetes checks them.
    std::string type = stringAt(object, "type");
    const json::value* data = valueAt(object, "data");
    auto needKey = [&](const char* key) {
      if (!data || !data->is_object() || !data->get_object().contains(key)) e.required(std::string("data[") + key + "]");
    };
    if (type == "kubernetes.io/tls") needKey("tls.crt"), needKey("tls.key");
    else if (type == "kubernetes.io/dockerconfigjson") needKey(".dockerconfigjson");
    else if (type == "kubernetes.io/dockercfg") needKey(".dockercfg");
    else if (type == "kubernetes.io/ssh-auth") needKey("ssh-privatekey");
  } else if (k == "CertificateSigningRequest") {
    validateCertificateSigningRequest(object, old, e);
  } else if (k == "Lease") {
    if (const json::object* spec = objAt(object, "spec"))
      if (auto d = intAt(*spec, "leaseDurationSeconds"); d && *d <= 0)
        e.invalid("spec.leaseDurationSeconds", *d, "must be greater than 0");
  } else if (k == "Event") {
    if (!valueAt(object, "involvedObject")) e.required("involvedObject");
  } else if (k == "PodDisruptionBudget") {
    validatePodDisruptionBudget(object, e);
  } else if (k == "PriorityClass") {
    const json::object* o = object.if_object();
    auto v = o ? intAt(*o, "value") : std::nullopt;
    if (!v) e.required("value");
    else if (*v > 1000000000 && !stringAt(object, "metadata.name").starts_with("system-"))
      e.invalid("value", *v, "maximum allowed value of a user defined priority is 1000000000");
    std::string pp = stringAt(object, "preemptionPolicy");
    if (!pp.empty() && pp != "PreemptLowerPriority" && pp != "Never") e.unsupported("preemptionPolicy", pp, {"Never", "PreemptLowerPriority"});
  } else if (k == "HorizontalPodAutoscaler") {
    const json::object* spec = objAt(object, "spec");
    if (!spec) {
      e.required("spec");
    } else {
      auto minR = intAt(*spec, "minReplicas"), maxR = intAt(*spec, "maxReplicas");
      if (!maxR) e.required("spec.maxReplicas");
      else if (*maxR < 1) e.invalid("spec.maxReplicas", *maxR, "must be greater than or equal to 1");
      if (minR && *minR < 1) e.invalid("spec.minReplicas", *minR, "must be greater than or equal to 1");
      if (minR && maxR && *maxR < *minR) e.invalid("spec.maxReplicas", *maxR, "must be greater than or equal to `minReplicas`");
      if (stringAt(object, "spec.scaleTargetRef.kind").empty()) e.required("spec.scaleTargetRef.kind");
      if (stringAt(object, "spec.scaleTargetRef.name").empty()) e.required("spec.scaleTargetRef.name");
      if (const json::array* metrics = arrAt(*spec, "metrics"))
        for (size_t i = 0; i < metrics->size(); ++i) {
          std::string type = stringAt((*metrics)[i], "type");
          std::string p = "spec.metrics[" + std::to_string(i) + "]";
          if (type != "Resource" && type != "Pods") e.unsupported(p + ".type", type, {"Pods", "Resource"});
          if (type == "Pods") {
            std::string metric = stringAt((*metrics)[i], "pods.metric.name");
            if (metric != "http_requests_per_second") e.unsupported(p + ".pods.metric.name", metric, {"http_requests_per_second"});
            std::string tt = stringAt((*metrics)[i], "pods.target.type");
            if (tt != "AverageValue") e.unsupported(p + ".pods.target.type", tt, {"AverageValue"});
            if (!valueAt((*metrics)[i], "pods.target.averageValue")) e.required(p + ".pods.target.averageValue");
          }
          std::string res = stringAt((*metrics)[i], "resource.name");
          if (type == "Resource" && res != "cpu" && res != "memory") e.unsupported(p + ".resource.name", res, {"cpu", "memory"});
        }
    }
  } else if (k == "Job") {
    validateJobSpec(valueAt(object, "spec"), "spec", e);
  } else if (k == "CronJob") {
    std::string schedule = stringAt(object, "spec.schedule");
    if (schedule.empty()) e.required("spec.schedule");
    else if (auto c = CronSchedule::parse(schedule); !c) e.invalid("spec.schedule", json::string(schedule), c.error().message);
    std::string policy = stringAt(object, "spec.concurrencyPolicy");
    if (!policy.empty() && policy != "Allow" && policy != "Forbid" && policy != "Replace")
      e.unsupported("spec.concurrencyPolicy", policy, {"Allow", "Forbid", "Replace"});
    validateJobSpec(valueAt(object, "spec.jobTemplate.spec"), "spec.jobTemplate.spec", e);
  } else if (k == "DaemonSet") {
    const json::object* spec = objAt(object, "spec");
    if (!spec) {
      e.required("spec");
    } else {
      const auto* selector = spec->if_contains("selector");
      const json::value* labels = valueAt(object, "spec.template.metadata.labels");
      if (!selector || !selector->is_object() || selector->get_object().empty()) e.required("spec.selector");
      else if (auto sel = LabelSelector::fromObject(*selector); !sel || sel->empty() || !sel->matches(labels))
        e.invalid("spec.template.metadata.labels", labels ? *labels : json::value(json::object()), "`selector` does not match template `labels`");
      if (const json::object* ps = valueAt(object, "spec.template.spec") ? valueAt(object, "spec.template.spec")->if_object() : nullptr) {
        validatePodSpec(*ps, "spec.template.spec", e);
        std::string rp = strAt(*ps, "restartPolicy");
        if (!rp.empty() && rp != "Always") e.unsupported("spec.template.spec.restartPolicy", rp, {"Always"});
      } else {
        e.required("spec.template.spec");
      }
    }
  }
  if (old) {
    // Immutable data, as Kubernetes enforces for `immutable: true` ConfigMaps and Secrets.
    const auto* oo = old->if_object();
    if (oo && (k == "ConfigMap" || k == "Secret") && oo->if_contains("immutable") && oo->at("immutable") == true) {
      for (const char* f : {"data", "binaryData", "stringData"}) {
        const json::value* a = oo->if_contains(f);
        const json::value* b = object.get_object().if_contains(f);
        if ((a ? *a : json::value()) != (b ? *b : json::value()))
          e.forbidden(f, "field is immutable when `immutable` is set");
      }
    }
    if (k == "Pod") {
      // Pod spec is immutable except for images and a few scheduling fields (simplified: containers'
      // image, activeDeadlineSeconds, tolerations additions).
      json::value a = valueAt(*old, "spec") ? *valueAt(*old, "spec") : json::value();
      json::value b = valueAt(object, "spec") ? *valueAt(object, "spec") : json::value();
      auto strip = [](json::value& spec) {
        if (!spec.is_object()) return;
        auto& so = spec.get_object();
        so.erase("activeDeadlineSeconds");
        so.erase("tolerations");
        for (const char* list : {"containers", "initContainers"})
          if (auto* cs = so.if_contains(list); cs && cs->is_array())
            for (auto& c : cs->get_array())
              if (c.is_object()) c.get_object().erase("image");
      };
      bool oldBound = !stringAt(*old, "spec.nodeName").empty();
      strip(a);
      strip(b);
      if (!oldBound && a.is_object() && b.is_object()) {
        a.get_object().erase("nodeName");
        b.get_object().erase("nodeName");
      }
      if (a != b)
        e.forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`, "
                            "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations` "
                            "(only additions to existing tolerations)");
    }
    if (k == "Deployment" || k == "ReplicaSet") {
      const json::value* a = valueAt(*old, "spec.selector");
      const json::value* b = valueAt(object, "spec.selector");
      if (a && b && *a != *b) e.invalid("spec.selector", *b, "field is immutable");
    }
    if (k == "Service") {
      std::string a = stringAt(*old, "spec.clusterIP"), b = stringAt(object, "spec.clusterIP");
      if (!a.empty() && a != b) e.invalid("spec.clusterIP", json::string(b), "field is immutable");
    }
    if (k == "Node") {
      // A node's pod range, once given, stays: every other node routes it there and its pods hold
      // addresses from it (kube-apiserver's rule and message).
      for (const char* f : {"spec.podCIDR", "spec.podCIDRs"}) {
        const json::value* a = valueAt(*old, f);
        const json::value* b = valueAt(object, f);
        bool given = a && ((a->is_string() && !a->get_string().empty()) || (a->is_array() && !a->get_array().empty()));
        if (given && (!b || *a != *b)) e.forbidden(f, "node updates may not change podCIDR except from \"\" to valid");
      }
    }
  }
  return e.list;
}

Error invalidObject(const ResourceType& type, const std::string& name, std::vector<FieldCause> causes) {
  // Custom kinds are named with their group, as Kubernetes names them (CronTab.stable.example.com).
  std::string msg = (type.custom ? type.kind + "." + type.group : type.kind) + " " + quote(name) + " is invalid: ";
  auto one = [](const FieldCause& c) { return c.field + ": " + c.message; };
  if (causes.size() == 1) {
    msg += one(causes[0]);
  } else {
    msg += "[";
    for (size_t i = 0; i < causes.size(); ++i) msg += (i ? ", " : "") + one(causes[i]);
    msg += "]";
  }
  Error err = Error::invalid(msg);
  err.causes = std::move(causes);
  return err;
}

}  // namespace skiff::api
