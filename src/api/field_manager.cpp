#include "api/field_manager.h"

#include <boost/json.hpp>
#include <map>

#include "api/object.h"
#include "api/schema.h"
#include "api/structural_schema.h"

namespace skiff::api {
namespace json = boost::json;
namespace {

// --- the schema, as field management needs it ---------------------------------------------------

enum class ListKind { Atomic, Map, Set };

// A position in a kind's schema: a built-in kind's TypeRef or a custom kind's StructuralSchema
// (or neither: unknown, so objects are granular and lists atomic).
struct Cursor {
  const TypeRef* typed = nullptr;
  const StructuralSchema* structural = nullptr;

  Cursor field(std::string_view name) const {
    if (typed) {
      if (typed->kind == TypeRef::Kind::Object && typed->object) return {typed->object->field(name), nullptr};
      if (typed->kind == TypeRef::Kind::Map) return {typed->element.get(), nullptr};
      return {};
    }
    if (structural) {
      if (auto it = structural->properties.find(name); it != structural->properties.end()) return {nullptr, &it->second};
      return {nullptr, structural->additionalProperties.get()};
    }
    return {};
  }
  Cursor items() const {
    if (typed && typed->kind == TypeRef::Kind::List) return {typed->element.get(), nullptr};
    if (structural) return {nullptr, structural->items.get()};
    return {};
  }
  ListKind list(std::vector<std::string>& keys) const {
    if (typed && typed->kind == TypeRef::Kind::List && !typed->mergeKey.empty()) {
      keys = {typed->mergeKey};
      return ListKind::Map;
    }
    if (structural && structural->listType == "map" && !structural->listMapKeys.empty()) {
      keys = structural->listMapKeys;
      return ListKind::Map;
    }
    if (structural && structural->listType == "set") return ListKind::Set;
    return ListKind::Atomic;
  }
};

Cursor rootOf(const ResourceType& type) {
  if (type.custom) return {nullptr, type.custom->schema.get()};
  return {schemaForKind(type.kind), nullptr};
}

// "k:{...}" for an item of a keyed list, or "" when the item lacks a key field.
std::string itemKey(const json::value& item, const std::vector<std::string>& keys) {
  if (!item.is_object()) return "";
  json::object k;
  for (const auto& name : keys) {
    const json::value* v = item.get_object().if_contains(name);
    if (!v) return "";
    k[name] = *v;
  }
  return "k:" + json::serialize(k);
}

bool allKeyed(const json::array& a, const std::vector<std::string>& keys) {
  for (const auto& e : a)
    if (itemKey(e, keys).empty()) return false;
  return true;
}

// --- field sets -------------------------------------------------------------------------------

// A fieldsV1 tree: `self` is the field (or list item) itself being owned ("." or a leaf {}).
struct FieldTree {
  bool self = false;
  std::map<std::string, FieldTree> children;
  bool empty() const { return !self && children.empty(); }
};

FieldTree parseFields(const json::value& v) {
  FieldTree t;
  if (!v.is_object()) return t;
  const auto& o = v.get_object();
  if (o.empty()) t.self = true;
  for (const auto& kv : o) {
    if (kv.key() == ".") t.self = true;
    else t.children.emplace(std::string(kv.key()), parseFields(kv.value()));
  }
  return t;
}

json::value renderFields(const FieldTree& t) {
  json::object o;
  if (t.self && !t.children.empty()) o["."] = json::object();
  for (const auto& [k, c] : t.children)
    if (!c.empty()) o[k] = renderFields(c);
  return o;
}

void unite(FieldTree& a, const FieldTree& b) {
  a.self = a.self || b.self;
  for (const auto& [k, c] : b.children) unite(a.children[k], c);
}

FieldTree subtract(const FieldTree& a, const FieldTree& b) {
  FieldTree out;
  out.self = a.self && !b.self;
  for (const auto& [k, c] : a.children) {
    auto it = b.children.find(k);
    FieldTree rest = it == b.children.end() ? c : subtract(c, it->second);
    if (!rest.empty()) out.children.emplace(k, std::move(rest));
  }
  return out;
}

FieldTree intersect(const FieldTree& a, const FieldTree& b) {
  FieldTree out;
  out.self = a.self && b.self;
  for (const auto& [k, c] : a.children)
    if (auto it = b.children.find(k); it != b.children.end()) {
      FieldTree both = intersect(c, it->second);
      if (!both.empty()) out.children.emplace(k, std::move(both));
    }
  return out;
}

using Path = std::vector<std::string>;

void leaves(const FieldTree& t, Path& at, std::vector<Path>& out) {
  if (t.self && !at.empty()) out.push_back(at);
  for (const auto& [k, c] : t.children) {
    at.push_back(k);
    leaves(c, at, out);
    at.pop_back();
  }
}
std::vector<Path> leavesOf(const FieldTree& t) {
  Path at;
  std::vector<Path> out;
  leaves(t, at, out);
  return out;
}

// The fields a value held in a field owns.
void addValue(FieldTree& node, const json::value& v, const Cursor& c) {
  std::vector<std::string> keys;
  if (v.is_object() && !v.get_object().empty()) {
    for (const auto& kv : v.get_object()) addValue(node.children["f:" + std::string(kv.key())], kv.value(), c.field(kv.key()));
    return;
  }
  if (v.is_array() && !v.get_array().empty()) {
    ListKind kind = c.list(keys);
    if (kind == ListKind::Map && allKeyed(v.get_array(), keys)) {
      for (const auto& e : v.get_array()) {
        FieldTree& item = node.children[itemKey(e, keys)];
        item.self = true;
        for (const auto& kv : e.get_object()) addValue(item.children["f:" + std::string(kv.key())], kv.value(), c.items().field(kv.key()));
      }
      return;
    }
    if (kind == ListKind::Set) {
      for (const auto& e : v.get_array()) node.children["v:" + json::serialize(e)].self = true;
      return;
    }
  }
  node.self = true;
}

// Metadata fields the server sets: never owned by a writer.
bool serverOwnedMetadata(std::string_view field) {
  for (const char* f : {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "managedFields", "selfLink", "generateName"})
    if (field == f) return true;
  return false;
}

// The fields of an object a write may own: not the server's metadata; status only through /status.
// Walks the object in place: every write computes this, so it must not copy the object.
FieldTree fieldsOf(const ResourceType& type, const json::value& object, const std::string& subresource) {
  FieldTree t;
  if (!object.is_object()) return t;
  const Cursor root = rootOf(type);
  for (const auto& kv : object.get_object()) {
    std::string_view key = kv.key();
    if (subresource == "status" ? key != "status" : key == "apiVersion" || key == "kind" || (type.hasStatus && key == "status")) continue;
    if (key == "metadata" && kv.value().is_object()) {
      const Cursor meta = root.field(key);
      for (const auto& m : kv.value().get_object())
        if (!serverOwnedMetadata(m.key()))
          addValue(t.children["f:metadata"].children["f:" + std::string(m.key())], m.value(), meta.field(m.key()));
      continue;
    }
    addValue(t.children["f:" + std::string(key)], kv.value(), root.field(key));
  }
  return t;
}

// --- values at field paths --------------------------------------------------------------------

json::value* childAt(json::value& v, const std::string& key, size_t* index = nullptr) {
  if (key.starts_with("f:")) {
    return v.is_object() ? v.get_object().if_contains(std::string_view(key).substr(2)) : nullptr;
  }
  if (!v.is_array()) return nullptr;
  boost::system::error_code ec;
  json::value want = json::parse(std::string_view(key).substr(2), ec);
  if (ec) return nullptr;  // a malformed key in stored managedFields matches nothing
  auto& a = v.get_array();
  for (size_t i = 0; i < a.size(); ++i) {
    bool match;
    if (key.starts_with("k:")) {
      match = a[i].is_object() && want.is_object();
      if (match)
        for (const auto& kv : want.get_object()) {
          const json::value* have = a[i].get_object().if_contains(kv.key());
          match = match && have && *have == kv.value();
        }
    } else {
      match = a[i] == want;
    }
    if (match) {
      if (index) *index = i;
      return &a[i];
    }
  }
  return nullptr;
}

const json::value* valueAtPath(const json::value& v, const Path& path) {
  json::value* at = const_cast<json::value*>(&v);
  for (const auto& k : path) {
    at = childAt(*at, k);
    if (!at) return nullptr;
  }
  return at;
}

void removeAtPath(json::value& v, const Path& path) {
  json::value* parent = &v;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    parent = childAt(*parent, path[i]);
    if (!parent) return;
  }
  const std::string& last = path.back();
  if (last.starts_with("f:")) {
    if (parent->is_object()) parent->get_object().erase(std::string_view(last).substr(2));
    return;
  }
  size_t index = 0;
  if (childAt(*parent, last, &index)) parent->get_array().erase(parent->get_array().begin() + long(index));
}

// `.spec.containers[name="web"].image`, as Kubernetes names fields in conflicts.
std::string pathString(const Path& path) {
  std::string out;
  for (const auto& k : path) {
    if (k.starts_with("f:")) {
      out += "." + k.substr(2);
    } else if (k.starts_with("k:")) {
      boost::system::error_code ec;
      json::value key = json::parse(std::string_view(k).substr(2), ec);
      std::string inner;
      if (!ec && key.is_object())
        for (const auto& kv : key.get_object()) inner += (inner.empty() ? "" : ",") + std::string(kv.key()) + "=" + json::serialize(kv.value());
      out += "[" + inner + "]";
    } else {
      out += "[=" + k.substr(2) + "]";
    }
  }
  return out;
}

// --- merging an applied configuration ----------------------------------------------------------

json::value merge(const json::value& live, const json::value& applied, const Cursor& c) {
  if (live.is_object() && applied.is_object()) {
    json::object out = live.get_object();
    for (const auto& kv : applied.get_object()) {
      const json::value* have = out.if_contains(kv.key());
      out[kv.key()] = have ? merge(*have, kv.value(), c.field(kv.key())) : kv.value();
    }
    return out;
  }
  std::vector<std::string> keys;
  if (live.is_array() && applied.is_array()) {
    ListKind kind = c.list(keys);
    if (kind == ListKind::Map && allKeyed(live.get_array(), keys) && allKeyed(applied.get_array(), keys)) {
      json::value out = live;
      for (const auto& item : applied.get_array()) {
        if (json::value* have = childAt(out, itemKey(item, keys))) *have = merge(*have, item, c.items());
        else out.get_array().push_back(item);
      }
      return out;
    }
    if (kind == ListKind::Set) {
      json::value out = live;
      for (const auto& item : applied.get_array())
        if (std::find(out.get_array().begin(), out.get_array().end(), item) == out.get_array().end()) out.get_array().push_back(item);
      return out;
    }
  }
  return applied;
}

// --- managedFields entries ----------------------------------------------------------------------

struct Entry {
  std::string manager, operation, apiVersion, time, subresource;
  FieldTree fields;
  bool same(const Entry& o) const { return manager == o.manager && operation == o.operation && subresource == o.subresource; }
};

std::vector<Entry> entriesOf(const json::value* object) {
  std::vector<Entry> out;
  const json::value* mf = object ? valueAt(*object, "metadata.managedFields") : nullptr;
  if (!mf || !mf->is_array()) return out;
  for (const auto& e : mf->get_array()) {
    Entry x{stringAt(e, "manager"), stringAt(e, "operation"), stringAt(e, "apiVersion"), stringAt(e, "time"), stringAt(e, "subresource"), {}};
    if (const json::value* f = e.is_object() ? e.get_object().if_contains("fieldsV1") : nullptr) x.fields = parseFields(*f);
    out.push_back(std::move(x));
  }
  return out;
}

json::value render(const std::vector<Entry>& entries) {
  json::array out;
  for (const auto& e : entries) {
    if (e.fields.empty()) continue;
    json::object o{{"manager", e.manager}, {"operation", e.operation}, {"apiVersion", e.apiVersion}, {"time", e.time},
                   {"fieldsType", "FieldsV1"}, {"fieldsV1", renderFields(e.fields)}};
    if (!e.subresource.empty()) o["subresource"] = e.subresource;
    out.push_back(std::move(o));
  }
  return out;
}

// Gives `mine` to the entry identified by `writer`, creating it at the end if it is new.
void setEntry(std::vector<Entry>& entries, Entry writer) {
  for (auto& e : entries)
    if (e.same(writer)) {
      e = std::move(writer);
      return;
    }
  entries.push_back(std::move(writer));
}

// Leaves of `t` whose values in `before` and `after` differ (a list item's own "." only when it
// appears or goes).
FieldTree changedFields(const FieldTree& t, const json::value* before, const json::value& after) {
  FieldTree out;
  for (const auto& path : leavesOf(t)) {
    const json::value* a = before ? valueAtPath(*before, path) : nullptr;
    const json::value* b = valueAtPath(after, path);
    bool item = !path.back().starts_with("f:");
    bool changed = item ? (a == nullptr) != (b == nullptr) : (!a || !b || *a != *b);
    if (!changed) continue;
    FieldTree* node = &out;
    for (const auto& k : path) node = &node->children[k];
    node->self = true;
  }
  return out;
}

void setOwned(json::value& object, const std::vector<Entry>& entries) {
  json::value mf = render(entries);
  auto& meta = metadataOf(object);
  if (mf.get_array().empty()) meta.erase("managedFields");
  else meta["managedFields"] = std::move(mf);
}

}  // namespace

