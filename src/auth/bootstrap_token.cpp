#include "auth/bootstrap_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <boost/json.hpp>

#include <ctime>

#include "api/object.h"
#include "common/base64.h"

namespace skiff::auth {
namespace json = boost::json;
namespace {
constexpr const char* kTokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

bool tokenChars(const std::string& s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

std::string randomTokenChars(size_t n) {
  std::string out;
  while (out.size() < n) {
    unsigned char b[32];
    RAND_bytes(b, sizeof b);
    for (unsigned char c : b)
      if (c < 252 && out.size() < n) out += kTokenAlphabet[c % 36];  // 252 = 7*36: no modulo bias
  }
  return out;
}

std::string base64Url(std::string_view in) {
  std::string s = base64Encode(in, true);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string hmacSha256(const std::string& key, const std::string& input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string jwsHeader(const std::string& id) { return base64Url(R"({"alg":"HS256","kid":")" + id + "\"}"); }
}  // namespace

std::optional<TokenParts> parseBootstrapToken(const std::string& token) {
  if (token.size() != 23 || token[6] != '.') return std::nullopt;
  TokenParts t{token.substr(0, 6), token.substr(7)};
  if (!tokenChars(t.id, 6) || !tokenChars(t.secret, 16)) return std::nullopt;
  return t;
}

TokenParts generateBootstrapToken() { return {randomTokenChars(6), randomTokenChars(16)}; }

Result<BootstrapToken> bootstrapTokenFromSecret(const json::value& secret) {
  std::string name = api::stringAt(secret, "metadata.name");
  if (api::stringAt(secret, "type") != kBootstrapTokenType) return Error::invalid("secret " + name + " is not of type " + kBootstrapTokenType);
  auto field = [&](const char* key) -> std::string {
    const json::value* data = api::valueAt(secret, "data");
    if (!data || !data->is_object()) return "";
    const json::value* v = data->as_object().if_contains(key);
    if (!v || !v->is_string()) return "";
    auto decoded = base64Decode(v->as_string());
    return decoded ? *decoded : "";
  };
  BootstrapToken t;
  t.id = field("token-id");
  t.secret = field("token-secret");
  if (!tokenChars(t.id, 6) || !tokenChars(t.secret, 16)) return Error::invalid("secret " + name + " holds no well-formed token-id and token-secret");
  if (name != std::string(kBootstrapSecretPrefix) + t.id) return Error::invalid("secret " + name + " is not named " + kBootstrapSecretPrefix + t.id);
  if (std::string e = field("expiration"); !e.empty()) {
    std::tm tm{};
    const char* end = strptime(e.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end) return Error::invalid("secret " + name + " has an expiration that is not an RFC 3339 UTC time: " + e);
    t.expiration = std::chrono::system_clock::from_time_t(timegm(&tm));
  }
  t.authentication = field("usage-bootstrap-authentication") == "true";
  t.signing = field("usage-bootstrap-signing") == "true";
  std::string groups = field("auth-extra-groups");
  for (size_t i = 0; i < groups.size();) {
    size_t j = groups.find(',', i);
    if (j == std::string::npos) j = groups.size();
    std::string g = groups.substr(i, j - i);
    if (!g.empty()) {
      // Kubernetes' rule: extra groups stay inside system:bootstrappers:, so a token cannot claim system:masters.
      if (!g.starts_with("system:bootstrappers:")) return Error::invalid("secret " + name + " names group " + g + " outside system:bootstrappers:");
      t.extraGroups.push_back(g);
    }
    i = j + 1;
  }
  return t;
}

json::value bootstrapTokenSecret(const TokenParts& token, const std::vector<std::string>& extraGroups, const std::string& description) {
  std::string groups;
  for (const auto& g : extraGroups) groups += (groups.empty() ? "" : ",") + g;
  json::object data{{"token-id", base64Encode(token.id)},
                    {"token-secret", base64Encode(token.secret)},
                    {"usage-bootstrap-authentication", base64Encode("true")},
                    {"usage-bootstrap-signing", base64Encode("true")},
                    {"description", base64Encode(description)}};
  if (!groups.empty()) data["auth-extra-groups"] = base64Encode(groups);
  return json::object{{"apiVersion", "v1"},
                      {"kind", "Secret"},
                      {"metadata", json::object{{"name", std::string(kBootstrapSecretPrefix) + token.id}, {"namespace", "kube-system"}}},
                      {"type", kBootstrapTokenType},
                      {"data", std::move(data)}};
}

std::string signDetachedJws(const std::string& payload, const TokenParts& token) {
  std::string header = jwsHeader(token.id);
  return header + ".." + base64Url(hmacSha256(token.secret, header + "." + base64Url(payload)));
}

bool verifyDetachedJws(const std::string& jws, const std::string& payload, const TokenParts& token) {
  size_t dots = jws.find("..");
  if (dots == std::string::npos) return false;
  std::string header = jws.substr(0, dots);
  auto decoded = base64Decode(header);
  if (!decoded) return false;
  boost::system::error_code ec;
  json::value h = json::parse(*decoded, ec);
  if (ec || !h.is_object() || api::stringAt(h, "alg") != "HS256" || api::stringAt(h, "kid") != token.id) return false;
  std::string expected = base64Url(hmacSha256(token.secret, header + "." + base64Url(payload)));
  std::string given = jws.substr(dots + 2);
  return given.size() == expected.size() && CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

}  // namespace skiff::auth
