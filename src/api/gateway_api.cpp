#include "api/gateway_api.h"

#include <boost/json.hpp>
#include <regex>
#include <set>

#include "api/object.h"

namespace skiff::api {
namespace json = boost::json;
namespace {

const json::array* optionalArrayAt(const json::value& v, std::string_view path) {
  const json::value* a = valueAt(v, path);
  return a && a->is_array() ? &a->get_array() : nullptr;
}

std::string idx(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

struct Checker {
  std::vector<PolicyProblem>& out;
  void required(const std::string& f) { out.push_back({f, "", "Required value"}); }
  void invalid(const std::string& f, const std::string& v, const std::string& why) { out.push_back({f, v, why}); }
  void oneOf(const std::string& f, const std::string& v, std::initializer_list<const char*> allowed) {
    for (const char* a : allowed)
      if (v == a) return;
    std::string msg = "supported values: ";
    bool first = true;
    for (const char* a : allowed) msg += (first ? "\"" : ", \"") + std::string(a) + "\"", first = false;
    invalid(f, v, msg);
  }
  void port(const json::value& o, std::string_view key, const std::string& f, bool required) {
    const json::value* p = valueAt(o, key);
    if (!p) {
      if (required) this->required(f);
      return;
    }
    if (!p->is_int64() || p->get_int64() < 1 || p->get_int64() > 65535) invalid(f, json::serialize(*p), "must be between 1 and 65535, inclusive");
  }
  void duration(const json::value& o, std::string_view key, const std::string& f) {
    const json::value* d = valueAt(o, key);
    if (!d) return;
    if (!d->is_string() || !parseDurationMillis(d->get_string())) invalid(f, d->is_string() ? std::string(d->get_string()) : json::serialize(*d), "must be a duration such as 500ms, 10s or 1m");
  }
  void regex(const std::string& f, const std::string& v) {
    try {
      std::regex re(v, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      invalid(f, v, std::string("not a valid regular expression: ") + e.what());
    }
  }
};

// What HTTPRoute and GRPCRoute share: parents, header matches, backends.
void validateParentRefs(const json::value& obj, Checker& c) {
  if (const json::array* parents = optionalArrayAt(obj, "spec.parentRefs"))
    for (size_t i = 0; i < parents->size(); ++i) {
      std::string f = idx("spec.parentRefs", i);
      if (stringAt((*parents)[i], "name").empty()) c.required(f + ".name");
      c.port((*parents)[i], "port", f + ".port", false);
    }
}

void validateHeaderMatches(const json::value& match, const std::string& mf, Checker& c) {
  if (const json::array* headers = optionalArrayAt(match, "headers"))
    for (size_t h = 0; h < headers->size(); ++h) {
      std::string hf = idx(mf + ".headers", h);
      std::string type = stringAt((*headers)[h], "type");
      if (!type.empty()) c.oneOf(hf + ".type", type, {"Exact", "RegularExpression"});
      if (stringAt((*headers)[h], "name").empty()) c.required(hf + ".name");
      if (type == "RegularExpression") c.regex(hf + ".value", stringAt((*headers)[h], "value"));
    }
}

void validateBackendRefs(const json::value& rule, const std::string& rf, Checker& c) {
  if (const json::array* backends = optionalArrayAt(rule, "backendRefs"))
    for (size_t b = 0; b < backends->size(); ++b) {
      const json::value& ref = (*backends)[b];
      std::string bf = idx(rf + ".backendRefs", b);
      if (stringAt(ref, "name").empty()) c.required(bf + ".name");
      std::string kind = stringAt(ref, "kind");
      if (kind.empty() || kind == "Service") c.port(ref, "port", bf + ".port", true);
      if (const json::value* w = valueAt(ref, "weight"); w && (!w->is_int64() || w->get_int64() < 0 || w->get_int64() > 1000000))
        c.invalid(bf + ".weight", json::serialize(*w), "must be between 0 and 1000000, inclusive");
    }
}

// RequestMirror: a Service backendRef (with its port), and at most one of percent (0-100) and
// fraction (numerator <= denominator, denominator at least 1), as the CRD's rules say.
void validateRequestMirror(const json::value& filter, const std::string& ff, Checker& c) {
  const json::value* mirror = valueAt(filter, "requestMirror");
  if (!mirror) {
    c.required(ff + ".requestMirror");
    return;
  }
  std::string mf = ff + ".requestMirror";
  if (!valueAt(*mirror, "backendRef")) c.required(mf + ".backendRef");
  else {
    if (stringAt(*mirror, "backendRef.name").empty()) c.required(mf + ".backendRef.name");
    std::string kind = stringAt(*mirror, "backendRef.kind");
    if (kind.empty() || kind == "Service") c.port(*mirror, "backendRef.port", mf + ".backendRef.port", true);
  }
  const json::value* percent = valueAt(*mirror, "percent");
  if (percent && (!percent->is_int64() || percent->get_int64() < 0 || percent->get_int64() > 100))
    c.invalid(mf + ".percent", json::serialize(*percent), "must be between 0 and 100, inclusive");
  if (const json::value* fraction = valueAt(*mirror, "fraction")) {
    if (percent) c.invalid(mf, "", "only one of percent or fraction may be specified");
    const json::value* num = valueAt(*fraction, "numerator");
    const json::value* den = valueAt(*fraction, "denominator");
    if (!num) c.required(mf + ".fraction.numerator");
    else if (!num->is_int64() || num->get_int64() < 0) c.invalid(mf + ".fraction.numerator", json::serialize(*num), "must be 0 or more");
    if (den && (!den->is_int64() || den->get_int64() < 1)) c.invalid(mf + ".fraction.denominator", json::serialize(*den), "must be 1 or more");
    int64_t d = den && den->is_int64() ? den->get_int64() : 100;
    if (num && num->is_int64() && num->get_int64() > d)
      c.invalid(mf + ".fraction", json::serialize(*fraction), "numerator must be less than or equal to denominator");
  }
}

// GRPCRoute (gateway.networking.k8s.io/v1): matches by gRPC service and method, and headers.
void validateGrpcRoute(const json::value& obj, Checker& c) {
  validateParentRefs(obj, c);
  const json::array* rules = optionalArrayAt(obj, "spec.rules");
  for (size_t r = 0; rules && r < rules->size(); ++r) {
    const json::value& rule = (*rules)[r];
    std::string rf = idx("spec.rules", r);
    if (const json::array* matches = optionalArrayAt(rule, "matches"))
      for (size_t m = 0; m < matches->size(); ++m) {
        const json::value& match = (*matches)[m];
        std::string mf = idx(rf + ".matches", m);
        if (valueAt(match, "method")) {
          std::string type = stringAt(match, "method.type");
          if (type.empty()) type = "Exact";
          c.oneOf(mf + ".method.type", type, {"Exact", "RegularExpression"});
          std::string service = stringAt(match, "method.service"), method = stringAt(match, "method.method");
          if (service.empty() && method.empty()) c.invalid(mf + ".method", "", "one or both of service and method must be specified");
          if (type == "RegularExpression") {
            if (!service.empty()) c.regex(mf + ".method.service", service);
            if (!method.empty()) c.regex(mf + ".method.method", method);
          } else {
            // The CRD's patterns: a dotted service name, a method name (identifiers).
            static const std::regex kService(R"(^\.?[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$)"), kMethod(R"(^[A-Za-z_][A-Za-z_0-9]*$)");
            if (!service.empty() && !std::regex_match(service, kService)) c.invalid(mf + ".method.service", service, "must be a gRPC service name such as shop.v1.Catalog");
            if (!method.empty() && !std::regex_match(method, kMethod)) c.invalid(mf + ".method.method", method, "must be a method name such as ListItems");
          }
        }
        validateHeaderMatches(match, mf, c);
      }
    validateBackendRefs(rule, rf, c);
    if (const json::array* filters = optionalArrayAt(rule, "filters"))
      for (size_t i = 0; i < filters->size(); ++i) {
        std::string ff = idx(rf + ".filters", i);
        std::string type = stringAt((*filters)[i], "type");
        if (type.empty()) c.required(ff + ".type");
        else c.oneOf(ff + ".type", type, {"RequestHeaderModifier", "ResponseHeaderModifier"});
      }
  }
}

// TLSRoute, TCPRoute and UDPRoute: rules of backends only; TLSRoutes name the SNI host names they
// take (RFC 1123 names, a leading "*." wildcard, never an IP address).
void validateL4Route(std::string_view kind, const json::value& obj, Checker& c) {
  validateParentRefs(obj, c);
  const json::array* rules = optionalArrayAt(obj, "spec.rules");
  if (!rules || rules->empty()) c.required("spec.rules");
  for (size_t r = 0; rules && r < rules->size(); ++r) {
    std::string rf = idx("spec.rules", r);
    const json::array* backends = optionalArrayAt((*rules)[r], "backendRefs");
    if (!backends || backends->empty()) c.required(rf + ".backendRefs");
    validateBackendRefs((*rules)[r], rf, c);
  }
  if (kind != "TLSRoute") return;
  static const std::regex kHostname(R"(^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$)");
  static const std::regex kAddress(R"(^[0-9.]+$|:)");
  if (const json::array* hosts = optionalArrayAt(obj, "spec.hostnames"))
    for (size_t i = 0; i < hosts->size(); ++i) {
      std::string h = (*hosts)[i].is_string() ? std::string((*hosts)[i].get_string()) : "";
      if (std::regex_search(h, kAddress)) c.invalid(idx("spec.hostnames", i), h, "must be a host name, not an IP address (SNI carries names only)");
      else if (!std::regex_match(h, kHostname)) c.invalid(idx("spec.hostnames", i), h, "must be a lower-case RFC 1123 host name, optionally starting with *.");
    }
}

// The path of a URLRewrite or RequestRedirect filter (HTTPPathModifier), with the rules the
// Gateway API CRD states: the value its type names must be given, and a prefix replacement needs
// the rule to match by exactly one PathPrefix.
void validatePathModifier(const json::value& rule, const json::value& filter, const std::string& kind, const std::string& ff, Checker& c) {
  const json::value* path = valueAt(filter, kind + ".path");
  if (!path) return;
  std::string pf = ff + "." + kind + ".path";
  std::string type = stringAt(*path, "type");
  if (type.empty()) return c.required(pf + ".type");
  c.oneOf(pf + ".type", type, {"ReplaceFullPath", "ReplacePrefixMatch"});
  if (type == "ReplaceFullPath" && !valueAt(*path, "replaceFullPath"))
    c.invalid(pf, "", "replaceFullPath must be specified when type is set to 'ReplaceFullPath'");
  if (type == "ReplacePrefixMatch") {
    if (!valueAt(*path, "replacePrefixMatch"))
      c.invalid(pf, "", "replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'");
    const json::array* matches = optionalArrayAt(rule, "matches");
    bool onePrefix = matches && matches->size() == 1 &&
                     (stringAt((*matches)[0], "path.type").empty() || stringAt((*matches)[0], "path.type") == "PathPrefix");
    if (matches && !matches->empty() && !onePrefix)
      c.invalid(pf + ".replacePrefixMatch", stringAt(*path, "replacePrefixMatch"),
                "When using " + kind + " with path.replacePrefixMatch, exactly one PathPrefix match must be specified");
  }
  for (const char* field : {"replaceFullPath", "replacePrefixMatch"}) {
    std::string value = stringAt(*path, field);
    if (!value.empty() && value.front() != '/') c.invalid(pf + "." + field, value, "must be an absolute path (start with /)");
  }
}

void validateHttpRoute(const json::value& obj, Checker& c) {
  validateParentRefs(obj, c);
  const json::array* rules = optionalArrayAt(obj, "spec.rules");
  if (!rules) return;
  for (size_t r = 0; r < rules->size(); ++r) {
    const json::value& rule = (*rules)[r];
    std::string rf = idx("spec.rules", r);
    if (const json::array* matches = optionalArrayAt(rule, "matches"))
      for (size_t m = 0; m < matches->size(); ++m) {
        const json::value& match = (*matches)[m];
        std::string mf = idx(rf + ".matches", m);
        if (valueAt(match, "path")) {
          std::string type = stringAt(match, "path.type");
          if (type.empty()) type = "PathPrefix";
          c.oneOf(mf + ".path.type", type, {"Exact", "PathPrefix", "RegularExpression"});
          std::string value = stringAt(match, "path.value");
          if (value.empty()) value = "/";
          if (type == "RegularExpression") c.regex(mf + ".path.value", value);
          else if (value.front() != '/') c.invalid(mf + ".path.value", value, "must be an absolute path (start with /)");
        }
        validateHeaderMatches(match, mf, c);
        if (const json::array* params = optionalArrayAt(match, "queryParams"))
          for (size_t q = 0; q < params->size(); ++q) {
            std::string qf = idx(mf + ".queryParams", q);
            std::string type = stringAt((*params)[q], "type");
            if (!type.empty()) c.oneOf(qf + ".type", type, {"Exact", "RegularExpression"});
            if (stringAt((*params)[q], "name").empty()) c.required(qf + ".name");
            if (type == "RegularExpression") c.regex(qf + ".value", stringAt((*params)[q], "value"));
          }
        if (std::string method = stringAt(match, "method"); !method.empty())
          c.oneOf(mf + ".method", method, {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"});
      }
    validateBackendRefs(rule, rf, c);
    if (const json::array* filters = optionalArrayAt(rule, "filters"))
      for (size_t i = 0; i < filters->size(); ++i) {
        std::string ff = idx(rf + ".filters", i);
        std::string type = stringAt((*filters)[i], "type");
        if (type.empty()) c.required(ff + ".type");
        else c.oneOf(ff + ".type", type, {"RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite", "RequestMirror"});
        if (type == "RequestMirror") validateRequestMirror((*filters)[i], ff, c);
        if (type == "RequestRedirect") {
          if (const json::value* code = valueAt((*filters)[i], "requestRedirect.statusCode"); code && !(code->is_int64() && (code->get_int64() == 301 || code->get_int64() == 302)))
            c.invalid(ff + ".requestRedirect.statusCode", json::serialize(*code), "supported values: 301, 302");
          c.port((*filters)[i], "requestRedirect.port", ff + ".requestRedirect.port", false);
        }
        if (type == "URLRewrite") validatePathModifier(rule, (*filters)[i], "urlRewrite", ff, c);
        if (type == "RequestRedirect") validatePathModifier(rule, (*filters)[i], "requestRedirect", ff, c);
      }
    c.duration(rule, "timeouts.request", rf + ".timeouts.request");
    c.duration(rule, "timeouts.backendRequest", rf + ".timeouts.backendRequest");
    auto request = parseDurationMillis(stringAt(rule, "timeouts.request"));
    auto backend = parseDurationMillis(stringAt(rule, "timeouts.backendRequest"));
    if (request && backend && *request > 0 && *backend > *request)
      c.invalid(rf + ".timeouts.backendRequest", stringAt(rule, "timeouts.backendRequest"), "must not be greater than timeouts.request");
    if (const json::value* a = valueAt(rule, "retry.attempts"); a && (!a->is_int64() || a->get_int64() < 0 || a->get_int64() > 10))
      c.invalid(rf + ".retry.attempts", json::serialize(*a), "must be between 0 and 10, inclusive");
    if (const json::array* codes = optionalArrayAt(rule, "retry.codes"))
      for (size_t i = 0; i < codes->size(); ++i)
        if (!(*codes)[i].is_int64() || (*codes)[i].get_int64() < 400 || (*codes)[i].get_int64() > 599)
          c.invalid(idx(rf + ".retry.codes", i), json::serialize((*codes)[i]), "must be between 400 and 599, inclusive");
    c.duration(rule, "retry.backoff", rf + ".retry.backoff");
  }
}

}  // namespace

void validateGatewayApi(std::string_view kind, const json::value& obj, std::vector<PolicyProblem>& problems) {
  Checker c{problems};
  if (kind == "GatewayClass") {
    if (stringAt(obj, "spec.controllerName").empty()) c.required("spec.controllerName");
  } else if (kind == "Gateway") {
    if (stringAt(obj, "spec.gatewayClassName").empty()) c.required("spec.gatewayClassName");
    const json::array* listeners = optionalArrayAt(obj, "spec.listeners");
    if (!listeners || listeners->empty()) {
      c.required("spec.listeners");
      return;
    }
    std::set<std::string> names;
    for (size_t i = 0; i < listeners->size(); ++i) {
      const json::value& l = (*listeners)[i];
      std::string f = idx("spec.listeners", i);
      std::string name = stringAt(l, "name");
      if (name.empty()) c.required(f + ".name");
      else if (!names.insert(name).second) c.invalid(f + ".name", name, "Duplicate value: listener names must be unique");
      c.port(l, "port", f + ".port", true);
      std::string protocol = stringAt(l, "protocol");
      if (protocol.empty()) c.required(f + ".protocol");
      else c.oneOf(f + ".protocol", protocol, {"HTTP", "HTTPS", "TLS", "TCP", "UDP"});
      // The CRD's rules: TLS settings exactly where TLS is spoken, and a certificate to terminate with.
      std::string from = stringAt(l, "allowedRoutes.namespaces.from");
      if (!from.empty()) c.oneOf(f + ".allowedRoutes.namespaces.from", from, {"All", "Same", "Selector"});
      if (from == "Selector" && !valueAt(l, "allowedRoutes.namespaces.selector")) c.required(f + ".allowedRoutes.namespaces.selector");
      bool tlsProtocol = protocol == "HTTPS" || protocol == "TLS";
      const json::value* tls = valueAt(l, "tls");
      if (tlsProtocol && !tls) c.required(f + ".tls");
      if (!tlsProtocol && tls && !protocol.empty()) c.invalid(f + ".tls", "", "tls must not be specified for protocol " + protocol);
      if (tlsProtocol && tls) {
        std::string mode = stringAt(l, "tls.mode");
        if (!mode.empty()) c.oneOf(f + ".tls.mode", mode, {"Terminate", "Passthrough"});
        const json::array* refs = optionalArrayAt(l, "tls.certificateRefs");
        if ((mode.empty() || mode == "Terminate") && (!refs || refs->empty()) && !valueAt(l, "tls.options"))
          c.invalid(f + ".tls.certificateRefs", "", "certificateRefs or options must be specified when mode is Terminate");
        for (size_t r = 0; refs && r < refs->size(); ++r)
          if (stringAt((*refs)[r], "name").empty()) c.required(idx(f + ".tls.certificateRefs", r) + ".name");
      }
    }
  } else if (kind == "HTTPRoute") {
    validateHttpRoute(obj, c);
  } else if (kind == "GRPCRoute") {
    validateGrpcRoute(obj, c);
  } else if (kind == "TLSRoute" || kind == "TCPRoute" || kind == "UDPRoute") {
    validateL4Route(kind, obj, c);
  } else if (kind == "ReferenceGrant") {
    for (const char* side : {"from", "to"}) {
      std::string f = std::string("spec.") + side;
      const json::array* list = optionalArrayAt(obj, f);
      if (!list || list->empty()) {
        c.required(f);
        continue;
      }
      for (size_t i = 0; i < list->size(); ++i) {
        const json::value& e = (*list)[i];
        if (!valueAt(e, "group")) c.required(idx(f, i) + ".group");
        if (stringAt(e, "kind").empty()) c.required(idx(f, i) + ".kind");
        if (std::string_view(side) == "from" && stringAt(e, "namespace").empty()) c.required(idx(f, i) + ".namespace");
      }
    }
  } else if (kind == "AuthorizationPolicy") {
    std::string action = stringAt(obj, "spec.action");
    if (!action.empty() && action != "ALLOW" && action != "DENY")
      c.invalid("spec.action", action, "supported values: \"ALLOW\", \"DENY\" (AUDIT and CUSTOM are not)");
    const json::array* rules = optionalArrayAt(obj, "spec.rules");
    for (size_t r = 0; rules && r < rules->size(); ++r) {
      std::string rf = idx("spec.rules", r);
      const json::value& rule = (*rules)[r];
      if (valueAt(rule, "when")) c.invalid(rf + ".when", "", "conditions (when) are not supported; use from and to");
      auto strings = [&](const json::value& v, std::string_view key, const std::string& f) {
        const json::value* a = valueAt(v, key);
        if (!a) return;
        if (!a->is_array()) {
          c.invalid(f, json::serialize(*a), "must be a list of strings");
          return;
        }
        for (size_t i = 0; i < a->get_array().size(); ++i) {
          const json::value& s = a->get_array()[i];
          if (!s.is_string() || s.get_string().empty()) c.invalid(idx(f, i), json::serialize(s), "must be a non-empty string");
          else if (s.get_string().size() > 2 && s.get_string().find('*', 1) != std::string_view::npos && s.get_string().find('*', 1) != s.get_string().size() - 1)
            c.invalid(idx(f, i), std::string(s.get_string()), "* may only start or end a pattern");
        }
      };
      if (const json::array* from = optionalArrayAt(rule, "from"))
        for (size_t i = 0; i < from->size(); ++i)
          for (const char* k : {"principals", "notPrincipals", "namespaces", "notNamespaces", "requestPrincipals", "notRequestPrincipals", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"}) {
            std::string f = idx(rf + ".from", i) + ".source." + k;
            strings((*from)[i], std::string("source.") + k, f);
            std::string_view key(k);
            if (!key.ends_with("rincipals") || key.find("request") != std::string_view::npos || key.find("Request") != std::string_view::npos)
              if (!key.ends_with("amespaces") && valueAt((*from)[i], std::string("source.") + k))
                c.invalid(f, "", "not supported yet: match sources by principals or namespaces");
          }
      if (const json::array* to = optionalArrayAt(rule, "to"))
        for (size_t i = 0; i < to->size(); ++i) {
          std::string tf = idx(rf + ".to", i) + ".operation.";
          for (const char* k : {"methods", "notMethods", "paths", "notPaths", "hosts", "notHosts", "ports", "notPorts"}) strings((*to)[i], std::string("operation.") + k, tf + k);
          for (const char* k : {"ports", "notPorts"})
            if (const json::array* ports = optionalArrayAt((*to)[i], std::string("operation.") + k))
              for (size_t p = 0; p < ports->size(); ++p) {
                std::string v = (*ports)[p].is_string() ? std::string((*ports)[p].get_string()) : "";
                int n = std::atoi(v.c_str());
                if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || n < 1 || n > 65535)
                  c.invalid(idx(tf + k, p), v, "must be a port number from 1 to 65535, as a string");
              }
        }
    }
  }
}

}  // namespace skiff::api
