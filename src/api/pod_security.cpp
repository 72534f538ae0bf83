#include "api/pod_security.h"

#include <algorithm>
#include <set>

#include <boost/json.hpp>

#include "api/object.h"

namespace skiff::api::podsecurity {
namespace json = boost::json;

namespace {

std::optional<bool> boolAt(const json::value* v, std::string_view path) {
  const json::value* x = v ? valueAt(*v, path) : nullptr;
  if (x && x->is_bool()) return x->get_bool();
  return std::nullopt;
}

std::optional<int64_t> intAt(const json::value* v, std::string_view path) {
  const json::value* x = v ? valueAt(*v, path) : nullptr;
  if (x && x->is_int64()) return x->get_int64();
  if (x && x->is_uint64()) return int64_t(x->get_uint64());
  return std::nullopt;
}

std::string strAt(const json::value* v, std::string_view path) { return v ? stringAt(*v, path) : ""; }

// `container "a"` or `containers "a", "b"`.
std::string named(const char* one, const char* many, const std::vector<std::string>& names) {
  std::string out = names.size() == 1 ? one : many;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", \"" : " \"") + names[i] + "\"";
  return out;
}

std::string quotedList(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", \"" : "\"") + items[i] + "\"";
  return out;
}

std::string joined(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

void addUnique(std::vector<std::string>& to, const std::string& v) {
  if (std::find(to.begin(), to.end(), v) == to.end()) to.push_back(v);
}

// --- baseline ---------------------------------------------------------------------------------

std::optional<Violation> appArmor(const PodSecurityView& p) {
  std::vector<std::string> bad;
  auto allowedType = [](const std::string& t) { return t.empty() || t == "RuntimeDefault" || t == "Localhost"; };
  if (!allowedType(p.appArmorType)) bad.push_back("pod must not set securityContext.appArmorProfile.type to \"" + p.appArmorType + "\"");
  for (const auto& c : p.containers) {
    if (!allowedType(c.appArmorType))
      bad.push_back("container \"" + c.name + "\" must not set securityContext.appArmorProfile.type to \"" + c.appArmorType + "\"");
    const std::string& a = c.appArmorAnnotation;
    if (!a.empty() && a != "runtime/default" && !a.starts_with("localhost/"))
      bad.push_back("container.apparmor.security.beta.kubernetes.io/" + c.name + "=\"" + a + "\"");
  }
  if (bad.empty()) return std::nullopt;
  return Violation{bad.size() == 1 ? "forbidden AppArmor profile" : "forbidden AppArmor profiles", joined(bad, ", ")};
}

std::optional<Violation> capabilitiesBaseline(const PodSecurityView& p) {
  static const std::set<std::string> allowed = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                                "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"};
  std::vector<std::string> containers, caps;
  for (const auto& c : p.containers)
    for (const auto& cap : c.capAdd)
      if (!allowed.count(cap)) {
        addUnique(containers, c.name);
        addUnique(caps, cap);
      }
  if (containers.empty()) return std::nullopt;
  return Violation{"non-default capabilities",
                   named("container", "containers", containers) + " must not include " + quotedList(caps) + " in securityContext.capabilities.add"};
}

std::optional<Violation> hostNamespaces(const PodSecurityView& p) {
  std::vector<std::string> set;
  if (p.hostNetwork) set.push_back("hostNetwork=true");
  if (p.hostPID) set.push_back("hostPID=true");
  if (p.hostIPC) set.push_back("hostIPC=true");
  if (set.empty()) return std::nullopt;
  return Violation{"host namespaces", joined(set, ", ")};
}

std::optional<Violation> hostPathVolumes(const PodSecurityView& p) {
  std::vector<std::string> names;
  for (const auto& v : p.volumes)
    if (v.type == "hostPath") names.push_back(v.name);
  if (names.empty()) return std::nullopt;
  return Violation{"hostPath volumes", named("volume", "volumes", names)};
}

