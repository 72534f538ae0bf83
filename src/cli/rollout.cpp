// skiff rollout status|history|undo|pause|resume|restart KIND/NAME, and skiff scale.
// Implemented as kubectl does: on the Deployment and its ReplicaSets through the API.
#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "api/object.h"
#include "cli/commands.h"
#include "cli/context.h"

namespace skiff::cli {
namespace json = boost::json;
namespace {

struct Target {
  Resource resource;
  std::string name;
};

Result<Target> target(Context& c, const std::vector<std::string>& pos, size_t at) {
  if (pos.size() <= at) return Error::badRequest("name the deployment: deployment/NAME (or deploy NAME)");
  std::string kind, name;
  if (pos[at].find('/') != std::string::npos) {
    kind = pos[at].substr(0, pos[at].find('/'));
    name = pos[at].substr(pos[at].find('/') + 1);
  } else if (pos.size() > at + 1) {
    kind = pos[at];
    name = pos[at + 1];
  } else {
    return Error::badRequest("name the deployment: deployment/NAME (or deploy NAME)");
  }
  auto res = c.resolve(kind);
  if (!res) return res.error();
  if (res->kind != "Deployment") return Error::badRequest("rollout works on deployments, not " + res->plural);
  return Target{*res, name};
}

int64_t num(const json::value& o, const char* path) {
  const json::value* v = api::valueAt(o, path);
  return v && v->is_int64() ? v->get_int64() : 0;
}

std::vector<json::value> ownedReplicaSets(Context& c, const json::value& deploy) {
  std::vector<json::value> out;
  std::string ns = api::stringAt(deploy, "metadata.namespace");
  auto list = c.call("GET", "/apis/apps/v1/namespaces/" + ns + "/replicasets");
  if (!list) return out;
  std::string uid = api::stringAt(deploy, "metadata.uid");
  if (const json::value* items = api::valueAt(*list, "items"); items && items->is_array())
    for (const auto& rs : items->get_array())
      if (const json::value* refs = api::valueAt(rs, "metadata.ownerReferences"); refs && refs->is_array())
        for (const auto& r : refs->get_array())
          if (api::stringAt(r, "uid") == uid) out.push_back(rs);
  return out;
}

int64_t revisionOf(const json::value& rs) {
  const json::value* ann = api::valueAt(rs, "metadata.annotations");
  const json::value* v = ann && ann->is_object() ? ann->get_object().if_contains("deployment.kubernetes.io/revision") : nullptr;
  return v && v->is_string() ? std::atoll(std::string(v->get_string()).c_str()) : 0;
}

int status(Context& c, const Target& t, long timeoutSeconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
  std::string last;
  while (true) {
    auto d = c.call("GET", t.resource.path(c.namespace_(), t.name));
    if (!d) return fail(d.error().message);
    int64_t want = api::valueAt(*d, "spec.replicas") ? num(*d, "spec.replicas") : 1;
    int64_t updated = num(*d, "status.updatedReplicas"), replicas = num(*d, "status.replicas");
    int64_t available = num(*d, "status.availableReplicas");
    std::string msg;
    bool observed = num(*d, "status.observedGeneration") >= num(*d, "metadata.generation");
    if (const json::value* conds = api::valueAt(*d, "status.conditions"); conds && conds->is_array())
      for (const auto& cond : conds->get_array())
        if (api::stringAt(cond, "reason") == "ProgressDeadlineExceeded")
          return fail("deployment \"" + t.name + "\" exceeded its progress deadline");
    if (!observed) msg = "Waiting for deployment spec update to be observed...";
    else if (updated < want)
      msg = "Waiting for deployment \"" + t.name + "\" rollout to finish: " + std::to_string(updated) + " out of " + std::to_string(want) + " new replicas have been updated...";
    else if (replicas > updated)
      msg = "Waiting for deployment \"" + t.name + "\" rollout to finish: " + std::to_string(replicas - updated) + " old replicas are pending termination...";
    else if (available < updated)
      msg = "Waiting for deployment \"" + t.name + "\" rollout to finish: " + std::to_string(available) + " of " + std::to_string(updated) + " updated replicas are available...";
    else {
      std::printf("deployment \"%s\" successfully rolled out\n", t.name.c_str());
      return 0;
    }
    if (msg != last) std::printf("%s\n", msg.c_str());
    std::fflush(stdout);
    last = msg;
    if (std::chrono::steady_clock::now() > deadline) return fail("timed out waiting for the rollout of \"" + t.name + "\"");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

int runRollout(const Args& args) {
  auto specs = commonFlags();
  specs.push_back({"to-revision", "", true});
  specs.push_back({"timeout", "", true});
  auto flags = Flags::parse(args, specs);
  if (!flags) return fail(flags.error().message);
  const auto& pos = flags->positional();
  if (pos.empty()) return fail("usage: skiff rollout status|history|undo|pause|resume|restart deployment/NAME");
  auto ctx = Context::connect(*flags);
  if (!ctx) return fail(ctx.error().message);
  Context& c = **ctx;
  auto t = target(c, pos, 1);
  if (!t) return fail(t.error().message);
  std::string path = t->resource.path(c.namespace_(), t->name);
  std::string verb = pos[0];
  std::string ref = t->resource.displayName() + "/" + t->name;
  auto mergePatch = [&](const json::value& patch) { return c.call("PATCH", path, json::serialize(patch), "application/merge-patch+json"); };
  if (verb == "status") {
    std::string timeout = flags->get("timeout", "300");
    return status(c, *t, std::atol(timeout.c_str()));
  }
  auto d = c.call("GET", path);
  if (!d) return fail(d.error().message);
  if (verb == "history") {
    auto rss = ownedReplicaSets(c, *d);
    std::sort(rss.begin(), rss.end(), [](const json::value& a, const json::value& b) { return revisionOf(a) < revisionOf(b); });
    std::printf("%s\nREVISION  CHANGE-CAUSE\n", ref.c_str());
    for (const auto& rs : rss) {
      const json::value* ann = api::valueAt(rs, "metadata.annotations");
      const json::value* cause = ann && ann->is_object() ? ann->get_object().if_contains("kubernetes.io/change-cause") : nullptr;
      std::printf("%-9lld %s\n", (long long)revisionOf(rs), cause && cause->is_string() ? std::string(cause->get_string()).c_str() : "<none>");
    }
    return 0;
  }
  if (verb == "pause" || verb == "resume") {
    bool pause = verb == "pause";
    const json::value* p = api::valueAt(*d, "spec.paused");
    if ((p && p->is_bool() && p->get_bool()) == pause) return fail(ref + " is " + (pause ? "already paused" : "not paused"));
    auto r = mergePatch(json::object{{"spec", json::object{{"paused", pause}}}});
    if (!r) return fail(r.error().message);
    std::printf("%s %s\n", ref.c_str(), pause ? "paused" : "resumed");
    return 0;
  }
  if (verb == "restart") {
    auto r = mergePatch(json::object{{"spec", json::object{{"template", json::object{{"metadata", json::object{
                                                     {"annotations", json::object{{"kubectl.kubernetes.io/restartedAt", api::rfc3339Now()}}}}}}}}}});
    if (!r) return fail(r.error().message);
    std::printf("%s restarted\n", ref.c_str());
    return 0;
  }
  if (verb == "undo") {
    auto rss = ownedReplicaSets(c, *d);
    std::sort(rss.begin(), rss.end(), [](const json::value& a, const json::value& b) { return revisionOf(a) > revisionOf(b); });
    int64_t want = std::atoll(flags->get("to-revision", "0").c_str());
    const json::value* chosen = nullptr;
    if (want > 0) {
      for (const auto& rs : rss)
        if (revisionOf(rs) == want) chosen = &rs;
      if (!chosen) return fail("unable to find the specified revision " + std::to_string(want));
    } else {
      if (rss.size() < 2) return fail("no rollout history found for " + ref);
      chosen = &rss[1];  // the one before the current
    }
    json::value templ = api::valueAt(*chosen, "spec.template") ? *api::valueAt(*chosen, "spec.template") : json::value();
    if (auto* labels = templ.is_object() && templ.get_object().if_contains("metadata") ? templ.get_object()["metadata"].get_object().if_contains("labels") : nullptr;
        labels && labels->is_object())
      labels->get_object().erase("pod-template-hash");
    json::value patch = json::array{json::object{{"op", "replace"}, {"path", "/spec/template"}, {"value", templ}}};
    auto r = c.call("PATCH", path, json::serialize(patch), "application/json-patch+json");
    if (!r) return fail(r.error().message);
    std::printf("%s rolled back\n", ref.c_str());
    return 0;
  }
  return fail("unknown rollout command \"" + verb + "\": use status, history, undo, pause, resume or restart");
}

int runScale(const Args& args) {
  auto specs = commonFlags();
  specs.push_back({"replicas", "", true});
  auto flags = Flags::parse(args, specs);
  if (!flags) return fail(flags.error().message);
  if (!flags->has("replicas")) return fail("--replicas=COUNT is required");
  char* end = nullptr;
  long n = std::strtol(flags->get("replicas").c_str(), &end, 10);
  if (*end || n < 0) return fail("--replicas must be a non-negative integer");
  auto ctx = Context::connect(*flags);
  if (!ctx) return fail(ctx.error().message);
  Context& c = **ctx;
  const auto& pos = flags->positional();
  if (pos.empty()) return fail("usage: skiff scale deployment/NAME --replicas=N");
  std::string kind, name;
  if (pos[0].find('/') != std::string::npos) {
    kind = pos[0].substr(0, pos[0].find('/'));
    name = pos[0].substr(pos[0].find('/') + 1);
  } else if (pos.size() > 1) {
    kind = pos[0];
    name = pos[1];
  } else {
    return fail("usage: skiff scale deployment/NAME --replicas=N");
  }
  auto res = c.resolve(kind);
  if (!res) return fail(res.error().message);
  auto r = c.call("PATCH", res->path(c.namespace_(), name) + "/scale",
                  json::serialize(json::object{{"spec", json::object{{"replicas", n}}}}), "application/merge-patch+json");
  if (!r) return fail(r.error().message);
  std::printf("%s/%s scaled\n", res->displayName().c_str(), name.c_str());
  return 0;
}

}  // namespace skiff::cli
