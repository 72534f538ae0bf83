// NodeAgent: the kubelet's job for this machine. Registers the Node (capacity from /proc),
// renews its Lease, and runs the pods bound to it through a Runtime: init containers in order,
// then the containers; restarts by restartPolicy with exponential back-off (CrashLoopBackOff);
// startup, readiness and liveness probes (httpGet, tcpSocket, exec); container statuses, pod
// phase and conditions written back through the API; graceful stop on delete (SIGTERM, grace
// period, SIGKILL) and the final removal of the pod.
//
// Threading: one sync thread walks every pod on the node every 100 ms (and on events); probes
// run on their own short-lived threads and post results back under the agent's mutex.
#pragma once
#include <atomic>
#include <condition_variable>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/node_server.h"
#include "client/event_recorder.h"
#include "client/informer.h"
#include "runtime/runtime.h"

namespace skiff::image { class ImageStore; }
namespace skiff::network { class PodNetwork; }

namespace skiff::agent {

// The node Lease annotation naming the agent that renews it.
inline constexpr const char* kAgentIdAnnotation = "skiff.io/agent-id";

struct AgentOptions {
  std::string nodeName;  // default: the host name
  // The node's InternalIP (also hostIP, and podIP of hostNetwork pods); "" = the address of the
  // default-route interface, else 127.0.0.1.
  std::string nodeIp;
  std::string dataDir;   // pod directories and logs live under DIR/pods/
  bool controlPlane = false;  // the control plane runs on this machine too (labels the Node as such)
  std::string agentId;  // this agent (machine + data dir), written on the node Lease
  // A pod range this node brings itself (--pod-cidr), written into a new Node's spec.podCIDR;
  // "" = the control plane's node IPAM gives one.
  std::string podCidr;
  std::chrono::milliseconds leaseRenewInterval{10000};
  std::chrono::milliseconds restartBackoff{10000};      // first back-off; doubles up to maxRestartBackoff
  std::chrono::milliseconds maxRestartBackoff{300000};
  uint64_t maxLogBytes = 10 * 1024 * 1024;  // a container log is rotated (one old copy kept) past this
  // Isolating runtimes (native, oci): images to run and the pod network. Null with `process`.
  image::ImageStore* images = nullptr;
  network::PodNetwork* network = nullptr;
  std::chrono::milliseconds imagePullBackoff{10000};
  std::string clusterDns;  // the node DNS server pods use (dnsPolicy ClusterFirst); "" = the host's
  std::string clusterDomain = "cluster.local";
  // Service-account tokens for pods (isolating runtimes): issue(ns, serviceAccount, pod, podUid,
  // seconds, audience); null = no tokens. caPem goes into the pods' ca.crt.
  std::function<std::string(const std::string&, const std::string&, const std::string&, const std::string&, int64_t, const std::string&)> issueToken;
  std::string caPem;
  // Local ephemeral storage (limits.ephemeral-storage, emptyDir sizeLimit): how often pods with
  // limits are measured, and how many directory entries one measurement may walk.
  std::chrono::milliseconds storageCheckInterval{5000};
  size_t storageWalkBudget = 200000;
};

class NodeAgent {
 public:
  NodeAgent(client::Client& client, client::Informer& pods, std::unique_ptr<runtime::Runtime> runtime,
            AgentOptions options);
  ~NodeAgent();
  Status start();
  // Stops every container (the process runtime cannot hand them to a later agent) and the loops.
  void stop();
  const std::string& nodeName() const { return options_.nodeName; }
  const std::string& nodeIp() const { return options_.nodeIp; }
  // Where this node's server listens (status.daemonEndpoints.kubeletEndpoint.Port); set before start().
  void publishNodeServer(uint16_t port) { nodeServerPort_ = port; }
  // Creates or refreshes this machine's Node (start() does it when it has not been done), so
  // the node can wait for what the control plane assigns it (its pod range) before running pods.
  Status registerNode();
  // The NetworkUnavailable condition, as network plugins set it: false once this node's pod
  // network (bridge and overlay routes) is up, true with the reason when setting it up failed.
  Status reportNetwork(bool available, const std::string& message);
  // The node DNS server pods with dnsPolicy ClusterFirst use; before start().
  void useClusterDns(const std::string& address) { options_.clusterDns = address; }
  // Log file of a container of a pod on this node; previous = the attempt before the current one.
  Result<std::string> logPath(const std::string& ns, const std::string& pod, const std::string& container, bool previous);
  // Starts a command in a running container of a pod on this node (exec).
  Result<runtime::ExecProcess> startExec(const std::string& ns, const std::string& pod, const std::string& container,
                                         const std::vector<std::string>& command, bool withStdin, bool tty);
  // Where a pod's container port really listens on this host (process runtime: ports may move
  // when taken); 0 when the pod or port is unknown here.
  int hostPort(const std::string& ns, const std::string& pod, int containerPort);
  // A socket connected to localhost:port as the pod sees it (inside its network namespace, or
  // the host's for shared-network pods), for port-forward.
  Result<int> dialPod(const std::string& ns, const std::string& pod, uint16_t port);
  // Whether a container is still running (log follow ends when it stops).
  bool running(const std::string& ns, const std::string& pod, const std::string& container);

