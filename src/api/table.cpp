#include "api/table.h"

#include <boost/json.hpp>
#include <ctime>

#include "api/object.h"
#include "api/structural_schema.h"

namespace skiff::api {
namespace json = boost::json;
namespace {

struct Column {
  const char* name;
  const char* type;
  int priority;
  const char* format = "";
};

std::vector<Column> columnsFor(const std::string& kind) {
  if (kind == "Pod")
    return {{"Name", "string", 0, "name"}, {"Ready", "string", 0}, {"Status", "string", 0}, {"Restarts", "string", 0},
            {"Age", "string", 0}, {"IP", "string", 1}, {"Node", "string", 1}, {"Nominated Node", "string", 1},
            {"Readiness Gates", "string", 1}};
  if (kind == "Namespace") return {{"Name", "string", 0, "name"}, {"Status", "string", 0}, {"Age", "string", 0}};
  if (kind == "ConfigMap") return {{"Name", "string", 0, "name"}, {"Data", "integer", 0}, {"Age", "string", 0}};
  if (kind == "Secret")
    return {{"Name", "string", 0, "name"}, {"Type", "string", 0}, {"Data", "integer", 0}, {"Age", "string", 0}};
  if (kind == "Node")
    return {{"Name", "string", 0, "name"}, {"Status", "string", 0}, {"Roles", "string", 0}, {"Age", "string", 0},
            {"Version", "string", 0}, {"Internal-IP", "string", 1}, {"External-IP", "string", 1},
            {"OS-Image", "string", 1}, {"Kernel-Version", "string", 1}, {"Container-Runtime", "string", 1}};
  if (kind == "Service")
    return {{"Name", "string", 0, "name"}, {"Type", "string", 0}, {"Cluster-IP", "string", 0},
            {"External-IP", "string", 0}, {"Port(s)", "string", 0}, {"Age", "string", 0}, {"Selector", "string", 1}};
  if (kind == "Event")
    return {{"Last Seen", "string", 0}, {"Type", "string", 0}, {"Reason", "string", 0}, {"Object", "string", 0},
            {"Message", "string", 0}, {"Name", "string", 1, "name"}};
  if (kind == "Lease") return {{"Name", "string", 0, "name"}, {"Holder", "string", 0}, {"Age", "string", 0}};
  if (kind == "CertificateSigningRequest")
    return {{"Name", "string", 0, "name"}, {"Age", "string", 0}, {"SignerName", "string", 0}, {"Requestor", "string", 0},
            {"RequestedDuration", "string", 0}, {"Condition", "string", 0}};
  if (kind == "Deployment")
    return {{"Name", "string", 0, "name"}, {"Ready", "string", 0}, {"Up-to-date", "string", 0},
            {"Available", "string", 0}, {"Age", "string", 0}, {"Containers", "string", 1}, {"Images", "string", 1},
            {"Selector", "string", 1}};
  if (kind == "ReplicaSet")
    return {{"Name", "string", 0, "name"}, {"Desired", "integer", 0}, {"Current", "integer", 0},
            {"Ready", "integer", 0}, {"Age", "string", 0}, {"Containers", "string", 1}, {"Images", "string", 1},
            {"Selector", "string", 1}};
  if (kind == "HorizontalPodAutoscaler")
    return {{"Name", "string", 0, "name"}, {"Reference", "string", 0}, {"Targets", "string", 0}, {"MinPods", "string", 0},
            {"MaxPods", "integer", 0}, {"Replicas", "integer", 0}, {"Age", "string", 0}};
  if (kind == "PodDisruptionBudget")
    return {{"Name", "string", 0, "name"}, {"Min Available", "string", 0}, {"Max Unavailable", "string", 0},
            {"Allowed Disruptions", "integer", 0}, {"Age", "string", 0}};
  if (kind == "PriorityClass")
    return {{"Name", "string", 0, "name"}, {"Value", "integer", 0}, {"Global-Default", "boolean", 0},
            {"Preemption-Policy", "string", 0}, {"Age", "string", 0}};
  if (kind == "Endpoints") return {{"Name", "string", 0, "name"}, {"Endpoints", "string", 0}, {"Age", "string", 0}};
  if (kind == "Ingress")
    return {{"Name", "string", 0, "name"}, {"Class", "string", 0}, {"Hosts", "string", 0}, {"Address", "string", 0},
            {"Ports", "string", 0}, {"Age", "string", 0}};
  if (kind == "IngressClass")
    return {{"Name", "string", 0, "name"}, {"Controller", "string", 0}, {"Parameters", "string", 0}, {"Age", "string", 0}};
  if (kind == "GatewayClass")
    return {{"Name", "string", 0, "name"}, {"Controller", "string", 0}, {"Accepted", "string", 0}, {"Age", "string", 0}, {"Description", "string", 1}};
  if (kind == "Gateway")
    return {{"Name", "string", 0, "name"}, {"Class", "string", 0}, {"Address", "string", 0}, {"Programmed", "string", 0}, {"Age", "string", 0}};
  if (kind == "TCPRoute" || kind == "UDPRoute") return {{"Name", "string", 0, "name"}, {"Age", "string", 0}};
  if (kind == "HTTPRoute" || kind == "GRPCRoute" || kind == "TLSRoute") return {{"Name", "string", 0, "name"}, {"Hostnames", "string", 0}, {"Age", "string", 0}};
  if (kind == "PersistentVolume")
    return {{"Name", "string", 0, "name"}, {"Capacity", "string", 0}, {"Access Modes", "string", 0}, {"Reclaim Policy", "string", 0},
            {"Status", "string", 0}, {"Claim", "string", 0}, {"StorageClass", "string", 0}, {"Reason", "string", 0}, {"Age", "string", 0}};
  if (kind == "StorageClass")
    return {{"Name", "string", 0, "name"}, {"Provisioner", "string", 0}, {"ReclaimPolicy", "string", 0}, {"VolumeBindingMode", "string", 0},
            {"AllowVolumeExpansion", "string", 0}, {"Age", "string", 0}};
  if (kind == "PersistentVolumeClaim")
    return {{"Name", "string", 0, "name"}, {"Status", "string", 0}, {"Volume", "string", 0}, {"Capacity", "string", 0},
            {"Access Modes", "string", 0}, {"StorageClass", "string", 0}, {"Age", "string", 0}, {"VolumeMode", "string", 1}};
  if (kind == "EndpointSlice")
    return {{"Name", "string", 0, "name"}, {"AddressType", "string", 0}, {"Ports", "string", 0}, {"Endpoints", "string", 0}, {"Age", "string", 0}};
  if (kind == "StatefulSet")
    return {{"Name", "string", 0, "name"}, {"Ready", "string", 0}, {"Age", "string", 0}, {"Containers", "string", 1}, {"Images", "string", 1}};
  if (kind == "Job")
    return {{"Name", "string", 0, "name"}, {"Status", "string", 0}, {"Completions", "string", 0}, {"Duration", "string", 0},
            {"Age", "string", 0}, {"Containers", "string", 1}, {"Images", "string", 1}, {"Selector", "string", 1}};
  if (kind == "CronJob")
    return {{"Name", "string", 0, "name"}, {"Schedule", "string", 0}, {"Timezone", "string", 0}, {"Suspend", "boolean", 0},
            {"Active", "integer", 0}, {"Last Schedule", "string", 0}, {"Age", "string", 0}, {"Containers", "string", 1},
            {"Images", "string", 1}, {"Selector", "string", 1}};
  if (kind == "DaemonSet")
    return {{"Name", "string", 0, "name"}, {"Desired", "integer", 0}, {"Current", "integer", 0}, {"Ready", "integer", 0},
            {"Up-to-date", "integer", 0}, {"Available", "integer", 0}, {"Node Selector", "string", 0}, {"Age", "string", 0},
            {"Containers", "string", 1}, {"Images", "string", 1}, {"Selector", "string", 1}};
  return {{"Name", "string", 0, "name"}, {"Age", "string", 0}};
}

int64_t intOr0(const json::value& o, std::string_view path) {
  const json::value* v = valueAt(o, path);
  if (v && v->is_int64()) return v->get_int64();
  if (v && v->is_uint64()) return int64_t(v->get_uint64());
  return 0;
}

std::string age(const json::value& o, std::string_view field = "metadata.creationTimestamp") {
  std::string ts = stringAt(o, field);
  int64_t t = ts.empty() ? -1 : parseRfc3339(ts);
  if (t < 0) return "<unknown>";
  return humanDuration(int64_t(std::time(nullptr)) - t);
}

std::string joinStrings(const std::vector<std::string>& parts, const char* sep = ",") {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

std::string selectorString(const json::value* sel) {
  if (!sel || !sel->is_object()) return "<none>";
  std::vector<std::string> parts;
  const json::object& o = sel->get_object();
  const json::value* ml = o.if_contains("matchLabels");
  const json::object* labels = ml ? ml->if_object() : &o;  // Service selectors are plain maps
  if (labels)
    for (const auto& kv : *labels)
      if (kv.value().is_string()) parts.push_back(std::string(kv.key()) + "=" + std::string(kv.value().get_string()));
  return parts.empty() ? "<none>" : joinStrings(parts);
}

void containersAndImages(const json::value& obj, std::string_view specPath, json::array& cells) {
  std::vector<std::string> names, images;
  if (const json::value* cs = valueAt(obj, specPath); cs && cs->is_array())
    for (const auto& c : cs->get_array()) {
      names.push_back(stringAt(c, "name"));
      images.push_back(stringAt(c, "image"));
    }
  cells.emplace_back(joinStrings(names));
  cells.emplace_back(joinStrings(images));
}

std::string podStatus(const json::value& pod, int64_t& restarts, int& ready, int& total) {
  std::string reason = stringAt(pod, "status.reason");
  if (reason.empty()) reason = stringAt(pod, "status.phase");
  const json::value* init = valueAt(pod, "status.initContainerStatuses");
  const json::value* spec_init = valueAt(pod, "spec.initContainers");
  bool initializing = false;
  if (init && init->is_array()) {
    size_t n = init->get_array().size(), i = 0;
    for (const auto& cs : init->get_array()) {
      restarts += intOr0(cs, "restartCount");
      std::string term = stringAt(cs, "state.terminated.reason");
      const json::value* terminated = valueAt(cs, "state.terminated");
      if (terminated && intOr0(cs, "state.terminated.exitCode") == 0) { ++i; continue; }
      initializing = true;
      if (terminated) reason = "Init:" + (term.empty() ? "ExitCode:" + std::to_string(intOr0(cs, "state.terminated.exitCode")) : term);
      else if (std::string w = stringAt(cs, "state.waiting.reason"); !w.empty() && w != "PodInitializing") reason = "Init:" + w;
      else reason = "Init:" + std::to_string(i) + "/" + std::to_string(spec_init && spec_init->is_array() ? spec_init->get_array().size() : n);
      break;
    }
  }
  const json::value* containers = valueAt(pod, "spec.containers");
  total = containers && containers->is_array() ? int(containers->get_array().size()) : 0;
  if (const json::value* st = valueAt(pod, "status.containerStatuses"); st && st->is_array()) {
    bool hasRunning = false;
    for (const auto& cs : st->get_array()) {
      restarts += intOr0(cs, "restartCount");
      if (initializing) continue;
      std::string waiting = stringAt(cs, "state.waiting.reason");
      std::string term = stringAt(cs, "state.terminated.reason");
      if (!waiting.empty()) reason = waiting;
      else if (!term.empty()) reason = term;
      else if (valueAt(cs, "state.terminated")) reason = "ExitCode:" + std::to_string(intOr0(cs, "state.terminated.exitCode"));
      else if (valueAt(cs, "state.running")) {
        hasRunning = true;
        if (const json::value* r = valueAt(cs, "ready"); r && r->is_bool() && r->get_bool()) ++ready;
      }
    }
    if (!initializing && reason == "Completed" && hasRunning) reason = "Running";
  }
  if (valueAt(pod, "metadata.deletionTimestamp")) reason = stringAt(pod, "status.reason") == "NodeLost" ? "Unknown" : "Terminating";
  return reason;
}

void fillCells(const ResourceType& type, const json::value& o, json::array& cells) {
  const std::string& k = type.kind;
  std::string name = stringAt(o, "metadata.name");
  if (k == "Pod") {
    int64_t restarts = 0;
    int ready = 0, total = 0;
    std::string status = podStatus(o, restarts, ready, total);
    auto orNone = [](std::string s) { return s.empty() ? std::string("<none>") : s; };
    cells = {json::value(name), json::value(std::to_string(ready) + "/" + std::to_string(total)), json::value(status),
             json::value(std::to_string(restarts)), json::value(age(o)), json::value(orNone(stringAt(o, "status.podIP"))),
             json::value(orNone(stringAt(o, "spec.nodeName"))), json::value(orNone(stringAt(o, "status.nominatedNodeName"))),
             json::value("<none>")};
  } else if (k == "Namespace") {
    cells = {json::value(name), json::value(stringAt(o, "status.phase")), json::value(age(o))};
  } else if (k == "ConfigMap") {
    int64_t n = 0;
    for (const char* f : {"data", "binaryData"})
      if (const json::value* d = valueAt(o, f); d && d->is_object()) n += int64_t(d->get_object().size());
    cells = {json::value(name), json::value(n), json::value(age(o))};
  } else if (k == "Secret") {
    int64_t n = 0;
    if (const json::value* d = valueAt(o, "data"); d && d->is_object()) n = int64_t(d->get_object().size());
    cells = {json::value(name), json::value(stringAt(o, "type")), json::value(n), json::value(age(o))};
  } else if (k == "Node") {
    std::string status = "Unknown";
    if (const json::value* conds = valueAt(o, "status.conditions"); conds && conds->is_array())
      for (const auto& c : conds->get_array())
        if (stringAt(c, "type") == "Ready") status = stringAt(c, "status") == "True" ? "Ready" : "NotReady";
    if (const json::value* u = valueAt(o, "spec.unschedulable"); u && u->is_bool() && u->get_bool()) status += ",SchedulingDisabled";
    std::vector<std::string> roles;
    if (const json::value* labels = valueAt(o, "metadata.labels"); labels && labels->is_object())
      for (const auto& kv : labels->get_object())
        if (kv.key().starts_with("node-role.kubernetes.io/")) roles.emplace_back(kv.key().substr(24));
    std::string internalIp = "<none>", externalIp = "<none>";
    if (const json::value* addrs = valueAt(o, "status.addresses"); addrs && addrs->is_array())
      for (const auto& a : addrs->get_array()) {
        if (stringAt(a, "type") == "InternalIP") internalIp = stringAt(a, "address");
        if (stringAt(a, "type") == "ExternalIP") externalIp = stringAt(a, "address");
      }
    cells = {json::value(name), json::value(status), json::value(roles.empty() ? "<none>" : joinStrings(roles)),
             json::value(age(o)), json::value(stringAt(o, "status.nodeInfo.kubeletVersion")), json::value(internalIp),
             json::value(externalIp), json::value(stringAt(o, "status.nodeInfo.osImage")),
             json::value(stringAt(o, "status.nodeInfo.kernelVersion")),
             json::value(stringAt(o, "status.nodeInfo.containerRuntimeVersion"))};
  } else if (k == "Service") {
    std::vector<std::string> ports;
    if (const json::value* ps = valueAt(o, "spec.ports"); ps && ps->is_array())
      for (const auto& p : ps->get_array()) {
        std::string s = std::to_string(intOr0(p, "port"));
        if (int64_t np = intOr0(p, "nodePort")) s += ":" + std::to_string(np);
        ports.push_back(s + "/" + (stringAt(p, "protocol").empty() ? "TCP" : stringAt(p, "protocol")));
      }
    std::string cip = stringAt(o, "spec.clusterIP");
    std::string type = stringAt(o, "spec.type");
    std::string ext = "<none>";
    if (type == "ExternalName") ext = stringAt(o, "spec.externalName");
    else if (type == "LoadBalancer") ext = "<pending>";
    cells = {json::value(name), json::value(type), json::value(cip.empty() ? "<none>" : cip), json::value(ext),
             json::value(ports.empty() ? "<none>" : joinStrings(ports)), json::value(age(o)),
             json::value(selectorString(valueAt(o, "spec.selector")))};
  } else if (k == "Event") {
    std::string last = stringAt(o, "lastTimestamp");
    if (last.empty()) last = stringAt(o, "eventTime");
    std::string lastSeen = last.empty() ? age(o) : age(o, stringAt(o, "lastTimestamp").empty() ? "eventTime" : "lastTimestamp");
    std::string kind = stringAt(o, "involvedObject.kind");
    std::transform(kind.begin(), kind.end(), kind.begin(), ::tolower);
    cells = {json::value(lastSeen), json::value(stringAt(o, "type")), json::value(stringAt(o, "reason")),
             json::value(kind + "/" + stringAt(o, "involvedObject.name")), json::value(stringAt(o, "message")),
             json::value(name)};
  } else if (k == "CertificateSigningRequest") {
    // Condition as kubectl prints it: "Approved,Issued", "Pending", "Denied", "Failed".
    std::string condition;
    if (const json::value* cs = valueAt(o, "status.conditions"); cs && cs->is_array())
      for (const auto& c : cs->as_array())
        if (stringAt(c, "status") != "False") condition += (condition.empty() ? "" : ",") + stringAt(c, "type");
    if (!stringAt(o, "status.certificate").empty()) condition += condition.empty() ? "Issued" : ",Issued";
    if (condition.empty()) condition = "Pending";
    std::string duration = "<none>";
    if (const json::value* d = valueAt(o, "spec.expirationSeconds"); d && d->is_int64()) duration = std::to_string(d->as_int64() / 60) + "m";
    cells = {json::value(name), json::value(age(o)), json::value(stringAt(o, "spec.signerName")), json::value(stringAt(o, "spec.username")),
             json::value(duration), json::value(condition)};
  } else if (k == "Lease") {
    std::string holder = stringAt(o, "spec.holderIdentity");
    cells = {json::value(name), json::value(holder.empty() ? "<none>" : holder), json::value(age(o))};
  } else if (k == "Deployment") {
    cells = {json::value(name),
             json::value(std::to_string(intOr0(o, "status.readyReplicas")) + "/" + std::to_string(intOr0(o, "spec.replicas"))),
             json::value(intOr0(o, "status.updatedReplicas")), json::value(intOr0(o, "status.availableReplicas")),
             json::value(age(o))};
    containersAndImages(o, "spec.template.spec.containers", cells);
    cells.emplace_back(selectorString(valueAt(o, "spec.selector")));
  } else if (k == "ReplicaSet") {
    cells = {json::value(name), json::value(intOr0(o, "spec.replicas")), json::value(intOr0(o, "status.replicas")),
             json::value(intOr0(o, "status.readyReplicas")), json::value(age(o))};
    containersAndImages(o, "spec.template.spec.containers", cells);
    cells.emplace_back(selectorString(valueAt(o, "spec.selector")));
  } else if (k == "HorizontalPodAutoscaler") {
    std::vector<std::string> targets;
    const json::value* metrics = valueAt(o, "spec.metrics");
    const json::value* current = valueAt(o, "status.currentMetrics");
    if (metrics && metrics->is_array())
      for (size_t i = 0; i < metrics->get_array().size(); ++i) {
        const json::value& m = metrics->get_array()[i];
        if (stringAt(m, "type") == "Pods") {  // as kubectl: "name: current/target"
          std::string metric = stringAt(m, "pods.metric.name"), now = "<unknown>";
          if (current && current->is_array())
            for (const auto& c : current->get_array())
              if (stringAt(c, "pods.metric.name") == metric && !stringAt(c, "pods.current.averageValue").empty())
                now = stringAt(c, "pods.current.averageValue");
          targets.push_back(metric + ": " + now + "/" + stringAt(m, "pods.target.averageValue"));
          continue;
        }
        std::string res = stringAt(m, "resource.name");
        std::string now = "<unknown>";
        if (current && current->is_array())
          for (const auto& c : current->get_array())
            if (stringAt(c, "resource.name") == res && valueAt(c, "resource.current.averageUtilization"))
              now = std::to_string(intOr0(c, "resource.current.averageUtilization")) + "%";
        targets.push_back(res + ": " + now + "/" + std::to_string(intOr0(m, "resource.target.averageUtilization")) + "%");
      }
    cells = {json::value(name), json::value(stringAt(o, "spec.scaleTargetRef.kind") + "/" + stringAt(o, "spec.scaleTargetRef.name")),
             json::value(targets.empty() ? "<none>" : joinStrings(targets, ", ")), json::value(std::to_string(intOr0(o, "spec.minReplicas"))),
             json::value(intOr0(o, "spec.maxReplicas")), json::value(intOr0(o, "status.currentReplicas")), json::value(age(o))};
  } else if (k == "PodDisruptionBudget") {
    // As kubectl: the int-or-percent as written, N/A when the budget does not set it.
    auto intOrPercent = [&](const char* path) -> std::string {
      const json::value* v = valueAt(o, path);
      if (!v || v->is_null()) return "N/A";
      return v->is_string() ? std::string(v->get_string()) : json::serialize(*v);
    };
    cells = {json::value(name), json::value(intOrPercent("spec.minAvailable")), json::value(intOrPercent("spec.maxUnavailable")),
             json::value(intOr0(o, "status.disruptionsAllowed")), json::value(age(o))};
  } else if (k == "PriorityClass") {
    const json::value* g = valueAt(o, "globalDefault");
    std::string pp = stringAt(o, "preemptionPolicy");
    cells = {json::value(name), json::value(intOr0(o, "value")), json::value(g && g->is_bool() && g->get_bool()),
             json::value(pp.empty() ? "PreemptLowerPriority" : pp), json::value(age(o))};
  } else if (k == "PersistentVolume") {
    std::string claim = stringAt(o, "spec.claimRef.name").empty() ? "" : stringAt(o, "spec.claimRef.namespace") + "/" + stringAt(o, "spec.claimRef.name");
    std::vector<std::string> modes;
    for (const auto& v : stringsAt(o, "spec.accessModes"))
      modes.push_back(v == "ReadWriteOnce" ? "RWO" : v == "ReadOnlyMany" ? "ROX" : v == "ReadWriteMany" ? "RWX" : v == "ReadWriteOncePod" ? "RWOP" : v);
    cells = {json::value(name), json::value(stringAt(o, "spec.capacity.storage")), json::value(joinStrings(modes, ",")),
             json::value(stringAt(o, "spec.persistentVolumeReclaimPolicy")), json::value(stringAt(o, "status.phase")), json::value(claim),
             json::value(stringAt(o, "spec.storageClassName")), json::value(stringAt(o, "status.reason")), json::value(age(o))};
  } else if (k == "StorageClass") {
    std::string n = name;
    if (const json::value* a = valueAt(o, "metadata.annotations"); a && a->is_object())
      if (const json::value* d = a->get_object().if_contains("storageclass.kubernetes.io/is-default-class"); d && *d == json::value("true"))
        n += " (default)";
    const json::value* expand = valueAt(o, "allowVolumeExpansion");
    cells = {json::value(n), json::value(stringAt(o, "provisioner")),
             json::value(stringAt(o, "reclaimPolicy").empty() ? "Delete" : stringAt(o, "reclaimPolicy")),
             json::value(stringAt(o, "volumeBindingMode").empty() ? "Immediate" : stringAt(o, "volumeBindingMode")),
             json::value(expand && expand->is_bool() && expand->get_bool() ? "true" : "false"), json::value(age(o))};
  } else if (k == "PersistentVolumeClaim") {
    std::vector<std::string> modes;
    if (const json::value* m = valueAt(o, "status.accessModes"); m && m->is_array())
      for (const auto& x : m->get_array())
        if (x.is_string()) {
          std::string v(x.get_string());
          modes.push_back(v == "ReadWriteOnce" ? "RWO" : v == "ReadOnlyMany" ? "ROX" : v == "ReadWriteMany" ? "RWX" : v == "ReadWriteOncePod" ? "RWOP" : v);
        }
    cells = {json::value(name), json::value(stringAt(o, "status.phase")), json::value(stringAt(o, "spec.volumeName")),
             json::value(stringAt(o, "status.capacity.storage")), json::value(joinStrings(modes, ",")),
             json::value(stringAt(o, "spec.storageClassName")), json::value(age(o)), json::value(stringAt(o, "spec.volumeMode"))};
  } else if (k == "Endpoints") {
    std::vector<std::string> eps;
    if (const json::value* subsets = valueAt(o, "subsets"); subsets && subsets->is_array())
      for (const auto& s : subsets->get_array()) {
        const json::value* addrs = valueAt(s, "addresses");
        const json::value* ports = valueAt(s, "ports");
        if (!addrs || !addrs->is_array()) continue;
        for (const auto& a : addrs->get_array()) {
          if (ports && ports->is_array() && !ports->get_array().empty())
            for (const auto& p : ports->get_array()) eps.push_back(stringAt(a, "ip") + ":" + std::to_string(intOr0(p, "port")));
          else
            eps.push_back(stringAt(a, "ip"));
        }
      }
    std::string shown = eps.empty() ? "<none>" : joinStrings(std::vector<std::string>(eps.begin(), eps.begin() + long(std::min<size_t>(eps.size(), 3))));
    if (eps.size() > 3) shown += " + " + std::to_string(eps.size() - 3) + " more...";
    cells = {json::value(name), json::value(shown), json::value(age(o))};
  } else if (k == "Ingress") {
    // As kubectl: the class, every rule's host ("*" when none), the load-balancer addresses, and
    // 80 or "80, 443" when it has TLS.
    std::vector<std::string> hosts, addresses;
    for (const auto& r : (valueAt(o, "spec.rules") && valueAt(o, "spec.rules")->is_array()) ? valueAt(o, "spec.rules")->get_array() : json::array())
      hosts.push_back(stringAt(r, "host").empty() ? "*" : stringAt(r, "host"));
    if (const json::value* lb = valueAt(o, "status.loadBalancer.ingress"); lb && lb->is_array())
      for (const auto& a : lb->get_array()) addresses.push_back(!stringAt(a, "ip").empty() ? stringAt(a, "ip") : stringAt(a, "hostname"));
    const json::value* tls = valueAt(o, "spec.tls");
    bool hasTls = tls && tls->is_array() && !tls->get_array().empty();
    std::string cls = stringAt(o, "spec.ingressClassName");
    cells = {json::value(name), json::value(cls.empty() ? "<none>" : cls), json::value(hosts.empty() ? "*" : joinStrings(hosts)),
             json::value(joinStrings(addresses)), json::value(hasTls ? "80, 443" : "80"), json::value(age(o))};
  } else if (k == "IngressClass") {
    std::string params = stringAt(o, "spec.parameters.kind");
    if (!params.empty()) params += "/" + stringAt(o, "spec.parameters.name");
    cells = {json::value(name), json::value(stringAt(o, "spec.controller")), json::value(params.empty() ? "<none>" : params), json::value(age(o))};
  } else if (k == "GatewayClass" || k == "Gateway" || k == "HTTPRoute" || k == "GRPCRoute" || k == "TLSRoute" || k == "TCPRoute" ||
             k == "UDPRoute") {
    auto conditionStatus = [&](const char* type) {
      if (const json::value* cs = valueAt(o, "status.conditions"); cs && cs->is_array())
        for (const auto& cond : cs->get_array())
          if (stringAt(cond, "type") == type) return stringAt(cond, "status");
      return std::string("Unknown");
    };
    if (k == "GatewayClass") {
      cells = {json::value(name), json::value(stringAt(o, "spec.controllerName")), json::value(conditionStatus("Accepted")), json::value(age(o)),
               json::value(stringAt(o, "spec.description"))};
    } else if (k == "Gateway") {
      std::string address;
      if (const json::value* as = valueAt(o, "status.addresses"); as && as->is_array() && !as->get_array().empty())
        address = stringAt(as->get_array()[0], "value");
      cells = {json::value(name), json::value(stringAt(o, "spec.gatewayClassName")), json::value(address), json::value(conditionStatus("Programmed")),
               json::value(age(o))};
    } else if (k == "TCPRoute" || k == "UDPRoute") {
      cells = {json::value(name), json::value(age(o))};
    } else {
      std::vector<std::string> hosts = stringsAt(o, "spec.hostnames");
      cells = {json::value(name), json::value(hosts.empty() ? "" : joinStrings(hosts)), json::value(age(o))};
    }
  } else if (k == "EndpointSlice") {
    std::vector<std::string> ports, addrs;
    if (const json::value* ps = valueAt(o, "ports"); ps && ps->is_array())
      for (const auto& p : ps->get_array()) ports.push_back(std::to_string(intOr0(p, "port")));
    if (const json::value* es = valueAt(o, "endpoints"); es && es->is_array())
      for (const auto& e : es->get_array())
        if (const json::value* a = valueAt(e, "addresses"); a && a->is_array() && !a->get_array().empty())
          addrs.push_back(std::string(a->get_array()[0].as_string()));
    cells = {json::value(name), json::value(stringAt(o, "addressType")), json::value(ports.empty() ? "<unset>" : joinStrings(ports)),
             json::value(addrs.empty() ? "<unset>" : joinStrings(addrs)), json::value(age(o))};
  } else if (k == "StatefulSet") {
    cells = {json::value(name),
             json::value(std::to_string(intOr0(o, "status.readyReplicas")) + "/" + std::to_string(intOr0(o, "spec.replicas"))),
             json::value(age(o))};
    containersAndImages(o, "spec.template.spec.containers", cells);
  } else if (k == "Job") {
    std::string status = "Running";
    if (const json::value* conds = valueAt(o, "status.conditions"); conds && conds->is_array())
      for (const auto& c : conds->get_array())
        if (stringAt(c, "status") == "True") {
          std::string t = stringAt(c, "type");
          if (t == "Complete") status = "Complete";
          else if (t == "Failed") status = "Failed";
          else if (t == "Suspended") status = "Suspended";
        }
    int64_t start = parseRfc3339(stringAt(o, "status.startTime"));
    int64_t end = parseRfc3339(stringAt(o, "status.completionTime"));
    std::string duration = start < 0 ? "" : humanDuration((end >= 0 ? end : int64_t(std::time(nullptr))) - start);
    cells = {json::value(name), json::value(status),
             json::value(std::to_string(intOr0(o, "status.succeeded")) + "/" + std::to_string(intOr0(o, "spec.completions"))),
             json::value(duration), json::value(age(o))};
    containersAndImages(o, "spec.template.spec.containers", cells);
    cells.emplace_back(selectorString(valueAt(o, "spec.selector")));
  } else if (k == "CronJob") {
    const json::value* active = valueAt(o, "status.active");
    std::string last = stringAt(o, "status.lastScheduleTime");
    const json::value* suspend = valueAt(o, "spec.suspend");
    cells = {json::value(name), json::value(stringAt(o, "spec.schedule")),
             json::value(stringAt(o, "spec.timeZone").empty() ? "<none>" : stringAt(o, "spec.timeZone")),
             json::value(suspend && suspend->is_bool() && suspend->get_bool()),
             json::value(int64_t(active && active->is_array() ? active->get_array().size() : 0)),
             json::value(last.empty() ? "<none>" : age(o, "status.lastScheduleTime")), json::value(age(o))};
    containersAndImages(o, "spec.jobTemplate.spec.template.spec.containers", cells);
    cells.emplace_back("<none>");
  } else if (k == "DaemonSet") {
    cells = {json::value(name), json::value(intOr0(o, "status.desiredNumberScheduled")),
             json::value(intOr0(o, "status.currentNumberScheduled")), json::value(intOr0(o, "status.numberReady")),
             json::value(intOr0(o, "status.updatedNumberScheduled")), json::value(intOr0(o, "status.numberAvailable")),
             json::value(selectorString(valueAt(o, "spec.template.spec.nodeSelector"))), json::value(age(o))};
    containersAndImages(o, "spec.template.spec.containers", cells);
    cells.emplace_back(selectorString(valueAt(o, "spec.selector")));
  } else {
    cells = {json::value(name), json::value(age(o))};
  }
}

// A custom kind's cells: Name, then its additionalPrinterColumns (Kubernetes' default when it
// lists none is one Age column). Dates show as ages, as kubectl prints them.
void fillCustomCells(const CustomKind& custom, const json::value& o, json::array& cells) {
  cells.emplace_back(stringAt(o, "metadata.name"));
  if (custom.columns.empty()) {
    cells.emplace_back(age(o));
    return;
  }
  for (const auto& c : custom.columns) {
    const json::value* v = valueAtJsonPath(o, c.jsonPath);
    if (!v || v->is_null()) {
      cells.emplace_back(nullptr);
    } else if (c.type == "date" && v->is_string()) {
      int64_t t = parseRfc3339(v->get_string());
      cells.emplace_back(t < 0 ? std::string(v->get_string()) : humanDuration(int64_t(std::time(nullptr)) - t));
    } else if (c.type == "string" && !v->is_string()) {
      cells.emplace_back(json::serialize(*v));
    } else {
      cells.push_back(*v);
    }
  }
}

}  // namespace

json::array tableColumns(const ResourceType& type) {
  json::array out;
  if (type.custom) {
    out.push_back(json::object{{"name", "Name"}, {"type", "string"}, {"format", "name"},
                               {"description", "Name must be unique within a namespace."}, {"priority", 0}});
    if (type.custom->columns.empty())
      out.push_back(json::object{{"name", "Age"}, {"type", "date"}, {"format", ""},
                                 {"description", "CreationTimestamp of the object."}, {"priority", 0}});
    for (const auto& c : type.custom->columns)
      out.push_back(json::object{{"name", c.name}, {"type", c.type}, {"format", c.format},
                                 {"description", c.description}, {"priority", c.priority}});
    return out;
  }
  for (const auto& c : columnsFor(type.kind))
    out.push_back(json::object{{"name", c.name}, {"type", c.type}, {"format", c.format},
                               {"description", std::string(c.name) + " of the " + type.singular},
                               {"priority", c.priority}});
  return out;
}

json::object tableRow(const ResourceType& type, const json::value& object, TableObject include) {
  json::array cells;
  if (type.custom) fillCustomCells(*type.custom, object, cells);
  else fillCells(type, object, cells);
  json::object row{{"cells", std::move(cells)}};
  if (include == TableObject::Object) {
    row["object"] = object;
  } else if (include == TableObject::Metadata) {
    const json::value* meta = valueAt(object, "metadata");
    row["object"] = json::object{{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"},
                                 {"metadata", meta ? *meta : json::value(json::object())}};
  }
  return row;
}

json::object makeTable(const ResourceType& type, const std::vector<json::value>& objects, const std::string& rv,
                       const std::string& continueToken, TableObject include) {
  json::array rows;
  std::vector<const json::value*> ordered;
  for (const auto& o : objects) ordered.push_back(&o);
  if (type.builtin("Event"))  // oldest first, as `kubectl get events` reads best
    std::stable_sort(ordered.begin(), ordered.end(), [](const json::value* a, const json::value* b) {
      return stringAt(*a, "lastTimestamp") < stringAt(*b, "lastTimestamp");
    });
  for (const auto* o : ordered) rows.push_back(tableRow(type, *o, include));
  json::object meta{{"resourceVersion", rv}};
  if (!continueToken.empty()) meta["continue"] = continueToken;
  return json::object{{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", std::move(meta)},
                      {"columnDefinitions", tableColumns(type)}, {"rows", std::move(rows)}};
}

}  // namespace skiff::api
