#include "helm/action.h"

#include <boost/json.hpp>

namespace skiff::helm {
namespace json = boost::json;

namespace {

Clock::time_point deadlineOf(const DeployOptions& o) { return Clock::now() + o.timeout; }

// A rendered revision: the manifest Helm stores, its objects in install order, hooks and notes.
struct Rendered {
  std::string manifest, notes;
  std::vector<KubeObject> objects;
  std::vector<Hook> hooks;
};

LookupFunction lookupThrough(ActionContext& ctx) {
  return [&ctx](const std::string& apiVersion, const std::string& kind, const std::string& ns, const std::string& name) -> Result<Value> {
    auto type = ctx.resolve(apiVersion, kind);
    if (!type.ok()) return Value(json::object());
    std::string scope = type->namespaced ? ns : "";
    if (!name.empty()) {
      auto got = ctx.client.get(*type, scope, name);
      if (!got.ok()) return got.error().code == 404 ? Result<Value>(Value(json::object())) : Result<Value>(got.error());
      return *got;
    }
    auto list = ctx.client.list(*type, scope, {});
    if (!list.ok()) return list.error();
    json::array items;
    for (auto& i : list->items) items.push_back(std::move(i));
    return Value(json::object{{"apiVersion", apiVersion}, {"kind", kind + "List"}, {"items", std::move(items)}});
  };
}

Result<Rendered> render(ActionContext& ctx, const Chart& chart, const Value& values, const std::string& name,
                        const std::string& ns, int revision, bool isUpgrade) {
  ReleaseOptions options;
  options.name = name;
  options.nameSpace = ns;
  options.revision = revision;
  options.isUpgrade = isUpgrade;
  options.lookup = lookupThrough(ctx);
  Rendered out;
  auto manifests = renderChart(chart, values, options, &out.notes);
  if (!manifests.ok()) return manifests.error();
  std::vector<RenderedManifest> plain;
  std::vector<ManifestDocument> hookDocs;
  for (auto& m : *manifests) {
    if (m.hook) hookDocs.push_back({m.source, m.content});
    else plain.push_back(std::move(m));
  }
  out.manifest = formatTemplateOutput(plain);
  auto objects = parseObjects(splitManifest(out.manifest), ns, ctx.resolve);
  if (!objects.ok()) return objects.error();
  out.objects = std::move(*objects);
  auto hooks = parseHooks(hookDocs);
  if (!hooks.ok()) return hooks.error();
  out.hooks = std::move(*hooks);
  return out;
}

Result<std::vector<KubeObject>> objectsOf(ActionContext& ctx, const Release& r) {
  return parseObjects(splitManifest(r.manifest), r.nameSpace, ctx.resolve);
}

// Records a failed revision and hands back the error (with Helm's description on the record).
Error failRelease(ReleaseStorage& storage, Release& r, const Error& e, const std::string& description) {
  r.info.status = ReleaseStatus::Failed;
  r.info.description = description;
  r.info.lastDeployed = now();
  (void)storage.update(r);  // the original error is what the user needs to see
  return e;
}

Status ensureNamespace(ActionContext& ctx, const std::string& ns) {
  const api::ResourceType& type = *api::findByKind("v1", "Namespace");
  auto got = ctx.client.get(type, "", ns);
  if (got.ok()) return {};
  if (got.error().code != 404) return got.error();
  auto created = ctx.client.create(
      type, "", json::object{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", json::object{{"name", ns}, {"labels", json::object{{"name", ns}}}}}});
  if (!created.ok() && created.error().code != 409) return created.error();
  return {};
}

// The chart's crds/ files (its subcharts' too), which Helm creates before rendering on install
// only — never upgraded or deleted with the release — and waits for until established.
std::vector<ManifestDocument> crdDocuments(const Chart& chart, const std::string& path) {
  std::vector<ManifestDocument> docs;
  for (const auto& [name, text] : chart.files) {
    bool yaml = name.size() > 5 && (name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"));
    if (name.rfind("crds/", 0) == 0 && yaml) docs.push_back({path + "/" + name, text});
  }
  for (const auto& sub : chart.dependencies) {
    auto more = crdDocuments(sub, path + "/charts/" + sub.name);
    docs.insert(docs.end(), more.begin(), more.end());
  }
  return docs;
}

Status installCrds(ActionContext& ctx, const Chart& chart, Clock::time_point deadline) {
  std::vector<ManifestDocument> docs;
  for (auto& d : crdDocuments(chart, chart.name))
    for (auto& one : splitManifest(d.content)) docs.push_back({d.source, one.content});
  if (docs.empty()) return {};
  auto crds = parseObjects(docs, "", ctx.resolve);
  if (!crds.ok()) return crds.error();
  Kube kube(ctx.client, ctx.resolve);
  std::vector<KubeObject> created;
  for (const auto& crd : *crds) {
    if (crd.kind != "CustomResourceDefinition") return Error::invalid(crd.source + ": crds/ holds a " + crd.kind + ", not a CustomResourceDefinition");
    auto made = ctx.client.create(crd.type, "", crd.object);
    if (!made.ok() && made.error().code != 409) return Error{made.error().code, made.error().reason, "failed to install CRD " + crd.source + ": " + made.error().message, {}};
    created.push_back(crd);  // an existing one is skipped, as Helm skips it
  }
  return kube.waitReady(created, deadline);
}

// Pre-hooks, the change itself, --wait, post-hooks; the release is marked failed on any error.
Status deploy(ActionContext& ctx, ReleaseStorage& storage, Release& r, const DeployOptions& options, const std::string& pre,
              const std::string& post, const std::function<Status()>& change, const std::vector<KubeObject>& objects) {
  Kube kube(ctx.client, ctx.resolve);
  auto deadline = deadlineOf(options);
  auto failed = [&](const Error& e) -> Status {
    return failRelease(storage, r, e, "Release \"" + r.name + "\" failed: " + e.message);
  };
  if (auto st = kube.runHooks(r, pre, deadline); !st.ok()) return failed(Error{st.error().code, st.error().reason, "failed " + pre + ": " + st.error().message, {}});
  if (auto st = change(); !st.ok()) return failed(st.error());
  if (options.wait)
    if (auto st = kube.waitReady(objects, deadline); !st.ok()) return failed(st.error());
  if (auto st = kube.runHooks(r, post, deadline); !st.ok()) return failed(Error{st.error().code, st.error().reason, "failed " + post + ": " + st.error().message, {}});
  return {};
}

// Helm 3's choice of values for an upgrade: --reuse-values merges the new ones over the last
// release's, --reset-values takes only the new ones, and with neither, no new values means the
// last release's again.
Value upgradeValues(const UpgradeOptions& o, const Release& current) {
  Value last = current.config.is_object() ? current.config : Value(json::object());
  if (o.reuseValues) return coalesceValues(last, o.values);
  if (!o.resetValues && !o.valuesGiven) return last;
  return o.values;
}

}  // namespace

Result<Release> latest(ActionContext& ctx, const std::string& ns, const std::string& name) {
  ReleaseStorage storage(ctx.client);
  auto history = storage.history(ns, name);
  if (!history.ok()) return history.error();
  if (history->empty()) return Error::notFound("release: not found");
  return history->back();
}

Result<Release> install(ActionContext& ctx, const InstallOptions& o) {
  ReleaseStorage storage(ctx.client);
  auto history = storage.history(o.nameSpace, o.name);
  if (!history.ok()) return history.error();
  if (!history->empty()) return Error::conflict("cannot re-use a name that is still in use");
  if (o.createNamespace) {
    if (auto st = ensureNamespace(ctx, o.nameSpace); !st.ok()) return st.error();
  } else if (auto ns = ctx.client.get(*api::findByKind("v1", "Namespace"), "", o.nameSpace); !ns.ok()) {
    if (ns.error().code != 404) return ns.error();
    return Error::notFound("create: failed to create: namespaces \"" + o.nameSpace + "\" not found (add --create-namespace to create it)");
  }
  if (!o.skipCrds)
    if (auto st = installCrds(ctx, *o.chart, deadlineOf(o)); !st.ok()) return st.error();
  auto rendered = render(ctx, *o.chart, o.values, o.name, o.nameSpace, 1, false);
  if (!rendered.ok()) return rendered.error();
  Kube kube(ctx.client, ctx.resolve);
  if (auto st = kube.checkOwnership(rendered->objects, o.name, o.nameSpace, "install"); !st.ok()) return st.error();

  Release r;
  r.name = o.name;
  r.nameSpace = o.nameSpace;
  r.version = 1;
  r.info.firstDeployed = r.info.lastDeployed = now();
  r.info.status = ReleaseStatus::PendingInstall;
  r.info.description = "Initial install underway";
  r.info.notes = rendered->notes;
  r.chart = chartToJson(*o.chart);
  r.config = o.values;
  r.manifest = rendered->manifest;
  r.hooks = rendered->hooks;
  if (auto st = storage.create(r); !st.ok()) return st.error();
  auto change = [&] { return kube.create(rendered->objects, o.name, o.nameSpace); };
  if (auto st = deploy(ctx, storage, r, o, "pre-install", "post-install", change, rendered->objects); !st.ok()) return st.error();
  r.info.status = ReleaseStatus::Deployed;
  r.info.description = "Install complete";
  if (auto st = storage.update(r); !st.ok()) return st.error();
  return r;
}

Result<UpgradeResult> upgrade(ActionContext& ctx, const UpgradeOptions& o) {
  ReleaseStorage storage(ctx.client);
  auto history = storage.history(o.nameSpace, o.name);
  if (!history.ok()) return history.error();
  if (history->empty()) {
    if (!o.install) return Error::notFound("\"" + o.name + "\" has no deployed releases");
    auto installed = install(ctx, o);
    if (!installed.ok()) return installed.error();
    return UpgradeResult{std::move(*installed), true};
  }
  const Release& last = history->back();
  if (last.info.status == ReleaseStatus::PendingInstall || last.info.status == ReleaseStatus::PendingUpgrade ||
      last.info.status == ReleaseStatus::PendingRollback)
    return Error::conflict("another operation (install/upgrade/rollback) is in progress");
  // The revision the cluster holds: the newest deployed one, else the newest (a failed install).
  Release current = last;
  for (const auto& r : *history)
    if (r.info.status == ReleaseStatus::Deployed) current = r;
  if (current.info.status != ReleaseStatus::Deployed && current.info.status != ReleaseStatus::Failed)
    return Error::notFound("\"" + o.name + "\" has no deployed releases");

  Value values = upgradeValues(o, current);

  int revision = last.version + 1;
  auto rendered = render(ctx, *o.chart, values, o.name, o.nameSpace, revision, true);
  if (!rendered.ok()) return rendered.error();
  auto original = objectsOf(ctx, current);
  if (!original.ok()) return original.error();
  UpgradePlan plan = planUpgrade(*original, rendered->objects);
  Kube kube(ctx.client, ctx.resolve);
  if (auto st = kube.checkOwnership(plan.created(), o.name, o.nameSpace, "update"); !st.ok()) return st.error();

  Release r;
  r.name = o.name;
  r.nameSpace = o.nameSpace;
  r.version = revision;
  r.info.firstDeployed = current.info.firstDeployed;
  r.info.lastDeployed = now();
  r.info.status = ReleaseStatus::PendingUpgrade;
  r.info.description = "Preparing upgrade";
  r.info.notes = rendered->notes;
  r.chart = chartToJson(*o.chart);
  r.config = values;
  r.manifest = rendered->manifest;
  r.hooks = rendered->hooks;
  if (auto st = storage.create(r); !st.ok()) return st.error();
  auto change = [&] { return kube.update(plan, o.name, o.nameSpace); };
  Status done = deploy(ctx, storage, r, o, "pre-upgrade", "post-upgrade", change, rendered->objects);
  // Helm supersedes the revision it upgraded from whether or not the upgrade went through
  // (its description stays: history keeps "Install complete" on it).
  if (current.info.status == ReleaseStatus::Deployed) {
    current.info.status = ReleaseStatus::Superseded;
    (void)storage.update(current);
  }
  if (!done.ok()) return done.error();
  r.info.status = ReleaseStatus::Deployed;
  r.info.description = "Upgrade complete";
  if (auto st = storage.update(r); !st.ok()) return st.error();
  if (auto st = storage.prune(o.nameSpace, o.name, o.historyMax); !st.ok()) return st.error();
  return UpgradeResult{std::move(r), false};
}

Result<Release> rollback(ActionContext& ctx, const RollbackOptions& o) {
  ReleaseStorage storage(ctx.client);
  auto history = storage.history(o.nameSpace, o.name);
  if (!history.ok()) return history.error();
  if (history->empty()) return Error::notFound("release: not found");
  const Release& last = history->back();
  int target = o.revision > 0 ? o.revision : last.version - 1;
  if (target < 1) return Error::invalid("release has no previous revision to roll back to (current revision " + std::to_string(last.version) + ")");
  const Release* previous = nullptr;
  for (const auto& r : *history)
    if (r.version == target) previous = &r;
  if (!previous) return Error::notFound("release: not found (revision " + std::to_string(target) + " of \"" + o.name + "\" is not in its history)");
  Release current = last;
  for (const auto& r : *history)
    if (r.info.status == ReleaseStatus::Deployed) current = r;

  auto original = objectsOf(ctx, current);
  if (!original.ok()) return original.error();
  auto wanted = objectsOf(ctx, *previous);
  if (!wanted.ok()) return wanted.error();
  UpgradePlan plan = planUpgrade(*original, *wanted);

  Release r = *previous;
  r.version = last.version + 1;
  r.info.lastDeployed = now();
  r.info.deleted = {};
  r.info.status = ReleaseStatus::PendingRollback;
  r.info.description = "Rollback to " + std::to_string(target);
  if (auto st = storage.create(r); !st.ok()) return st.error();
  Kube kube(ctx.client, ctx.resolve);
  auto change = [&] { return kube.update(plan, o.name, o.nameSpace); };
  Status done = deploy(ctx, storage, r, o, "pre-rollback", "post-rollback", change, *wanted);
  // A rollback supersedes every revision still marked deployed, as Helm's does.
  for (auto& h : *history)
    if (h.info.status == ReleaseStatus::Deployed) {
      h.info.status = ReleaseStatus::Superseded;
      (void)storage.update(h);
    }
  if (!done.ok()) return done.error();
  r.info.status = ReleaseStatus::Deployed;
  if (auto st = storage.update(r); !st.ok()) return st.error();
  if (auto st = storage.prune(o.nameSpace, o.name, o.historyMax); !st.ok()) return st.error();
  return r;
}

Result<UninstallResult> uninstall(ActionContext& ctx, const DeployOptions& o, bool keepHistory) {
  ReleaseStorage storage(ctx.client);
  auto history = storage.history(o.nameSpace, o.name);
  if (!history.ok()) return history.error();
  if (history->empty()) return Error::notFound("uninstall: Release not loaded: " + o.name + ": release: not found");
  UninstallResult out{history->back(), {}};
  Release& r = out.release;
  if (r.info.status == ReleaseStatus::Uninstalled) {
    if (keepHistory) return Error::conflict("release \"" + o.name + "\" is already uninstalled (its history is kept; uninstall without --keep-history purges it)");
  } else {
    r.info.status = ReleaseStatus::Uninstalling;
    r.info.deleted = now();
    r.info.description = "Deletion in progress (or silently failed)";
    if (auto st = storage.update(r); !st.ok()) return st.error();
    Kube kube(ctx.client, ctx.resolve);
    auto deadline = deadlineOf(o);
    if (auto st = kube.runHooks(r, "pre-delete", deadline); !st.ok()) return Error{st.error().code, st.error().reason, "failed pre-delete: " + st.error().message, {}};
    auto objects = objectsOf(ctx, r);
    if (!objects.ok()) return objects.error();
    sortByKind(*objects, uninstallOrder());
    if (auto st = kube.remove(*objects, out.kept); !st.ok()) return st.error();
    if (auto st = kube.runHooks(r, "post-delete", deadline); !st.ok()) return Error{st.error().code, st.error().reason, "failed post-delete: " + st.error().message, {}};
    r.info.status = ReleaseStatus::Uninstalled;
    r.info.description = "Uninstallation complete";
  }
  if (keepHistory) {
    if (auto st = storage.update(r); !st.ok()) return st.error();
    return out;
  }
  for (const auto& rev : *history)
    if (auto st = storage.remove(o.nameSpace, o.name, rev.version); !st.ok()) return st.error();
  return out;
}

Result<Release> test(ActionContext& ctx, const DeployOptions& o) {
  auto r = latest(ctx, o.nameSpace, o.name);
  if (!r.ok()) return r.error();
  Kube kube(ctx.client, ctx.resolve);
  Status ran = kube.runHooks(*r, "test", deadlineOf(o));
  ReleaseStorage storage(ctx.client);
  if (auto st = storage.update(*r); !st.ok()) return st.error();
  if (!ran.ok()) return ran.error();
  return r;
}

}  // namespace skiff::helm
