// Base64 (RFC 4648), standard and URL-safe alphabets.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace skiff {
std::string base64Encode(std::string_view in, bool urlSafe = false);
// Accepts both alphabets, with or without padding; nullopt on any other character.
std::optional<std::string> base64Decode(std::string_view in);
}  // namespace skiff
