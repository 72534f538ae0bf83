#include "agent/node_server.h"

#include "agent/port_forward.h"
#include "observe/metrics.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "api/object.h"
#include "apiserver/apiserver.h"
#include "common/log.h"
#include "http/websocket.h"

namespace skiff::agent {
namespace json = boost::json;

namespace {

http::Response errorResponse(const Error& e) { return {e.code, "application/json", {}, apiserver::statusBody(e)}; }
http::Response jsonResponse(const json::value& v) { return {200, "application/json", {}, json::serialize(v)}; }

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

bool sameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// A non-negative whole number from the query, or an error naming the parameter.
Result<std::optional<int64_t>> wholeNumber(const http::Request& req, const char* name) {
  std::string v = req.queryValue(name);
  if (v.empty()) return std::optional<int64_t>();
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (*end || errno == ERANGE || n < 0) return Error::badRequest(std::string(name) + " \"" + v + "\" must be a whole number, 0 or more");
  return std::optional<int64_t>(n);
}

std::string seconds(uint64_t nanos) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9f", double(nanos) / 1e9);
  return buf;
}

std::string promLabels(const std::vector<std::pair<const char*, std::string>>& labels) {
  std::string out = "{";
  for (const auto& [k, v] : labels) {
    if (out.size() > 1) out += ",";
    out += std::string(k) + "=\"";
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += "\"";
  }
  return out + "}";
}

}  // namespace

std::string lastLines(const std::string& data, long n) {
  if (n <= 0) return "";
  size_t pos = data.size();
  if (pos && data.back() == '\n') --pos;
  while (pos > 0) {
    size_t nl = data.rfind('\n', pos - 1);
    if (nl == std::string::npos) return data;
    if (--n == 0) return data.substr(nl + 1);
    pos = nl;
  }
  return data;
}

NodeServer::NodeServer(NodeView view, NodeServerOptions options) : view_(std::move(view)), options_(std::move(options)) {}
NodeServer::~NodeServer() { stop(); }

Status NodeServer::start() {
  if (!options_.certificate) return Error::internal("the node server has no certificate source");
  auto cert = options_.certificate();
  if (!cert) return Error::unavailable("cannot get the node server's certificate: " + cert.error().message);
  http::ServerOptions http;
  http.host = options_.host;
  http.port = options_.port;
  http.tlsCertPem = cert->certPem;
  http.tlsKeyPem = cert->keyPem;
  http.clientCaPem = options_.clientCaPem;
  http.workers = 4;
  http.maxLongRunning = 256;
  http.admit = [this](const http::Request& head) { return admit(head); };
  auto handler = [this](http::Exchange& ex) { handle(ex); };
  auto server = http::listen(http, handler);
  if (!server && options_.fallBackToFreePort && options_.port != 0) {
    // Another kubelet or skiff holds the port on this machine: any port will do, since the
    // Node object tells the API server where to call.
    log::warn("node-server", "port " + std::to_string(options_.port) + " is taken (" + server.error().message + "); listening on a free port");
    http.port = 0;
    server = http::listen(http, handler);
  }
  if (!server) return Error::unavailable("the node server cannot listen on " + options_.host + ": " + server.error().message);
  server_ = std::move(*server);
  renewer_ = std::make_unique<pki::CertificateRenewer>(
      "node " + options_.nodeName + "'s serving certificate", cert->certPem, [this](const std::function<bool()>&) -> Result<std::string> {
        auto next = options_.certificate();
        if (!next) return next.error();
        if (Status s = server_->replaceCertificate(next->certPem, next->keyPem); !s) return s.error();
        return next->certPem;
      });
  renewer_->start();
  return {};
}

void NodeServer::stop() {
  if (renewer_) renewer_->stop();
  if (server_) server_->stop();
}

uint16_t NodeServer::port() const { return server_ ? server_->port() : 0; }

