#include "api/selector.h"

#include <boost/json.hpp>
#include <cctype>

namespace skiff::api {
namespace json = boost::json;
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits on commas that are not inside parentheses.
Result<std::vector<std::string_view>> splitTerms(std::string_view text) {
  std::vector<std::string_view> out;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || (text[i] == ',' && depth == 0)) {
      auto term = trim(text.substr(start, i - start));
      if (!term.empty()) out.push_back(term);
      else if (i != text.size() || !out.empty()) return Error::badRequest("empty term in selector \"" + std::string(text) + "\"");
      start = i + 1;
    } else if (text[i] == '(') {
      if (++depth > 1) return Error::badRequest("nested parentheses in selector \"" + std::string(text) + "\"");
    } else if (text[i] == ')') {
      if (--depth < 0) return Error::badRequest("unbalanced parentheses in selector \"" + std::string(text) + "\"");
    }
  }
  if (depth != 0) return Error::badRequest("unbalanced parentheses in selector \"" + std::string(text) + "\"");
  return out;
}

bool validKey(std::string_view k) {
  if (k.empty() || k.size() > 317) return false;
  for (char c : k)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/')) return false;
  return true;
}

bool validValue(std::string_view v) {
  if (v.size() > 63) return false;
  for (char c : v)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

Result<Requirement> parseTerm(std::string_view term, bool fieldMode) {
  Requirement r;
  auto bad = [&](const std::string& why) {
    return Error::badRequest("unable to parse requirement \"" + std::string(term) + "\": " + why);
  };
  if (!fieldMode && term.front() == '!') {
    r.key = std::string(trim(term.substr(1)));
    r.op = Requirement::Op::DoesNotExist;
    if (!validKey(r.key)) return bad("invalid label key");
    return r;
  }
  size_t opPos = term.find_first_of("=!<> ");
  if (opPos == std::string_view::npos) {
    if (fieldMode) return bad("field selectors need an operator (=, ==, !=)");
    r.key = std::string(term);
    r.op = Requirement::Op::Exists;
    if (!validKey(r.key)) return bad("invalid label key");
    return r;
  }
  r.key = std::string(trim(term.substr(0, opPos)));
  std::string_view rest = trim(term.substr(opPos));
  std::string_view value;
  if (rest.starts_with("==")) { r.op = Requirement::Op::Equals; value = rest.substr(2); }
  else if (rest.starts_with("!=")) { r.op = Requirement::Op::NotEquals; value = rest.substr(2); }
  else if (rest.starts_with("=")) { r.op = Requirement::Op::Equals; value = rest.substr(1); }
  else if (!fieldMode && rest.starts_with(">")) { r.op = Requirement::Op::Gt; value = rest.substr(1); }
  else if (!fieldMode && rest.starts_with("<")) { r.op = Requirement::Op::Lt; value = rest.substr(1); }
  else if (!fieldMode && (rest.starts_with("in ") || rest.starts_with("in(") || rest.starts_with("notin ") || rest.starts_with("notin("))) {
    r.op = rest.starts_with("in") ? Requirement::Op::In : Requirement::Op::NotIn;
    rest = trim(rest.substr(r.op == Requirement::Op::In ? 2 : 5));
    if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') return bad("expected a parenthesised value list");
    std::string_view list = rest.substr(1, rest.size() - 2);
    size_t start = 0;
    for (size_t i = 0; i <= list.size(); ++i) {
      if (i == list.size() || list[i] == ',') {
        auto v = trim(list.substr(start, i - start));
        if (!validValue(v)) return bad("invalid value \"" + std::string(v) + "\"");
        r.values.emplace_back(v);
        start = i + 1;
      }
    }
    if (!validKey(r.key)) return bad("invalid label key");
    return r;
  } else {
    return bad("unknown operator");
  }
  value = trim(value);
  if (fieldMode) {
    if (r.key.empty()) return bad("missing field name");
  } else {
    if (!validKey(r.key)) return bad("invalid label key \"" + r.key + "\"");
    if (!validValue(value)) return bad("invalid label value \"" + std::string(value) + "\"");
    if ((r.op == Requirement::Op::Gt || r.op == Requirement::Op::Lt)) {
      char* end = nullptr;
      std::string v(value);
      std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end) return bad("value for > or < must be an integer");
    }
  }
  r.values.emplace_back(value);
  return r;
}

bool evaluate(const Requirement& r, const std::string* actual) {
  using Op = Requirement::Op;
  switch (r.op) {
    case Op::Equals: return actual && *actual == r.values[0];
    case Op::NotEquals: return !actual || *actual != r.values[0];
    case Op::In:
      if (!actual) return false;
      for (const auto& v : r.values)
        if (*actual == v) return true;
      return false;
    case Op::NotIn:
      if (!actual) return true;
      for (const auto& v : r.values)
        if (*actual == v) return false;
      return true;
    case Op::Exists: return actual != nullptr;
    case Op::DoesNotExist: return actual == nullptr;
    case Op::Gt:
    case Op::Lt: {
      if (!actual) return false;
      char* end = nullptr;
      long long a = std::strtoll(actual->c_str(), &end, 10);
      if (actual->empty() || *end) return false;
      long long b = std::strtoll(r.values[0].c_str(), nullptr, 10);
      return r.op == Op::Gt ? a > b : a < b;
    }
  }
  return false;
}

}  // namespace

