#include "client/rest_client.h"

#include <boost/json.hpp>
#include <condition_variable>
#include <random>
#include <thread>

#include "api/codec.h"
#include "api/object.h"
#include "common/log.h"

namespace skiff::client {
namespace {

// Bounds what one watch line may hold before the connection is dropped (a server that never
// ends a line must not grow us without limit).
constexpr size_t kMaxWatchLine = 64u << 20;

std::string patchContentType(PatchType t) {
  switch (t) {
    case PatchType::Json: return "application/json-patch+json";
    case PatchType::Strategic: return "application/strategic-merge-patch+json";
    case PatchType::Apply: return "application/apply-patch+yaml";
    case PatchType::Merge: break;
  }
  return "application/merge-patch+json";
}

std::string writeQuery(const WriteOptions& o) {
  std::string q;
  auto add = [&](const std::string& kv) { q += (q.empty() ? "?" : "&") + kv; };
  switch (o.fieldValidation) {
    case api::FieldValidation::Strict: add("fieldValidation=Strict"); break;
    case api::FieldValidation::Ignore: add("fieldValidation=Ignore"); break;
    case api::FieldValidation::Warn: break;  // the server's default
  }
  if (o.dryRun) add("dryRun=All");
  if (!o.fieldManager.empty()) add("fieldManager=" + http::percentEncode(o.fieldManager));
  if (o.force) add("force=true");
  return q;
}

std::string selectorQuery(const api::LabelSelector& labels, const api::FieldSelector& fields) {
  std::string q;
  if (!labels.empty()) q += "&labelSelector=" + http::percentEncode(labels.text());
  if (!fields.empty()) q += "&fieldSelector=" + http::percentEncode(fields.text());
  return q;
}

// Kubernetes leaves kind and apiVersion off list items; components expect them on every object.
void stampType(json::value& object, const api::ResourceType& type) {
  if (auto* o = object.if_object()) {
    if (!o->contains("apiVersion")) (*o)["apiVersion"] = type.apiVersion();
    if (!o->contains("kind")) (*o)["kind"] = type.kind;
  }
}

// Warning headers ("299 - \"text\"") as their texts.
void collectWarnings(const http::ClientResponse& r, std::vector<std::string>* out) {
  if (!out) return;
  auto it = r.headers.find("warning");
  if (it == r.headers.end()) return;
  std::string v = it->second;
  auto open = v.find('"'), close = v.rfind('"');
  out->push_back(open != std::string::npos && close > open ? v.substr(open + 1, close - open - 1) : v);
}

}  // namespace

int64_t resourceVersionOf(const json::value& object) {
  std::string rv = api::stringAt(object, "metadata.resourceVersion");
  char* end = nullptr;
  long long v = std::strtoll(rv.c_str(), &end, 10);
  return rv.empty() || *end ? 0 : v;
}

std::string resourcePath(const api::ResourceType& type, const std::string& ns, const std::string& name,
                         const std::string& subresource) {
  std::string p = type.group.empty() ? "/api/" + type.version : "/apis/" + type.group + "/" + type.version;
  if (type.namespaced && !ns.empty()) p += "/namespaces/" + http::percentEncode(ns);
  p += "/" + type.plural;
  if (!name.empty()) p += "/" + http::percentEncode(name);
  if (!subresource.empty()) p += "/" + subresource;
  return p;
}

Error errorFromResponse(const http::ClientResponse& r, const std::string& server) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (!ec && api::stringAt(v, "kind") == "Status") {
    Error e;
    e.code = r.status;
    e.reason = api::stringAt(v, "reason");
    e.message = api::stringAt(v, "message");
    if (const json::value* causes = api::valueAt(v, "details.causes"); causes && causes->is_array())
      for (const auto& c : causes->get_array())
        e.causes.push_back({api::stringAt(c, "reason"), api::stringAt(c, "message"), api::stringAt(c, "field")});
    if (e.message.empty()) e.message = "the server answered HTTP " + std::to_string(r.status);
    return e;
  }
  std::string snippet = r.body.substr(0, 160);
  for (char& c : snippet)
    if (c == '\n' || c == '\r') c = ' ';
  return Error{r.status, "InternalError",
               server + " answered HTTP " + std::to_string(r.status) + " without a Kubernetes Status (" + snippet +
                   "); is this address a skiff API server?",
               {}};
}

