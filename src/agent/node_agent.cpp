#include "agent/node_agent.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "agent/eviction.h"
#include "network/host_address.h"
#include "agent/probe.h"
#include "agent/volumes.h"
#include "image/image_store.h"
#include "network/pod_network.h"
#include "api/object.h"
#include "api/quantity.h"
#include "common/base64.h"
#include "common/files.h"
#include "common/log.h"
#include "observe/metrics.h"
#include "controller/workload.h"

namespace skiff::agent {
namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct ProbeState {
  Clock::time_point next{};
  int successes = 0, failures = 0;
  bool running = false;
  std::string lastFailure;
};

struct NodeAgent::ContainerState {
  std::string name;
  bool init = false;
  json::value spec;
  std::unique_ptr<runtime::Container> proc;
  int attempt = 0;       // starts so far
  int restarts = 0;
  std::string startedAt;
  Clock::time_point runningSince{};
  std::optional<runtime::ExitInfo> exit;       // current terminated state
  std::string exitStartedAt;
  std::optional<runtime::ExitInfo> lastExit;  // lastState
  std::string lastStartedAt;
  std::string waitingReason = "ContainerCreating", waitingMessage;
  Clock::time_point nextStart{};
  std::chrono::milliseconds backoff{0};
  Clock::time_point killDeadline{};  // after SIGTERM from a failed liveness probe
  bool killing = false;
  std::string killReason;
  bool ready = false, started = false;
  ProbeState readiness, liveness, startup;
  std::string logDir;
  // Isolating runtimes: the image, pulled (or found) once per container.
  std::optional<image::Image> image;
  std::vector<std::string> layers;
  bool pulling = false;
  int pullFailures = 0;
  Clock::time_point nextPull{};
  std::string pullError;
};

struct NodeAgent::PodState {
  std::string key, ns, name, uid, dir;
  std::vector<std::shared_ptr<ContainerState>> init, containers;
  size_t initIndex = 0;
  bool initFailed = false;
  std::string startTime;
  bool deleting = false;
  std::shared_ptr<std::atomic<bool>> finished = std::make_shared<std::atomic<bool>>(false);
  std::thread terminator;
  std::string lastStatus;
  std::map<int64_t, int> hostPorts;  // containerPort -> port on this host (shared network)
  std::map<std::string, int64_t> portNames;
  // Isolating runtimes: the pod's own network namespace and address, and its volumes.
  std::string podIP = "127.0.0.1";
  std::string hostInterface;  // the host end of the pod's veth (network counters)
  Clock::time_point seenAt = Clock::now();  // for the pod start duration metric
  bool startReported = false;
  std::string netnsPath;
  bool networkReady = false;
  // spec.hostNetwork/hostPID/hostIPC: the node's namespaces instead of the pod's own.
  bool hostNetwork = false, hostPID = false, hostIPC = false;
  StorageLimits storage;        // read from the spec once
  std::string evictionMessage;  // set once the pod is evicted: it stays Failed
  std::optional<std::map<std::string, PreparedVolume>> volumes;
  std::vector<TokenFile> tokenFiles;  // service-account tokens to keep fresh
  TokenSource tokens;
};

namespace {


int64_t intOr(const json::value& o, const char* path, int64_t fallback) { return controller::intAt(o, path, fallback); }

std::string hostName() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  std::string h(buf);
  std::transform(h.begin(), h.end(), h.begin(), ::tolower);
  return h.empty() ? "localhost" : h;
}

bool portFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::string envName(std::string s) {
  for (char& c : s) c = (std::isalnum(static_cast<unsigned char>(c)) ? char(std::toupper(static_cast<unsigned char>(c))) : '_');
  return s;
}

}  // namespace

NodeAgent::NodeAgent(client::Client& client, client::Informer& pods, std::unique_ptr<runtime::Runtime> runtime,
                     AgentOptions options)
    : client_(client), pods_(pods), runtime_(std::move(runtime)), options_(std::move(options)) {
  if (options_.nodeName.empty()) options_.nodeName = hostName();
  if (options_.nodeIp.empty()) options_.nodeIp = network::defaultRouteAddress();
  if (options_.nodeIp.empty()) options_.nodeIp = "127.0.0.1";
  events_ = std::make_unique<client::EventRecorder>(client_, "kubelet", options_.nodeName);
  pods_.addHandler([this](const std::string&, const client::ObjectPtr& pod, const client::ObjectPtr&) {
    if (api::stringAt(*pod, "spec.nodeName") == options_.nodeName) poke();
  });
}

NodeAgent::~NodeAgent() { stop(); }

Status NodeAgent::registerNode() {
  const api::ResourceType& nodeType = *api::findByKind("v1", "Node");
  std::ifstream meminfo("/proc/meminfo");
  std::string label;
  int64_t memKb = 0;
  while (meminfo >> label) {
    if (label == "MemTotal:") {
      meminfo >> memKb;
      break;
    }
  }
  std::string osImage = "Linux";
  std::ifstream osRelease("/etc/os-release");
  for (std::string line; std::getline(osRelease, line);)
    if (line.starts_with("PRETTY_NAME=")) {
      osImage = line.substr(12);
      osImage.erase(std::remove(osImage.begin(), osImage.end(), '"'), osImage.end());
    }
  utsname u{};
  uname(&u);
  std::string now = api::rfc3339Now();
  json::object status{
      {"capacity", json::object{{"cpu", std::to_string(sysconf(_SC_NPROCESSORS_ONLN))}, {"memory", std::to_string(memKb) + "Ki"}, {"pods", "110"}}},
      {"allocatable", json::object{{"cpu", std::to_string(sysconf(_SC_NPROCESSORS_ONLN))}, {"memory", std::to_string(memKb) + "Ki"}, {"pods", "110"}}},
      {"conditions", json::array{json::object{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"},
                                              {"message", "skiff agent is posting ready status"}, {"lastHeartbeatTime", now},
                                              {"lastTransitionTime", now}}}},
      {"addresses", json::array{json::object{{"type", "InternalIP"}, {"address", options_.nodeIp}},
                                json::object{{"type", "Hostname"}, {"address", options_.nodeName}}}},
      {"daemonEndpoints", json::object{{"kubeletEndpoint", json::object{{"Port", nodeServerPort_}}}}},
      {"nodeInfo", json::object{{"kubeletVersion", "v1.32.0-skiff-" SKIFF_VERSION}, {"osImage", osImage},
                                {"kernelVersion", u.release}, {"containerRuntimeVersion", runtime_->name() + "://" SKIFF_VERSION},
                                {"operatingSystem", "linux"}, {"architecture", "amd64"}}}};
  json::object labels{{"kubernetes.io/hostname", options_.nodeName}, {"kubernetes.io/os", "linux"}, {"kubernetes.io/arch", "amd64"}};
  if (options_.controlPlane) labels["node-role.kubernetes.io/control-plane"] = "";
  json::value node = json::object{
      {"metadata", json::object{{"name", options_.nodeName}, {"labels", labels}}},
      {"spec", json::object()},
      {"status", status}};
  if (!options_.podCidr.empty())
    node.as_object()["spec"] = json::object{{"podCIDR", options_.podCidr}, {"podCIDRs", json::array{json::string(options_.podCidr)}}};
  auto created = client_.create(nodeType, "", node);
  if (!created && created.error().reason != "AlreadyExists") return created.error();
  if (!created) {
    auto r = client_.patch(nodeType, "", options_.nodeName, client::PatchType::Merge, json::object{{"status", status}}, "status");
    if (!r) return r.error();
    // A Node without a range takes the one this node brings; one that has a range keeps it.
    if (!options_.podCidr.empty() && api::stringAt(*r, "spec.podCIDR").empty()) {
      json::object spec{{"metadata", json::object{{"resourceVersion", api::stringAt(*r, "metadata.resourceVersion")}}},
                        {"spec", node.as_object()["spec"]}};
      if (auto p = client_.patch(nodeType, "", options_.nodeName, client::PatchType::Merge, spec, ""); !p && p.error().code != 409)
        return p.error();
    }
  }
  registered_ = true;
  return {};
}

Status NodeAgent::reportNetwork(bool available, const std::string& message) {
  std::string now = api::rfc3339Now();
  json::object condition{{"type", "NetworkUnavailable"},
                         {"status", available ? "False" : "True"},
                         {"reason", available ? "SkiffNetworkReady" : "SkiffNetworkFailed"},
                         {"message", message},
                         {"lastHeartbeatTime", now},
                         {"lastTransitionTime", now}};
  auto r = client_.patch(*api::findByKind("v1", "Node"), "", options_.nodeName, client::PatchType::Strategic,
                         json::object{{"status", json::object{{"conditions", json::array{condition}}}}}, "status");
  if (!r) return r.error();
  return {};
}

Status NodeAgent::start() {
  if (!registered_)
    if (Status s = registerNode(); !s) return s;
  std::error_code ec;
  fs::create_directories(options_.dataDir + "/pods", ec);
  if (ec) return Error::unavailable("cannot create " + options_.dataDir + "/pods: " + ec.message());
  removeOrphans();
  renewLease();
  cleaner_ = std::thread([this] { cleanerLoop(); });
  sync_ = std::thread([this] { syncLoop(); });
  lease_ = std::thread([this] {
    auto next = Clock::now() + options_.leaseRenewInterval;
    auto nextSample = Clock::now();
    while (!stopping_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (Clock::now() >= next) {
        renewLease();
        next += options_.leaseRenewInterval;
      }
      // Keep CPU rates fresh so the first `top` after a while already has numbers.
      if (Clock::now() >= nextSample) {
        (void)usage();
        (void)nodeUsage();
        nextSample = Clock::now() + std::chrono::seconds(2);
      }
    }
  });
  storage_ = std::thread([this] {
    auto next = Clock::now() + options_.storageCheckInterval;
    while (!stopping_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (Clock::now() < next) continue;
      try {
        enforceStorageLimits();
      } catch (const std::exception& e) {
        log::error("agent", std::string("measuring pods' local storage: ") + e.what());
      }
      next = Clock::now() + options_.storageCheckInterval;
    }
  });
  log::info("agent", "node " + options_.nodeName + " registered with the " + runtime_->name() + " runtime");
  return {};
}

