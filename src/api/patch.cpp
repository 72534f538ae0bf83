#include "api/patch.h"

#include <boost/json.hpp>

namespace skiff::api {
namespace json = boost::json;

json::value applyMergePatch(const json::value& target, const json::value& patch) {
  if (!patch.is_object()) return patch;
  json::object result = target.is_object() ? target.get_object() : json::object();
  for (const auto& kv : patch.get_object()) {
    if (kv.value().is_null()) {
      result.erase(kv.key());
    } else {
      const json::value* existing = result.if_contains(kv.key());
      result[kv.key()] = applyMergePatch(existing ? *existing : json::value(nullptr), kv.value());
    }
  }
  return result;
}

json::value createMergePatch(const json::value& from, const json::value& to) {
  if (!from.is_object() || !to.is_object()) return to;
  json::object patch;
  const auto& f = from.get_object();
  const auto& t = to.get_object();
  for (const auto& kv : f)
    if (!t.contains(kv.key())) patch[kv.key()] = nullptr;
  for (const auto& kv : t) {
    const json::value* old = f.if_contains(kv.key());
    if (!old) {
      patch[kv.key()] = kv.value();
    } else if (*old != kv.value()) {
      if (old->is_object() && kv.value().is_object()) patch[kv.key()] = createMergePatch(*old, kv.value());
      else patch[kv.key()] = kv.value();
    }
  }
  return patch;
}

json::value createThreeWayMergePatch(const json::value& original, const json::value& modified, const json::value& current) {
  json::object patch;
  const json::object* last = original.if_object();
  const json::object* want = modified.if_object();
  const json::object* have = current.if_object();
  if (!want) return modified;
  if (last)
    for (const auto& kv : *last)
      if (!want->contains(kv.key())) patch[kv.key()] = nullptr;
  for (const auto& kv : *want) {
    const json::value* cur = have ? have->if_contains(kv.key()) : nullptr;
    if (kv.value().is_object() && cur && cur->is_object()) {
      const json::value* l = last ? last->if_contains(kv.key()) : nullptr;
      json::value sub = createThreeWayMergePatch(l ? *l : json::value(json::object()), kv.value(), *cur);
      if (!sub.get_object().empty()) patch[kv.key()] = std::move(sub);
    } else if (!cur || *cur != kv.value()) {
      patch[kv.key()] = kv.value();
    }
  }
  return patch;
}

// ---- JSON patch ----
namespace {

Result<std::vector<std::string>> parsePointer(std::string_view ptr) {
  std::vector<std::string> parts;
  if (ptr.empty()) return parts;
  if (ptr.front() != '/') return Error::badRequest("JSON pointer \"" + std::string(ptr) + "\" must start with /");
  size_t i = 1;
  while (true) {
    size_t next = ptr.find('/', i);
    std::string_view raw = ptr.substr(i, next == std::string_view::npos ? std::string_view::npos : next - i);
    std::string part;
    for (size_t j = 0; j < raw.size(); ++j) {
      if (raw[j] == '~' && j + 1 < raw.size() && (raw[j + 1] == '0' || raw[j + 1] == '1')) {
        part += raw[j + 1] == '0' ? '~' : '/';
        ++j;
      } else {
        part += raw[j];
      }
    }
    parts.push_back(std::move(part));
    if (next == std::string_view::npos) break;
    i = next + 1;
  }
  return parts;
}

Result<size_t> arrayIndex(const std::string& s, size_t size, bool allowEnd) {
  if (s == "-" && allowEnd) return size;
  if (s.empty() || s.size() > 9 || (s.size() > 1 && s[0] == '0')) return Error::badRequest("invalid array index \"" + s + "\"");
  for (char c : s)
    if (c < '0' || c > '9') return Error::badRequest("invalid array index \"" + s + "\"");
  size_t idx = std::stoul(s);
  if (idx > size || (!allowEnd && idx == size)) return Error::badRequest("array index " + s + " out of range");
  return idx;
}

// Walks to the parent of the last token.
Result<json::value*> parentOf(json::value& root, const std::vector<std::string>& parts, const std::string& ptr) {
  json::value* cur = &root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (auto* o = cur->if_object()) {
      cur = o->if_contains(parts[i]);
    } else if (auto* a = cur->if_array()) {
      auto idx = arrayIndex(parts[i], a->size(), false);
      if (!idx) return idx.error();
      cur = &(*a)[*idx];
    } else {
      cur = nullptr;
    }
    if (!cur) return Error::badRequest("path \"" + ptr + "\" does not exist");
  }
  return cur;
}

Result<json::value> getAt(json::value& root, const std::string& ptr) {
  auto parts = parsePointer(ptr);
  if (!parts) return parts.error();
  if (parts->empty()) return root;
  auto parent = parentOf(root, *parts, ptr);
  if (!parent) return parent.error();
  const std::string& last = parts->back();
  if (auto* o = (*parent)->if_object()) {
    if (auto* v = o->if_contains(last)) return *v;
  } else if (auto* a = (*parent)->if_array()) {
    auto idx = arrayIndex(last, a->size(), false);
    if (!idx) return idx.error();
    return (*a)[*idx];
  }
  return Error::badRequest("path \"" + ptr + "\" does not exist");
}

Status removeAt(json::value& root, const std::string& ptr) {
  auto parts = parsePointer(ptr);
  if (!parts) return parts.error();
  if (parts->empty()) return Error::badRequest("cannot remove the whole document");
  auto parent = parentOf(root, *parts, ptr);
  if (!parent) return parent.error();
  if (auto* o = (*parent)->if_object()) {
    if (o->erase(parts->back()) == 0) return Error::badRequest("path \"" + ptr + "\" does not exist");
    return {};
  }
  if (auto* a = (*parent)->if_array()) {
    auto idx = arrayIndex(parts->back(), a->size(), false);
    if (!idx) return idx.error();
    a->erase(a->begin() + *idx);
    return {};
  }
  return Error::badRequest("path \"" + ptr + "\" does not exist");
}

Status addAt(json::value& root, const std::string& ptr, json::value value, bool replace) {
  auto parts = parsePointer(ptr);
  if (!parts) return parts.error();
  if (parts->empty()) {
    root = std::move(value);
    return {};
  }
  auto parent = parentOf(root, *parts, ptr);
  if (!parent) return parent.error();
  if (auto* o = (*parent)->if_object()) {
    if (replace && !o->contains(parts->back())) return Error::badRequest("path \"" + ptr + "\" does not exist");
    (*o)[parts->back()] = std::move(value);
    return {};
  }
  if (auto* a = (*parent)->if_array()) {
    auto idx = arrayIndex(parts->back(), a->size(), !replace);
    if (!idx) return idx.error();
    if (replace) (*a)[*idx] = std::move(value);
    else a->insert(a->begin() + *idx, std::move(value));
    return {};
  }
  return Error::badRequest("path \"" + ptr + "\" does not exist");
}

}  // namespace