http::Admission NodeServer::admit(const http::Request& req) const {
  http::Admission out;
  if (req.path == "/healthz") {
    out.user = "system:anonymous";
    return out;
  }
  std::vector<std::string> parts = splitPath(req.path);
  if (!parts.empty()) {
    const std::string& first = parts[0];
    out.longRunning = first == "exec" || first == "attach" || first == "portForward" ||
                      (first == "containerLogs" && req.queryFlag("follow"));
  }
  std::string auth = req.header("authorization");
  std::string token = auth.size() > 7 && (auth.starts_with("Bearer ") || auth.starts_with("bearer ")) ? auth.substr(7) : "";
  if (!token.empty() && !options_.adminToken.empty() && sameSecret(token, options_.adminToken)) {
    out.user = "system:admin";
    return out;
  }
  auto refuse = [&](int code, const char* reason, const std::string& message) {
    out.refusal = errorResponse(Error{code, reason, message, {}});
    return out;
  };
  if (!req.clientCertificateProblem.empty())
    return refuse(401, "Unauthorized", "Unauthorized: " + req.clientCertificateProblem + " (node " + options_.nodeName +
                                           " accepts certificates signed by the cluster CA)");
  if (req.clientCommonName.empty())
    return refuse(401, "Unauthorized", std::string("Unauthorized: the node server of ") + options_.nodeName +
                                           " needs a client certificate signed by the cluster CA (the API server's " + kApiServerClientName +
                                           " identity) or the admin bearer token" + (token.empty() ? "" : "; the bearer token sent is not valid here"));
  if (!options_.allowedClients.count(req.clientCommonName))
    return refuse(403, "Forbidden", "Forbidden: user \"" + req.clientCommonName + "\" may not use the node server of " + options_.nodeName +
                                        " (only " + kApiServerClientName + " may)");
  out.user = req.clientCommonName;
  return out;
}

void NodeServer::handle(http::Exchange& ex) {
  const http::Request& req = ex.request();
  std::vector<std::string> parts = splitPath(req.path);
  try {
    if (req.path == "/healthz") return ex.respond({200, "text/plain; charset=utf-8", {}, "ok"});
    if (parts.empty()) return ex.respond(errorResponse(Error::notFound("the node server has nothing at /")));
    const std::string& first = parts[0];
    if (first == "exec") return serveExec(ex, parts);
    if (first == "portForward") return servePortForward(ex, parts);
    if (first == "attach") return serveAttach(ex, parts);
    if (req.method != "GET" && req.method != "HEAD")
      return ex.respond(errorResponse(Error{405, "MethodNotAllowed", req.method + " is not allowed on " + req.path, {}}));
    if (first == "containerLogs") return serveLogs(ex, parts);
    if (req.path == "/stats/summary" || req.path == "/stats/summary/") return serveSummary(ex);
    if (req.path == "/metrics/resource") return serveResourceMetrics(ex);
    // The agent process's own metrics (its node proxy's and mesh's among them), as the kubelet's /metrics.
    if (req.path == "/metrics") return ex.respond({200, "text/plain; version=0.0.4; charset=utf-8", {}, observe::exposition()});
    if (req.path == "/metrics/cadvisor") return serveCadvisorMetrics(ex);
    if (req.path == "/pods" || req.path == "/pods/") return servePods(ex);
    if (req.path == "/skiff/v1/proxy") return serveRequests(ex);
    ex.respond(errorResponse(Error::notFound("the node server has no " + req.path)));
  } catch (const std::exception& e) {
    log::error("node-server", req.method + " " + req.path + ": " + e.what());
    ex.respond(errorResponse(Error::internal(std::string("the node server failed: ") + e.what())));
  }
}

