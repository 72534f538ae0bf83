// A small command-line flag parser shared by the subcommands: `--name value`, `--name=value`,
// `-n value`, boolean flags, and positional arguments. Unknown flags are an error that names them.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"

namespace skiff::cli {

struct FlagSpec {
  std::string name;       // long name without dashes
  std::string shortName;  // single letter or ""
  bool takesValue = true;
  bool repeated = false;
};

class Flags {
 public:
  // `--help`/`-h` prints the running command's usage and its flags, then exits 0.
  static Result<Flags> parse(const std::vector<std::string>& args, const std::vector<FlagSpec>& specs);
  // The command being run (main sets it), for --help.
  static void describeCommand(std::string name, std::string summary);
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  std::vector<std::string> all(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace skiff::cli
