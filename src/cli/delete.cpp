// skiff delete -f FILE|DIR|-  |  skiff delete KIND NAME... | KIND -l SELECTOR | KIND --all
#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "api/object.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "cli/manifests.h"

namespace skiff::cli {
namespace json = boost::json;

namespace {

struct Target {
  Resource resource;
  std::string ns, name;
};

// Waits until the object is gone, as kubectl does by default; objects held by finalizers or a
// grace period may take a while.
// Gone means that object (by uid): a controller may already have made a new one of that name, as a
// StatefulSet does, and kubectl does not wait for that one either.
bool waitGone(Context& c, const Target& t, const std::string& uid, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = c.client().request("GET", t.resource.path(t.ns, t.name));
    if (r && r->status == 404) return true;
    if (r && r->status == 200 && !uid.empty()) {
      boost::system::error_code ec;
      auto obj = boost::json::parse(r->body, ec);
      if (!ec && api::stringAt(obj, "metadata.uid") != uid) return true;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(500));
  }
  return false;
}

}  // namespace

int runDelete(const Args& args) {
  auto specs = commonFlags();
  specs.push_back({"filename", "f", true, true});
  specs.push_back({"recursive", "R", false});
  specs.push_back({"selector", "l", true});
  specs.push_back({"all", "", false});
  specs.push_back({"wait", "", true});
  specs.push_back({"timeout", "", true});
  specs.push_back({"grace-period", "", true});
  specs.push_back({"ignore-not-found", "", false});
  specs.push_back({"now", "", false});
  auto flags = Flags::parse(args, specs);
  if (!flags) return fail(flags.error().message);
  auto ctx = Context::connect(*flags);
  if (!ctx) return fail(ctx.error().message);
  Context& c = **ctx;
  std::vector<Target> targets;
  if (flags->has("filename")) {
    auto manifests = readManifests(flags->all("filename"), flags->has("recursive"));
    if (!manifests) return fail(manifests.error().message);
    for (auto& m : *manifests) {
      auto res = c.resolveKind(api::stringAt(m.object, "apiVersion"), api::stringAt(m.object, "kind"));
      if (!res) return fail(res.error().message);
      std::string ns = res->namespaced ? api::stringAt(m.object, "metadata.namespace") : "";
      if (res->namespaced && ns.empty()) ns = c.namespace_();
      targets.push_back({*res, ns, api::stringAt(m.object, "metadata.name")});
    }
  } else {
    const auto& pos = flags->positional();
    if (pos.empty()) return fail("you must provide one or more resources by argument or filename (skiff delete KIND NAME, or -f FILE)");
    if (pos[0].find('/') != std::string::npos) {
      for (const auto& p : pos) {
        auto slash = p.find('/');
        auto res = c.resolve(p.substr(0, slash));
        if (!res) return fail(res.error().message);
        targets.push_back({*res, res->namespaced ? c.namespace_() : "", p.substr(slash + 1)});
      }
    } else {
      auto res = c.resolve(pos[0]);
      if (!res) return fail(res.error().message);
      std::string ns = res->namespaced ? c.namespace_() : "";
      if (pos.size() == 1) {
        if (!flags->has("selector") && !flags->has("all"))
          return fail("resource(s) were provided, but no name was specified (name them, or use -l SELECTOR or --all)");
        std::string q = flags->has("selector") ? "?labelSelector=" + http::percentEncode(flags->get("selector")) : "";
        auto list = c.call("GET", res->path(ns) + q);
        if (!list) return fail(list.error().message);
        if (const json::value* items = api::valueAt(*list, "items"); items && items->is_array())
          for (const auto& item : items->get_array()) targets.push_back({*res, ns, api::stringAt(item, "metadata.name")});
        if (targets.empty()) std::fprintf(stderr, "No resources found\n");
      } else {
        for (size_t i = 1; i < pos.size(); ++i) targets.push_back({*res, ns, pos[i]});
      }
    }
  }
  bool wait = flags->get("wait", "true") != "false";
  long timeoutSeconds = std::atol(flags->get("timeout", "60").c_str());
  std::string grace = flags->has("now") ? "1" : flags->get("grace-period");
  int rc = 0;
  for (const auto& t : targets) {
    std::string target = t.resource.path(t.ns, t.name);
    if (!grace.empty()) target += "?gracePeriodSeconds=" + http::percentEncode(grace);
    auto r = c.call("DELETE", target, R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"})");
    if (!r) {
      if (r.error().code == 404 && flags->has("ignore-not-found")) continue;
      std::fprintf(stderr, "Error from server (%s): %s\n", r.error().reason.c_str(), r.error().message.c_str());
      rc = 1;
      continue;
    }
    std::printf("%s \"%s\" deleted\n", t.resource.displayName().c_str(), t.name.c_str());
    std::fflush(stdout);
    if (wait && api::valueAt(*r, "metadata.deletionTimestamp") && !waitGone(c, t, api::stringAt(*r, "metadata.uid"), std::chrono::seconds(timeoutSeconds))) {
      std::fprintf(stderr, "error: timed out waiting for %s \"%s\" to go away (finalizers or a grace period hold it)\n",
                   t.resource.displayName().c_str(), t.name.c_str());
      rc = 1;
    }
  }
  return rc;
}

}  // namespace skiff::cli
