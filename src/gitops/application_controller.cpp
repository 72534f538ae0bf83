#include "gitops/application_controller.h"

#include <stdlib.h>

#include <algorithm>
#include <set>

#include <boost/json.hpp>

#include "api/codec.h"
#include "api/object.h"
#include "common/base64.h"
#include "common/log.h"
#include "gitops/webhook.h"

namespace skiff::gitops {
namespace fs = std::filesystem;
namespace json = boost::json;
using controller::Requeue;
using Clock = std::chrono::steady_clock;

namespace {

// A scratch directory for one checkout, removed with its owner.
class ScratchDir {
 public:
  static Result<ScratchDir> make(const fs::path& parent) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    std::string tmpl = (parent / "checkout-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return Error::unavailable("cannot make a checkout directory in " + parent.string() + ": " + std::strerror(errno));
    return ScratchDir(tmpl);
  }
  ScratchDir(ScratchDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  ScratchDir(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  explicit ScratchDir(fs::path p) : path_(std::move(p)) {}
  fs::path path_;
};

std::string groupOf(const std::string& apiVersion) {
  size_t slash = apiVersion.find('/');
  return slash == std::string::npos ? "" : apiVersion.substr(0, slash);
}

// "group/Kind/namespace/name": how objects are matched between Git and the cluster.
std::string identity(const json::value& o) {
  return groupOf(api::stringAt(o, "apiVersion")) + "/" + api::stringAt(o, "kind") + "/" + api::stringAt(o, "metadata.namespace") + "/" +
         api::stringAt(o, "metadata.name");
}

std::string typeKey(const api::ResourceType& t) { return t.group + "/" + t.version + "/" + t.kind; }

std::string shortRevision(const std::string& r) { return r.substr(0, 7); }

// group, version, kind, namespace, name: how status.resources and syncResult name an object.
json::object resourceRef(const json::value& o) {
  std::string apiVersion = api::stringAt(o, "apiVersion");
  size_t slash = apiVersion.find('/');
  return json::object{{"group", groupOf(apiVersion)}, {"version", slash == std::string::npos ? apiVersion : apiVersion.substr(slash + 1)},
                      {"kind", api::stringAt(o, "kind")}, {"namespace", api::stringAt(o, "metadata.namespace")}, {"name", api::stringAt(o, "metadata.name")}};
}

json::object condition(const std::string& type, const std::string& message, const json::value& oldStatus) {
  std::string since = api::rfc3339Now();
  if (const json::value* cs = api::valueAt(oldStatus, "conditions"); cs && cs->is_array())
    for (const auto& c : cs->get_array())
      if (api::stringAt(c, "type") == type && api::stringAt(c, "message") == message) since = api::stringAt(c, "lastTransitionTime");
  return json::object{{"type", type}, {"message", message}, {"lastTransitionTime", since}};
}

json::value withoutTimestamps(json::value status) {
  if (status.is_object()) status.as_object().erase("reconciledAt");
  return status;
}

}  // namespace

struct ApplicationController::Desired {
  std::string revision;                        // the first source's commit
  std::string sourceType;
  std::vector<json::value> objects;            // namespaced and labelled
  std::vector<const api::ResourceType*> types;  // parallel to objects; null when not served (yet)
  std::vector<std::string> errors;             // manifests that could not be used
};

struct ApplicationController::Memory {
  Clock::time_point refreshRequested{};  // webhook or spec change: fetch again
  Clock::time_point lastPollAttempt{};
  Clock::time_point pollTimer{};         // the pending poll requeue, so there is only one
  int64_t generation = -1;
  std::string renderKey;
  std::shared_ptr<const Desired> desired;
};

struct ResourceRow {
  const api::ResourceType* type = nullptr;
  json::value desired;
  json::value live;  // null when missing
  bool synced = false;
  HealthStatus health;
};

struct ApplicationController::Comparison {
  std::vector<ResourceRow> rows;          // in Git
  std::vector<client::ObjectPtr> extras;  // tracked live objects Git no longer has
  bool synced = true;
};

ApplicationController::ApplicationController(client::Client& client, ApplicationControllerOptions options)
    : client_(client), options_(std::move(options)), loop_("application-controller", [this](const std::string& key) { return reconcile(key); }) {}

ApplicationController::~ApplicationController() { stop(); }

Status ApplicationController::start() {
  applicationType_ = kindOf("argoproj.io/v1alpha1", "Application");
  if (!applicationType_) return Error::unavailable("the Application kind (argoproj.io/v1alpha1) is not served: its definition was not installed");
  // Checkouts a previous run left behind (a crash mid-render) are scratch: start clean.
  std::error_code ignored;
  fs::remove_all(options_.cacheDir / "work", ignored);
  auto cache = RepositoryCache::open(options_.cacheDir / "repositories");
  if (!cache) return cache.error();
  repositories_ = std::move(*cache);
  events_ = std::make_unique<client::EventRecorder>(client_, "argocd-application-controller");
  applications_ = std::make_unique<client::Informer>(client_, *applicationType_);
  applications_->addHandler([this](const std::string&, const client::ObjectPtr& app, const client::ObjectPtr&) { loop_.queue().add(client::keyOf(*app)); });
  if (Status s = applications_->start(); !s) return s;
  loop_.start(options_.workers);
  return {};
}

void ApplicationController::stop() {
  loop_.stop();
  {
    std::lock_guard lock(watchesMutex_);
    for (auto& [key, informer] : watches_) informer->stop();
  }
  if (applications_) applications_->stop();
  events_.reset();
}

const api::ResourceType* ApplicationController::kindOf(const std::string& apiVersion, const std::string& kind) const {
  if (const api::ResourceType* t = api::findByKind(apiVersion, kind)) return t;
  if (!options_.customKinds) return nullptr;
  for (const api::ResourceType* t : options_.customKinds())
    if (t->apiVersion() == apiVersion && t->kind == kind) return t;
  return nullptr;
}

size_t ApplicationController::refreshRepository(const std::string& repoUrl) {
  if (!applications_) return 0;
  std::string wanted = normalizeRepoUrl(repoUrl);
  size_t count = 0;
  for (const auto& object : applications_->list()) {
    auto app = parseApplication(*object);
    if (!app) continue;
    bool onRepo = std::any_of(app->sources.begin(), app->sources.end(), [&](const Source& s) { return normalizeRepoUrl(s.repoURL) == wanted; });
    if (!onRepo) continue;
    std::string key = client::keyOf(*object);
    {
      std::lock_guard lock(mutex_);
      memory_[key].refreshRequested = Clock::now();
    }
    loop_.queue().add(key);
    ++count;
  }
  return count;
}

void ApplicationController::serveWebhook(http::Exchange& exchange) {
  auto secrets = [this] {
    WebhookSecrets s{options_.webhookSecret, options_.webhookSecret, options_.webhookSecret};
    auto secret = client_.get(*api::findByKind("v1", "Secret"), "argocd", "argocd-secret");
    const json::value* data = secret ? api::valueAt(*secret, "data") : nullptr;
    if (!data || !data->is_object()) return s;
    auto read = [&](const char* key, std::string& into) {
      const json::value* v = data->get_object().if_contains(key);
      if (auto decoded = v && v->is_string() ? base64Decode(v->get_string()) : std::nullopt; decoded && !decoded->empty()) into = *decoded;
    };
    read("webhook.github.secret", s.github);
    read("webhook.gitlab.secret", s.gitlab);
    read("webhook.gitea.secret", s.gitea);
    return s;
  };
  gitops::serveWebhook(exchange, secrets, [this](const PushEvent& push) {
    size_t refreshed = 0;
    std::set<std::string> seen;
    for (const auto& url : push.repositoryUrls)
      if (seen.insert(normalizeRepoUrl(url)).second) refreshed += refreshRepository(url);
    log::info("gitops", push.provider + " push to " + (push.repositoryUrls.empty() ? "" : push.repositoryUrls[0]) + " " + push.ref + ": " +
                            std::to_string(refreshed) + " application(s) refreshed");
    return refreshed;
  });
}

// Argo CD's repository Secrets (and credential templates, matched by URL prefix) in the
// Application's namespace.
Credentials ApplicationController::credentialsFor(const std::string& ns, const std::string& repoUrl) {
  const api::ResourceType& secretType = *api::findByKind("v1", "Secret");
  api::ListOptions options;
  if (auto selector = api::LabelSelector::parse("argocd.argoproj.io/secret-type in (repository,repo-creds)"); selector) options.labels = *selector;
  auto secrets = client_.list(secretType, ns, options);
  if (!secrets) return {};
  auto field = [](const json::value& secret, const char* key) -> std::string {
    std::string v = api::stringAt(secret, std::string("data.") + key);
    if (auto decoded = base64Decode(v)) return *decoded;
    return api::stringAt(secret, std::string("stringData.") + key);
  };
  std::string wanted = normalizeRepoUrl(repoUrl);
  Credentials best;
  size_t bestLength = 0;
  for (const auto& secret : secrets->items) {
    std::string url = normalizeRepoUrl(field(secret, "url"));
    bool exact = false;
    const json::value* labels = api::valueAt(secret, "metadata.labels");
    if (labels && labels->is_object())
      if (const json::value* t = labels->get_object().if_contains("argocd.argoproj.io/secret-type"); t && t->is_string())
        exact = t->get_string() == "repository";
    bool matches = exact ? url == wanted : !url.empty() && wanted.starts_with(url);
    size_t length = exact ? std::string::npos : url.size();
    if (matches && (bestLength == 0 || length > bestLength)) {
      best = {field(secret, "username"), field(secret, "password")};
      bestLength = length;
    }
  }
  return best;
}

Result<std::shared_ptr<const ApplicationController::Desired>> ApplicationController::desiredState(const json::value& object, const Application& app,
                                                                                                 const std::string& revisionOverride, bool forceFetch) {
  std::string key = client::keyOf(object);
  auto now = Clock::now();
  Clock::time_point freshAfter;
  {
    std::lock_guard lock(mutex_);
    Memory& m = memory_[key];
    freshAfter = std::max(m.refreshRequested, now - options_.pollInterval);
    if (forceFetch) freshAfter = now;
    if (repositories_->lastFetch(app.sources[0].repoURL) < freshAfter) m.lastPollAttempt = now;
  }
  std::vector<std::string> revisions;
  for (size_t i = 0; i < app.sources.size(); ++i) {
    const Source& source = app.sources[i];
    std::string wanted = i == 0 && !revisionOverride.empty() ? revisionOverride : source.targetRevision;
    auto commit = repositories_->resolve(source.repoURL, wanted, credentialsFor(app.ns, source.repoURL), freshAfter);
    if (!commit) return commit.error();
    revisions.push_back(*commit);
  }
  std::string renderKey = json::serialize(api::valueAt(object, "spec") ? *api::valueAt(object, "spec") : json::value());
  for (const auto& r : revisions) renderKey += "|" + r;
  {
    std::lock_guard lock(mutex_);
    Memory& m = memory_[key];
    if (m.renderKey == renderKey && m.desired) return m.desired;
  }
  auto desired = std::make_shared<Desired>();
  desired->revision = revisions[0];
  for (size_t i = 0; i < app.sources.size(); ++i) {
    auto scratch = ScratchDir::make(options_.cacheDir / "work");
    if (!scratch) return scratch.error();
    if (Status s = repositories_->checkout(app.sources[i].repoURL, revisions[i], scratch->path()); !s) return s.error();
    auto rendering = renderSource(scratch->path(), app.sources[i], RenderContext{app.name, app.destinationNamespace});
    if (!rendering) return rendering.error();
    if (desired->sourceType.empty()) desired->sourceType = rendering->type;
    for (auto& e : rendering->errors) desired->errors.push_back(std::move(e));
    for (auto& r : rendering->objects) {
      json::value& o = r.object;
      const api::ResourceType* type = kindOf(api::stringAt(o, "apiVersion"), api::stringAt(o, "kind"));
      placeObject(o, type ? std::optional<bool>(type->namespaced) : std::nullopt, app);
      desired->objects.push_back(std::move(o));
      desired->types.push_back(type);
    }
  }
  std::lock_guard lock(mutex_);
  Memory& m = memory_[key];
  m.renderKey = renderKey;
  m.desired = desired;
  return std::shared_ptr<const Desired>(desired);
}

void ApplicationController::ensureWatch(const api::ResourceType& type) {
  std::lock_guard lock(watchesMutex_);
  auto& slot = watches_[typeKey(type)];
  if (slot) return;
  client::Informer::Scope scope;
  if (auto selector = api::LabelSelector::parse(kTrackingLabel); selector) scope.labels = *selector;
  slot = std::make_unique<client::Informer>(client_, type, scope);
  // Drift on a managed object enqueues the Applications of that name (selfHeal reacts to it).
  slot->addHandler([this](const std::string&, const client::ObjectPtr& object, const client::ObjectPtr&) {
    const json::value* labels = api::valueAt(*object, "metadata.labels");
    const json::value* owner = labels && labels->is_object() ? labels->get_object().if_contains(kTrackingLabel) : nullptr;
    if (!owner || !owner->is_string() || !applications_) return;
    for (const auto& app : applications_->list())
      if (api::stringAt(*app, "metadata.name") == owner->get_string()) loop_.queue().add(client::keyOf(*app));
  });
  if (Status s = slot->start(); !s) log::warn("gitops", "watching " + type.plural + ": " + s.error().message);
}

// Live objects carrying this Application's tracking label, of every kind it manages now or did
// (status.resources remembers kinds whose objects left Git).
std::vector<client::ObjectPtr> ApplicationController::trackedObjects(const Application& app, const json::value& status) {
  std::set<std::string> kinds;
  if (const json::value* rs = api::valueAt(status, "resources"); rs && rs->is_array())
    for (const auto& r : rs->get_array()) {
      std::string group = api::stringAt(r, "group"), version = api::stringAt(r, "version");
      if (const api::ResourceType* t = kindOf(group.empty() ? version : group + "/" + version, api::stringAt(r, "kind"))) ensureWatch(*t);
    }
  std::vector<client::ObjectPtr> out;
  auto selector = api::LabelSelector::parse(std::string(kTrackingLabel) + "=" + app.name);
  if (!selector) return out;  // an Application name is always a valid label value
  std::lock_guard lock(watchesMutex_);
  for (auto& [key, informer] : watches_)
    for (auto& o : informer->list("", &*selector)) out.push_back(o);
  return out;
}

ApplicationController::Comparison ApplicationController::compare(const Application& app, const Desired& desired, const json::value& status) {
  Comparison c;
  std::set<std::string> inGit;
  for (size_t i = 0; i < desired.objects.size(); ++i) {
    ResourceRow row{desired.types[i], desired.objects[i], nullptr, false, {Health::Missing, ""}};
    inGit.insert(identity(row.desired));
    if (row.type) {
      ensureWatch(*row.type);
      auto live = client_.get(*row.type, api::stringAt(row.desired, "metadata.namespace"), api::stringAt(row.desired, "metadata.name"));
      if (live) {
        row.live = std::move(*live);
        row.synced = diffObjects(row.desired, row.live).empty();
        row.health = assessHealth(row.live);
      }
    } else {
      row.health = {Health::Missing, "the server does not serve " + api::stringAt(row.desired, "apiVersion") + " " + api::stringAt(row.desired, "kind")};
    }
    c.synced = c.synced && row.synced;
    c.rows.push_back(std::move(row));
  }
  for (auto& live : trackedObjects(app, status)) {
    // Objects an owner made (a Deployment's ReplicaSets inherit its labels) are not Git's.
    if (const json::value* refs = api::valueAt(*live, "metadata.ownerReferences"); refs && refs->is_array() && !refs->get_array().empty()) continue;
    json::value id = *live;
    if (!inGit.count(identity(id))) {
      c.extras.push_back(live);
      c.synced = false;
    }
  }
  if (!desired.errors.empty()) c.synced = false;
  return c;
}

namespace {

struct SyncOutcome {
  json::array resources;  // syncResult.resources
  bool failed = false;
  bool waiting = false;   // a wave is not healthy yet; later waves wait
  int waitingWave = 0;
  std::string message;
};

json::object resultEntry(const json::value& o, const std::string& status, const std::string& message) {
  json::object r = resourceRef(o);
  r["status"] = status;
  r["message"] = message;
  r["syncPhase"] = "Sync";
  return r;
}

// Applies what differs wave by wave (a wave starts once the ones before it are healthy), then
// prunes; every object's outcome is recorded, and one failure does not stop the others.
using KindOf = std::function<const api::ResourceType*(const std::string& apiVersion, const std::string& kind)>;

SyncOutcome runSync(client::Client& client, const KindOf& kindOf, std::vector<ResourceRow>& rows,
                    const std::vector<client::ObjectPtr>& extras, bool applyAll, bool prune) {
  SyncOutcome out;
  std::vector<json::value> objects;
  for (const auto& r : rows) objects.push_back(r.desired);
  std::vector<size_t> order = applyOrder(objects);
  api::WriteOptions write;
  write.fieldManager = kFieldManager;
  write.force = true;
  for (size_t at = 0; at < order.size() && !out.waiting;) {
    int wave = syncWave(rows[order[at]].desired);
    size_t end = at;
    while (end < order.size() && syncWave(rows[order[end]].desired) == wave) ++end;
    bool laterWork = false;
    for (size_t j = end; j < order.size(); ++j) laterWork = laterWork || applyAll || !rows[order[j]].synced;
    for (size_t j = at; j < end; ++j) {
      ResourceRow& row = rows[order[j]];
      if (!applyAll && row.synced) continue;
      if (!row.type) {
        out.failed = true;
        out.resources.push_back(resultEntry(row.desired, "SyncFailed", row.health.message));
        continue;
      }
      auto applied = client.patch(*row.type, api::stringAt(row.desired, "metadata.namespace"), api::stringAt(row.desired, "metadata.name"),
                                  api::PatchType::Apply, row.desired, "", write);
      if (!applied) {
        out.failed = true;
        out.resources.push_back(resultEntry(row.desired, "SyncFailed", applied.error().message));
        continue;
      }
      row.live = std::move(*applied);
      row.health = assessHealth(row.live);
      out.resources.push_back(resultEntry(row.desired, "Synced", row.live == nullptr ? "" : "configured"));
    }
    for (size_t j = at; j < end && laterWork; ++j) {
      Health h = rows[order[j]].live.is_null() ? Health::Missing : rows[order[j]].health.status;
      if (h != Health::Healthy && h != Health::Suspended) {
        out.waiting = true;
        out.waitingWave = wave;
      }
    }
    at = end;
  }
  if (out.waiting || !prune) return out;
  for (const auto& live : extras) {
    if (hasSyncOption(*live, "Prune=false")) {
      out.resources.push_back(resultEntry(*live, "PruneSkipped", "ignored (no prune)"));
      continue;
    }
    const api::ResourceType* t = kindOf(api::stringAt(*live, "apiVersion"), api::stringAt(*live, "kind"));
    if (!t) continue;
    auto removed = client.remove(*t, api::stringAt(*live, "metadata.namespace"), api::stringAt(*live, "metadata.name"));
    if (!removed && removed.error().code != 404) {
      out.failed = true;
      out.resources.push_back(resultEntry(*live, "SyncFailed", "prune: " + removed.error().message));
      continue;
    }
    out.resources.push_back(resultEntry(*live, "Pruned", "pruned"));
  }
  return out;
}

}  // namespace

// Poll timers: one pending requeue per Application, due a poll interval after the repository's
// last fetch (or this Application's last attempt, so a failing fetch does not spin).
Requeue ApplicationController::nextPoll(const std::string& key, const std::string& repoUrl) {
  std::lock_guard lock(mutex_);
  Memory& m = memory_[key];
  auto due = std::max(repositories_->lastFetch(repoUrl), m.lastPollAttempt) + options_.pollInterval;
  auto now = Clock::now();
  if (m.pollTimer > now && m.pollTimer <= due + std::chrono::milliseconds(50)) return Requeue::done();
  // Rounded up: a timer that fired a hair early would look pending and end the chain.
  auto delay = std::chrono::ceil<std::chrono::milliseconds>(std::max(due, now + std::chrono::milliseconds(100)) - now) + std::chrono::milliseconds(1);
  m.pollTimer = now + delay;
  return Requeue::in(delay);
}

Result<Requeue> ApplicationController::reconcile(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  client::ObjectPtr object = applications_->get(ns, name);
  if (!object) {
    std::lock_guard lock(mutex_);
    memory_.erase(key);
    return Requeue::done();
  }
  if (api::valueAt(*object, "metadata.deletionTimestamp")) return finalize(object);
  const json::value emptyStatus = json::object();
  const json::value* current = api::valueAt(*object, "status");
  const json::value& oldStatus = current && current->is_object() ? *current : emptyStatus;
  json::object status = oldStatus.as_object();
  auto app = parseApplication(*object);
  if (!app) {
    status["conditions"] = json::array{condition("InvalidSpecError", app.error().message, oldStatus)};
    status["sync"] = json::object{{"status", "Unknown"}};
    status["health"] = json::object{{"status", "Unknown"}};
    if (Status s = writeStatus(object, status, false); !s) return s.error();
    return Requeue::done();
  }
  auto desired = desiredState(*object, *app, app->operation ? app->operation->revision : "", refreshAsked(key, *object));
  if (!desired) {
    reportLoadFailure(*object, *app, desired.error(), oldStatus, status);
    if (Status s = writeStatus(object, status, bool(app->operation)); !s) return s.error();
    return nextPoll(key, app->sources[0].repoURL);
  }
  Comparison comparison = compare(*app, **desired, oldStatus);
  bool running = false;
  if (syncDue(*app, **desired, comparison, oldStatus)) {
    if (Status s = ensureNamespace(*app); !s) return s.error();
    running = syncAndRecord(*object, *app, **desired, comparison, oldStatus, status);
    comparison = compare(*app, **desired, status);  // what the sync left
  }
  reportComparison(*object, **desired, comparison, oldStatus, status);
  // An operation is done (and cleared) once its last wave was applied.
  if (Status s = writeStatus(object, status, app->operation && !running); !s) return s.error();
  if (running || app->operation) return Requeue::in(std::chrono::milliseconds(running ? 500 : 1));
  return nextPoll(key, app->sources[0].repoURL);
}

// A fetch is due beyond polling when the spec changed or the refresh annotation asks for one.
bool ApplicationController::refreshAsked(const std::string& key, const json::value& object) {
  const json::value* g = api::valueAt(object, "metadata.generation");
  int64_t generation = g && g->is_int64() ? g->get_int64() : 0;
  bool changed;
  {
    std::lock_guard lock(mutex_);
    Memory& m = memory_[key];
    changed = m.generation != generation;
    m.generation = generation;
  }
  const json::value* ann = api::valueAt(object, "metadata.annotations");
  return changed || (ann && ann->is_object() && ann->get_object().contains(kRefreshAnnotation));
}

void ApplicationController::reportLoadFailure(const json::value& object, const Application& app, const Error& error, const json::value& oldStatus,
                                              json::object& status) {
  std::string message = "Failed to load target state: " + error.message;
  status["conditions"] = json::array{condition("ComparisonError", message, oldStatus)};
  status["sync"] = json::object{{"status", "Unknown"}, {"revision", api::stringAt(oldStatus, "sync.revision")}};
  if (!status.contains("health")) status["health"] = json::object{{"status", "Unknown"}};
  if (withoutTimestamps(status) != withoutTimestamps(oldStatus)) events_->warning(object, "ComparisonError", message);
  if (app.operation)
    status["operationState"] = json::object{{"phase", "Error"}, {"message", message}, {"startedAt", api::rfc3339Now()}, {"finishedAt", api::rfc3339Now()},
                                            {"operation", *api::valueAt(object, "operation")}};
}

// A sync is due for an operation a client set, or by policy: a revision not synced yet, or
// (selfHeal) drift from the revision that was.
bool ApplicationController::syncDue(const Application& app, const Desired& desired, const Comparison& comparison, const json::value& oldStatus) {
  if (app.operation) return true;
  if (!app.syncPolicy.automated || comparison.synced) return false;
  if (desired.objects.empty() && !app.syncPolicy.allowEmpty) return false;
  return desired.revision != api::stringAt(oldStatus, "operationState.syncResult.revision") || app.syncPolicy.selfHeal;
}

Status ApplicationController::ensureNamespace(const Application& app) {
  if (!app.syncPolicy.createNamespace || app.destinationNamespace.empty()) return {};
  const api::ResourceType& nsType = *api::findByKind("v1", "Namespace");
  if (client_.get(nsType, "", app.destinationNamespace)) return {};
  auto created = client_.create(nsType, "", json::object{{"metadata", json::object{{"name", app.destinationNamespace}}}});
  if (!created && created.error().code != 409) return created.error();
  return {};
}

// Runs the sync and records it as Argo CD does: operationState, an Event, and a history entry
// for a successful sync to a new revision. Returns whether waves are still to come.
bool ApplicationController::syncAndRecord(const json::value& object, const Application& app, const Desired& desired, Comparison& comparison,
                                          const json::value& oldStatus, json::object& status) {
  bool prune = app.operation ? app.operation->prune || app.syncPolicy.prune : app.syncPolicy.prune;
  SyncOutcome outcome = runSync(client_, [this](const std::string& v, const std::string& k) { return kindOf(v, k); }, comparison.rows,
                                comparison.extras, bool(app.operation), prune);
  const std::string& revision = desired.revision;
  std::string phase = outcome.waiting ? "Running" : outcome.failed || !desired.errors.empty() ? "Failed" : "Succeeded";
  std::string message = outcome.waiting ? "waiting for healthy state of wave " + std::to_string(outcome.waitingWave) + " before the next"
                        : outcome.failed ? "one or more objects failed to apply (see syncResult.resources)"
                        : !desired.errors.empty() ? "one or more manifests could not be used: " + desired.errors[0]
                                                  : "successfully synced (all tasks run)";
  json::object operation = app.operation ? api::valueAt(object, "operation")->as_object()
                                         : json::object{{"sync", json::object{{"revision", revision}, {"prune", prune}}},
                                                        {"initiatedBy", json::object{{"automated", true}}}};
  const json::value* source = api::valueAt(object, "spec.source");
  json::object state{{"operation", operation}, {"phase", phase}, {"message", message},
                     {"syncResult", json::object{{"revision", revision}, {"resources", outcome.resources}, {"source", source ? *source : json::value()}}},
                     {"startedAt", api::rfc3339Now()}, {"finishedAt", api::rfc3339Now()}};
  if (outcome.waiting) state.erase("finishedAt");
  // A repeat of the same outcome keeps its times, so an unchanged status is not rewritten.
  const json::value* old = api::valueAt(oldStatus, "operationState");
  if (old && !app.operation && api::stringAt(*old, "phase") == phase && api::stringAt(*old, "message") == message &&
      api::stringAt(*old, "syncResult.revision") == revision) {
    state["startedAt"] = api::stringAt(*old, "startedAt");
    if (!outcome.waiting) state["finishedAt"] = api::stringAt(*old, "finishedAt");
  }
  status["operationState"] = state;
  if (outcome.waiting) return true;
  bool repeat = old && !app.operation && api::stringAt(*old, "syncResult.revision") == revision && api::stringAt(*old, "phase") == phase;
  if (!repeat)
    events_->record(object, phase == "Succeeded" ? "Normal" : "Warning", "OperationCompleted",
                    "Sync operation to " + revision + " " + (phase == "Succeeded" ? "succeeded" : "failed: " + message));
  if (phase == "Succeeded" && !repeat) {
    const json::value* h = api::valueAt(oldStatus, "history");
    json::array history = h && h->is_array() ? h->as_array() : json::array();
    int64_t id = 0;
    for (const auto& entry : history)
      if (const json::value* i = entry.is_object() ? entry.get_object().if_contains("id") : nullptr; i && i->is_int64()) id = std::max(id, i->get_int64() + 1);
    json::object entry{{"id", id}, {"revision", revision}, {"deployedAt", api::rfc3339Now()}, {"deployStartedAt", state["startedAt"]}};
    if (source) entry["source"] = *source;
    history.push_back(entry);
    while (int64_t(history.size()) > app.revisionHistoryLimit) history.erase(history.begin());
    status["history"] = history;
  }
  return false;
}

// status.sync, health, resources, sourceType and conditions from a comparison.
void ApplicationController::reportComparison(const json::value& object, const Desired& desired, const Comparison& comparison,
                                             const json::value& oldStatus, json::object& status) {
  json::array resources;
  Health aggregate = Health::Healthy;
  std::string healthMessage;
  for (const auto& row : comparison.rows) {
    json::object r = resourceRef(row.desired);
    r["status"] = row.synced ? "Synced" : "OutOfSync";
    json::object health{{"status", healthName(row.health.status)}};
    if (!row.health.message.empty()) health["message"] = row.health.message;
    r["health"] = health;
    resources.push_back(r);
    if (worse(aggregate, row.health.status) != aggregate) {
      aggregate = row.health.status;
      healthMessage = row.health.message;
    }
  }
  for (const auto& live : comparison.extras) {
    json::object r = resourceRef(*live);
    r["status"] = "OutOfSync";
    r["requiresPruning"] = true;
    resources.push_back(r);
  }
  json::array conditions;
  if (!desired.errors.empty()) {
    std::string message = "Failed to load target state: ";
    for (size_t i = 0; i < desired.errors.size(); ++i) message += (i ? "; " : "") + desired.errors[i];
    conditions.push_back(condition("ComparisonError", message, oldStatus));
    aggregate = worse(aggregate, Health::Degraded);
    healthMessage = message;
    const json::value* old = api::valueAt(oldStatus, "conditions");
    if (!old || json::serialize(*old) != json::serialize(conditions)) events_->warning(object, "ComparisonError", message);
  }
  for (const auto& row : comparison.rows)
    if (!row.type) conditions.push_back(condition("SyncError", row.health.message, oldStatus));
  if (const json::value* op = status.if_contains("operationState");
      op && api::stringAt(*op, "phase") == "Failed" && api::stringAt(*op, "syncResult.revision") == desired.revision)
    for (const auto& r : api::arrayAt(*op, "syncResult.resources"))
      if (api::stringAt(r, "status") == "SyncFailed")
        conditions.push_back(condition("SyncError", "Failed sync attempt to " + shortRevision(desired.revision) + ": " + api::stringAt(r, "kind") + "/" +
                                                        api::stringAt(r, "name") + ": " + api::stringAt(r, "message"), oldStatus));
  const json::value* source = api::valueAt(object, "spec.source");
  const json::value* destination = api::valueAt(object, "spec.destination");
  status["resources"] = resources;
  status["sync"] = json::object{{"status", comparison.synced ? "Synced" : "OutOfSync"}, {"revision", desired.revision},
                                {"comparedTo", json::object{{"source", source ? *source : json::value()}, {"destination", destination ? *destination : json::value()}}}};
  json::object health{{"status", healthName(aggregate)}};
  if (aggregate != Health::Healthy && !healthMessage.empty()) health["message"] = healthMessage;
  status["health"] = health;
  status["sourceType"] = desired.sourceType;
  if (conditions.empty()) status.erase("conditions");
  else status["conditions"] = conditions;
}

Status ApplicationController::writeStatus(const client::ObjectPtr& object, json::object status, bool clearOperation) {
  const json::value* annotations = api::valueAt(*object, "metadata.annotations");
  bool refreshAsked = annotations && annotations->is_object() && annotations->get_object().contains(kRefreshAnnotation);
  const json::value* old = api::valueAt(*object, "status");
  if (!clearOperation && !refreshAsked && old && withoutTimestamps(*old) == withoutTimestamps(status)) return {};
  status["reconciledAt"] = api::rfc3339Now();
  json::value updated = *object;
  updated.as_object()["status"] = status;
  if (clearOperation) updated.as_object().erase("operation");
  if (refreshAsked) api::metadataOf(updated)["annotations"].as_object().erase(kRefreshAnnotation);
  auto r = client_.update(*applicationType_, api::stringAt(*object, "metadata.namespace"), api::stringAt(*object, "metadata.name"), updated, "");
  if (!r && r.error().code != 404) return r.error();  // a conflict: the newer object is reconciled next
  return {};
}

// Cascading deletion (the resources finalizer): what the Application deployed goes first.
Result<Requeue> ApplicationController::finalize(const client::ObjectPtr& object) {
  std::vector<std::string> finalizers = api::stringsAt(*object, "metadata.finalizers");
  auto ours = std::find_if(finalizers.begin(), finalizers.end(), [](const std::string& f) { return f.starts_with(kResourcesFinalizer); });
  if (ours == finalizers.end()) return Requeue::done();
  Application app;
  app.name = api::stringAt(*object, "metadata.name");
  const json::value emptyStatus = json::object();
  const json::value* status = api::valueAt(*object, "status");
  bool remaining = false;
  for (const auto& live : trackedObjects(app, status ? *status : emptyStatus)) {
    if (const json::value* refs = api::valueAt(*live, "metadata.ownerReferences"); refs && refs->is_array() && !refs->get_array().empty()) continue;
    const api::ResourceType* t = kindOf(api::stringAt(*live, "apiVersion"), api::stringAt(*live, "kind"));
    if (!t) continue;
    auto removed = client_.remove(*t, api::stringAt(*live, "metadata.namespace"), api::stringAt(*live, "metadata.name"));
    if (!removed && removed.error().code != 404) return removed.error();
    remaining = true;
  }
  if (remaining) return Requeue::in(std::chrono::milliseconds(200));  // until the deletions are seen
  json::value updated = *object;
  json::array kept;
  for (const auto& f : finalizers)
    if (!f.starts_with(kResourcesFinalizer)) kept.emplace_back(f);
  api::metadataOf(updated)["finalizers"] = kept;
  auto r = client_.update(*applicationType_, api::stringAt(*object, "metadata.namespace"), api::stringAt(*object, "metadata.name"), updated, "");
  if (!r && r.error().code != 404) return r.error();
  return Requeue::done();
}

}  // namespace skiff::gitops
