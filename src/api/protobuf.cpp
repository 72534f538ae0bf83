#include "api/protobuf.h"

#include <boost/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "api/object.h"
#include "common/base64.h"

namespace skiff::api {
namespace json = boost::json;

namespace {

// The schema, one line per message: "jsonName:number:type" separated by spaces. Types:
//   s string, b bool, i varint integer, y bytes (base64 in JSON), t meta/v1 Time (RFC 3339),
//   q resource Quantity (its string), n IntOrString, r FieldsV1 (raw JSON), - ignored (status:
//   never written through the main resource), ms/my/mq map of string to string/bytes/Quantity,
//   or a message name. Prefix * repeated, ^ inlined into the parent (Go's embedded structs);
//   suffix ? keeps a zero value (Go pointer fields, where 0 or false means something).
// Numbers are generated.proto's of k8s.io/api and apimachinery.
const char* const kProtobufSchema[][2] = {
    {"ObjectMeta",
     "name:1:s generateName:2:s namespace:3:s selfLink:4:s uid:5:s resourceVersion:6:s generation:7:i "
     "creationTimestamp:8:t deletionTimestamp:9:t deletionGracePeriodSeconds:10:i? labels:11:ms annotations:12:ms "
     "ownerReferences:13:*OwnerReference finalizers:14:*s managedFields:17:*ManagedFieldsEntry"},
    {"OwnerReference", "kind:1:s name:3:s uid:4:s apiVersion:5:s controller:6:b? blockOwnerDeletion:7:b?"},
    {"ManagedFieldsEntry", "manager:1:s operation:2:s apiVersion:3:s time:4:t fieldsType:6:s fieldsV1:7:r subresource:8:s"},
    {"LabelSelector", "matchLabels:1:ms matchExpressions:2:*LabelSelectorRequirement"},
    {"LabelSelectorRequirement", "key:1:s operator:2:s values:3:*s"},
    {"Namespace", "metadata:1:ObjectMeta spec:2:NamespaceSpec status:3:-"},
    // authorization.k8s.io/v1 and authentication.k8s.io/v1: kubectl auth can-i and whoami send these.
    {"SelfSubjectAccessReview", "metadata:1:ObjectMeta spec:2:SelfSubjectAccessReviewSpec status:3:-"},
    {"SelfSubjectAccessReviewSpec", "resourceAttributes:1:ResourceAttributes nonResourceAttributes:2:NonResourceAttributes"},
    {"ResourceAttributes", "namespace:1:s verb:2:s group:3:s version:4:s resource:5:s subresource:6:s name:7:s fieldSelector:8:- labelSelector:9:-"},
    {"NonResourceAttributes", "path:1:s verb:2:s"},
    {"SelfSubjectRulesReview", "metadata:1:ObjectMeta spec:2:SelfSubjectRulesReviewSpec status:3:-"},
    {"SelfSubjectRulesReviewSpec", "namespace:1:s"},
    {"SubjectAccessReview", "metadata:1:ObjectMeta spec:2:SubjectAccessReviewSpec status:3:-"},
    {"LocalSubjectAccessReview", "metadata:1:ObjectMeta spec:2:SubjectAccessReviewSpec status:3:-"},
    {"SubjectAccessReviewSpec",
     "resourceAttributes:1:ResourceAttributes nonResourceAttributes:2:NonResourceAttributes user:3:s groups:4:*s extra:5:- uid:6:s"},
    {"SelfSubjectReview", "metadata:1:ObjectMeta status:2:-"},
    {"TokenReview", "metadata:1:ObjectMeta spec:2:TokenReviewSpec status:3:-"},
    {"TokenReviewSpec", "token:1:s audiences:2:*s"},
    {"ResourceQuota", "metadata:1:ObjectMeta spec:2:ResourceQuotaSpec status:3:-"},
    {"ResourceQuotaSpec", "hard:1:mq scopes:2:*s scopeSelector:3:ScopeSelector"},
    {"ScopeSelector", "matchExpressions:1:*ScopedResourceSelectorRequirement"},
    {"ScopedResourceSelectorRequirement", "scopeName:1:s operator:2:s values:3:*s"},
    {"LimitRange", "metadata:1:ObjectMeta spec:2:LimitRangeSpec"},
    {"LimitRangeSpec", "limits:1:*LimitRangeItem"},
    {"LimitRangeItem", "type:1:s max:2:mq min:3:mq default:4:mq defaultRequest:5:mq maxLimitRequestRatio:6:mq"},
    // rbac.authorization.k8s.io/v1: kubectl create role, clusterrole, rolebinding, clusterrolebinding.
    {"Role", "metadata:1:ObjectMeta rules:2:*PolicyRule"},
    {"ClusterRole", "metadata:1:ObjectMeta rules:2:*PolicyRule aggregationRule:3:AggregationRule"},
    {"PolicyRule", "verbs:1:*s apiGroups:2:*s resources:3:*s resourceNames:4:*s nonResourceURLs:5:*s"},
    {"AggregationRule", "clusterRoleSelectors:1:*LabelSelector"},
    {"RoleBinding", "metadata:1:ObjectMeta subjects:2:*Subject roleRef:3:RoleRef"},
    {"ClusterRoleBinding", "metadata:1:ObjectMeta subjects:2:*Subject roleRef:3:RoleRef"},
    {"Subject", "kind:1:s apiGroup:2:s name:3:s namespace:4:s"},
    {"RoleRef", "apiGroup:1:s kind:2:s name:3:s"},
    {"NamespaceSpec", "finalizers:1:*s"},
    {"ConfigMap", "metadata:1:ObjectMeta data:2:ms binaryData:3:my immutable:4:b?"},
    {"Secret", "metadata:1:ObjectMeta data:2:my type:3:s stringData:4:ms immutable:5:b?"},
    {"Service", "metadata:1:ObjectMeta spec:2:ServiceSpec status:3:-"},
    {"ServiceSpec",
     "ports:1:*ServicePort selector:2:ms clusterIP:3:s type:4:s externalIPs:5:*s sessionAffinity:7:s loadBalancerIP:8:s "
     "loadBalancerSourceRanges:9:*s externalName:10:s externalTrafficPolicy:11:s healthCheckNodePort:12:i "
     "publishNotReadyAddresses:13:b sessionAffinityConfig:14:SessionAffinityConfig ipFamilyPolicy:17:s? clusterIPs:18:*s "
     "ipFamilies:19:*s allocateLoadBalancerNodePorts:20:b? loadBalancerClass:21:s? internalTrafficPolicy:22:s? "
     "trafficDistribution:23:s?"},
    {"ServicePort", "name:1:s protocol:2:s port:3:i targetPort:4:n nodePort:5:i appProtocol:6:s?"},
    {"SessionAffinityConfig", "clientIP:1:ClientIPConfig"},
    {"ClientIPConfig", "timeoutSeconds:1:i?"},
    {"ServiceAccount",
     "metadata:1:ObjectMeta secrets:2:*ObjectReference imagePullSecrets:3:*LocalObjectReference "
     "automountServiceAccountToken:4:b?"},
    {"ObjectReference", "kind:1:s namespace:2:s name:3:s uid:4:s apiVersion:5:s resourceVersion:6:s fieldPath:7:s"},
    {"LocalObjectReference", "name:1:s"},
    {"Pod", "metadata:1:ObjectMeta spec:2:PodSpec status:3:-"},
    {"PodTemplateSpec", "metadata:1:ObjectMeta spec:2:PodSpec"},
    {"PodSpec",
     "volumes:1:*Volume containers:2:*Container restartPolicy:3:s terminationGracePeriodSeconds:4:i? "
     "activeDeadlineSeconds:5:i? dnsPolicy:6:s nodeSelector:7:ms serviceAccountName:8:s serviceAccount:9:s nodeName:10:s "
     "hostNetwork:11:b hostPID:12:b hostIPC:13:b securityContext:14:PodSecurityContext "
     "imagePullSecrets:15:*LocalObjectReference hostname:16:s subdomain:17:s affinity:18:Affinity schedulerName:19:s "
     "initContainers:20:*Container automountServiceAccountToken:21:b? tolerations:22:*Toleration hostAliases:23:*HostAlias "
     "priorityClassName:24:s priority:25:i? dnsConfig:26:PodDNSConfig shareProcessNamespace:27:b? "
     "readinessGates:28:*PodReadinessGate runtimeClassName:29:s? enableServiceLinks:30:b? preemptionPolicy:31:s? "
     "overhead:32:mq topologySpreadConstraints:33:*TopologySpreadConstraint setHostnameAsFQDN:35:b? os:36:PodOS "
     "hostUsers:37:b? schedulingGates:38:*PodSchedulingGate"},
    {"Container",
     "name:1:s image:2:s command:3:*s args:4:*s workingDir:5:s ports:6:*ContainerPort env:7:*EnvVar "
     "resources:8:ResourceRequirements volumeMounts:9:*VolumeMount livenessProbe:10:Probe readinessProbe:11:Probe "
     "lifecycle:12:Lifecycle terminationMessagePath:13:s imagePullPolicy:14:s securityContext:15:SecurityContext "
     "stdin:16:b stdinOnce:17:b tty:18:b envFrom:19:*EnvFromSource terminationMessagePolicy:20:s startupProbe:22:Probe "
     "restartPolicy:24:s?"},
    {"ContainerPort", "name:1:s hostPort:2:i containerPort:3:i protocol:4:s hostIP:5:s"},
    {"EnvVar", "name:1:s value:2:s valueFrom:3:EnvVarSource"},
    {"EnvVarSource",
     "fieldRef:1:ObjectFieldSelector resourceFieldRef:2:ResourceFieldSelector configMapKeyRef:3:ConfigMapKeySelector "
     "secretKeyRef:4:SecretKeySelector"},
    {"ObjectFieldSelector", "apiVersion:1:s fieldPath:2:s"},
    {"ResourceFieldSelector", "containerName:1:s resource:2:s divisor:3:q"},
    {"ConfigMapKeySelector", "localObjectReference:1:^LocalObjectReference key:2:s optional:3:b?"},
    {"SecretKeySelector", "localObjectReference:1:^LocalObjectReference key:2:s optional:3:b?"},
    {"EnvFromSource", "prefix:1:s configMapRef:2:ConfigMapEnvSource secretRef:3:SecretEnvSource"},
    {"ConfigMapEnvSource", "localObjectReference:1:^LocalObjectReference optional:2:b?"},
    {"SecretEnvSource", "localObjectReference:1:^LocalObjectReference optional:2:b?"},
    {"ResourceRequirements", "limits:1:mq requests:2:mq"},
    {"VolumeMount",
     "name:1:s readOnly:2:b mountPath:3:s subPath:4:s mountPropagation:5:s? subPathExpr:6:s recursiveReadOnly:7:s?"},
    {"Probe",
     "handler:1:^ProbeHandler initialDelaySeconds:2:i timeoutSeconds:3:i periodSeconds:4:i successThreshold:5:i "
     "failureThreshold:6:i terminationGracePeriodSeconds:7:i?"},
    {"ProbeHandler", "exec:1:ExecAction httpGet:2:HTTPGetAction tcpSocket:3:TCPSocketAction grpc:4:GRPCAction"},
    {"ExecAction", "command:1:*s"},
    {"HTTPGetAction", "path:1:s port:2:n host:3:s scheme:4:s httpHeaders:5:*HTTPHeader"},
    {"HTTPHeader", "name:1:s value:2:s"},
    {"TCPSocketAction", "port:1:n host:2:s"},
    {"GRPCAction", "port:1:i service:2:s?"},
    {"Lifecycle", "postStart:1:LifecycleHandler preStop:2:LifecycleHandler"},
    {"LifecycleHandler", "exec:1:ExecAction httpGet:2:HTTPGetAction tcpSocket:3:TCPSocketAction sleep:4:SleepAction"},
    {"SleepAction", "seconds:1:i"},
    {"SecurityContext",
     "capabilities:1:Capabilities privileged:2:b? runAsUser:4:i? runAsNonRoot:5:b? readOnlyRootFilesystem:6:b? "
     "allowPrivilegeEscalation:7:b? runAsGroup:8:i? procMount:9:s? seccompProfile:11:SeccompProfile"},
    {"Capabilities", "add:1:*s drop:2:*s"},
    {"PodSecurityContext",
     "runAsUser:2:i? runAsNonRoot:3:b? supplementalGroups:4:*i fsGroup:5:i? runAsGroup:6:i? sysctls:7:*Sysctl "
     "fsGroupChangePolicy:9:s? seccompProfile:10:SeccompProfile"},
    {"Sysctl", "name:1:s value:2:s"},
    {"SeccompProfile", "type:1:s localhostProfile:2:s?"},
    {"Volume", "name:1:s volumeSource:2:^VolumeSource"},
    {"VolumeSource",
     "hostPath:1:HostPathVolumeSource emptyDir:2:EmptyDirVolumeSource secret:6:SecretVolumeSource "
     "persistentVolumeClaim:10:PersistentVolumeClaimVolumeSource downwardAPI:16:DownwardAPIVolumeSource "
     "configMap:19:ConfigMapVolumeSource projected:26:ProjectedVolumeSource"},
    {"HostPathVolumeSource", "path:1:s type:2:s?"},
    {"EmptyDirVolumeSource", "medium:1:s sizeLimit:2:q"},
    {"SecretVolumeSource", "secretName:1:s items:2:*KeyToPath defaultMode:3:i? optional:4:b?"},
    {"ConfigMapVolumeSource", "localObjectReference:1:^LocalObjectReference items:2:*KeyToPath defaultMode:3:i? optional:4:b?"},
    {"KeyToPath", "key:1:s path:2:s mode:3:i?"},
    {"PersistentVolumeClaimVolumeSource", "claimName:1:s readOnly:2:b"},
    {"DownwardAPIVolumeSource", "items:1:*DownwardAPIVolumeFile defaultMode:2:i?"},
    {"DownwardAPIVolumeFile", "path:1:s fieldRef:2:ObjectFieldSelector resourceFieldRef:3:ResourceFieldSelector mode:4:i?"},
    {"ProjectedVolumeSource", "sources:1:*VolumeProjection defaultMode:2:i?"},
    {"VolumeProjection",
     "secret:1:SecretProjection downwardAPI:2:DownwardAPIProjection configMap:3:ConfigMapProjection "
     "serviceAccountToken:4:ServiceAccountTokenProjection"},
    {"SecretProjection", "localObjectReference:1:^LocalObjectReference items:2:*KeyToPath optional:4:b?"},
    {"ConfigMapProjection", "localObjectReference:1:^LocalObjectReference items:2:*KeyToPath optional:4:b?"},
    {"DownwardAPIProjection", "items:1:*DownwardAPIVolumeFile"},
    {"ServiceAccountTokenProjection", "audience:1:s expirationSeconds:2:i? path:3:s"},
    {"Toleration", "key:1:s operator:2:s value:3:s effect:4:s tolerationSeconds:5:i?"},
    {"HostAlias", "ip:1:s hostnames:2:*s"},
    {"PodDNSConfig", "nameservers:1:*s searches:2:*s options:3:*PodDNSConfigOption"},
    {"PodDNSConfigOption", "name:1:s value:2:s?"},
    {"PodReadinessGate", "conditionType:1:s"},
    {"PodOS", "name:1:s"},
    {"PodSchedulingGate", "name:1:s"},
    {"Affinity", "nodeAffinity:1:NodeAffinity podAffinity:2:PodAffinity podAntiAffinity:3:PodAffinity"},
    {"NodeAffinity",
     "requiredDuringSchedulingIgnoredDuringExecution:1:NodeSelector "
     "preferredDuringSchedulingIgnoredDuringExecution:2:*PreferredSchedulingTerm"},
    {"NodeSelector", "nodeSelectorTerms:1:*NodeSelectorTerm"},
    {"NodeSelectorTerm", "matchExpressions:1:*NodeSelectorRequirement matchFields:2:*NodeSelectorRequirement"},
    {"NodeSelectorRequirement", "key:1:s operator:2:s values:3:*s"},
    {"PreferredSchedulingTerm", "weight:1:i preference:2:NodeSelectorTerm"},
    // PodAntiAffinity has PodAffinity's shape and numbers.
    {"PodAffinity",
     "requiredDuringSchedulingIgnoredDuringExecution:1:*PodAffinityTerm "
     "preferredDuringSchedulingIgnoredDuringExecution:2:*WeightedPodAffinityTerm"},
    {"PodAffinityTerm", "labelSelector:1:LabelSelector namespaces:2:*s topologyKey:3:s namespaceSelector:4:LabelSelector"},
    {"WeightedPodAffinityTerm", "weight:1:i podAffinityTerm:2:PodAffinityTerm"},
    {"TopologySpreadConstraint",
     "maxSkew:1:i topologyKey:2:s whenUnsatisfiable:3:s labelSelector:4:LabelSelector minDomains:5:i? "
     "nodeAffinityPolicy:6:s? nodeTaintsPolicy:7:s? matchLabelKeys:8:*s"},
    {"PersistentVolumeClaim", "metadata:1:ObjectMeta spec:2:PersistentVolumeClaimSpec status:3:-"},
    {"PersistentVolumeClaimSpec",
     "accessModes:1:*s resources:2:VolumeResourceRequirements volumeName:3:s selector:4:LabelSelector "
     "storageClassName:5:s? volumeMode:6:s?"},
    {"VolumeResourceRequirements", "limits:1:mq requests:2:mq"},
    {"Deployment", "metadata:1:ObjectMeta spec:2:DeploymentSpec status:3:-"},
    {"DeploymentSpec",
     "replicas:1:i? selector:2:LabelSelector template:3:PodTemplateSpec strategy:4:DeploymentStrategy "
     "minReadySeconds:5:i revisionHistoryLimit:6:i? paused:7:b progressDeadlineSeconds:9:i?"},
    {"DeploymentStrategy", "type:1:s rollingUpdate:2:RollingUpdateDeployment"},
    {"RollingUpdateDeployment", "maxUnavailable:1:n? maxSurge:2:n?"},
    {"ReplicaSet", "metadata:1:ObjectMeta spec:2:ReplicaSetSpec status:3:-"},
    {"ReplicaSetSpec", "replicas:1:i? selector:2:LabelSelector template:3:PodTemplateSpec minReadySeconds:4:i"},
    {"StatefulSet", "metadata:1:ObjectMeta spec:2:StatefulSetSpec status:3:-"},
    {"StatefulSetSpec",
     "replicas:1:i? selector:2:LabelSelector template:3:PodTemplateSpec volumeClaimTemplates:4:*PersistentVolumeClaim "
     "serviceName:5:s podManagementPolicy:6:s updateStrategy:7:StatefulSetUpdateStrategy revisionHistoryLimit:8:i? "
     "minReadySeconds:9:i"},
    {"StatefulSetUpdateStrategy", "type:1:s rollingUpdate:2:RollingUpdateStatefulSetStrategy"},
    {"RollingUpdateStatefulSetStrategy", "partition:1:i? maxUnavailable:2:n?"},
    {"DaemonSet", "metadata:1:ObjectMeta spec:2:DaemonSetSpec status:3:-"},
    {"DaemonSetSpec",
     "selector:1:LabelSelector template:2:PodTemplateSpec updateStrategy:3:DaemonSetUpdateStrategy minReadySeconds:4:i "
     "revisionHistoryLimit:6:i?"},
    {"DaemonSetUpdateStrategy", "type:1:s rollingUpdate:2:RollingUpdateDeployment"},
    {"Job", "metadata:1:ObjectMeta spec:2:JobSpec status:3:-"},
    {"JobSpec",
     "parallelism:1:i? completions:2:i? activeDeadlineSeconds:3:i? selector:4:LabelSelector manualSelector:5:b? "
     "template:6:PodTemplateSpec backoffLimit:7:i? ttlSecondsAfterFinished:8:i? completionMode:9:s? suspend:10:b? "
     "backoffLimitPerIndex:12:i? maxFailedIndexes:13:i? podReplacementPolicy:14:s? managedBy:15:s?"},
    {"JobTemplateSpec", "metadata:1:ObjectMeta spec:2:JobSpec"},
    {"CronJob", "metadata:1:ObjectMeta spec:2:CronJobSpec status:3:-"},
    {"CronJobSpec",
     "schedule:1:s startingDeadlineSeconds:2:i? concurrencyPolicy:3:s suspend:4:b? jobTemplate:5:JobTemplateSpec "
     "successfulJobsHistoryLimit:6:i? failedJobsHistoryLimit:7:i? timeZone:8:s?"},
    {"HorizontalPodAutoscalerV1", "metadata:1:ObjectMeta spec:2:HorizontalPodAutoscalerSpecV1 status:3:-"},
    {"HorizontalPodAutoscalerSpecV1",
     "scaleTargetRef:1:CrossVersionObjectReference minReplicas:2:i? maxReplicas:3:i targetCPUUtilizationPercentage:4:i?"},
    {"CrossVersionObjectReference", "kind:1:s name:2:s apiVersion:3:s"},
    {"PriorityClass", "metadata:1:ObjectMeta value:2:i globalDefault:3:b description:4:s preemptionPolicy:5:s?"},
    {"TokenRequest", "metadata:1:ObjectMeta spec:2:TokenRequestSpec status:3:-"},
    {"TokenRequestSpec", "audiences:1:*s expirationSeconds:4:i? boundObjectRef:3:BoundObjectReference"},
    {"BoundObjectReference", "kind:1:s apiVersion:2:s name:3:s uid:4:s"},
    {"PodDisruptionBudget", "metadata:1:ObjectMeta spec:2:PodDisruptionBudgetSpec status:3:-"},
    {"PodDisruptionBudgetSpec", "minAvailable:1:n? selector:2:LabelSelector maxUnavailable:3:n? unhealthyPodEvictionPolicy:4:s?"},
    {"Eviction", "metadata:1:ObjectMeta deleteOptions:2:DeleteOptions"},
    {"DeleteOptions",
     "gracePeriodSeconds:1:i? preconditions:2:Preconditions orphanDependents:3:b? propagationPolicy:4:s? dryRun:5:*s "
     "ignoreStoreReadErrorWithClusterBreakingPotential:6:b?"},
    {"Preconditions", "uid:1:s? resourceVersion:2:s?"},
    {"CertificateSigningRequest", "metadata:1:ObjectMeta spec:2:CertificateSigningRequestSpec status:3:CertificateSigningRequestStatus"},
    {"CertificateSigningRequestSpec",
     "request:1:y signerName:7:s expirationSeconds:8:i? usages:5:*s username:2:s uid:3:s groups:4:*s"},
    {"CertificateSigningRequestStatus", "conditions:1:*CertificateSigningRequestCondition certificate:2:y"},
    {"CertificateSigningRequestCondition",
     "type:1:s status:6:s reason:2:s message:3:s lastUpdateTime:4:t lastTransitionTime:5:t"},
};

// Top-level objects by apiVersion and kind.
const char* const kProtobufKinds[][3] = {
    {"v1", "Namespace", "Namespace"},
    {"v1", "ConfigMap", "ConfigMap"},
    {"v1", "Secret", "Secret"},
    {"v1", "Service", "Service"},
    {"v1", "ServiceAccount", "ServiceAccount"},
    {"v1", "Pod", "Pod"},
    {"v1", "PersistentVolumeClaim", "PersistentVolumeClaim"},
    {"apps/v1", "Deployment", "Deployment"},
    {"apps/v1", "ReplicaSet", "ReplicaSet"},
    {"apps/v1", "StatefulSet", "StatefulSet"},
    {"apps/v1", "DaemonSet", "DaemonSet"},
    {"batch/v1", "Job", "Job"},
    {"batch/v1", "CronJob", "CronJob"},
    {"autoscaling/v1", "HorizontalPodAutoscaler", "HorizontalPodAutoscalerV1"},
    {"scheduling.k8s.io/v1", "PriorityClass", "PriorityClass"},
    {"authentication.k8s.io/v1", "TokenRequest", "TokenRequest"},
    {"certificates.k8s.io/v1", "CertificateSigningRequest", "CertificateSigningRequest"},
    {"policy/v1", "PodDisruptionBudget", "PodDisruptionBudget"},
    {"policy/v1", "Eviction", "Eviction"},
    {"policy/v1beta1", "Eviction", "Eviction"},
    {"authorization.k8s.io/v1", "SelfSubjectAccessReview", "SelfSubjectAccessReview"},
    {"authorization.k8s.io/v1", "SelfSubjectRulesReview", "SelfSubjectRulesReview"},
    {"authorization.k8s.io/v1", "SubjectAccessReview", "SubjectAccessReview"},
    {"authorization.k8s.io/v1", "LocalSubjectAccessReview", "LocalSubjectAccessReview"},
    {"authentication.k8s.io/v1", "SelfSubjectReview", "SelfSubjectReview"},
    {"authentication.k8s.io/v1", "TokenReview", "TokenReview"},
    {"v1", "ResourceQuota", "ResourceQuota"},
    {"v1", "LimitRange", "LimitRange"},
    {"rbac.authorization.k8s.io/v1", "Role", "Role"},
    {"rbac.authorization.k8s.io/v1", "ClusterRole", "ClusterRole"},
    {"rbac.authorization.k8s.io/v1", "RoleBinding", "RoleBinding"},
    {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "ClusterRoleBinding"},
};

enum class FieldType { String, Bool, Int, Bytes, Time, Quantity, IntOrString, RawJson, Ignored, MapString, MapBytes, MapQuantity, Message };

struct SchemaField {
  std::string name;
  FieldType type = FieldType::String;
  std::string message;  // for FieldType::Message
  bool repeated = false;
  bool inlined = false;
  bool keepZero = false;
};

struct SchemaMessage {
  std::string name;
  std::map<uint32_t, SchemaField> fields;
};

const std::map<std::string, SchemaMessage>& protobufSchema() {
  static const std::map<std::string, SchemaMessage> messages = [] {
    std::map<std::string, SchemaMessage> out;
    for (const auto& [name, spec] : kProtobufSchema) {
      SchemaMessage m{name, {}};
      std::string_view rest(spec);
      while (!rest.empty()) {
        size_t end = rest.find(' ');
        std::string_view entry = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
        if (entry.empty()) continue;
        size_t c1 = entry.find(':'), c2 = entry.find(':', c1 + 1);
        SchemaField f;
        f.name = std::string(entry.substr(0, c1));
        uint32_t number = uint32_t(std::stoul(std::string(entry.substr(c1 + 1, c2 - c1 - 1))));
        std::string_view t = entry.substr(c2 + 1);
        if (t.starts_with('*')) f.repeated = true, t.remove_prefix(1);
        if (t.starts_with('^')) f.inlined = true, t.remove_prefix(1);
        if (t.ends_with('?')) f.keepZero = true, t.remove_suffix(1);
        static const std::map<std::string_view, FieldType> scalars = {
            {"s", FieldType::String}, {"b", FieldType::Bool}, {"i", FieldType::Int}, {"y", FieldType::Bytes}, {"t", FieldType::Time},
            {"q", FieldType::Quantity}, {"n", FieldType::IntOrString}, {"r", FieldType::RawJson}, {"-", FieldType::Ignored},
            {"ms", FieldType::MapString}, {"my", FieldType::MapBytes}, {"mq", FieldType::MapQuantity}};
        if (auto it = scalars.find(t); it != scalars.end()) f.type = it->second;
        else f.type = FieldType::Message, f.message = std::string(t);
        m.fields[number] = std::move(f);
      }
      out[name] = std::move(m);
    }
    return out;
  }();
  return messages;
}

constexpr int kMaxProtobufDepth = 64;

// One protobuf field as read off the wire.
struct WireValue {
  uint32_t number = 0;
  uint32_t wireType = 0;
  uint64_t varint = 0;
  std::string_view bytes;
};

class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }

