#include "image/registry_client.h"

#include <boost/json.hpp>
#include <boost/url.hpp>
#include <cstdio>
#include <fstream>

#include "common/base64.h"
#include "http/http.h"
#include "image/digest.h"

namespace skiff::image {
namespace json = boost::json;

// Where a registry (or its token service, or blob storage) is reached.
struct RegistryEndpoint {
  bool tls = true;
  std::string host;
  uint16_t port = 443;
};

namespace {

const char* kManifestAccept =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

// WWW-Authenticate: Bearer realm="https://auth.example/token",service="registry",scope="repository:x:pull"
std::map<std::string, std::string> parseChallenge(const std::string& header, std::string* scheme) {
  std::map<std::string, std::string> out;
  size_t sp = header.find(' ');
  *scheme = header.substr(0, sp);
  std::transform(scheme->begin(), scheme->end(), scheme->begin(), ::tolower);
  if (sp == std::string::npos) return out;
  size_t i = sp + 1;
  while (i < header.size()) {
    while (i < header.size() && (header[i] == ' ' || header[i] == ',')) ++i;
    size_t eq = header.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = header.substr(i, eq - i);
    std::string value;
    i = eq + 1;
    if (i < header.size() && header[i] == '"') {
      size_t close = header.find('"', i + 1);
      if (close == std::string::npos) close = header.size();
      value = header.substr(i + 1, close - i - 1);
      i = close + 1;
    } else {
      size_t comma = header.find(',', i);
      value = header.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
      i = comma == std::string::npos ? header.size() : comma;
    }
    out[key] = value;
  }
  return out;
}


Result<RegistryEndpoint> endpointOf(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u) return Error::badRequest("invalid URL \"" + url + "\"");
  RegistryEndpoint e;
  e.tls = u->scheme() != "http";
  e.host = std::string(u->host());
  e.port = u->has_port() ? uint16_t(u->port_number()) : (e.tls ? 443 : 80);
  return e;
}

std::string targetOf(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u) return "/";
  std::string t = std::string(u->encoded_path());
  if (t.empty()) t = "/";
  if (u->has_query()) t += "?" + std::string(u->encoded_query());
  return t;
}

}  // namespace

std::string describeRegistryError(int status, const std::string& body) {
  std::string text = "HTTP " + std::to_string(status);
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object())
    if (auto* errs = v.get_object().if_contains("errors"); errs && errs->is_array() && !errs->get_array().empty()) {
      const json::value& e = errs->get_array()[0];
      if (e.is_object()) {
        auto str = [&](const char* k) {
          auto* x = e.get_object().if_contains(k);
          return x && x->is_string() ? std::string(x->get_string()) : std::string();
        };
        text += " " + str("code") + ": " + str("message");
      }
    }
  return text;
}

struct RegistryClient::Impl {
  Reference ref;
  RegistryAuth auth;
  RegistryEndpoint registry;
  std::string authorization;  // header value once we have one
  std::unique_ptr<http::Client> client;

  http::Client& clientFor() {
    if (!client)
      client = std::make_unique<http::Client>(registry.host, registry.port, "", registry.tls ? http::Client::kSystemRoots : "",
                                              "the registry");
    return *client;
  }

  // Fetches a token for the challenge a 401 carried.
  Status authenticate(const std::string& challenge) {
    std::string scheme;
    auto params = parseChallenge(challenge, &scheme);
    std::string basic = auth.username.empty() ? "" : "Basic " + base64Encode(auth.username + ":" + auth.password);
    if (scheme == "basic") {
      if (basic.empty()) return Error::forbidden("registry " + ref.registry + " wants a user name and password (add an imagePullSecret)");
      authorization = basic;
      return {};
    }
    if (scheme != "bearer" || params["realm"].empty())
      return Error::forbidden("registry " + ref.registry + " asked for an unsupported authentication: " + challenge);
    auto ep = endpointOf(params["realm"]);
    if (!ep) return ep.error();
    std::string target = targetOf(params["realm"]);
    target += (target.find('?') == std::string::npos ? "?" : "&");
    target += "service=" + http::percentEncode(params["service"]);
    std::string scope = params.count("scope") ? params["scope"] : "repository:" + ref.repository + ":pull";
    target += "&scope=" + http::percentEncode(scope);
    http::Client tokenClient(ep->host, ep->port, "", ep->tls ? http::Client::kSystemRoots : "", "token service " + ep->host);
    http::Headers extra;
    if (!basic.empty()) extra.emplace_back("Authorization", basic);
    auto r = tokenClient.request("GET", target, "", "", extra);
    if (!r) return r.error();
    if (r->status != 200)
      return Error::forbidden("registry " + ref.registry + " refused a token for " + scope + ": " + describeRegistryError(r->status, r->body));
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    std::string token;
    if (!ec && v.is_object())
      for (const char* k : {"token", "access_token"})
        if (auto* t = v.get_object().if_contains(k); t && t->is_string() && token.empty()) token = std::string(t->get_string());
    if (token.empty()) return Error::forbidden("the token service of " + ref.registry + " answered without a token");
    authorization = "Bearer " + token;
    return {};
  }