Result<std::unique_ptr<RestClient>> RestClient::create(RestConfig config) {
  if (config.servers.empty()) return Error::badRequest("no API server given: pass --server https://HOST:6443");
  std::unique_ptr<RestClient> c(new RestClient(std::move(config)));
  for (const auto& url : c->config_.servers) {
    if (url.rfind("https://", 0) != 0)
      return Error::badRequest("API server address \"" + url + "\" must start with https:// (nodes talk to servers only over TLS)");
    auto hp = http::parseHostPort(url, 6443);
    if (!hp) return hp.error();
    auto s = std::make_unique<Server>();
    s->url = url;
    s->host = hp->first;
    s->port = hp->second;
    c->servers_.push_back(std::move(s));
  }
  return c;
}

RestClient::~RestClient() = default;

std::unique_ptr<http::Client> RestClient::connection(Server& s) {
  {
    std::lock_guard lock(s.mutex);
    if (!s.idle.empty()) {
      auto c = std::move(s.idle.back());
      s.idle.pop_back();
      return c;
    }
  }
  return newConnection(s);
}

std::unique_ptr<http::Client> RestClient::newConnection(const Server& s) {
  auto c = std::make_unique<http::Client>(s.host, s.port, config_.token, config_.caPem, "the API server " + s.url);
  {
    std::lock_guard lock(credentialsMutex_);
    if (!config_.certPem.empty()) c->setClientCertificate(config_.certPem, config_.keyPem);
  }
  c->setTimeout(config_.timeout);
  return c;
}

void RestClient::setClientCertificate(std::string certPem, std::string keyPem) {
  {
    std::lock_guard lock(credentialsMutex_);
    config_.certPem = std::move(certPem);
    config_.keyPem = std::move(keyPem);
    ++credentialsGeneration_;
  }
  for (auto& s : servers_) {
    std::vector<std::unique_ptr<http::Client>> old;
    std::lock_guard lock(s->mutex);
    old.swap(s->idle);
  }
}

void RestClient::giveBack(Server& s, std::unique_ptr<http::Client> c) {
  std::lock_guard lock(s.mutex);
  if (s.idle.size() < 16) s.idle.push_back(std::move(c));
}

std::string RestClient::currentServer() const { return servers_[current_.load() % servers_.size()]->url; }

Result<http::ClientResponse> RestClient::send(const std::string& method, const std::string& target, const std::string& body,
                                              const std::string& contentType) {
  size_t first = current_.load();
  Error last = Error::unavailable("no API server answered");
  for (size_t i = 0; i < servers_.size(); ++i) {
    size_t index = (first + i) % servers_.size();
    Server& s = *servers_[index];
    auto c = connection(s);
    auto r = c->request(method, target, body, contentType);
    if (r) {
      giveBack(s, std::move(c));
      if (index != first) {
        log::info("client", "now talking to " + s.url);
        current_ = index;
      }
      return r;
    }
    last = r.error();
  }
  if (servers_.size() > 1) last.message = "no API server answered (" + std::to_string(servers_.size()) + " tried); last: " + last.message;
  return last;
}

Result<json::value> RestClient::object(Result<http::ClientResponse> r, std::vector<std::string>* warnings) {
  if (!r) return r.error();
  collectWarnings(*r, warnings);
  if (r->status < 200 || r->status >= 300) return errorFromResponse(*r, currentServer());
  auto v = api::decodeJson(r->body);
  if (!v) return Error::internal(currentServer() + " answered with a body that is not JSON: " + v.error().message);
  return std::move(*v);
}

Result<http::ClientResponse> RestClient::request(const std::string& method, const std::string& path, const std::string& body,
                                                 const std::string& contentType) {
  return send(method, path, body, contentType);
}

Result<json::value> RestClient::create(const api::ResourceType& type, const std::string& ns, json::value object,
                                       const WriteOptions& options) {
  stampType(object, type);
  return this->object(send("POST", resourcePath(type, ns) + writeQuery(options), json::serialize(object), "application/json"),
                      options.warnings);
}

Result<json::value> RestClient::get(const api::ResourceType& type, const std::string& ns, const std::string& name) {
  auto v = object(send("GET", resourcePath(type, ns, name), "", "application/json"));
  if (v) stampType(*v, type);
  return v;
}

