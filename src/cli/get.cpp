// skiff get KIND[,KIND] [NAME...] [-n NS | -A] [-l SELECTOR] [--field-selector S] [-o wide|yaml|json|name] [-w]
#include <boost/json.hpp>
#include <cstdio>

#include "api/codec.h"
#include "api/object.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "cli/printer.h"

namespace skiff::cli {
namespace json = boost::json;
namespace {

const char* kTableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

std::vector<std::string> splitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t c = s.find(',', start);
    if (c == std::string::npos) c = s.size();
    if (c > start) out.push_back(s.substr(start, c - start));
    start = c + 1;
  }
  return out;
}

std::string query(const Flags& f, bool watch, const std::string& rv = "") {
  std::string q;
  auto add = [&](const std::string& k, const std::string& v) { q += (q.empty() ? "?" : "&") + k + "=" + http::percentEncode(v); };
  if (f.has("selector")) add("labelSelector", f.get("selector"));
  if (f.has("field-selector")) add("fieldSelector", f.get("field-selector"));
  if (watch) {
    add("watch", "1");
    if (!rv.empty()) add("resourceVersion", rv);
  }
  return q;
}

void printObjects(const std::string& format, json::array items, bool single) {
  if (format == "name") return;
  // As kubectl (without --show-managed-fields): field ownership is noise in a listing.
  for (auto& item : items)
    if (json::value* meta = item.is_object() ? item.get_object().if_contains("metadata") : nullptr; meta && meta->is_object())
      meta->get_object().erase("managedFields");
  json::value out = single && items.size() == 1
                        ? items[0]
                        : json::value(json::object{{"apiVersion", "v1"}, {"kind", "List"}, {"metadata", {{"resourceVersion", ""}}}, {"items", items}});
  if (format == "json") std::fputs(api::toPrettyJson(out).c_str(), stdout);
  else std::fputs(api::toYaml(out).c_str(), stdout);
}

}  // namespace