  Result<http::ClientResponse> get(const std::string& target, const std::string& accept) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      http::Headers extra;
      if (!accept.empty()) extra.emplace_back("Accept", accept);
      if (!authorization.empty()) extra.emplace_back("Authorization", authorization);
      auto r = clientFor().request("GET", target, "", "", extra);
      if (!r) return r.error();
      if (r->status == 401 && attempt == 0) {
        if (Status s = authenticate(r->headers["www-authenticate"]); !s) return s.error();
        continue;
      }
      return r;
    }
    return Error::forbidden("registry " + ref.registry + " refused our credentials");
  }
};

RegistryClient::RegistryClient(Reference ref, RegistryAuth auth) : impl_(std::make_unique<Impl>()) {
  impl_->ref = std::move(ref);
  impl_->auth = std::move(auth);
  std::string host = impl_->ref.apiHost();
  impl_->registry.tls = !impl_->ref.loopback();
  auto colon = host.rfind(':');
  if (colon != std::string::npos && host.find(']') == std::string::npos) {
    impl_->registry.host = host.substr(0, colon);
    impl_->registry.port = uint16_t(std::atoi(host.c_str() + colon + 1));
  } else {
    impl_->registry.host = host;
    impl_->registry.port = impl_->registry.tls ? 443 : 80;
  }
}
RegistryClient::~RegistryClient() = default;

Result<FetchedManifest> RegistryClient::manifest(const std::string& reference) {
  auto r = impl_->get("/v2/" + impl_->ref.repository + "/manifests/" + reference, kManifestAccept);
  if (!r) return r.error();
  if (r->status == 404) return Error::notFound("manifest for " + impl_->ref.repository + ":" + reference + " not found: " + describeRegistryError(r->status, r->body));
  if (r->status != 200) return Error::unavailable("registry " + impl_->ref.registry + " answered " + describeRegistryError(r->status, r->body));
  FetchedManifest m;
  m.body = std::move(r->body);
  m.mediaType = r->headers["content-type"];
  m.digest = sha256Of(m.body);
  if (reference.starts_with("sha256:") && m.digest != reference)
    return Error::badRequest("registry " + impl_->ref.registry + " sent a manifest whose digest " + m.digest + " is not the " + reference + " asked for");
  return m;
}

Status RegistryClient::blob(const std::string& digest, const std::string& path) {
  std::string tmp = path + ".partial." + std::to_string(reinterpret_cast<uintptr_t>(this));
  std::string url;  // set when the registry redirects to other storage
  for (int hop = 0; hop < 5; ++hop) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Error::internal("cannot write " + tmp);
    Sha256 hash;
    std::map<std::string, std::string> headers;
    std::string errorBody;
    auto sink = [&](std::string_view chunk) {
      if (headers[":status"] == "200") {
        hash.update(chunk);
        out.write(chunk.data(), std::streamsize(chunk.size()));
        return bool(out);
      }
      if (errorBody.size() < 4096) errorBody.append(chunk);
      return true;
    };
    Result<int> status = 0;
    if (url.empty()) {
      http::Headers extra;
      if (!impl_->authorization.empty()) extra.emplace_back("Authorization", impl_->authorization);
      status = impl_->clientFor().stream("/v2/" + impl_->ref.repository + "/blobs/" + digest, extra, sink, &headers);
    } else {
      auto ep = endpointOf(url);
      if (!ep) return ep.error();
      http::Client other(ep->host, ep->port, "", ep->tls ? http::Client::kSystemRoots : "", "blob storage " + ep->host);
      status = other.stream(targetOf(url), {}, sink, &headers);
    }
    out.close();
    auto fail = [&](Error e) {
      std::remove(tmp.c_str());
      return e;
    };
    if (!status) return fail(status.error());
    if (*status == 307 || *status == 302 || *status == 301 || *status == 303) {
      url = headers["location"];
      if (url.starts_with("/")) url = std::string(impl_->registry.tls ? "https://" : "http://") + impl_->ref.apiHost() + url;
      continue;
    }
    if (*status == 401 && hop == 0 && url.empty()) {
      if (Status s = impl_->authenticate(headers["www-authenticate"]); !s) return fail(s.error());
      continue;
    }
    if (*status != 200) return fail(Error::unavailable("registry " + impl_->ref.registry + " answered " + describeRegistryError(*status, errorBody) + " for blob " + digest));
    if (!out) return fail(Error::internal("writing " + tmp + " failed (disk full?)"));
    std::string got = hash.finish();
    if (got != digest) return fail(Error::badRequest("blob " + digest + " from " + impl_->ref.registry + " has digest " + got + " (corrupt or tampered)"));
    if (std::rename(tmp.c_str(), path.c_str()) != 0) return fail(Error::internal("cannot move " + tmp + " into place"));
    return {};
  }
  std::remove(tmp.c_str());
  return Error::unavailable("registry " + impl_->ref.registry + " redirected blob " + digest + " too many times");
}

}  // namespace skiff::image
