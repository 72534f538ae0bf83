// skiff app list|get|diff|sync|history|rollback|delete: Argo CD Applications from the command
// line, as the argocd CLI shows and drives them — through the Application objects themselves
// (status to read, the operation field to ask for a sync), so any client sees the same.
#include <stdlib.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "api/codec.h"
#include "api/object.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "cli/printer.h"
#include "common/base64.h"
#include "gitops/application.h"
#include "gitops/repository_cache.h"
#include "gitops/source_renderer.h"
#include "gitops/sync_plan.h"

namespace skiff::cli {
namespace json = boost::json;
namespace fs = std::filesystem;
namespace {

constexpr const char* kUsage =
    "usage: skiff app list | get NAME | diff NAME | sync NAME [--revision R] [--prune] | history NAME | rollback NAME ID | "
    "delete NAME [--cascade=false]   (Applications in namespace argocd unless -n)";

std::string appPath(const std::string& ns, const std::string& name = "") {
  std::string p = ns.empty() ? "/apis/argoproj.io/v1alpha1/applications" : "/apis/argoproj.io/v1alpha1/namespaces/" + ns + "/applications";
  return name.empty() ? p : p + "/" + name;
}

std::string shortRev(const std::string& r) { return r.substr(0, 7); }

std::string syncPolicyText(const json::value& app) {
  const json::value* a = api::valueAt(app, "spec.syncPolicy.automated");
  if (!a || !a->is_object()) return "Manual";
  return api::valueAt(*a, "prune") && api::valueAt(*a, "prune")->is_bool() && api::valueAt(*a, "prune")->get_bool() ? "Auto-Prune" : "Auto";
}

int list(Context& c, const Flags& flags) {
  auto apps = c.call("GET", appPath(flags.has("namespace") ? c.namespace_() : ""));
  if (!apps) return fail(apps.error().message);
  std::vector<std::vector<std::string>> rows{{"NAME", "NAMESPACE", "STATUS", "HEALTH", "SYNCPOLICY", "REVISION", "REPO", "PATH", "TARGET"}};
  for (const auto& a : api::arrayAt(*apps, "items")) {
    std::string sync = api::stringAt(a, "status.sync.status"), health = api::stringAt(a, "status.health.status");
    rows.push_back({api::stringAt(a, "metadata.namespace") + "/" + api::stringAt(a, "metadata.name"), api::stringAt(a, "spec.destination.namespace"),
                    sync.empty() ? "Unknown" : sync, health.empty() ? "Unknown" : health, syncPolicyText(a),
                    shortRev(api::stringAt(a, "status.sync.revision")), api::stringAt(a, "spec.source.repoURL"), api::stringAt(a, "spec.source.path"),
                    api::stringAt(a, "spec.source.targetRevision").empty() ? "HEAD" : api::stringAt(a, "spec.source.targetRevision")});
  }
  if (rows.size() == 1) {
    std::puts("No applications found.");
    return 0;
  }
  std::fputs(TablePrinter::align(rows).c_str(), stdout);
  return 0;
}

int get(Context& c, const std::string& ns, const std::string& name) {
  auto app = c.call("GET", appPath(ns, name));
  if (!app) return fail(app.error().message);
  const json::value& a = *app;
  std::string target = api::stringAt(a, "spec.source.targetRevision").empty() ? "HEAD" : api::stringAt(a, "spec.source.targetRevision");
  std::printf("Name:               %s/%s\n", ns.c_str(), name.c_str());
  std::printf("Project:            %s\n", api::stringAt(a, "spec.project").c_str());
  std::printf("Namespace:          %s\n", api::stringAt(a, "spec.destination.namespace").c_str());
  std::printf("Repo:               %s\n", api::stringAt(a, "spec.source.repoURL").c_str());
  std::printf("Target:             %s\n", target.c_str());
  std::printf("Path:               %s\n", api::stringAt(a, "spec.source.path").c_str());
  std::printf("Source Type:        %s\n", api::stringAt(a, "status.sourceType").c_str());
  std::printf("SyncPolicy:         %s\n", syncPolicyText(a).c_str());
  std::printf("Sync Status:        %s to %s (%s)\n", api::stringAt(a, "status.sync.status").c_str(), target.c_str(),
              shortRev(api::stringAt(a, "status.sync.revision")).c_str());
  std::string healthMessage = api::stringAt(a, "status.health.message");
  std::printf("Health Status:      %s%s\n", api::stringAt(a, "status.health.status").c_str(), healthMessage.empty() ? "" : (" (" + healthMessage + ")").c_str());
  for (const auto& cond : api::arrayAt(a, "status.conditions"))
    std::printf("Condition:          %s: %s\n", api::stringAt(cond, "type").c_str(), api::stringAt(cond, "message").c_str());
  if (const json::value* op = api::valueAt(a, "status.operationState")) {
    std::printf("\nOperation:          Sync\nSync Revision:      %s\nPhase:              %s\nMessage:            %s\n",
                api::stringAt(*op, "syncResult.revision").c_str(), api::stringAt(*op, "phase").c_str(), api::stringAt(*op, "message").c_str());
  }
  std::vector<std::vector<std::string>> rows{{"GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "MESSAGE"}};
  for (const auto& r : api::arrayAt(a, "status.resources")) {
    std::string status = api::stringAt(r, "status");
    const json::value* prune = api::valueAt(r, "requiresPruning");
    if (prune && prune->is_bool() && prune->get_bool()) status += " (requires pruning)";
    rows.push_back({api::stringAt(r, "group"), api::stringAt(r, "kind"), api::stringAt(r, "namespace"), api::stringAt(r, "name"), status,
                    api::stringAt(r, "health.status"), api::stringAt(r, "health.message")});
  }
  std::printf("\n%s", TablePrinter::align(rows).c_str());
  return 0;
}

int history(Context& c, const std::string& ns, const std::string& name) {
  auto app = c.call("GET", appPath(ns, name));
  if (!app) return fail(app.error().message);
  std::vector<std::vector<std::string>> rows{{"ID", "DATE", "REVISION"}};
  for (const auto& h : api::arrayAt(*app, "status.history")) {
    const json::value* id = api::valueAt(h, "id");
    rows.push_back({id && id->is_int64() ? std::to_string(id->get_int64()) : "?", api::stringAt(h, "deployedAt"),
                    api::stringAt(h, "revision")});
  }
  std::fputs(TablePrinter::align(rows).c_str(), stdout);
  return 0;
}

// Asks for a sync (as Argo CD's API server does: the operation field) and waits for its result.
int requestSync(Context& c, const std::string& ns, const std::string& name, json::object patch, const std::string& revision, bool prune,
                std::chrono::seconds timeout) {
  json::object sync{{"prune", prune}};
  if (!revision.empty()) sync["revision"] = revision;
  char* user = std::getenv("USER");
  patch["operation"] = json::object{{"sync", sync}, {"initiatedBy", json::object{{"username", user ? user : "skiff"}}}};
  if (auto r = c.call("PATCH", appPath(ns, name), json::serialize(patch), "application/merge-patch+json"); !r) return fail(r.error().message);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto a = c.call("GET", appPath(ns, name));
    if (!a) return fail(a.error().message);
    if (api::valueAt(*a, "operation")) continue;
    const json::value* op = api::valueAt(*a, "status.operationState");
    if (!op) continue;
    std::string phase = api::stringAt(*op, "phase");
    std::printf("Name:       %s/%s\nRevision:   %s\nPhase:      %s\nMessage:    %s\n", ns.c_str(), name.c_str(),
                api::stringAt(*op, "syncResult.revision").c_str(), phase.c_str(), api::stringAt(*op, "message").c_str());
    return phase == "Succeeded" || phase == "Running" ? 0 : 1;
  }
  return fail("the sync of " + name + " did not finish within " + std::to_string(timeout.count()) + "s; see skiff app get " + name);
}

int rollback(Context& c, const std::string& ns, const std::string& name, const std::string& idText, std::chrono::seconds timeout) {
  auto app = c.call("GET", appPath(ns, name));
  if (!app) return fail(app.error().message);
  std::string revision;
  for (const auto& h : api::arrayAt(*app, "status.history"))
    if (const json::value* id = api::valueAt(h, "id"); id && id->is_int64() && std::to_string(id->get_int64()) == idText) revision = api::stringAt(h, "revision");
  if (revision.empty()) return fail("application " + name + " has no history entry " + idText + "; see skiff app history " + name);
  // As Argo CD's rollback: automated sync would undo it at once, so it is turned off.
  json::object patch{{"spec", json::object{{"syncPolicy", json::object{{"automated", nullptr}}}}}};
  return requestSync(c, ns, name, std::move(patch), revision, false, timeout);
}

int remove(Context& c, const std::string& ns, const std::string& name, bool cascade) {
  auto app = c.call("GET", appPath(ns, name));
  if (!app) return fail(app.error().message);
  if (cascade) {
    json::array finalizers;
    bool present = false;
    for (const auto& f : api::stringsAt(*app, "metadata.finalizers")) {
      finalizers.emplace_back(f);
      present = present || f.starts_with(gitops::kResourcesFinalizer);
    }
    if (!present) {
      finalizers.emplace_back(gitops::kResourcesFinalizer);
      json::object patch{{"metadata", json::object{{"finalizers", finalizers}}}};
      if (auto r = c.call("PATCH", appPath(ns, name), json::serialize(patch), "application/merge-patch+json"); !r) return fail(r.error().message);
    }
  }
  if (auto r = c.call("DELETE", appPath(ns, name)); !r) return fail(r.error().message);
  std::printf("application.argoproj.io \"%s\" deleted\n", name.c_str());
  return 0;
}

// The repository credentials a user could read too (Argo CD's repository Secrets in the
// Application's namespace).
gitops::Credentials credentialsFor(Context& c, const std::string& ns, const std::string& repoUrl) {
  auto secrets = c.call("GET", "/api/v1/namespaces/" + ns + "/secrets?labelSelector=argocd.argoproj.io%2Fsecret-type%3Drepository");
  if (!secrets) return {};
  for (const auto& s : api::arrayAt(*secrets, "items")) {
    auto field = [&](const char* key) { return base64Decode(api::stringAt(s, std::string("data.") + key)).value_or(""); };
    if (gitops::normalizeRepoUrl(field("url")) == gitops::normalizeRepoUrl(repoUrl)) return {field("username"), field("password")};
  }
  return {};
}

// Renders the Application's sources here (a scratch clone) and compares them with the live
// objects, as `argocd app diff` does; exit 1 when they differ.
int diff(Context& c, const std::string& ns, const std::string& name) {
  auto object = c.call("GET", appPath(ns, name));
  if (!object) return fail(object.error().message);
  auto app = gitops::parseApplication(*object);
  if (!app) return fail("application " + name + ": " + app.error().message);
  std::string tmpl = (fs::temp_directory_path() / "skiff-app-diff-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return fail("cannot make a scratch directory in " + fs::temp_directory_path().string());
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{tmpl};
  auto cache = gitops::RepositoryCache::open(fs::path(tmpl) / "repositories");
  if (!cache) return fail(cache.error().message);
  bool differs = false;
  for (size_t i = 0; i < app->sources.size(); ++i) {
    const auto& source = app->sources[i];
    auto commit = (*cache)->resolve(source.repoURL, source.targetRevision, credentialsFor(c, ns, source.repoURL), std::chrono::steady_clock::now());
    if (!commit) return fail(commit.error().message);
    fs::path checkout = fs::path(tmpl) / ("checkout-" + std::to_string(i));
    fs::create_directories(checkout);
    if (Status s = (*cache)->checkout(source.repoURL, *commit, checkout); !s) return fail(s.error().message);
    auto rendering = gitops::renderSource(checkout, source, {app->name, app->destinationNamespace});
    if (!rendering) return fail(rendering.error().message);
    for (const auto& e : rendering->errors) {
      std::printf("===== could not use %s\n", e.c_str());
      differs = true;
    }
    for (auto& r : rendering->objects) {
      auto resource = c.resolveKind(api::stringAt(r.object, "apiVersion"), api::stringAt(r.object, "kind"));
      gitops::placeObject(r.object, resource ? std::optional<bool>(resource->namespaced) : std::nullopt, *app);
      std::string title = api::stringAt(r.object, "kind") + " " + api::stringAt(r.object, "metadata.namespace") + "/" + api::stringAt(r.object, "metadata.name");
      if (!resource) {
        std::printf("===== %s: the server does not serve this kind\n", title.c_str());
        differs = true;
        continue;
      }
      auto live = c.call("GET", resource->path(api::stringAt(r.object, "metadata.namespace"), api::stringAt(r.object, "metadata.name")));
      if (!live) {
        std::printf("===== %s ======\n+ (missing live; Git has it)\n", title.c_str());
        differs = true;
        continue;
      }
      auto drift = gitops::diffObjects(r.object, *live);
      if (drift.empty()) continue;
      differs = true;
      std::printf("===== %s ======\n", title.c_str());
      for (const auto& d : drift)
        std::printf("%s\n- live: %s\n+ git:  %s\n", d.path.c_str(), d.live.is_null() ? "(unset)" : json::serialize(d.live).c_str(),
                    json::serialize(d.desired).c_str());
    }
  }
  return differs ? 1 : 0;
}

}  // namespace

int runApp(const Args& args) {
  auto specs = commonFlags();
  specs.push_back({"revision", "", true});
  specs.push_back({"prune", "", false});
  specs.push_back({"cascade", "", true});
  specs.push_back({"timeout", "", true});
  specs.push_back({"all-namespaces", "A", false});
  auto flags = Flags::parse(args, specs);
  if (!flags) return fail(flags.error().message);
  const auto& pos = flags->positional();
  if (pos.empty()) return fail(kUsage);
  auto context = Context::connect(*flags);
  if (!context) return fail(context.error().message);
  Context& c = **context;
  // Argo CD keeps Applications in its own namespace; -n names another.
  std::string ns = flags->has("namespace") ? c.namespace_() : "argocd";
  std::chrono::seconds timeout(std::atol(flags->get("timeout", "120").c_str()));
  const std::string& verb = pos[0];
  if (verb == "list") return list(c, *flags);
  if (pos.size() < 2) return fail(kUsage);
  const std::string& name = pos[1];
  if (verb == "get") return get(c, ns, name);
  if (verb == "diff") return diff(c, ns, name);
  if (verb == "history") return history(c, ns, name);
  if (verb == "sync") return requestSync(c, ns, name, json::object(), flags->get("revision"), flags->has("prune"), timeout);
  if (verb == "rollback") {
    if (pos.size() < 3) return fail("usage: skiff app rollback NAME ID (IDs from skiff app history NAME)");
    return rollback(c, ns, name, pos[2], timeout);
  }
  if (verb == "delete") return remove(c, ns, name, flags->get("cascade", "true") != "false");
  return fail(kUsage);
}

}  // namespace skiff::cli