// /containerLogs/{ns}/{pod}/{container}: the file's bytes, cut by tailLines then limitBytes; with
// follow, new bytes every 100 ms until the client leaves or the container stops.
void NodeServer::serveLogs(http::Exchange& ex, const std::vector<std::string>& parts) {
  const http::Request& req = ex.request();
  if (parts.size() != 4) return ex.respond(errorResponse(Error::badRequest("use /containerLogs/<namespace>/<pod>/<container>")));
  const std::string &ns = parts[1], &pod = parts[2], &container = parts[3];
  // skiff's runtimes write raw output without per-line times, so these cannot be honoured.
  if (req.queryFlag("timestamps") || req.hasQuery("sinceSeconds") || req.hasQuery("sinceTime"))
    return ex.respond(errorResponse(Error::badRequest("timestamps, sinceSeconds and sinceTime need per-line times, which skiff's container "
                                                      "logs do not record; use tailLines or limitBytes")));
  auto tail = wholeNumber(req, "tailLines");
  if (!tail) return ex.respond(errorResponse(tail.error()));
  auto limit = wholeNumber(req, "limitBytes");
  if (!limit) return ex.respond(errorResponse(limit.error()));
  auto path = view_.logPath(ns, pod, container, req.queryFlag("previous"));
  if (!path) return ex.respond(errorResponse(path.error()));
  std::ifstream in(*path, std::ios::binary);
  if (!in) return ex.respond(errorResponse(Error::notFound("the log of container " + container + " in pod " + ns + "/" + pod + " is gone")));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::streamoff offset = std::streamoff(data.size());
  if (*tail) data = lastLines(data, long(**tail));
  uint64_t budget = *limit ? uint64_t(**limit) : UINT64_MAX;
  if (data.size() > budget) data.resize(size_t(budget));
  budget -= data.size();
  if (!req.queryFlag("follow")) return ex.respond({200, "text/plain", {}, std::move(data)});
  http::Stream& stream = ex.startStream(200, "text/plain");
  if (!data.empty() && !stream.write(data)) return;
  while (budget > 0 && !stream.clientGone()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream more(*path, std::ios::binary);
    more.seekg(offset);
    std::string chunk((std::istreambuf_iterator<char>(more)), std::istreambuf_iterator<char>());
    offset += std::streamoff(chunk.size());
    if (chunk.size() > budget) chunk.resize(size_t(budget));
    budget -= chunk.size();
    if (!chunk.empty() && !stream.write(chunk)) return;
    if (chunk.empty() && !view_.running(ns, pod, container)) return;  // the container ended
  }
}

namespace {

void sendFinalStatus(http::WebSocket& socket, const json::object& status) {
  socket.send(std::string(1, '\x03') + json::serialize(status));
  socket.close();
}

// A terminal's new size from channel 4: {"Width":80,"Height":24}.
void resizeTerminal(int fd, std::string_view data) {
  boost::system::error_code ec;
  json::value size = json::parse(data, ec);
  if (ec || !size.is_object()) return;
  auto dim = [&](const char* k) {
    const json::value* v = size.get_object().if_contains(k);
    return v && v->is_number() ? uint16_t(v->to_number<int64_t>()) : uint16_t(0);
  };
  winsize ws{};
  ws.ws_col = dim("Width");
  ws.ws_row = dim("Height");
  ioctl(fd, TIOCSWINSZ, &ws);
}

// Pumps the session's pipes and the socket until the command's output ends; false when the
// client went away first.
bool pumpExec(http::WebSocket& socket, runtime::ExecProcess& session, bool tty) {
  int &outFd = session.stdoutFd, &errFd = session.stderrFd, &inFd = session.stdinFd;
  char buf[32768];
  while (outFd >= 0 || errFd >= 0) {
    pollfd fds[3] = {{socket.fd(), POLLIN, 0}, {outFd, POLLIN, 0}, {errFd, POLLIN, 0}};
    if (::poll(fds, 3, socket.pending() ? 0 : 1000) < 0 && errno != EINTR) return true;
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) || socket.pending()) {
      auto msg = socket.receive();
      if (!msg) return false;
      if (*msg && !(*msg)->empty()) {
        unsigned char channel = static_cast<unsigned char>((**msg)[0]);
        std::string_view data = std::string_view(**msg).substr(1);
        if (channel == 0 && inFd >= 0 && !data.empty()) {
          if (write(inFd, data.data(), data.size()) < 0) {
            close(inFd);
            inFd = -1;
          }
        } else if (channel == 4 && tty && outFd >= 0) {
          resizeTerminal(outFd, data);
        } else if (channel == 255 && !data.empty() && data[0] == 0 && inFd >= 0) {
          close(inFd);  // v5: the client closed its stdin
          inFd = -1;
        }
      }
    }
    for (int i : {1, 2}) {
      int& fd = i == 1 ? outFd : errFd;
      if (fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fd, buf + 1, sizeof buf - 1);
      if (n <= 0) {
        close(fd);
        fd = -1;
        continue;
      }
      buf[0] = char(i);
      if (!socket.send(std::string_view(buf, size_t(n) + 1))) return false;
    }
  }
  return true;
}

}  // namespace