// Wakes the sync loop; remembered if it is busy, so a change is never left for the next tick.
void NodeAgent::poke() {
  {
    std::lock_guard lock(wakeMutex_);
    wakePending_ = true;
  }
  wake_.notify_one();
}

void NodeAgent::stop() {
  if (stopping_.exchange(true)) return;
  wake_.notify_all();
  if (sync_.joinable()) sync_.join();
  if (lease_.joinable()) lease_.join();
  if (storage_.joinable()) storage_.join();
  std::lock_guard lock(mutex_);
  for (auto& [key, pod] : pods_by_key_) {
    if (pod->terminator.joinable()) pod->terminator.join();
    for (auto* list : {&pod->init, &pod->containers})
      for (auto& c : *list)
        if (c->proc) c->proc->stop(std::chrono::milliseconds(2000));
    releasePod(*pod);
  }
  pods_by_key_.clear();
  {
    std::lock_guard retiredLock(retiredMutex_);
    cleanerStopping_ = true;
  }
  retiredCv_.notify_all();
  if (cleaner_.joinable()) cleaner_.join();  // finishes the pods handed to it first
  if (options_.network) options_.network->shutdown();
}

namespace {

// A container record as saveRecord writes it: "key value" lines.
std::map<std::string, std::string> readRecord(const std::string& path) {
  std::map<std::string, std::string> f;
  std::ifstream in(path);
  for (std::string k, v; in >> k && std::getline(in >> std::ws, v);) f[k] = v;
  return f;
}

runtime::ContainerRecord recordOf(std::map<std::string, std::string>& f) {
  return {f["id"], std::atoi(f["pid"].c_str()), std::strtoull(f["startTicks"].c_str(), nullptr, 10), f["bundle"], f["cgroup"]};
}

}  // namespace

// The record a later agent adopts this container by (see adoptContainers).
void NodeAgent::saveRecord(ContainerState& c, const runtime::ContainerSpec& spec) {
  std::ofstream out(c.logDir + "/record.tmp", std::ios::trunc);
  out << "id " << spec.id << "\npid " << c.proc->pid() << "\nstartTicks " << runtime::processStartTicks(c.proc->pid())
      << "\nbundle " << spec.bundleDir << "\ncgroup " << spec.cgroup << "\nattempt " << c.attempt << "\nrestarts " << c.restarts
      << "\nstartedAt " << c.startedAt << "\nruntime " << runtime_->name() << "\n";
  out.close();
  std::rename((c.logDir + "/record.tmp").c_str(), (c.logDir + "/record").c_str());
}

// After skiff was killed or crashed, the pods' containers may still run: take them over instead of
// starting duplicates. A container that ended meanwhile is reported as ContainerStatusUnknown and
// restarted by the pod's restartPolicy.
void NodeAgent::adoptContainers(PodState& pod, const json::value& obj) {
  std::string policy = api::stringAt(obj, "spec.restartPolicy");
  for (auto* list : {&pod.init, &pod.containers})
    for (auto& c : *list) {
      auto f = readRecord(c->logDir + "/record");
      if (f.empty() || f["runtime"] != runtime_->name()) continue;
      runtime::ContainerRecord record = recordOf(f);
      c->attempt = std::atoi(f["attempt"].c_str());
      c->restarts = std::atoi(f["restarts"].c_str());
      c->startedAt = f["startedAt"];
      c->runningSince = Clock::now();
      if (options_.images) c->image = options_.images->find(api::stringAt(c->spec, "image"));
      auto adopted = runtime_->adopt(record);
      if (!adopted) {
        // It ended while no agent watched: say so, and let restartPolicy decide.
        c->exit = runtime::ExitInfo{true, 137, 0, false, api::rfc3339Now()};
        c->exitStartedAt = c->startedAt;
        c->waitingReason.clear();
        if (policy == "Never") c->nextStart = Clock::time_point::max();
        if (c->init) {
          c->exit->exitCode = 0;  // it ran before; do not run an init container twice
          c->exit->unknown = false;
        }
        continue;
      }
      c->proc = std::move(*adopted);
      c->waitingReason.clear();
      log::info("agent", "adopted running container " + c->name + " of " + pod.key + " (pid " + std::to_string(record.pid) + ")");
    }
  // Init containers that completed before the restart stay completed.
  while (pod.initIndex < pod.init.size() && pod.init[pod.initIndex]->exit && pod.init[pod.initIndex]->exit->exitCode == 0) {
    pod.init[pod.initIndex]->nextStart = Clock::time_point::max();
    ++pod.initIndex;
  }
  bool any = std::any_of(pod.containers.begin(), pod.containers.end(), [](auto& c) { return c->proc || c->exit; });
  if (any && pod.hostNetwork) {
    pod.networkReady = true;
    pod.podIP = options_.nodeIp;
  } else if (any && options_.network) {
    if (auto att = options_.network->setUp(pod.uid)) {
      pod.networkReady = true;
      pod.podIP = att->ip;
      pod.hostInterface = att->hostInterface;
      pod.netnsPath = att->netnsPath;
    }
  }
}

// Pods deleted while no agent ran (skiff was killed): stop their containers and remove what is left.
void NodeAgent::removeOrphans() {
  std::set<std::string> current;
  for (const auto& obj : pods_.listByNode(options_.nodeName))
    current.insert(api::stringAt(*obj, "metadata.namespace") + "_" + api::stringAt(*obj, "metadata.name") + "_" +
                   api::stringAt(*obj, "metadata.uid"));
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator(options_.dataDir + "/pods", ec)) {
    std::string name = dir.path().filename().string();
    if (current.count(name)) continue;
    for (const auto& sub : fs::directory_iterator(dir.path(), ec)) {
      auto f = readRecord((sub.path() / "record").string());
      if (f.empty() || f["runtime"] != runtime_->name()) continue;
      auto adopted = runtime_->adopt(recordOf(f));
      if (adopted) {
        log::info("agent", "stopping container " + f["id"] + " of a pod deleted while skiff was down");
        (*adopted)->stop(std::chrono::milliseconds(0));
      }
      // A container that ended meanwhile may still have its root mounted.
      if (!f["bundle"].empty()) umount2((f["bundle"] + "/rootfs").c_str(), MNT_DETACH);
    }
    if (options_.network) options_.network->tearDown(name.substr(name.rfind('_') + 1));
    unmountSubPaths(dir.path().string());
    fs::remove_all(dir.path(), ec);
  }
}

// resolv.conf by dnsPolicy, as the kubelet writes it: ClusterFirst (the default) points at the
// node's DNS server with the namespace's search path; Default copies the host's; None has only
// what dnsConfig says (which the others get appended).
void NodeAgent::writeResolvConf(PodState& pod, const json::value& obj) {
  std::string policy = api::stringAt(obj, "spec.dnsPolicy");
  if (policy.empty()) policy = "ClusterFirst";
  // As the kubelet: a hostNetwork pod resolves like the node unless it asks for
  // ClusterFirstWithHostNet.
  if (policy == "ClusterFirst" && pod.hostNetwork) policy = "Default";
  if (policy == "ClusterFirstWithHostNet") policy = "ClusterFirst";
  std::vector<std::string> servers, searches, options;
  if (policy == "ClusterFirst" && !options_.clusterDns.empty()) {
    servers.push_back(options_.clusterDns);
    const std::string& d = options_.clusterDomain;
    searches = {pod.ns + ".svc." + d, "svc." + d, d};
    options.push_back("ndots:5");
  } else if (policy != "None") {
    std::ifstream host("/etc/resolv.conf");
    for (std::string line; std::getline(host, line);) {
      std::istringstream words(line);
      std::string key, value;
      words >> key;
      std::vector<std::string>* into = key == "nameserver" ? &servers : key == "search" ? &searches : key == "options" ? &options : nullptr;
      while (into && words >> value) into->push_back(value);
    }
  }
  for (auto& v : api::stringsAt(obj, "spec.dnsConfig.nameservers")) servers.push_back(std::move(v));
  for (auto& v : api::stringsAt(obj, "spec.dnsConfig.searches")) searches.push_back(std::move(v));
  if (const json::value* opts = api::valueAt(obj, "spec.dnsConfig.options"); opts && opts->is_array())
    for (const auto& o : opts->get_array()) {
      std::string name = api::stringAt(o, "name"), value = api::stringAt(o, "value");
      if (!name.empty()) options.push_back(value.empty() ? name : name + ":" + value);
    }
  std::string out;
  for (const auto& s : servers) out += "nameserver " + s + "\n";
  if (!searches.empty()) {
    out += "search";
    for (const auto& s : searches) out += " " + s;
    out += "\n";
  }
  if (!options.empty()) {
    out += "options";
    for (const auto& o : options) out += " " + o;
    out += "\n";
  }
  // Read by the container's user, whoever that is (skiff's own files are 0600).
  if (Status st = writeFileAtomic(pod.dir + "/resolv.conf", out, 0644); !st) log::warn("agent", st.error().message);
}

// Hands a pod that left this node to the cleaner thread: tearing down a veth alone waits for an
// RCU grace period (10-25 ms here), which must not hold up the pods being started meanwhile.
void NodeAgent::retirePod(std::unique_ptr<PodState> pod) {
  if (!options_.network)  // host ports are free again at once (the next pod may want them)
    for (const auto& [cp, hp] : pod->hostPorts) reservedPorts_.erase(hp);
  pod->hostPorts.clear();
  {
    std::lock_guard lock(retiredMutex_);
    retired_.push_back(std::move(pod));
  }
  retiredCv_.notify_one();
}

