#include "apiserver/service_account_tokens.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>

#include "common/base64.h"

namespace skiff::apiserver {
namespace json = boost::json;
namespace {

std::string b64url(std::string_view s) {
  std::string out = base64Encode(s, true);
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Result<std::unique_ptr<ServiceAccountTokens>> ServiceAccountTokens::open(const std::string& dataDir) {
  std::string path = dataDir + "/sa.key";
  std::string key;
  if (std::ifstream in(path, std::ios::binary); in) key.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (key.size() < 32) {
    key.resize(32);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), 32) != 1) return Error::internal("no randomness for the service-account key");
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, key.data(), key.size()) != ssize_t(key.size()) || ::fsync(fd) != 0) {
      if (fd >= 0) ::close(fd);
      return Error::unavailable("cannot write " + path);
    }
    ::close(fd);
  }
  return std::make_unique<ServiceAccountTokens>(key);
}

std::string ServiceAccountTokens::sign(const std::string& input) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), int(key_.size()), reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return b64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

std::string ServiceAccountTokens::issue(const ServiceAccountIdentity& who, int64_t seconds, const std::string& audience) const {
  int64_t now = nowSeconds();
  json::object claims{{"iss", kIssuer},
                      {"sub", who.user()},
                      {"aud", json::array{json::string(audience)}},
                      {"iat", now},
                      {"nbf", now},
                      {"exp", now + seconds},
                      {"kubernetes.io", json::object{{"namespace", who.ns}, {"serviceaccount", json::object{{"name", who.name}, {"uid", who.uid}}}}}};
  if (!who.pod.empty())
    claims["kubernetes.io"].as_object()["pod"] = json::object{{"name", who.pod}, {"uid", who.podUid}};
  std::string input = b64url(R"({"alg":"HS256","typ":"JWT"})") + "." + b64url(json::serialize(claims));
  return input + "." + sign(input);
}

namespace {
bool hasApiAudience(const json::value* aud) {
  auto ours = [](const json::value& v) { return v.is_string() && (v.get_string() == kApiAudience || v.get_string() == kIssuer); };
  if (!aud) return false;
  if (aud->is_array()) return std::any_of(aud->get_array().begin(), aud->get_array().end(), ours);
  return ours(*aud);
}
}  // namespace

std::optional<ServiceAccountIdentity> ServiceAccountTokens::verify(const std::string& token) const {
  size_t dot1 = token.find('.'), dot2 = dot1 == std::string::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string::npos || token.find('.', dot2 + 1) != std::string::npos) return std::nullopt;
  std::string input = token.substr(0, dot2), mac = sign(input), given = token.substr(dot2 + 1);
  if (mac.size() != given.size() || CRYPTO_memcmp(mac.data(), given.data(), mac.size()) != 0) return std::nullopt;
  auto payload = base64Decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payload) return std::nullopt;
  boost::system::error_code ec;
  json::value claims = json::parse(*payload, ec);
  if (ec || !claims.is_object()) return std::nullopt;
  const json::object& c = claims.get_object();
  int64_t now = nowSeconds();
  const json::value* exp = c.if_contains("exp");
  if (!exp || !exp->is_int64() || exp->get_int64() <= now) return std::nullopt;
  // Not yet valid: nbf in the future, beyond the minute of clock skew JWT libraries allow.
  constexpr int64_t kLeewaySeconds = 60;
  if (const json::value* nbf = c.if_contains("nbf"); nbf && (!nbf->is_int64() || nbf->get_int64() > now + kLeewaySeconds)) return std::nullopt;
  // Only tokens meant for this API: a token a pod requested for another audience (a vault, a
  // webhook) must not open the cluster to whoever it was handed to.
  if (!hasApiAudience(c.if_contains("aud"))) return std::nullopt;
  const json::value* k = claims.get_object().if_contains("kubernetes.io");
  if (!k || !k->is_object()) return std::nullopt;
  auto str = [](const json::value& v, std::initializer_list<const char*> path) -> std::string {
    const json::value* cur = &v;
    for (const char* p : path) {
      if (!cur->is_object() || !cur->get_object().if_contains(p)) return "";
      cur = cur->get_object().if_contains(p);
    }
    return cur->is_string() ? std::string(cur->get_string()) : "";
  };
  ServiceAccountIdentity who{str(*k, {"namespace"}), str(*k, {"serviceaccount", "name"}), str(*k, {"pod", "name"}), str(*k, {"pod", "uid"}),
                             str(*k, {"serviceaccount", "uid"})};
  if (who.ns.empty() || who.name.empty()) return std::nullopt;
  return who;
}

}  // namespace skiff::apiserver
