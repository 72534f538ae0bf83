#include "apiserver/node_client.h"

#include <poll.h>

#include <boost/json.hpp>
#include <future>
#include <set>

#include "api/codec.h"
#include "api/resources.h"
#include "apiserver/apiserver.h"
#include "common/log.h"
#include "http/websocket.h"

namespace skiff::apiserver {
namespace json = boost::json;

namespace {

http::Response errorAnswer(const Error& e) { return {e.code, "application/json", {}, statusBody(e)}; }

const json::object* objectIn(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}
std::string stringIn(const json::object* o, const char* key) {
  const json::value* v = o ? o->if_contains(key) : nullptr;
  return v && v->is_string() ? std::string(v->get_string()) : "";
}
uint64_t numberIn(const json::object* o, const char* key) {
  const json::value* v = o ? o->if_contains(key) : nullptr;
  if (!v) return 0;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64()) return v->get_int64() > 0 ? uint64_t(v->get_int64()) : 0;
  if (v->is_double()) return v->get_double() > 0 ? uint64_t(v->get_double()) : 0;
  return 0;
}
// The node's answer as the client gets it. A node that refuses the API server itself is a fault
// between the two (502), not the client's: relayed as 401 it would tell kubectl to log in again.
http::Response nodeAnswer(const std::string& node, int status, std::string type, std::string body) {
  if (status != 401 && status != 403) return {status, std::move(type), {}, std::move(body)};
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  std::string why = !ec && v.is_object() ? stringIn(&v.get_object(), "message") : body;
  return errorAnswer(Error{502, "BadGateway", "the node server of " + node + " refused the API server's client certificate: " + why, {}});
}

double coresIn(const json::object& stats) { return double(numberIn(objectIn(stats, "cpu"), "usageNanoCores")) / 1e9; }
uint64_t workingSetIn(const json::object& stats) { return numberIn(objectIn(stats, "memory"), "workingSetBytes"); }

// A Node's InternalIP (else its first address) and kubelet port, read once here.
struct NodeAddressing {
  std::string address;
  int64_t port = 0;
};
NodeAddressing addressingOf(const json::value& node) {
  NodeAddressing out;
  const json::object* status = node.is_object() ? objectIn(node.get_object(), "status") : nullptr;
  if (!status) return out;
  if (const json::value* addresses = status->if_contains("addresses"); addresses && addresses->is_array())
    for (const auto& a : addresses->get_array()) {
      if (!a.is_object()) continue;
      std::string type = stringIn(&a.get_object(), "type"), address = stringIn(&a.get_object(), "address");
      if (type == "InternalIP" && !address.empty()) {
        out.address = address;
        break;
      }
      if (out.address.empty() && type != "Hostname") out.address = address;
    }
  const json::object* endpoints = objectIn(*status, "daemonEndpoints");
  const json::object* kubelet = endpoints ? objectIn(*endpoints, "kubeletEndpoint") : nullptr;
  out.port = int64_t(numberIn(kubelet, "Port"));
  return out;
}

}  // namespace

Result<NodeUsage> parseSummary(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return Error::badRequest("the node's stats summary is not a JSON object");
  NodeUsage out;
  if (const json::object* node = objectIn(v.get_object(), "node")) {
    out.node = stringIn(node, "nodeName");
    out.cpuCores = coresIn(*node);
    out.memoryWorkingSet = workingSetIn(*node);
  }
  const json::value* pods = v.get_object().if_contains("pods");
  if (!pods || !pods->is_array()) return out;
  for (const auto& p : pods->get_array()) {
    if (!p.is_object()) continue;
    const json::object& pod = p.get_object();
    const json::object* ref = objectIn(pod, "podRef");
    PodUsage usage{stringIn(ref, "namespace"), stringIn(ref, "name"), {}, coresIn(pod), workingSetIn(pod)};
    if (const json::value* cs = pod.if_contains("containers"); cs && cs->is_array())
      for (const auto& c : cs->get_array())
        if (c.is_object()) usage.containers.push_back({stringIn(&c.get_object(), "name"), coresIn(c.get_object()), workingSetIn(c.get_object())});
    if (!usage.name.empty()) out.pods.push_back(std::move(usage));
  }
  return out;
}

