// Minimal leveled logging to stderr: human text on a terminal, JSON lines otherwise.
#pragma once
#include <string_view>

namespace skiff::log {
enum class Level { Debug, Info, Warn, Error };
void setLevel(Level level);
void write(Level level, std::string_view component, std::string_view message);
inline void info(std::string_view c, std::string_view m) { write(Level::Info, c, m); }
inline void warn(std::string_view c, std::string_view m) { write(Level::Warn, c, m); }
inline void error(std::string_view c, std::string_view m) { write(Level::Error, c, m); }
inline void debug(std::string_view c, std::string_view m) { write(Level::Debug, c, m); }
}  // namespace skiff::log