void NodeAgent::cleanerLoop() {
  while (true) {
    std::unique_ptr<PodState> pod;
    {
      std::unique_lock lock(retiredMutex_);
      retiredCv_.wait(lock, [&] { return !retired_.empty() || cleanerStopping_; });
      if (retired_.empty()) return;
      pod = std::move(retired_.front());
      retired_.pop_front();
    }
    if (pod->terminator.joinable()) pod->terminator.join();
    releasePod(*pod);
  }
}

// Stops what is left of a pod and removes everything the agent made for it.
void NodeAgent::releasePod(PodState& pod) {
  for (auto* list : {&pod.init, &pod.containers})
    for (auto& c : *list)
      if (c->proc) {
        c->proc->stop(std::chrono::milliseconds(0));
        c->proc.reset();  // the runtime's clean-up (mounts, container directory) runs here
      }
  if (options_.network && pod.networkReady && !pod.hostNetwork) options_.network->tearDown(pod.uid);
  pod.networkReady = false;
  unmountSubPaths(pod.dir);
  std::error_code ec;
  fs::remove_all(pod.dir, ec);
  // Pods retired to the cleaner gave their ports back already (hostPorts is empty then); on stop
  // this runs under mutex_.
  if (!options_.network)
    for (const auto& [cp, hp] : pod.hostPorts) reservedPorts_.erase(hp);
}

void NodeAgent::renewLease() {
  const api::ResourceType& leaseType = *api::findByKind("coordination.k8s.io/v1", "Lease");
  std::string now = api::rfc3339Now();
  // Lease duration as kubelet: four renewals. The agent id tells two agents claiming one node
  // name apart (server/agent.cpp refuses the second).
  int64_t duration = std::max<int64_t>(1, (options_.leaseRenewInterval.count() * 4 + 999) / 1000);
  json::object metadata{{"name", options_.nodeName}};
  if (!options_.agentId.empty()) metadata["annotations"] = json::object{{kAgentIdAnnotation, options_.agentId}};
  json::object spec{{"holderIdentity", options_.nodeName}, {"leaseDurationSeconds", duration}, {"renewTime", now}};
  auto r = client_.patch(leaseType, "kube-node-lease", options_.nodeName, client::PatchType::Merge,
                         json::object{{"metadata", metadata}, {"spec", spec}}, "");
  if (!r && r.error().code == 404)
    r = client_.create(leaseType, "kube-node-lease", json::object{{"metadata", metadata}, {"spec", spec}});
  if (!r && r.error().reason != "AlreadyExists") log::warn("agent", "renewing the node lease: " + r.error().message);
}

void NodeAgent::syncLoop() {
  while (!stopping_) {
    {
      std::unique_lock lock(wakeMutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(100), [&] { return wakePending_ || stopping_.load(); });
      wakePending_ = false;
    }
    if (stopping_) return;
    auto pods = pods_.listByNode(options_.nodeName);
    std::lock_guard lock(mutex_);
    std::set<std::string> seen;
    for (const auto& obj : pods) {
      std::string key = client::keyOf(*obj);
      std::string uid = api::stringAt(*obj, "metadata.uid");
      auto it = pods_by_key_.find(key);
      if (it != pods_by_key_.end() && it->second->uid != uid) {
        // Same name, new pod: the old one is gone.
        retirePod(std::move(it->second));
        pods_by_key_.erase(it);
        it = pods_by_key_.end();
      }
      if (it == pods_by_key_.end()) {
        auto state = std::make_unique<PodState>();
        state->key = key;
        state->ns = api::stringAt(*obj, "metadata.namespace");
        state->name = api::stringAt(*obj, "metadata.name");
        state->uid = uid;
        state->dir = options_.dataDir + "/pods/" + state->ns + "_" + state->name + "_" + uid;
        state->startTime = api::rfc3339Now();
        auto flag = [&](const char* path) {
          const json::value* v = api::valueAt(*obj, path);
          return v && v->is_bool() && v->get_bool();
        };
        state->hostNetwork = flag("spec.hostNetwork");
        state->hostPID = flag("spec.hostPID");
        state->hostIPC = flag("spec.hostIPC");
        state->storage = storageLimitsOf(*obj);
        auto add = [&](const char* list, bool init, std::vector<std::shared_ptr<ContainerState>>& out) {
          if (const json::value* cs = api::valueAt(*obj, list); cs && cs->is_array())
            for (const auto& c : cs->get_array()) {
              auto cst = std::make_shared<ContainerState>();
              cst->name = api::stringAt(c, "name");
              cst->init = init;
              cst->spec = c;
              cst->logDir = state->dir + "/" + cst->name;
              out.push_back(cst);
              if (const json::value* ports = api::valueAt(c, "ports"); ports && ports->is_array())
                for (const auto& p : ports->get_array()) {
                  int64_t cp = intOr(p, "containerPort", 0);
                  if (cp <= 0 || state->hostPorts.count(cp)) continue;
                  if (std::string pn = api::stringAt(p, "name"); !pn.empty()) state->portNames[pn] = cp;
                  if (options_.network) {  // own network namespace: ports are the pod's as declared
                    state->hostPorts[cp] = int(cp);
                    continue;
                  }
                  // Shared host network: keep the declared port when free, else pick one. Ports
                  // handed to other pods count as taken even before they listen.
                  int hp = (!reservedPorts_.count(int(cp)) && portFree(int(cp))) ? int(cp) : 0;
                  while (hp == 0 || reservedPorts_.count(hp)) hp = freePort();
                  reservedPorts_.insert(hp);
                  state->hostPorts[cp] = hp;
                }
            }
        };
        add("spec.initContainers", true, state->init);
        add("spec.containers", false, state->containers);
        std::error_code ec;
        for (auto* list : {&state->init, &state->containers})
          for (auto& c : *list) fs::create_directories(c->logDir, ec);
        adoptContainers(*state, *obj);
        it = pods_by_key_.emplace(key, std::move(state)).first;
      }
      seen.insert(key);
      try {
        syncPod(*it->second, *obj);
      } catch (const std::exception& e) {
        log::error("agent", "syncing pod " + key + ": " + e.what());
      }
    }
    // Pods that left this node (deleted for good, or never ours): stop what is left of them.
    for (auto it = pods_by_key_.begin(); it != pods_by_key_.end();) {
      if (seen.count(it->first) || !(it->second->finished->load() || !it->second->deleting)) {
        ++it;
        continue;
      }
      retirePod(std::move(it->second));
      it = pods_by_key_.erase(it);
    }
  }
}

