#include "api/schema.h"

#include <boost/json.hpp>
#include <cmath>
#include <sstream>

namespace skiff::api {
namespace json = boost::json;
namespace {

// One line per type: `TypeName field:type field:type ...`. Types: string int bool number intstr
// quantity time any map (string->string), map<T>, []T, []T@mergeKey, or another TypeName.
// A lone `*` marks a type whose unlisted fields are kept as they are.
constexpr const char* kSchema = R"(
ObjectMeta name:string generateName:string namespace:string selfLink:string uid:string resourceVersion:string generation:int creationTimestamp:time deletionTimestamp:time deletionGracePeriodSeconds:int labels:map annotations:map ownerReferences:[]OwnerReference@uid finalizers:[]string managedFields:[]any
OwnerReference apiVersion:string kind:string name:string uid:string controller:bool blockOwnerDeletion:bool
ListMeta selfLink:string resourceVersion:string continue:string remainingItemCount:int
LabelSelector matchLabels:map matchExpressions:[]LabelSelectorRequirement
LabelSelectorRequirement key:string operator:string values:[]string

Namespace apiVersion:string kind:string metadata:ObjectMeta spec:NamespaceSpec status:NamespaceStatus
NamespaceSpec finalizers:[]string
NamespaceStatus phase:string conditions:[]any@type

ConfigMap apiVersion:string kind:string metadata:ObjectMeta data:map binaryData:map immutable:bool
Secret apiVersion:string kind:string metadata:ObjectMeta data:map stringData:map type:string immutable:bool

Pod apiVersion:string kind:string metadata:ObjectMeta spec:PodSpec status:PodStatus
PodTemplateSpec metadata:ObjectMeta spec:PodSpec
PodSpec volumes:[]Volume@name initContainers:[]Container@name containers:[]Container@name ephemeralContainers:[]any@name restartPolicy:string terminationGracePeriodSeconds:int activeDeadlineSeconds:int dnsPolicy:string nodeSelector:map serviceAccountName:string serviceAccount:string automountServiceAccountToken:bool nodeName:string hostNetwork:bool hostPID:bool hostIPC:bool shareProcessNamespace:bool securityContext:any imagePullSecrets:[]any@name hostname:string subdomain:string affinity:any schedulerName:string tolerations:[]any priorityClassName:string priority:int dnsConfig:any readinessGates:[]any runtimeClassName:string enableServiceLinks:bool preemptionPolicy:string overhead:map<quantity> topologySpreadConstraints:[]any@topologyKey hostAliases:[]any@ip os:any setHostnameAsFQDN:bool hostUsers:bool schedulingGates:[]any@name resourceClaims:[]any@name resources:ResourceRequirements
Container name:string image:string command:[]string args:[]string workingDir:string ports:[]ContainerPort@containerPort env:[]EnvVar@name envFrom:[]any resources:ResourceRequirements volumeMounts:[]VolumeMount@mountPath volumeDevices:[]any@devicePath livenessProbe:Probe readinessProbe:Probe startupProbe:Probe lifecycle:any terminationMessagePath:string terminationMessagePolicy:string imagePullPolicy:string securityContext:any stdin:bool stdinOnce:bool tty:bool resizePolicy:[]any restartPolicy:string
ContainerPort name:string hostPort:int containerPort:int protocol:string hostIP:string
EnvVar name:string value:string valueFrom:any
ResourceRequirements limits:map<quantity> requests:map<quantity> claims:[]any@name
VolumeMount name:string readOnly:bool mountPath:string subPath:string mountPropagation:string subPathExpr:string recursiveReadOnly:string
Probe exec:any httpGet:any tcpSocket:any grpc:any initialDelaySeconds:int timeoutSeconds:int periodSeconds:int successThreshold:int failureThreshold:int terminationGracePeriodSeconds:int
Volume name:string *
PodStatus phase:string conditions:[]any@type message:string reason:string hostIP:string hostIPs:[]any podIP:string podIPs:[]any@ip startTime:time initContainerStatuses:[]any containerStatuses:[]any ephemeralContainerStatuses:[]any qosClass:string nominatedNodeName:string resize:string resourceClaimStatuses:[]any observedGeneration:int

Node apiVersion:string kind:string metadata:ObjectMeta spec:NodeSpec status:NodeStatus
NodeSpec podCIDR:string podCIDRs:[]string providerID:string unschedulable:bool taints:[]any configSource:any externalID:string
NodeStatus capacity:map<quantity> allocatable:map<quantity> phase:string conditions:[]any@type addresses:[]any@type daemonEndpoints:any nodeInfo:any images:[]any volumesInUse:[]string volumesAttached:[]any config:any runtimeHandlers:[]any features:any

Service apiVersion:string kind:string metadata:ObjectMeta spec:ServiceSpec status:ServiceStatus
ServiceSpec ports:[]ServicePort@port selector:map clusterIP:string clusterIPs:[]string type:string externalIPs:[]string sessionAffinity:string loadBalancerIP:string loadBalancerSourceRanges:[]string externalName:string externalTrafficPolicy:string healthCheckNodePort:int publishNotReadyAddresses:bool sessionAffinityConfig:any ipFamilies:[]string ipFamilyPolicy:string allocateLoadBalancerNodePorts:bool loadBalancerClass:string internalTrafficPolicy:string trafficDistribution:string
ServicePort name:string protocol:string appProtocol:string port:int targetPort:intstr nodePort:int
ServiceStatus loadBalancer:any conditions:[]any@type

Event apiVersion:string kind:string metadata:ObjectMeta involvedObject:any reason:string message:string source:any firstTimestamp:time lastTimestamp:time count:int type:string eventTime:any series:any action:string related:any reportingComponent:string reportingInstance:string

Endpoints apiVersion:string kind:string metadata:ObjectMeta subsets:[]any
ServiceAccount apiVersion:string kind:string metadata:ObjectMeta secrets:[]any imagePullSecrets:[]any automountServiceAccountToken:bool
PersistentVolumeClaim apiVersion:string kind:string metadata:ObjectMeta spec:PersistentVolumeClaimSpec status:any
PersistentVolumeClaimSpec accessModes:[]string resources:any storageClassName:string volumeMode:string volumeName:string selector:LabelSelector dataSource:any dataSourceRef:any volumeAttributesClassName:string
EndpointSlice apiVersion:string kind:string metadata:ObjectMeta addressType:string endpoints:[]any ports:[]any

HorizontalPodAutoscaler apiVersion:string kind:string metadata:ObjectMeta spec:HorizontalPodAutoscalerSpec status:any
HorizontalPodAutoscalerSpec scaleTargetRef:CrossVersionObjectReference minReplicas:int maxReplicas:int metrics:[]any behavior:any
CrossVersionObjectReference apiVersion:string kind:string name:string

PodDisruptionBudget apiVersion:string kind:string metadata:ObjectMeta spec:PodDisruptionBudgetSpec status:PodDisruptionBudgetStatus
PodDisruptionBudgetSpec minAvailable:intstr selector:LabelSelector maxUnavailable:intstr unhealthyPodEvictionPolicy:string
PodDisruptionBudgetStatus observedGeneration:int disruptedPods:map<time> disruptionsAllowed:int currentHealthy:int desiredHealthy:int expectedPods:int conditions:[]any@type

PriorityClass apiVersion:string kind:string metadata:ObjectMeta value:int globalDefault:bool description:string preemptionPolicy:string

Lease apiVersion:string kind:string metadata:ObjectMeta spec:LeaseSpec
LeaseSpec holderIdentity:string leaseDurationSeconds:int acquireTime:any renewTime:any leaseTransitions:int strategy:string preferredHolder:string

Deployment apiVersion:string kind:string metadata:ObjectMeta spec:DeploymentSpec status:DeploymentStatus
DeploymentSpec replicas:int selector:LabelSelector template:PodTemplateSpec strategy:DeploymentStrategy minReadySeconds:int revisionHistoryLimit:int paused:bool progressDeadlineSeconds:int
DeploymentStrategy type:string rollingUpdate:RollingUpdateDeployment
RollingUpdateDeployment maxUnavailable:intstr maxSurge:intstr
DeploymentStatus observedGeneration:int replicas:int updatedReplicas:int readyReplicas:int availableReplicas:int unavailableReplicas:int terminatingReplicas:int conditions:[]any@type collisionCount:int

ReplicaSet apiVersion:string kind:string metadata:ObjectMeta spec:ReplicaSetSpec status:ReplicaSetStatus
ReplicaSetSpec replicas:int minReadySeconds:int selector:LabelSelector template:PodTemplateSpec
StatefulSet apiVersion:string kind:string metadata:ObjectMeta spec:StatefulSetSpec status:StatefulSetStatus
StatefulSetSpec replicas:int selector:LabelSelector template:PodTemplateSpec volumeClaimTemplates:[]any serviceName:string podManagementPolicy:string updateStrategy:StatefulSetUpdateStrategy revisionHistoryLimit:int minReadySeconds:int persistentVolumeClaimRetentionPolicy:any ordinals:any
StatefulSetUpdateStrategy type:string rollingUpdate:RollingUpdateStatefulSet
RollingUpdateStatefulSet partition:int maxUnavailable:intstr
StatefulSetStatus observedGeneration:int replicas:int readyReplicas:int currentReplicas:int updatedReplicas:int currentRevision:string updateRevision:string collisionCount:int conditions:[]any@type availableReplicas:int

DaemonSet apiVersion:string kind:string metadata:ObjectMeta spec:DaemonSetSpec status:DaemonSetStatus
DaemonSetSpec selector:LabelSelector template:PodTemplateSpec updateStrategy:DaemonSetUpdateStrategy minReadySeconds:int revisionHistoryLimit:int
DaemonSetUpdateStrategy type:string rollingUpdate:RollingUpdateDaemonSet
RollingUpdateDaemonSet maxUnavailable:intstr maxSurge:intstr
DaemonSetStatus currentNumberScheduled:int numberMisscheduled:int desiredNumberScheduled:int numberReady:int observedGeneration:int updatedNumberScheduled:int numberAvailable:int numberUnavailable:int collisionCount:int conditions:[]any@type

Job apiVersion:string kind:string metadata:ObjectMeta spec:JobSpec status:JobStatus
JobTemplateSpec metadata:ObjectMeta spec:JobSpec
JobSpec parallelism:int completions:int activeDeadlineSeconds:int podFailurePolicy:any successPolicy:any backoffLimit:int backoffLimitPerIndex:int maxFailedIndexes:int selector:LabelSelector manualSelector:bool template:PodTemplateSpec ttlSecondsAfterFinished:int completionMode:string suspend:bool podReplacementPolicy:string managedBy:string
JobStatus conditions:[]any@type startTime:time completionTime:time active:int succeeded:int failed:int terminating:int completedIndexes:string failedIndexes:string uncountedTerminatedPods:any ready:int

CronJob apiVersion:string kind:string metadata:ObjectMeta spec:CronJobSpec status:CronJobStatus
CronJobSpec schedule:string timeZone:string startingDeadlineSeconds:int concurrencyPolicy:string suspend:bool jobTemplate:JobTemplateSpec successfulJobsHistoryLimit:int failedJobsHistoryLimit:int
CronJobStatus active:[]any lastScheduleTime:time lastSuccessfulTime:time

GatewayClass apiVersion:string kind:string metadata:ObjectMeta spec:any status:any
Gateway apiVersion:string kind:string metadata:ObjectMeta spec:any status:any
HTTPRoute apiVersion:string kind:string metadata:ObjectMeta spec:any status:any
GRPCRoute apiVersion:string kind:string metadata:ObjectMeta spec:any status:any
TLSRoute apiVersion:string kind:string metadata:ObjectMeta spec:any status:any
TCPRoute apiVersion:string kind:string metadata:ObjectMeta spec:any status:any
UDPRoute apiVersion:string kind:string metadata:ObjectMeta spec:any status:any
ReferenceGrant apiVersion:string kind:string metadata:ObjectMeta spec:any
AuthorizationPolicy apiVersion:string kind:string metadata:ObjectMeta spec:any status:any

ReplicaSetStatus replicas:int fullyLabeledReplicas:int readyReplicas:int availableReplicas:int terminatingReplicas:int observedGeneration:int conditions:[]any@type
)";

struct SchemaTable {
  std::map<std::string, TypeDef, std::less<>> types;
  std::map<std::string, TypeRef, std::less<>> roots;

