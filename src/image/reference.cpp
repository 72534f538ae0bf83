#include "image/reference.h"

#include <cctype>

namespace skiff::image {
namespace {

bool lowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Repository path components: lower-case alphanumerics separated by '.', '_', '__' or '-'.
bool validRepository(std::string_view repo) {
  if (repo.empty() || repo.size() > 255) return false;
  size_t start = 0;
  while (start <= repo.size()) {
    size_t slash = repo.find('/', start);
    std::string_view part = repo.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty() || !lowerAlnum(part.front()) || !lowerAlnum(part.back())) return false;
    for (char c : part)
      if (!lowerAlnum(c) && c != '.' && c != '_' && c != '-') return false;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

bool validTag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  if (!std::isalnum(static_cast<unsigned char>(tag[0])) && tag[0] != '_') return false;
  for (char c : tag)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

}  // namespace

bool validDigest(std::string_view digest) {
  if (!digest.starts_with("sha256:") || digest.size() != 7 + 64) return false;
  for (char c : digest.substr(7))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Result<Reference> parseReference(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Error::badRequest("invalid image reference \"" + std::string(text) + "\": " + why);
  };
  if (text.empty()) return bad("it is empty");
  Reference ref;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!validDigest(ref.digest)) return bad("the digest must be sha256: followed by 64 lower-case hex digits");
  }
  // A registry is named by the first component when it looks like a host.
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, slash);
    if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos || first == "localhost") {
      ref.registry = std::string(first);
      rest = rest.substr(slash + 1);
    }
  }
  if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!validTag(ref.tag)) return bad("the tag \"" + ref.tag + "\" may hold letters, digits, '_', '.' and '-' (128 at most)");
  }
  if (ref.registry.empty()) {
    ref.registry = "docker.io";
    if (rest.find('/') == std::string_view::npos) ref.repository = "library/";
  }
  ref.repository += std::string(rest);
  if (!validRepository(ref.repository))
    return bad("the repository \"" + ref.repository + "\" must be lower-case letters and digits separated by '/', '.', '_' or '-'");
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

std::string Reference::canonical() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string Reference::apiHost() const { return registry == "docker.io" ? "registry-1.docker.io" : registry; }

bool Reference::loopback() const {
  std::string host = registry.substr(0, registry.rfind(':') == std::string::npos ? registry.size() : registry.rfind(':'));
  return host == "localhost" || host.starts_with("127.") || host == "[::1]";
}

}  // namespace skiff::image