void NodeAgent::syncPod(PodState& pod, const json::value& obj) {
  const api::ResourceType& podType = *api::findByKind("v1", "Pod");
  // Service-account tokens are re-issued once 80% of their life has passed, as the kubelet does.
  for (auto& f : pod.tokenFiles)
    if (Clock::now() - f.issued > std::chrono::seconds(f.seconds * 8 / 10))
      if (Status s = writeToken(f, pod.tokens); !s) log::warn("agent", "refreshing a token of " + pod.ns + "/" + pod.name + ": " + s.error().message);
  if (api::valueAt(obj, "metadata.deletionTimestamp")) {
    if (pod.deleting) return;
    pod.deleting = true;
    int64_t grace = intOr(obj, "metadata.deletionGracePeriodSeconds", intOr(obj, "spec.terminationGracePeriodSeconds", 30));
    std::vector<std::shared_ptr<ContainerState>> all(pod.init);
    all.insert(all.end(), pod.containers.begin(), pod.containers.end());
    std::vector<std::unique_ptr<runtime::Container>> procs;
    for (auto& c : all)
      if (c->proc) procs.push_back(std::move(c->proc));
    auto finished = pod.finished;
    std::string ns = pod.ns, name = pod.name, uid = pod.uid;
    for (auto& c : all)
      if (c->proc) events_->normal(obj, "Killing", "Stopping container " + c->name);
    pod.terminator = std::thread([this, procs = std::move(procs), grace, finished, ns, name, uid]() mutable {
      // SIGTERM to every container at once, SIGKILL to whatever is left after the grace period.
      for (auto& p : procs) p->kill(SIGTERM);
      for (auto& p : procs) p->stop(std::chrono::milliseconds(grace * 1000));
      client::DeleteOptions now;
      now.gracePeriodSeconds = 0;
      now.preconditionUid = uid;
      auto r = client_.remove(*api::findByKind("v1", "Pod"), ns, name, now);
      if (!r && r.error().code != 404 && r.error().code != 409) log::warn("agent", "removing pod " + ns + "/" + name + ": " + r.error().message);
      finished->store(true);
    });
    return;
  }
  std::string phase = api::stringAt(obj, "status.phase");
  std::string policy = api::stringAt(obj, "spec.restartPolicy");
  if (policy.empty()) policy = "Always";
  auto now = Clock::now();

  auto envFor = [&](const json::value& c) {
    std::vector<std::pair<std::string, std::string>> env{
        {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
        {"HOSTNAME", pod.name},
        {"POD_NAME", pod.name},
        {"POD_NAMESPACE", pod.ns}};
    bool first = true;
    for (const auto& [cp, hp] : pod.hostPorts) {
      if (first) env.emplace_back("PORT", std::to_string(hp));
      first = false;
      env.emplace_back("PORT_" + std::to_string(cp), std::to_string(hp));
    }
    for (const auto& [n, cp] : pod.portNames) env.emplace_back("PORT_" + envName(n), std::to_string(pod.hostPorts[cp]));
    // Kubernetes' service links: every Service of the namespace that existed when the container
    // started, as <NAME>_SERVICE_HOST/_PORT and the Docker-link variables (enableServiceLinks).
    const json::value* links = api::valueAt(obj, "spec.enableServiceLinks");
    if (!links || !links->is_bool() || links->get_bool())
      if (auto services = client_.list(*api::findByKind("v1", "Service"), pod.ns, {}); services) {
        // Every pod also learns where the API is (KUBERNETES_SERVICE_HOST), whatever its namespace.
        if (pod.ns != "default")
          if (auto api = client_.get(*api::findByKind("v1", "Service"), "default", "kubernetes")) services->items.push_back(*api);
        for (const auto& svc : services->items) {
          std::string ip = api::stringAt(svc, "spec.clusterIP");
          const json::value* ports = api::valueAt(svc, "spec.ports");
          if (ip.empty() || ip == "None" || !ports || !ports->is_array() || ports->get_array().empty()) continue;
          std::string prefix = envName(api::stringAt(svc, "metadata.name"));
          bool firstPort = true;
          for (const auto& p : ports->get_array()) {
            std::string port = std::to_string(intOr(p, "port", 0));
            std::string proto = api::stringAt(p, "protocol").empty() ? "tcp" : api::stringAt(p, "protocol");
            for (char& ch : proto) ch = char(std::tolower(static_cast<unsigned char>(ch)));
            std::string upperProto = envName(proto);
            if (firstPort) {
              env.emplace_back(prefix + "_SERVICE_HOST", ip);
              env.emplace_back(prefix + "_SERVICE_PORT", port);
              env.emplace_back(prefix + "_PORT", proto + "://" + ip + ":" + port);
              firstPort = false;
            }
            if (std::string name = api::stringAt(p, "name"); !name.empty()) env.emplace_back(prefix + "_SERVICE_PORT_" + envName(name), port);
            std::string link = prefix + "_PORT_" + port + "_" + upperProto;
            env.emplace_back(link, proto + "://" + ip + ":" + port);
            env.emplace_back(link + "_PROTO", proto);
            env.emplace_back(link + "_PORT", port);
            env.emplace_back(link + "_ADDR", ip);
          }
        }
      }
    auto lookup = [&](const char* kind, const std::string& name, const std::string& key, bool secret) -> std::optional<std::string> {
      auto obj2 = client_.get(*api::findByKind("v1", kind), pod.ns, name);
      if (!obj2) return std::nullopt;
      const json::value* data = api::valueAt(*obj2, "data");
      const json::value* v = data && data->is_object() ? data->get_object().if_contains(key) : nullptr;
      if (!v || !v->is_string()) return std::nullopt;
      if (!secret) return std::string(v->get_string());
      return base64Decode(v->get_string());
    };
    if (const json::value* from = api::valueAt(c, "envFrom"); from && from->is_array())
      for (const auto& f : from->get_array()) {
        std::string prefix = api::stringAt(f, "prefix");
        for (const auto& [field, kind, secret] : {std::tuple{"configMapRef.name", "ConfigMap", false}, std::tuple{"secretRef.name", "Secret", true}}) {
          std::string name = api::stringAt(f, field);
          if (name.empty()) continue;
          auto o = client_.get(*api::findByKind("v1", kind), pod.ns, name);
          if (!o) continue;
          if (const json::value* data = api::valueAt(*o, "data"); data && data->is_object())
            for (const auto& kv : data->get_object())
              if (kv.value().is_string()) {
                std::string v(kv.value().get_string());
                if (secret) v = base64Decode(v).value_or("");
                env.emplace_back(prefix + std::string(kv.key()), v);
              }
        }
      }
    if (const json::value* e = api::valueAt(c, "env"); e && e->is_array())
      for (const auto& item : e->get_array()) {
        std::string n = api::stringAt(item, "name");
        if (const json::value* v = api::valueAt(item, "value"); v && v->is_string()) {
          env.emplace_back(n, std::string(v->get_string()));
        } else if (const json::value* ref = api::valueAt(item, "valueFrom.configMapKeyRef")) {
          if (auto v2 = lookup("ConfigMap", api::stringAt(*ref, "name"), api::stringAt(*ref, "key"), false)) env.emplace_back(n, *v2);
        } else if (const json::value* sref = api::valueAt(item, "valueFrom.secretKeyRef")) {
          if (auto v2 = lookup("Secret", api::stringAt(*sref, "name"), api::stringAt(*sref, "key"), true)) env.emplace_back(n, *v2);
        } else if (const json::value* fref = api::valueAt(item, "valueFrom.fieldRef")) {
          std::string path = api::stringAt(*fref, "fieldPath");
          if (path == "status.podIP") env.emplace_back(n, pod.podIP);
          else if (path == "status.hostIP") env.emplace_back(n, options_.nodeIp);
          else if (path == "spec.nodeName") env.emplace_back(n, options_.nodeName);
          else env.emplace_back(n, api::stringAt(obj, path));
        } else {
          env.emplace_back(n, "");
        }
      }
    return env;
  };

  // Drives one container: starts it when due, notices its exit, schedules restarts.
  auto drive = [&](const std::shared_ptr<ContainerState>& cptr, bool mayRestart) {
    ContainerState& c = *cptr;
    if (c.proc && c.attempt > 0) {
      // Size-based rotation: copy to .1 and truncate; the container appends, so it carries on.
      std::string path = c.logDir + "/" + std::to_string(c.attempt - 1) + ".log";
      std::error_code ec;
      if (fs::file_size(path, ec) > options_.maxLogBytes && !ec) {
        fs::copy_file(path, path + ".1", fs::copy_options::overwrite_existing, ec);
        if (!ec) fs::resize_file(path, 0, ec);
      }
    }
    if (c.proc) {
      if (c.killing && now >= c.killDeadline) c.proc->kill(SIGKILL);
      auto e = c.proc->poll();
      if (!e) return;
      c.exit = e;
      c.exitStartedAt = c.startedAt;
      c.proc.reset();
      c.ready = false;
      c.killing = false;
      if (!c.killReason.empty()) {
        c.waitingMessage = c.killReason;
        c.killReason.clear();
      }
      bool failed = e->exitCode != 0;
      bool restart = mayRestart && (policy == "Always" || (policy == "OnFailure" && failed) || (c.init && failed && policy != "Never"));
      if (c.init && !failed) restart = false;
      if (restart && c.attempt > 1)
        events_->warning(obj, "BackOff", "Back-off restarting failed container " + c.name + " in pod " + pod.name + "_" + pod.ns + "(" + pod.uid + ")");
      if (restart) {
        // Back-off doubles with each crash, and resets after ten minutes of running well.
        bool ranLong = now - c.runningSince > std::chrono::minutes(10);
        c.backoff = (c.backoff.count() == 0 || ranLong) ? options_.restartBackoff
                                                        : std::min(c.backoff * 2, options_.maxRestartBackoff);
        c.nextStart = now + c.backoff;
        c.waitingReason = "CrashLoopBackOff";
        c.waitingMessage = "back-off " + std::to_string(c.backoff.count() / 1000) + "s restarting failed container=" + c.name +
                           " pod=" + pod.name + "_" + pod.ns + "(" + pod.uid + ")";
      } else {
        c.nextStart = Clock::time_point::max();
      }
      return;
    }
    if (c.nextStart == Clock::time_point::max() || now < c.nextStart) return;
    runtime::ContainerSpec spec;
    spec.id = pod.uid + "-" + c.name + "-" + std::to_string(c.attempt);
    spec.image = api::stringAt(c.spec, "image");
    for (const char* part : {"command", "args"})
      for (auto& s : api::stringsAt(c.spec, part)) spec.command.push_back(std::move(s));
    spec.env = envFor(c.spec);
    spec.workingDir = api::stringAt(c.spec, "workingDir");
    spec.logPath = c.logDir + "/" + std::to_string(c.attempt) + ".log";
    spec.cgroup = pod.uid + "_" + c.name + "_" + std::to_string(c.attempt);
    if (const json::value* lim = api::valueAt(c.spec, "resources.limits"); lim && lim->is_object()) {
      spec.limits.memoryBytes = api::quantityMilli(lim->get_object().if_contains("memory")) / 1000;
      spec.limits.cpuMillis = api::quantityMilli(lim->get_object().if_contains("cpu"));
    }
    if (options_.images && !prepareIsolated(pod, cptr, obj, spec)) return;
    auto startBegan = Clock::now();
    auto started = runtime_->start(spec);
    static observe::Family<observe::Histogram> startSeconds("skiff_runtime_container_start_duration_seconds",
                                                            "Time for the runtime to start a container (to exec).", {"runtime"});
    startSeconds.with({runtime_->name()}).observe(std::chrono::duration<double>(Clock::now() - startBegan).count());
    if (!started) {
      // The kubelet's words: config problems, then create-time, then start-time failures.
      c.waitingReason = spec.command.empty()                                     ? "CreateContainerConfigError"
                        : started.error().message.starts_with("unable to find") ? "CreateContainerError"
                                                                                 : "RunContainerError";
      c.waitingMessage = started.error().message;
      events_->warning(obj, "Failed", "Error: " + started.error().message);
      c.backoff = c.backoff.count() == 0 ? options_.restartBackoff : std::min(c.backoff * 2, options_.maxRestartBackoff);
      c.nextStart = now + c.backoff;
      return;
    }
    if (c.attempt > 0) {
      ++c.restarts;
      c.lastExit = c.exit;
      c.lastStartedAt = c.exitStartedAt;
    }
    ++c.attempt;
    c.exit.reset();
    c.proc = std::move(*started);
    c.startedAt = api::rfc3339Now();
    c.runningSince = now;
    saveRecord(c, spec);
    events_->normal(obj, "Started", "Started container " + c.name);
    static observe::Family<observe::Counter> starts("skiff_agent_container_starts_total", "Containers started by the node agent.",
                                                    {"runtime"});
    starts.with({runtime_->name()}).inc();
    c.waitingReason.clear();
    c.waitingMessage.clear();
    c.ready = false;
    c.started = false;
    c.readiness = c.liveness = c.startup = ProbeState{};
  };

  // Probes: startup first; then readiness decides Ready and liveness restarts on failure.
  auto probe = [&](const std::shared_ptr<ContainerState>& cp, const char* kind, ProbeState ContainerState::*slot) {
    ContainerState& c = *cp;
    const json::value* p = api::valueAt(c.spec, kind);
    if (!p || !c.proc) return;
    ProbeState& st = c.*slot;
    if (st.running) return;
    if (st.next == Clock::time_point{}) st.next = c.runningSince + std::chrono::seconds(intOr(*p, "initialDelaySeconds", 0));
    if (now < st.next) return;
    st.running = true;
    st.next = now + std::chrono::seconds(std::max<int64_t>(1, intOr(*p, "periodSeconds", 10)));
    auto timeout = std::chrono::milliseconds(1000 * std::max<int64_t>(1, intOr(*p, "timeoutSeconds", 1)));
    json::value probeSpec = *p;
    int port = 0;
    for (const char* action : {"httpGet.port", "tcpSocket.port"})
      if (const json::value* pv = api::valueAt(probeSpec, action)) {
        int64_t cpn = pv->is_int64() ? pv->get_int64() : pod.portNames.count(std::string(pv->get_string())) ? pod.portNames[std::string(pv->get_string())] : 0;
        port = pod.hostPorts.count(cpn) ? pod.hostPorts[cpn] : int(cpn);
      }
    std::string podIP = pod.podIP;
    std::thread([this, cp, slot, probeSpec, port, timeout, podIP] {
      std::string detail;
      bool ok = false;
      if (api::valueAt(probeSpec, "httpGet")) {
        std::string host = api::stringAt(probeSpec, "httpGet.host");
        ok = httpProbe(host.empty() ? podIP : host, port, api::stringAt(probeSpec, "httpGet.path"), timeout, &detail);
      } else if (api::valueAt(probeSpec, "tcpSocket")) {
        ok = tcpProbe(podIP, port, timeout, &detail);
      } else if (api::valueAt(probeSpec, "exec.command")) {
        std::vector<std::string> argv = api::stringsAt(probeSpec, "exec.command");
        std::unique_lock lock(mutex_);
        runtime::Container* proc = cp->proc.get();
        lock.unlock();
        if (proc) {
          auto r = runtime_->exec(*proc, argv, timeout);
          ok = !r.timedOut && r.exitCode == 0;
          detail = r.timedOut ? "command timed out" : r.output.substr(0, 200);
        }
      }
      std::lock_guard lock(mutex_);
      ProbeState& st = (*cp).*slot;
      st.running = false;
      if (ok) {
        ++st.successes;
        st.failures = 0;
      } else {
        ++st.failures;
        st.successes = 0;
        st.lastFailure = detail;
      }
      poke();
    }).detach();
  };

  auto applyProbeResults = [&](ContainerState& c) {
    if (!c.proc) return;
    auto threshold = [&](const char* kind, const char* field, int64_t d) {
      const json::value* p = api::valueAt(c.spec, kind);
      return p ? intOr(*p, field, d) : d;
    };
    bool hasStartup = api::valueAt(c.spec, "startupProbe") != nullptr;
    if (!c.started) {
      if (!hasStartup || c.startup.successes >= 1) c.started = true;
      else if (c.startup.failures >= threshold("startupProbe", "failureThreshold", 3) && !c.killing) {
        c.killReason = "Startup probe failed: " + c.startup.lastFailure;
        events_->warning(obj, "Unhealthy", c.killReason);
        c.killing = true;
        c.killDeadline = now + std::chrono::seconds(intOr(obj, "spec.terminationGracePeriodSeconds", 30));
        c.proc->kill(SIGTERM);
      }
    }
    if (!c.started) return;
    if (!api::valueAt(c.spec, "readinessProbe")) c.ready = true;
    else if (c.readiness.successes >= threshold("readinessProbe", "successThreshold", 1)) c.ready = true;
    else if (c.readiness.failures >= threshold("readinessProbe", "failureThreshold", 3)) {
      if (c.ready || c.readiness.failures == threshold("readinessProbe", "failureThreshold", 3))
        events_->warning(obj, "Unhealthy", "Readiness probe failed: " + c.readiness.lastFailure);
      c.ready = false;
    }
    if (api::valueAt(c.spec, "livenessProbe") && c.liveness.failures >= threshold("livenessProbe", "failureThreshold", 3) && !c.killing) {
      c.killReason = "Liveness probe failed: " + c.liveness.lastFailure;
      events_->warning(obj, "Unhealthy", c.killReason);
      events_->normal(obj, "Killing", "Container " + c.name + " failed liveness probe, will be restarted");
      c.killing = true;
      c.ready = false;
      c.killDeadline = now + std::chrono::seconds(intOr(obj, "spec.terminationGracePeriodSeconds", 30));
      c.proc->kill(SIGTERM);
      log::info("agent", "container " + c.name + " in " + pod.key + " failed liveness, restarting");
    }
  };

  bool finishedPhase = phase == "Succeeded" || phase == "Failed";
  if (!finishedPhase) {
    // Init containers one at a time, each to completion.
    while (pod.initIndex < pod.init.size() && !pod.initFailed) {
      ContainerState& c = *pod.init[pod.initIndex];
      drive(pod.init[pod.initIndex], true);
      if (c.exit && c.exit->exitCode == 0 && !c.proc) {
        ++pod.initIndex;
        continue;
      }
      if (c.exit && !c.proc && c.nextStart == Clock::time_point::max()) pod.initFailed = true;
      break;
    }
    if (pod.initIndex == pod.init.size() && !pod.initFailed)
      for (auto& c : pod.containers) {
        drive(c, true);
        if (!c->started || api::valueAt(c->spec, "startupProbe")) probe(c, "startupProbe", &ContainerState::startup);
        if (c->started) {
          probe(c, "readinessProbe", &ContainerState::readiness);
          probe(c, "livenessProbe", &ContainerState::liveness);
        }
        applyProbeResults(*c);
      }
  }
  writeStatus(pod, obj);
  (void)podType;
}

namespace {

// Registry credentials from the pod's imagePullSecrets (kubernetes.io/dockerconfigjson).
std::map<std::string, image::RegistryAuth> pullSecrets(client::Client& client, const json::value& pod) {
  std::map<std::string, image::RegistryAuth> out;
  const json::value* refs = api::valueAt(pod, "spec.imagePullSecrets");
  if (!refs || !refs->is_array()) return out;
  for (const auto& r : refs->get_array()) {
    auto secret = client.get(*api::findByKind("v1", "Secret"), api::stringAt(pod, "metadata.namespace"), api::stringAt(r, "name"));
    if (!secret) continue;
    auto text = base64Decode(api::stringAt(*secret, "data..dockerconfigjson"));
    if (!text) continue;
    boost::system::error_code ec;
    json::value cfg = json::parse(*text, ec);
    const json::value* auths = ec ? nullptr : api::valueAt(cfg, "auths");
    if (!auths || !auths->is_object()) continue;
    for (const auto& kv : auths->get_object()) {
      std::string host(kv.key());
      if (auto p = host.find("://"); p != std::string::npos) host = host.substr(p + 3);
      host = host.substr(0, host.find('/'));
      if (host == "index.docker.io" || host == "registry-1.docker.io") host = "docker.io";
      image::RegistryAuth a{api::stringAt(kv.value(), "username"), api::stringAt(kv.value(), "password")};
      if (auto up = base64Decode(api::stringAt(kv.value(), "auth")); up && up->find(':') != std::string::npos) {
        a.username = up->substr(0, up->find(':'));
        a.password = up->substr(up->find(':') + 1);
      }
      out[host] = a;
    }
  }
  return out;
}


}  // namespace

bool NodeAgent::prepareIsolated(PodState& pod, const std::shared_ptr<ContainerState>& cptr, const json::value& obj,
                                runtime::ContainerSpec& spec) {
  ContainerState& c = *cptr;
  auto now = Clock::now();
  // The image: present, or pulled on a thread of its own (the sync loop must not wait on a client).
  if (!c.image) {
    if (c.pulling) return false;
    std::string ref = api::stringAt(c.spec, "image");
    if (now < c.nextPull) {
      c.waitingReason = "ImagePullBackOff";
      c.waitingMessage = "Back-off pulling image \"" + ref + "\": " + c.pullError;
      return false;
    }
    std::string policy = api::stringAt(c.spec, "imagePullPolicy");
    auto parsed = image::parseReference(ref);
    if (!parsed) {
      c.waitingReason = "InvalidImageName";
      c.waitingMessage = parsed.error().message;
      return false;
    }
    if (policy.empty()) policy = (parsed->tag == "latest" && parsed->digest.empty()) ? "Always" : "IfNotPresent";
    auto local = options_.images->find(ref);
    if (local && policy != "Always") {
      auto layers = options_.images->layerDirs(*local);
      if (!layers) {
        c.waitingReason = "CreateContainerError";
        c.waitingMessage = layers.error().message;
        c.pullError = layers.error().message;  // shown while backing off, too
        c.nextPull = now + options_.imagePullBackoff;
        return false;
      }
      c.image = *local;
      c.layers = *layers;
    } else if (policy == "Never") {
      c.waitingReason = "ErrImageNeverPull";
      c.waitingMessage = "Container image \"" + ref + "\" is not present with pull policy of Never";
      return false;
    } else {
      c.pulling = true;
      c.waitingReason = "ContainerCreating";
      c.waitingMessage.clear();
      events_->normal(obj, "Pulling", "Pulling image \"" + ref + "\"");
      auto auth = pullSecrets(client_, obj);
      json::value podCopy = obj;
      std::thread([this, cptr, ref, auth, podCopy] {
        auto began = Clock::now();
        auto pulled = options_.images->pull(ref, auth);
        Result<std::vector<std::string>> layers = pulled ? options_.images->layerDirs(*pulled) : Result<std::vector<std::string>>(pulled.error());
        static observe::Family<observe::Histogram> pullSeconds("skiff_image_pull_duration_seconds", "Time to pull and unpack an image.", {"result"});
        double secs = std::chrono::duration<double>(Clock::now() - began).count();
        pullSeconds.with({layers ? "success" : "failure"}).observe(secs);
        std::lock_guard lock(mutex_);
        ContainerState& st = *cptr;
        st.pulling = false;
        if (layers) {
          st.image = *pulled;
          st.layers = *layers;
          st.pullFailures = 0;
          char took[64];
          std::snprintf(took, sizeof took, "%.3fs", secs);
          events_->normal(podCopy, "Pulled", "Successfully pulled image \"" + ref + "\" in " + took);
        } else {
          st.pullError = layers.error().message;
          st.waitingReason = "ErrImagePull";
          st.waitingMessage = layers.error().message;
          auto backoff = std::min(options_.imagePullBackoff * (1 << std::min(st.pullFailures, 5)), std::chrono::milliseconds(300000));
          ++st.pullFailures;
          st.nextPull = Clock::now() + backoff;
          events_->warning(podCopy, "Failed", "Failed to pull image \"" + ref + "\": " + st.pullError);
        }
        poke();
      }).detach();
      return false;
    }
  }
  // The pod's network namespace, once for all its containers; hostNetwork pods have the node's.
  if (!pod.networkReady && pod.hostNetwork) {
    pod.networkReady = true;
    pod.podIP = options_.nodeIp;
    // The kubelet gives them the node's /etc/hosts and host name.
    std::ifstream hostsIn("/etc/hosts");
    std::string hosts((std::istreambuf_iterator<char>(hostsIn)), std::istreambuf_iterator<char>());
    for (auto [file, text] : {std::pair{"/hosts", hosts}, {"/hostname", hostName() + "\n"}})
      if (Status st = writeFileAtomic(pod.dir + file, text, 0644); !st) log::warn("agent", st.error().message);
    writeResolvConf(pod, obj);
  } else if (!pod.networkReady) {
    auto netBegan = Clock::now();
    auto att = options_.network->setUp(pod.uid);
    static observe::Family<observe::Histogram> netSeconds("skiff_agent_pod_network_setup_duration_seconds",
                                                          "Time to create a pod's network namespace, veth and address.", {});
    netSeconds.with({}).observe(std::chrono::duration<double>(Clock::now() - netBegan).count());
    if (!att) {
      c.waitingReason = "ContainerCreating";
      c.waitingMessage = "Failed to create pod sandbox: " + att.error().message;
      events_->warning(obj, "FailedCreatePodSandBox", c.waitingMessage);
      return false;
    }
    pod.networkReady = true;
    pod.podIP = att->ip;
    pod.hostInterface = att->hostInterface;
    pod.netnsPath = att->netnsPath;
    // /etc/hosts and /etc/hostname as the kubelet writes them.
    std::string hostname = api::stringAt(obj, "spec.hostname").empty() ? pod.name : api::stringAt(obj, "spec.hostname");
    for (auto [file, text] : {std::pair{"/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" + pod.podIP + "\t" + hostname + "\n"},
                              {"/hostname", hostname + "\n"}})
      if (Status st = writeFileAtomic(pod.dir + file, text, 0644); !st) log::warn("agent", st.error().message);
    writeResolvConf(pod, obj);
  }
  if (!pod.volumes) {
    if (options_.issueToken && !pod.tokens.issue) {
      std::string sa = api::stringAt(obj, "spec.serviceAccountName");
      if (sa.empty()) sa = "default";
      pod.tokens.issue = [issue = options_.issueToken, ns = pod.ns, sa, name = pod.name, uid = pod.uid](int64_t seconds, const std::string& audience) {
        return issue(ns, sa, name, uid, seconds, audience);
      };
      pod.tokens.caPem = options_.caPem;
    }
    pod.tokenFiles.clear();
    auto vols = prepareVolumes(obj, pod.dir, options_.dataDir + "/volumes", client_, options_.issueToken ? &pod.tokens : nullptr, &pod.tokenFiles);
    if (!vols) {
      c.waitingReason = "ContainerCreating";
      c.waitingMessage = "MountVolume.SetUp failed: " + vols.error().message;
      events_->warning(obj, "FailedMount", c.waitingMessage);
      c.nextStart = now + std::chrono::seconds(2);
      return false;
    }
    pod.volumes = std::move(*vols);
  }
  auto mounts = mountsFor(c.spec, *pod.volumes, subPathDirOf(pod.dir, c.name));
  if (!mounts) {
    c.waitingReason = "CreateContainerConfigError";
    c.waitingMessage = mounts.error().message;
    return false;
  }
  // Kubernetes' rules: command replaces the entrypoint, args replace the image's cmd.
  const image::ImageConfig& cfg = c.image->config;
  auto command = api::stringsAt(c.spec, "command");
  auto args = api::stringsAt(c.spec, "args");
  spec.command.clear();
  if (!command.empty()) {
    spec.command = command;
    spec.command.insert(spec.command.end(), args.begin(), args.end());
  } else {
    spec.command = cfg.entrypoint;
    const auto& tail = args.empty() ? cfg.cmd : args;
    spec.command.insert(spec.command.end(), tail.begin(), tail.end());
  }
  // Environment: the image's, then the pod's (later names win; execve would see the first).
  std::vector<std::pair<std::string, std::string>> env;
  auto put = [&](const std::string& k, const std::string& v) {
    for (auto& kv : env)
      if (kv.first == k) {
        kv.second = v;
        return;
      }
    env.emplace_back(k, v);
  };
  for (const auto& e : cfg.env) put(e.substr(0, e.find('=')), e.find('=') == std::string::npos ? "" : e.substr(e.find('=') + 1));
  for (const auto& [k, v] : spec.env)
    if (!(k == "PATH" && std::any_of(cfg.env.begin(), cfg.env.end(), [](const std::string& e) { return e.starts_with("PATH="); }))) put(k, v);
  spec.env = env;
  if (spec.workingDir.empty()) spec.workingDir = cfg.workingDir;
  spec.rootfsLayers = c.layers;
  spec.bundleDir = pod.dir + "/c/" + c.name + "." + std::to_string(c.attempt);
  spec.netnsPath = pod.netnsPath;
  spec.hostNetwork = pod.hostNetwork;
  spec.hostPID = pod.hostPID;
  spec.hostIPC = pod.hostIPC;
  spec.hostname = api::stringAt(obj, "spec.hostname").empty() ? pod.name : api::stringAt(obj, "spec.hostname");
  spec.mounts = *mounts;
  spec.mounts.push_back({pod.dir + "/hosts", "/etc/hosts", false, false, ""});
  spec.mounts.push_back({pod.dir + "/hostname", "/etc/hostname", false, false, ""});
  spec.mounts.push_back({pod.dir + "/resolv.conf", "/etc/resolv.conf", false, false, ""});
  // Security context: the container's fields over the pod's.
  auto sc = [&](const char* field) -> const json::value* {
    if (const json::value* v = api::valueAt(c.spec, std::string("securityContext.") + field)) return v;
    return api::valueAt(obj, std::string("spec.securityContext.") + field);
  };
  spec.security.user = cfg.user;
  if (const json::value* u = sc("runAsUser"); u && u->is_int64()) spec.security.user = std::to_string(u->get_int64());
  if (const json::value* g = sc("runAsGroup"); g && g->is_int64()) spec.security.runAsGroup = g->get_int64();
  if (const json::value* nr = sc("runAsNonRoot"); nr && nr->is_bool() && nr->get_bool()) {
    std::string u = spec.security.user.substr(0, spec.security.user.find(':'));
    if (u.empty() || u == "0" || u == "root") {
      c.waitingReason = "CreateContainerConfigError";
      c.waitingMessage = "container has runAsNonRoot and image will run as root";
      return false;
    }
  }
  if (const json::value* fs = api::valueAt(obj, "spec.securityContext.supplementalGroups"); fs && fs->is_array())
    for (const auto& g : fs->get_array())
      if (g.is_int64()) spec.security.supplementalGroups.push_back(g.get_int64());
  // The kubelet adds fsGroup to every container's groups: that is how it reaches its volumes.
  if (int64_t fsGroup = intOr(obj, "spec.securityContext.fsGroup", -1); fsGroup >= 0) spec.security.supplementalGroups.push_back(fsGroup);
  if (const json::value* p = api::valueAt(c.spec, "securityContext.privileged"); p && p->is_bool()) spec.security.privileged = p->get_bool();
  if (const json::value* ro = api::valueAt(c.spec, "securityContext.readOnlyRootFilesystem"); ro && ro->is_bool())
    spec.security.readOnlyRootFilesystem = ro->get_bool();
  if (const json::value* ape = api::valueAt(c.spec, "securityContext.allowPrivilegeEscalation"); ape && ape->is_bool())
    spec.security.noNewPrivileges = !ape->get_bool();
  spec.security.capAdd = api::stringsAt(c.spec, "securityContext.capabilities.add");
  spec.security.capDrop = api::stringsAt(c.spec, "securityContext.capabilities.drop");
  return true;
}

void NodeAgent::writeStatus(PodState& pod, const json::value& obj) {
  // "registry/repository@sha256:..." as containerd reports it; the process runtime has no images.
  auto imageIdOf = [&](const ContainerState& c) {
    if (!c.image) return runtime_->name() + "://" + api::stringAt(c.spec, "image");
    auto ref = image::parseReference(c.image->name);
    return (ref ? ref->registry + "/" + ref->repository : c.image->name) + "@" + c.image->manifestDigest;
  };
  std::string policy = api::stringAt(obj, "spec.restartPolicy");
  if (policy.empty()) policy = "Always";
  auto statusOf = [&](const ContainerState& c) {
    json::object s{{"name", c.name}, {"image", api::stringAt(c.spec, "image")},
                   {"imageID", imageIdOf(c)},
                   {"ready", c.ready && c.proc != nullptr}, {"restartCount", c.restarts}, {"started", c.proc != nullptr && c.started}};
    if (c.proc) {
      s["containerID"] = runtime_->name() + "://" + std::to_string(c.proc->pid());
      s["state"] = json::object{{"running", json::object{{"startedAt", c.startedAt}}}};
    } else if (c.exit && (c.nextStart == Clock::time_point::max() || c.waitingReason.empty())) {
      json::object t{{"exitCode", c.exit->exitCode},
                     {"reason", c.exit->unknown ? "ContainerStatusUnknown" : c.exit->oomKilled ? "OOMKilled" : c.exit->exitCode == 0 ? "Completed" : "Error"},
                     {"startedAt", c.exitStartedAt}, {"finishedAt", c.exit->finishedAt}};
      if (c.exit->signal) t["signal"] = c.exit->signal;
      if (!c.waitingMessage.empty()) t["message"] = c.waitingMessage;
      s["state"] = json::object{{"terminated", t}};
    } else {
      json::object w{{"reason", c.waitingReason.empty() ? "ContainerCreating" : c.waitingReason}};
      if (!c.waitingMessage.empty()) w["message"] = c.waitingMessage;
      s["state"] = json::object{{"waiting", w}};
    }
    const std::optional<runtime::ExitInfo>& last = c.proc ? c.lastExit : (c.exit && !c.waitingReason.empty() ? c.exit : c.lastExit);
    if (last)
      s["lastState"] = json::object{{"terminated", json::object{{"exitCode", last->exitCode},
                                                               {"reason", last->oomKilled ? "OOMKilled" : last->exitCode == 0 ? "Completed" : "Error"},
                                                               {"startedAt", c.proc ? c.lastStartedAt : c.exitStartedAt},
                                                               {"finishedAt", last->finishedAt}}}};
    else
      s["lastState"] = json::object();
    return s;
  };
  json::array initStatuses, statuses;
  for (auto& c : pod.init) initStatuses.push_back(statusOf(*c));
  int running = 0, succeeded = 0, failed = 0, waiting = 0, ready = 0;
  for (auto& c : pod.containers) {
    statuses.push_back(statusOf(*c));
    if (c->proc) {
      ++running;
      if (c->ready) ++ready;
    } else if (c->exit && c->nextStart == Clock::time_point::max()) {
      (c->exit->exitCode == 0 ? succeeded : failed)++;
    } else {
      ++waiting;
    }
  }
  bool initialized = pod.initIndex == pod.init.size() && !pod.initFailed;
  std::string phase;
  size_t total = pod.containers.size();
  if (pod.initFailed) phase = "Failed";
  else if (!initialized) phase = "Pending";
  else if (running > 0) phase = "Running";
  else if (succeeded + failed == int(total) && total > 0) phase = failed ? "Failed" : "Succeeded";
  else if (waiting > 0 && std::all_of(pod.containers.begin(), pod.containers.end(), [](auto& c) { return c->attempt == 0; })) phase = "Pending";
  else phase = "Running";  // restarting
  std::string old = api::stringAt(obj, "status.phase");
  if (!pod.evictionMessage.empty()) phase = "Failed";
  if (old == "Succeeded" || old == "Failed") phase = old;  // terminal phases stay
  if (phase == "Running" && !pod.startReported) {
    pod.startReported = true;
    static observe::Family<observe::Histogram> podStart("skiff_agent_pod_start_duration_seconds",
                                                        "From the agent seeing a pod to its containers running (kubelet_pod_start_duration_seconds).", {});
    podStart.with({}).observe(std::chrono::duration<double>(Clock::now() - pod.seenAt).count());
  }
  bool allReady = initialized && total > 0 && ready == int(total);
  auto cond = [&](const char* type, bool status, const char* reason = nullptr) {
    json::object c{{"type", type}, {"status", status ? "True" : "False"}, {"lastProbeTime", nullptr}};
    if (reason && !status) c["reason"] = reason;
    return c;
  };
  json::array conditions{cond("PodReadyToStartContainers", true), cond("Initialized", initialized, "ContainersNotInitialized"),
                         cond("Ready", allReady, "ContainersNotReady"), cond("ContainersReady", allReady, "ContainersNotReady"),
                         cond("PodScheduled", true)};
  if (!pod.evictionMessage.empty())  // as the kubelet marks the pods it evicts
    conditions.push_back(json::object{{"type", "DisruptionTarget"}, {"status", "True"}, {"lastProbeTime", nullptr},
                                      {"reason", "TerminationByKubelet"}, {"message", pod.evictionMessage}});
  json::object status{{"phase", phase}, {"conditions", conditions}, {"hostIP", options_.nodeIp}, {"podIP", pod.podIP},
                      {"podIPs", json::array{json::object{{"ip", pod.podIP}}}}, {"startTime", pod.startTime},
                      {"containerStatuses", statuses}};
  if (!pod.init.empty()) status["initContainerStatuses"] = initStatuses;
  if (!pod.evictionMessage.empty()) {
    status["reason"] = "Evicted";
    status["message"] = pod.evictionMessage;
  }
  std::string text = json::serialize(status);
  if (text == pod.lastStatus) return;
  // lastTransitionTime only moves when a condition's status changes.
  json::value prior = api::valueAt(obj, "status.conditions") ? *api::valueAt(obj, "status.conditions") : json::value(json::array());
  for (auto& c : conditions) {
    std::string ts = api::rfc3339Now();
    if (prior.is_array())
      for (const auto& p : prior.get_array())
        if (api::stringAt(p, "type") == api::stringAt(c, "type") && api::stringAt(p, "status") == api::stringAt(c, "status") &&
            !api::stringAt(p, "lastTransitionTime").empty())
          ts = api::stringAt(p, "lastTransitionTime");
    c.get_object()["lastTransitionTime"] = ts;
  }
  status["conditions"] = conditions;
  auto r = client_.patch(*api::findByKind("v1", "Pod"), pod.ns, pod.name, client::PatchType::Merge,
                           json::object{{"status", status}}, "status");
  if (r) pod.lastStatus = text;
  else if (r.error().code != 404) log::warn("agent", "writing status of " + pod.key + ": " + r.error().message);
}

void NodeAgent::enforceStorageLimits() {
  // What to measure, taken under the lock; the walks run without it.
  struct Job {
    std::string key, uid;
    StorageLimits limits;
    std::map<std::string, std::vector<std::string>> containerPaths;  // writable layer, logs
    std::map<std::string, std::string> emptyDirs;
  };
  std::vector<Job> jobs;
  {
    std::lock_guard lock(mutex_);
    for (auto& [key, pod] : pods_by_key_) {
      if (!pod->storage.any() || pod->deleting || !pod->evictionMessage.empty()) continue;
      Job job{key, pod->uid, pod->storage, {}, {}};
      for (auto* list : {&pod->init, &pod->containers})
        for (auto& c : *list) {
          auto& paths = job.containerPaths[c->name];
          paths.push_back(c->logDir);
          if (c->proc && c->attempt > 0) paths.push_back(pod->dir + "/c/" + c->name + "." + std::to_string(c->attempt - 1) + "/upper");
        }
      for (const auto& d : pod->storage.emptyDirs) job.emptyDirs[d.name] = pod->dir + "/volumes/" + d.name;
      jobs.push_back(std::move(job));
    }
  }
  for (const auto& job : jobs) {
    StorageUsage usage;
    for (const auto& [name, paths] : job.containerPaths)
      for (const auto& path : paths) usage.containers[name] += diskUsage(path, options_.storageWalkBudget);
    for (const auto& [name, path] : job.emptyDirs) usage.emptyDirs[name] = diskUsage(path, options_.storageWalkBudget);
    auto message = evictionMessage(job.limits, usage);
    if (!message) continue;
    std::lock_guard lock(mutex_);
    auto it = pods_by_key_.find(job.key);
    if (it != pods_by_key_.end() && it->second->uid == job.uid && !it->second->deleting && it->second->evictionMessage.empty())
      evict(*it->second, *message);
  }
}

// The kubelet's eviction: every container killed at once (no grace for local storage), the pod
// Failed with reason Evicted, never restarted. Runs under mutex_.
void NodeAgent::evict(PodState& pod, const std::string& message) {
  log::info("agent", "evicting " + pod.key + ": " + message);
  pod.evictionMessage = message;
  auto obj = pods_.get(pod.ns, pod.name);
  if (obj) events_->warning(*obj, "Evicted", message);
  for (auto* list : {&pod.init, &pod.containers})
    for (auto& c : *list) {
      c->nextStart = Clock::time_point::max();
      c->killing = false;
      if (!c->proc) continue;
      if (obj) events_->normal(*obj, "Killing", "Stopping container " + c->name);
      c->exit = c->proc->stop(std::chrono::milliseconds(0));
      c->exitStartedAt = c->startedAt;
      c->proc.reset();  // the runtime removes the writable layer with it
      c->ready = false;
      c->waitingReason.clear();
    }
  poke();
}

Result<std::string> NodeAgent::logPath(const std::string& ns, const std::string& pod, const std::string& container, bool previous) {
  std::lock_guard lock(mutex_);
  auto it = pods_by_key_.find(ns + "/" + pod);
  if (it == pods_by_key_.end()) return Error::notFound("pod \"" + pod + "\" has no containers on node " + options_.nodeName + " yet");
  std::vector<std::shared_ptr<ContainerState>> all(it->second->init);
  all.insert(all.end(), it->second->containers.begin(), it->second->containers.end());
  std::string names;
  for (auto& c : all) {
    names += (names.empty() ? "" : " ") + c->name;
    if (!container.empty() && c->name != container) continue;
    if (container.empty() && all.size() > 1)
      return Error::badRequest("a container name must be specified for pod " + pod + ", choose one of: [" + names + "]");
    int attempt = c->attempt - (previous ? 2 : 1);
    if (attempt < 0)
      return Error::badRequest(previous ? "previous terminated container \"" + c->name + "\" in pod \"" + pod + "\" not found"
                                        : "container \"" + c->name + "\" in pod \"" + pod + "\" is waiting to start");
    return c->logDir + "/" + std::to_string(attempt) + ".log";
  }
  return Error::badRequest("container " + container + " is not valid for pod " + pod);
}

std::vector<NodeAgent::ContainerUsage> NodeAgent::usage() {
  std::vector<ContainerUsage> out;
  std::lock_guard lock(mutex_);
  for (auto& [key, pod] : pods_by_key_)
    for (auto& c : pod->containers)
      if (c->proc)
        if (auto st = c->proc->stats()) {
          const json::value* lim = api::valueAt(c->spec, "resources.limits.memory");
          out.push_back({pod->ns, pod->name, c->name, *st, api::quantityMilli(lim) / 1000, 0});
        }
  auto now = Clock::now();
  for (auto& u : out) {
    RateSample& r = cpuRates_[u.ns + "/" + u.pod + "/" + u.container];
    double elapsed = std::chrono::duration<double>(now - r.at).count();
    if (r.at == Clock::time_point{} || u.stats.cpuUsageNanos < r.nanos) {
      r = {u.stats.cpuUsageNanos, now, 0};
    } else if (elapsed >= 1.0) {
      r.rate = double(u.stats.cpuUsageNanos - r.nanos) / 1e9 / elapsed;
      r.nanos = u.stats.cpuUsageNanos;
      r.at = now;
    }
    u.cpuCores = r.rate;
  }
  return out;
}

std::vector<NodeAgent::PodNetworkUsage> NodeAgent::networkUsage() {
  std::vector<PodNetworkUsage> out;
  std::lock_guard lock(mutex_);
  auto counter = [](const std::string& iface, const char* name) {
    std::ifstream f("/sys/class/net/" + iface + "/statistics/" + name);
    uint64_t v = 0;
    f >> v;
    return v;
  };
  for (auto& [key, pod] : pods_by_key_) {
    if (pod->hostInterface.empty()) continue;
    // The host end's receive is the pod's transmit, and the other way round.
    out.push_back({pod->ns, pod->name, counter(pod->hostInterface, "tx_bytes"), counter(pod->hostInterface, "rx_bytes"),
                   counter(pod->hostInterface, "tx_packets"), counter(pod->hostInterface, "rx_packets")});
  }
  return out;
}

std::pair<double, uint64_t> NodeAgent::nodeUsage() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  uint64_t busyNanos = (user + nice + system + irq + softirq + steal) * (1000000000ULL / uint64_t(sysconf(_SC_CLK_TCK)));
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t value = 0, total = 0, available = 0;
  std::string unit;
  while (meminfo >> key >> value >> unit) {
    if (key == "MemTotal:") total = value * 1024;
    if (key == "MemAvailable:") available = value * 1024;
  }
  std::lock_guard lock(mutex_);
  RateSample& r = cpuRates_[""];
  auto now = Clock::now();
  double elapsed = std::chrono::duration<double>(now - r.at).count();
  if (r.at == Clock::time_point{}) r = {busyNanos, now, 0};
  else if (elapsed >= 1.0) r = {busyNanos, now, double(busyNanos - r.nanos) / 1e9 / elapsed};
  return {r.rate, total > available ? total - available : 0};
}