  TypeRef parseType(std::string_view spec) {
    TypeRef ref;
    std::string mergeKey;
    if (auto at = spec.find('@'); at != std::string_view::npos) {
      mergeKey = std::string(spec.substr(at + 1));
      spec = spec.substr(0, at);
    }
    if (spec.starts_with("[]")) {
      ref.kind = TypeRef::Kind::List;
      ref.element = std::make_shared<TypeRef>(parseType(spec.substr(2)));
      ref.mergeKey = mergeKey;
      return ref;
    }
    if (spec == "map") {
      ref.kind = TypeRef::Kind::Map;
      ref.element = std::make_shared<TypeRef>(TypeRef{TypeRef::Kind::String, nullptr, nullptr, {}});
      return ref;
    }
    if (spec.starts_with("map<")) {
      ref.kind = TypeRef::Kind::Map;
      ref.element = std::make_shared<TypeRef>(parseType(spec.substr(4, spec.size() - 5)));
      return ref;
    }
    static const std::map<std::string_view, TypeRef::Kind> scalars = {
        {"string", TypeRef::Kind::String}, {"int", TypeRef::Kind::Int},
        {"bool", TypeRef::Kind::Bool},     {"number", TypeRef::Kind::Number},
        {"intstr", TypeRef::Kind::IntOrString}, {"quantity", TypeRef::Kind::Quantity},
        {"time", TypeRef::Kind::Time},     {"any", TypeRef::Kind::Any}};
    if (auto it = scalars.find(spec); it != scalars.end()) {
      ref.kind = it->second;
      return ref;
    }
    ref.kind = TypeRef::Kind::Object;
    ref.object = &types[std::string(spec)];  // std::map nodes are stable: forward references work
    return ref;
  }

