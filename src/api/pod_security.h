// Pod Security Admission: Kubernetes' Pod Security Standards (privileged, baseline,
// restricted) checked field by field, as the pod-security admission plugin does.
//
// A namespace chooses its levels with labels: pod-security.kubernetes.io/{enforce,audit,warn}
// (and -version, "latest" or "v1.N"; skiff checks every version by the latest rules). Pods that
// violate the enforce level are refused with each failing check named; the warn level adds
// kubectl warnings; workloads with pod templates (Deployments, Jobs, ...) only get warnings, as
// in Kubernetes, since their pods are checked when they are made.
//
// The checks read a small typed view of the pod (PodSecurityView), parsed once from the JSON.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <boost/json/fwd.hpp>

#include "common/result.h"

namespace skiff::api::podsecurity {

enum class Level { Privileged, Baseline, Restricted };

inline constexpr const char* kLabelPrefix = "pod-security.kubernetes.io/";

// A level with the version it was asked for ("restricted:latest").
struct LevelVersion {
  Level level = Level::Privileged;
  std::string version = "latest";
  std::string text() const;
};

struct NamespacePolicy {
  LevelVersion enforce, audit, warn;
};

// The namespace's policy from its labels; an Invalid cause per bad label (path metadata.labels[...]).
Result<NamespacePolicy> policyOf(const boost::json::value& ns);

// What the checks need of a pod (or a pod template's metadata and spec).
struct ContainerView {
  std::string name;
  std::optional<bool> privileged, allowPrivilegeEscalation, runAsNonRoot;
  std::optional<int64_t> runAsUser;
  std::vector<std::string> capAdd, capDrop;
  std::string seccompType, procMount, appArmorType;
  std::string seLinuxType, seLinuxUser, seLinuxRole;
  bool windowsHostProcess = false;
  std::vector<int64_t> hostPorts;
  std::string appArmorAnnotation;  // container.apparmor.security.beta.kubernetes.io/<name>
  bool operator==(const ContainerView&) const = default;
};

struct VolumeView {
  std::string name, type;  // type: the volume source's field name ("hostPath", "emptyDir", ...)
  bool operator==(const VolumeView&) const = default;
};

struct PodSecurityView {
  bool hostNetwork = false, hostPID = false, hostIPC = false;
  std::optional<bool> runAsNonRoot;
  std::optional<int64_t> runAsUser;
  std::string seccompType, appArmorType, seLinuxType, seLinuxUser, seLinuxRole;
  bool windowsHostProcess = false;
  std::vector<std::string> sysctls;
  std::vector<ContainerView> containers;  // init, regular and ephemeral
  std::vector<VolumeView> volumes;
  bool operator==(const PodSecurityView&) const = default;
};

// `metadata` and `spec` of a pod or of a pod template.
PodSecurityView viewOf(const boost::json::value* metadata, const boost::json::value* spec);

struct Violation {
  std::string reason;  // "allowPrivilegeEscalation != false"
  std::string detail;  // "container \"app\" must set securityContext.allowPrivilegeEscalation=false"
};

// Every check of `level` the pod fails, baseline checks first, each list in Kubernetes' order.
std::vector<Violation> check(Level level, const PodSecurityView& pod);

// "reason (detail), reason (detail)", as Kubernetes joins them.
std::string describe(const std::vector<Violation>& violations);
// "reason, reason": the short form used when summarising existing pods.
std::string reasons(const std::vector<Violation>& violations);

}  // namespace skiff::api::podsecurity