Result<runtime::ExecProcess> NodeAgent::startExec(const std::string& ns, const std::string& pod, const std::string& container,
                                                  const std::vector<std::string>& command, bool withStdin, bool tty) {
  std::lock_guard lock(mutex_);
  auto it = pods_by_key_.find(ns + "/" + pod);
  if (it == pods_by_key_.end()) return Error::notFound("pod \"" + pod + "\" has no containers on node " + options_.nodeName);
  std::string names;
  for (auto& c : it->second->containers) names += (names.empty() ? "" : " ") + c->name;
  for (auto& c : it->second->containers) {
    if (!container.empty() && c->name != container) continue;
    if (!c->proc) return Error::badRequest("container " + c->name + " is not running");
    return runtime_->startExec(*c->proc, command, withStdin, tty ? runtime::ExecStdio::kTerminal : runtime::ExecStdio::kSeparate);
  }
  if (container.empty()) return Error::badRequest("pod " + pod + " has no containers");
  return Error::badRequest("container " + container + " is not valid for pod " + pod + " (choose one of: " + names + ")");
}

std::set<std::string> NodeAgent::imagesInUse() {
  std::set<std::string> out;
  std::lock_guard lock(mutex_);
  for (auto& [key, pod] : pods_by_key_)
    for (auto* list : {&pod->init, &pod->containers})
      for (auto& c : *list)
        if (c->image) {
          out.insert(c->image->manifestDigest);
          out.insert(c->image->configDigest);
          out.insert(c->image->layers.begin(), c->image->layers.end());
        }
  return out;
}