  SchemaTable() {
    std::istringstream in(kSchema);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream words(line);
      std::string name, field;
      if (!(words >> name)) continue;
      TypeDef& def = types[name];
      def.name = name;
      while (words >> field) {
        if (field == "*") {
          def.openEnded = true;
          continue;
        }
        auto colon = field.find(':');
        def.fields[field.substr(0, colon)] = parseType(std::string_view(field).substr(colon + 1));
      }
      if (def.fields.count("apiVersion") && def.fields.count("metadata"))
        roots[name] = TypeRef{TypeRef::Kind::Object, &def, nullptr, {}};
    }
  }
};

const SchemaTable& table() {
  static const SchemaTable t;
  return t;
}

const char* kindName(TypeRef::Kind k) {
  switch (k) {
    case TypeRef::Kind::String: case TypeRef::Kind::Time: return "string";
    case TypeRef::Kind::Int: return "integer";
    case TypeRef::Kind::Bool: return "boolean";
    case TypeRef::Kind::Number: return "number";
    case TypeRef::Kind::IntOrString: return "integer or string";
    case TypeRef::Kind::Quantity: return "quantity (string or number)";
    case TypeRef::Kind::Map: return "object";
    case TypeRef::Kind::List: return "array";
    case TypeRef::Kind::Object: return "object";
    case TypeRef::Kind::Any: return "any";
  }
  return "?";
}