json::value managedFieldsAfterUpdate(const ResourceType& type, const json::value* old, const json::value& object, const ManagedWrite& write) {
  std::vector<Entry> entries = entriesOf(old);
  FieldTree now = fieldsOf(type, object, write.subresource);
  // On a create every field is new, so the writer owns all of them: no need to look each one up.
  FieldTree changed = old ? changedFields(now, old, object) : std::move(now);
  FieldTree removed;
  if (old) {
    FieldTree before = fieldsOf(type, *old, write.subresource);
    for (const auto& path : leavesOf(before))
      if (!valueAtPath(object, path)) {
        FieldTree* node = &removed;
        for (const auto& k : path) node = &node->children[k];
        node->self = true;
      }
  }
  if (changed.empty() && removed.empty() && old) {  // nothing changed: ownership and its times stay
    const json::value* prior = valueAt(*old, "metadata.managedFields");
    return prior ? *prior : json::value(json::array());
  }
  FieldTree gone = changed;
  unite(gone, removed);
  Entry mine{write.manager, "Update", write.apiVersion, write.time.empty() ? rfc3339Now() : write.time, write.subresource, {}};
  for (auto& e : entries) {
    if (e.same(mine)) {
      mine.fields = subtract(e.fields, removed);
      continue;
    }
    e.fields = subtract(e.fields, gone);
  }
  unite(mine.fields, changed);
  if (!mine.fields.empty()) setEntry(entries, std::move(mine));
  return render(entries);
}