bool NodeAgent::running(const std::string& ns, const std::string& pod, const std::string& container) {
  std::lock_guard lock(mutex_);
  auto it = pods_by_key_.find(ns + "/" + pod);
  if (it == pods_by_key_.end()) return false;
  for (auto* list : {&it->second->init, &it->second->containers})
    for (auto& c : *list)
      if ((container.empty() || c->name == container) && c->proc) return true;
  return false;
}

int NodeAgent::hostPort(const std::string& ns, const std::string& pod, int containerPort) {
  std::lock_guard lock(mutex_);
  auto it = pods_by_key_.find(ns + "/" + pod);
  if (it == pods_by_key_.end()) return 0;
  auto p = it->second->hostPorts.find(containerPort);
  return p == it->second->hostPorts.end() ? 0 : p->second;
}

namespace {
// Connects to 127.0.0.1:port from the calling thread's network namespace, within 5 s.
Result<int> connectLocal(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Error::internal(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (r < 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    r = ::poll(&p, 1, 5000) == 1 ? 0 : -1;
    int err = r == 0 ? 0 : ETIMEDOUT;
    socklen_t len = sizeof err;
    if (r == 0) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
      errno = err;
      r = -1;
    }
  }
  if (r < 0) {
    std::string why = std::strerror(errno);
    if (!why.empty()) why[0] = char(std::tolower(static_cast<unsigned char>(why[0])));  // as Go words it: "connection refused"
    ::close(fd);
    return Error::unavailable("dial tcp4 127.0.0.1:" + std::to_string(port) + ": connect: " + why);
  }
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}
}  // namespace