Result<json::value> applyJsonPatch(const json::value& target, const json::value& patch) {
  if (!patch.is_array()) return Error::badRequest("a JSON patch must be an array of operations");
  json::value doc = target;
  size_t i = 0;
  for (const auto& opv : patch.get_array()) {
    std::string where = "operation " + std::to_string(i++) + ": ";
    const auto* op = opv.if_object();
    if (!op) return Error::badRequest(where + "must be an object");
    auto str = [&](const char* k) -> std::string {
      const auto* v = op->if_contains(k);
      return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    std::string name = str("op"), path = str("path");
    if (!op->contains("path")) return Error::badRequest(where + "missing \"path\"");
    Status st;
    if (name == "add" || name == "replace" || name == "test") {
      const auto* value = op->if_contains("value");
      if (!value) return Error::badRequest(where + "missing \"value\"");
      if (name == "test") {
        auto cur = getAt(doc, path);
        if (!cur || *cur != *value) return Error::invalid(where + "test failed at \"" + path + "\"");
      } else {
        st = addAt(doc, path, *value, name == "replace");
      }
    } else if (name == "remove") {
      st = removeAt(doc, path);
    } else if (name == "move" || name == "copy") {
      std::string from = str("from");
      auto v = getAt(doc, from);
      if (!v) return Error::badRequest(where + v.error().message);
      if (name == "move") {
        if (path.starts_with(from + "/")) return Error::badRequest(where + "cannot move a value into itself");
        st = removeAt(doc, from);
      }
      if (st) st = addAt(doc, path, std::move(*v), false);
    } else {
      return Error::badRequest(where + "unknown op \"" + name + "\"");
    }
    if (!st) return Error::badRequest(where + st.error().message);
  }
  return doc;
}

// ---- strategic merge patch ----
namespace {

const TypeRef* fieldType(const TypeRef* t, std::string_view key) {
  if (!t) return nullptr;
  if (t->kind == TypeRef::Kind::Object && t->object) return t->object->field(key);
  if (t->kind == TypeRef::Kind::Map) return t->element.get();
  return nullptr;
}

Result<json::value> mergeValue(const json::value* original, const json::value& patch, const TypeRef* type);

std::string directive(const json::object& o) {
  if (auto* p = o.if_contains("$patch"); p && p->is_string()) return std::string(p->get_string());
  return {};
}

json::object withoutDirectives(const json::object& o) {
  json::object out;
  for (const auto& kv : o)
    if (!kv.key().starts_with("$")) out[kv.key()] = kv.value();
  return out;
}

Result<json::value> mergeList(const json::value* original, const json::array& patch, const TypeRef* type,
                              const json::value* order) {
  const std::string& key = type ? type->mergeKey : std::string();
  // Lists without a merge key are replaced wholesale, as in a merge patch.
  bool objectItems = !patch.empty() && patch.front().is_object();
  if (key.empty() || (!objectItems && !patch.empty())) {
    json::array out;
    for (const auto& item : patch)
      if (!(item.is_object() && !directive(item.get_object()).empty())) out.push_back(item);
    return json::value(out);
  }
  json::array result = original && original->is_array() ? original->get_array() : json::array();
  for (const auto& item : patch) {
    if (!item.is_object()) return Error::badRequest("list merged by \"" + key + "\" holds a non-object");
    const auto& io = item.get_object();
    std::string dir = directive(io);
    if (dir == "replace") {
      json::array out;
      for (const auto& other : patch)
        if (!(other.is_object() && directive(other.get_object()) == "replace")) out.push_back(other);
      return json::value(out);
    }
    const json::value* kv = io.if_contains(key);
    if (!kv) return Error::badRequest("list item has no merge key \"" + key + "\"");
    auto it = std::find_if(result.begin(), result.end(), [&](const json::value& o) {
      return o.is_object() && o.get_object().if_contains(key) && *o.get_object().if_contains(key) == *kv;
    });
    if (dir == "delete") {
      if (it != result.end()) result.erase(it);
      continue;
    }
    if (it != result.end()) {
      auto merged = mergeValue(&*it, item, type->element.get());
      if (!merged) return merged;
      *it = std::move(*merged);
    } else {
      auto merged = mergeValue(nullptr, item, type->element.get());
      if (!merged) return merged;
      result.push_back(std::move(*merged));
    }
  }
  if (order && order->is_array()) {
    // $setElementOrder: items named in the order come first, in that order.
    json::array sorted;
    for (const auto& o : order->get_array()) {
      const auto* oo = o.if_object();
      const json::value* want = oo ? oo->if_contains(key) : nullptr;
      if (!want) continue;
      for (auto it = result.begin(); it != result.end(); ++it) {
        if (it->is_object() && it->get_object().if_contains(key) && *it->get_object().if_contains(key) == *want) {
          sorted.push_back(std::move(*it));
          result.erase(it);
          break;
        }
      }
    }
    for (auto& rest : result) sorted.push_back(std::move(rest));
    result = std::move(sorted);
  }
  return json::value(result);
}

Result<json::value> mergeObject(const json::value* original, const json::object& patch, const TypeRef* type) {
  std::string dir = directive(patch);
  if (dir == "delete") return json::value(nullptr);
  if (dir == "replace") return json::value(withoutDirectives(patch));
  json::object result = original && original->is_object() ? original->get_object() : json::object();
  if (auto* retain = patch.if_contains("$retainKeys"); retain && retain->is_array()) {
    json::object kept;
    for (const auto& k : retain->get_array())
      if (k.is_string())
        if (auto* v = result.if_contains(k.get_string())) kept[k.get_string()] = *v;
    result = std::move(kept);
  }
  for (const auto& kv : patch) {
    std::string_view k = kv.key();
    if (k.starts_with("$deleteFromPrimitiveList/")) {
      auto field = k.substr(std::string_view("$deleteFromPrimitiveList/").size());
      if (auto* list = result.if_contains(field); list && list->is_array() && kv.value().is_array()) {
        json::array kept;
        for (const auto& item : list->get_array())
          if (std::find(kv.value().get_array().begin(), kv.value().get_array().end(), item) == kv.value().get_array().end())
            kept.push_back(item);
        *list = kept;
      }
      continue;
    }
    if (k.starts_with("$")) continue;
    if (kv.value().is_null()) {
      result.erase(k);
      continue;
    }
    const TypeRef* ft = fieldType(type, k);
    const json::value* order = patch.if_contains("$setElementOrder/" + std::string(k));
    const json::value* existing = result.if_contains(k);
    Result<json::value> merged = kv.value().is_array()
                                     ? mergeList(existing, kv.value().get_array(), ft, order)
                                     : mergeValue(existing, kv.value(), ft);
    if (!merged) return merged;
    if (merged->is_null() && kv.value().is_object()) result.erase(k);  // $patch: delete
    else result[k] = std::move(*merged);
  }
  // $setElementOrder for lists the patch did not otherwise touch.
  for (const auto& kv : patch) {
    std::string_view k = kv.key();
    if (!k.starts_with("$setElementOrder/")) continue;
    auto field = k.substr(std::string_view("$setElementOrder/").size());
    if (patch.contains(field)) continue;
    if (auto* existing = result.if_contains(field); existing && existing->is_array()) {
      auto merged = mergeList(existing, json::array(), fieldType(type, field), &kv.value());
      if (merged && fieldType(type, field) && !fieldType(type, field)->mergeKey.empty()) *existing = std::move(*merged);
    }
  }
  return json::value(result);
}

Result<json::value> mergeValue(const json::value* original, const json::value& patch, const TypeRef* type) {
  if (patch.is_object()) return mergeObject(original, patch.get_object(), type);
  if (patch.is_array()) return mergeList(original, patch.get_array(), type, nullptr);
  return patch;
}

}  // namespace

Result<json::value> applyStrategicMergePatch(const json::value& target, const json::value& patch, const TypeRef* type) {
  if (!patch.is_object()) return Error::badRequest("a strategic merge patch must be a JSON object");
  return mergeValue(&target, patch, type);
}

}  // namespace skiff::api