// /exec/{ns}/{pod}/{container}?command=...: Kubernetes' WebSocket streaming protocol. Each binary
// message starts with a channel byte (0 stdin, 1 stdout, 2 stderr, 3 the final Status, 4
// resize); v5 adds 255 to close a channel (the client's end of stdin). kube-apiserver names the
// streams input/output/error, kubectl stdin/stdout/stderr: both are read.
void NodeServer::serveExec(http::Exchange& ex, const std::vector<std::string>& parts) {
  const http::Request& req = ex.request();
  auto fail = [&](const Error& e) { ex.respond(errorResponse(e)); };
  if (req.method != "GET" && req.method != "POST") return fail(Error{405, "MethodNotAllowed", "exec accepts GET and POST", {}});
  if (parts.size() != 4 && parts.size() != 3) return fail(Error::badRequest("use /exec/<namespace>/<pod>/<container>?command=..."));
  std::vector<std::string> command;
  for (auto [it, end] = req.query.equal_range("command"); it != end; ++it) command.push_back(it->second);
  if (command.empty()) return fail(Error::badRequest("you must specify at least one command for the container"));
  std::string upgrade = req.header("upgrade");
  std::transform(upgrade.begin(), upgrade.end(), upgrade.begin(), ::tolower);
  if (upgrade != "websocket")
    return fail(Error::badRequest("skiff speaks the WebSocket streaming protocol (v5/v4.channel.k8s.io) for exec, not " +
                                  (upgrade.empty() ? std::string("plain HTTP") : upgrade) + "; use kubectl 1.30 or newer, or skiff exec"));
  bool withStdin = req.queryFlag("stdin") || req.queryFlag("input");
  bool tty = req.queryFlag("tty");
  std::string container = parts.size() == 4 ? parts[3] : "";
  auto ws = ex.upgradeToWebSocket({"v5.channel.k8s.io", "v4.channel.k8s.io"});
  if (!ws) return fail(ws.error());
  http::WebSocket& socket = **ws;
  auto session = view_.startExec(parts[1], parts[2], container, command, withStdin, tty);
  if (!session) {
    // Upgraded already: the failure travels as the final Status, as the kubelet sends it.
    const Error& e = session.error();
    return sendFinalStatus(socket, json::object{{"metadata", json::object()}, {"status", "Failure"}, {"message", e.message},
                                                {"reason", e.reason}, {"code", e.code}});
  }
  bool finished = pumpExec(socket, *session, tty);
  for (int fd : {session->stdinFd, session->stdoutFd, session->stderrFd})
    if (fd >= 0) close(fd);
  if (!finished) ::kill(session->pid, SIGKILL);
  int status = 0;
  while (waitpid(session->pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!finished) return;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  json::object result{{"metadata", json::object()}, {"status", code == 0 ? "Success" : "Failure"}};
  if (code != 0) {
    result["message"] = "command terminated with non-zero exit code: error executing command [" + command[0] + "], exit code " + std::to_string(code);
    result["reason"] = "NonZeroExitCode";
    result["details"] = json::object{{"causes", json::array{json::object{{"reason", "ExitCode"}, {"message", std::to_string(code)}}}}};
  }
  sendFinalStatus(socket, result);
}

// /portForward/{ns}/{pod}: kubectl's port-forward, SPDY streams tunnelled in a WebSocket
// (agent/port_forward.h), each to localhost:port inside the pod.
void NodeServer::servePortForward(http::Exchange& ex, const std::vector<std::string>& parts) {
  const http::Request& req = ex.request();
  auto fail = [&](const Error& e) { ex.respond(errorResponse(e)); };
  if (req.method != "GET" && req.method != "POST") return fail(Error{405, "MethodNotAllowed", "portForward accepts GET and POST", {}});
  if (parts.size() != 3) return fail(Error::badRequest("use /portForward/<namespace>/<pod>"));
  std::string upgrade = req.header("upgrade");
  std::transform(upgrade.begin(), upgrade.end(), upgrade.begin(), ::tolower);
  if (upgrade != "websocket")
    return fail(Error::badRequest("skiff serves port-forward as SPDY tunnelled in a WebSocket (" + std::string(kPortForwardSpdyProtocol) +
                                  "), as kubectl 1.31 and newer speak it; upgrade your kubectl"));
  if (!view_.dialPod) return fail(Error::unavailable("this node cannot reach its pods' ports"));
  const std::string &ns = parts[1], &pod = parts[2];
  std::string uid;
  if (view_.pods)
    for (const auto& p : view_.pods())
      if (api::stringAt(*p, "metadata.namespace") == ns && api::stringAt(*p, "metadata.name") == pod) uid = api::stringAt(*p, "metadata.uid");
  if (uid.empty()) return fail(Error::notFound("pod " + ns + "/" + pod + " does not run on node " + options_.nodeName));
  auto ws = ex.upgradeToWebSocket({kPortForwardSpdyProtocol});
  if (!ws) return fail(ws.error());
  PortForwardOptions options;
  options.podDescription = "pod " + pod + " (uid " + uid + ")";
  options.dial = [this, ns, pod](uint16_t port) { return view_.dialPod(ns, pod, port); };
  agent::servePortForward(**ws, options);
}

// /attach/{ns}/{pod}/{container}: the container's output from now on, over the same WebSocket
// protocol as exec (channel 1), until it stops or the client leaves. skiff's runtimes give
// containers no stdin to attach to, so stdin (and a terminal) are refused with the final Status.
void NodeServer::serveAttach(http::Exchange& ex, const std::vector<std::string>& parts) {
  const http::Request& req = ex.request();
  auto fail = [&](const Error& e) { ex.respond(errorResponse(e)); };
  if (req.method != "GET" && req.method != "POST") return fail(Error{405, "MethodNotAllowed", "attach accepts GET and POST", {}});
  if (parts.size() != 4) return fail(Error::badRequest("use /attach/<namespace>/<pod>/<container>"));
  const std::string &ns = parts[1], &pod = parts[2], &container = parts[3];
  auto path = view_.logPath(ns, pod, container, false);
  if (!path) return fail(path.error());
  auto ws = ex.upgradeToWebSocket({"v5.channel.k8s.io", "v4.channel.k8s.io"});
  if (!ws) return fail(ws.error());
  http::WebSocket& socket = **ws;
  if (req.queryFlag("stdin") || req.queryFlag("input") || req.queryFlag("tty"))
    return sendFinalStatus(socket, json::object{{"metadata", json::object()}, {"status", "Failure"}, {"reason", "BadRequest"}, {"code", 400},
                                                {"message", "skiff's containers have no stdin or terminal to attach to; attach without -i/-t "
                                                            "streams their output, exec runs a shell"}});
  std::error_code ec;
  uint64_t offset = std::filesystem::file_size(*path, ec);
  if (ec) offset = 0;
  char buf[32768];
  while (view_.running(ns, pod, container)) {
    pollfd p{socket.fd(), POLLIN, 0};
    if (::poll(&p, 1, socket.pending() ? 0 : 100) > 0 || socket.pending())
      if (!socket.receive()) return;  // the client left (messages it sends are ignored: no stdin)
    std::ifstream in(*path, std::ios::binary);
    in.seekg(std::streamoff(offset));
    while (in.read(buf + 1, sizeof buf - 1) || in.gcount() > 0) {
      buf[0] = 1;
      offset += uint64_t(in.gcount());
      if (!socket.send(std::string_view(buf, size_t(in.gcount()) + 1))) return;
    }
  }
  sendFinalStatus(socket, json::object{{"metadata", json::object()}, {"status", "Success"}});
}

namespace {
json::object cpuStats(const std::string& now, double cores, uint64_t cumulativeNanos) {
  return json::object{{"time", now}, {"usageNanoCores", uint64_t(cores * 1e9)}, {"usageCoreNanoSeconds", cumulativeNanos}};
}
json::object memoryStats(const std::string& now, uint64_t workingSet, uint64_t usage) {
  return json::object{{"time", now}, {"workingSetBytes", workingSet}, {"usageBytes", usage}};
}
}  // namespace

// The kubelet's Summary API (stats/v1alpha1): node totals, then per pod its containers, sums and network.
void NodeServer::serveSummary(http::Exchange& ex) {
  std::string now = api::rfc3339Now();
  NodeUsageSample node = view_.node ? view_.node() : NodeUsageSample{};
  std::vector<ContainerSample> containers = view_.containers ? view_.containers() : std::vector<ContainerSample>{};
  std::vector<PodNetworkSample> networks = view_.networks ? view_.networks() : std::vector<PodNetworkSample>{};
  std::map<std::string, std::string> uids;
  if (view_.pods)
    for (const auto& p : view_.pods())
      uids[api::stringAt(*p, "metadata.namespace") + "/" + api::stringAt(*p, "metadata.name")] = api::stringAt(*p, "metadata.uid");
  struct PodTotals {
    std::string ns, name;
    json::array containers;
    double cores = 0;
    uint64_t cpuNanos = 0, workingSet = 0, usage = 0;
  };
  std::map<std::string, PodTotals> pods;
  for (const auto& c : containers) {
    PodTotals& p = pods[c.ns + "/" + c.pod];
    p.ns = c.ns;
    p.name = c.pod;
    p.containers.push_back(json::object{{"name", c.container}, {"cpu", cpuStats(now, c.cpuCores, c.cpuUsageNanos)},
                                        {"memory", memoryStats(now, c.memoryWorkingSet, c.memoryUsage)}});
    p.cores += c.cpuCores;
    p.cpuNanos += c.cpuUsageNanos;
    p.workingSet += c.memoryWorkingSet;
    p.usage += c.memoryUsage;
  }
  std::map<std::string, const PodNetworkSample*> networkOf;
  for (const auto& n : networks) networkOf[n.ns + "/" + n.pod] = &n;
  json::array podList;
  for (auto& [key, p] : pods) {
    json::object entry{{"podRef", json::object{{"name", p.name}, {"namespace", p.ns}, {"uid", uids.count(key) ? uids[key] : ""}}},
                       {"containers", std::move(p.containers)},
                       {"cpu", cpuStats(now, p.cores, p.cpuNanos)},
                       {"memory", memoryStats(now, p.workingSet, p.usage)}};
    if (auto it = networkOf.find(key); it != networkOf.end()) {
      const PodNetworkSample& n = *it->second;
      json::object iface{{"name", "eth0"}, {"rxBytes", n.receiveBytes}, {"txBytes", n.transmitBytes}};
      entry["network"] = json::object{{"time", now}, {"name", "eth0"}, {"rxBytes", n.receiveBytes}, {"txBytes", n.transmitBytes},
                                      {"interfaces", json::array{iface}}};
    }
    podList.push_back(std::move(entry));
  }
  json::object nodeEntry{{"nodeName", options_.nodeName},
                         {"cpu", json::object{{"time", now}, {"usageNanoCores", uint64_t(node.cpuCores * 1e9)}}},
                         {"memory", json::object{{"time", now}, {"workingSetBytes", node.memoryWorkingSet}}}};
  ex.respond(jsonResponse(json::object{{"node", std::move(nodeEntry)}, {"pods", std::move(podList)}}));
}

// The kubelet's resource metrics (what metrics-server scrapes), with millisecond timestamps.
void NodeServer::serveResourceMetrics(http::Exchange& ex) {
  std::string ts = " " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch()).count()) + "\n";
  NodeUsageSample node = view_.node ? view_.node() : NodeUsageSample{};
  std::vector<ContainerSample> containers = view_.containers ? view_.containers() : std::vector<ContainerSample>{};
  std::string out =
      "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds\n"
      "# TYPE container_cpu_usage_seconds_total counter\n";
  auto containerLabels = [](const ContainerSample& c) { return promLabels({{"container", c.container}, {"namespace", c.ns}, {"pod", c.pod}}); };
  for (const auto& c : containers) out += "container_cpu_usage_seconds_total" + containerLabels(c) + " " + seconds(c.cpuUsageNanos) + ts;
  out += "# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes\n"
         "# TYPE container_memory_working_set_bytes gauge\n";
  for (const auto& c : containers) out += "container_memory_working_set_bytes" + containerLabels(c) + " " + std::to_string(c.memoryWorkingSet) + ts;
  std::map<std::pair<std::string, std::string>, std::pair<uint64_t, uint64_t>> pods;  // cpu nanos, working set
  for (const auto& c : containers) {
    auto& p = pods[{c.ns, c.pod}];
    p.first += c.cpuUsageNanos;
    p.second += c.memoryWorkingSet;
  }
  out += "# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes\n"
         "# TYPE node_memory_working_set_bytes gauge\n"
         "node_memory_working_set_bytes " + std::to_string(node.memoryWorkingSet) + ts;
  out += "# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds\n"
         "# TYPE pod_cpu_usage_seconds_total counter\n";
  for (const auto& [key, p] : pods) out += "pod_cpu_usage_seconds_total" + promLabels({{"namespace", key.first}, {"pod", key.second}}) + " " + seconds(p.first) + ts;
  out += "# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes\n"
         "# TYPE pod_memory_working_set_bytes gauge\n";
  for (const auto& [key, p] : pods)
    out += "pod_memory_working_set_bytes" + promLabels({{"namespace", key.first}, {"pod", key.second}}) + " " + std::to_string(p.second) + ts;
  out += "# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise\n"
         "# TYPE resource_scrape_error gauge\nresource_scrape_error 0\n";
  ex.respond({200, "text/plain; version=0.0.4; charset=utf-8", {}, std::move(out)});
}