  Result<WireValue> next() {
    auto key = varint();
    if (!key) return key.error();
    WireValue f;
    f.number = uint32_t(*key >> 3);
    f.wireType = uint32_t(*key & 7);
    if (f.number == 0 || *key >> 3 > 0x1fffffff) return bad("a field number out of range");
    switch (f.wireType) {
      case 0: {
        auto v = varint();
        if (!v) return v.error();
        f.varint = *v;
        return f;
      }
      case 1:
      case 5: {
        size_t n = f.wireType == 1 ? 8 : 4;
        if (data_.size() - pos_ < n) return bad("a fixed-width value that runs past the end");
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i) v |= uint64_t(uint8_t(data_[pos_ + i])) << (8 * i);
        pos_ += n;
        f.varint = v;
        return f;
      }
      case 2: {
        auto len = varint();
        if (!len) return len.error();
        if (*len > data_.size() - pos_) return bad("a length that runs past the end");
        f.bytes = data_.substr(pos_, size_t(*len));
        pos_ += size_t(*len);
        return f;
      }
      default:
        return bad("wire type " + std::to_string(f.wireType) + ", which Kubernetes objects do not use");
    }
  }

  Result<uint64_t> varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return bad("a number that runs past the end");
      uint8_t b = uint8_t(data_[pos_++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    return bad("a number longer than 10 bytes");
  }

  static Error bad(const std::string& what) {
    return Error{400, "BadRequest", "the protobuf body is malformed: " + what, {}};
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};


// Reads a sub-message's single string field 1 (Quantity's string, FieldsV1's Raw).
Result<std::string> firstStringField(std::string_view bytes) {
  WireReader r(bytes);
  std::string out;
  while (!r.done()) {
    auto f = r.next();
    if (!f) return f.error();
    if (f->number == 1 && f->wireType == 2) out = std::string(f->bytes);
  }
  return out;
}

Result<json::value> decodeMessage(const SchemaMessage& message, std::string_view bytes, int depth, const std::string& path);

Error wrongWireType(const SchemaMessage& message, const SchemaField& field, const std::string& path) {
  return WireReader::bad("field " + path + field.name + " of " + message.name + " has the wrong wire type");
}

// Decodes one occurrence of a field; nullopt when the value is a zero that Go's omitempty drops.
Result<std::optional<json::value>> decodeValue(const SchemaMessage& message, const SchemaField& field, const WireValue& w, int depth,
                                               const std::string& path) {
  bool lengthDelimited = w.wireType == 2;
  switch (field.type) {
    case FieldType::String:
      if (!lengthDelimited) return wrongWireType(message, field, path);
      if (w.bytes.empty() && !field.keepZero && !field.repeated) return std::optional<json::value>();
      return std::optional<json::value>(json::string(w.bytes));
    case FieldType::Bytes:
      if (!lengthDelimited) return wrongWireType(message, field, path);
      return std::optional<json::value>(json::string(base64Encode(w.bytes)));
    case FieldType::Bool:
      if (w.wireType != 0) return wrongWireType(message, field, path);
      if (!w.varint && !field.keepZero) return std::optional<json::value>();
      return std::optional<json::value>(json::value(w.varint != 0));
    case FieldType::Int:
      if (w.wireType != 0) return wrongWireType(message, field, path);
      if (!w.varint && !field.keepZero && !field.repeated) return std::optional<json::value>();
      return std::optional<json::value>(json::value(int64_t(w.varint)));
    case FieldType::Time: {
      if (!lengthDelimited) return wrongWireType(message, field, path);
      WireReader r(w.bytes);
      int64_t seconds = 0;
      while (!r.done()) {
        auto f = r.next();
        if (!f) return f.error();
        if (f->number == 1 && f->wireType == 0) seconds = int64_t(f->varint);
      }
      if (!seconds) return std::optional<json::value>();  // Go's zero time is written as null
      return std::optional<json::value>(json::string(rfc3339(seconds)));
    }
    case FieldType::Quantity:
    case FieldType::RawJson: {
      if (!lengthDelimited) return wrongWireType(message, field, path);
      auto s = firstStringField(w.bytes);
      if (!s) return s.error();
      if (field.type == FieldType::Quantity) {
        if (s->empty()) return std::optional<json::value>();
        return std::optional<json::value>(json::string(*s));
      }
      if (s->empty()) return std::optional<json::value>(json::value(json::object()));
      boost::system::error_code ec;
      json::value raw = json::parse(*s, ec);
      if (ec) return WireReader::bad("field " + path + field.name + " does not hold JSON");
      return std::optional<json::value>(std::move(raw));
    }
    case FieldType::IntOrString: {
      if (!lengthDelimited) return wrongWireType(message, field, path);
      WireReader r(w.bytes);
      int64_t kind = 0, intVal = 0;
      std::string strVal;
      while (!r.done()) {
        auto f = r.next();
        if (!f) return f.error();
        if (f->number == 1 && f->wireType == 0) kind = int64_t(f->varint);
        else if (f->number == 2 && f->wireType == 0) intVal = int64_t(int32_t(f->varint));
        else if (f->number == 3 && f->wireType == 2) strVal = std::string(f->bytes);
      }
      if (kind == 1) return std::optional<json::value>(json::string(strVal));
      if (!intVal && !field.keepZero) return std::optional<json::value>();
      return std::optional<json::value>(json::value(intVal));
    }
    case FieldType::Ignored:
      return std::optional<json::value>();
    case FieldType::Message: {
      if (!lengthDelimited) return wrongWireType(message, field, path);
      auto it = protobufSchema().find(field.message);
      if (it == protobufSchema().end()) return WireReader::bad("internal: no schema for " + field.message);
      auto v = decodeMessage(it->second, w.bytes, depth + 1, path + field.name + ".");
      if (!v) return v.error();
      return std::optional<json::value>(std::move(*v));
    }
    default:
      return WireReader::bad("internal: a map decoded as a value");
  }
}

Status decodeMapEntry(const SchemaMessage& message, const SchemaField& field, std::string_view bytes, json::object& into,
                      const std::string& path) {
  WireReader r(bytes);
  std::string key;
  json::value value = json::string();
  while (!r.done()) {
    auto f = r.next();
    if (!f) return f.error();
    if (f->wireType != 2) return wrongWireType(message, field, path);
    if (f->number == 1) {
      key = std::string(f->bytes);
    } else if (f->number == 2) {
      if (field.type == FieldType::MapString) value = json::string(f->bytes);
      else if (field.type == FieldType::MapBytes) value = json::string(base64Encode(f->bytes));
      else {
        auto s = firstStringField(f->bytes);
        if (!s) return s.error();
        value = json::string(*s);
      }
    }
  }
  into[key] = std::move(value);
  return {};
}

Result<json::value> decodeMessage(const SchemaMessage& message, std::string_view bytes, int depth, const std::string& path) {
  if (depth > kMaxProtobufDepth) return WireReader::bad("messages nested more than " + std::to_string(kMaxProtobufDepth) + " deep");
  json::object out;
  WireReader r(bytes);
  while (!r.done()) {
    auto w = r.next();
    if (!w) return w.error();
    auto it = message.fields.find(w->number);
    if (it == message.fields.end())
      return Error{415, "UnsupportedMediaType",
                   "protobuf field " + std::to_string(w->number) + " of " + message.name + " (at " +
                       (path.empty() ? std::string("the top") : path.substr(0, path.size() - 1)) +
                       ") is not known to skiff; send this object as JSON (kubectl create -f / apply -f)",
                   {}};
    const SchemaField& field = it->second;
    if (field.type == FieldType::MapString || field.type == FieldType::MapBytes || field.type == FieldType::MapQuantity) {
      if (w->wireType != 2) return wrongWireType(message, field, path);
      json::value& slot = out[field.name];
      if (!slot.is_object()) slot = json::object();
      if (auto s = decodeMapEntry(message, field, w->bytes, slot.as_object(), path); !s) return s.error();
      continue;
    }
    if (field.repeated && field.type == FieldType::Int && w->wireType == 2) {  // packed
      WireReader packed(w->bytes);
      json::value& slot = out[field.name];
      if (!slot.is_array()) slot = json::array();
      while (!packed.done()) {
        auto v = packed.varint();
        if (!v) return v.error();
        slot.as_array().push_back(int64_t(*v));
      }
      continue;
    }
    auto value = decodeValue(message, field, *w, depth, path);
    if (!value) return value.error();
    if (field.repeated) {
      json::value& slot = out[field.name];
      if (!slot.is_array()) slot = json::array();
      slot.as_array().push_back(*value ? std::move(**value) : json::value(json::string()));
      continue;
    }
    if (!*value) {
      out.erase(field.name);  // a later zero overrides an earlier value, as protobuf's last-wins does
      continue;
    }
    if (field.inlined) {
      if (!(*value)->is_object()) return WireReader::bad("internal: inlined " + field.name + " is not a message");
      for (auto& [k, v] : (*value)->as_object()) out[k] = std::move(v);
      continue;
    }
    out[field.name] = std::move(**value);
  }
  return json::value(std::move(out));
}

}  // namespace

