#include "server/control_loops.h"
#include "controller/clusterrole_aggregation_controller.h"
#include "controller/resource_quota_controller.h"

#include "client/event_recorder.h"
#include "auth/bootstrap_token.h"
#include "controller/service_account_controller.h"
#include "controller/bootstrap_signer.h"
#include "controller/cronjob_controller.h"
#include "controller/csr_controller.h"
#include "controller/daemonset_controller.h"
#include "controller/deployment_controller.h"
#include "controller/disruption_controller.h"
#include "controller/endpoints_controller.h"
#include "controller/garbage_collector.h"
#include "controller/job_controller.h"
#include "controller/namespace_controller.h"
#include "common/log.h"
#include "controller/node_lifecycle_controller.h"
#include "controller/pod_gc_controller.h"
#include "controller/volume_binding_controller.h"
#include "controller/replicaset_controller.h"
#include "controller/statefulset_controller.h"
#include "scheduler/scheduler_controller.h"

namespace skiff::server {
namespace {

class Loops final : public ControlLoops {
 public:
  ~Loops() override { stop(); }
  void run() override {
    scheduler_->start();
    replicaSets_->start();
    deployments_->start();
    gc_->start();
    jobs_->start();
    cronJobs_->start();
    daemonSets_->start();
    statefulSets_->start();
    disruption_->start();
    endpoints_->start();
    hpa_->start();
    nodeLifecycle_->start();
    podGc_->start();
    volumes_->start();
    ipam_->start();
    if (csrs_) csrs_->start();
    bootstrapSigner_->start();
    serviceAccounts_->start();
    roleAggregation_->start();
    quotas_->start();
  }
  void stop() override {
    if (scheduler_) scheduler_->stop();
    if (deployments_) deployments_->stop();
    if (replicaSets_) replicaSets_->stop();
    if (gc_) gc_->stop();
    if (jobs_) jobs_->stop();
    if (cronJobs_) cronJobs_->stop();
    if (daemonSets_) daemonSets_->stop();
    if (statefulSets_) statefulSets_->stop();
    if (disruption_) disruption_->stop();
    if (endpoints_) endpoints_->stop();
    if (hpa_) hpa_->stop();
    if (nodeLifecycle_) nodeLifecycle_->stop();
    if (podGc_) podGc_->stop();
    if (volumes_) volumes_->stop();
    if (ipam_) ipam_->stop();
    if (csrs_) csrs_->stop();
    if (bootstrapSigner_) bootstrapSigner_->stop();
    if (serviceAccounts_) serviceAccounts_->stop();
    if (roleAggregation_) roleAggregation_->stop();
    if (quotas_) quotas_->stop();
  }