Result<int> NodeAgent::dialPod(const std::string& ns, const std::string& pod, uint16_t port) {
  std::string netns;
  int target = port;
  {
    std::lock_guard lock(mutex_);
    auto it = pods_by_key_.find(ns + "/" + pod);
    if (it == pods_by_key_.end()) return Error::notFound("pod " + ns + "/" + pod + " does not run on this node");
    const PodState& p = *it->second;
    if (!p.hostNetwork) netns = p.netnsPath;
    if (netns.empty())
      if (auto hp = p.hostPorts.find(port); hp != p.hostPorts.end() && hp->second > 0) target = hp->second;
  }
  if (netns.empty()) return connectLocal(uint16_t(target));
  // setns changes only the calling thread: a short-lived thread enters the pod's namespace, and
  // the socket it makes stays in it.
  Result<int> out = Error::internal("not dialled");
  std::thread([&] {
    int nsFd = ::open(netns.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsFd < 0) {
      out = Error::unavailable("cannot open the pod's network namespace " + netns + ": " + std::strerror(errno));
      return;
    }
    if (::setns(nsFd, CLONE_NEWNET) != 0) {
      out = Error::unavailable(std::string("cannot enter the pod's network namespace: ") + std::strerror(errno));
      ::close(nsFd);
      return;
    }
    ::close(nsFd);
    out = connectLocal(port);
  }).join();
  return out;
}

