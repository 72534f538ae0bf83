#include "cli/flags.h"

#include <cstdio>
#include <cstdlib>

namespace skiff::cli {
namespace {

std::string& commandName() {
  static std::string name;
  return name;
}
std::string& commandSummary() {
  static std::string summary;
  return summary;
}

[[noreturn]] void printHelp(const std::vector<FlagSpec>& specs) {
  std::printf("skiff %s: %s\n\nUsage: skiff %s [flags] [arguments]\n\nFlags:\n", commandName().c_str(), commandSummary().c_str(),
              commandName().c_str());
  for (const auto& s : specs)
    std::printf("  %s--%s%s\n", s.shortName.empty() ? "    " : ("-" + s.shortName + ", ").c_str(), s.name.c_str(),
                s.takesValue ? " VALUE" : "");
  std::printf("  -h, --help\n\nREADME.md describes each command with examples.\n");
  std::fflush(stdout);
  std::exit(0);
}

}  // namespace

void Flags::describeCommand(std::string name, std::string summary) {
  commandName() = std::move(name);
  commandSummary() = std::move(summary);
}

Result<Flags> Flags::parse(const std::vector<std::string>& args, const std::vector<FlagSpec>& specs) {
  Flags f;
  auto find = [&](const std::string& name, bool isShort) -> const FlagSpec* {
    for (const auto& s : specs)
      if ((isShort ? s.shortName : s.name) == name) return &s;
    return nullptr;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      for (++i; i < args.size(); ++i) f.positional_.push_back(args[i]);
      break;
    }
    if (a == "--help" || a == "-h") printHelp(specs);
    if (a.size() < 2 || a[0] != '-' || a == "-") {
      f.positional_.push_back(a);
      continue;
    }
    bool isLong = a[1] == '-';
    std::string body = a.substr(isLong ? 2 : 1);
    std::string value;
    bool hasInlineValue = false;
    if (auto eq = body.find('='); eq != std::string::npos) {
      value = body.substr(eq + 1);
      body = body.substr(0, eq);
      hasInlineValue = true;
    } else if (!isLong && body.size() > 1) {
      // -nfoo style: short flag with its value attached.
      value = body.substr(1);
      body = body.substr(0, 1);
      hasInlineValue = true;
    }
    const FlagSpec* spec = find(body, !isLong);
    if (!spec) return Error::badRequest("unknown flag: " + a + " (see --help)");
    if (spec->takesValue) {
      if (!hasInlineValue) {
        if (i + 1 >= args.size()) return Error::badRequest("flag needs an argument: " + a);
        value = args[++i];
      }
    } else if (!hasInlineValue) {
      value = "true";
    }
    f.values_.emplace(spec->name, value);
  }
  return f;
}

std::string Flags::get(const std::string& name, const std::string& fallback) const {
  auto range = values_.equal_range(name);
  if (range.first == range.second) return fallback;
  return std::prev(range.second)->second;
}

std::vector<std::string> Flags::all(const std::string& name) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

}  // namespace skiff::cli