Result<json::value> applyConfiguration(const ResourceType& type, const json::value* live, const json::value& applied, const ManagedWrite& write,
                                       bool force) {
  if (!applied.is_object()) return Error::badRequest("an apply configuration must be an object");
  if (valueAt(applied, "metadata.managedFields")) return Error::badRequest("metadata.managedFields must be nil in an apply configuration");
  std::vector<Entry> entries = entriesOf(live);
  Entry mine{write.manager, "Apply", write.apiVersion, write.time.empty() ? rfc3339Now() : write.time, write.subresource, {}};
  FieldTree appliedSet = fieldsOf(type, applied, write.subresource);
  json::value base = live ? *live : json::value(json::object());
  json::value merged = merge(base, applied, rootOf(type));

  // Conflicts: fields another manager owns whose value this apply changes.
  FieldTree taken;
  std::vector<FieldCause> conflicts;
  for (const auto& e : entries) {
    if (e.same(mine)) continue;
    for (const auto& path : leavesOf(intersect(appliedSet, e.fields))) {
      if (!path.back().starts_with("f:")) continue;  // an item's own presence: both want it
      const json::value* before = valueAtPath(base, path);
      const json::value* after = valueAtPath(merged, path);
      if (before && after && *before == *after) continue;
      conflicts.push_back({"FieldManagerConflict", "conflict with \"" + e.manager + "\"" + (e.apiVersion.empty() ? "" : " using " + e.apiVersion),
                           pathString(path)});
      FieldTree* node = &taken;
      for (const auto& k : path) node = &node->children[k];
      node->self = true;
    }
  }
  if (!conflicts.empty() && !force) {
    std::string msg = "Apply failed with " + std::to_string(conflicts.size()) + " conflict" + (conflicts.size() == 1 ? "" : "s") + ": ";
    for (size_t i = 0; i < conflicts.size(); ++i) msg += (i ? "\n" : "") + conflicts[i].message + ": " + conflicts[i].field;
    Error e = Error::conflict(msg);
    e.causes = std::move(conflicts);
    return e;
  }

  // Fields this manager applied before and no longer does go, unless someone else owns them.
  FieldTree previous;
  for (const auto& e : entries)
    if (e.same(mine)) previous = e.fields;
  FieldTree dropped = subtract(previous, appliedSet);
  FieldTree others;
  for (const auto& e : entries)
    if (!e.same(mine)) unite(others, e.fields);
  for (const auto& path : leavesOf(subtract(dropped, others))) removeAtPath(merged, path);

  // Re-applying the same configuration to an object it already describes changes nothing.
  auto withoutOwners = [](json::value v) {
    if (v.is_object())
      if (json::value* m = v.get_object().if_contains("metadata"); m && m->is_object()) m->get_object().erase("managedFields");
    return v;
  };
  bool sameFields = false;
  for (const auto& e : entries)
    if (e.same(mine)) sameFields = renderFields(e.fields) == renderFields(appliedSet);
  if (live && sameFields && withoutOwners(merged) == withoutOwners(*live)) return *live;
  for (auto& e : entries)
    if (!e.same(mine)) e.fields = subtract(e.fields, taken);
  mine.fields = appliedSet;
  setEntry(entries, std::move(mine));
  setOwned(merged, entries);
  return merged;
}

}  // namespace skiff::api