NodeView nodeViewOf(NodeAgent& agent, client::Informer& pods) {
  NodeView view;
  NodeAgent* a = &agent;
  view.logPath = [a](const std::string& ns, const std::string& pod, const std::string& c, bool previous) { return a->logPath(ns, pod, c, previous); };
  view.running = [a](const std::string& ns, const std::string& pod, const std::string& c) { return a->running(ns, pod, c); };
  view.dialPod = [a](const std::string& ns, const std::string& pod, uint16_t port) { return a->dialPod(ns, pod, port); };
  view.startExec = [a](const std::string& ns, const std::string& pod, const std::string& c, const std::vector<std::string>& command,
                       bool withStdin, bool tty) { return a->startExec(ns, pod, c, command, withStdin, tty); };
  view.containers = [a] {
    std::vector<ContainerSample> out;
    for (auto& u : a->usage())
      out.push_back({u.ns, u.pod, u.container, u.cpuCores, u.stats.cpuUsageNanos, u.stats.memoryWorkingSetBytes, u.stats.memoryUsageBytes,
                     u.memoryLimitBytes, u.stats.ioReadBytes, u.stats.ioWriteBytes});
    return out;
  };
  view.networks = [a] {
    std::vector<PodNetworkSample> out;
    for (auto& n : a->networkUsage()) out.push_back({n.ns, n.pod, n.receiveBytes, n.transmitBytes, n.receivePackets, n.transmitPackets});
    return out;
  };
  view.node = [a] {
    auto [cores, memory] = a->nodeUsage();
    return NodeUsageSample{cores, memory};
  };
  view.pods = [a, &pods] { return pods.listByNode(a->nodeName()); };
  return view;
}

}  // namespace skiff::agent
