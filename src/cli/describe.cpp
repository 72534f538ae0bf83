// skiff describe KIND NAME | KIND/NAME: the object in readable sections, then its events.
#include <boost/json.hpp>

#include "api/codec.h"
#include "api/object.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "cli/printer.h"

namespace skiff::cli {
namespace json = boost::json;
namespace {

void printMap(const char* title, const json::value* m) {
  std::printf("%-14s", (std::string(title) + ":").c_str());
  if (!m || !m->is_object() || m->get_object().empty()) {
    std::printf("<none>\n");
    return;
  }
  bool first = true;
  for (const auto& kv : m->get_object()) {
    std::string v = kv.value().is_string() ? std::string(kv.value().get_string()) : json::serialize(kv.value());
    if (v.size() > 120) v = v.substr(0, 117) + "...";
    std::printf("%s%s=%s\n", first ? "" : "              ", std::string(kv.key()).c_str(), v.c_str());
    first = false;
  }
}

void printIndented(const std::string& text) {
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::printf("  %s\n", text.substr(start, nl - start).c_str());
    start = nl + 1;
  }
}

std::string capitalise(std::string s) {
  if (!s.empty()) s[0] = char(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

void printSection(const std::string& key, const json::value& v) {
  std::printf("%s:\n", capitalise(key).c_str());
  printIndented(api::toYaml(v));
}

}  // namespace

int runDescribe(const Args& args) {
  auto flags = Flags::parse(args, commonFlags());
  if (!flags) return fail(flags.error().message);
  const auto& pos = flags->positional();
  std::string kind, name;
  if (pos.size() == 1 && pos[0].find('/') != std::string::npos) {
    kind = pos[0].substr(0, pos[0].find('/'));
    name = pos[0].substr(pos[0].find('/') + 1);
  } else if (pos.size() == 2) {
    kind = pos[0];
    name = pos[1];
  } else {
    return fail("usage: skiff describe KIND NAME (or KIND/NAME)");
  }
  auto ctx = Context::connect(*flags);
  if (!ctx) return fail(ctx.error().message);
  Context& c = **ctx;
  auto res = c.resolve(kind);
  if (!res) return fail(res.error().message);
  std::string ns = res->namespaced ? c.namespace_() : "";
  auto obj = c.call("GET", res->path(ns, name));
  if (!obj) {
    std::fprintf(stderr, "Error from server (%s): %s\n", obj.error().reason.c_str(), obj.error().message.c_str());
    return 1;
  }
  std::printf("%-14s%s\n", "Name:", name.c_str());
  if (res->namespaced) std::printf("%-14s%s\n", "Namespace:", ns.c_str());
  printMap("Labels", api::valueAt(*obj, "metadata.labels"));
  printMap("Annotations", api::valueAt(*obj, "metadata.annotations"));
  std::printf("%-14s%s\n", "Created:", api::stringAt(*obj, "metadata.creationTimestamp").c_str());
  if (auto del = api::stringAt(*obj, "metadata.deletionTimestamp"); !del.empty()) std::printf("%-14s%s\n", "Deleting:", del.c_str());
  for (const auto& kv : obj->get_object()) {
    if (kv.key() == "apiVersion" || kv.key() == "kind" || kv.key() == "metadata") continue;
    printSection(std::string(kv.key()), kv.value());
  }
  // Events about this object, as kubectl describe shows them.
  std::string selector = "involvedObject.name=" + name + ",involvedObject.kind=" + res->kind;
  auto events = c.call("GET", "/api/v1" + (ns.empty() ? std::string() : "/namespaces/" + ns) + "/events?fieldSelector=" +
                                  http::percentEncode(selector), "", "",
                       {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}});
  std::printf("Events:");
  if (!events) {
    std::printf("       <unavailable: %s>\n", events.error().message.c_str());
    return 0;
  }
  TablePrinter printer;
  auto rows = printer.rows(*events, true);
  if (rows.size() <= 1) {
    std::printf("       <none>\n");
    return 0;
  }
  std::printf("\n");
  printIndented(TablePrinter::align(rows));
  return 0;
}

}  // namespace skiff::cli