std::optional<Violation> hostPorts(const PodSecurityView& p) {
  std::vector<std::string> containers, ports;
  for (const auto& c : p.containers)
    for (int64_t port : c.hostPorts)
      if (port != 0) {
        addUnique(containers, c.name);
        addUnique(ports, std::to_string(port));
      }
  if (containers.empty()) return std::nullopt;
  return Violation{"hostPort", named("container", "containers", containers) + (containers.size() == 1 ? " uses " : " use ") +
                                   (ports.size() == 1 ? "hostPort " : "hostPorts ") + joined(ports, ", ")};
}

std::optional<Violation> privileged(const PodSecurityView& p) {
  std::vector<std::string> names;
  for (const auto& c : p.containers)
    if (c.privileged.value_or(false)) names.push_back(c.name);
  if (names.empty()) return std::nullopt;
  return Violation{"privileged", named("container", "containers", names) + " must not set securityContext.privileged=true"};
}

std::optional<Violation> procMount(const PodSecurityView& p) {
  std::vector<std::string> names, values;
  for (const auto& c : p.containers)
    if (!c.procMount.empty() && c.procMount != "Default") {
      names.push_back(c.name);
      addUnique(values, c.procMount);
    }
  if (names.empty()) return std::nullopt;
  return Violation{"procMount", named("container", "containers", names) + " must not set securityContext.procMount to " + quotedList(values)};
}

std::optional<Violation> seLinuxOptions(const PodSecurityView& p) {
  static const std::set<std::string> types = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"};
  bool pod = false;
  std::vector<std::string> names, problems;
  auto judge = [&](const std::string& type, const std::string& user, const std::string& role) {
    bool bad = false;
    if (!types.count(type)) addUnique(problems, "type \"" + type + "\""), bad = true;
    if (!user.empty()) addUnique(problems, "user \"" + user + "\""), bad = true;
    if (!role.empty()) addUnique(problems, "role \"" + role + "\""), bad = true;
    return bad;
  };
  pod = judge(p.seLinuxType, p.seLinuxUser, p.seLinuxRole);
  for (const auto& c : p.containers)
    if (judge(c.seLinuxType, c.seLinuxUser, c.seLinuxRole)) names.push_back(c.name);
  if (!pod && names.empty()) return std::nullopt;
  std::string who = pod && !names.empty() ? "pod and " + named("container", "containers", names) : pod ? "pod" : named("container", "containers", names);
  return Violation{"seLinuxOptions", who + " set forbidden securityContext.seLinuxOptions: " + joined(problems, "; ")};
}

std::optional<Violation> seccompBaseline(const PodSecurityView& p) {
  std::vector<std::string> bad;
  if (p.seccompType == "Unconfined") bad.push_back("pod must not set securityContext.seccompProfile.type to \"Unconfined\"");
  std::vector<std::string> names;
  for (const auto& c : p.containers)
    if (c.seccompType == "Unconfined") names.push_back(c.name);
  if (!names.empty()) bad.push_back(named("container", "containers", names) + " must not set securityContext.seccompProfile.type to \"Unconfined\"");
  if (bad.empty()) return std::nullopt;
  return Violation{"seccompProfile", joined(bad, "; ")};
}

std::optional<Violation> sysctls(const PodSecurityView& p) {
  static const std::set<std::string> safe = {"kernel.shm_rmid_forced",      "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                                             "net.ipv4.tcp_syncookies",     "net.ipv4.ping_group_range",    "net.ipv4.ip_local_reserved_ports",
                                             "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",     "net.ipv4.tcp_keepalive_intvl",
                                             "net.ipv4.tcp_keepalive_probes"};
  std::vector<std::string> bad;
  for (const auto& s : p.sysctls)
    if (!safe.count(s)) bad.push_back(s);
  if (bad.empty()) return std::nullopt;
  return Violation{"forbidden sysctls", joined(bad, ", ")};
}