bool isKubernetesProtobuf(std::string_view body) { return body.size() >= 4 && body.substr(0, 4) == std::string_view("k8s\0", 4); }

Result<json::value> decodeKubernetesProtobuf(std::string_view body) {
  if (!isKubernetesProtobuf(body))
    return WireReader::bad("it does not start with the Kubernetes protobuf prefix \"k8s\\x00\"");
  // runtime.Unknown: typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2, contentEncoding = 3, contentType = 4.
  WireReader envelope(body.substr(4));
  std::string apiVersion, kind, encoding;
  std::string_view raw;
  while (!envelope.done()) {
    auto f = envelope.next();
    if (!f) return f.error();
    if (f->number == 1 && f->wireType == 2) {
      WireReader meta(f->bytes);
      while (!meta.done()) {
        auto m = meta.next();
        if (!m) return m.error();
        if (m->number == 1 && m->wireType == 2) apiVersion = std::string(m->bytes);
        else if (m->number == 2 && m->wireType == 2) kind = std::string(m->bytes);
      }
    } else if (f->number == 2 && f->wireType == 2) {
      raw = f->bytes;
    } else if (f->number == 3 && f->wireType == 2) {
      encoding = std::string(f->bytes);
    }
  }
  if (!encoding.empty()) return WireReader::bad("contentEncoding \"" + encoding + "\" is not supported");
  if (kind.empty()) return WireReader::bad("the envelope names no kind");
  const char* messageName = nullptr;
  for (const auto& [av, k, m] : kProtobufKinds)
    if (apiVersion == av && kind == k) messageName = m;
  if (!messageName)
    return Error{415, "UnsupportedMediaType",
                 "skiff does not decode " + kind + " (" + apiVersion +
                     ") from protobuf; send it as JSON or YAML (kubectl create -f / apply -f)",
                 {}};
  auto object = decodeMessage(protobufSchema().at(messageName), raw, 0, "");
  if (!object) return object.error();
  json::object& o = object->as_object();
  json::object out;
  out["apiVersion"] = apiVersion;
  out["kind"] = kind;
  for (auto& [k, v] : o) out[k] = std::move(v);
  return json::value(std::move(out));
}

}  // namespace skiff::api