// cAdvisor's container series (what Prometheus scrapes through nodes/proxy).
void NodeServer::serveCadvisorMetrics(http::Exchange& ex) {
  std::vector<ContainerSample> samples = view_.containers ? view_.containers() : std::vector<ContainerSample>{};
  auto labels = [&](const ContainerSample& s) {
    return promLabels({{"namespace", s.ns}, {"pod", s.pod}, {"container", s.container}, {"node", options_.nodeName}});
  };
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& s : samples) out += name + labels(s) + " " + value(s) + "\n";
  };
  family("container_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed in seconds.",
         [](const ContainerSample& s) { return seconds(s.cpuUsageNanos); });
  family("container_memory_working_set_bytes", "gauge", "Current working set in bytes.",
         [](const ContainerSample& s) { return std::to_string(s.memoryWorkingSet); });
  family("container_memory_usage_bytes", "gauge", "Current memory usage in bytes, including cache.",
         [](const ContainerSample& s) { return std::to_string(s.memoryUsage); });
  family("container_spec_memory_limit_bytes", "gauge", "Memory limit for the container.",
         [](const ContainerSample& s) { return std::to_string(s.memoryLimit); });
  family("container_fs_reads_bytes_total", "counter", "Cumulative count of bytes read.",
         [](const ContainerSample& s) { return std::to_string(s.ioReadBytes); });
  family("container_fs_writes_bytes_total", "counter", "Cumulative count of bytes written.",
         [](const ContainerSample& s) { return std::to_string(s.ioWriteBytes); });
  // Network is the pod's (its namespace's eth0), reported as cAdvisor does for the pod sandbox.
  std::vector<PodNetworkSample> nets = view_.networks ? view_.networks() : std::vector<PodNetworkSample>{};
  const std::pair<const char*, uint64_t PodNetworkSample::*> netSeries[] = {
      {"container_network_receive_bytes_total", &PodNetworkSample::receiveBytes},
      {"container_network_transmit_bytes_total", &PodNetworkSample::transmitBytes},
      {"container_network_receive_packets_total", &PodNetworkSample::receivePackets},
      {"container_network_transmit_packets_total", &PodNetworkSample::transmitPackets}};
  for (const auto& [name, field] : netSeries) {
    out += std::string("# HELP ") + name + " Cumulative count of network " + (std::string(name).find("bytes") != std::string::npos ? "bytes" : "packets") + " of the pod.\n";
    out += std::string("# TYPE ") + name + " counter\n";
    for (const auto& n : nets)
      out += name + promLabels({{"namespace", n.ns}, {"pod", n.pod}, {"container", "POD"}, {"interface", "eth0"}, {"node", options_.nodeName}}) + " " +
             std::to_string(n.*field) + "\n";
  }
  ex.respond({200, "text/plain; version=0.0.4; charset=utf-8", {}, std::move(out)});
}

void NodeServer::servePods(http::Exchange& ex) {
  json::array items;
  if (view_.pods)
    for (const auto& p : view_.pods()) items.push_back(*p);
  ex.respond(jsonResponse(json::object{{"kind", "PodList"}, {"apiVersion", "v1"}, {"metadata", json::object()}, {"items", std::move(items)}}));
}

void NodeServer::serveRequests(http::Exchange& ex) {
  RequestSample r = view_.requests ? view_.requests() : RequestSample{};
  json::object rates;
  for (const auto& [pod, rate] : r.podRequestRates) rates[pod] = rate;
  ex.respond(jsonResponse(json::object{{"podRequestRates", std::move(rates)}, {"requests", r.requests}, {"errors", r.errors}}));
}

}  // namespace skiff::agent