Result<ListResult> RestClient::list(const api::ResourceType& type, const std::string& ns, const ListOptions& options, bool) {
  std::string q = "?" + selectorQuery(options.labels, options.fields);
  if (options.limit) q += "&limit=" + std::to_string(options.limit);
  if (!options.continueToken.empty()) q += "&continue=" + http::percentEncode(options.continueToken);
  auto v = object(send("GET", resourcePath(type, ns) + q, "", "application/json"));
  if (!v) return v.error();
  ListResult out;
  out.revision = resourceVersionOf(*v);
  out.continueToken = api::stringAt(*v, "metadata.continue");
  if (const json::value* n = api::valueAt(*v, "metadata.remainingItemCount"); n && n->is_int64()) out.remainingItemCount = n->as_int64();
  if (auto* items = v->as_object().if_contains("items"); items && items->is_array())
    for (auto& item : items->as_array()) {
      stampType(item, type);
      out.items.push_back(std::move(item));
    }
  return out;
}

Result<json::value> RestClient::update(const api::ResourceType& type, const std::string& ns, const std::string& name,
                                       json::value object, const std::string& subresource, const WriteOptions& options) {
  stampType(object, type);
  return this->object(send("PUT", resourcePath(type, ns, name, subresource) + writeQuery(options), json::serialize(object),
                           "application/json"),
                      options.warnings);
}

Result<json::value> RestClient::patch(const api::ResourceType& type, const std::string& ns, const std::string& name,
                                      PatchType patchType, const json::value& patch, const std::string& subresource,
                                      const WriteOptions& options) {
  return object(send("PATCH", resourcePath(type, ns, name, subresource) + writeQuery(options), json::serialize(patch),
                     patchContentType(patchType)),
                options.warnings);
}

