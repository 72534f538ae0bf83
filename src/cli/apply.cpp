// skiff apply -f FILE|DIR|- [-R] [-n NS]
//
// Create-or-update with kubectl's client-side apply semantics: the applied manifest is kept in
// the kubectl.kubernetes.io/last-applied-configuration annotation, and an update sends a
// three-way merge patch (fields removed since the last apply are deleted; fields others set,
// such as status or defaults, stay). kubectl and skiff can apply the same objects in turn.
// Unknown or misspelled fields are refused (fieldValidation=Strict), as kubectl's default
// --validate=strict refuses them, rather than silently dropped.
#include <boost/json.hpp>

#include "api/object.h"
#include "api/patch.h"
#include "api/codec.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "cli/manifests.h"

namespace skiff::cli {
namespace json = boost::json;
namespace {

constexpr const char* kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";

void setLastApplied(json::value& object, const std::string& text) {
  json::value& ann = api::metadataOf(object)["annotations"];
  if (!ann.is_object()) ann = json::object();
  ann.get_object()[kLastApplied] = text;
}

std::string lastAppliedOf(const json::value& object) {
  const json::value* ann = api::valueAt(object, "metadata.annotations");
  const json::value* v = ann && ann->is_object() ? ann->get_object().if_contains(kLastApplied) : nullptr;
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

}  // namespace

int runApply(const Args& args) {
  auto specs = commonFlags();
  specs.push_back({"filename", "f", true, true});
  specs.push_back({"kustomize", "k", true});
  specs.push_back({"recursive", "R", false});
  specs.push_back({"dry-run", "", true});
  auto flags = Flags::parse(args, specs);
  if (!flags) return fail(flags.error().message);
  if (flags->has("kustomize") && flags->has("filename")) return fail("-f and -k are exclusive: give one or the other");
  auto manifests = flags->has("kustomize") ? readKustomization(flags->get("kustomize"))
                                           : readManifests(flags->all("filename"), flags->has("recursive"));
  if (!manifests) return fail(manifests.error().message);
  auto ctx = Context::connect(*flags);
  if (!ctx) return fail(ctx.error().message);
  Context& c = **ctx;
  std::string dry = flags->has("dry-run") && flags->get("dry-run") != "none" ? "&dryRun=All" : "";
  int rc = 0;
  for (auto& m : *manifests) {
    json::value& obj = m.object;
    std::string apiVersion = api::stringAt(obj, "apiVersion"), kind = api::stringAt(obj, "kind");
    std::string name = api::stringAt(obj, "metadata.name");
    if (apiVersion.empty() || kind.empty()) {
      std::fprintf(stderr, "error: %s: an object has no %s\n", m.source.c_str(), apiVersion.empty() ? "apiVersion" : "kind");
      rc = 1;
      continue;
    }
    auto res = c.resolveKind(apiVersion, kind);
    if (!res) {
      std::fprintf(stderr, "error: resource mapping not found for name: \"%s\" from \"%s\": %s\n", name.c_str(),
                   m.source.c_str(), res.error().message.c_str());
      rc = 1;
      continue;
    }
    if (name.empty()) {
      std::fprintf(stderr, "error: %s: %s has no metadata.name (apply needs a name; generateName only works with create)\n",
                   m.source.c_str(), kind.c_str());
      rc = 1;
      continue;
    }
    std::string ns = res->namespaced ? api::stringAt(obj, "metadata.namespace") : "";
    if (res->namespaced && ns.empty()) ns = c.namespace_();
    if (res->namespaced && flags->has("namespace") && ns != c.namespace_()) {
      std::fprintf(stderr, "error: the namespace from the provided object \"%s\" does not match the namespace \"%s\". You must pass '--namespace=%s' to perform this operation.\n",
                   ns.c_str(), c.namespace_().c_str(), ns.c_str());
      rc = 1;
      continue;
    }
    // The annotation records the manifest as given (without the annotation itself).
    json::value recorded = obj;
    if (recorded.get_object().contains("metadata")) {
      auto& meta = api::metadataOf(recorded);
      if (auto* ann = meta.if_contains("annotations"); ann && ann->is_object()) {
        ann->get_object().erase(kLastApplied);
        if (ann->get_object().empty()) meta.erase("annotations");
      }
    }
    std::string recordedText = json::serialize(recorded);
    std::string ref = res->displayName() + "/" + name;
    auto live = c.client().request("GET", res->path(ns, name));
    if (!live) return fail(live.error().message);
    if (live->status == 404) {
      json::value toCreate = obj;
      setLastApplied(toCreate, recordedText);
      auto created = c.call("POST", res->path(ns) + "?fieldManager=skiff&fieldValidation=Strict" + dry, json::serialize(toCreate));
      if (!created) {
        std::fprintf(stderr, "Error from server (%s): error when creating \"%s\": %s\n", created.error().reason.c_str(),
                     m.source.c_str(), created.error().message.c_str());
        rc = 1;
        continue;
      }
      std::printf("%s created%s\n", ref.c_str(), dry.empty() ? "" : " (server dry run)");
      continue;
    }
    if (live->status != 200) {
      Error e = errorFromResponse(*live);
      std::fprintf(stderr, "Error from server (%s): %s\n", e.reason.c_str(), e.message.c_str());
      rc = 1;
      continue;
    }
    auto current = api::decodeJson(live->body);
    if (!current) return fail("the server's answer is not JSON");
    json::value lastApplied = json::object();
    std::string lastText = lastAppliedOf(*current);
    if (!lastText.empty())
      if (auto parsed = api::decodeJson(lastText); parsed) lastApplied = std::move(*parsed);
    json::value desired = obj;
    setLastApplied(desired, recordedText);
    json::value patch = api::createThreeWayMergePatch(lastApplied, desired, *current);
    if (patch.get_object().empty()) {
      std::printf("%s unchanged\n", ref.c_str());
      continue;
    }
    auto patched = c.call("PATCH", res->path(ns, name) + "?fieldManager=skiff&fieldValidation=Strict" + dry, json::serialize(patch),
                          "application/merge-patch+json");
    if (!patched) {
      std::fprintf(stderr, "Error from server (%s): error when applying patch to \"%s\": %s\n", patched.error().reason.c_str(),
                   m.source.c_str(), patched.error().message.c_str());
      rc = 1;
      continue;
    }
    bool changed = api::stringAt(*patched, "metadata.resourceVersion") != api::stringAt(*current, "metadata.resourceVersion");
    std::printf("%s %s%s\n", ref.c_str(), changed ? "configured" : "unchanged", dry.empty() ? "" : " (server dry run)");
  }
  return rc;
}

}  // namespace skiff::cli
