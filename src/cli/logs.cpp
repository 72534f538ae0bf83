// skiff logs POD|KIND/NAME [-c CONTAINER] [-f] [--previous] [--tail N], or -l SELECTOR for every matching pod.
#include <algorithm>
#include <boost/json.hpp>

#include "api/object.h"
#include "cli/commands.h"
#include "cli/context.h"

namespace skiff::cli {
namespace json = boost::json;

int runLogs(const Args& args) {
  auto specs = commonFlags();
  specs.push_back({"container", "c", true});
  specs.push_back({"follow", "f", false});
  specs.push_back({"previous", "p", false});
  specs.push_back({"tail", "", true});
  specs.push_back({"selector", "l", true});
  auto flags = Flags::parse(args, specs);
  if (!flags) return fail(flags.error().message);
  auto ctx = Context::connect(*flags);
  if (!ctx) return fail(ctx.error().message);
  Context& c = **ctx;
  std::vector<std::string> pods;
  if (flags->has("selector")) {
    auto list = c.call("GET", "/api/v1/namespaces/" + c.namespace_() + "/pods?labelSelector=" + http::percentEncode(flags->get("selector")));
    if (!list) return fail(list.error().message);
    if (const auto* items = api::valueAt(*list, "items"); items && items->is_array())
      for (const auto& i : items->get_array()) pods.push_back(api::stringAt(i, "metadata.name"));
    if (pods.empty()) return fail("no pods match " + flags->get("selector"));
  } else {
    if (flags->positional().empty()) return fail("usage: skiff logs POD|KIND/NAME [-c CONTAINER] [-f] [--previous]");
    std::string p = flags->positional()[0];
    auto slash = p.find('/');
    if (slash == std::string::npos || p.starts_with("pod/") || p.starts_with("pods/") || p.starts_with("po/")) {
      pods.push_back(slash == std::string::npos ? p : p.substr(slash + 1));
    } else {
      // KIND/NAME (deploy/web, job/x, svc/y): one of the pods its selector picks, as kubectl does.
      auto res = c.resolve(p.substr(0, slash));
      if (!res) return fail(res.error().message);
      auto owner = c.call("GET", res->path(c.namespace_(), p.substr(slash + 1)));
      if (!owner) return fail(owner.error().message);
      const json::value* labels = api::valueAt(*owner, "spec.selector.matchLabels");
      if (!labels && res->kind == "Service") labels = api::valueAt(*owner, "spec.selector");
      if (!labels || !labels->is_object() || labels->get_object().empty())
        return fail(p + " has no pod selector to find its pods by; name a pod");
      std::string selector;
      for (const auto& kv : labels->get_object())
        if (kv.value().is_string()) selector += (selector.empty() ? "" : ",") + std::string(kv.key()) + "=" + std::string(kv.value().get_string());
      auto list = c.call("GET", "/api/v1/namespaces/" + c.namespace_() + "/pods?labelSelector=" + http::percentEncode(selector));
      if (!list) return fail(list.error().message);
      std::vector<std::string> found;
      if (const auto* items = api::valueAt(*list, "items"); items && items->is_array())
        for (const auto& i : items->get_array())
          if (!api::valueAt(i, "metadata.deletionTimestamp")) found.push_back(api::stringAt(i, "metadata.name"));
      if (found.empty()) return fail("no pods of " + p + " to show logs of (selector " + selector + ")");
      std::sort(found.begin(), found.end());
      if (found.size() > 1) std::fprintf(stderr, "Found %zu pods, using pod/%s\n", found.size(), found.front().c_str());
      pods.push_back(found.front());
    }
  }
  std::string q = "?";
  if (flags->has("container")) q += "container=" + http::percentEncode(flags->get("container")) + "&";
  if (flags->has("previous")) q += "previous=true&";
  if (flags->has("tail")) q += "tailLines=" + http::percentEncode(flags->get("tail")) + "&";
  int rc = 0;
  for (const auto& pod : pods) {
    std::string path = "/api/v1/namespaces/" + c.namespace_() + "/pods/" + http::percentEncode(pod) + "/log" + q;
    if (flags->has("follow") && pods.size() == 1) {
      auto st = c.client().stream(path + "follow=true", {}, [](std::string_view data) {
        std::fwrite(data.data(), 1, data.size(), stdout);
        std::fflush(stdout);
        return true;
      });
      if (!st) return fail(st.error().message);
      continue;
    }
    auto r = c.client().request("GET", path);
    if (!r) return fail(r.error().message);
    if (r->status != 200) {
      std::fprintf(stderr, "Error from server (%s): %s\n", errorFromResponse(*r).reason.c_str(), errorFromResponse(*r).message.c_str());
      rc = 1;
      continue;
    }
    if (pods.size() > 1) {
      size_t start = 0;
      while (start < r->body.size()) {
        size_t nl = r->body.find('\n', start);
        std::printf("[pod/%s] %s\n", pod.c_str(), r->body.substr(start, nl - start).c_str());
        if (nl == std::string::npos) break;
        start = nl + 1;
      }
    } else {
      std::fwrite(r->body.data(), 1, r->body.size(), stdout);
    }
  }
  return rc;
}

}  // namespace skiff::cli