int runGet(const Args& args) {
  auto specs = commonFlags();
  specs.push_back({"all-namespaces", "A", false});
  specs.push_back({"selector", "l", true});
  specs.push_back({"field-selector", "", true});
  specs.push_back({"output", "o", true});
  specs.push_back({"watch", "w", false});
  specs.push_back({"no-headers", "", false});
  auto flags = Flags::parse(args, specs);
  if (!flags) return fail(flags.error().message);
  if (flags->positional().empty())
    return fail("you must specify the type of resource to get, e.g. `skiff get pods` or `skiff get deploy web`");
  std::string format = flags->get("output");
  if (!format.empty() && format != "wide" && format != "yaml" && format != "json" && format != "name")
    return fail("unknown output format \"" + format + "\": use wide, yaml, json or name");
  auto ctx = Context::connect(*flags);
  if (!ctx) return fail(ctx.error().message);
  Context& c = **ctx;
  bool allNs = flags->has("all-namespaces");
  std::vector<std::string> kinds;
  std::vector<std::string> names(flags->positional().begin() + 1, flags->positional().end());
  // kind/name form: skiff get pod/web deploy/api
  if (flags->positional()[0].find('/') != std::string::npos) {
    names.clear();
    for (const auto& p : flags->positional()) {
      auto slash = p.find('/');
      if (slash == std::string::npos) return fail("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form");
      kinds.push_back(p.substr(0, slash));
      names.push_back(p.substr(slash + 1));
    }
  } else {
    kinds = splitComma(flags->positional()[0]);
  }
  bool slashForm = !names.empty() && kinds.size() == names.size() && flags->positional()[0].find('/') != std::string::npos;
  // A category (`all`, or one a custom kind declares) stands for its kinds, as in kubectl.
  bool fromCategory = false;
  if (!slashForm) {
    std::vector<std::string> expanded;
    for (const auto& k : kinds) {
      std::vector<Resource> members = c.resolve(k) ? std::vector<Resource>{} : c.category(k);
      if (members.empty()) expanded.push_back(k);
      fromCategory = fromCategory || !members.empty();
      for (const auto& m : members) expanded.push_back(m.group.empty() ? m.plural : m.plural + "." + m.group);
    }
    kinds = std::move(expanded);
  }
  int rc = 0;
  json::array collected;
  bool printedAny = false;
  for (size_t k = 0; k < kinds.size(); ++k) {
    auto res = c.resolve(kinds[k]);
    if (!res) return fail(res.error().message);
    std::string ns = res->namespaced && !allNs ? c.namespace_() : "";
    TablePrinter printer;
    printer.wide = format == "wide";
    printer.withNamespace = allNs && res->namespaced;
    printer.noHeaders = flags->has("no-headers");
    std::vector<std::string> targets = slashForm ? std::vector<std::string>{names[k]} : names;
    auto emitName = [&](const json::value& obj) {
      std::printf("%s/%s\n", res->displayName().c_str(), api::stringAt(obj, "metadata.name").c_str());
    };
    std::string listRv;
    if (targets.empty()) {
      if (format.empty() || format == "wide") {
        auto table = c.call("GET", res->path(ns) + query(*flags, false), "", "", {{"Accept", kTableAccept}});
        if (!table) return fail(table.error().message);
        listRv = api::stringAt(*table, "metadata.resourceVersion");
        auto rows = printer.rows(*table, true);
        // Several kinds (a category): each name says its kind, and empty kinds print nothing.
        if (fromCategory)
          for (size_t r = printer.noHeaders ? 0 : 1; r < rows.size(); ++r)
            if (!rows[r].empty()) rows[r][printer.withNamespace ? 1 : 0] = res->displayName() + "/" + rows[r][printer.withNamespace ? 1 : 0];
        if (rows.size() <= (printer.noHeaders ? 0u : 1u)) {
          if (fromCategory) continue;
          if (!flags->has("watch")) {
            if (ns.empty()) std::fprintf(stderr, "No resources found\n");
            else std::fprintf(stderr, "No resources found in %s namespace.\n", ns.c_str());
          }
          if (!flags->has("watch")) continue;
        } else {
          if (printedAny && kinds.size() > 1) std::printf("\n");
          std::fputs(TablePrinter::align(rows).c_str(), stdout);
          printedAny = true;
        }
      } else {
        auto list = c.call("GET", res->path(ns) + query(*flags, false));
        if (!list) return fail(list.error().message);
        listRv = api::stringAt(*list, "metadata.resourceVersion");
        if (const json::value* items = api::valueAt(*list, "items"); items && items->is_array())
          for (auto item : items->get_array()) {
            auto& o = item.get_object();
            o["apiVersion"] = res->apiVersion();
            o["kind"] = res->kind;
            if (format == "name") emitName(item);
            collected.push_back(std::move(item));
          }
      }
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& name : targets) {
        if (format.empty() || format == "wide") {
          auto table = c.call("GET", res->path(ns, name), "", "", {{"Accept", kTableAccept}});
          if (!table) {
            std::fprintf(stderr, "Error from server (%s): %s\n", table.error().reason.c_str(), table.error().message.c_str());
            rc = 1;
            continue;
          }
          auto r = printer.rows(*table, rows.empty());
          rows.insert(rows.end(), r.begin(), r.end());
        } else {
          auto obj = c.call("GET", res->path(ns, name));
          if (!obj) {
            std::fprintf(stderr, "Error from server (%s): %s\n", obj.error().reason.c_str(), obj.error().message.c_str());
            rc = 1;
            continue;
          }
          if (format == "name") emitName(*obj);
          collected.push_back(std::move(*obj));
        }
      }
      if (!rows.empty()) std::fputs(TablePrinter::align(rows).c_str(), stdout);
    }
    if (flags->has("watch")) {
      std::fflush(stdout);
      std::string buffer;
      auto status = c.client().stream(res->path(ns) + query(*flags, true, listRv),
                                      {{"Accept", format.empty() || format == "wide" ? kTableAccept : "application/json"}},
                                      [&](std::string_view data) {
                                        buffer.append(data);
                                        size_t nl;
                                        while ((nl = buffer.find('\n')) != std::string::npos) {
                                          auto ev = api::decodeJson(std::string_view(buffer).substr(0, nl));
                                          buffer.erase(0, nl + 1);
                                          if (!ev) continue;
                                          std::string type = api::stringAt(*ev, "type");
                                          const json::value* obj = api::valueAt(*ev, "object");
                                          if (!obj || type == "BOOKMARK") continue;
                                          if (type == "ERROR") {
                                            std::fprintf(stderr, "error: %s\n", api::stringAt(*obj, "message").c_str());
                                            return false;
                                          }
                                          if (format.empty() || format == "wide") {
                                            std::fputs(TablePrinter::align(printer.rows(*obj, false)).c_str(), stdout);
                                          } else if (format == "name") {
                                            emitName(*obj);
                                          } else {
                                            printObjects(format, json::array{*obj}, true);
                                            if (format == "yaml") std::printf("---\n");
                                          }
                                          std::fflush(stdout);
                                        }
                                        return true;
                                      });
      if (!status) return fail(status.error().message);
      return 0;
    }
  }
  if (!format.empty() && format != "wide" && format != "name" && !(collected.empty() && !names.empty())) {
    bool single = !names.empty() && collected.size() == 1 && kinds.size() == 1 && names.size() == 1;
    printObjects(format, std::move(collected), single);
  }
  if (fromCategory && !printedAny && (format.empty() || format == "wide")) {
    std::string ns = allNs ? "" : c.namespace_();
    if (ns.empty()) std::fprintf(stderr, "No resources found\n");
    else std::fprintf(stderr, "No resources found in %s namespace.\n", ns.c_str());
  }
  return rc;
}

int runEvents(const Args& args) {
  // `skiff events [-w] [-A] [-n NS]`: the events table (kubectl's columns), as `get events`.
  Args forwarded{"events"};
  forwarded.insert(forwarded.end(), args.begin(), args.end());
  return runGet(forwarded);
}

}  // namespace skiff::cli