Result<LabelSelector> LabelSelector::parse(std::string_view text) {
  LabelSelector sel;
  auto terms = splitTerms(text);
  if (!terms) return terms.error();
  for (auto term : *terms) {
    auto r = parseTerm(term, false);
    if (!r) return r.error();
    sel.requirements_.push_back(std::move(*r));
  }
  return sel;
}

Result<LabelSelector> LabelSelector::fromObject(const json::value& selector) {
  LabelSelector sel;
  const auto* obj = selector.if_object();
  if (!obj) return sel;
  if (auto* ml = obj->if_contains("matchLabels"); ml && ml->is_object()) {
    for (const auto& kv : ml->get_object()) {
      if (!kv.value().is_string()) return Error::badRequest("matchLabels values must be strings");
      sel.requirements_.push_back({std::string(kv.key()), Requirement::Op::Equals, {std::string(kv.value().get_string())}});
    }
  }
  if (auto* me = obj->if_contains("matchExpressions"); me && me->is_array()) {
    for (const auto& e : me->get_array()) {
      const auto* eo = e.if_object();
      if (!eo) return Error::badRequest("matchExpressions entries must be objects");
      Requirement r;
      if (auto* k = eo->if_contains("key"); k && k->is_string()) r.key = k->get_string();
      std::string op;
      if (auto* o = eo->if_contains("operator"); o && o->is_string()) op = o->get_string();
      if (op == "In") r.op = Requirement::Op::In;
      else if (op == "NotIn") r.op = Requirement::Op::NotIn;
      else if (op == "Exists") r.op = Requirement::Op::Exists;
      else if (op == "DoesNotExist") r.op = Requirement::Op::DoesNotExist;
      else return Error::badRequest("\"" + op + "\" is not a valid label selector operator");
      if (auto* vs = eo->if_contains("values"); vs && vs->is_array())
        for (const auto& v : vs->get_array())
          if (v.is_string()) r.values.emplace_back(v.get_string());
      sel.requirements_.push_back(std::move(r));
    }
  }
  return sel;
}

bool LabelSelector::matches(const json::value* labels) const {
  const json::object* obj = labels ? labels->if_object() : nullptr;
  for (const auto& r : requirements_) {
    std::string actual;
    const std::string* p = nullptr;
    if (obj) {
      if (auto* v = obj->if_contains(r.key); v && v->is_string()) {
        actual = v->get_string();
        p = &actual;
      }
    }
    if (!evaluate(r, p)) return false;
  }
  return true;
}

Result<FieldSelector> FieldSelector::parse(std::string_view text) {
  FieldSelector sel;
  auto terms = splitTerms(text);
  if (!terms) return terms.error();
  for (auto term : *terms) {
    auto r = parseTerm(term, true);
    if (!r) return r.error();
    sel.requirements_.push_back(std::move(*r));
  }
  return sel;
}

bool FieldSelector::matches(const json::value& object) const {
  for (const auto& r : requirements_) {
    const json::value* cur = &object;
    size_t start = 0;
    while (cur && start <= r.key.size()) {
      size_t dot = r.key.find('.', start);
      std::string part = r.key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      const auto* o = cur->if_object();
      cur = o ? o->if_contains(part) : nullptr;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    // Kubernetes compares field values as strings; a missing field reads as "".
    std::string actual;
    if (cur) {
      if (cur->is_string()) actual = cur->get_string();
      else if (!cur->is_null()) actual = json::serialize(*cur);
    }
    if (!evaluate(r, &actual)) return false;
  }
  return true;
}

namespace {
std::string requirementsText(const std::vector<Requirement>& requirements) {
  std::string out;
  for (const auto& r : requirements) {
    if (!out.empty()) out += ',';
    auto set = [&] {
      std::string v = " (";
      for (size_t i = 0; i < r.values.size(); ++i) v += (i ? "," : "") + r.values[i];
      return v + ")";
    };
    std::string first = r.values.empty() ? "" : r.values[0];
    switch (r.op) {
      case Requirement::Op::Equals: out += r.key + "=" + first; break;
      case Requirement::Op::NotEquals: out += r.key + "!=" + first; break;
      case Requirement::Op::In: out += r.key + " in" + set(); break;
      case Requirement::Op::NotIn: out += r.key + " notin" + set(); break;
      case Requirement::Op::Exists: out += r.key; break;
      case Requirement::Op::DoesNotExist: out += "!" + r.key; break;
      case Requirement::Op::Gt: out += r.key + ">" + first; break;
      case Requirement::Op::Lt: out += r.key + "<" + first; break;
    }
  }
  return out;
}
}  // namespace

std::string LabelSelector::text() const { return requirementsText(requirements_); }
std::string FieldSelector::text() const { return requirementsText(requirements_); }

const std::string* FieldSelector::equalityValue(std::string_view field) const {
  for (const auto& r : requirements_)
    if (r.key == field && r.op == Requirement::Op::Equals) return &r.values[0];
  return nullptr;
}

}  // namespace skiff::api