  std::unique_ptr<client::EventRecorder> schedulerEvents_, rsEvents_, deployEvents_, nodeEvents_, hpaEvents_, stsEvents_, jobEvents_,
      cronEvents_, dsEvents_, disruptionEvents_;
  std::unique_ptr<scheduler::SchedulerController> scheduler_;
  std::unique_ptr<controller::ReplicaSetController> replicaSets_;
  std::unique_ptr<controller::DeploymentController> deployments_;
  std::unique_ptr<controller::GarbageCollector> gc_;
  std::unique_ptr<controller::JobController> jobs_;
  std::unique_ptr<controller::CronJobController> cronJobs_;
  std::unique_ptr<controller::DaemonSetController> daemonSets_;
  std::unique_ptr<controller::StatefulSetController> statefulSets_;
  std::unique_ptr<controller::DisruptionController> disruption_;
  std::unique_ptr<controller::EndpointsController> endpoints_;
  std::unique_ptr<controller::HpaController> hpa_;
  std::unique_ptr<controller::NodeLifecycleController> nodeLifecycle_;
  std::unique_ptr<controller::PodGcController> podGc_;
  std::unique_ptr<client::EventRecorder> podGcEvents_;
  std::unique_ptr<controller::VolumeBindingController> volumes_;
  std::unique_ptr<client::EventRecorder> volumeEvents_;
  std::unique_ptr<controller::NodeIpamController> ipam_;
  std::unique_ptr<controller::CsrController> csrs_;
  std::unique_ptr<controller::BootstrapSigner> bootstrapSigner_;
  std::unique_ptr<controller::ServiceAccountController> serviceAccounts_;
  std::unique_ptr<controller::ClusterRoleAggregationController> roleAggregation_;
  std::unique_ptr<controller::ResourceQuotaController> quotas_;
};

}  // namespace

std::unique_ptr<ControlLoops> ControlLoops::build(client::Client& client, client::InformerSet& informers, const ControlLoopOptions& options) {
  auto l = std::make_unique<Loops>();
  auto informer = [&](const char* apiVersion, const char* kind) -> client::Informer& { return informers.get(apiVersion, kind); };
  auto events = [&](const char* component) { return std::make_unique<client::EventRecorder>(client, component); };
  auto& pods = informer("v1", "Pod");
  auto& nodes = informer("v1", "Node");
  auto& rs = informer("apps/v1", "ReplicaSet");
  auto& deploys = informer("apps/v1", "Deployment");
  auto& jobs = informer("batch/v1", "Job");
  auto& cronJobs = informer("batch/v1", "CronJob");
  auto& daemonSets = informer("apps/v1", "DaemonSet");
  auto& statefulSets = informer("apps/v1", "StatefulSet");
  auto& services = informer("v1", "Service");
  auto& hpas = informer("autoscaling/v2", "HorizontalPodAutoscaler");
  auto& leases = informer("coordination.k8s.io/v1", "Lease");
  l->schedulerEvents_ = events("default-scheduler");
  l->rsEvents_ = events("replicaset-controller");
  l->deployEvents_ = events("deployment-controller");
  l->nodeEvents_ = events("node-controller");
  l->jobEvents_ = events("job-controller");
  l->cronEvents_ = events("cronjob-controller");
  l->dsEvents_ = events("daemonset-controller");
  l->stsEvents_ = events("statefulset-controller");
  l->hpaEvents_ = events("horizontal-pod-autoscaler");
  auto& claims = informer("v1", "PersistentVolumeClaim");
  auto& volumes = informer("v1", "PersistentVolume");
  auto& storageClasses = informer("storage.k8s.io/v1", "StorageClass");
  l->scheduler_ = std::make_unique<scheduler::SchedulerController>(
      client, pods, nodes, 4, l->schedulerEvents_.get(),
      scheduler::VolumeView{[&claims](const std::string& ns, const std::string& n) { return claims.get(ns, n); },
                            [&volumes](const std::string& n) { return volumes.get("", n); },
                            [&storageClasses](const std::string& n) { return storageClasses.get("", n); }});
  l->volumeEvents_ = events("persistentvolume-controller");
  l->volumes_ = std::make_unique<controller::VolumeBindingController>(client, claims, volumes, storageClasses, l->volumeEvents_.get());
  l->replicaSets_ = std::make_unique<controller::ReplicaSetController>(client, rs, pods, l->rsEvents_.get());
  l->deployments_ = std::make_unique<controller::DeploymentController>(client, deploys, rs, l->deployEvents_.get());
  l->jobs_ = std::make_unique<controller::JobController>(client, jobs, pods, l->jobEvents_.get());
  l->cronJobs_ = std::make_unique<controller::CronJobController>(client, cronJobs, jobs, l->cronEvents_.get());
  l->daemonSets_ = std::make_unique<controller::DaemonSetController>(client, daemonSets, pods, nodes, l->dsEvents_.get());
  l->statefulSets_ = std::make_unique<controller::StatefulSetController>(client, statefulSets, pods, l->stsEvents_.get());
  l->disruptionEvents_ = events("controllermanager");
  l->disruption_ = std::make_unique<controller::DisruptionController>(client, informer("policy/v1", "PodDisruptionBudget"), pods, rs, deploys,
                                                                      statefulSets, l->disruptionEvents_.get());
  l->endpoints_ = std::make_unique<controller::EndpointsController>(client, services, pods);
  auto usage = options.usage ? options.usage : [] { return std::map<std::string, controller::PodUsage>(); };
  l->hpa_ = std::make_unique<controller::HpaController>(client, hpas, pods, usage, l->hpaEvents_.get());
  l->gc_ = std::make_unique<controller::GarbageCollector>(
      client, std::vector<client::Informer*>{&deploys, &rs, &pods, &jobs, &cronJobs, &daemonSets, &statefulSets});
  l->nodeLifecycle_ = std::make_unique<controller::NodeLifecycleController>(
      client, nodes, leases, pods, controller::NodeLifecycleOptions{options.nodeGracePeriod}, l->nodeEvents_.get());
  l->podGcEvents_ = events("pod-garbage-collector");
  l->podGc_ = std::make_unique<controller::PodGcController>(client, nodes, pods, controller::PodGcOptions{}, l->podGcEvents_.get());
  auto ipam = controller::NodeIpamController::create(client, nodes, options.ipam, l->nodeEvents_.get());
  if (!ipam) {  // the command line checked the ranges: reaching this is a bug
    log::error("control-loops", "node IPAM: " + ipam.error().message);
    std::abort();
  }
  l->ipam_ = std::move(*ipam);
  auto& tokens = informers.get("v1", "Secret", {"kube-system", {}, *api::FieldSelector::parse(std::string("type=") + auth::kBootstrapTokenType)},
                                "bootstrap-tokens");
  auto& publicConfigMaps = informers.get("v1", "ConfigMap", {auth::kClusterInfoNamespace, {}, {}}, "kube-public");
  l->bootstrapSigner_ = std::make_unique<controller::BootstrapSigner>(client, tokens, publicConfigMaps);
  l->serviceAccounts_ =
      std::make_unique<controller::ServiceAccountController>(client, informer("v1", "Namespace"), informer("v1", "ServiceAccount"));
  l->roleAggregation_ =
      std::make_unique<controller::ClusterRoleAggregationController>(client, informer("rbac.authorization.k8s.io/v1", "ClusterRole"));
  l->quotas_ = std::make_unique<controller::ResourceQuotaController>(
      client, informer("v1", "ResourceQuota"), informer("v1", "Pod"));
  if (options.ca)
    l->csrs_ = std::make_unique<controller::CsrController>(client, informer("certificates.k8s.io/v1", "CertificateSigningRequest"), nodes, pods, *options.ca,
                                                           options.csr);
  return l;
}

}  // namespace skiff::server