Result<json::value> RestClient::bind(const std::string& ns, const std::string& name, const std::string& node) {
  const api::ResourceType& pods = *api::findByKind("v1", "Pod");
  json::value binding = json::object{{"apiVersion", "v1"},
                                     {"kind", "Binding"},
                                     {"metadata", json::object{{"name", name}, {"namespace", ns}}},
                                     {"target", json::object{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
  auto r = object(send("POST", resourcePath(pods, ns, name, "binding"), json::serialize(binding), "application/json"));
  if (!r) return r.error();
  // The answer is a Status; callers get the bound pod, as in-process.
  return get(pods, ns, name);
}

Result<json::value> RestClient::remove(const api::ResourceType& type, const std::string& ns, const std::string& name,
                                       const DeleteOptions& options) {
  json::object body{{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (options.gracePeriodSeconds) body["gracePeriodSeconds"] = *options.gracePeriodSeconds;
  if (!options.propagationPolicy.empty()) body["propagationPolicy"] = options.propagationPolicy;
  json::object pre;
  if (!options.preconditionUid.empty()) pre["uid"] = options.preconditionUid;
  if (!options.preconditionResourceVersion.empty()) pre["resourceVersion"] = options.preconditionResourceVersion;
  if (!pre.empty()) body["preconditions"] = pre;
  auto v = object(send("DELETE", resourcePath(type, ns, name), json::serialize(body), "application/json"));
  if (v) stampType(*v, type);
  return v;
}

// One watch: a thread that streams, resumes and fails over until destroyed or told the revision
// is gone.
class RestClient::RemoteWatch final : public Watch {
 public:
  RemoteWatch(RestClient& client, const api::ResourceType& type, std::string path, std::string selectors, int64_t revision,
              WatchSink sink)
      : client_(client), type_(type), path_(std::move(path)), selectors_(std::move(selectors)), revision_(revision),
        sink_(std::move(sink)), thread_([this] { run(); }) {}
  ~RemoteWatch() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    cancel_.cancel();
    thread_.join();
  }

 private:
  enum class Outcome { Ended, Gone, Failed };

  void run() {
    auto backoff = std::chrono::milliseconds(100);
    std::mt19937 rng(std::random_device{}());
    while (!stopped()) {
      json::value status;
      Outcome o = streamOnce(rng, status);
      if (o == Outcome::Gone) {
        sink_(WatchEvent{"ERROR", std::move(status), 0, nullptr});
        return;
      }
      if (o == Outcome::Ended) {
        backoff = std::chrono::milliseconds(100);
        continue;
      }
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, backoff, [&] { return stopping_; });
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
    }
  }

  bool stopped() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  Outcome streamOnce(std::mt19937& rng, json::value& status) {
    size_t index = client_.current_.load() % client_.servers_.size();
    Server& server = *client_.servers_[index];
    if (!conn_ || connServer_ != index || connGeneration_ != client_.credentialsGeneration_.load()) {
      connGeneration_ = client_.credentialsGeneration_.load();
      conn_ = client_.newConnection(server);
      connServer_ = index;
    }
    // Servers end a watch after timeoutSeconds; spread reconnects as client-go does.
    int timeout = 300 + int(rng() % 300);
    std::string target = path_ + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(timeout) + selectors_;
    if (revision_ > 0) target += "&resourceVersion=" + std::to_string(revision_);
    std::map<std::string, std::string> headers;
    std::string pending, errorBody;
    Outcome outcome = Outcome::Ended;
    auto r = conn_->stream(
        target, {},
        [&](std::string_view data) {
          if (headers[":status"] != "200") {
            errorBody.append(data.substr(0, 65536 - std::min<size_t>(errorBody.size(), 65536)));
            return true;
          }
          pending.append(data);
          size_t start = 0;
          for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
            if (!deliver(std::string_view(pending).substr(start, nl - start), outcome, status)) return false;
          }
          pending.erase(0, start);
          if (pending.size() > kMaxWatchLine) {
            log::warn("client", "a watch line from " + server.url + " passed " + std::to_string(kMaxWatchLine) + " bytes; reconnecting");
            outcome = Outcome::Failed;
            return false;
          }
          return true;
        },
        &headers, &hooks_);
    if (!r) {
      if (!stopped()) {
        log::warn("client", "watch of " + type_.plural + " on " + server.url + ": " + r.error().message);
        // Fail over only if no other request already moved the client.
        size_t expected = index;
        client_.current_.compare_exchange_strong(expected, (index + 1) % client_.servers_.size());
      }
      return Outcome::Failed;
    }
    if (*r != 200) {
      Error e = errorFromResponse(http::ClientResponse{*r, {}, errorBody}, server.url);
      if (e.code == 410) {
        status = json::object{{"kind", "Status"}, {"apiVersion", "v1"}, {"code", 410}, {"reason", e.reason}, {"message", e.message}};
        return Outcome::Gone;
      }
      log::warn("client", "watch of " + type_.plural + " refused by " + server.url + ": " + e.message);
      return Outcome::Failed;
    }
    return outcome;
  }

  // Hands one event line to the sink; false ends the stream (a 410 or an error from the server).
  bool deliver(std::string_view line, Outcome& outcome, json::value& status) {
    if (line.empty()) return true;
    boost::system::error_code ec;
    json::value frame = json::parse(line, ec);
    if (ec || !frame.is_object()) {
      outcome = Outcome::Failed;
      return false;
    }
    std::string type = api::stringAt(frame, "type");
    json::value* object = frame.as_object().if_contains("object");
    if (!object) return true;
    if (type == "BOOKMARK") {
      if (int64_t rv = resourceVersionOf(*object)) revision_ = rv;
      return true;
    }
    if (type == "ERROR") {
      int64_t code = 0;
      if (const json::value* c = api::valueAt(*object, "code"); c && c->is_int64()) code = c->as_int64();
      if (code == 410) {
        status = std::move(*object);
        outcome = Outcome::Gone;
      } else {
        log::warn("client", "watch of " + type_.plural + " ended by the server: " + api::stringAt(*object, "message"));
        outcome = Outcome::Failed;
      }
      return false;
    }
    stampType(*object, type_);
    int64_t rv = resourceVersionOf(*object);
    if (rv) revision_ = rv;
    sink_(WatchEvent{type, nullptr, rv, std::make_shared<const std::string>(json::serialize(*object))});
    return true;
  }

  RestClient& client_;
  const api::ResourceType& type_;
  std::string path_, selectors_;
  int64_t revision_;
  WatchSink sink_;
  std::unique_ptr<http::Client> conn_;
  size_t connServer_ = 0;
  uint64_t connGeneration_ = 0;
  http::Cancellation cancel_;
  http::Client::StreamHooks hooks_{nullptr, nullptr, &cancel_, client_.config_.watchIdleTimeout};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything above exists
};

Result<std::unique_ptr<Watch>> RestClient::watch(const api::ResourceType& type, const std::string& ns, const api::LabelSelector& labels,
                                                 const api::FieldSelector& fields, int64_t afterRevision, WatchSink sink) {
  return std::unique_ptr<Watch>(std::make_unique<RemoteWatch>(*this, type, resourcePath(type, ns), selectorQuery(labels, fields),
                                                              afterRevision, std::move(sink)));
}

}  // namespace skiff::client
