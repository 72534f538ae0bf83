// ApplicationController: keeps the cluster equal to what Argo CD Applications point at in Git.
//
// For each Application it resolves the source's revision in the RepositoryCache (fetching when a
// poll is due, a webhook asked, or the spec changed), renders the source (gitops/source_renderer.h),
// compares every rendered object with the live one (gitops/sync_plan.h) and, when a sync is due
// (automated on a new revision, selfHeal on drift, or an operation a client set), applies the
// objects that differ with server-side apply (field manager argocd-controller, tracking label
// app.kubernetes.io/instance) wave by wave, prunes what Git no longer has, and writes status as
// Argo CD does (sync, health, resources, operationState, history, conditions).
//
// Drift is seen through watches: every kind an Application manages gets an informer on objects
// carrying the tracking label, and a change enqueues the owning Application — no periodic diff.
//
// Threading: informer handlers and refresh() only enqueue; reconcile runs on the loop's workers,
// one key at a time; the per-Application memory (fetch times, last rendering) sits under mutex_.
#pragma once
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "api/resources.h"
#include "client/event_recorder.h"
#include "client/informer.h"
#include "controller/reconcile_loop.h"
#include "gitops/application.h"
#include "gitops/repository_cache.h"
#include "gitops/source_renderer.h"
#include "gitops/sync_plan.h"
#include "http/http.h"

namespace skiff::gitops {

struct ApplicationControllerOptions {
  std::filesystem::path cacheDir;  // repositories and checkouts (0700)
  // How often each Application's repository is fetched without a webhook (Argo CD: 120 s + jitter).
  std::chrono::milliseconds pollInterval{180000};
  // The kinds CustomResourceDefinitions serve now (the built-in ones are known); null = none.
  std::function<std::vector<const api::ResourceType*>()> customKinds;
  int workers = 2;
  // The push webhook's secret for every provider (--gitops-webhook-secret); Argo CD's Secret
  // argocd/argocd-secret (webhook.github.secret, webhook.gitlab.secret, webhook.gitea.secret)
  // is read too and wins per provider.
  std::string webhookSecret;
};

class ApplicationController {
 public:
  ApplicationController(client::Client& client, ApplicationControllerOptions options);
  ~ApplicationController();
  Status start();
  void stop();
  // Refreshes every Application whose source is `repoUrl` now; returns how many.
  size_t refreshRepository(const std::string& repoUrl);
  // /api/webhook (gitops/webhook.h): a verified push refreshes the Applications on its repository.
  void serveWebhook(http::Exchange& exchange);
  Result<controller::Requeue> reconcile(const std::string& key);

 private:
  struct Desired;
  struct Memory;
  struct Comparison;
  Result<std::shared_ptr<const Desired>> desiredState(const boost::json::value& object, const Application& app, const std::string& revisionOverride,
                                                      bool forceFetch);
  Comparison compare(const Application& app, const Desired& desired, const boost::json::value& status);
  void ensureWatch(const api::ResourceType& type);
  std::vector<client::ObjectPtr> trackedObjects(const Application& app, const boost::json::value& status);
  Credentials credentialsFor(const std::string& ns, const std::string& repoUrl);
  // The served kind of apiVersion/kind, built-in or custom; null when not served.
  const api::ResourceType* kindOf(const std::string& apiVersion, const std::string& kind) const;
  bool refreshAsked(const std::string& key, const boost::json::value& object);
  void reportLoadFailure(const boost::json::value& object, const Application& app, const Error& error, const boost::json::value& oldStatus,
                         boost::json::object& status);
  bool syncDue(const Application& app, const Desired& desired, const Comparison& comparison, const boost::json::value& oldStatus);
  Status ensureNamespace(const Application& app);
  bool syncAndRecord(const boost::json::value& object, const Application& app, const Desired& desired, Comparison& comparison,
                     const boost::json::value& oldStatus, boost::json::object& status);
  void reportComparison(const boost::json::value& object, const Desired& desired, const Comparison& comparison, const boost::json::value& oldStatus,
                        boost::json::object& status);
  controller::Requeue nextPoll(const std::string& key, const std::string& repoUrl);
  Result<controller::Requeue> finalize(const client::ObjectPtr& object);
  Status writeStatus(const client::ObjectPtr& object, boost::json::object status, bool clearOperation);

  client::Client& client_;
  ApplicationControllerOptions options_;
  const api::ResourceType* applicationType_ = nullptr;
  std::unique_ptr<RepositoryCache> repositories_;
  std::unique_ptr<client::Informer> applications_;
  std::unique_ptr<client::EventRecorder> events_;
  std::mutex watchesMutex_;
  std::map<std::string, std::unique_ptr<client::Informer>> watches_;  // "group/version/Kind"
  std::mutex mutex_;
  std::map<std::string, Memory> memory_;  // by Application key
  controller::ReconcileLoop loop_;
};

}  // namespace skiff::gitops