  struct ContainerUsage {
    std::string ns, pod, container;
    runtime::CgroupStats stats;
    int64_t memoryLimitBytes = 0;
    double cpuCores = 0;  // rate since the previous sample (at least 1 s before)
  };
  struct PodNetworkUsage {
    std::string ns, pod;
    uint64_t receiveBytes = 0, transmitBytes = 0, receivePackets = 0, transmitPackets = 0;
  };
  // Network counters of pods with their own network namespace (the native and oci runtimes).
  std::vector<PodNetworkUsage> networkUsage();
  // Host CPU cores in use and memory in use (MemTotal - MemAvailable).
  std::pair<double, uint64_t> nodeUsage();
  // Usage of every running container, from its cgroup.
  std::vector<ContainerUsage> usage();
  // Blob digests (manifest, config, layers) of the images this node's containers use.
  std::set<std::string> imagesInUse();

 private:
  struct PodState;
  struct ContainerState;
  void syncLoop();
  void syncPod(PodState& pod, const boost::json::value& object);
  // Image, volumes and network for a container of an isolating runtime; false while not ready.
  bool prepareIsolated(PodState& pod, const std::shared_ptr<ContainerState>& c, const boost::json::value& object,
                       runtime::ContainerSpec& spec);
  void releasePod(PodState& pod);
  void retirePod(std::unique_ptr<PodState> pod);
  void cleanerLoop();
  void saveRecord(ContainerState& c, const runtime::ContainerSpec& spec);
  void adoptContainers(PodState& pod, const boost::json::value& object);
  void removeOrphans();
  void writeResolvConf(PodState& pod, const boost::json::value& object);
  void renewLease();
  void poke();
  void writeStatus(PodState& pod, const boost::json::value& object);
  // Measures the pods with storage limits and evicts those past them (see eviction.h).
  void enforceStorageLimits();
  void evict(PodState& pod, const std::string& message);

  client::Client& client_;
  client::Informer& pods_;
  std::unique_ptr<runtime::Runtime> runtime_;
  AgentOptions options_;
  std::unique_ptr<client::EventRecorder> events_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<PodState>> pods_by_key_;  // "ns/name"
  std::set<int> reservedPorts_;
  struct RateSample {
    uint64_t nanos = 0;
    std::chrono::steady_clock::time_point at{};
    double rate = 0;
  };
  std::map<std::string, RateSample> cpuRates_;  // "ns/pod/container", and "" for the node  // host ports handed to pods that may not be listening yet
  std::thread sync_, lease_, storage_;
  std::mutex retiredMutex_;
  std::condition_variable retiredCv_;
  std::deque<std::unique_ptr<PodState>> retired_;  // pods being cleaned up by cleaner_
  bool cleanerStopping_ = false;
  std::thread cleaner_;
  std::mutex wakeMutex_;
  bool wakePending_ = false;  // guarded by wakeMutex_
  std::condition_variable wake_;
  std::atomic<bool> stopping_{false};
  uint16_t nodeServerPort_ = 0;
  bool registered_ = false;
};

// The node server's view of this agent (logs, exec, usage, its pods); requests stay unset.
NodeView nodeViewOf(NodeAgent& agent, client::Informer& pods);

}  // namespace skiff::agent
