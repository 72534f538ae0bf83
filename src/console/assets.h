// The web console's static files (src/console/web), compiled into the binary by cmake/embed.cmake.
#pragma once
#include <map>
#include <string>
#include <string_view>

namespace skiff::console {

// File name -> bytes.
const std::map<std::string, std::string_view, std::less<>>& assets();

}  // namespace skiff::console