std::optional<Violation> windowsHostProcess(const PodSecurityView& p) {
  std::vector<std::string> names;
  for (const auto& c : p.containers)
    if (c.windowsHostProcess) names.push_back(c.name);
  if (!p.windowsHostProcess && names.empty()) return std::nullopt;
  std::string who = p.windowsHostProcess && !names.empty() ? "pod and " + named("container", "containers", names)
                    : p.windowsHostProcess                  ? "pod"
                                                            : named("container", "containers", names);
  return Violation{"hostProcess", who + " must not set securityContext.windowsOptions.hostProcess=true"};
}

// --- restricted -------------------------------------------------------------------------------

std::optional<Violation> allowPrivilegeEscalation(const PodSecurityView& p) {
  std::vector<std::string> names;
  for (const auto& c : p.containers)
    if (c.allowPrivilegeEscalation != std::optional<bool>(false)) names.push_back(c.name);
  if (names.empty()) return std::nullopt;
  return Violation{"allowPrivilegeEscalation != false", named("container", "containers", names) + " must set securityContext.allowPrivilegeEscalation=false"};
}

std::optional<Violation> capabilitiesRestricted(const PodSecurityView& p) {
  std::vector<std::string> noDrop, addNames, adds;
  for (const auto& c : p.containers) {
    if (std::find(c.capDrop.begin(), c.capDrop.end(), "ALL") == c.capDrop.end()) noDrop.push_back(c.name);
    for (const auto& cap : c.capAdd)
      if (cap != "NET_BIND_SERVICE") {
        addUnique(addNames, c.name);
        addUnique(adds, cap);
      }
  }
  std::vector<std::string> details;
  if (!noDrop.empty()) details.push_back(named("container", "containers", noDrop) + " must set securityContext.capabilities.drop=[\"ALL\"]");
  if (!addNames.empty())
    details.push_back(named("container", "containers", addNames) + " must not include " + quotedList(adds) + " in securityContext.capabilities.add");
  if (details.empty()) return std::nullopt;
  return Violation{"unrestricted capabilities", joined(details, "; ")};
}

std::optional<Violation> restrictedVolumes(const PodSecurityView& p) {
  static const std::set<std::string> allowed = {"configMap", "csi",    "downwardAPI", "emptyDir",
                                                "ephemeral", "persistentVolumeClaim", "projected", "secret"};
  std::vector<std::string> names, types;
  for (const auto& v : p.volumes)
    if (!allowed.count(v.type)) {
      names.push_back(v.name);
      addUnique(types, v.type);
    }
  if (names.empty()) return std::nullopt;
  return Violation{"restricted volume types", named("volume", "volumes", names) + (names.size() == 1 ? " uses " : " use ") +
                                                  (types.size() == 1 ? "restricted volume type " : "restricted volume types ") +
                                                  quotedList(types)};
}

std::optional<Violation> runAsNonRoot(const PodSecurityView& p) {
  std::vector<std::string> details, explicitFalse, unset;
  if (p.runAsNonRoot == std::optional<bool>(false)) details.push_back("pod must not set securityContext.runAsNonRoot=false");
  for (const auto& c : p.containers) {
    if (c.runAsNonRoot == std::optional<bool>(false)) explicitFalse.push_back(c.name);
    else if (!c.runAsNonRoot && p.runAsNonRoot != std::optional<bool>(true)) unset.push_back(c.name);
  }
  if (!explicitFalse.empty()) details.push_back(named("container", "containers", explicitFalse) + " must not set securityContext.runAsNonRoot=false");
  if (!unset.empty() && p.runAsNonRoot != std::optional<bool>(false))
    details.push_back("pod or " + named("container", "containers", unset) + " must set securityContext.runAsNonRoot=true");
  if (details.empty()) return std::nullopt;
  return Violation{"runAsNonRoot != true", joined(details, "; ")};
}

std::optional<Violation> runAsUser(const PodSecurityView& p) {
  bool pod = p.runAsUser == std::optional<int64_t>(0);
  std::vector<std::string> names;
  for (const auto& c : p.containers)
    if (c.runAsUser == std::optional<int64_t>(0)) names.push_back(c.name);
  if (!pod && names.empty()) return std::nullopt;
  std::string who = pod && !names.empty() ? "pod and " + named("container", "containers", names) : pod ? "pod" : named("container", "containers", names);
  return Violation{"runAsUser=0", who + " must not set runAsUser=0"};
}