Result<NodeRequests> parseNodeRequests(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return Error::badRequest("the node's request figures are not a JSON object");
  NodeRequests out;
  const json::object& o = v.get_object();
  if (const json::object* rates = objectIn(o, "podRequestRates"))
    for (const auto& [pod, rate] : *rates)
      if (rate.is_number()) out.podRequestRates[std::string(pod)] = rate.to_number<double>();
  out.requests = numberIn(&o, "requests");
  out.errors = numberIn(&o, "errors");
  return out;
}

std::string mergeExpositions(const std::vector<std::string>& texts) {
  std::vector<std::string> order;
  std::map<std::string, std::pair<std::string, std::string>> families;  // name -> (HELP/TYPE lines, samples)
  for (const auto& text : texts) {
    std::string current;
    size_t i = 0;
    while (i < text.size()) {
      size_t nl = text.find('\n', i);
      std::string line = text.substr(i, nl == std::string::npos ? std::string::npos : nl - i);
      i = nl == std::string::npos ? text.size() : nl + 1;
      if (line.empty()) continue;
      if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
        std::string name = line.substr(7, line.find(' ', 7) - 7);
        if (!families.count(name)) order.push_back(name);
        auto& f = families[name];
        if (f.first.find(line.substr(0, 7)) == std::string::npos) f.first += line + "\n";
        current = name;
        continue;
      }
      if (line[0] == '#') continue;
      std::string name = line.substr(0, line.find_first_of("{ "));
      std::string family = !current.empty() && name.starts_with(current) ? current : name;  // _bucket, _sum, _count
      if (!families.count(family)) order.push_back(family);
      families[family].second += line + "\n";
    }
  }
  std::string out;
  for (const auto& name : order) out += families[name].first + families[name].second;
  return out;
}

Result<NodeEndpoint> NodeClient::endpoint(const std::string& node) const {
  auto object = registry_.get(*api::findByKind("v1", "Node"), "", node);
  if (!object) {
    if (object.error().code == 404) return Error::notFound("node \"" + node + "\" not found");
    return object.error();
  }
  NodeAddressing a = addressingOf(*object);
  if (a.address.empty() || a.port <= 0 || a.port > 65535)
    return Error::unavailable("node \"" + node + "\" publishes no node server (status.addresses InternalIP and "
                              "status.daemonEndpoints.kubeletEndpoint.Port): is its agent running?");
  return NodeEndpoint{node, a.address, uint16_t(a.port)};
}

Result<pki::Certificate> NodeClient::clientCertificate() {
  std::lock_guard lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  if (certificate_ && now - certificateAt_ < options_.certificateRefresh) return *certificate_;
  if (!options_.clientCertificate) return Error::unavailable("the API server has no client certificate for node servers");
  auto cert = options_.clientCertificate();
  if (!cert) return Error::unavailable("the API server cannot get its client certificate for node servers: " + cert.error().message);
  certificate_ = *cert;
  certificateAt_ = now;
  std::lock_guard poolLock(poolMutex_);
  idle_.clear();  // their connections present the certificate before this one
  return *cert;
}

// A client taken from the pool for one call; it goes back when the call went well.
class NodeClient::Lease {
 public:
  Lease(NodeClient& owner, std::string key, std::unique_ptr<http::Client> client) : owner_(&owner), key_(std::move(key)), client_(std::move(client)) {}
  Lease(Lease&&) = default;
  ~Lease() {
    if (owner_ && client_ && keep_) owner_->giveBack(key_, std::move(client_));
  }
  http::Client& operator*() { return *client_; }
  http::Client* operator->() { return client_.get(); }
  void keep() { keep_ = true; }