const char* jsonKindName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "boolean";
    case json::kind::int64: case json::kind::uint64: return "integer";
    case json::kind::double_: return "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
  }
  return "?";
}

struct SchemaChecker {
  FieldValidation mode;
  SchemaReport report;

  void typeError(const std::string& path, const TypeRef& t, const json::value& v) {
    report.typeErrors.push_back({"FieldValueTypeInvalid",
                                 std::string("expected ") + kindName(t.kind) + ", got " + jsonKindName(v),
                                 path});
  }

  void check(const TypeRef& t, json::value& v, const std::string& path) {
    if (v.is_null()) return;  // null means "unset" for every Kubernetes field
    using K = TypeRef::Kind;
    switch (t.kind) {
      case K::Any: return;
      case K::String: case K::Time:
        if (!v.is_string()) typeError(path, t, v);
        return;
      case K::Bool:
        if (!v.is_bool()) typeError(path, t, v);
        return;
      case K::Int:
        if (v.is_double()) {
          double d = v.get_double();
          if (std::floor(d) == d && std::fabs(d) < 9.0e15) v = int64_t(d);
          else typeError(path, t, v);
        } else if (!v.is_int64() && !v.is_uint64()) {
          typeError(path, t, v);
        }
        return;
      case K::Number:
        if (!v.is_number()) typeError(path, t, v);
        return;
      case K::IntOrString:
        if (v.is_double() && std::floor(v.get_double()) == v.get_double()) v = int64_t(v.get_double());
        if (!v.is_string() && !v.is_int64() && !v.is_uint64()) typeError(path, t, v);
        return;
      case K::Quantity:
        if (!v.is_string() && !v.is_number()) typeError(path, t, v);
        return;
      case K::Map:
        if (!v.is_object()) return typeError(path, t, v);
        for (auto& kv : v.get_object()) check(*t.element, kv.value(), path + "." + std::string(kv.key()));
        return;
      case K::List: {
        if (!v.is_array()) return typeError(path, t, v);
        size_t i = 0;
        for (auto& item : v.get_array()) check(*t.element, item, path + "[" + std::to_string(i++) + "]");
        return;
      }
      case K::Object: {
        if (!v.is_object()) return typeError(path, t, v);
        auto& obj = v.get_object();
        std::vector<std::string> drop;
        // null means "unset" for typed fields: drop it, as decoding into Kubernetes' types does.
        std::vector<std::string> nulls;
        for (auto& kv : obj)
          if (kv.value().is_null()) nulls.emplace_back(kv.key());
        for (const auto& k : nulls) obj.erase(k);
        for (auto& kv : obj) {
          std::string child = path.empty() ? std::string(kv.key()) : path + "." + std::string(kv.key());
          if (const TypeRef* f = t.object->field(kv.key())) {
            check(*f, kv.value(), child);
          } else if (!t.object->openEnded) {
            report.unknownFields.push_back(child);
            drop.emplace_back(kv.key());
          }
        }
        if (mode != FieldValidation::Strict)
          for (const auto& k : drop) obj.erase(k);
        return;
      }
    }
  }
};

}  // namespace

const TypeRef* TypeDef::field(std::string_view n) const {
  auto it = fields.find(n);
  return it == fields.end() ? nullptr : &it->second;
}

const TypeRef* schemaForKind(std::string_view kind) {
  const auto& roots = table().roots;
  auto it = roots.find(kind);
  return it == roots.end() ? nullptr : &it->second;
}

SchemaReport checkSchema(const TypeRef& type, json::value& object, FieldValidation mode) {
  SchemaChecker c{mode, {}};
  c.check(type, object, "");
  return std::move(c.report);
}

}  // namespace skiff::api