std::optional<Violation> seccompRestricted(const PodSecurityView& p) {
  auto ok = [](const std::string& t) { return t == "RuntimeDefault" || t == "Localhost"; };
  std::vector<std::string> details, unconfined, unset;
  if (p.seccompType == "Unconfined") details.push_back("pod must not set securityContext.seccompProfile.type to \"Unconfined\"");
  for (const auto& c : p.containers) {
    if (!c.seccompType.empty() && !ok(c.seccompType)) unconfined.push_back(c.name);
    else if (c.seccompType.empty() && !ok(p.seccompType)) unset.push_back(c.name);
  }
  if (!unconfined.empty())
    details.push_back(named("container", "containers", unconfined) + " must not set securityContext.seccompProfile.type to \"Unconfined\"");
  if (!unset.empty() && p.seccompType.empty())
    details.push_back("pod or " + named("container", "containers", unset) +
                      " must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"");
  if (details.empty()) return std::nullopt;
  return Violation{"seccompProfile", joined(details, "; ")};
}

using Check = std::optional<Violation> (*)(const PodSecurityView&);

std::optional<Level> parseLevel(const std::string& v) {
  if (v == "privileged") return Level::Privileged;
  if (v == "baseline") return Level::Baseline;
  if (v == "restricted") return Level::Restricted;
  return std::nullopt;
}

bool validVersion(const std::string& v) {
  if (v == "latest") return true;
  if (v.size() < 4 || !v.starts_with("v1.")) return false;
  return std::all_of(v.begin() + 3, v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

ContainerView containerOf(const json::value& c, const json::value* annotations) {
  ContainerView v;
  v.name = stringAt(c, "name");
  const json::value* sc = valueAt(c, "securityContext");
  v.privileged = boolAt(sc, "privileged");
  v.allowPrivilegeEscalation = boolAt(sc, "allowPrivilegeEscalation");
  v.runAsNonRoot = boolAt(sc, "runAsNonRoot");
  v.runAsUser = intAt(sc, "runAsUser");
  if (sc) {
    v.capAdd = stringsAt(*sc, "capabilities.add");
    v.capDrop = stringsAt(*sc, "capabilities.drop");
  }
  v.seccompType = strAt(sc, "seccompProfile.type");
  v.procMount = strAt(sc, "procMount");
  v.appArmorType = strAt(sc, "appArmorProfile.type");
  v.seLinuxType = strAt(sc, "seLinuxOptions.type");
  v.seLinuxUser = strAt(sc, "seLinuxOptions.user");
  v.seLinuxRole = strAt(sc, "seLinuxOptions.role");
  v.windowsHostProcess = boolAt(sc, "windowsOptions.hostProcess").value_or(false);
  for (const auto& port : arrayAt(c, "ports"))
    if (auto hp = intAt(&port, "hostPort")) v.hostPorts.push_back(*hp);
  if (annotations && annotations->is_object())
    if (const json::value* a = annotations->get_object().if_contains("container.apparmor.security.beta.kubernetes.io/" + v.name);
        a && a->is_string())
      v.appArmorAnnotation = std::string(a->get_string());
  return v;
}

}  // namespace

std::string LevelVersion::text() const {
  const char* l = level == Level::Restricted ? "restricted" : level == Level::Baseline ? "baseline" : "privileged";
  return std::string(l) + ":" + version;
}

Result<NamespacePolicy> policyOf(const json::value& ns) {
  NamespacePolicy policy;
  std::vector<FieldCause> causes;
  const json::value* labels = valueAt(ns, "metadata.labels");
  auto read = [&](const std::string& mode, LevelVersion& into) {
    if (!labels || !labels->is_object()) return;
    const auto& l = labels->get_object();
    std::string key = std::string(kLabelPrefix) + mode;
    if (const json::value* v = l.if_contains(key); v && v->is_string()) {
      if (auto level = parseLevel(std::string(v->get_string()))) into.level = *level;
      else
        causes.push_back({"FieldValueInvalid", "Invalid value: \"" + std::string(v->get_string()) + "\": must be one of privileged, baseline, restricted",
                          "metadata.labels[" + key + "]"});
    }
    if (const json::value* v = l.if_contains(key + "-version"); v && v->is_string()) {
      std::string version(v->get_string());
      if (validVersion(version)) into.version = version;
      else
        causes.push_back({"FieldValueInvalid", "Invalid value: \"" + version + "\": must be \"latest\" or \"v1.x\"", "metadata.labels[" + key + "-version]"});
    }
  };
  read("enforce", policy.enforce);
  read("audit", policy.audit);
  read("warn", policy.warn);
  if (!causes.empty()) {
    Error e = Error::invalid("the namespace's pod security labels are not valid");
    e.causes = std::move(causes);
    return e;
  }
  return policy;
}

PodSecurityView viewOf(const json::value* metadata, const json::value* spec) {
  PodSecurityView p;
  if (!spec) return p;
  p.hostNetwork = boolAt(spec, "hostNetwork").value_or(false);
  p.hostPID = boolAt(spec, "hostPID").value_or(false);
  p.hostIPC = boolAt(spec, "hostIPC").value_or(false);
  const json::value* sc = valueAt(*spec, "securityContext");
  p.runAsNonRoot = boolAt(sc, "runAsNonRoot");
  p.runAsUser = intAt(sc, "runAsUser");
  p.seccompType = strAt(sc, "seccompProfile.type");
  p.appArmorType = strAt(sc, "appArmorProfile.type");
  p.seLinuxType = strAt(sc, "seLinuxOptions.type");
  p.seLinuxUser = strAt(sc, "seLinuxOptions.user");
  p.seLinuxRole = strAt(sc, "seLinuxOptions.role");
  p.windowsHostProcess = boolAt(sc, "windowsOptions.hostProcess").value_or(false);
  if (sc)
    for (const auto& s : arrayAt(*sc, "sysctls")) p.sysctls.push_back(stringAt(s, "name"));
  const json::value* annotations = metadata ? valueAt(*metadata, "annotations") : nullptr;
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"})
    for (const auto& c : arrayAt(*spec, list)) p.containers.push_back(containerOf(c, annotations));
  for (const auto& v : arrayAt(*spec, "volumes")) {
    VolumeView vol{stringAt(v, "name"), ""};
    if (v.is_object())
      for (const auto& [k, _] : v.get_object())
        if (k != "name") vol.type = std::string(k);
    p.volumes.push_back(std::move(vol));
  }
  return p;
}

std::vector<Violation> check(Level level, const PodSecurityView& pod) {
  if (level == Level::Privileged) return {};
  // Restricted replaces baseline's capabilities and seccomp checks with stricter ones.
  std::vector<Check> checks = {appArmor, hostNamespaces, hostPathVolumes, hostPorts, privileged, procMount, seLinuxOptions, sysctls, windowsHostProcess};
  if (level == Level::Baseline) {
    checks.insert(checks.begin() + 1, capabilitiesBaseline);
    checks.insert(checks.end() - 2, seccompBaseline);
  } else {
    for (Check c : {allowPrivilegeEscalation, capabilitiesRestricted, restrictedVolumes, runAsNonRoot, runAsUser, seccompRestricted})
      checks.push_back(c);
  }
  std::vector<Violation> out;
  for (Check c : checks)
    if (auto v = c(pod)) out.push_back(std::move(*v));
  return out;
}

std::string describe(const std::vector<Violation>& violations) {
  std::string out;
  for (const auto& v : violations) out += (out.empty() ? "" : ", ") + v.reason + (v.detail.empty() ? "" : " (" + v.detail + ")");
  return out;
}

std::string reasons(const std::vector<Violation>& violations) {
  std::string out;
  for (const auto& v : violations) out += (out.empty() ? "" : ", ") + v.reason;
  return out;
}

}  // namespace skiff::api::podsecurity