 private:
  NodeClient* owner_;
  std::string key_;
  std::unique_ptr<http::Client> client_;
  bool keep_ = false;
};

Result<NodeClient::Lease> NodeClient::lease(const std::string& node) {
  auto where = endpoint(node);
  if (!where) return where.error();
  auto cert = clientCertificate();
  if (!cert) return cert.error();
  std::string key = where->address + ":" + std::to_string(where->port);
  {
    std::lock_guard lock(poolMutex_);
    if (auto it = idle_.find(key); it != idle_.end()) {
      auto client = std::move(it->second);
      idle_.erase(it);
      return Lease(*this, key, std::move(client));
    }
  }
  auto client = std::make_unique<http::Client>(where->address, where->port, "", options_.caPem, "the node server of " + node);
  client->setClientCertificate(cert->certPem, cert->keyPem);
  return Lease(*this, key, std::move(client));
}

void NodeClient::giveBack(const std::string& key, std::unique_ptr<http::Client> client) {
  std::lock_guard lock(poolMutex_);
  if (idle_.count(key) < 8) idle_.emplace(key, std::move(client));
}

Result<http::ClientResponse> NodeClient::get(const std::string& node, const std::string& target) {
  auto client = lease(node);
  if (!client) return client.error();
  auto r = (*client)->request("GET", target);
  if (r) client->keep();
  return r;
}

void NodeClient::forward(http::Exchange& ex, const std::string& node, const std::string& target, bool streaming) {
  auto client = lease(node);
  if (!client) return ex.respond(errorAnswer(client.error()));
  const http::Request& req = ex.request();
  std::string upgrade = req.header("upgrade");
  std::transform(upgrade.begin(), upgrade.end(), upgrade.begin(), ::tolower);
  if (upgrade == "websocket") {
    relayWebSocket(ex, **client, node, target);
    return client->keep();  // its own connection is untouched; the parsed certificates are kept
  }
  if (!upgrade.empty())
    return ex.respond(errorAnswer(Error::badRequest("skiff relays WebSocket upgrades to nodes, not " + upgrade +
                                                    "; use kubectl 1.30 or newer")));
  if (streaming) {
    relayStream(ex, **client, node, target);
    return client->keep();
  }
  auto r = (*client)->request("GET", target);
  if (!r) return ex.respond(errorAnswer(r.error()));
  client->keep();
  std::string type = r->headers.count("content-type") ? r->headers["content-type"] : "text/plain";
  ex.respond(nodeAnswer(node, r->status, type, std::move(r->body)));
}

void NodeClient::relayStream(http::Exchange& ex, http::Client& client, const std::string& node, const std::string& target) {
  // The answer starts with the node's head: a 200 streams on (and a client that leaves ends the
  // upstream too, even while the node is quiet), anything else comes back whole with its status.
  http::Stream* stream = nullptr;
  std::string pending;
  int nodeStatus = 0;
  std::string type = "text/plain";
  http::Client::StreamHooks hooks;
  hooks.onHeaders = [&](int status, const std::map<std::string, std::string>& headers) {
    nodeStatus = status;
    if (auto it = headers.find("content-type"); it != headers.end()) type = it->second;
    if (status == 200) stream = &ex.startStream(200, type);
  };
  hooks.stillWanted = [&] { return !stream || !stream->clientGone(); };
  auto status = client.stream(target, {}, [&](std::string_view data) {
    if (stream) return stream->write(data);
    pending.append(data);
    return pending.size() < (1 << 20);
  }, nullptr, &hooks);
  if (stream) return;
  if (!status) return ex.respond(errorAnswer(Error::unavailable(status.error().message)));
  ex.respond(nodeAnswer(node, nodeStatus ? nodeStatus : *status, type, std::move(pending)));
}

// Both ends speak the same subprotocol (the node's choice among the client's offers), so
// messages go through unchanged.
void NodeClient::relayWebSocket(http::Exchange& ex, http::Client& client, const std::string& node, const std::string& target) {
  std::vector<std::string> offered;
  std::string header = ex.request().header("sec-websocket-protocol");
  for (size_t i = 0; i < header.size();) {
    size_t comma = header.find(',', i);
    std::string p = header.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
    p.erase(0, p.find_first_not_of(' '));
    p.erase(p.find_last_not_of(' ') + 1);
    if (!p.empty()) offered.push_back(p);
    i = comma == std::string::npos ? header.size() : comma + 1;
  }
  auto upstream = client.openWebSocket(target, offered);
  if (!upstream) {
    Error e = upstream.error();
    if (e.code == 503) e.message = "node " + node + " cannot be reached: " + e.message;
    if (e.code == 401 || e.code == 403)
      e = Error{502, "BadGateway", "the node server of " + node + " refused the API server's client certificate: " + e.message, {}};
    return ex.respond(errorAnswer(e));
  }
  http::WebSocket& nodeSide = **upstream;
  auto downstream = ex.upgradeToWebSocket({nodeSide.protocol()});
  if (!downstream) {
    nodeSide.close();
    return ex.respond(errorAnswer(downstream.error()));
  }
  http::WebSocket& clientSide = **downstream;
  http::WebSocket* ends[2] = {&clientSide, &nodeSide};
  while (true) {
    pollfd fds[2] = {{clientSide.fd(), POLLIN, 0}, {nodeSide.fd(), POLLIN, 0}};
    bool pending = clientSide.pending() || nodeSide.pending();
    if (::poll(fds, 2, pending ? 0 : 1000) < 0 && errno != EINTR) break;
    bool open = true;
    for (int i = 0; i < 2 && open; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)) && !ends[i]->pending()) continue;
      auto msg = ends[i]->receive();
      if (!msg) open = false;
      else if (*msg && !ends[1 - i]->send(**msg)) open = false;
    }
    if (!open) break;
  }
  clientSide.close();
  nodeSide.close();
}

std::map<std::string, http::ClientResponse> NodeClient::getFromAll(const std::string& target) {
  std::map<std::string, http::ClientResponse> out;
  auto nodes = registry_.list(*api::findByKind("v1", "Node"), "", {});
  if (!nodes) return out;
  std::vector<std::pair<std::string, std::future<Result<http::ClientResponse>>>> calls;
  for (const auto& node : nodes->items) {
    std::string name = node.is_object() ? stringIn(objectIn(node.get_object(), "metadata"), "name") : "";
    NodeAddressing a = addressingOf(node);
    if (name.empty() || a.port <= 0) continue;  // simulated nodes, or agents that publish no server
    calls.emplace_back(name, std::async(std::launch::async, [this, name, target] { return get(name, target); }));
  }
  for (auto& [name, call] : calls) {
    auto r = call.get();
    if (!r) log::warn("apiserver", "node " + name + ": " + target + ": " + r.error().message);
    else if (r->status != 200) log::warn("apiserver", "node " + name + ": " + target + " answered " + std::to_string(r->status));
    else out[name] = std::move(*r);
  }
  return out;
}

std::vector<NodeUsage> NodeClient::usage() {
  std::vector<NodeUsage> out;
  for (auto& [name, response] : getFromAll("/stats/summary")) {
    auto usage = parseSummary(response.body);
    if (!usage) continue;
    usage->node = name;
    out.push_back(std::move(*usage));
  }
  return out;
}

NodeRequests NodeClient::requests() {
  NodeRequests total;
  for (auto& [name, response] : getFromAll("/skiff/v1/proxy")) {
    auto r = parseNodeRequests(response.body);
    if (!r) continue;
    for (auto& [pod, rate] : r->podRequestRates) total.podRequestRates[pod] += rate;
    total.requests += r->requests;
    total.errors += r->errors;
  }
  return total;
}

}  // namespace skiff::apiserver
